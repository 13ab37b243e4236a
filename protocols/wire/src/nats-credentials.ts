import { readFileSync } from 'node:fs';
import { nkeyAuthenticator, nkeys, type Authenticator } from '@nats-io/transport-node';
import { CityPilotError } from './errors.js';

/**
 * Per-gateway NATS credentials. A credentials file of CityPilot holds a NATS user's nkey seed
 * (`SU…`, 58 characters), on the first line that is neither empty nor a `#` comment. The hub
 * operator's tooling makes one per gateway and one for the hub (`citypilot hub nats-auth`,
 * hub/src/services/nats-auth.ts, with {@link createNatsUser}); the server's configuration holds
 * only the public keys, so a seed never leaves the gateway's disk and the hub's. Gateways
 * (gateway/src/gateway.ts) and the hub connect with {@link natsCredentialsOptions}.
 */
/** A credentials file that cannot be read or holds no user seed. `file` names it. */
export class NatsCredentialsError extends CityPilotError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('NATS_CREDENTIALS_INVALID', message, options);
  }
}

/** The seed in `file`. @throws NatsCredentialsError */
export function readNatsSeed(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new NatsCredentialsError(file, `${file}: cannot read the NATS credentials (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
      cause: error,
    });
  }
  const seed = text
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line && !line.startsWith('#'));
  try {
    if (!seed?.startsWith('SU')) throw new Error('no line starts with SU');
    nkeys.fromSeed(new TextEncoder().encode(seed));
  } catch (error) {
    throw new NatsCredentialsError(file, `${file}: expected a NATS user nkey seed (a line SU… of 58 characters)`, { cause: error });
  }
  return seed;
}

/** Connection options that authenticate as the user whose seed is in `file`. @throws NatsCredentialsError */
export function natsCredentialsOptions(file: string): { authenticator: Authenticator } {
  return { authenticator: nkeyAuthenticator(new TextEncoder().encode(readNatsSeed(file))) };
}

/** A new user: its seed (secret) and public key (for the server's configuration). */
export function createNatsUser(): { seed: string; publicKey: string } {
  const user = nkeys.createUser();
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey: user.getPublicKey() };
}

/** The public key of a seed. */
export function natsPublicKey(seed: string): string {
  return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
}
