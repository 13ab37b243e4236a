import type pg from 'pg';
import type { Batch } from '@citypilot/sdk';
import type { StorageMode } from './types.js';

/**
 * Sample times that no partition can be made for: outside 1970 … 9999, or spanning more months
 * than one write can sensibly create (a gateway whose clock is wrong, most likely).
 */
export class SampleTimeRangeError extends Error {
  readonly code = 'SAMPLE_TIME_RANGE';
}

/** A UTC month, counted from January of year 0: `year * 12 + month` (month 0 … 11). */
export type PartitionMonth = number;

/**
 * Most partitions one call creates. A gateway with a clock reset to 1970 sending next to a right
 * one spans about 680 months, which is survivable (retention drops the old ones again); beyond a
 * century the times are garbage, and thousands of partitions would slow every query planned over
 * samples for good, future ones being never dropped.
 */
export const MAX_PARTITIONS_PER_CALL = 1200;

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(10000, 0, 1);
const DAY_MS = 86_400_000;
/**
 * Slack when judging whether the retention may have dropped a month's partition: interval
 * arithmetic in PostgreSQL (calendar years and months) and here (seconds) differ by a few days,
 * and hub processes' clocks may differ too.
 */
const RETENTION_SLACK_MS = 31 * DAY_MS;

/** Serialises the hub processes that create or drop partitions of samples. */
export const PARTITIONS_LOCK_KEY = 'citypilot-samples-partitions';

/** Name of the partition of samples holding `month`, e.g. samples_p2026_01. */
export function partitionName(month: PartitionMonth): string {
  const year = Math.floor(month / 12);
  return `samples_p${String(year).padStart(4, '0')}_${String((month % 12) + 1).padStart(2, '0')}`;
}

/** The UTC month an instant (epoch ms) falls in. */
export function monthOf(ms: number): PartitionMonth {
  const d = new Date(ms);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** First instant (epoch ms) of a UTC month. */
export function monthStart(month: PartitionMonth): number {
  const d = new Date(0);
  d.setUTCFullYear(Math.floor(month / 12), month % 12, 1);
  return d.getTime();
}

/**
 * `CREATE TABLE … PARTITION OF samples` for `month`: for a table nobody else uses yet (the
 * migration that partitions samples). Bounds are UTC month starts, written with their offset so
 * that the session's time zone does not matter.
 */
export function createPartitionSql(month: PartitionMonth): string {
  return `CREATE TABLE IF NOT EXISTS ${partitionName(month)} PARTITION OF samples ${boundsSql(month)}`;
}

function boundsSql(month: PartitionMonth): string {
  return `FOR VALUES FROM ('${new Date(monthStart(month)).toISOString()}') TO ('${new Date(monthStart(month + 1)).toISOString()}')`;
}

/** Earliest and latest sample time (epoch ms) of `batches`, or undefined when they hold none. */
export function sampleTimeRange(batches: readonly Batch[]): { from: number; to: number } | undefined {
  let from = Infinity;
  let to = -Infinity;
  for (const batch of batches) {
    for (const s of batch.samples) {
      if (s.time < from) from = s.time;
      if (s.time > to) to = s.time;
    }
  }
  return from <= to ? { from, to } : undefined;
}

/**
 * The monthly partitions of samples on plain PostgreSQL (migration 4 makes samples a table
 * partitioned by range of time, in UTC months, with no default partition): created on demand
 * before writes, dropped by the retention. With TimescaleDB, whose hypertable makes its own
 * chunks, every method does nothing.
 *
 * Safe to share between concurrent writers in one process, and between hub processes on the
 * same database (an advisory lock serialises creation and dropping; a partition that exists is
 * left as it is).
 */
export class SamplePartitions {
  /** Months whose partition this process has seen or made. */
  private readonly known = new Set<PartitionMonth>();
  /** Creations run one after the other in this process. */
  private creating: Promise<void> = Promise.resolve();

  /**
   * @param samplesRetentionSeconds How long samples are kept (undefined: forever, or not managed
   *   by this process). The partitions of months that old may have been dropped by another hub
   *   process, so the cache is not trusted for them.
   */
  constructor(
    private readonly pool: pg.Pool,
    readonly mode: StorageMode,
    private readonly samplesRetentionSeconds?: number,
  ) {}

  /**
   * Makes sure that every UTC month from `fromMs` to `toMs` (epoch ms, both included) has its
   * partition. Costs nothing once this process has seen them; otherwise checks the catalog and
   * creates what is missing, in its own short transaction. Call it before the transaction that
   * inserts the samples, without holding a pooled connection (it takes one). Throws
   * SampleTimeRangeError, creating nothing, for times outside 1970 … 9999 or a range of more than
   * MAX_PARTITIONS_PER_CALL months.
   */
  async ensurePartitions(fromMs: number, toMs: number): Promise<void> {
    if (this.mode === 'timescaledb') return;
    if (!(fromMs >= EARLIEST && toMs < LATEST && fromMs <= toMs)) {
      throw new SampleTimeRangeError(`sample times ${describeInstant(fromMs)} … ${describeInstant(toMs)}: samples must lie between 1970 and 9999`);
    }
    const first = monthOf(fromMs);
    const last = monthOf(toMs);
    if (last - first + 1 > MAX_PARTITIONS_PER_CALL) {
      throw new SampleTimeRangeError(
        `sample times ${describeInstant(fromMs)} … ${describeInstant(toMs)} span ${last - first + 1} months, more than the ${MAX_PARTITIONS_PER_CALL} partitions one write may create; is a gateway's clock wrong?`,
      );
    }
    const trustedFrom = this.trustedFrom();
    let unsure: PartitionMonth[] | undefined;
    for (let month = first; month <= last; month++) {
      if (!this.known.has(month) || monthStart(month + 1) <= trustedFrom) (unsure ??= []).push(month);
    }
    if (!unsure) return;
    const months = unsure;
    const run = this.creating.then(() => this.create(months));
    this.creating = run.catch(() => undefined);
    await run;
  }

  /**
   * Drops the partitions whose months ended before `now() - retention` (a PostgreSQL interval):
   * whole months, as TimescaleDB drops whole chunks. Returns their names. Waits at most
   * `lockTimeout` for the lock on samples (dropping a partition briefly blocks its writers and
   * readers), then fails, dropping nothing.
   */
  async dropOlderThan(retention: string, lockTimeout = '5s'): Promise<string[]> {
    if (this.mode === 'timescaledb') return [];
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [PARTITIONS_LOCK_KEY]);
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [lockTimeout]);
      const { rows } = await client.query<{ name: string }>(
        `SELECT c.relname AS name
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_p[0-9]{4}_[0-9]{2}$'
            AND make_timestamptz(substr(c.relname, 10, 4)::int, substr(c.relname, 15, 2)::int, 1, 0, 0, 0, 'UTC') + INTERVAL '1 month'
                <= now() - $1::interval
          ORDER BY c.relname`,
        [retention],
      );
      for (const { name } of rows) await client.query(`DROP TABLE ${name}`);
      await client.query('COMMIT');
      const dropped = new Set(rows.map((r) => r.name));
      for (const month of this.known) if (dropped.has(partitionName(month))) this.known.delete(month);
      return rows.map((r) => r.name);
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Instant (epoch ms) before which a month's partition may have been dropped by the retention,
   * here or in another hub process: the cache is only trusted for months ending after it.
   */
  private trustedFrom(): number {
    if (this.samplesRetentionSeconds === undefined) return -Infinity;
    return Date.now() - this.samplesRetentionSeconds * 1000 + RETENTION_SLACK_MS;
  }

  private async create(months: readonly PartitionMonth[]): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      let missing = await this.missing(client, months);
      if (missing.length) {
        await client.query('BEGIN');
        try {
          await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [PARTITIONS_LOCK_KEY]);
          missing = await this.missing(client, missing); // another process may have made them meanwhile
          for (const month of missing) {
            // A table of its own, then attached: ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE
            // lock on samples, which lets other sessions insert and read meanwhile, where CREATE
            // TABLE … PARTITION OF takes an ACCESS EXCLUSIVE one and waits behind every writer.
            // ATTACH creates the partition's primary key index (the table is empty: no scan).
            const name = partitionName(month);
            await client.query(`CREATE TABLE IF NOT EXISTS ${name} (LIKE samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
            await client.query(`ALTER TABLE samples ATTACH PARTITION ${name} ${boundsSql(month)}`);
          }
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          throw error;
        }
      }
      for (const month of months) this.known.add(month);
    } finally {
      client.release(broken);
    }
  }

  /** The months among `months` that have no partition attached to samples. */
  private async missing(client: pg.ClientBase, months: readonly PartitionMonth[]): Promise<PartitionMonth[]> {
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'samples'::regclass AND c.relname = ANY ($1::text[])`,
      [months.map(partitionName)],
    );
    const present = new Set(rows.map((r) => r.name));
    return months.filter((month) => !present.has(partitionName(month)));
  }
}

function describeInstant(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}
