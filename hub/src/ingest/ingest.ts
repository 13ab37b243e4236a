import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { Pause, type Logger } from '@citypilot/sdk';
import {
  CityPilotError,
  deadLetterStream,
  deadLetterSubject,
  decodeBatch,
  DecodeError,
  isBatchMessageId,
  subjects,
  type Batch,
  type StreamNames,
  type Subjects,
} from '@citypilot/wire';
import { buildingClaimKey, refusedBuildingClaims, type BuildingRefusal } from '../storage/catalog.js';
import { SampleTimeRangeError } from '../storage/partitions.js';
import type { Storage } from '../storage/storage.js';
import type { HubMetrics } from '../metrics.js';

// The stream and consumer names are part of the wire contract; re-exported for the hub's users.
export { defaultStreamNames, deadLetterStream, deadLetterSubject, type StreamNames } from '@citypilot/wire';

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

export interface IngestWorkerOptions {
  nc: NatsConnection;
  storage: Storage;
  names: StreamNames;
  logger: Logger;
  metrics: HubMetrics;
  /** Samples written in one transaction, at most (a larger batch is written alone). Default MAX_WRITE_SAMPLES. */
  maxWriteSamples?: number;
  /** Batches written in one transaction, at most. Default MAX_WRITE_BATCHES. */
  maxWriteBatches?: number;
}

/**
 * Samples per write (one transaction), at most. A transaction's fixed costs (round trips,
 * commit, the gateways' rows) and its rollup additions (one per point and local hour it
 * touches, whatever the number of samples) are shared by all its samples: the larger, the
 * cheaper each sample, up to the memory held (about 200 bytes a decoded sample, twice over per
 * worker: one write in progress, the next one buffered). Measured by bench/ingest on 2 cores
 * with 1,000-sample batches from 100 gateways: see the README's benchmark figures.
 */
const MAX_WRITE_SAMPLES = 200_000;

/** Batches per write, at most: bounds the acknowledgements held back by one transaction. */
const MAX_WRITE_BATCHES = 1_000;

/** Messages JetStream delivers ahead of the reader (the client pulls again when half are taken). */
const PREFETCH_MESSAGES = 100;

/**
 * A batch that speaks for another gateway than the one whose subject it came on, or names a
 * building the catalog does not let that gateway serve: it goes to the dead-letter stream with
 * this reason.
 */
export class BatchIdentityError extends CityPilotError {
  constructor(message: string) {
    super('BATCH_IDENTITY', message);
  }
}

/** A message taken from the stream and decoded. */
interface Received {
  msg: JsMsg;
  batch: Batch;
}

/**
 * Moves batches from the shared durable consumer into the database. Every message is
 * acknowledged only after the transaction holding its samples has committed; a message that
 * cannot be decoded goes to the dead-letter stream with the reason and never blocks the others.
 *
 * The subject is the identity: a message's gateway is the one of the telemetry subject it came
 * on, `<prefix>.telemetry.<gateway>`, which the NATS permissions let only that gateway's
 * credentials publish to (services/nats-auth.ts); what the batch says is checked against it,
 * never trusted. A batch goes to the dead-letter stream with the reason, and nothing of it is
 * written, when
 *  - its `gateway` is not the subject's: samples, sequence and point list would be another
 *    gateway's, and everything the database keys by gateway (points, their retirement and
 *    building, the last sequence) is keyed by the subject's gateway only through this check;
 *  - its `Nats-Msg-Id` is missing or not one of the subject's gateway's ids for its sequence
 *    (`<gateway>:<key>:<seq>`, or `<gateway>:<seq>` from gateways without a key; see
 *    batchMessageId): JetStream has already spent that id's place in its duplicate window, but
 *    the hub does not store what another gateway's id carries;
 *  - it names a `building` the catalog does not know, once the catalog holds buildings (before
 *    any import, announcements may come first: gateways are linked to buildings by key), or one
 *    whose catalog entry lists the gateways that serve it and not this one.
 *
 * JetStream delivers continuously (`consume()`); messages are decoded as they arrive, into a
 * buffer, while the previous write runs; each write takes everything buffered (up to
 * `maxWriteSamples` samples and `maxWriteBatches` batches). At low rates a batch is written as
 * soon as it arrives; at high rates transactions grow and their fixed costs are shared by more
 * samples.
 */
export class IngestWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;
  /** The back-off after a failure, which stop() ends early. */
  private readonly backoff = new Pause();
  /** The delivery in progress, stopped by stop(). */
  private consuming: ConsumerMessages | undefined;
  /** Batches received and decoded, not yet taken by a write, and their samples. */
  private buffer: Received[] = [];
  private bufferedSamples = 0;
  private wakeWriter: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;
  private readonly maxSamples: number;
  private readonly maxBatches: number;
  private readonly subjects: Subjects;

  constructor(private readonly options: IngestWorkerOptions) {
    this.maxSamples = options.maxWriteSamples ?? MAX_WRITE_SAMPLES;
    this.maxBatches = options.maxWriteBatches ?? MAX_WRITE_BATCHES;
    this.subjects = subjects(options.names.prefix);
  }

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
    const js = jetstream(nc);
    let backoffMs = 500;
    while (this.running) {
      let reader: Promise<void> | undefined;
      try {
        const consumer = await js.consumers.get(names.stream, names.durable);
        const messages = await consumer.consume({ max_messages: PREFETCH_MESSAGES, expires: 30_000 });
        this.consuming = messages;
        let ended: { error?: Error } | undefined;
        reader = (async () => {
          try {
            for await (const msg of messages) {
              const batch = await this.decode(msg);
              if (!batch) continue;
              this.buffer.push({ msg, batch });
              this.bufferedSamples += batch.samples.length;
              this.wakeWriter?.();
              // At most one more write's worth waits in memory.
              while ((this.bufferedSamples >= this.maxSamples || this.buffer.length >= this.maxBatches) && this.running) {
                await new Promise<void>((r) => (this.wakeReader = r));
              }
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
          const taken = this.take();
          this.wakeReader?.();
          await this.writeUntilStored(taken);
          backoffMs = 500;
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

  /** The next write's batches from the front of the buffer: at least one, within the bounds. */
  private take(): Received[] {
    let n = 0;
    let samples = 0;
    while (n < this.buffer.length && n < this.maxBatches) {
      const next = this.buffer[n]!.batch.samples.length;
      if (n > 0 && samples + next > this.maxSamples) break;
      samples += next;
      n++;
    }
    this.bufferedSamples -= samples;
    return this.buffer.splice(0, n);
  }

  /** Ends the delivery and hands back what was received but not written, for redelivery now. */
  private async release(reader: Promise<void> | undefined): Promise<void> {
    this.consuming?.stop();
    this.consuming = undefined;
    this.wake();
    await reader;
    for (const { msg } of this.buffer.splice(0)) msg.nak();
    this.bufferedSamples = 0;
  }

  /**
   * Writes `taken` and acknowledges it, trying again in place while the database refuses the
   * write (it is down or restarting), until it succeeds or the worker stops. Batches keep their
   * order: nothing is handed back to JetStream, whose redelivery would let the batches behind
   * these overtake them and store a point's samples out of order. While it waits, the batches it
   * holds (these and the buffered ones, which the reader keeps taking) are marked in progress so
   * that their ack wait does not run out. On stop, these are handed back (nak) ahead of the
   * buffered ones, which release() hands back next.
   */
  private async writeUntilStored(taken: Received[]): Promise<void> {
    let backoffMs = 500;
    for (;;) {
      try {
        // Those refused leave `taken` once in the dead-letter stream: a retry does not send them again.
        taken = await this.refuseBuildingClaims(taken);
        if (taken.length) await this.write(taken);
        this.recovered();
        return;
      } catch (error) {
        this.failed(error as Error);
        if (!this.running) {
          for (const { msg } of taken) msg.nak();
          return;
        }
        for (const { msg } of [...taken, ...this.buffer]) msg.working();
        await this.backoff.for(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
    }
  }

  /**
   * The message's batch, or undefined when it cannot be decoded or speaks for another gateway
   * than its subject's (it then goes to the dead-letter stream).
   */
  private async decode(msg: JsMsg): Promise<Batch | undefined> {
    try {
      const batch = decodeBatch(msg.data);
      this.checkIdentity(msg, batch);
      return batch;
    } catch (error) {
      if (!(error instanceof DecodeError) && !(error instanceof BatchIdentityError)) throw error;
      await this.deadLetter(msg, error);
      return undefined;
    }
  }

  /** @throws BatchIdentityError when the batch is not all of its subject's gateway (see the class comment) */
  private checkIdentity(msg: JsMsg, batch: Batch): void {
    const gateway = this.subjects.telemetryGateway(msg.subject);
    if (gateway === undefined) {
      throw new BatchIdentityError(`the subject ${msg.subject} is not a gateway's telemetry subject: expected ${this.subjects.telemetry('<gateway id>')}`);
    }
    if (batch.gateway !== gateway) {
      throw new BatchIdentityError(
        `the batch names gateway ${JSON.stringify(batch.gateway)} but came on the subject of gateway ${JSON.stringify(gateway)}: a gateway may send only its own batches`,
      );
    }
    const id = msg.headers?.get('Nats-Msg-Id') ?? '';
    if (!isBatchMessageId(id, gateway, batch.seq)) {
      const got = id ? `the message id ${JSON.stringify(id.slice(0, 200))}` : 'no message id (Nats-Msg-Id)';
      throw new BatchIdentityError(`the batch ${batch.seq} of gateway ${JSON.stringify(gateway)} has ${got}: expected ${gateway}:<key>:${batch.seq}`);
    }
  }

  private async write(received: Received[]): Promise<void> {
    const { storage, metrics } = this.options;
    try {
      const started = performance.now();
      const result = await storage.writeBatches(received.map((r) => r.batch));
      metrics.samplesInserted.inc(result.inserted);
      metrics.samplesDuplicate.inc(result.duplicates);
      metrics.batches.inc(received.length);
      metrics.writeSeconds.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (isDataError(error)) {
        // A batch the database refuses (a text it cannot store, a time out of its range) would
        // fail every write it is part of: write the batches one by one, so that only it goes
        // to the dead-letter stream.
        if (received.length === 1) await this.deadLetter(received[0]!.msg, new Error(`the database refused the batch: ${(error as Error).message}`));
        else for (const r of received) await this.write([r]);
        return;
      }
      throw error;
    }
    for (const { msg } of received) msg.ack();
  }

  /**
   * `received` without the batches naming a building the catalog refuses them (see the class
   * comment), which go to the dead-letter stream. A query only when some batch names a building:
   * gateways send it with their point list, at start and when their configuration changes.
   */
  private async refuseBuildingClaims(received: Received[]): Promise<Received[]> {
    const claims = received.flatMap(({ batch }) => (batch.building === undefined ? [] : [{ gateway: batch.gateway, building: batch.building }]));
    if (!claims.length) return received;
    const refused = await refusedBuildingClaims(this.options.storage.pool, claims);
    if (!refused.size) return received;
    const kept: Received[] = [];
    for (const r of received) {
      const { gateway, building, seq } = r.batch;
      const refusal = building === undefined ? undefined : refused.get(buildingClaimKey({ gateway, building }));
      if (!refusal) {
        kept.push(r);
        continue;
      }
      await this.deadLetter(
        r.msg,
        new BatchIdentityError(
          `the batch ${seq} of gateway ${JSON.stringify(gateway)} names building ${JSON.stringify(building)}, ${refusalReason(gateway, refusal)}`,
        ),
      );
    }
    return kept;
  }

  private async deadLetter(msg: JsMsg, error: Error): Promise<void> {
    const { nc, names, logger, metrics } = this.options;
    const h = headers();
    h.set('CityPilot-Reason', error.message.replace(/[\r\n]+/g, ' ').slice(0, 1000));
    h.set('CityPilot-Subject', msg.subject);
    h.set('CityPilot-Stream-Seq', String(msg.seq));
    await jetstream(nc).publish(deadLetterSubject(names), msg.data, { headers: h });
    // Acknowledged, not terminated: it is safe in the dead-letter stream now, and a terminated
    // message stays in a work-queue stream for ever on NATS 2.9 (Debian 12's nats-server).
    msg.ack();
    metrics.deadLetters.inc();
    logger.warn({ subject: msg.subject, seq: msg.seq, reason: error.message }, 'message moved to the dead-letter stream');
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

/** Why the catalog refuses a gateway's claim to a building, and what it expected. */
function refusalReason(gateway: string, refusal: BuildingRefusal): string {
  if (refusal.reason === 'unknown') return 'which the catalog does not know: expected the id of a building of the catalog (citypilot hub catalog import)';
  const listed = refusal.gateways.map((g) => JSON.stringify(g)).join(', ');
  const who = refusal.gateways.length === 0 ? 'no gateway' : refusal.gateways.length === 1 ? `gateway ${listed}` : `gateways ${listed}`;
  return `which the catalog lets only ${who} serve: expected a building whose catalog entry lists gateway ${JSON.stringify(gateway)}`;
}

/**
 * Whether a write was refused for what it holds rather than for the database's state, so that
 * the same batch would meet it again at every attempt: a data exception (SQLSTATE class 22), or
 * sample times no partition can be made for.
 */
function isDataError(error: unknown): boolean {
  if (error instanceof SampleTimeRangeError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}
