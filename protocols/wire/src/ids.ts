/**
 * Pattern of identifiers chosen by people (gateway, building, device and point ids): lowercase
 * letters, digits, `-` and `_`. Gateway ids are part of NATS subjects, credentials file names and
 * message ids (which is why they never hold `.`, `*`, `>` or `:`), so both sides check them
 * against this one pattern.
 */
export const ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
