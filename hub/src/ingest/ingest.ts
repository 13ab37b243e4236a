import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { decodeBatch, DecodeError, subjects, type Batch, type Logger } from '@citypilot/sdk';
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
  /** Messages fetched and written in one transaction, at most. Default 200. */
  fetchSize?: number;
}

/**
 * Moves batches from the shared durable consumer into the database. Every message is
 * acknowledged only after the transaction holding its samples has committed; a message that
 * cannot be decoded goes to the dead-letter stream with the reason and never blocks the others.
 */
export class IngestWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;
  /** Ends the back-off pause early, so that stop() does not wait out a retry delay. */
  private interrupt: (() => void) | undefined;

  constructor(private readonly options: IngestWorkerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops fetching, finishes the write in progress (and its acks), then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { nc, names } = this.options;
    const js = jetstream(nc);
    let consumer: Awaited<ReturnType<typeof js.consumers.get>> | undefined;
    let backoffMs = 500;
    while (this.running) {
      try {
        consumer ??= await js.consumers.get(names.stream, names.durable);
        const messages = await consumer.fetch({ max_messages: this.options.fetchSize ?? 200, expires: 1000 });
        const received: JsMsg[] = [];
        for await (const m of messages) received.push(m);
        if (received.length) await this.handle(received);
        backoffMs = 500;
        this.recovered();
      } catch (error) {
        consumer = undefined;
        this.failed(error as Error);
        await this.pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }

  private async handle(messages: JsMsg[]): Promise<void> {
    const { storage, metrics } = this.options;
    const good: { msg: JsMsg; batch: Batch }[] = [];
    for (const msg of messages) {
      try {
        good.push({ msg, batch: decodeBatch(msg.data) });
      } catch (error) {
        await this.deadLetter(msg, error as DecodeError);
      }
    }
    if (!good.length) return;
    const started = performance.now();
    try {
      const result = await storage.writeBatches(good.map((g) => g.batch));
      metrics.samplesInserted.inc(result.inserted);
      metrics.samplesDuplicate.inc(result.duplicates);
      metrics.batches.inc(good.length);
      metrics.writeSeconds.observe((performance.now() - started) / 1000);
    } catch (error) {
      // Nothing was committed: let JetStream deliver these again after a pause.
      for (const { msg } of good) msg.nak(2000);
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

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.interrupt = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private recovered(): void {
    if (this.lastError === undefined) return;
    this.lastError = undefined;
    this.options.logger.info({}, 'ingest recovered');
  }
}

