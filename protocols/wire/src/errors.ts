/**
 * Typed, coded errors shared by every CityPilot component: the base class lives here, at the
 * bottom of the packages, so that gateways, the hub and plugins all throw and catch the same one
 * (`@citypilot/sdk` re-exports it). Each error carries a stable `code` that logs, metrics and
 * tests can match on, and chains its cause (`new X(msg, { cause })`). An error is reported once:
 * either thrown or recorded, never logged and then thrown.
 */
export class CityPilotError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`, `DEVICE_TIMEOUT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A message received from the network (a batch) that cannot be decoded. Thrown by the hub's
 * side of the codec (`decodeBatch`); the hub moves such a message to its dead-letter stream.
 */
export class DecodeError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECODE_FAILED', message, options);
  }
}

/** A location inside a document: property names and array indexes from the root. */
export type DocumentPath = ReadonlyArray<string | number>;

/** `devices[2].points[5].address` for `['devices', 2, 'points', 5, 'address']`; `(root)` when empty. */
export function formatPath(path: DocumentPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(root)' : out;
}
