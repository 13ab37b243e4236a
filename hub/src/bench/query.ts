/**
 * Rollup query benchmark: `npm run bench:query` at the repository root.
 *
 * Fills a fresh database with a year of 15-minute readings of 200 buildings × 3 energy meters
 * (about 21 million samples, generated in SQL), builds the rollups, then times "monthly energy
 * per building for the year" from the rollups (Rollups.energyByBuilding) against the same
 * question asked of the raw samples, a few runs each (median), and checks that both agree.
 * Ends with one JSON line: {"storage", "rows", "rollupMs", "rawMs"}.
 *
 * Runs on the PostgreSQL of DATABASE_URL, or the one on the standard port, or one it starts (like
 * `citypilot demo`); creates its own database and drops it. Options: --buildings N, --meters N,
 * --days N, --runs N, --timescale (fail unless the samples go to TimescaleDB).
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import type { BuildingEnergy } from '../storage/rollups.js';
import { createTestDatabase } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Options {
  buildings: number;
  meters: number;
  days: number;
  runs: number;
  timescale: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { buildings: 200, meters: 3, days: 365, runs: 5, timescale: false };
  const numeric = ['buildings', 'meters', 'days', 'runs'] as const;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = numeric.find((k) => a === `--${k}`);
    if (a === '--timescale') o.timescale = true;
    else if (key) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive whole number, not ${JSON.stringify(argv[i])}`);
      o[key] = n;
    } else throw new Error(`unknown option ${a} (options: ${numeric.map((k) => `--${k} N`).join(', ')}, --timescale)`);
  }
  return o;
}

const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

/** The raw-samples twin of Rollups.energyByBuilding (monthly): same meters, same arithmetic. */
const RAW_MONTHLY_ENERGY = `
  WITH meters AS (
    SELECT p.id, g.building_key FROM points p JOIN gateways g ON g.id = p.gateway_id
     WHERE g.building_key IS NOT NULL AND p.unit = 'kWh' AND 'meter' = ANY (p.tags)
  ), months AS (
    SELECT s.point_id, date_trunc('month', s.time, $3) AS bucket,
           (array_agg(s.value ORDER BY s.time))[1] AS first_value, (array_agg(s.value ORDER BY s.time DESC))[1] AS last_value
      FROM samples s JOIN meters m ON m.id = s.point_id
     WHERE s.value IS NOT NULL AND s.time >= (($1::timestamptz AT TIME ZONE $3) - INTERVAL '1 month') AT TIME ZONE $3 AND s.time < $2
     GROUP BY 1, 2
  ), readings AS (
    SELECT m.building_key, x.bucket, x.first_value, x.last_value,
           lag(x.last_value) OVER (PARTITION BY x.point_id ORDER BY x.bucket) AS previous
      FROM months x JOIN meters m ON m.id = x.point_id
  )
  SELECT building_key AS building, bucket, sum(last_value - coalesce(previous, first_value)) AS energy, count(*)::int AS meters
    FROM readings WHERE bucket >= $1
   GROUP BY building_key, bucket ORDER BY building_key, bucket`;

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Loads the readings: point-major (kind to the primary key), split over two connections. */
async function generate(storage: Storage, o: Options, from: Date, to: Date): Promise<number> {
  await storage.partitions.ensurePartitions(from.getTime(), to.getTime() - 1); // plain PostgreSQL: samples is partitioned by month
  await storage.pool.query(
    `INSERT INTO gateways (id, building_key) SELECT format('bench-gw-%s', lpad(b::text, 3, '0')), format('b%s', lpad(b::text, 3, '0')) FROM generate_series(1, $1) b`,
    [o.buildings],
  );
  await storage.pool.query(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags)
     SELECT g.id, format('meter-%s.energy', m), format('Meter %s', m), 'kWh', 'number', '{energy,meter}'
       FROM gateways g CROSS JOIN generate_series(1, $1) m WHERE g.id LIKE 'bench-gw-%'`,
    [o.meters],
  );
  const { rows } = await storage.pool.query<{ id: string }>('SELECT id FROM points ORDER BY id');
  const ids = rows.map((r) => Number(r.id));
  const parts = [ids.filter((_, i) => i % 2 === 0), ids.filter((_, i) => i % 2 === 1)];
  const counts = await Promise.all(
    parts.map(async (part) => {
      const client = await storage.pool.connect();
      try {
        await client.query('SET synchronous_commit = off');
        // A cumulative meter: each point advances at its own rate, with a daily rhythm.
        const r = await client.query(
          `INSERT INTO samples (point_id, time, value, quality)
           SELECT p, t, 1000.0 * p + k * (0.5 + (p % 10) * 0.1) + 0.2 * sin(k * pi() / 48), 'good'
             FROM unnest($1::bigint[]) AS p,
                  LATERAL generate_series($2::timestamptz, $3::timestamptz - INTERVAL '15 minutes', INTERVAL '15 minutes') WITH ORDINALITY AS g(t, k)`,
          [part, from, to],
        );
        return r.rowCount ?? 0;
      } finally {
        client.release();
      }
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

function agree(a: BuildingEnergy[], b: BuildingEnergy[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i]!;
      return (
        x.building === y.building && x.bucket === y.bucket && x.meters === y.meters && Math.abs(x.energy - y.energy) <= 1e-6 * Math.max(1, Math.abs(y.energy))
      );
    })
  );
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_query');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, poolSize: 4 });
    if (o.timescale && storage.mode !== 'timescaledb') throw new Error(`--timescale: the samples go to plain PostgreSQL (${storage.modeDetail})`);
    const tz = storage.rollups.timezone;
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`software: node ${process.version}, PostgreSQL ${version}, storage ${storage.mode} (${storage.modeDetail}), time zone ${tz}`);

    // The year (or --days) from local midnight of 1 January 2025.
    const span = (
      await storage.pool.query<{ from: Date; to: Date }>(
        `SELECT '2025-01-01 00:00'::timestamp AT TIME ZONE $1 AS from, ('2025-01-01 00:00'::timestamp + make_interval(days => $2)) AT TIME ZONE $1 AS to`,
        [tz, o.days],
      )
    ).rows[0]!;
    console.log(`load: ${o.buildings} buildings × ${o.meters} meters, every 15 minutes from ${span.from.toISOString()} to ${span.to.toISOString()}`);
    const load = await timed(() => generate(storage!, o, span.from, span.to));
    const rows = load.value;
    console.log(`generated ${rows.toLocaleString('en')} samples in ${(load.ms / 1000).toFixed(1)} s`);
    const build = await timed(() => storage!.rollups.rebuild(span));
    console.log(`rollups built in ${(build.ms / 1000).toFixed(1)} s`);
    const vacuum = await timed(async () => {
      for (const t of storage!.mode === 'timescaledb' ? ['samples'] : ['samples', 'rollup_hour', 'rollup_day', 'rollup_month'])
        await storage!.pool.query(`VACUUM ANALYZE ${t}`);
    });
    console.log(`vacuum analyze in ${(vacuum.ms / 1000).toFixed(1)} s`);
    const sizes = await storage.pool.query<{ step: string; n: number }>(
      `SELECT 'hour' AS step, count(*)::int AS n FROM rollup_hour UNION ALL SELECT 'day', count(*)::int FROM rollup_day UNION ALL SELECT 'month', count(*)::int FROM rollup_month`,
    );
    console.log(`rollup rows: ${sizes.rows.map((r) => `${r.step} ${r.n.toLocaleString('en')}`).join(', ')}`);

    const query = { from: span.from, to: span.to, step: 'month' as const };
    const rollupRuns: number[] = [];
    let fromRollups: BuildingEnergy[] = [];
    for (let i = 0; i < o.runs; i++) {
      const r = await timed(() => storage!.rollups.energyByBuilding(query));
      rollupRuns.push(r.ms);
      fromRollups = r.value;
    }
    console.log(`monthly energy per building from the rollups: ${rollupRuns.map((m) => m.toFixed(0)).join(', ')} ms (${fromRollups.length} rows)`);
    const rawRuns: number[] = [];
    let fromRaw: BuildingEnergy[] = [];
    const rawQuery = async (pool: pg.Pool) => {
      const { rows: r } = await pool.query(RAW_MONTHLY_ENERGY, [span.from, span.to, tz]);
      return r.map((x) => ({ building: x.building, bucket: x.bucket.toISOString(), energy: x.energy, meters: x.meters }));
    };
    for (let i = 0; i < Math.min(o.runs, 3); i++) {
      const r = await timed(() => rawQuery(storage!.pool));
      rawRuns.push(r.ms);
      fromRaw = r.value;
    }
    console.log(`the same from the raw samples: ${rawRuns.map((m) => m.toFixed(0)).join(', ')} ms (${fromRaw.length} rows)`);
    if (!agree(fromRollups, fromRaw)) throw new Error('the rollups and the raw samples disagree on monthly energy per building');
    console.log('rollups and raw samples agree');
    const rollupMs = Math.round(median(rollupRuns));
    const rawMs = Math.round(median(rawRuns));
    console.log(
      `median: rollups ${rollupMs} ms, raw ${rawMs} ms (${(rawMs / Math.max(1, rollupMs)).toFixed(0)}× faster), target ≤ 300 ms: ${rollupMs <= 300 ? 'met' : 'MISSED'}`,
    );
    console.log(JSON.stringify({ storage: storage.mode, rows, rollupMs, rawMs }));
  } finally {
    await storage?.close().catch(() => undefined);
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench:query failed: ${error.message}`);
  process.exitCode = 1;
});
