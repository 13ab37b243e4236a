import type { JetStreamClient } from '@nats-io/jetstream';
import { BATCH_VERSION, batchMessageId, CityPilotError, Pause, type Batch, type Logger, type PointDefinition, type Sample } from '@citypilot/sdk';
import type { GatewayMetrics } from '../status/metrics.js';
import { OutboxStore, type OutboxLimits, type StoredBatch } from './outbox-store.js';
import { describeMs } from './normalise.js';

export { OutboxStorageError, OUTBOX_FILE } from './outbox-store.js';

/** The outbox cannot publish: no NATS connection yet, or it was used after stop(). */
export class OutboxUnavailableError extends CityPilotError {
  constructor(message: string) {
    super('OUTBOX_UNAVAILABLE', message);
  }
}

export interface OutboxOptions {
  /** The JetStream client, or undefined while the first connection to NATS is still pending. */
  js: () => JetStreamClient | undefined;
  gatewayId: string;
  subject: string;
  /** Folder of the outbox file (`outbox.sqlite`), created if missing. */
  dataDir: string;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Samples held at most, the batch in flight included; beyond, new samples are refused and counted. */
  maxSamples: number;
  /** Bytes of sample data held at most; beyond, new samples are refused and counted. */
  maxBytes: number;
  /** Forwarding rate limit, in samples per second: what a gateway catching up sends the hub at most. */
  maxSamplesPerSecond: number;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
  /** Bytes of point definitions a batch carries at most; a longer list goes in parts. Default {@link ANNOUNCEMENT_PART_BYTES}. */
  maxAnnouncementBytes?: number;
  /**
   * How long samples may wait with nothing forwarded before the outbox says forwarding is stalled
   * (see {@link OutboxStatus.stalled}), in ms; read at each status, so it may change live.
   * Default {@link STALL_AFTER_MS}.
   */
  stallAfterMs?: () => number;
  /** The clock, ms since the epoch. Default Date.now. */
  now?: () => number;
}

/** Default of {@link OutboxOptions.stallAfterMs}: two minutes, far above a batch's delay and a reconnection. */
export const STALL_AFTER_MS = 120_000;

/**
 * Point definitions one batch carries at most, in bytes of JSON: a gateway of a few thousand
 * points sends its list over several batches rather than one message beyond NATS's default
 * max_payload (1 MiB), which the server would refuse every time.
 */
export const ANNOUNCEMENT_PART_BYTES = 256 * 1024;

/**
 * The point list as the batches carry it: whole when it fits `maxBytes`, else in consecutive
 * parts of at most `maxBytes` each (one point at least), the last with every id.
 */
export function announcementParts(points: readonly PointDefinition[], maxBytes: number): Pick<Batch, 'points' | 'pointsPart' | 'pointIds'>[] {
  const chunks: PointDefinition[][] = [[]];
  let bytes = 0;
  for (const point of points) {
    const size = Buffer.byteLength(JSON.stringify(point)) + 1;
    if (bytes + size > maxBytes && chunks.at(-1)!.length) {
      chunks.push([]);
      bytes = 0;
    }
    chunks.at(-1)!.push(point);
    bytes += size;
  }
  if (chunks.length === 1) return [{ points: chunks[0]! }];
  return chunks.map((chunk, i) => ({
    points: chunk,
    pointsPart: { index: i + 1, count: chunks.length },
    ...(i === chunks.length - 1 ? { pointIds: points.map((p) => p.id) } : {}),
  }));
}

/** What the status page shows of the outbox. */
export interface OutboxStatus {
  /** Samples waiting to be sent, the batch in flight included. Survives restarts. */
  depth: number;
  /** Samples refused because the outbox was full, since its file was created. */
  dropped: number;
  /** Sequence number of the last batch JetStream acknowledged. */
  lastSeq: number | null;
  lastForwardAt: string | null;
  lastError: string | null;
  /**
   * Why forwarding is stalled, or null: samples have waited longer than `outbox.stallAfter` with
   * nothing acknowledged by the hub's stream since the outbox started, last forwarded, or last
   * went from empty to holding samples (NATS unreachable, no stream for the subject, a hub that
   * does not acknowledge). A hiccup shorter than that bound is never reported.
   */
  stalled: string | null;
}

/**
 * Holds samples on disk until the hub's stream has acknowledged them, and sends them in order,
 * one batch in flight at a time, at most `maxSamplesPerSecond`.
 *
 * Guarantee: a sample for which {@link push} counted it accepted is on disk (SQLite, WAL,
 * synchronous FULL) and is published until JetStream acknowledges it, across crashes and
 * restarts. A batch is built once, stored with its sequence number, and published again
 * byte for byte under the same `Nats-Msg-Id` until acknowledged, so the hub stores it once. The
 * id holds the outbox's secret key (`<gateway>:<key>:<seq>`): no other gateway can take it first.
 * When full, the outbox refuses new samples (drop newest): what it accepted it never gives up.
 */
export class Outbox {
  private readonly store: OutboxStore;
  private readonly limits: OutboxLimits;
  /** The point list still to announce, in parts that each fit a message, the next one first. */
  private announce: Pick<Batch, 'points' | 'pointsPart' | 'pointIds'>[] = [];
  private building: string | undefined;
  private lastForwardAt: Date | null = null;
  private lastError: string | null = null;
  /** Since when samples wait with nothing forwarded: start, last acknowledgement, or empty → not empty. */
  private waitingSince: number;
  private readonly now: () => number;
  private running = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  /** The sender's wait (batch delay, idle, back-off, rate limit): new samples and stop() end it early. */
  private readonly pause = new Pause();

  /** Opens the outbox file. @throws OutboxStorageError when it cannot be used */
  constructor(private readonly options: OutboxOptions) {
    this.store = new OutboxStore(options.dataDir);
    this.limits = { maxSamples: options.maxSamples, maxBytes: options.maxBytes };
    this.now = options.now ?? Date.now;
    this.waitingSince = this.now();
    options.metrics.outboxDepth.set(this.store.depth());
  }

  /**
   * The gateway's complete point list (and its building) to send with the next batch: at start,
   * and when the configuration changes.
   */
  announcePoints(points: PointDefinition[], building?: string): void {
    this.announce = announcementParts(points, this.options.maxAnnouncementBytes ?? ANNOUNCEMENT_PART_BYTES);
    this.building = building;
    this.pause.wake();
  }

  /**
   * Stores samples durably, in one transaction; returns how many were accepted, the first ones
   * given, once they are on disk. The rest were refused (outbox full, or the disk failed) and
   * counted in `samplesDropped`. Never throws for a full or failing disk: that is recorded.
   * @throws OutboxUnavailableError after stop()
   */
  push(samples: readonly Sample[]): number {
    if (this.closed) throw new OutboxUnavailableError('the outbox is closed');
    if (!samples.length) return 0;
    const wasEmpty = this.store.queued() === 0;
    if (this.store.depth() === 0) this.waitingSince = this.now();
    let accepted = 0;
    try {
      accepted = this.store.append(samples, this.limits).accepted;
    } catch (error) {
      this.recordError(error as Error);
    }
    if (accepted < samples.length) {
      const lost = samples.length - accepted;
      this.options.metrics.samplesDropped.inc(lost);
      this.options.logger.warn({ dropped: lost, depth: this.store.depth(), bytes: this.store.bytes(), ...this.limits }, 'outbox full: samples refused');
    }
    if (accepted) {
      // The list of what was stored, for whoever must check that nothing accepted is lost (the
      // crash tests read it at debug level). Logged after the commit: a crash in between leaves
      // samples stored but not listed, never the reverse.
      this.options.logger.debug({ stored: samples.slice(0, accepted).map((s) => [s.point, s.time, s.value, s.quality]) }, 'samples stored in the outbox');
    }
    this.options.metrics.outboxDepth.set(this.store.depth());
    // Wake the sender: to start the batch delay when it was idle, or to send a full batch now.
    if (wasEmpty || this.store.queued() >= this.options.batchMaxSamples) this.pause.wake();
    return accepted;
  }

  depth(): number {
    return this.store.depth();
  }

  status(): OutboxStatus {
    return {
      depth: this.store.depth(),
      dropped: this.store.dropped(),
      lastSeq: this.store.lastAcknowledged(),
      lastForwardAt: this.lastForwardAt?.toISOString() ?? null,
      lastError: this.lastError,
      stalled: this.stalled(),
    };
  }

  /** See {@link OutboxStatus.stalled}. */
  private stalled(): string | null {
    const depth = this.store.depth();
    const waitedMs = this.now() - this.waitingSince;
    if (depth === 0 || waitedMs < (this.options.stallAfterMs?.() ?? STALL_AFTER_MS)) return null;
    const since = new Date(this.waitingSince).toISOString();
    const what = this.lastForwardAt
      ? `nothing forwarded to the hub for ${describeMs(waitedMs)} (since ${since})`
      : `nothing forwarded to the hub since ${since} (${describeMs(waitedMs)})`;
    return `${what}; the outbox holds ${depth} sample${depth === 1 ? '' : 's'}${this.lastError ? `; last error: ${this.lastError}` : ''}`;
  }

  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.waitingSince = this.now();
    this.loop = this.run();
  }

  /**
   * Sends what is held for up to `flushMs`, then stops and closes the file. Resolves with the
   * number of samples left unsent: they stay on disk and are sent after the next start.
   */
  async stop(flushMs = 5000): Promise<number> {
    const deadline = Date.now() + flushMs;
    while (this.running && this.depth() > 0 && Date.now() < deadline) {
      this.pause.wake();
      await sleep(50);
    }
    this.running = false;
    this.pause.wake();
    await this.loop;
    const left = this.store.depth();
    this.closed = true;
    this.store.close();
    return left;
  }

  private async run(): Promise<void> {
    let backoffMs = 250;
    let notBefore = 0;
    while (this.running) {
      let batch = this.store.pendingBatch();
      if (!batch) {
        if (this.store.queued() === 0 && !this.announce.length) {
          await this.pause.for(60_000);
          continue;
        }
        if (this.store.queued() < this.options.batchMaxSamples) await this.pause.for(this.options.batchMaxDelayMs);
        if (!this.running) break;
        try {
          const announcing = this.announce.length > 0;
          batch = this.store.buildBatch(this.options.batchMaxSamples, (seq, samples) => this.makeBatch(seq, samples));
          // Only once the batch is stored: a part whose batch failed goes with the next one.
          if (announcing) this.announce.shift();
        } catch (error) {
          this.recordError(error as Error);
          await this.pause.for(5000);
          continue;
        }
      }
      // The rate limit: one batch in flight, and no sooner than its samples allow after the last.
      while (this.running && Date.now() < notBefore) await this.pause.for(notBefore - Date.now());
      if (!this.running) break;
      const sentAt = Date.now();
      try {
        await this.send(batch);
        backoffMs = 250;
        notBefore = sentAt + (batch.samples * 1000) / this.options.maxSamplesPerSecond;
      } catch (error) {
        this.recordError(error as Error);
        if (!this.running) break;
        await this.pause.for(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  private makeBatch(seq: number, samples: Sample[]): Batch {
    const batch: Batch = { v: BATCH_VERSION, gateway: this.options.gatewayId, seq, createdAt: Date.now(), samples };
    const part = this.announce[0];
    if (part) {
      Object.assign(batch, part);
      if (this.building) batch.building = this.building;
    }
    return batch;
  }

  private async send(batch: StoredBatch): Promise<void> {
    const { subject, metrics, gatewayId } = this.options;
    const js = this.options.js();
    if (!js) throw new OutboxUnavailableError('not connected to NATS yet');
    const msgID = batchMessageId({ gateway: gatewayId, seq: batch.seq }, this.store.messageIdKey);
    const ack = await js.publish(subject, batch.payload, { msgID, timeout: 5000 });
    this.store.acknowledge(batch);
    metrics.batchesForwarded.inc();
    metrics.samplesForwarded.inc(batch.samples);
    if (ack.duplicate) metrics.batchesDuplicate.inc();
    this.lastForwardAt = new Date();
    this.waitingSince = this.now();
    metrics.outboxDepth.set(this.store.depth());
    if (this.lastError) {
      this.options.logger.info({ seq: batch.seq }, 'forwarding to the hub again');
      this.lastError = null;
    }
  }

  /** Logs a failure once until it changes, not at every retry. */
  private recordError(error: Error): void {
    const message = error.message || error.name;
    if (message !== this.lastError)
      this.options.logger.warn(
        { err: message, code: (error as { code?: string }).code, depth: this.store.depth() },
        'cannot forward to the hub; holding samples',
      );
    this.lastError = message;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
