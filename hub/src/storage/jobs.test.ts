import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { buildApi } from '../api.js';
import { createHubMetrics, recordTimescaleJobs } from '../metrics.js';
import { createTestDatabase, storageEngines } from '../testing/index.js';
import { waitFor } from '@citypilot/sdk';
import { failedJobs, failureReason, jobsHealth, readTimescaleJobs, type FailedJob, type TimescaleJob } from './jobs.js';
import { Storage } from './storage.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const engines = await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'));

/** The lines of a Prometheus exposition that belong to the TimescaleDB job metrics. */
function jobMetricLines(text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('citypilot_hub_timescale_job_') && !line.startsWith('#'));
}

describe('what the hub tells of its jobs', () => {
  const job = (overrides: Partial<TimescaleJob>): TimescaleJob => ({
    id: 1000,
    policy: 'retention',
    relation: 'samples',
    scheduled: true,
    lastRun: null,
    lastRunStartedAt: null,
    lastSuccessAt: null,
    nextStart: '2026-12-08T01:00:00.000Z',
    totalRuns: 0,
    totalFailures: 0,
    lastError: null,
    ...overrides,
  });

  it('counts a job failed only while its last run is: one that failed then succeeded is healthy, with its failures counted', () => {
    const recovered = job({
      lastRun: 'success',
      lastSuccessAt: '2026-12-07T01:00:02.000Z',
      totalRuns: 2,
      totalFailures: 1,
      lastError: { at: '2026-12-06T01:00:01.000Z', sqlstate: '40P01', message: 'deadlock detected' },
    });
    const failing = job({
      id: 1001,
      policy: 'compression',
      lastRun: 'failed',
      lastRunStartedAt: '2026-12-07T03:00:00.000Z',
      totalRuns: 1,
      totalFailures: 1,
      lastError: { at: '2026-12-07T03:00:01.000Z', sqlstate: '40P01', message: 'deadlock detected' },
    });
    expect(failedJobs([recovered, failing, job({ id: 1002, relation: 'rollup_hour' })])).toEqual([
      { job: 'compression of samples', failedAt: '2026-12-07T03:00:01.000Z', reason: 'deadlock detected (SQLSTATE 40P01)' },
    ]);
    const metrics = createHubMetrics();
    recordTimescaleJobs(metrics, [recovered, failing]);
    recordTimescaleJobs(metrics, [recovered]); // the compression policy was replaced meanwhile
    return metrics.registry
      .metrics()
      .then((text) =>
        expect(jobMetricLines(text)).toEqual([
          'citypilot_hub_timescale_job_last_run_success{policy="retention",relation="samples"} 1',
          `citypilot_hub_timescale_job_last_success_timestamp_seconds{policy="retention",relation="samples"} ${Date.parse('2026-12-07T01:00:02.000Z') / 1000}`,
          'citypilot_hub_timescale_job_failures_total{policy="retention",relation="samples"} 1',
        ]),
      );
  });

  it.each([
    ['40P01', 'deadlock detected (SQLSTATE 40P01)'],
    ['55P03', 'lock not available (SQLSTATE 55P03)'],
    ['53100', 'insufficient resources (SQLSTATE 53100)'],
    ['22007', 'failed with SQLSTATE 22007'],
    [null, 'the job crashed or was stopped'],
    ['<script>', 'failed'],
  ])("tells %j as %j, in PostgreSQL's words only", (sqlstate, reason) => {
    expect(failureReason(sqlstate)).toBe(reason);
  });
});

for (const engine of engines) {
  const title = `The hub's TimescaleDB jobs in /healthz and /metrics, on ${engine.mode === 'postgresql' ? 'plain PostgreSQL' : 'TimescaleDB'}`;
  describe.skipIf(engine.skip !== undefined)(engine.skip ? `${title} (skipped: ${engine.skip})` : title, () => {
    const timescale = engine.mode === 'timescaledb';
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let storage: Storage;
    let app: ReturnType<typeof buildApi>;
    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `jobs_${engine.mode}`);
      storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: timescale ? 'auto' : 'off', lifecycle: {} });
      app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
    });
    afterAll(async () => {
      await app?.close();
      await storage?.close();
      await db?.drop();
    });

    it.skipIf(timescale)(
      timescale
        ? 'has no jobs to show on plain PostgreSQL (skipped: TimescaleDB)'
        : 'shows no jobs on plain PostgreSQL, where the hub enforces retention itself',
      async () => {
        const health = await app.inject({ url: '/healthz' });
        expect(health.statusCode).toBe(200);
        expect(health.json()).toEqual({ status: 'ok', database: 'ok', nats: 'ok', storage: 'postgresql' });
        expect(jobMetricLines((await app.inject({ url: '/metrics' })).body)).toEqual([]);
      },
    );

    it.skipIf(!timescale)(
      timescale
        ? 'degrades /healthz and counts the failure in /metrics when a job of the hub fails'
        : 'shows failed TimescaleDB jobs (skipped: plain PostgreSQL has none)',
      async () => {
        const retention = (await readTimescaleJobs(storage.pool)).find((j) => j.policy === 'retention' && j.relation === 'samples')!;
        expect(retention).toMatchObject({ scheduled: true, lastRun: null, totalFailures: 0 });
        // Only this job is looked at: the refresh policies run every few minutes from the start,
        // and how their runs end is not this test's business.
        const ofRetention = (failed: FailedJob[]) => failed.filter((j) => j.job === 'retention of samples');
        const healthBefore = await app.inject({ url: '/healthz' });
        expect(healthBefore.statusCode).toBe(200);
        expect(ofRetention(healthBefore.json().failedJobs)).toEqual([]);
        // A job that never ran has no last run; its failures are counted, none yet.
        const before = jobMetricLines((await app.inject({ url: '/metrics' })).body);
        expect(before).toContain('citypilot_hub_timescale_job_failures_total{policy="retention",relation="samples"} 0');
        expect(before.filter((l) => l.includes('policy="retention",relation="samples"'))).toHaveLength(1);

        // The retention of samples cannot take its lock: another session holds samples, and the
        // database's sessions (the job's worker among them) wait for a lock 100 ms at most.
        await storage.pool.query(`ALTER DATABASE ${pg.escapeIdentifier(new URL(db.url).pathname.slice(1))} SET lock_timeout = '100ms'`);
        const holder = new pg.Client({ connectionString: db.url });
        await holder.connect();
        let failed: TimescaleJob;
        try {
          await holder.query('BEGIN');
          await holder.query('LOCK TABLE samples IN ACCESS EXCLUSIVE MODE');
          failed = await runByScheduler(storage.pool, retention.id, (j) => j.lastRun === 'failed' && j.lastError?.sqlstate === '55P03');
        } finally {
          await holder.end();
        }
        expect(failed).toMatchObject({ totalFailures: 1, lastSuccessAt: null, lastError: { message: expect.stringContaining('lock') } });

        const health = await app.inject({ url: '/healthz' });
        expect(health.statusCode).toBe(200);
        expect(health.json()).toMatchObject({ status: 'degraded', database: 'ok', nats: 'ok', storage: 'timescaledb' });
        expect(ofRetention(health.json().failedJobs)).toEqual([
          { job: 'retention of samples', failedAt: failed.lastError!.at, reason: 'lock not available (SQLSTATE 55P03)' },
        ]);
        // Nothing of TimescaleDB's own message (chunk and table names) reaches the public endpoint.
        expect(health.body).not.toContain(failed.lastError!.message);
        const during = jobMetricLines((await app.inject({ url: '/metrics' })).body);
        expect(during).toContain('citypilot_hub_timescale_job_last_run_success{policy="retention",relation="samples"} 0');
        expect(during).toContain('citypilot_hub_timescale_job_failures_total{policy="retention",relation="samples"} 1');
        expect(during).toContain('citypilot_hub_timescale_job_failures_total{policy="compression",relation="samples"} 0');
      },
    );

    it.skipIf(!timescale)(
      timescale
        ? "counts job statistics it cannot read as a failure, without the database's message"
        : 'reads job statistics (skipped: plain PostgreSQL has none)',
      async () => {
        const closed = await Storage.open({ databaseUrl: db.url, logger: quiet });
        await closed.close();
        expect(await jobsHealth(closed.mode, closed.pool)).toEqual([{ job: 'TimescaleDB jobs', failedAt: null, reason: 'their statistics could not be read' }]);
      },
    );
  });
}

/**
 * Has TimescaleDB's scheduler run job `id` now (CALL run_job runs it in the caller's session
 * and records no statistics) and waits until its state satisfies `done`.
 */
async function runByScheduler(pool: pg.Pool, id: number, done: (job: TimescaleJob) => boolean): Promise<TimescaleJob> {
  const runs = (await readTimescaleJobs(pool)).find((j) => j.id === id)!.totalRuns;
  await pool.query('SELECT alter_job($1, next_start => now())', [id]);
  let last: TimescaleJob | undefined;
  return waitFor(
    async () => {
      last = (await readTimescaleJobs(pool)).find((j) => j.id === id);
      return last && last.totalRuns > runs && done(last) ? last : undefined;
    },
    60_000,
    () => `job ${id} was not run by the scheduler as expected; last seen: ${JSON.stringify(last)}`,
  );
}
