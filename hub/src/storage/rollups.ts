import type pg from 'pg';
import type { Batch } from '@citypilot/sdk';
import type { StorageMode } from './storage.js';

/** Width of a rollup bucket, cut in the city's time zone: a real hour, a local day, a local month. */
export type RollupStep = 'hour' | 'day' | 'month';

export const ROLLUP_STEPS: readonly RollupStep[] = ['hour', 'day', 'month'];

/** A point as gateways name it. */
export interface PointRef {
  gateway: string;
  point: string;
}

/** A time: epoch milliseconds or a Date. */
export type Instant = number | Date;

/** The numeric samples of one point in one bucket. */
export interface RollupBucket extends PointRef {
  /** Start of the bucket (ISO 8601, UTC): a local hour, local midnight, or local midnight of the 1st. */
  bucket: string;
  /** Numeric samples in the bucket (samples without a value are left out). */
  count: number;
  sum: number;
  min: number;
  max: number;
  first: { time: string; value: number };
  last: { time: string; value: number };
}

export interface SeriesQuery {
  points: readonly PointRef[];
  /** Buckets starting at or after `from` and before `to`. */
  from: Instant;
  to: Instant;
  step: RollupStep;
}

export interface EnergyQuery {
  /** Buckets starting at or after `from` and before `to`; give local bucket starts. */
  from: Instant;
  to: Instant;
  /** Default `month`. */
  step?: RollupStep;
  /** Unit of the meter points counted. Default `kWh`. */
  unit?: string;
}

/** Energy a building's meters counted in one bucket. */
export interface BuildingEnergy {
  /** The building's key, as gateways name it (`gateways.building_key`). */
  building: string;
  bucket: string;
  /** Sum over the meters of their advance in the bucket, in `unit`. */
  energy: number;
  /** Meters with readings in the bucket. */
  meters: number;
}

export class UnknownTimeZoneError extends Error {
  readonly code = 'UNKNOWN_TIME_ZONE';
}

export class RollupTimeZoneMismatchError extends Error {
  readonly code = 'ROLLUP_TIME_ZONE_MISMATCH';
}

const QUARTER_HOUR = 15 * 60_000;

const TABLES: Record<RollupStep, string> = { hour: 'rollup_hour', day: 'rollup_day', month: 'rollup_month' };

/**
 * Hourly, daily and monthly rollups of numeric samples per point, and the queries over them.
 *
 * With TimescaleDB they are hierarchical continuous aggregates (real-time); the hub refreshes the
 * range its own writes touched before it answers a query, and refresh policies catch up on
 * writes made elsewhere. On plain PostgreSQL they are tables that `touch` updates in the
 * transaction inserting the samples. The same views answer on both engines.
 */
export class Rollups {
  /** Range (epoch ms) written by this process since the last refresh; TimescaleDB only. */
  private pending: { from: number; to: number } | undefined;
  /** Refreshes run one after the other. */
  private refreshing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly pool: pg.Pool,
    readonly mode: StorageMode,
    /** IANA time zone the buckets are cut in. */
    readonly timezone: string,
    /** PostgreSQL intervals: buckets of a step older than `now() - horizon` are never recomputed. */
    private readonly horizons: Partial<Record<RollupStep, string>>,
  ) {}

  /**
   * Checks that the rollups of the (migrated) database were cut in `timezone`. `horizons` (see
   * refreshHorizons in lifecycle.ts) keep late samples older than the retention from recomputing
   * buckets whose data was dropped: such samples are stored but not rolled up. Default: none.
   */
  static async open(pool: pg.Pool, mode: StorageMode, timezone: string, horizons: Partial<Record<RollupStep, string>> = {}): Promise<Rollups> {
    const { rows } = await pool.query<{ timezone: string }>('SELECT timezone FROM rollup_settings');
    const stored = rows[0]?.timezone;
    if (stored !== timezone) {
      throw new RollupTimeZoneMismatchError(
        `timezone: the rollups of this database are cut in ${stored}, the configuration says ${timezone}; keep ${stored} or rebuild the rollups`,
      );
    }
    return new Rollups(pool, mode, timezone, horizons);
  }

  /**
   * `touch` for the samples of `batches` (whose point ids `idOf` gives), in Storage.writeBatches'
   * transaction after the samples are inserted and the gateway rows locked.
   */
  async touchBatches(client: pg.ClientBase, batches: readonly Batch[], idOf: (gateway: string, point: string) => number): Promise<void> {
    // One instant per point and quarter hour is enough to name the buckets written: a quarter
    // hour aligned on UTC lies within one local hour in every time zone (offsets are multiples
    // of 15 minutes). Strings and missing values are not rolled up.
    const seen = new Set<string>();
    const pointIds: number[] = [];
    const times: number[] = [];
    for (const batch of batches) {
      for (const s of batch.samples) {
        if (typeof s.value !== 'number' && typeof s.value !== 'boolean') continue;
        const id = idOf(batch.gateway, s.point);
        const key = `${id}:${Math.floor(s.time / QUARTER_HOUR)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        pointIds.push(id);
        times.push(s.time);
      }
    }
    if (!pointIds.length) return;
    // Two transactions recomputing the same bucket from their own snapshots would lose one's
    // samples. A point belongs to one gateway: holding the gateways' rows until commit (sorted,
    // as writeBatches locks them; already held there, so this costs no wait) makes the second
    // writer of a point see the first's rows. Row locks, unlike advisory locks, take no room in
    // the server's shared lock table, however many points a transaction writes.
    const gateways = [...new Set(batches.map((b) => b.gateway))].sort();
    if (this.mode === 'postgresql') await client.query('SELECT 1 FROM gateways WHERE id = ANY ($1::text[]) ORDER BY id FOR NO KEY UPDATE', [gateways]);
    await this.touch(client, pointIds, times);
  }

  /**
   * Brings the rollups up to date with samples just inserted by `client`'s open transaction:
   * `pointIds[i]` was written at `times[i]` (epoch ms). On plain PostgreSQL it recomputes exactly
   * the hours, days and months these samples fall in, so late or out-of-order data is counted
   * when the transaction commits; with TimescaleDB it notes the range for the next refresh.
   * The caller serializes transactions writing the same points (touchBatches does).
   */
  async touch(client: pg.ClientBase, pointIds: readonly number[], times: readonly number[]): Promise<void> {
    if (!pointIds.length) return;
    if (this.mode === 'timescaledb') {
      let from = Infinity;
      let to = -Infinity;
      for (const t of times) {
        if (t < from) from = t;
        if (t > to) to = t;
      }
      this.pending = this.pending ? { from: Math.min(this.pending.from, from), to: Math.max(this.pending.to, to) } : { from, to };
      return;
    }
    await client.query(
      `INSERT INTO rollup_hour AS r (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
       SELECT s.point_id, b.bucket, count(*), sum(s.value), min(s.value), max(s.value),
              min(s.time), (array_agg(s.value ORDER BY s.time))[1], max(s.time), (array_agg(s.value ORDER BY s.time DESC))[1]
         FROM (SELECT DISTINCT p, date_trunc('hour', to_timestamp(t / 1000.0), $3) AS bucket
                 FROM unnest($1::bigint[], $2::float8[]) AS u(p, t)) AS b
         JOIN samples s ON s.point_id = b.p AND s.time >= b.bucket AND s.time < b.bucket + INTERVAL '1 hour'
        WHERE s.value IS NOT NULL AND ($4::interval IS NULL OR b.bucket >= now() - $4::interval)
        GROUP BY s.point_id, b.bucket
       ON CONFLICT (point_id, bucket) DO UPDATE SET ${UPDATE_ALL}`,
      [pointIds, times, this.timezone, this.horizons.hour ?? null],
    );
    for (const [table, parent, field] of [['rollup_day', 'rollup_hour', 'day'], ['rollup_month', 'rollup_day', 'month']] as const) {
      await client.query(
        `INSERT INTO ${table} AS r (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
         SELECT c.point_id, b.bucket, sum(c.n), sum(c.sum), min(c.min), max(c.max),
                min(c.first_time), (array_agg(c.first_value ORDER BY c.first_time))[1],
                max(c.last_time), (array_agg(c.last_value ORDER BY c.last_time DESC))[1]
           FROM (SELECT DISTINCT p, date_trunc('${field}', to_timestamp(t / 1000.0), $3) AS bucket
                   FROM unnest($1::bigint[], $2::float8[]) AS u(p, t)) AS b
           JOIN ${parent} c ON c.point_id = b.p AND c.bucket >= b.bucket
                           AND c.bucket < ((b.bucket AT TIME ZONE $3) + INTERVAL '1 ${field}') AT TIME ZONE $3
          WHERE $4::interval IS NULL OR b.bucket >= now() - $4::interval
          GROUP BY c.point_id, b.bucket
         ON CONFLICT (point_id, bucket) DO UPDATE SET ${UPDATE_ALL}`,
        [pointIds, times, this.timezone, this.horizons[field] ?? null],
      );
    }
  }

  /**
   * Recomputes every bucket of [from, to) (widened to whole local months) from the samples: for
   * samples loaded without `touch` (bulk imports, benchmarks). Not inside a transaction. It
   * ignores the horizons: never rebuild a range older than the samples retention.
   */
  async rebuild(range: { from: Instant; to: Instant }): Promise<void> {
    const { from, to } = await this.monthWindow(ms(range.from), ms(range.to));
    if (this.mode === 'timescaledb') {
      await this.refreshWindow(from, to);
      return;
    }
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('citypilot-rollups-rebuild'))`);
      for (const table of Object.values(TABLES)) await client.query(`DELETE FROM ${table} WHERE bucket >= $1 AND bucket < $2`, [from, to]);
      await client.query(
        `INSERT INTO rollup_hour (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
         SELECT point_id, date_trunc('hour', time, $3), count(*), sum(value), min(value), max(value),
                min(time), (array_agg(value ORDER BY time))[1], max(time), (array_agg(value ORDER BY time DESC))[1]
           FROM samples WHERE value IS NOT NULL AND time >= $1 AND time < $2 GROUP BY 1, 2`,
        [from, to, this.timezone],
      );
      for (const [table, parent, field] of [['rollup_day', 'rollup_hour', 'day'], ['rollup_month', 'rollup_day', 'month']]) {
        await client.query(
          `INSERT INTO ${table} (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
           SELECT point_id, date_trunc('${field}', bucket, $3), sum(n), sum(sum), min(min), max(max),
                  min(first_time), (array_agg(first_value ORDER BY first_time))[1], max(last_time), (array_agg(last_value ORDER BY last_time DESC))[1]
             FROM ${parent} WHERE bucket >= $1 AND bucket < $2 GROUP BY 1, 2`,
          [from, to, this.timezone],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Makes the rollups reflect every write this process committed. A no-op on plain PostgreSQL
   * (rollups commit with the samples); with TimescaleDB, refreshes the touched local months.
   * Queries call it first.
   */
  async settle(): Promise<void> {
    const run = this.refreshing.then(async () => {
      const pending = this.pending;
      if (!pending) return;
      this.pending = undefined;
      try {
        const { from, to } = await this.monthWindow(pending.from, pending.to + 1);
        await this.refreshWindow(from, to, this.horizons);
      } catch (error) {
        const now = this.pending as { from: number; to: number } | undefined;
        this.pending = now ? { from: Math.min(now.from, pending.from), to: Math.max(now.to, pending.to) } : pending;
        throw error;
      }
    });
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  /** Buckets of `step` for each of `points`, in point order then time order. */
  async series(query: SeriesQuery): Promise<RollupBucket[]> {
    await this.settle();
    const { rows } = await this.pool.query(
      `SELECT p.gateway_id, p.point_key, r.bucket, r.n::bigint AS n, r.sum, r.min, r.max,
              r.first_time, r.first_value, r.last_time, r.last_value
         FROM ${table(query.step)} r
         JOIN points p ON p.id = r.point_id
         JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(g, k, i) ON p.gateway_id = u.g AND p.point_key = u.k
        WHERE r.bucket >= $3 AND r.bucket < $4
        ORDER BY u.i, r.bucket`,
      [query.points.map((p) => p.gateway), query.points.map((p) => p.point), new Date(ms(query.from)), new Date(ms(query.to))],
    );
    return rows.map((r) => ({
      gateway: r.gateway_id,
      point: r.point_key,
      bucket: r.bucket.toISOString(),
      count: Number(r.n),
      sum: r.sum,
      min: r.min,
      max: r.max,
      first: { time: r.first_time.toISOString(), value: r.first_value },
      last: { time: r.last_time.toISOString(), value: r.last_value },
    }));
  }

  /**
   * Energy per building and bucket from its meters: the points of the building's gateways
   * tagged `meter` with the unit asked. A meter's advance in a bucket is its last reading there
   * minus its last reading in the bucket before (so that the advance between two buckets'
   * readings is counted once), or minus its first reading in the bucket when the bucket before
   * has none. Meter resets (a replaced meter) are not detected.
   */
  async energyByBuilding(query: EnergyQuery): Promise<BuildingEnergy[]> {
    await this.settle();
    const step = query.step ?? 'month';
    const { rows } = await this.pool.query(energySql(table(step), step), [
      new Date(ms(query.from)),
      new Date(ms(query.to)),
      this.timezone,
      query.unit ?? 'kWh',
    ]);
    return rows.map((r) => ({ building: r.building, bucket: r.bucket.toISOString(), energy: r.energy, meters: r.meters }));
  }

  /** The local months containing [from, to) epoch ms, as instants. */
  private async monthWindow(from: number, to: number): Promise<{ from: Date; to: Date }> {
    const { rows } = await this.pool.query<{ from: Date; to: Date }>(
      `SELECT date_trunc('month', to_timestamp($1 / 1000.0), $3) AS from,
              ((date_trunc('month', to_timestamp($2 / 1000.0) - INTERVAL '1 microsecond', $3) AT TIME ZONE $3) + INTERVAL '1 month') AT TIME ZONE $3 AS to`,
      [from, to, this.timezone],
    );
    return rows[0]!;
  }

  /**
   * Refreshes the continuous aggregates over [from, to) (local month starts), finest first (each
   * feeds the next). When `horizons` gives one, an aggregate is refreshed only from the first
   * local month starting after its horizon: TimescaleDB refuses a window holding no whole bucket,
   * and the refresh policies (whose start_offset is the horizon) catch up on the partial month.
   */
  private async refreshWindow(from: Date, to: Date, horizons: Partial<Record<RollupStep, string>> = {}): Promise<void> {
    const floor = (n: number) => `((date_trunc('month', now() - $${n}::interval, $4) AT TIME ZONE $4) + INTERVAL '1 month') AT TIME ZONE $4`;
    const floors = Object.values(horizons).some((h) => h !== undefined)
      ? (await this.pool.query<Record<RollupStep, Date | null>>(`SELECT ${floor(1)} AS hour, ${floor(2)} AS day, ${floor(3)} AS month`, [
          horizons.hour ?? null,
          horizons.day ?? null,
          horizons.month ?? null,
          this.timezone,
        ])).rows[0]
      : undefined;
    for (const step of ROLLUP_STEPS) {
      const view = TABLES[step];
      const earliest = floors?.[step];
      const start = earliest && earliest > from ? earliest : from;
      if (start >= to) continue;
      // A refresh policy (or another hub) refreshing the same aggregate makes TimescaleDB give up
      // rather than wait: try again for up to about 30 s.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.pool.query(`CALL refresh_continuous_aggregate($1, $2::timestamptz, $3::timestamptz)`, [view, start, to]);
          break;
        } catch (error) {
          if (attempt >= 30 || !/concurrent refresh/i.test((error as Error).message)) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * attempt)));
        }
      }
    }
  }
}

/** Energy per building and bucket; the raw-samples equivalent is in bench/query.ts. */
function energySql(rollup: string, step: RollupStep): string {
  return `
    WITH meters AS (
      SELECT p.id, g.building_key
        FROM points p JOIN gateways g ON g.id = p.gateway_id
       WHERE g.building_key IS NOT NULL AND p.unit = $4 AND 'meter' = ANY (p.tags)
    ), readings AS (
      SELECT m.building_key, r.bucket, r.first_value, r.last_value,
             lag(r.last_value) OVER (PARTITION BY r.point_id ORDER BY r.bucket) AS previous
        FROM ${rollup} r JOIN meters m ON m.id = r.point_id
       WHERE r.bucket >= (($1::timestamptz AT TIME ZONE $3) - INTERVAL '1 ${step}') AT TIME ZONE $3 AND r.bucket < $2
    )
    SELECT building_key AS building, bucket, sum(last_value - coalesce(previous, first_value)) AS energy, count(*)::int AS meters
      FROM readings WHERE bucket >= $1
     GROUP BY building_key, bucket
     ORDER BY building_key, bucket`;
}

const UPDATE_ALL = `n = excluded.n, sum = excluded.sum, min = excluded.min, max = excluded.max,
  first_time = excluded.first_time, first_value = excluded.first_value,
  last_time = excluded.last_time, last_value = excluded.last_value`;

function table(step: RollupStep): string {
  const name = TABLES[step];
  if (!name) throw new RangeError(`step: ${JSON.stringify(step)} is not one of ${ROLLUP_STEPS.join(', ')}`);
  return name;
}

function ms(t: Instant): number {
  return typeof t === 'number' ? t : t.getTime();
}

/** Throws UnknownTimeZoneError unless PostgreSQL knows `timezone`. */
export async function checkTimeZone(pool: pg.Pool, timezone: string): Promise<void> {
  try {
    await pool.query('SELECT now() AT TIME ZONE $1', [timezone]);
  } catch (error) {
    throw new UnknownTimeZoneError(`timezone: ${JSON.stringify(timezone)} is not a time zone PostgreSQL knows (e.g. Europe/Paris)`, { cause: error });
  }
}
