import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { CityPilotError, ID_PATTERN } from '@citypilot/sdk';
import { ROLES, type Role } from './principal.js';

/**
 * API tokens: `cp_<id>_<secret>`, where the id finds the token's row without a scan and the
 * secret is 32 random bytes in base64url (43 characters). The database keeps the SHA-256 of the
 * secret, never the secret: a token is shown once, when it is created. A secret of 256 random
 * bits needs no salt nor slow hash: nothing can be guessed from its hash.
 */

/** Roles a token may carry: every role but `public`, which is calling without a token. */
export const TOKEN_ROLES: readonly Exclude<Role, 'public'>[] = ROLES.filter((r): r is Exclude<Role, 'public'> => r !== 'public');

const TOKEN_PATTERN = /^cp_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;
const LABEL_MAX = 200;

/** A token's id and secret, as read from the text a caller sent. */
export interface ParsedToken {
  id: string;
  secret: string;
}

/** The id and secret of a token, or undefined when the text is not shaped like a CityPilot token. */
export function parseToken(text: string): ParsedToken | undefined {
  const match = TOKEN_PATTERN.exec(text);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** `text` with everything shaped like a token replaced by `[redacted]`. */
export function redactTokens(text: string): string {
  return text.replace(/cp_[0-9]+_[A-Za-z0-9_-]{43}/g, '[redacted]');
}

/** SHA-256 of a token's secret: what the database stores. */
export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether `secret` is the one whose hash is `hash`, in time independent of where they differ. */
export function secretMatches(secret: string, hash: Buffer): boolean {
  const candidate = hashSecret(secret);
  return hash.length === candidate.length && timingSafeEqual(candidate, hash);
}

/** A token request (create) that cannot be honoured; the message says why, for the CLI or the API. */
export class TokenRequestError extends CityPilotError {
  constructor(message: string) {
    super('TOKEN_REQUEST_INVALID', message);
  }
}

/** No token has this id. */
export class TokenNotFoundError extends CityPilotError {
  constructor(readonly tokenId: string) {
    super('TOKEN_NOT_FOUND', `no token has the id ${tokenId}`);
  }
}

export interface TokenRequest {
  role: string;
  /** What the token is for, e.g. "energy dashboard, town hall screen". */
  label: string;
  /** Site keys (technicians only, and required for them). */
  sites?: readonly string[];
}

/** A token request with its fields checked. */
export interface CheckedTokenRequest {
  role: Exclude<Role, 'public'>;
  label: string;
  /** Sorted, without duplicates; null for every role but technician. */
  sites: string[] | null;
}

/**
 * Checks a token request before anything is written.
 * @throws TokenRequestError saying what is wrong and what is expected
 */
export function checkTokenRequest(request: TokenRequest): CheckedTokenRequest {
  const role = TOKEN_ROLES.find((r) => r === request.role);
  if (!role) {
    if (request.role === 'public')
      throw new TokenRequestError(`public is the role of calls without a token; a token has one of the roles ${TOKEN_ROLES.join(', ')}`);
    throw new TokenRequestError(`unknown role ${JSON.stringify(request.role)}: the roles are ${TOKEN_ROLES.join(', ')}`);
  }
  const label = request.label.trim();
  if (!label) throw new TokenRequestError('the label must not be empty: say who or what the token is for');
  if (label.length > LABEL_MAX) throw new TokenRequestError(`the label has ${label.length} characters; at most ${LABEL_MAX}`);
  if (role !== 'technician') {
    if (request.sites !== undefined) throw new TokenRequestError(`sites apply to technician tokens only: a ${role} token covers every site`);
    return { role, label, sites: null };
  }
  const sites = [...new Set((request.sites ?? []).map((s) => s.trim()).filter((s) => s !== ''))].sort();
  if (!sites.length)
    throw new TokenRequestError('a technician token needs the sites it may act on (site keys of the catalog, e.g. centre-ville,quartier-nord)');
  const pattern = new RegExp(ID_PATTERN);
  const bad = sites.filter((s) => !pattern.test(s));
  if (bad.length) throw new TokenRequestError(`not a site key: ${bad.map((s) => JSON.stringify(s)).join(', ')} (lowercase letters, digits, - and _)`);
  return { role, label, sites };
}

/** A token as listed: everything but its secret (which the hub does not have). */
export interface TokenInfo {
  id: string;
  label: string;
  role: Exclude<Role, 'public'>;
  sites: string[] | null;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

/**
 * Creates a token. The returned `token` is the only copy of its secret: give it to its holder,
 * it cannot be shown again.
 * @param createdBy who asked for it, e.g. `cli:alice` or a principal's id
 * @throws TokenRequestError when the request is not valid
 */
export async function createToken(pool: pg.Pool, request: TokenRequest, createdBy: string): Promise<{ info: TokenInfo; token: string }> {
  const checked = checkTokenRequest(request);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const { rows } = await pool.query<TokenRow>(
    `INSERT INTO api_tokens (label, role, sites, secret_hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING ${TOKEN_COLUMNS}`,
    [checked.label, checked.role, checked.sites, hashSecret(secret), createdBy],
  );
  const info = tokenInfo(rows[0]!);
  return { info, token: `cp_${info.id}_${secret}` };
}

/** Every token, revoked ones too, oldest first. */
export async function listTokens(pool: pg.Pool): Promise<TokenInfo[]> {
  const { rows } = await pool.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY id`);
  return rows.map(tokenInfo);
}

/**
 * Revokes a token; hubs stop accepting it within their token cache time (AuthOptions.cacheTtlMs).
 * Revoking a revoked token changes nothing and says so (`alreadyRevoked`).
 * @throws TokenNotFoundError when no token has this id
 */
export async function revokeToken(pool: pg.Pool, id: string, revokedBy: string): Promise<{ info: TokenInfo; alreadyRevoked: boolean }> {
  if (!/^[1-9][0-9]{0,17}$/.test(id)) throw new TokenNotFoundError(id);
  const updated = await pool.query<TokenRow>(
    `UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`,
    [id, revokedBy],
  );
  if (updated.rows[0]) return { info: tokenInfo(updated.rows[0]), alreadyRevoked: false };
  const { rows } = await pool.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
  if (!rows[0]) throw new TokenNotFoundError(id);
  return { info: tokenInfo(rows[0]), alreadyRevoked: true };
}

/** What authentication needs of a token's row. */
export interface TokenRecord {
  id: string;
  role: Exclude<Role, 'public'>;
  sites: string[] | null;
  secretHash: Buffer;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** The row of token `id`, or undefined when there is none. */
export async function findTokenRecord(pool: pg.Pool, id: string): Promise<TokenRecord | undefined> {
  const { rows } = await pool.query<TokenRow & { secret_hash: Buffer }>(`SELECT ${TOKEN_COLUMNS}, secret_hash FROM api_tokens WHERE id = $1`, [id]);
  const row = rows[0];
  return row && { id: row.id, role: row.role, sites: row.sites, secretHash: row.secret_hash, revokedAt: row.revoked_at, lastUsedAt: row.last_used_at };
}

/** Records that the token was used, unless that was done less than `minIntervalMs` ago (by any hub). */
export async function touchToken(pool: pg.Pool, id: string, minIntervalMs: number): Promise<void> {
  await pool.query(`UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`, [
    id,
    minIntervalMs / 1000,
  ]);
}

const TOKEN_COLUMNS = 'id::text AS id, label, role, sites, created_at, created_by, last_used_at, revoked_at, revoked_by';

interface TokenRow {
  id: string;
  label: string;
  role: Exclude<Role, 'public'>;
  sites: string[] | null;
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

function tokenInfo(row: TokenRow): TokenInfo {
  return {
    id: row.id,
    label: row.label,
    role: row.role,
    sites: row.sites,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
  };
}
