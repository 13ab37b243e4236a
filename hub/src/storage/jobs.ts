import type pg from 'pg';
import type { StorageMode } from './types.js';

/** The TimescaleDB policies the hub adds (lifecycle.ts for compression and retention, migrations.ts for refresh). */
export type JobPolicy = 'compression' | 'retention' | 'refresh';

/** The relations the hub's policies act on: the samples hypertable and its continuous aggregates. */
export const JOB_RELATIONS = ['samples', 'rollup_hour', 'rollup_day', 'rollup_month'] as const;

const PROCEDURES: Record<string, JobPolicy> = {
  policy_compression: 'compression',
  policy_retention: 'retention',
  policy_refresh_continuous_aggregate: 'refresh',
};

/** One of the hub's TimescaleDB jobs and how its runs went, as TimescaleDB's job_stats and job_errors tell. */
export interface TimescaleJob {
  /** TimescaleDB's job id. */
  id: number;
  policy: JobPolicy;
  /** The hypertable or continuous aggregate it acts on, e.g. `samples`, `rollup_hour`. */
  relation: string;
  /** False while paused (alter_job scheduled => false). */
  scheduled: boolean;
  /** How the last finished run went; null before the first. */
  lastRun: 'success' | 'failed' | null;
  /** When the last run started (ISO 8601); null before the first. */
  lastRunStartedAt: string | null;
  /** When the last successful run finished (ISO 8601); null before the first. */
  lastSuccessAt: string | null;
  /** When the next run is due (ISO 8601); null while paused. */
  nextStart: string | null;
  /** Runs by TimescaleDB's scheduler since the job was added (CALL run_job is not counted). */
  totalRuns: number;
  totalFailures: number;
  /**
   * The job's latest recorded failure, if any: when it ended, its SQLSTATE (null when the
   * job crashed) and TimescaleDB's message, which names internal tables and chunks: for logs and
   * operators, not for public endpoints (see failureReason).
   */
  lastError: { at: string; sqlstate: string | null; message: string } | null;
}

/**
 * The hub's TimescaleDB jobs in the current schema of `db`'s database (the policies of
 * JOB_RELATIONS), by job id. Other jobs of the database (TimescaleDB's own housekeeping, a
 * user's) are not the hub's and are left out. Only call on a database with TimescaleDB.
 */
export async function readTimescaleJobs(db: pg.Pool | pg.ClientBase): Promise<TimescaleJob[]> {
  const { rows } = await db.query<{
    job_id: number;
    proc_name: string;
    relation: string;
    scheduled: boolean;
    last_run_status: string | null;
    last_run_started_at: Date | null;
    last_successful_finish: Date | null;
    next_start: Date | null;
    total_runs: string | null;
    total_failures: string | null;
    error_at: Date | null;
    sqlerrcode: string | null;
    err_message: string | null;
  }>(
    // job_stats names a continuous aggregate's materialized hypertable; jobs names the
    // aggregate itself, so the two are joined on the job id. job_stats keeps a timestamp of
    // -infinity for "never"; those read as null.
    `SELECT j.job_id, j.proc_name, j.hypertable_name AS relation, j.scheduled,
            s.last_run_status,
            CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run_started_at,
            CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END AS last_successful_finish,
            CASE WHEN isfinite(s.next_start) THEN s.next_start END AS next_start,
            s.total_runs, s.total_failures,
            e.finish_time AS error_at, e.sqlerrcode, e.err_message
       FROM timescaledb_information.jobs j
       LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
       LEFT JOIN LATERAL (
         SELECT coalesce(e.finish_time, e.start_time) AS finish_time, e.sqlerrcode, e.err_message
           FROM timescaledb_information.job_errors e WHERE e.job_id = j.job_id
          ORDER BY e.start_time DESC LIMIT 1) e ON true
      WHERE j.hypertable_schema = current_schema() AND j.hypertable_name = ANY ($1::text[]) AND j.proc_name = ANY ($2::text[])
      ORDER BY j.job_id`,
    [JOB_RELATIONS, Object.keys(PROCEDURES)],
  );
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return rows.map((r) => ({
    id: r.job_id,
    policy: PROCEDURES[r.proc_name]!,
    relation: r.relation,
    scheduled: r.scheduled,
    lastRun: r.last_run_status === 'Success' ? 'success' : r.last_run_status === 'Failed' ? 'failed' : null,
    lastRunStartedAt: iso(r.last_run_started_at),
    lastSuccessAt: iso(r.last_successful_finish),
    nextStart: iso(r.next_start),
    totalRuns: Number(r.total_runs ?? 0),
    totalFailures: Number(r.total_failures ?? 0),
    lastError: r.error_at ? { at: r.error_at.toISOString(), sqlstate: r.sqlerrcode, message: r.err_message ?? '' } : null,
  }));
}

/** A job whose last run failed, as the public /healthz shows it. */
export interface FailedJob {
  /** e.g. `retention of samples`. */
  job: string;
  /** When the failed run ended (ISO 8601), or started when TimescaleDB kept no end. */
  failedAt: string | null;
  /** PostgreSQL's name for the kind of failure (see failureReason). */
  reason: string;
}

/** The hub's jobs whose last run failed, in words safe for a public endpoint. */
export function failedJobs(jobs: readonly TimescaleJob[]): FailedJob[] {
  return jobs
    .filter((j) => j.lastRun === 'failed')
    .map((j) => ({
      job: `${j.policy} of ${j.relation}`,
      failedAt: j.lastError?.at ?? j.lastRunStartedAt,
      reason: failureReason(j.lastError?.sqlstate ?? null),
    }));
}

/**
 * What /healthz says of the hub's TimescaleDB jobs: those whose last run failed (none when all is
 * well), or undefined on plain PostgreSQL. Statistics that cannot be read count as one failure
 * (the hub cannot tell its jobs run), told without the database's message.
 */
export async function jobsHealth(mode: StorageMode, db: pg.Pool | pg.ClientBase): Promise<FailedJob[] | undefined> {
  if (mode !== 'timescaledb') return undefined;
  try {
    return failedJobs(await readTimescaleJobs(db));
  } catch {
    return [{ job: 'TimescaleDB jobs', failedAt: null, reason: 'their statistics could not be read' }];
  }
}

/**
 * A failure told by its SQLSTATE only, in PostgreSQL's own condition names: TimescaleDB's
 * message names internal chunks, tables and settings, which a public endpoint does not show
 * (operators read it in timescaledb_information.job_errors).
 */
export function failureReason(sqlstate: string | null): string {
  if (sqlstate === null) return 'the job crashed or was stopped';
  if (!/^[0-9A-Z]{5}$/.test(sqlstate)) return 'failed';
  const known: Record<string, string> = {
    '24000': 'invalid cursor state',
    '40P01': 'deadlock detected',
    '40001': 'serialization failure',
    '55P03': 'lock not available',
    '57014': 'query canceled (timeout or cancel request)',
    '57P01': 'terminated by an administrator',
  };
  if (known[sqlstate]) return `${known[sqlstate]} (SQLSTATE ${sqlstate})`;
  if (sqlstate.startsWith('53')) return `insufficient resources (SQLSTATE ${sqlstate})`;
  return `failed with SQLSTATE ${sqlstate}`;
}
