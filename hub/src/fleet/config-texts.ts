/**
 * Reading the gateways' configurations back from the configuration bucket (services/config-push.ts,
 * protocols/wire/src/config-push.ts), for the fleet's API: the latest revision of a gateway's key
 * and the text of an earlier one still in the bucket's history. Reads only: the bucket is never
 * made here, and a missing bucket reads as no configuration pushed.
 */
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { configBucketStream } from '@citypilot/wire';
import { createTwoFilesPatch } from 'diff';

/** JetStream's code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;
/** JetStream's code for a sequence number with no message (deleted, or beyond the history kept). */
const NO_MESSAGE_FOUND = 10037;

/** A configuration in the bucket: its revision, when it was put, and its YAML. */
export interface BucketConfig {
  revision: number;
  at: string;
  text: string;
}

export class ConfigTexts {
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly bucket: string,
  ) {}

  /** Gateway `gateway`'s latest configuration, or null when none was pushed (or it was deleted). */
  async latest(gateway: string): Promise<BucketConfig | null> {
    return this.read(gateway, { last_by_subj: this.subject(gateway) });
  }

  /** The configuration of `gateway` at `revision`, or null when the bucket no longer has it (or it is another key's). */
  async at(gateway: string, revision: number): Promise<BucketConfig | null> {
    if (!Number.isSafeInteger(revision) || revision < 1) return null;
    return this.read(gateway, { seq: revision });
  }

  private subject(gateway: string): string {
    return `$KV.${this.bucket}.${gateway}`;
  }

  private async read(gateway: string, query: { last_by_subj: string } | { seq: number }): Promise<BucketConfig | null> {
    this.jsm ??= jetstreamManager(this.nc).catch((error: unknown) => {
      this.jsm = undefined;
      throw error;
    });
    let msg: StoredMsg | null;
    try {
      msg = await (await this.jsm).streams.getMessage(configBucketStream(this.bucket), query);
    } catch (error) {
      if (error instanceof JetStreamApiError && (error.code === STREAM_NOT_FOUND || error.code === NO_MESSAGE_FOUND)) return null;
      throw error;
    }
    if (!msg || msg.subject !== this.subject(gateway)) return null;
    // A deleted or purged key leaves a marker whose operation header says so.
    const operation = msg.header?.get('KV-Operation');
    if (operation === 'DEL' || operation === 'PURGE') return null;
    return { revision: msg.seq, at: msg.time.toISOString(), text: msg.string() };
  }
}

/** The unified diff from `running` to `pushed` (both YAML texts), or null when they are the same. */
export function configDiff(gateway: string, running: string, pushed: string): string | null {
  if (running === pushed) return null;
  return createTwoFilesPatch(`${gateway} (running)`, `${gateway} (pushed)`, running, pushed, undefined, undefined, { context: 3 });
}
