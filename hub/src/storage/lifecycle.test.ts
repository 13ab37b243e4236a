import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { BATCH_VERSION, type Batch, type Logger, type Sample } from '@citypilot/sdk';
import { freePort } from '../services/local-services.js';
import { createTestDatabase, hubEnv, spawnCli, storageEngines, uniqueStreamNames } from '../testing/index.js';
import { checkLifecycleOptions, COMPRESSION_TIME, refreshHorizons, RETENTION_TIMES, type LifecycleOptions, type LifecycleSetting } from './lifecycle.js';
import { monthOf, monthStart, partitionName } from './partitions.js';
import type { RollupStep } from './rollups.js';
import { Storage } from './storage.js';
import { waitFor } from '@citypilot/sdk';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const YEAR = 365.25 * DAY;

const engines = await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'));

/** A logger that keeps every message. */
function recorder(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const keep = (_o: object, m?: string) => void messages.push(m ?? '');
  return { logger: { debug() {}, info: keep, warn: keep, error: keep }, messages };
}

function hourly(point: string, from: number, to: number, value = 1): Sample[] {
  const out: Sample[] = [];
  for (let t = from; t < to; t += HOUR) out.push({ point, time: t, value, quality: 'good' });
  return out;
}

/** Public tables of a database: none until Storage.open has migrated it. */
async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

describe('Storage lifecycle settings', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'lifecycle_settings');
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('keeps samples 3 years, hourly rollups 10 years, daily and monthly ones forever, and compresses after 7 days, by default', async () => {
    const settings = await checkLifecycleOptions(pool, {});
    expect(settings.compressAfter).toEqual({ text: '7 days', seconds: 7 * 86_400 });
    expect(settings.retention).toEqual({
      samples: { text: '3 years', seconds: (3 * YEAR) / 1000 },
      hour: { text: '10 years', seconds: (10 * YEAR) / 1000 },
      day: undefined,
      month: undefined,
    });
    // No rollup is recomputed where the samples it derives from may be gone.
    const texts = (h: ReturnType<typeof refreshHorizons>) => Object.fromEntries(Object.entries(h).map(([step, i]) => [step, i?.text]));
    expect(texts(refreshHorizons(settings))).toEqual({ hour: '3 years', day: '3 years', month: '3 years' });
    const custom = await checkLifecycleOptions(pool, { retention: { samples: 'Forever', hour: '2 years', day: 'P20Y', month: '1 year 6 months' } });
    expect(texts(refreshHorizons(custom))).toEqual({ hour: '2 years', day: '2 years', month: '1 year 6 months' });
    const forever = await checkLifecycleOptions(pool, { retention: { samples: 'forever', hour: 'forever' } });
    expect(texts(refreshHorizons(forever))).toEqual({ hour: undefined, day: undefined, month: undefined });
  });

  const mistakes: [LifecycleSetting, string, RegExp][] = [
    [
      'retention.samples',
      '3 yeers',
      /^retention\.samples: "3 yeers" is not a PostgreSQL interval; expected a positive PostgreSQL interval such as '3 years' or '90 days', or 'forever'$/,
    ],
    ['retention.hour', '-1 year', /^retention\.hour: "-1 year" is not positive; expected /],
    ['retention.day', '0 days', /^retention\.day: "0 days" is not positive; expected /],
    ['retention.month', '30', /^retention\.month: "30" has no unit \(PostgreSQL would read seconds\); expected /],
    ['compressAfter', 'forever', /^compressAfter: "forever" is not a PostgreSQL interval; expected a positive PostgreSQL interval such as '7 days'$/],
    ['compressAfter', '', /^compressAfter: "" is not a PostgreSQL interval/],
  ];
  it.each(mistakes)('refuses %s = %j, naming the setting and what was expected, before it changes anything', async (setting, value, message) => {
    const lifecycle: LifecycleOptions = setting === 'compressAfter' ? { compressAfter: value } : { retention: { [setting.slice('retention.'.length)]: value } };
    const opening = Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off', lifecycle });
    await expect(opening).rejects.toMatchObject({ name: 'Error', code: 'INVALID_STORAGE_SETTING', setting, value, message: expect.stringMatching(message) });
    expect(await tables(db.url)).toEqual([]);
  });

  it('stops `citypilot hub run` on a bad variable, naming the variable and what was expected, before anything starts', async () => {
    const env = { ...hubEnv(db.url, inject('natsUrl'), uniqueStreamNames('lifecycle'), await freePort()), CITYPILOT_RETENTION_HOUR: 'ten years' };
    const hub = spawnCli(['hub', 'run'], env);
    expect(await hub.exited).toBe(2);
    expect(hub.output()).toContain(
      `CITYPILOT_RETENTION_HOUR: "ten years" is not a PostgreSQL interval; expected a positive PostgreSQL interval such as '3 years' or '90 days', or 'forever'`,
    );
    expect(await tables(db.url)).toEqual([]);
  });
});

/** TimescaleDB jobs of this database by `<procedure> <relation>`: id and the interval they act on. */
async function jobs(pool: pg.Pool): Promise<Record<string, { id: number; interval: string | null }>> {
  const { rows } = await pool.query<{ job_id: number; proc_name: string; hypertable_name: string; config: Record<string, string | null> }>(
    `SELECT job_id, proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE hypertable_schema = current_schema()`,
  );
  return Object.fromEntries(
    rows.map((r) => [
      `${r.proc_name} ${r.hypertable_name}`,
      { id: r.job_id, interval: r.config.compress_after ?? r.config.drop_after ?? r.config.start_offset ?? null },
    ]),
  );
}

/** Runs TimescaleDB's `proc` jobs on `relations` now, as the scheduler would. */
async function runJobs(pool: pg.Pool, proc: string, relations: string[]): Promise<void> {
  const { rows } = await pool.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = $1 AND hypertable_schema = current_schema() AND hypertable_name = ANY ($2::text[]) ORDER BY job_id`,
    [proc, relations],
  );
  expect(rows).toHaveLength(relations.length);
  for (const { job_id } of rows) await pool.query('CALL run_job($1)', [job_id]);
}

/**
 * Runs `work` with TimescaleDB's `proc` job on `relation` paused, and resumes the job after.
 * Pausing does not stop a run in progress: this waits for one to end first.
 */
async function withJobPaused<T>(pool: pg.Pool, proc: string, relation: string, work: () => Promise<T>): Promise<T> {
  const { rows } = await pool.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = $1 AND hypertable_schema = current_schema() AND hypertable_name = $2`,
    [proc, relation],
  );
  expect(rows).toHaveLength(1);
  const id = rows[0]!.job_id;
  await pool.query('SELECT alter_job($1, scheduled => false)', [id]);
  try {
    await waitFor(
      async () => (await pool.query(`SELECT job_status FROM timescaledb_information.job_stats WHERE job_id = $1`, [id])).rows[0]?.job_status !== 'Running',
      60_000,
      `job ${id} (${proc} of ${relation}) kept running`,
    );
    return await work();
  } finally {
    await pool.query('SELECT alter_job($1, scheduled => true)', [id]);
  }
}

for (const engine of engines) {
  const title = `Storage lifecycle on ${engine.mode === 'postgresql' ? 'plain PostgreSQL' : 'TimescaleDB'}`;
  describe.skipIf(engine.skip !== undefined)(engine.skip ? `${title} (skipped: ${engine.skip})` : title, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let seq = 0;
    const timescale = engine.mode === 'timescaledb';
    const open = (lifecycle: LifecycleOptions, logger: Logger = quiet) =>
      Storage.open({ databaseUrl: db.url, logger, timescale: timescale ? 'auto' : 'off', lifecycle });
    const batch = (gateway: string, samples: Sample[]): Batch => ({ v: BATCH_VERSION, gateway, seq: ++seq, createdAt: 0, samples });

    /** Every bucket of `point` at `step` as [start, count, sum]. */
    async function buckets(storage: Storage, gateway: string, point: string, step: RollupStep) {
      const rows = await storage.rollups.series({ points: [{ gateway, point }], from: 0, to: Date.now() + 400 * DAY, step });
      return rows.map((r) => [r.bucket, r.count, r.sum]);
    }

    async function rawCount(storage: Storage, gateway: string, point: string): Promise<number> {
      const { rows } = await storage.pool.query(
        `SELECT count(*)::int AS n FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = $2`,
        [gateway, point],
      );
      return rows[0].n;
    }

    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `lifecycle_${engine.mode}`);
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('drops samples older than their retention and hourly rollups older than theirs, keeps the daily and monthly rollups, and never recomputes them from what is left', async () => {
      // Three days of samples, five years, four years and two days old: written while everything
      // was kept forever, so that their rollups exist.
      // The old days start on the 10th of their UTC month: each lies in one partition.
      const tenth = (age: number) => monthStart(monthOf(Date.now() - age)) + 9 * DAY;
      const ages = { old: tenth(5 * YEAR), mid: tenth(4 * YEAR), recent: Math.floor((Date.now() - 2 * DAY) / HOUR) * HOUR };
      const writer = await open({ retention: { samples: 'forever', hour: 'forever' } });
      const before: Record<string, unknown[][][]> = {};
      try {
        for (const [point, from] of Object.entries(ages)) await writer.writeBatches([batch('aging', hourly(point, from, from + 24 * HOUR))]);
        for (const point of Object.keys(ages))
          before[point] = await Promise.all((['hour', 'day', 'month'] as const).map((step) => buckets(writer, 'aging', point, step)));
      } finally {
        await writer.close();
      }
      expect(before.old!.map((rows) => rows.length > 0)).toEqual([true, true, true]);

      // The operator now keeps samples 3 years and hourly rollups 4½ years, and restarts.
      const { logger, messages } = recorder();
      const storage = await open({ retention: { samples: '3 years', hour: '4 years 6 months' } }, logger);
      try {
        if (timescale) {
          await runJobs(storage.pool, 'policy_retention', ['samples', 'rollup_hour']);
        } else {
          // The pass at start did the work; a pass now finds nothing more to remove.
          expect(messages).toContainEqual(expect.stringMatching(/^retention: dropped 2 partition\(s\) of samples, deleted 24 hour rollup row\(s\)$/));
          expect(await storage.lifecycle!.enforceRetention()).toEqual({ droppedPartitions: [], deletedRows: { hour: 0, day: 0, month: 0 } });
          const { rows } = await storage.pool.query(
            `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass`,
          );
          const names = rows.map((r) => r.relname);
          expect(names).not.toContain(partitionName(monthOf(ages.old)));
          expect(names).not.toContain(partitionName(monthOf(ages.mid)));
          expect(names).toContain(partitionName(monthOf(ages.recent)));
        }
        const after = async (point: string) => Promise.all((['hour', 'day', 'month'] as const).map((step) => buckets(storage, 'aging', point, step)));
        expect([await rawCount(storage, 'aging', 'old'), await rawCount(storage, 'aging', 'mid'), await rawCount(storage, 'aging', 'recent')]).toEqual([
          0, 0, 24,
        ]);
        expect(await after('old')).toEqual([[], before.old![1], before.old![2]]);
        expect(await after('mid')).toEqual(before.mid);
        expect(await after('recent')).toEqual(before.recent);

        // A late sample four years old: stored (until the next pass), rolled up nowhere, since
        // recomputing its hour, day and month from the samples left would erase them.
        expect(await storage.writeBatches([batch('aging', [{ point: 'mid', time: ages.mid + HOUR / 2, value: 100, quality: 'good' }])])).toEqual({
          inserted: 1,
          duplicates: 0,
        });
        expect(await rawCount(storage, 'aging', 'mid')).toBe(1);
        if (timescale) await runJobs(storage.pool, 'policy_refresh_continuous_aggregate', ['rollup_hour', 'rollup_day', 'rollup_month']);
        expect(await after('mid')).toEqual(before.mid);
        expect(await after('old')).toEqual([[], before.old![1], before.old![2]]);
        expect(await after('recent')).toEqual(before.recent);
      } finally {
        await storage.close();
      }
    });

    it('applies changed settings at the next start, and leaves unchanged policies as they are', async () => {
      if (!timescale) {
        // Plain PostgreSQL: each pass obeys the settings of the process that runs it.
        const old = monthStart(monthOf(Date.now() - 10 * YEAR)) + 9 * DAY;
        const keeping = await open({ retention: { samples: 'forever' } });
        try {
          await keeping.writeBatches([batch('settings', hourly('m', old, old + 2 * HOUR))]);
          expect((await keeping.lifecycle!.enforceRetention()).droppedPartitions).toEqual([]);
          expect(await rawCount(keeping, 'settings', 'm')).toBe(2);
        } finally {
          await keeping.close();
        }
        const shorter = await open({ retention: { samples: '5 years' } });
        try {
          expect(await rawCount(shorter, 'settings', 'm')).toBe(0);
        } finally {
          await shorter.close();
        }
        return;
      }
      const startWith = async (lifecycle: LifecycleOptions) => {
        const { logger, messages } = recorder();
        const storage = await open(lifecycle, logger);
        try {
          return { jobs: await jobs(storage.pool), changes: messages.filter((m) => m.startsWith('storage policies changed')) };
        } finally {
          await storage.close();
        }
      };
      const defaults = await startWith({});
      const interval = (j: Record<string, { interval: string | null }>) => Object.fromEntries(Object.entries(j).map(([k, v]) => [k, v.interval]));
      expect(interval(defaults.jobs)).toEqual({
        'policy_compression samples': '7 days',
        'policy_retention samples': '3 years',
        'policy_retention rollup_hour': '10 years',
        'policy_refresh_continuous_aggregate rollup_hour': '3 years',
        'policy_refresh_continuous_aggregate rollup_day': '3 years',
        'policy_refresh_continuous_aggregate rollup_month': '3 years',
      });
      // The same settings again: the same jobs, untouched.
      const same = await startWith({});
      expect(same.jobs).toEqual(defaults.jobs);
      expect(same.changes).toEqual([]);

      const changed = await startWith({ compressAfter: '30 days', retention: { samples: '5 years', day: '20 years' } });
      expect(interval(changed.jobs)).toEqual({
        'policy_compression samples': '30 days',
        'policy_retention samples': '5 years',
        'policy_retention rollup_hour': '10 years',
        'policy_retention rollup_day': '20 years',
        'policy_refresh_continuous_aggregate rollup_hour': '5 years',
        'policy_refresh_continuous_aggregate rollup_day': '5 years',
        'policy_refresh_continuous_aggregate rollup_month': '5 years',
      });
      expect(changed.jobs['policy_retention rollup_hour']!.id).toBe(defaults.jobs['policy_retention rollup_hour']!.id);
      expect(changed.jobs['policy_refresh_continuous_aggregate rollup_day']!.id).toBe(defaults.jobs['policy_refresh_continuous_aggregate rollup_day']!.id);
      expect(changed.changes).toHaveLength(1);

      const forever = await startWith({ retention: { samples: 'forever' } });
      expect(interval(forever.jobs)).toEqual({
        'policy_compression samples': '7 days',
        'policy_retention rollup_hour': '10 years',
        'policy_refresh_continuous_aggregate rollup_hour': '10 years',
        'policy_refresh_continuous_aggregate rollup_day': '10 years',
        'policy_refresh_continuous_aggregate rollup_month': '10 years',
      });
    });

    it(timescale ? 'says at start after what age samples are compressed' : 'says once at start that plain PostgreSQL does not compress', async () => {
      const { logger, messages } = recorder();
      const storage = await open({ compressAfter: '14 days' }, logger);
      await storage.close();
      const pattern = timescale
        ? /^storage: compress samples after 14 days; keep samples 3 years, hour 10 years, day forever, month forever$/
        : /no compression on plain PostgreSQL/;
      expect(messages.filter((m) => pattern.test(m))).toHaveLength(1);
    });

    it.skipIf(!timescale)(
      timescale
        ? 'runs compression and each retention once a day at a time of its own, the first time at the next of these times, never as the storage opens'
        : 'schedules TimescaleDB jobs (skipped: plain PostgreSQL has none)',
      async () => {
        const scheduleOf = async (storage: Storage) => {
          const read = async () =>
            (
              await storage.pool.query<{ job: string; fixed: boolean; every: string; at: string; first: Date; next: Date | number; now: Date }>(
                `SELECT proc_name || ' ' || hypertable_name AS job, fixed_schedule AS fixed, schedule_interval::text AS every,
                        to_char(initial_start AT TIME ZONE 'UTC', 'HH24:MI') AS at, initial_start AS first, next_start AS next, now() AS now
                   FROM timescaledb_information.jobs
                  WHERE hypertable_schema = current_schema() AND proc_name IN ('policy_compression', 'policy_retention') ORDER BY 1`,
              )
            ).rows;
          // TimescaleDB's scheduler, starting on a database it has just found, may show a job's
          // next start as ±infinity for a moment (pg reads it as a number): wait for its dates.
          let seen: string[] = [];
          const rows = await waitFor(
            async () => {
              const found = await read();
              seen = found.map((r) => String(r.next));
              return found.every((r) => r.next instanceof Date) ? (found as (Omit<(typeof found)[number], 'next'> & { next: Date })[]) : undefined;
            },
            10_000,
            () => `the jobs' next starts stayed ${seen.join(', ')}`,
          );
          for (const r of rows) {
            // The first run is the next of the job's times to come, within a day.
            expect(r.next.getTime()).toBe(r.first.getTime());
            expect(r.first.getTime()).toBeGreaterThan(r.now.getTime() - 1000);
            expect(r.first.getTime() - r.now.getTime()).toBeLessThanOrEqual(DAY);
          }
          return Object.fromEntries(rows.map((r) => [r.job, `${r.fixed ? 'fixed' : 'floating'} ${r.every} at ${r.at}`]));
        };
        const expected = {
          'policy_compression samples': `fixed 1 day at ${COMPRESSION_TIME}`,
          'policy_retention samples': `fixed 1 day at ${RETENTION_TIMES.samples}`,
          'policy_retention rollup_hour': `fixed 1 day at ${RETENTION_TIMES.hour}`,
          'policy_retention rollup_day': `fixed 1 day at ${RETENTION_TIMES.day}`,
        };
        expect(new Set([COMPRESSION_TIME, ...Object.values(RETENTION_TIMES)]).size).toBe(5);
        const { logger, messages } = recorder();
        const storage = await open({ retention: { day: '30 years' } }, logger);
        try {
          expect(await scheduleOf(storage)).toEqual(expected);
          // Policies a hub of an earlier version added (TimescaleDB's defaults: started at once,
          // every day or every 12 hours from then) are moved to their times at the next start.
          await storage.pool.query(
            `SELECT alter_job(job_id, fixed_schedule => false, schedule_interval => INTERVAL '12 hours', next_start => now())
               FROM timescaledb_information.jobs WHERE hypertable_schema = current_schema() AND proc_name IN ('policy_compression', 'policy_retention')`,
          );
        } finally {
          await storage.close();
        }
        const again = await open({ retention: { day: '30 years' } }, logger);
        try {
          expect(await scheduleOf(again)).toEqual(expected);
        } finally {
          await again.close();
        }
        expect(messages.filter((m) => m.startsWith('storage policies changed')).at(-1)).toBe(
          `storage policies changed: compression of samples daily at ${COMPRESSION_TIME} UTC; retention of samples daily at ${RETENTION_TIMES.samples} UTC; ` +
            `retention of rollup_hour daily at ${RETENTION_TIMES.hour} UTC; retention of rollup_day daily at ${RETENTION_TIMES.day} UTC`,
        );
      },
    );

    it.skipIf(!timescale)(
      timescale
        ? 'stores late and duplicate samples written into compressed chunks once each, and rolls the late ones up'
        : 'stores late and duplicate samples written into compressed chunks once each (skipped: plain PostgreSQL does not compress)',
      async () => {
        const storage = await open({});
        try {
          // Three local days (Europe/Paris) from midnight, 10 January 2026, every 15 minutes, value 1.
          const from = Date.UTC(2026, 0, 9, 23);
          const quarter = 15 * 60_000;
          const every = (point: string, dayIndex: number, offset: number, value: number): Sample[] =>
            Array.from({ length: 96 }, (_, i) => ({ point, time: from + dayIndex * DAY + i * quarter + offset, value, quality: 'good' as const }));
          const points = ['c.a', 'c.b'];
          const original = points.flatMap((p) => [0, 1, 2].flatMap((d) => every(p, d, 0, 1)));
          expect(await storage.writeBatches([batch('compressed', original)])).toEqual({ inserted: 576, duplicates: 0 });
          await buckets(storage, 'compressed', 'c.a', 'day'); // rolled up before compression
          // The compression policy is paused meanwhile: a run of it compressing the same chunks
          // in another session makes compress_chunk fail ("already compressed"), whatever
          // if_not_compressed says. Only this test's chunks: retention jobs may be dropping other
          // tests' old chunks of this database meanwhile, and compress_chunk then fails with
          // "chunk not found".
          await withJobPaused(storage.pool, 'policy_compression', 'samples', () =>
            storage.pool.query(
              `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('samples', newer_than => $1::timestamptz, older_than => $2::timestamptz) c`,
              [new Date(from - 8 * DAY), new Date(from + 11 * DAY)],
            ),
          );
          const { rows: chunks } = await storage.pool.query(
            `SELECT bool_and(is_compressed) AS all FROM timescaledb_information.chunks WHERE hypertable_name = 'samples' AND range_end > $1 AND range_start < $2`,
            [new Date(from), new Date(from + 3 * DAY)],
          );
          expect(chunks).toEqual([{ all: true }]);

          // Late samples of day 1 (7½ minutes after each quarter, value 2) with day 2 again (value 99), through INSERT …
          const late1 = points.flatMap((p) => every(p, 0, quarter / 2, 2));
          const again2 = points.flatMap((p) => every(p, 1, 0, 99));
          expect(await storage.writeBatches([batch('compressed', [...late1, ...again2])])).toEqual({ inserted: 192, duplicates: 192 });
          // … and late samples of day 3 (value 3) with day 1 and its late samples again, through COPY.
          storage.copyMinRows = 1;
          const late3 = points.flatMap((p) => every(p, 2, quarter / 2, 3));
          const again1 = points.flatMap((p) => [...every(p, 0, 0, 99), ...every(p, 0, quarter / 2, 99)]);
          expect(await storage.writeBatches([batch('compressed', [...late3, ...again1])])).toEqual({ inserted: 192, duplicates: 384 });

          const { rows } = await storage.pool.query(
            `SELECT p.point_key AS point, count(*)::int AS n, count(DISTINCT s.time)::int AS times, sum(s.value) AS sum, count(*) FILTER (WHERE s.value = 99)::int AS replaced
               FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'compressed' GROUP BY 1 ORDER BY 1`,
          );
          expect(rows).toEqual(points.map((point) => ({ point, n: 480, times: 480, sum: 288 + 96 * 2 + 96 * 3, replaced: 0 })));
          const day = (d: number) => new Date(from + d * DAY).toISOString();
          expect(await buckets(storage, 'compressed', 'c.a', 'day')).toEqual([
            [day(0), 192, 96 + 96 * 2],
            [day(1), 96, 96],
            [day(2), 192, 96 + 96 * 3],
          ]);
          expect(await buckets(storage, 'compressed', 'c.b', 'month')).toEqual([[day(-9), 480, 768]]);
        } finally {
          await storage.close();
        }
      },
    );
  });
}
