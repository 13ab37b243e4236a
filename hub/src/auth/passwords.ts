import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Passwords of people's accounts, hashed with scrypt (node:crypto). The stored text carries its
 * parameters with the salt and the hash, `scrypt$<N>$<r>$<p>$<salt>$<hash>` (base64url), so that
 * stronger parameters can be adopted later without invalidating the hashes already stored.
 */

/** Fewest characters of a password. */
export const PASSWORD_MIN_CHARS = 12;
/** Most characters of a password: scrypt reads all of it, and a megabyte would cost the hub. */
export const PASSWORD_MAX_CHARS = 1024;

/** N = 2^15, r = 8, p = 1: 32 MiB and tens of ms per hash; raise N as servers grow (old hashes keep theirs). */
const PARAMETERS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, { N, r, p }: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** The stored form of `password`: a fresh salt, the parameters and the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, PARAMETERS);
  return `scrypt$${PARAMETERS.N}$${PARAMETERS.r}$${PARAMETERS.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A hash of no password, to spend on an unknown username the time a known one costs. */
let decoy: Promise<string> | undefined;

/**
 * Whether `password` is the one `stored` was made from, compared in constant time. With `stored`
 * null or unreadable (no such account, or an account without a password), a decoy hash is
 * checked all the same and false returned, so that the answer takes about as long whether the
 * account exists or not.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parsed = stored === null ? undefined : parseHash(stored);
  if (!parsed) {
    decoy ??= hashPassword(randomBytes(16).toString('hex'));
    const fake = parseHash(await decoy)!;
    const key = await derive(password, fake.salt, fake);
    timingSafeEqual(key, fake.key);
    return false;
  }
  const key = await derive(password, parsed.salt, parsed);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

function parseHash(stored: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const match = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!match) return undefined;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return { N, r, p, salt: Buffer.from(match[4]!, 'base64url'), key: Buffer.from(match[5]!, 'base64url') };
}

/** Why `password` cannot be an account's password, or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < PASSWORD_MIN_CHARS) return `the password must have at least ${PASSWORD_MIN_CHARS} characters`;
  if (password.length > PASSWORD_MAX_CHARS) return `the password must have at most ${PASSWORD_MAX_CHARS} characters`;
  return undefined;
}
