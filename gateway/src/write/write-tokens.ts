import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityPilotError, ID_PATTERN } from '@citypilot/sdk';

/**
 * Write tokens: the credentials a technician gives to write points through the gateway's API
 * (`Authorization: Bearer cpw_<secret>`). A token is 32 random bytes in base64url (43
 * characters) after the `cpw_` prefix, shown once by `citypilot gateway write-token create`.
 * The gateway keeps, in `<dataDir>/write-tokens.json`, each token's technician name and the
 * SHA-256 of its secret, never the secret: a secret of 256 random bits needs no salt nor slow
 * hash. The technician's name is the "who" of every write the gateway logs. The file is read at
 * each write, so that a token created or revoked takes effect without a restart.
 */

const TOKEN_PATTERN = /^cpw_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;

/** One technician's token, as the gateway keeps it. */
export interface WriteTokenRecord {
  /** The technician's name (lowercase letters, digits, - and _): who the log says wrote. */
  name: string;
  /** SHA-256 of the secret, hexadecimal. */
  sha256: string;
  /** ISO 8601 time of creation. */
  createdAt: string;
}

/** A token request or file the gateway cannot use; the message says why and what is expected. */
export class WriteTokenError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WRITE_TOKEN_INVALID', message, options);
  }
}

/** Where a gateway with data folder `dataDir` keeps its write tokens' hashes. */
export function writeTokensFile(dataDir: string): string {
  return join(dataDir, 'write-tokens.json');
}

/**
 * The tokens of the gateway whose data folder is `dataDir`; none when the file does not exist.
 * @throws WriteTokenError when the file exists but cannot be read or is not a token list
 */
export function readWriteTokens(dataDir: string): WriteTokenRecord[] {
  const file = writeTokensFile(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new WriteTokenError(`${file}: cannot read the write tokens (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new WriteTokenError(`${file}: not JSON (${(error as Error).message}); recreate the tokens with citypilot gateway write-token create`, {
      cause: error,
    });
  }
  const tokens = (data as { tokens?: unknown } | null)?.tokens;
  const valid = (t: unknown): t is WriteTokenRecord => {
    const r = t as Partial<WriteTokenRecord> | null;
    return !!r && typeof r.name === 'string' && typeof r.sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.sha256) && typeof r.createdAt === 'string';
  };
  if (!Array.isArray(tokens) || !tokens.every(valid)) {
    throw new WriteTokenError(
      `${file}: expected {"tokens": [{"name", "sha256", "createdAt"}, …]}; recreate the tokens with citypilot gateway write-token create`,
    );
  }
  return tokens;
}

/**
 * Creates a token for technician `name` and records its hash. The returned token is the only copy
 * of its secret: give it to the technician, it cannot be shown again.
 * @throws WriteTokenError for a malformed name, or one that has a token already (revoke it first)
 */
export function createWriteToken(dataDir: string, name: string, now = new Date()): string {
  if (!new RegExp(ID_PATTERN).test(name))
    throw new WriteTokenError(
      `${JSON.stringify(name)} is not a technician name: expected lowercase letters, digits, - and _ (such as alice or cvc-contractor)`,
    );
  const tokens = readWriteTokens(dataDir);
  if (tokens.some((t) => t.name === name))
    throw new WriteTokenError(`${name} has a write token already: revoke it first (citypilot gateway write-token revoke … --name ${name})`);
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  saveWriteTokens(dataDir, [...tokens, { name, sha256: hashSecret(secret).toString('hex'), createdAt: now.toISOString() }]);
  return `cpw_${secret}`;
}

/**
 * Removes technician `name`'s token: writes with it are refused from the next request on.
 * @returns whether there was one
 */
export function revokeWriteToken(dataDir: string, name: string): boolean {
  const tokens = readWriteTokens(dataDir);
  const kept = tokens.filter((t) => t.name !== name);
  if (kept.length === tokens.length) return false;
  saveWriteTokens(dataDir, kept);
  return true;
}

/**
 * The technician whose token `presented` is (the text after `Bearer `), or undefined when it is
 * none of `tokens`. Compares hashes in time independent of where they differ, and every one of
 * them, so that the time taken says nothing of which token came close.
 */
export function writeTokenHolder(tokens: readonly WriteTokenRecord[], presented: string): string | undefined {
  const secret = TOKEN_PATTERN.exec(presented)?.[1];
  if (secret === undefined) return undefined;
  const candidate = hashSecret(secret);
  let holder: string | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(candidate, Buffer.from(t.sha256, 'hex')) && holder === undefined) holder = t.name;
  }
  return holder;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Replaces the file whole (write then rename), readable by the gateway's user only. */
function saveWriteTokens(dataDir: string, tokens: readonly WriteTokenRecord[]): void {
  mkdirSync(dataDir, { recursive: true });
  const file = writeTokensFile(dataDir);
  const next = `${file}.${process.pid}.tmp`;
  writeFileSync(next, JSON.stringify({ tokens }, null, 2) + '\n', { mode: 0o600 });
  renameSync(next, file);
}
