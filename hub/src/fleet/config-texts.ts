/**
 * Reading the gateways' configurations back from the configuration bucket (services/config-push.ts,
 * protocols/wire/src/config-push.ts), for the fleet's API: the latest revision of a gateway's key
 * and the text of an earlier one still in the bucket's history. Reads only: the bucket is never
 * made here, and a missing bucket reads as no configuration pushed.
 */
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@citypilot/sdk';
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

/** How long the watch of the bucket waits before trying again when the bucket is missing or the watch ended. */
const WATCH_RETRY_MS = 5000;

/**
 * The latest revision of every gateway's key, kept in memory by a watch of the bucket (headers
 * only: the texts are never read), so that the fleet's list knows what was pushed to a thousand
 * gateways without asking NATS a thousand times. A bucket not made yet is watched once it is
 * (tried every 5 s). Reads are of this process's map: a push elsewhere shows once its watch
 * entry arrives, within milliseconds.
 */
export class PushedRevisions {
  private revisions = new Map<string, { revision: number; at: string }>();
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lastProblem = '';

  constructor(
    private readonly nc: NatsConnection,
    readonly bucket: string,
    private readonly logger: Logger,
  ) {}

  /** The latest revision pushed to `gateway` and when, or null when none (or its key was deleted). */
  get(gateway: string): { revision: number; at: string } | null {
    return this.revisions.get(gateway) ?? null;
  }

  /** A revision this process has just put (seen before its watch entry arrives). */
  put(gateway: string, revision: number, at: string): void {
    const known = this.revisions.get(gateway);
    if (!known || known.revision < revision) this.revisions.set(gateway, { revision, at });
  }

  start(): void {
    this.loop ??= this.watchLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    this.wake?.();
    await this.loop;
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const kv = await new Kvm(this.nc).open(this.bucket);
        const watch = await kv.watch({ headers_only: true });
        this.stopWatch = () => watch.stop();
        // A new watch replays every key's latest entry: the map is rebuilt from it.
        const fresh = new Map<string, { revision: number; at: string }>();
        this.revisions = fresh;
        this.lastProblem = '';
        for await (const entry of watch) this.apply(fresh, entry);
      } catch (error) {
        const problem = (error as Error).message;
        if (problem !== this.lastProblem) this.logger.debug({ bucket: this.bucket, err: problem }, 'configuration bucket not watched yet; trying again');
        this.lastProblem = problem;
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, WATCH_RETRY_MS).unref();
      });
    }
  }

  private apply(map: Map<string, { revision: number; at: string }>, entry: KvWatchEntry): void {
    if (entry.operation === 'PUT') map.set(entry.key, { revision: entry.revision, at: entry.created.toISOString() });
    else map.delete(entry.key);
  }
}
