import type pg from 'pg';
import type { StorageMode } from './types.js';

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

/** Queued rebuilds (bulk loads) drained in one transaction, at most. */
const REBUILD_BATCH = 100;

const TABLES: Record<RollupStep, string> = { hour: 'rollup_hour', day: 'rollup_day', month: 'rollup_month' };

/**
 * Hourly, daily and monthly rollups of numeric samples per point, and the queries over them.
 *
 * With TimescaleDB they are hierarchical continuous aggregates (real-time); the hub refreshes the
 * range its own writes touched before it answers a query, and refresh policies catch up on
 * writes made elsewhere. On plain PostgreSQL they are tables that `add` updates in the
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
    /** PostgreSQL intervals: buckets of a step older than `now() - horizon` never change any more. */
    private readonly horizons: Partial<Record<RollupStep, string>>,
  ) {}

  /**
   * Checks that the rollups of the (migrated) database were cut in `timezone`. `horizons` (see
   * refreshHorizons in lifecycle.ts) make buckets older than the retention final: TimescaleDB
   * would recompute them from samples already dropped, so on both engines a late sample older
   * than that is stored but not rolled up. Default: none.
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
   * Brings the rollups up to date with samples just inserted by `client`'s open transaction (and
   * only those: never samples that were already stored). On plain PostgreSQL it adds them to the
   * hours, days and months they fall in, so late or out-of-order data is counted when the
   * transaction commits and no other bucket is rewritten; with TimescaleDB it notes the range
   * for the next refresh. Concurrent transactions may add to the same buckets: each addition is
   * applied to the row as the other left it.
   */
  async add(client: pg.ClientBase, partials: RollupPartials): Promise<void> {
    if (!partials.size) return;
    if (this.mode === 'timescaledb') {
      const { from, to } = partials.range();
      this.pending = this.pending ? { from: Math.min(this.pending.from, from), to: Math.max(this.pending.to, to) } : { from, to };
      return;
    }
    const starts = await this.bucketStarts(client, partials.quarters());
    const params: unknown[] = [];
    for (let level = 0; level < ROLLUP_STEPS.length; level++) params.push(...columns(partials.regroup((quarter) => starts.get(quarter)![level]!)));
    await client.query(ADD_SQL, [...params, this.horizons.hour ?? null, this.horizons.day ?? null, this.horizons.month ?? null]);
  }

  /** Local hour, day and month starts (epoch ms) of UTC quarter hours, as PostgreSQL cuts them. */
  private readonly starts = new Map<number, readonly [number, number, number]>();

  /**
   * The local hour, day and month each quarter hour falls in, in the city's time zone, asked of
   * PostgreSQL (whose time zone rules cut the buckets everywhere else) once per quarter hour.
   */
  private async bucketStarts(client: pg.ClientBase, quarters: readonly number[]): Promise<Map<number, readonly [number, number, number]>> {
    // A few quarter hours a write: live data keeps asking for the same ones, a backlog for new
    // ones. Forget them all now and then rather than keep them for ever.
    if (this.starts.size + quarters.length > 100_000) this.starts.clear();
    const missing = quarters.filter((q) => !this.starts.has(q));
    if (missing.length) {
      const { rows } = await client.query<{ q: number; h: number; d: number; m: number }>(
        `SELECT q, (extract(epoch FROM date_trunc('hour', t, $2)) * 1000)::float8 AS h,
                   (extract(epoch FROM date_trunc('day', t, $2)) * 1000)::float8 AS d,
                   (extract(epoch FROM date_trunc('month', t, $2)) * 1000)::float8 AS m
           FROM unnest($1::float8[]) AS q, to_timestamp(q / 1000.0) AS t`,
        [missing, this.timezone],
      );
      for (const r of rows) this.starts.set(r.q, [r.h, r.d, r.m]);
    }
    return this.starts;
  }

  /**
   * Recomputes every bucket of [from, to) (widened to whole local months) from the samples: for
   * samples loaded without `touch` (bulk imports, benchmarks), and for samples replaced in
   * place (a utility's corrected reading), when `pointIds` limits it to their points. Not inside
   * a transaction. It ignores the horizons: never rebuild a range older than the samples retention.
   */
  async rebuild(range: { from: Instant; to: Instant }, pointIds?: readonly number[]): Promise<void> {
    const { from, to } = await this.monthWindow(ms(range.from), ms(range.to));
    if (this.mode === 'timescaledb') {
      await this.refreshWindow(from, to);
      return;
    }
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await this.rebuildWithin(client, from, to, pointIds ? [...pointIds] : null);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The statements of rebuild() for local months [from, to), in `client`'s open transaction. */
  private async rebuildWithin(client: pg.ClientBase, from: Date, to: Date, points: number[] | null): Promise<void> {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('citypilot-rollups-rebuild'))`);
    for (const table of Object.values(TABLES)) {
      await client.query(`DELETE FROM ${table} WHERE bucket >= $1 AND bucket < $2 AND ($3::bigint[] IS NULL OR point_id = ANY ($3))`, [from, to, points]);
    }
    await client.query(
      `INSERT INTO rollup_hour (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
       SELECT point_id, date_trunc('hour', time, $3), count(*), sum(value), min(value), max(value),
              min(time), (array_agg(value ORDER BY time))[1], max(time), (array_agg(value ORDER BY time DESC))[1]
         FROM samples WHERE value IS NOT NULL AND time >= $1 AND time < $2 AND ($4::bigint[] IS NULL OR point_id = ANY ($4)) GROUP BY 1, 2`,
      [from, to, this.timezone, points],
    );
    for (const [table, parent, field] of [
      ['rollup_day', 'rollup_hour', 'day'],
      ['rollup_month', 'rollup_day', 'month'],
    ]) {
      await client.query(
        `INSERT INTO ${table} (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
         SELECT point_id, date_trunc('${field}', bucket, $3), sum(n), sum(sum), min(min), max(max),
                min(first_time), (array_agg(first_value ORDER BY first_time))[1], max(last_time), (array_agg(last_value ORDER BY last_time DESC))[1]
           FROM ${parent} WHERE bucket >= $1 AND bucket < $2 AND ($4::bigint[] IS NULL OR point_id = ANY ($4)) GROUP BY 1, 2`,
        [from, to, this.timezone, points],
      );
    }
  }

  /**
   * Queues the rebuild of `pointIds`' rollups over [from, to] in `client`'s open transaction, for
   * samples loaded in bulk on plain PostgreSQL (a utility's file: one set-based rebuild of many
   * points' months costs a fraction of adding sample by sample). The queue commits with the
   * samples, so that no crash leaves samples without rollups; queries and the hub drain it
   * (drainRebuilds). Plain PostgreSQL only: TimescaleDB's rollups refresh from the samples.
   */
  async queueRebuild(client: pg.ClientBase, pointIds: readonly number[], from: number, to: number): Promise<void> {
    if (!pointIds.length) return;
    await client.query(`INSERT INTO rollup_rebuilds (point_ids, from_time, to_time) VALUES ($1, to_timestamp($2 / 1000.0), to_timestamp($3 / 1000.0))`, [
      [...pointIds],
      from,
      to,
    ]);
  }

  /**
   * Rebuilds what queueRebuild queued, in batches of up to REBUILD_BATCH entries: each batch's
   * points over the union of its ranges (whole local months), its entries deleted in the same
   * transaction. Several hubs may drain at once: each takes the entries the others have not locked.
   */
  async drainRebuilds(): Promise<void> {
    if (this.mode === 'timescaledb') return;
    for (;;) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string; point_ids: string[]; from_time: Date; to_time: Date }>(
          `SELECT id, point_ids, from_time, to_time FROM rollup_rebuilds ORDER BY id LIMIT ${REBUILD_BATCH} FOR UPDATE SKIP LOCKED`,
        );
        if (!rows.length) {
          await client.query('COMMIT');
          return;
        }
        const points = [...new Set(rows.flatMap((r) => r.point_ids.map(Number)))];
        const { from, to } = await this.monthWindow(Math.min(...rows.map((r) => r.from_time.getTime())), Math.max(...rows.map((r) => r.to_time.getTime())) + 1);
        await this.rebuildWithin(client, from, to, points);
        await client.query(`DELETE FROM rollup_rebuilds WHERE id = ANY ($1::bigint[])`, [rows.map((r) => r.id)]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
  }

  /**
   * Makes the rollups reflect every write this process committed. On plain PostgreSQL (rollups
   * commit with the samples) it rebuilds what bulk loads queued (drainRebuilds); with
   * TimescaleDB, refreshes the touched local months. Queries call it first.
   */
  async settle(): Promise<void> {
    if (this.mode !== 'timescaledb') return this.drainRebuilds();
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
      ? (
          await this.pool.query<Record<RollupStep, Date | null>>(`SELECT ${floor(1)} AS hour, ${floor(2)} AS day, ${floor(3)} AS month`, [
            horizons.hour ?? null,
            horizons.day ?? null,
            horizons.month ?? null,
            this.timezone,
          ])
        ).rows[0]
      : undefined;
    // Two passes: TimescaleDB 2.28 at times leaves the last hour of an invalidated range
    // unmaterialized when the newest sample written starts that hour exactly (a meter read at
    // 10:00:00), and materializes it at the next refresh (seen with a transaction writing
    // 04:30, 05:30 and 04:00 the next day, after one writing 22:00 to 03:00: 7 times in 8
    // without the second pass, never with it). Otherwise the second pass finds nothing to do.
    for (const step of [...ROLLUP_STEPS, ...ROLLUP_STEPS]) {
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

/**
 * Numeric samples summed per point and UTC quarter hour, ready to be added to the rollups. A
 * quarter hour aligned on UTC lies within one local hour in every time zone (offsets are
 * multiples of 15 minutes), so knowing the local hour, day and month of each quarter hour is
 * enough to sum the partials per rollup bucket, without seeing the samples again.
 */
export class RollupPartials {
  /**
   * Partials by point and start: a gateway's write holds a few quarter hours of each point, a
   * utility's import thousands (a load curve's months).
   */
  private readonly byPoint = new Map<number, Map<number, PartialAggregate>>();
  private count = 0;

  /** Partials (one per point and quarter hour) collected so far. */
  get size(): number {
    return this.count;
  }

  /** Counts one stored sample. Strings and missing values are not rolled up; booleans count as 0/1. */
  add(pointId: number, time: number, value: number | boolean | string | null): void {
    if (typeof value !== 'number') {
      if (typeof value !== 'boolean') return;
      value = Number(value);
    }
    this.merge({
      pointId,
      start: time - (time % QUARTER_HOUR),
      n: 1,
      sum: value,
      min: value,
      max: value,
      firstTime: time,
      firstValue: value,
      lastTime: time,
      lastValue: value,
    });
  }

  /** These partials but those of `points`. */
  without(points: ReadonlySet<number>): RollupPartials {
    const kept = new RollupPartials();
    for (const [id, partials] of this.byPoint) if (!points.has(id)) for (const p of partials.values()) kept.merge({ ...p });
    return kept;
  }

  /** Earliest and latest sample time counted (epoch ms). */
  range(): { from: number; to: number } {
    let from = Infinity;
    let to = -Infinity;
    for (const p of this.all()) {
      if (p.firstTime < from) from = p.firstTime;
      if (p.lastTime > to) to = p.lastTime;
    }
    return { from, to };
  }

  private *all(): Iterable<PartialAggregate> {
    for (const partials of this.byPoint.values()) yield* partials.values();
  }

  /** The UTC quarter hours the partials cover (epoch ms), each once. */
  quarters(): number[] {
    const quarters = new Set<number>();
    for (const p of this.all()) quarters.add(p.start);
    return [...quarters];
  }

  /** The partials summed into the buckets that `bucketOf` gives their quarter hours. */
  regroup(bucketOf: (quarter: number) => number): PartialAggregate[] {
    const grouped = new RollupPartials();
    for (const p of this.all()) grouped.merge({ ...p, start: bucketOf(p.start) });
    return [...grouped.all()];
  }

  /** Adds `p` to the partial of its point and start, or keeps it as a new one. */
  private merge(p: PartialAggregate): void {
    let partials = this.byPoint.get(p.pointId);
    if (!partials) this.byPoint.set(p.pointId, (partials = new Map()));
    const into = partials.get(p.start);
    if (!into) {
      partials.set(p.start, p);
      this.count++;
      return;
    }
    into.n += p.n;
    into.sum += p.sum;
    if (p.min < into.min) into.min = p.min;
    if (p.max > into.max) into.max = p.max;
    if (p.firstTime < into.firstTime) {
      into.firstTime = p.firstTime;
      into.firstValue = p.firstValue;
    }
    if (p.lastTime > into.lastTime) {
      into.lastTime = p.lastTime;
      into.lastValue = p.lastValue;
    }
  }
}

interface PartialAggregate {
  pointId: number;
  /** Start of the UTC quarter hour, or of the rollup bucket, epoch ms. */
  start: number;
  n: number;
  sum: number;
  min: number;
  max: number;
  firstTime: number;
  firstValue: number;
  lastTime: number;
  lastValue: number;
}

/**
 * Adds partials to an existing rollup row: counts and sums add up, extremes widen, and the
 * first and last readings are the earlier and the later of the two. Every expression reads the
 * row as it was (`r`), so the order of the assignments does not matter.
 */
const ADD_TO_ROW = `n = r.n + excluded.n, sum = r.sum + excluded.sum,
  min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
  first_time = least(r.first_time, excluded.first_time),
  first_value = CASE WHEN excluded.first_time < r.first_time THEN excluded.first_value ELSE r.first_value END,
  last_time = greatest(r.last_time, excluded.last_time),
  last_value = CASE WHEN excluded.last_time > r.last_time THEN excluded.last_value ELSE r.last_value END`;

/**
 * Partials as the ten parallel arrays one level of ADD_SQL takes, each as an array literal:
 * numbers need no quoting, and joining them is many times faster than the client's generic
 * conversion of a JavaScript array (which escapes every element).
 */
function columns(partials: readonly PartialAggregate[]): string[] {
  const cols: number[][] = Array.from({ length: 10 }, () => []);
  for (const p of partials) {
    cols[0]!.push(p.pointId);
    cols[1]!.push(p.start);
    cols[2]!.push(p.n);
    cols[3]!.push(p.sum);
    cols[4]!.push(p.min);
    cols[5]!.push(p.max);
    cols[6]!.push(p.firstTime);
    cols[7]!.push(p.firstValue);
    cols[8]!.push(p.lastTime);
    cols[9]!.push(p.lastValue);
  }
  return cols.map((c) => `{${c.join(',')}}`);
}

/** One level of ADD_SQL: ten arrays from parameter `$first` added to `table`, within `$horizon`. */
function addLevel(table: string, first: number, horizon: number): string {
  const $ = (i: number, type: string) => `$${first + i}::${type}[]`;
  return `${table}_added AS (
    INSERT INTO ${table} AS r (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
    SELECT p, to_timestamp(b / 1000.0), n, sum, min, max, to_timestamp(ft / 1000.0), fv, to_timestamp(lt / 1000.0), lv
      FROM unnest(${$(0, 'bigint')}, ${$(1, 'float8')}, ${$(2, 'bigint')}, ${$(3, 'float8')}, ${$(4, 'float8')}, ${$(5, 'float8')},
                  ${$(6, 'float8')}, ${$(7, 'float8')}, ${$(8, 'float8')}, ${$(9, 'float8')}) AS u(p, b, n, sum, min, max, ft, fv, lt, lv)
     WHERE $${horizon}::interval IS NULL OR to_timestamp(b / 1000.0) >= now() - $${horizon}::interval
     ORDER BY p, b -- the same lock order in every transaction: concurrent additions never deadlock
    ON CONFLICT (point_id, bucket) DO UPDATE SET ${ADD_TO_ROW}
  )`;
}

/**
 * Plain PostgreSQL: adds partials already summed per local hour ($1..$10), day ($11..$20) and
 * month ($21..$30) to the rollups, in one statement, leaving alone the buckets older than each
 * step's horizon ($31..$33, null for none).
 */
const ADD_SQL = `WITH ${addLevel('rollup_hour', 1, 31)}, ${addLevel('rollup_day', 11, 32)}, ${addLevel('rollup_month', 21, 33)}
  SELECT 1`;

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
