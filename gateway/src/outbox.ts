import type { JetStreamClient } from '@nats-io/jetstream';
import { batchMessageId, BATCH_VERSION, encodeBatch, Pause, type Batch, type Logger, type PointDefinition, type Sample } from '@citypilot/sdk';
import type { GatewayMetrics } from './metrics.js';
import type { SequenceStore } from './sequence.js';

export interface OutboxOptions {
  /** The JetStream client, or undefined while the first connection to NATS is still pending. */
  js: () => JetStreamClient | undefined;
  gatewayId: string;
  subject: string;
  sequence: SequenceStore;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Samples held at most; beyond, new samples are dropped and counted. */
  maxSamples: number;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
}

/** What the status page shows of the outbox. */
export interface OutboxStatus {
  /** Samples waiting to be sent, the batch in flight included. */
  depth: number;
  dropped: number;
  lastSeq: number | null;
  lastForwardAt: string | null;
  lastError: string | null;
}

/**
 * Holds samples until the hub's stream has acknowledged them, and sends them in order, one batch
 * at a time. A batch is built once and sent again unchanged until JetStream acknowledges it, so
 * a retry carries the same `Nats-Msg-Id` and is stored once.
 *
 * This outbox lives in memory: it rides out hub and NATS outages while the gateway runs; what it
 * holds when the process is killed is lost (the durable outbox is the gateway issue's work).
 */
export class Outbox {
  private queue: Sample[] = [];
  private inFlight: Batch | undefined;
  private announce: PointDefinition[] | undefined;
  private building: string | undefined;
  private dropped = 0;
  private lastSeq: number | null = null;
  private lastForwardAt: Date | null = null;
  private lastError: string | null = null;
  private running = false;
  private loop: Promise<void> | undefined;
  /** The sender's wait (batch delay, idle, back-off): new samples and stop() end it early. */
  private readonly pause = new Pause();

  constructor(private readonly options: OutboxOptions) {}

  /**
   * The gateway's complete point list (and its building) to send with the next batch: at start,
   * and when the configuration changes.
   */
  announcePoints(points: PointDefinition[], building?: string): void {
    this.announce = points;
    this.building = building;
    this.pause.wake();
  }

  /** Accepts samples; returns how many were accepted (the rest were dropped: outbox full). */
  push(samples: readonly Sample[]): number {
    const wasEmpty = this.queue.length === 0;
    const room = Math.max(0, this.options.maxSamples - this.depth());
    const accepted = Math.min(room, samples.length);
    for (let i = 0; i < accepted; i++) this.queue.push(samples[i]!);
    if (accepted < samples.length) {
      const lost = samples.length - accepted;
      this.dropped += lost;
      this.options.metrics.samplesDropped.inc(lost);
      this.options.logger.warn({ dropped: lost, maxSamples: this.options.maxSamples }, 'outbox full: samples dropped');
    }
    this.options.metrics.outboxDepth.set(this.depth());
    // Wake the sender: to start the batch delay when it was idle, or to send a full batch now.
    if (wasEmpty || this.queue.length >= this.options.batchMaxSamples) this.pause.wake();
    return accepted;
  }

  depth(): number {
    return this.queue.length + (this.inFlight?.samples.length ?? 0);
  }

  status(): OutboxStatus {
    return {
      depth: this.depth(),
      dropped: this.dropped,
      lastSeq: this.lastSeq,
      lastForwardAt: this.lastForwardAt?.toISOString() ?? null,
      lastError: this.lastError,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Sends what is held for up to `flushMs`, then stops. Resolves with the number of samples left
   * unsent (and lost, since this outbox is in memory).
   */
  async stop(flushMs = 5000): Promise<number> {
    const deadline = Date.now() + flushMs;
    while (this.depth() > 0 && Date.now() < deadline) {
      this.pause.wake();
      await sleep(50);
    }
    this.running = false;
    this.pause.wake();
    await this.loop;
    return this.depth();
  }

  private async run(): Promise<void> {
    let backoffMs = 250;
    while (this.running) {
      if (!this.inFlight) {
        if (this.queue.length === 0 && !this.announce) {
          await this.pause.for(60_000);
          continue;
        }
        if (this.queue.length < this.options.batchMaxSamples) await this.pause.for(this.options.batchMaxDelayMs);
        if (!this.running && this.queue.length === 0) break;
        this.inFlight = this.buildBatch();
      }
      try {
        await this.send(this.inFlight);
        this.inFlight = undefined;
        backoffMs = 250;
      } catch (error) {
        this.recordError(error as Error);
        if (!this.running) break;
        await this.pause.for(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  private buildBatch(): Batch {
    const samples = this.queue.splice(0, this.options.batchMaxSamples);
    const batch: Batch = { v: BATCH_VERSION, gateway: this.options.gatewayId, seq: this.options.sequence.take(), createdAt: Date.now(), samples };
    if (this.announce) {
      batch.points = this.announce;
      if (this.building) batch.building = this.building;
      this.announce = undefined;
    }
    return batch;
  }

  private async send(batch: Batch): Promise<void> {
    const { subject, metrics } = this.options;
    const js = this.options.js();
    if (!js) throw new Error('not connected to NATS yet');
    const ack = await js.publish(subject, encodeBatch(batch), { msgID: batchMessageId(batch), timeout: 5000 });
    metrics.batchesForwarded.inc();
    metrics.samplesForwarded.inc(batch.samples.length);
    if (ack.duplicate) metrics.batchesDuplicate.inc();
    this.lastSeq = batch.seq;
    this.lastForwardAt = new Date();
    metrics.outboxDepth.set(this.depth() - batch.samples.length);
    if (this.lastError) {
      this.options.logger.info({ seq: batch.seq }, 'forwarding to the hub again');
      this.lastError = null;
    }
  }

  /** Logs a failure once until it changes, not at every retry. */
  private recordError(error: Error): void {
    const message = error.message || error.name;
    if (message !== this.lastError) this.options.logger.warn({ err: message, depth: this.depth() }, 'cannot forward to the hub; holding samples');
    this.lastError = message;
  }

}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
