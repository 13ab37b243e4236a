import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CityPilotError } from '@citypilot/sdk';
import { pluginKeyId } from '@citypilot/wire';

/** A trusted key file that cannot be read, or does not hold an Ed25519 public key. */
export class TrustedKeyError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGIN_KEY_INVALID', message, options);
  }
}

/** A public key this gateway accepts plugin signatures from, with its id ({@link pluginKeyId}). */
export interface TrustedKey {
  id: string;
  key: KeyObject;
  /** The file it was read from. */
  file: string;
}

/** Largest key file read: a PEM Ed25519 public key is about 113 bytes. */
const MAX_KEY_FILE_BYTES = 16 * 1024;

/**
 * Reads one trusted key: a PEM file holding an Ed25519 public key (SPKI, `-----BEGIN PUBLIC KEY-----`).
 * @throws TrustedKeyError naming the file and what is wrong with it
 */
export function readTrustedKey(file: string): TrustedKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TrustedKeyError(`cannot read the key file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  if (text.length > MAX_KEY_FILE_BYTES || !text.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new TrustedKeyError(`${file} is not a PEM public key: expected an Ed25519 public key beginning with -----BEGIN PUBLIC KEY-----`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new TrustedKeyError(`${file} is not a readable PEM public key (${(error as Error).message})`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TrustedKeyError(`${file} holds a ${key.asymmetricKeyType ?? 'unknown'} key: expected an Ed25519 public key`);
  }
  return { id: pluginKeyId(key), key, file };
}

/** Reads every trusted key of a configuration (already checked when it was parsed). @throws TrustedKeyError */
export function readTrustedKeys(files: readonly string[]): TrustedKey[] {
  return files.map(readTrustedKey);
}
