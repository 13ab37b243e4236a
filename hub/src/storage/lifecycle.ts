import type pg from 'pg';
import type { Logger } from '@citypilot/sdk';
import type { SamplePartitions } from './partitions.js';
import type { RollupStep } from './rollups.js';
import type { StorageMode } from './types.js';

/** What the hub stores, each kept for its own time: raw samples and the three rollups. */
export type DataClass = 'samples' | RollupStep;

export const DATA_CLASSES: readonly DataClass[] = ['samples', 'hour', 'day', 'month'];

/**
 * How long the hub keeps its data and when TimescaleDB compresses it. Every value is a
 * PostgreSQL interval (`3 years`, `90 days`, `P1Y6M`); a retention may also be `forever`.
 */
export interface LifecycleOptions {
  /** Age at which TimescaleDB compresses a chunk of samples. Default `7 days`. Unused on plain PostgreSQL. */
  compressAfter?: string;
  /** How long each class of data is kept. Defaults: DEFAULT_RETENTION. */
  retention?: Partial<Record<DataClass, string>>;
}

export const DEFAULT_COMPRESS_AFTER = '7 days';

/**
 * Raw samples serve the detailed views and corrections for three years; hourly rollups serve
 * curves for ten. Daily and monthly rollups are kept forever: objectives compare against
 * reference years (the tertiary decree's baseline may be any year from 2010, with targets to
 * 2050), and they are small (one row per point and day).
 */
export const DEFAULT_RETENTION: Readonly<Record<DataClass, string>> = { samples: '3 years', hour: '10 years', day: 'forever', month: 'forever' };

/** The name of a lifecycle setting, as StorageOptions.lifecycle spells it. */
export type LifecycleSetting = 'compressAfter' | `retention.${DataClass}`;

/** A lifecycle setting PostgreSQL cannot read as asked. Nothing was changed. */
export class InvalidStorageSettingError extends Error {
  readonly code = 'INVALID_STORAGE_SETTING';
  constructor(
    readonly setting: LifecycleSetting,
    readonly value: string,
    /** What is wrong and what was expected, e.g. `is not a PostgreSQL interval; expected …`. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${JSON.stringify(value)} ${problem}`, options);
  }
}

/** An interval PostgreSQL has read: the text given, and its length in seconds (a year is 365.25 days). */
export interface CheckedInterval {
  text: string;
  seconds: number;
}

/** Lifecycle settings checked by PostgreSQL, defaults filled in; a retention of undefined is forever. */
export interface LifecycleSettings {
  compressAfter: CheckedInterval;
  retention: Record<DataClass, CheckedInterval | undefined>;
}

const FOREVER = 'forever';

/**
 * Checks `options` with PostgreSQL's own interval parser (positive, and with a unit: a bare
 * number would be read as seconds) and fills in the defaults. Throws InvalidStorageSettingError
 * naming the first bad setting.
 */
export async function checkLifecycleOptions(db: pg.Pool, options: LifecycleOptions): Promise<LifecycleSettings> {
  const compressAfter = (await checkInterval(db, 'compressAfter', options.compressAfter ?? DEFAULT_COMPRESS_AFTER, false))!;
  const retention = {} as Record<DataClass, CheckedInterval | undefined>;
  for (const dataClass of DATA_CLASSES) {
    retention[dataClass] = await checkInterval(db, `retention.${dataClass}`, options.retention?.[dataClass] ?? DEFAULT_RETENTION[dataClass], true);
  }
  return { compressAfter, retention };
}

async function checkInterval(db: pg.Pool, setting: LifecycleSetting, value: string, foreverAllowed: boolean): Promise<CheckedInterval | undefined> {
  const expected = foreverAllowed
    ? `expected a positive PostgreSQL interval such as '3 years' or '90 days', or '${FOREVER}'`
    : `expected a positive PostgreSQL interval such as '7 days'`;
  if (foreverAllowed && value.trim().toLowerCase() === FOREVER) return undefined;
  if (/^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/.test(value))
    throw new InvalidStorageSettingError(setting, value, `has no unit (PostgreSQL would read seconds); ${expected}`);
  let row: { positive: boolean; seconds: number };
  try {
    const result = await db.query<typeof row>(`SELECT $1::interval > INTERVAL '0' AS positive, extract(epoch FROM $1::interval)::float8 AS seconds`, [value]);
    row = result.rows[0]!;
  } catch (error) {
    // Class 22, data exception: PostgreSQL could not read the value; anything else (no
    // connection …) is not the setting's fault.
    if (!/^22/.test((error as { code?: string }).code ?? '')) throw error;
    throw new InvalidStorageSettingError(setting, value, `is not a PostgreSQL interval; ${expected}`, { cause: error });
  }
  if (!row.positive) throw new InvalidStorageSettingError(setting, value, `is not positive; ${expected}`);
  return { text: value.trim(), seconds: row.seconds };
}

/**
 * How far back each rollup may be recomputed: a bucket older than `now() - horizon` is never
 * refreshed, because some data it derives from (samples, or the finer rollups) may have been
 * dropped and recomputing it would erase it. The shortest retention among the rollup and
 * everything below it; undefined when all of them are forever. TimescaleDB's refresh policies
 * get it as their start_offset; the hub's own refreshes and plain PostgreSQL's rollup updates
 * obey it too.
 */
export function refreshHorizons(settings: LifecycleSettings): Record<RollupStep, CheckedInterval | undefined> {
  const shortest = (classes: DataClass[]) =>
    classes.map((c) => settings.retention[c]).reduce<CheckedInterval | undefined>((a, b) => (!a ? b : !b ? a : b.seconds < a.seconds ? b : a), undefined);
  return { hour: shortest(['samples', 'hour']), day: shortest(['samples', 'hour', 'day']), month: shortest(['samples', 'hour', 'day', 'month']) };
}

/** What one retention pass removed on plain PostgreSQL. */
export interface RetentionPass {
  /** Partitions of samples dropped, e.g. samples_p2023_01. */
  droppedPartitions: string[];
  /** Rollup rows deleted, per step. */
  deletedRows: Record<RollupStep, number>;
}

/** How often the hub enforces retention on plain PostgreSQL: hourly. */
export const RETENTION_INTERVAL_MS = 3_600_000;

const POLICIES_LOCK_KEY = 'citypilot-storage-policies';

const RELATIONS: Record<DataClass, string> = { samples: 'samples', hour: 'rollup_hour', day: 'rollup_day', month: 'rollup_month' };

/**
 * When TimescaleDB runs the hub's retention and compression jobs: once a day each, on a fixed
 * schedule, at a time of day (UTC) of its own, so that the retention and the compression of
 * samples never start together (started together, one of them failed with "deadlock detected").
 * Retention first: it only drops whole chunks and takes seconds; compression, which can take
 * long, starts two hours later and has 22 hours before the next retention. The retentions of the
 * continuous aggregates are spread 20 minutes apart for the same reason.
 *
 * Staggered rather than serialized by a lock of the hub's: TimescaleDB's own policy procedures
 * take no lock of ours, short of wrapping its internal functions (which change between
 * versions), and one job of the hub's doing both would redo what the policies do (which chunks,
 * recompressing the ones late samples made partial). Should a run still overlap another (a
 * compression backlog longer than 22 hours), the one that fails is retried by TimescaleDB after
 * its retry period, and its failure shows in /healthz and /metrics until then.
 */
export const RETENTION_TIMES: Readonly<Record<DataClass, string>> = { samples: '01:00', hour: '01:20', day: '01:40', month: '02:00' };
export const COMPRESSION_TIME = '03:00';

/**
 * The data lifecycle of the hub's database: compression and retention.
 *
 * With TimescaleDB, `start` (re)applies the policies from the settings: compression of samples
 * after `compressAfter`, retention of the samples hypertable and of each continuous aggregate,
 * and the aggregates' refresh start_offset (see refreshHorizons). Unchanged policies are left as
 * they are; changed ones are replaced. TimescaleDB's jobs then do the work, each once a day at
 * its own time (RETENTION_TIMES, COMPRESSION_TIME), the first time at the next of these times,
 * never as soon as the storage opens.
 *
 * On plain PostgreSQL there is no compression; the hub itself drops the partitions of samples
 * older than their retention and deletes rollup rows older than theirs, at start and then every
 * RETENTION_INTERVAL_MS until `close`.
 */
export class StorageLifecycle {
  private timer: NodeJS.Timeout | undefined;
  /** The retention pass in progress, if any. */
  private pass: Promise<RetentionPass> | undefined;
  /** Last failure logged, so that a lasting one is logged once. */
  private lastError: string | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    readonly mode: StorageMode,
    readonly settings: LifecycleSettings,
    private readonly partitions: SamplePartitions,
    private readonly logger: Logger,
  ) {}

  /** Applies the settings (see the class); never throws for a failed retention pass, which is logged and retried. */
  static async start(options: {
    pool: pg.Pool;
    mode: StorageMode;
    settings: LifecycleSettings;
    partitions: SamplePartitions;
    logger: Logger;
  }): Promise<StorageLifecycle> {
    const { pool, mode, settings, partitions, logger } = options;
    const lifecycle = new StorageLifecycle(pool, mode, settings, partitions, logger);
    const kept = DATA_CLASSES.map((c) => `${c} ${settings.retention[c]?.text ?? FOREVER}`).join(', ');
    if (mode === 'timescaledb') {
      await applyTimescalePolicies(pool, settings, logger);
      logger.info(
        { compressAfter: settings.compressAfter.text, retention: kept },
        `storage: compress samples after ${settings.compressAfter.text}; keep ${kept}`,
      );
      return lifecycle;
    }
    logger.info({ retention: kept }, `storage: keep ${kept}; no compression on plain PostgreSQL (compressAfter applies to TimescaleDB only)`);
    await lifecycle.enforceLogged();
    lifecycle.timer = setInterval(() => void lifecycle.enforceLogged(), RETENTION_INTERVAL_MS);
    lifecycle.timer.unref();
    return lifecycle;
  }

  /**
   * Plain PostgreSQL: drops the partitions of samples whose month ended before the samples
   * retention, and deletes the rollup rows whose bucket starts before their retention. Passes do
   * not overlap (a call during a pass returns that pass). With TimescaleDB, whose jobs enforce
   * retention, it removes nothing.
   */
  async enforceRetention(): Promise<RetentionPass> {
    this.pass ??= this.runPass().finally(() => (this.pass = undefined));
    return this.pass;
  }

  /** Stops the retention timer and waits for a pass in progress. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.pass?.catch(() => undefined);
  }

  private async runPass(): Promise<RetentionPass> {
    const result: RetentionPass = { droppedPartitions: [], deletedRows: { hour: 0, day: 0, month: 0 } };
    if (this.mode === 'timescaledb') return result;
    const samples = this.settings.retention.samples;
    if (samples) result.droppedPartitions = await this.partitions.dropOlderThan(samples.text);
    for (const step of ['hour', 'day', 'month'] as const) {
      const retention = this.settings.retention[step];
      if (!retention) continue;
      // One statement, however many rows: after the first pass, each pass deletes about one
      // hour's worth of buckets per point.
      const { rowCount } = await this.pool.query(`DELETE FROM ${RELATIONS[step]} WHERE bucket < now() - $1::interval`, [retention.text]);
      result.deletedRows[step] = rowCount ?? 0;
    }
    return result;
  }

  private async enforceLogged(): Promise<void> {
    try {
      const pass = await this.enforceRetention();
      this.lastError = undefined;
      const deleted = Object.entries(pass.deletedRows).filter(([, n]) => n > 0);
      if (pass.droppedPartitions.length || deleted.length) {
        this.logger.info(
          { droppedPartitions: pass.droppedPartitions, deletedRows: pass.deletedRows },
          `retention: dropped ${pass.droppedPartitions.length} partition(s) of samples, deleted ${deleted.map(([step, n]) => `${n} ${step}`).join(', ') || 'no'} rollup row(s)`,
        );
      }
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError) this.logger.warn({ err: message }, `retention pass failed; next try in ${RETENTION_INTERVAL_MS / 60_000} minutes`);
      this.lastError = message;
    }
  }
}

/** A TimescaleDB job of `proc` on `relation` (a hypertable or a continuous aggregate), if any. */
async function findJob(client: pg.ClientBase, proc: string, relation: string): Promise<{ id: number; config: Record<string, unknown> } | undefined> {
  const { rows } = await client.query<{ job_id: number; config: Record<string, unknown> }>(
    `SELECT job_id, config FROM timescaledb_information.jobs
      WHERE proc_name = $1 AND hypertable_schema = current_schema() AND hypertable_name = $2
      ORDER BY job_id`,
    [proc, relation],
  );
  return rows[0] && { id: rows[0].job_id, config: rows[0].config };
}

/** Whether the interval `current` (as a job's config holds it, or null) says the same as `wanted`. */
async function sameInterval(client: pg.ClientBase, current: unknown, wanted: CheckedInterval | undefined): Promise<boolean> {
  if (current == null || wanted === undefined) return (current == null) === (wanted === undefined);
  // Compared as PostgreSQL writes them, so that '1 month' and '30 days' count as different.
  const { rows } = await client.query<{ same: boolean }>(`SELECT $1::interval::text = $2::interval::text AS same`, [String(current), wanted.text]);
  return rows[0]!.same;
}

/**
 * Moves job `id` to its daily time `hhmm` (UTC) on a fixed schedule, unless it is there already.
 * Its first run is the next `hhmm` to come, never at once. Returns whether it moved it.
 */
async function scheduleDaily(client: pg.ClientBase, id: number, hhmm: string): Promise<boolean> {
  const { rows } = await client.query<{ planned: boolean }>(
    `SELECT fixed_schedule AND schedule_interval = INTERVAL '1 day' AND to_char(initial_start AT TIME ZONE 'UTC', 'HH24:MI') IS NOT DISTINCT FROM $2 AS planned
       FROM timescaledb_information.jobs WHERE job_id = $1`,
    [id, hhmm],
  );
  if (rows[0]?.planned) return false;
  await client.query(
    `WITH today AS (SELECT date_trunc('day', now(), 'UTC') + $2::interval AS at)
     SELECT alter_job($1, schedule_interval => INTERVAL '1 day', fixed_schedule => true, initial_start => next.at, next_start => next.at)
       FROM today, LATERAL (SELECT CASE WHEN today.at > now() THEN today.at ELSE today.at + INTERVAL '1 day' END AS at) next`,
    [id, hhmm],
  );
  return true;
}

/** See StorageLifecycle: one transaction, under a lock, so that hubs starting together agree. */
async function applyTimescalePolicies(pool: pg.Pool, settings: LifecycleSettings, logger: Logger): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [POLICIES_LOCK_KEY]);
    const changed: string[] = [];

    // Refresh windows first: a shorter retention must never meet a refresh reaching past it.
    const horizons = refreshHorizons(settings);
    for (const step of ['hour', 'day', 'month'] as const) {
      const job = await findJob(client, 'policy_refresh_continuous_aggregate', RELATIONS[step]);
      if (!job || (await sameInterval(client, job.config.start_offset, horizons[step]))) continue;
      await client.query(
        `SELECT alter_job($1, config => jsonb_set(config, '{start_offset}', CASE WHEN $2::text IS NULL THEN 'null'::jsonb ELSE to_jsonb($2::interval::text) END))
           FROM timescaledb_information.jobs WHERE job_id = $1`,
        [job.id, horizons[step]?.text ?? null],
      );
      changed.push(`refresh of ${RELATIONS[step]} from ${horizons[step]?.text ?? 'the beginning'}`);
    }

    let compression = await findJob(client, 'policy_compression', 'samples');
    if (!compression || !(await sameInterval(client, compression.config.compress_after, settings.compressAfter))) {
      if (compression) await client.query(`SELECT remove_compression_policy('samples', if_exists => true)`);
      const { rows } = await client.query<{ id: number }>(`SELECT add_compression_policy('samples', compress_after => $1::interval) AS id`, [
        settings.compressAfter.text,
      ]);
      compression = { id: rows[0]!.id, config: {} };
      changed.push(`compression after ${settings.compressAfter.text}`);
    }
    if (await scheduleDaily(client, compression.id, COMPRESSION_TIME)) changed.push(`compression of samples daily at ${COMPRESSION_TIME} UTC`);

    for (const dataClass of DATA_CLASSES) {
      const relation = RELATIONS[dataClass];
      const wanted = settings.retention[dataClass];
      let job = await findJob(client, 'policy_retention', relation);
      if (!(await sameInterval(client, job?.config.drop_after, wanted))) {
        if (job) await client.query(`SELECT remove_retention_policy($1, if_exists => true)`, [relation]);
        job = undefined;
        if (wanted) {
          const { rows } = await client.query<{ id: number }>(`SELECT add_retention_policy($1, drop_after => $2::interval) AS id`, [relation, wanted.text]);
          job = { id: rows[0]!.id, config: {} };
        }
        changed.push(`retention of ${relation} ${wanted?.text ?? FOREVER}`);
      }
      if (job && (await scheduleDaily(client, job.id, RETENTION_TIMES[dataClass])))
        changed.push(`retention of ${relation} daily at ${RETENTION_TIMES[dataClass]} UTC`);
    }
    await client.query('COMMIT');
    if (changed.length) logger.info({ changed }, `storage policies changed: ${changed.join('; ')}`);
  } catch (error) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw error;
  } finally {
    client.release(broken);
  }
}
