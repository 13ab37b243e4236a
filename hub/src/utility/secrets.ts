import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CityPilotError } from '@citypilot/sdk';

/**
 * The connectors' secrets (a utility API's client secret) at rest: AES-256-GCM under the hub's
 * secret key, bound to the connector they belong to (its key is the additional authenticated
 * data: a sealed secret copied to another connector's row does not open). The key comes from
 * the environment, never from the database, so a copy of the database alone reveals no secret:
 * - `CITYPILOT_SECRET_KEY`: 32 bytes in base64 (`openssl rand -base64 32`), or
 * - `CITYPILOT_SECRET_KEY_FILE`: a file holding that text (a container's secret).
 * Stored form: version byte 1 ‖ 12-byte nonce ‖ 16-byte tag ‖ ciphertext.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The hub's box, or undefined when no key is configured (connectors with secrets cannot be saved then). */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): SecretBox | undefined {
    const file = env.CITYPILOT_SECRET_KEY_FILE;
    const text = env.CITYPILOT_SECRET_KEY ?? (file ? readKeyFile(file) : undefined);
    return text === undefined ? undefined : SecretBox.fromBase64(text, env.CITYPILOT_SECRET_KEY !== undefined ? 'CITYPILOT_SECRET_KEY' : file!);
  }

  /** A box for the base64 key `text`; `where` names it in the error. */
  static fromBase64(text: string, where = 'the secret key'): SecretBox {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32 || key.toString('base64') !== text.trim()) {
      throw new SecretKeyError(`${where}: expected 32 bytes in base64 (openssl rand -base64 32), found ${key.length} bytes`);
    }
    return new SecretBox(key);
  }

  seal(secret: string, owner: string): Buffer {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(owner, 'utf8'));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([1]), nonce, cipher.getAuthTag(), body]);
  }

  /** The secret sealed for `owner`; throws SecretKeyError when the key or the owner is not the one it was sealed with. */
  open(sealed: Buffer, owner: string): string {
    if (sealed.length < 29 || sealed[0] !== 1) throw new SecretKeyError(`the secret of ${owner} is not in a form this hub knows`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(1, 13));
    decipher.setAAD(Buffer.from(owner, 'utf8'));
    decipher.setAuthTag(sealed.subarray(13, 29));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError(`the secret of ${owner} does not open with this hub's key: was CITYPILOT_SECRET_KEY changed? Enter the secret again`);
    }
  }
}

export class SecretKeyError extends CityPilotError {
  constructor(message: string) {
    super('SECRET_KEY', message);
  }
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new SecretKeyError(`CITYPILOT_SECRET_KEY_FILE ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}
