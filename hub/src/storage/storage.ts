import pg from 'pg';
import type { Batch, Logger } from '@citypilot/sdk';
import { recordInCatalog } from './catalog.js';
import { readTimescaleJobs, type TimescaleJob } from './jobs.js';
import { checkLifecycleOptions, refreshHorizons, StorageLifecycle, type LifecycleOptions } from './lifecycle.js';
import { migrate } from './migrations.js';
import { SamplePartitions, sampleTimeRange } from './partitions.js';
import { checkTimeZone, RollupPartials, Rollups } from './rollups.js';
import { AlreadyStoredError, COPY_MIN_ROWS, fillUnknownIds, flattenSamples, SampleLoader, type LoadMode } from './samples.js';
import { writeSeries, type SeriesWrite, type SeriesWriteResult } from './series.js';
import { PointIds, type StorageMode } from './types.js';

export type { StorageMode } from './types.js';
export { COPY_MIN_ROWS } from './samples.js';
export type { SeriesWrite, SeriesWriteResult } from './series.js';

export interface StorageOptions {
  databaseUrl: string;
  logger: Logger;
  /** `auto` uses TimescaleDB when the extension can be created; `off` never does. Default `auto`. */
  timescale?: 'auto' | 'off';
  /** Connections in the pool. Default 4. */
  poolSize?: number;
  /** IANA time zone of the city, in which rollups cut hours, days and months. Default `Europe/Paris`. */
  timezone?: string;
  /**
   * Compression and retention (defaults in lifecycle.ts), checked before anything else and
   * applied at open: TimescaleDB's policies replaced where they differ; on plain PostgreSQL, old
   * data removed now and hourly until close. Left out, the database's policies and data are left
   * as they are: for commands that only migrate or import, and tests. The hub always gives it.
   */
  lifecycle?: LifecycleOptions;
}

/** Outcome of writing batches: samples newly stored, and those already there (redeliveries). */
export interface WriteResult {
  inserted: number;
  duplicates: number;
}

export interface GatewayStatus {
  id: string;
  firstSeen: string;
  lastSeen: string | null;
  lastSeq: number;
  points: number;
}

export interface PointStatus {
  gateway: string;
  id: string;
  name: string;
  unit: string | null;
  kind: string;
  tags: string[];
  lastTime: string | null;
  lastValue: number | string | boolean | null;
  lastQuality: string | null;
}

/**
 * The hub's database: schema at start, idempotent writes of gateway batches, status queries.
 * Safe to share between concurrent ingest loops (each write is its own transaction).
 */
export class Storage {
  /** Point ids; filled only from committed rows. */
  private readonly pointIds = new PointIds();

  private constructor(
    readonly pool: pg.Pool,
    readonly mode: StorageMode,
    /** TimescaleDB's version when used, or why it is not. */
    readonly modeDetail: string,
    /** Hourly, daily and monthly rollups of the samples, and the queries over them. */
    readonly rollups: Rollups,
    /** The monthly partitions of samples on plain PostgreSQL, made before each write. */
    readonly partitions: SamplePartitions,
    /** Compression and retention, when StorageOptions.lifecycle was given. */
    readonly lifecycle: StorageLifecycle | undefined,
  ) {}

  static async open(options: StorageOptions): Promise<Storage> {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 4 });
    pool.on('error', (error) => options.logger.warn({ err: error.message }, 'idle database connection failed'));
    try {
      const settings = options.lifecycle && (await checkLifecycleOptions(pool, options.lifecycle));
      const timescale = options.timescale === 'off' ? { enabled: false as const, reason: 'disabled by configuration' } : await enableTimescale(pool);
      const timezone = options.timezone ?? 'Europe/Paris';
      await checkTimeZone(pool, timezone);
      const client = await pool.connect();
      try {
        const applied = await migrate(client, { timescale: timescale.enabled, timezone });
        if (applied.length) options.logger.info({ migrations: applied }, 'database migrated');
      } finally {
        client.release();
      }
      const hypertable = timescale.enabled && (await isHypertable(pool, 'samples'));
      const mode: StorageMode = hypertable ? 'timescaledb' : 'postgresql';
      const detail = hypertable
        ? `TimescaleDB ${timescale.enabled ? timescale.version : ''}`.trim()
        : timescale.enabled
          ? 'samples was created before TimescaleDB was enabled'
          : timescale.reason;
      options.logger.info(
        { storage: mode, detail },
        mode === 'timescaledb' ? `storage: TimescaleDB (${detail})` : `storage: plain PostgreSQL (TimescaleDB not used: ${detail})`,
      );
      const horizons = settings && refreshHorizons(settings);
      const rollups = await Rollups.open(pool, mode, timezone, { hour: horizons?.hour?.text, day: horizons?.day?.text, month: horizons?.month?.text });
      const partitions = new SamplePartitions(pool, mode, settings?.retention.samples?.seconds);
      const lifecycle = settings && (await StorageLifecycle.start({ pool, mode, settings, partitions, logger: options.logger }));
      return new Storage(pool, mode, detail, rollups, partitions, lifecycle);
    } catch (error) {
      await pool.end();
      throw error;
    }
  }

  /**
   * Stores the samples and point announcements of `batches` in one transaction. A sample already
   * stored (same point and time) is left as it is, so a batch delivered twice is stored once.
   *
   * Samples are first loaded as they come, as a raw COPY would; only when the database finds
   * one already stored is the transaction redone keeping just the new ones (slower: every row is
   * checked, and the stored ones are told apart). Redeliveries are rare, but a source that keeps
   * repeating samples would pay twice at every write: after a conflict the next writes go
   * straight to the checking path for DEDUPE_AFTER_CONFLICT_MS.
   *
   * A write passes each step once (types.ts): partitions.ts before the transaction (creating a
   * partition takes a connection of its own), then samples.ts, rollups.ts and catalog.ts inside
   * it. The catalog step comes first when the write brings points not registered yet (the samples
   * need their ids), and right after the samples otherwise; the rollups always come last.
   */
  async writeBatches(batches: readonly Batch[]): Promise<WriteResult> {
    // Before taking a connection: creating a partition takes one of its own.
    const range = sampleTimeRange(batches);
    if (range) await this.partitions.ensurePartitions(range.from, range.to);
    if (Date.now() >= this.checkStoredUntil) {
      try {
        return await this.writeTransaction(batches, 'all-new');
      } catch (error) {
        if (!(error instanceof AlreadyStoredError)) throw error;
        this.checkStoredUntil = Date.now() + DEDUPE_AFTER_CONFLICT_MS;
      }
    }
    return await this.writeTransaction(batches, 'skip-stored');
  }

  /**
   * Writes series of points that may correct what is stored (series.ts: a utility's revised
   * readings), in one transaction: new samples inserted, changed ones replaced with their
   * previous version kept, and the rollups brought up to date — added to for new samples,
   * recomputed for the points and months where a stored sample changed or went. The points must
   * be registered (see writeBatches with announcements). With `deferRollups` (a bulk load), the
   * rollups of what changed are queued with the samples and rebuilt set-based a moment later
   * (Rollups.queueRebuild, drainRebuilds): queries drain the queue first, and so does the hub
   * every few seconds.
   */
  async writeSeries(writes: readonly SeriesWrite[], options: { deferRollups?: boolean } = {}): Promise<SeriesWriteResult[]> {
    const times = writes.flatMap((w) => [w.samples[0]?.time, w.samples.at(-1)?.time, w.replaceRange?.from, w.replaceRange?.to]).filter((t) => t !== undefined);
    if (times.length) await this.partitions.ensurePartitions(Math.min(...times), Math.max(...times));
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const results: SeriesWriteResult[] = [];
    try {
      await client.query('BEGIN');
      const partials = new RollupPartials();
      const deferred = options.deferRollups && this.mode !== 'timescaledb';
      for (const write of writes) {
        try {
          results.push(await writeSeries(client, write, deferred ? () => undefined : (id, time, value) => partials.add(id, time, value)));
        } catch (error) {
          // A COPY interrupted midway may leave the connection mid-protocol: never reuse it.
          broken = error as Error;
          throw error;
        }
      }
      // Rewritten points are recomputed below on plain PostgreSQL: adding their new samples too would count them twice.
      const rewritten = writes.filter((_, i) => results[i]!.rewrote);
      if (deferred) {
        // Queued with the samples, rebuilt set-based by drainRebuilds (queries, the hub's loop).
        for (const [i, w] of writes.entries()) {
          const changed = results[i]!.changed;
          if (changed) await this.rollups.queueRebuild(client, [w.pointId], changed.from, changed.to);
        }
      } else if (this.mode === 'timescaledb') {
        // Only the range counts there (the next refresh recomputes it): the replaced and removed samples' times too.
        for (const [i, w] of writes.entries()) {
          const changed = results[i]!.changed;
          if (changed) for (const time of [changed.from, changed.to]) partials.add(w.pointId, time, 0);
        }
        await this.rollups.add(client, partials);
      } else {
        await this.rollups.add(client, rewritten.length ? partials.without(new Set(rewritten.map((w) => w.pointId))) : partials);
      }
      await client.query('COMMIT');
      if (this.mode !== 'timescaledb' && rewritten.length && !deferred) {
        const changed = rewritten.map((w) => results[writes.indexOf(w)]!.changed!);
        await this.rollups.rebuild(
          { from: Math.min(...changed.map((c) => c.from)), to: Math.max(...changed.map((c) => c.to)) + 1 },
          rewritten.map((w) => w.pointId),
        );
      }
      return results;
    } catch (error) {
      if (!broken) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Until when writes check every sample against those stored (epoch ms); see writeBatches. */
  private checkStoredUntil = 0;

  private async writeTransaction(batches: readonly Batch[], mode: LoadMode): Promise<WriteResult> {
    const client = await this.pool.connect();
    const learnt = new PointIds();
    // Ids of the points known already; those of new points (0 here) are filled in below.
    const rows = flattenSamples(batches, this.pointIds);
    const total = rows.ids.length;
    const copy = total >= this.copyMinRows;
    let broken: Error | undefined;
    try {
      await this.sampleLoader.prepare(client, mode, copy);
      await client.query('BEGIN');
      // Lock order, so that concurrent writers never deadlock: a transaction takes its gateways'
      // rows (sorted by id) before any row of their points. When it has no point to register it
      // takes them as late as possible, after the samples, so that writers sharing gateways
      // insert their samples concurrently and only serialize on the short updates at the end.
      const registers = rows.unknown > 0 || batches.some((b) => b.points?.length);
      if (registers) {
        await recordInCatalog(client, batches, { known: this.pointIds, learnt });
        // Learnt here, or since flattenSamples() by another write that committed them meanwhile.
        if (rows.unknown) fillUnknownIds(rows, (g, p) => learnt.get(g, p) ?? this.pointIds.get(g, p)!);
      }
      // Which samples this write stored; undefined when all of them.
      let isNew: boolean[] | undefined;
      try {
        isNew = await this.sampleLoader.load(client, rows, mode, copy);
      } catch (error) {
        // An interrupted COPY may leave the connection mid-protocol: never reuse it.
        if (copy) broken = error as Error;
        throw error;
      }
      if (!registers) await recordInCatalog(client, batches);
      const partials = new RollupPartials();
      let inserted = 0;
      for (let i = 0; i < rows.ids.length; i++) {
        if (isNew && !isNew[i]) continue;
        inserted++;
        partials.add(rows.ids[i]!, rows.samples[i]!.time, rows.samples[i]!.value);
      }
      await this.rollups.add(client, partials);
      await client.query('COMMIT');
      this.pointIds.addAll(learnt);
      return { inserted, duplicates: total - inserted };
    } catch (error) {
      if (!broken) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Samples from which a transaction loads them with COPY rather than with one INSERT …
   * unnest(arrays): see COPY_MIN_ROWS. Tests and the bench may change it.
   */
  copyMinRows = COPY_MIN_ROWS;

  /** Loads the samples of each write; remembers the connections that have a staging table. */
  private readonly sampleLoader = new SampleLoader();

  /**
   * The hub's TimescaleDB jobs (compression, retention, refresh) and how their runs went; none
   * on plain PostgreSQL, where the hub enforces retention itself.
   */
  async timescaleJobs(): Promise<TimescaleJob[]> {
    return this.mode === 'timescaledb' ? readTimescaleJobs(this.pool) : [];
  }

  async gateways(): Promise<GatewayStatus[]> {
    const { rows } = await this.pool.query(
      `SELECT g.id, g.first_seen, g.last_seen, g.last_seq, count(p.id)::int AS points
         FROM gateways g LEFT JOIN points p ON p.gateway_id = g.id
        GROUP BY g.id ORDER BY g.id`,
    );
    return rows.map((r) => ({
      id: r.id,
      firstSeen: r.first_seen.toISOString(),
      lastSeen: r.last_seen?.toISOString() ?? null,
      lastSeq: Number(r.last_seq),
      points: r.points,
    }));
  }

  async points(): Promise<PointStatus[]> {
    const { rows } = await this.pool.query(
      // The latest sample of each point, looked up in the primary key's index (newest first)
      // rather than kept on the point's row: writes stay inserts only.
      `SELECT p.gateway_id, p.point_key, p.name, p.unit, p.kind, p.tags,
              s.time AS last_time, s.value AS last_value, s.text_value AS last_text, s.quality AS last_quality
         FROM points p
         LEFT JOIN LATERAL (SELECT time, value, text_value, quality FROM samples WHERE point_id = p.id ORDER BY time DESC LIMIT 1) s ON true
        ORDER BY p.gateway_id, p.point_key`,
    );
    return rows.map((r) => ({
      gateway: r.gateway_id,
      id: r.point_key,
      name: r.name,
      unit: r.unit,
      kind: r.kind,
      tags: r.tags,
      lastTime: r.last_time?.toISOString() ?? null,
      lastValue: r.last_text !== null ? r.last_text : r.kind === 'boolean' && r.last_value !== null ? r.last_value !== 0 : r.last_value,
      lastQuality: r.last_quality,
    }));
  }

  async close(): Promise<void> {
    await this.lifecycle?.close();
    await this.pool.end();
  }
}

/** After a write finds samples already stored, how long writes check every sample first. */
const DEDUPE_AFTER_CONFLICT_MS = 10_000;

type TimescaleState = { enabled: true; version: string } | { enabled: false; reason: string };

/** Creates the TimescaleDB extension when the server has it; says why not otherwise. */
async function enableTimescale(pool: pg.Pool): Promise<TimescaleState> {
  const client = await pool.connect();
  const dropped = (error: Error) => void error; // reported by the failing query below
  client.on('error', dropped);
  try {
    const { rows } = await client.query<{ installed_version: string | null }>(
      `SELECT installed_version FROM pg_available_extensions WHERE name = 'timescaledb'`,
    );
    if (!rows[0]) return { enabled: false, reason: 'the timescaledb extension is not installed on this PostgreSQL server' };
    if (rows[0].installed_version) return { enabled: true, version: rows[0].installed_version };
    // Without preloading, TimescaleDB answers CREATE EXTENSION by closing the connection (FATAL).
    const preload = await client.query<{ libs: string }>(`SELECT current_setting('shared_preload_libraries') AS libs`);
    if (!/(^|[\s,])timescaledb([\s,]|$)/.test(preload.rows[0]!.libs)) {
      return { enabled: false, reason: "the timescaledb extension is installed but not preloaded (add it to the server's shared_preload_libraries)" };
    }
    await client.query('SELECT pg_advisory_lock(hashtext($1))', ['citypilot-hub-extension']);
    try {
      await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', ['citypilot-hub-extension']);
    }
    const v = await client.query<{ extversion: string }>(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
    return { enabled: true, version: v.rows[0]!.extversion };
  } catch (error) {
    return { enabled: false, reason: `CREATE EXTENSION timescaledb failed: ${(error as Error).message}` };
  } finally {
    client.off('error', dropped);
    client.release();
  }
}

async function isHypertable(pool: pg.Pool, table: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() AND hypertable_name = $1`,
    [table],
  );
  return (rowCount ?? 0) > 0;
}
