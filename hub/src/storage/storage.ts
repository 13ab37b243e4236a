import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Batch, Logger, Sample } from '@citypilot/sdk';
import { applyAnnouncements, collectAnnouncements, type Announcements } from './catalog.js';
import { readTimescaleJobs, type TimescaleJob } from './jobs.js';
import { checkLifecycleOptions, refreshHorizons, StorageLifecycle, type LifecycleOptions } from './lifecycle.js';
import { migrate } from './migrations.js';
import { SamplePartitions, sampleTimeRange } from './partitions.js';
import { checkTimeZone, RollupPartials, Rollups } from './rollups.js';

/** Which engine stores the samples. */
export type StorageMode = 'timescaledb' | 'postgresql';

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
 * Transactions with at least this many samples load them with COPY, smaller ones with INSERT …
 * unnest. Measured on 2 cores, PostgreSQL 15, 100 gateways × 200 points, 1,000-sample batches
 * (rollups left out): with 1,000 and 5,000 samples per transaction unnest is 5–10 % faster (one
 * round trip and one statement fewer, and its arrays are no bigger than COPY's text); at 10,000
 * they are even (~115,000 rows/s each); at 20,000 COPY does ~100,000 rows/s and unnest ~70,000
 * (the parameter arrays' text grows large and is parsed in one piece).
 */
export const COPY_MIN_ROWS = 10_000;

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
      const detail = hypertable ? `TimescaleDB ${timescale.enabled ? timescale.version : ''}`.trim() : timescale.enabled ? 'samples was created before TimescaleDB was enabled' : timescale.reason;
      options.logger.info({ storage: mode, detail }, mode === 'timescaledb' ? `storage: TimescaleDB (${detail})` : `storage: plain PostgreSQL (TimescaleDB not used: ${detail})`);
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

  /** Until when writes check every sample against those stored (epoch ms); see writeBatches. */
  private checkStoredUntil = 0;

  private async writeTransaction(batches: readonly Batch[], mode: 'all-new' | 'skip-stored'): Promise<WriteResult> {
    const client = await this.pool.connect();
    const learnt = new PointIds();
    // Ids of the points known already; those of new points (0 here) are filled in below.
    const rows = flatten(batches, this.pointIds);
    const total = rows.ids.length;
    const copy = total >= this.copyMinRows;
    let broken: Error | undefined;
    try {
      if (copy && mode === 'skip-stored') await this.ensureStaging(client);
      await client.query('BEGIN');
      // Lock order, so that concurrent writers never deadlock: a transaction takes its gateways'
      // rows (sorted by id) before any row of their points. When it has no point to register it
      // takes them as late as possible, after the samples, so that writers sharing gateways
      // insert their samples concurrently and only serialize on the short updates at the end.
      const registers = rows.unknown > 0 || batches.some((b) => b.points?.length);
      if (registers) {
        await this.upsertGateways(client, batches);
        const announced = collectAnnouncements(batches);
        if (announced.points.length) {
          await this.upsertPoints(client, announced, learnt);
          await applyAnnouncements(client, announced);
        }
        await this.resolveUnknownPoints(client, batches, learnt);
        if (rows.unknown) {
          // Learnt here, or since flatten() by another write that committed them meanwhile.
          const idOf = (g: string, p: string) => learnt.get(g, p) ?? this.pointIds.get(g, p)!;
          for (let i = 0; i < total; i++) if (!rows.ids[i]) rows.ids[i] = idOf(rows.gateways[i]!, rows.samples[i]!.point);
        }
      }
      // Which samples this write stored; undefined when all of them.
      let isNew: boolean[] | undefined;
      try {
        if (mode === 'all-new') await (copy ? this.copySamples(client, rows) : this.insertSamples(client, rows));
        else isNew = await (copy ? this.copyNewSamples(client, rows) : this.insertNewSamples(client, rows));
      } catch (error) {
        // An interrupted COPY may leave the connection mid-protocol: never reuse it.
        if (copy) broken = error as Error;
        if (isUniqueViolation(error)) throw new AlreadyStoredError('some samples are already stored', { cause: error });
        throw error;
      }
      if (!registers) await this.upsertGateways(client, batches);
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

  /** Connections that have their session's staging table. */
  private readonly staged = new WeakSet<pg.PoolClient>();

  /** Creates the connection's staging table (temporary: unlogged, private, emptied at commit). */
  private async ensureStaging(client: pg.PoolClient): Promise<void> {
    if (this.staged.has(client)) return;
    // Temporary tables live in the session's own buffers (8 MB by default): room for a large
    // write without spilling to disk. Only settable before the session's first temporary table.
    await client.query(`SET temp_buffers = '64MB'`);
    await client.query(
      `CREATE TEMPORARY TABLE IF NOT EXISTS samples_staging (point_id bigint, time timestamptz, value float8, text_value text, quality sample_quality, reason text) ON COMMIT DELETE ROWS`,
    );
    this.staged.add(client);
  }

  /** Small writes of samples none of which is stored yet: one INSERT of the samples passed as arrays. */
  private async insertSamples(client: pg.ClientBase, rows: SampleRows): Promise<void> {
    await client.query(`INSERT INTO samples (point_id, time, value, text_value, quality, reason) ${UNNEST_SAMPLES}`, sampleArrays(rows));
  }

  /** Small writes that may repeat stored samples: inserts the new ones and tells which they are. */
  private async insertNewSamples(client: pg.ClientBase, rows: SampleRows): Promise<boolean[]> {
    const result = await client.query<{ p: string; t: number }>(
      `INSERT INTO samples (point_id, time, value, text_value, quality, reason) ${UNNEST_SAMPLES}
       ON CONFLICT (point_id, time) DO NOTHING
       RETURNING point_id AS p, (extract(epoch FROM time) * 1000)::float8 AS t`,
      sampleArrays(rows),
    );
    return storedAmong(rows, result.rows);
  }

  /** Large writes of samples none of which is stored yet: COPY straight into the samples. */
  private async copySamples(client: pg.PoolClient, rows: SampleRows): Promise<void> {
    await this.copyRows(client, 'samples', rows);
  }

  /**
   * Large writes that may repeat stored samples: COPY into the session's staging table, then one
   * INSERT … SELECT that keeps the samples already stored, and tells which were new.
   */
  private async copyNewSamples(client: pg.PoolClient, rows: SampleRows): Promise<boolean[]> {
    await this.copyRows(client, 'samples_staging', rows);
    const result = await client.query<{ p: string; t: number }>(
      `INSERT INTO samples (point_id, time, value, text_value, quality, reason)
       SELECT point_id, time, value, text_value, quality, reason FROM samples_staging
        ORDER BY point_id, time -- in index order: the primary key's pages are visited once, not at random
       ON CONFLICT (point_id, time) DO NOTHING
       RETURNING point_id AS p, (extract(epoch FROM time) * 1000)::float8 AS t`,
    );
    return storedAmong(rows, result.rows);
  }

  /** COPY (text format) of `rows` into `table`, which has the columns of samples. */
  private async copyRows(client: pg.PoolClient, table: string, rows: SampleRows): Promise<void> {
    const stream = client.query(copyFrom(`COPY ${table} (point_id, time, value, text_value, quality, reason) FROM STDIN`));
    async function* text() {
      // Samples of one gateway cycle share their time: format each instant once.
      let lastTime = NaN;
      let lastText = '';
      let chunk = '';
      for (let i = 0; i < rows.ids.length; i++) {
        const s = rows.samples[i]!;
        if (s.time !== lastTime) {
          lastTime = s.time;
          lastText = new Date(s.time).toISOString();
        }
        const v = s.value;
        chunk +=
          `${rows.ids[i]}\t${lastText}\t` +
          (typeof v === 'number' ? `${v}\t\\N\t` : typeof v === 'boolean' ? (v ? '1\t\\N\t' : '0\t\\N\t') : v === null ? '\\N\t\\N\t' : `\\N\t${copyText(v)}\t`) +
          `${s.quality}\t${s.reason == null ? '\\N' : copyText(s.reason)}\n`;
        if (chunk.length >= 256 * 1024) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    await pipeline(Readable.from(text(), { objectMode: false }), stream);
  }

  private async upsertGateways(client: pg.ClientBase, batches: readonly Batch[]): Promise<void> {
    const maxSeq = new Map<string, number>();
    for (const b of batches) maxSeq.set(b.gateway, Math.max(maxSeq.get(b.gateway) ?? 0, b.seq));
    // Sorted: concurrent writers lock the rows in the same order (see writeBatches).
    const ids = [...maxSeq.keys()].sort();
    await client.query(
      `INSERT INTO gateways (id, last_seen, last_seq)
       SELECT g, now(), s FROM unnest($1::text[], $2::bigint[]) AS u(g, s)
       ON CONFLICT (id) DO UPDATE SET last_seen = now(), last_seq = GREATEST(gateways.last_seq, excluded.last_seq)`,
      [ids, ids.map((id) => maxSeq.get(id)!)],
    );
  }

  /** Registers or updates the points gateways announce (name, unit, tags, source). */
  private async upsertPoints(client: pg.ClientBase, announced: Announcements, learnt: PointIds): Promise<void> {
    const { points } = announced;
    const { rows } = await client.query<{ id: string; gateway_id: string; point_key: string }>(
      `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags, source, interval_ms)
       SELECT g, k, n, u, kd, ARRAY(SELECT jsonb_array_elements_text(tg)), src, iv
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::int[]) AS x(g, k, n, u, kd, tg, src, iv)
       ON CONFLICT (gateway_id, point_key) DO UPDATE SET
         name = excluded.name, unit = excluded.unit, kind = excluded.kind, tags = excluded.tags,
         source = excluded.source, interval_ms = excluded.interval_ms, updated_at = now()
       RETURNING id, gateway_id, point_key`,
      [
        points.map((x) => x.gateway),
        points.map((x) => x.point.id),
        points.map((x) => x.point.name),
        points.map((x) => x.point.unit ?? null),
        points.map((x) => x.point.kind),
        points.map((x) => JSON.stringify(x.point.tags)),
        points.map((x) => JSON.stringify(x.point.source)),
        points.map((x) => x.point.intervalMs ?? null),
      ],
    );
    for (const r of rows) learnt.set(r.gateway_id, r.point_key, Number(r.id));
  }

  /** Points that samples name but no announcement has registered yet get a minimal entry. */
  private async resolveUnknownPoints(client: pg.ClientBase, batches: readonly Batch[], learnt: PointIds): Promise<void> {
    const gateways: string[] = [];
    const keys: string[] = [];
    const unknown = new PointIds();
    for (const batch of batches) {
      for (const s of batch.samples) {
        if (learnt.get(batch.gateway, s.point) || this.pointIds.get(batch.gateway, s.point) || unknown.get(batch.gateway, s.point)) continue;
        unknown.set(batch.gateway, s.point, 1);
        gateways.push(batch.gateway);
        keys.push(s.point);
      }
    }
    if (!keys.length) return;
    await client.query(
      `INSERT INTO points (gateway_id, point_key, name)
       SELECT g, k, k FROM unnest($1::text[], $2::text[]) AS u(g, k)
       ON CONFLICT (gateway_id, point_key) DO NOTHING`,
      [gateways, keys],
    );
    const { rows } = await client.query<{ id: string; gateway_id: string; point_key: string }>(
      `SELECT p.id, p.gateway_id, p.point_key FROM points p
         JOIN unnest($1::text[], $2::text[]) AS u(g, k) ON p.gateway_id = u.g AND p.point_key = u.k`,
      [gateways, keys],
    );
    for (const r of rows) learnt.set(r.gateway_id, r.point_key, Number(r.id));
  }

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

/** A write that assumed all its samples new found one already stored; it changed nothing. */
class AlreadyStoredError extends Error {
  readonly code = 'SAMPLES_ALREADY_STORED';
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown }).code === '23505';
}

/** The samples of a write, flattened: `samples[i]` is of point `ids[i]` of gateway `gateways[i]`. */
interface SampleRows {
  ids: number[];
  samples: Sample[];
  gateways: string[];
  /** How many of `ids` are 0: points not known yet. */
  unknown: number;
}

function flatten(batches: readonly Batch[], known: PointIds): SampleRows {
  const rows: SampleRows = { ids: [], samples: [], gateways: [], unknown: 0 };
  for (const batch of batches) {
    for (const s of batch.samples) {
      const id = known.get(batch.gateway, s.point) ?? 0;
      if (!id) rows.unknown++;
      rows.ids.push(id);
      rows.samples.push(s);
      rows.gateways.push(batch.gateway);
    }
  }
  return rows;
}

/** SELECT of the samples passed as six arrays (see sampleArrays), for INSERT INTO samples. */
const UNNEST_SAMPLES = `SELECT p, to_timestamp(t / 1000.0), v, x, q::sample_quality, r
  FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[]) AS u(p, t, v, x, q, r)`;

function sampleArrays(rows: SampleRows): unknown[] {
  const { ids, samples } = rows;
  return [
    ids,
    samples.map((s) => s.time),
    samples.map((s) => numericColumn(s.value)),
    samples.map((s) => textColumn(s.value)),
    samples.map((s) => s.quality),
    samples.map((s) => s.reason ?? null),
  ];
}

/** Which of `rows` an INSERT … RETURNING point_id AS p, time (epoch ms) AS t actually inserted. */
function storedAmong(rows: SampleRows, returned: readonly { p: string; t: number }[]): boolean[] {
  const keys = new Set(returned.map((r) => `${r.p}:${r.t}`));
  // A sample given twice in one write is inserted once: count it at its first place only.
  return rows.ids.map((id, i) => keys.delete(`${id}:${rows.samples[i]!.time}`));
}

/** A sample's value as stored in `value`: numbers, and booleans as 0/1. */
function numericColumn(value: Sample['value']): number | null {
  return typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : null;
}

/** A sample's value as stored in `text_value`: strings only. */
function textColumn(value: Sample['value']): string | null {
  return typeof value === 'string' ? value : null;
}

/** A text for COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(text: string): string {
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : text;
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Point ids (never 0) by gateway and point key. */
class PointIds {
  private readonly byGateway = new Map<string, Map<string, number>>();

  /** The point's id, or undefined when unknown. */
  get(gateway: string, point: string): number | undefined {
    return this.byGateway.get(gateway)?.get(point);
  }

  set(gateway: string, point: string, id: number): void {
    let points = this.byGateway.get(gateway);
    if (!points) this.byGateway.set(gateway, (points = new Map()));
    points.set(point, id);
  }

  addAll(other: PointIds): void {
    for (const [gateway, points] of other.byGateway) for (const [point, id] of points) this.set(gateway, point, id);
  }
}

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
