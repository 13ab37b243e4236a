import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { decodeBatch, Pause, DecodeError, subjects, type Batch, type Logger } from '@citypilot/sdk';
import type { Storage } from '../storage/storage.js';
import type { HubMetrics } from '../metrics.js';

/** Names of the JetStream resources the hub uses; tests give each file its own. */
export interface StreamNames {
  /** Subject prefix shared with the gateways (default `citypilot`). */
  prefix: string;
  /** Stream holding the gateways' batches until the hub has stored them. */
  stream: string;
  /** Durable consumer shared by every ingest worker of the hub. */
  durable: string;
}

export const defaultStreamNames: StreamNames = { prefix: 'citypilot', stream: 'CITYPILOT_TELEMETRY', durable: 'hub-ingest' };

/** Window within which JetStream drops a batch published again with the same `Nats-Msg-Id`. */
const DUPLICATE_WINDOW_MS = 120_000;

/**
 * Creates (or brings up to date) the telemetry stream, its dead-letter stream, and the shared
 * durable pull consumer. Idempotent; several hub processes may call it at once.
 */
export async function ensureIngestStreams(nc: NatsConnection, names: StreamNames): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const subj = subjects(names.prefix);
  await upsertStream(jsm, {
    name: names.stream,
    subjects: [subj.telemetryAll],
    // Messages leave the stream once the hub has stored and acknowledged them.
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  await upsertStream(jsm, {
    name: deadLetterStream(names),
    subjects: [deadLetterSubject(names)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
  });
  try {
    await jsm.consumers.info(names.stream, names.durable);
  } catch {
    await jsm.consumers.add(names.stream, {
      durable_name: names.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_ack_pending: 10_000,
    });
  }
}

type Jsm = Awaited<ReturnType<typeof jetstreamManager>>;
type StreamSettings = Parameters<Jsm['streams']['add']>[0] & { name: string };

async function upsertStream(jsm: Jsm, config: StreamSettings): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, { subjects: config.subjects, duplicate_window: config.duplicate_window });
  } catch (error) {
    if (!/stream not found/i.test((error as Error).message)) throw error;
    await jsm.streams.add(config);
  }
}

export function deadLetterStream(names: StreamNames): string {
  return `${names.stream}_DEADLETTER`;
}

export function deadLetterSubject(names: StreamNames): string {
  return `${names.prefix}.deadletter.telemetry`;
}

export interface IngestWorkerOptions {
  nc: NatsConnection;
  storage: Storage;
  names: StreamNames;
  logger: Logger;
  metrics: HubMetrics;
  /** Messages fetched and written in one transaction, at most. Default FETCH_SIZE. */
  fetchSize?: number;
}

/**
 * Messages per write (one transaction), at most. Measured by bench/ingest on 2 cores with
 * 1,000-sample batches and rollups maintained: 20 → 37,000 samples/s, 50 → 44,000, 500 →
 * 21,000 (large transactions recompute more rollup buckets, sort beyond work_mem, and hold the
 * gateways' rows longer). JetStream's client cannot bound a pull by both messages and bytes
 * (bytes alone caps it at 100 messages), so it is bounded by messages.
 */
const FETCH_SIZE = 50;

/**
 * Moves batches from the shared durable consumer into the database. Every message is
 * acknowledged only after the transaction holding its samples has committed; a message that
 * cannot be decoded goes to the dead-letter stream with the reason and never blocks the others.
 *
 * JetStream delivers continuously (`consume()`) into a bounded buffer while the previous write
 * runs; each write takes everything buffered (up to `fetchSize` messages). At low rates a batch
 * is written as soon as it arrives; at high rates transactions grow and their fixed costs
 * (round trips, commit, gateway and latest-value updates) are shared by more samples.
 */
export class IngestWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;
  /** The back-off after a failure, which stop() ends early. */
  private readonly backoff = new Pause();
  /** The delivery in progress, stopped by stop(). */
  private consuming: ConsumerMessages | undefined;
  /** Messages received and not yet taken by a write. */
  private buffer: JsMsg[] = [];
  private wakeWriter: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;

  constructor(private readonly options: IngestWorkerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops fetching, finishes the write in progress (and its acks), then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.backoff.wake();
    this.consuming?.stop();
    this.wake();
    await this.loop;
  }

  private wake(): void {
    const writer = this.wakeWriter;
    const reader = this.wakeReader;
    this.wakeWriter = this.wakeReader = undefined;
    writer?.();
    reader?.();
  }

  private async run(): Promise<void> {
    const { nc, names } = this.options;
    const size = this.options.fetchSize ?? FETCH_SIZE;
    const js = jetstream(nc);
    let backoffMs = 500;
    while (this.running) {
      let reader: Promise<void> | undefined;
      try {
        const consumer = await js.consumers.get(names.stream, names.durable);
        // The client pulls `size` messages ahead, and pulls more only as the reader takes them:
        // with the reader's own buffer, at most two writes' worth of messages wait in memory.
        const messages = await consumer.consume({ max_messages: size, expires: 30_000 });
        this.consuming = messages;
        let ended: { error?: Error } | undefined;
        reader = (async () => {
          try {
            for await (const m of messages) {
              this.buffer.push(m);
              this.wakeWriter?.();
              while (this.buffer.length >= size && this.running) await new Promise<void>((r) => (this.wakeReader = r));
            }
            ended = {};
          } catch (error) {
            ended = { error: error as Error };
          } finally {
            this.wakeWriter?.();
          }
        })();
        while (this.running) {
          if (!this.buffer.length) {
            if (ended) throw ended.error ?? new Error('JetStream ended the delivery');
            await new Promise<void>((r) => (this.wakeWriter = r));
            continue;
          }
          const taken = this.buffer.splice(0, size);
          this.wakeReader?.();
          await this.handle(taken);
          backoffMs = 500;
          this.recovered();
        }
      } catch (error) {
        this.failed(error as Error);
        if (this.running) {
          await this.release(reader);
          await this.backoff.for(backoffMs);
        }
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
      await this.release(reader);
    }
  }

  /** Ends the delivery and hands back what was received but not written, for redelivery now. */
  private async release(reader: Promise<void> | undefined): Promise<void> {
    this.consuming?.stop();
    this.consuming = undefined;
    this.wake();
    await reader;
    for (const m of this.buffer.splice(0)) m.nak();
  }

  private async handle(messages: JsMsg[]): Promise<void> {
    const { storage, metrics } = this.options;
    const good: { msg: JsMsg; batch: Batch }[] = [];
    const settled = new Set<JsMsg>();
    try {
      for (const msg of messages) {
        let batch: Batch;
        try {
          batch = decodeBatch(msg.data);
        } catch (error) {
          await this.deadLetter(msg, error as DecodeError);
          settled.add(msg);
          continue;
        }
        good.push({ msg, batch });
      }
      if (!good.length) return;
      const started = performance.now();
      const result = await storage.writeBatches(good.map((g) => g.batch));
      metrics.samplesInserted.inc(result.inserted);
      metrics.samplesDuplicate.inc(result.duplicates);
      metrics.batches.inc(good.length);
      metrics.writeSeconds.observe((performance.now() - started) / 1000);
    } catch (error) {
      // Nothing of these was committed: let JetStream deliver them again after a pause.
      for (const msg of messages) if (!settled.has(msg)) msg.nak(2000);
      throw error;
    }
    for (const { msg } of good) msg.ack();
  }

  private async deadLetter(msg: JsMsg, error: Error): Promise<void> {
    const { nc, names, logger, metrics } = this.options;
    const h = headers();
    h.set('CityPilot-Reason', error.message.slice(0, 1000));
    h.set('CityPilot-Subject', msg.subject);
    h.set('CityPilot-Stream-Seq', String(msg.seq));
    await jetstream(nc).publish(deadLetterSubject(names), msg.data, { headers: h });
    msg.term(error.message.slice(0, 200));
    metrics.deadLetters.inc();
    logger.warn({ subject: msg.subject, seq: msg.seq, reason: error.message }, 'undecodable message moved to the dead-letter stream');
  }

  /** Logs a failure once until it changes, not at every retry. */
  private failed(error: Error): void {
    if (error.message === this.lastError) return;
    this.lastError = error.message;
    this.options.logger.error({ err: error.message }, 'ingest failing; retrying');
  }


  private recovered(): void {
    if (this.lastError === undefined) return;
    this.lastError = undefined;
    this.options.logger.info({}, 'ingest recovered');
  }
}

