import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errors, type NatsConnection } from '@nats-io/transport-node';

import { directGetSubject, type PushedConfig } from '@citypilot/wire';

/**
 * The gateway's side of the configurations the hub pushes (the format, bucket, key and subjects
 * are declared in @citypilot/wire's config-push.ts): fetching its own key, and remembering in its
 * data folder which configuration ran last.
 */

export type { PushedConfig };

/**
 * The latest value of `key` in key-value bucket `bucket`, read with a direct get (the only read a
 * gateway's NATS user may make, and only of its own key), with its revision; null when there is
 * none (no key, a deleted key, or no bucket yet: no server answers a direct get on a stream that
 * does not exist). Used for the pushed configuration and for the plugin assignments.
 * @throws the NATS error of a refused request (permissions) or of a timeout
 */
export async function fetchKey(nc: NatsConnection, bucket: string, key: string, timeoutMs = 5000): Promise<{ revision: number; data: Uint8Array } | null> {
  let reply;
  try {
    reply = await nc.request(directGetSubject(bucket, key), undefined, { timeout: timeoutMs });
  } catch (error) {
    if (error instanceof errors.NoRespondersError || (error as { cause?: unknown }).cause instanceof errors.NoRespondersError) return null;
    throw error;
  }
  const headers = reply.headers;
  // A status reply (404 Message Not Found, 408 …) carries no value.
  if (!headers || headers.hasError || headers.code >= 300) return null;
  const operation = headers.get('KV-Operation');
  if (operation === 'DEL' || operation === 'PURGE') return null;
  const revision = Number(headers.get('Nats-Sequence'));
  if (!Number.isSafeInteger(revision) || revision <= 0) throw new Error(`the direct get of key ${key} of ${bucket} returned no sequence number`);
  return { revision, data: reply.data };
}

/** The latest configuration the hub pushed for `gateway`, or null when none (see {@link fetchKey}). */
export async function fetchPushedConfig(nc: NatsConnection, bucket: string, gateway: string, timeoutMs = 5000): Promise<PushedConfig | null> {
  const value = await fetchKey(nc, bucket, gateway, timeoutMs);
  return value && { revision: value.revision, text: new TextDecoder().decode(value.data) };
}

/** File of dataDir that remembers which configuration ran last, so that a restart without the hub runs it again. */
export const CONFIG_STATE_FILE = 'config-state.json';

/** What {@link CONFIG_STATE_FILE} holds. */
export interface ConfigState {
  /** Where the configuration applied last came from. */
  source: 'file' | 'hub';
  /** The hub's configuration applied last, if any (still there when the file was applied after it). */
  hub?: PushedConfig & { appliedAt: string };
  /** The newest revision of the hub's bucket this gateway has handled (applied or refused). */
  seenRevision?: number;
}

/** The state saved in `dataDir`, or undefined when there is none or it is unreadable (then the file runs). */
export function readConfigState(dataDir: string): ConfigState | undefined {
  const file = join(dataDir, CONFIG_STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as ConfigState;
    return state && (state.source === 'file' || state.source === 'hub') ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Saves the state atomically (written aside, flushed, renamed): a crash leaves the old one or the new one. */
export function writeConfigState(dataDir: string, state: ConfigState): void {
  const file = join(dataDir, CONFIG_STATE_FILE);
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}
