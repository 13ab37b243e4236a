/**
 * Objectives benchmark: `npm run bench:objectives` at the repository root.
 *
 * A city of 200 buildings on 10 sites, each with an electricity meter, a heat meter and an
 * outdoor temperature sensor read daily since 2024 (rollups built), and the shipped objectives
 * (hub/objectives/). Measures:
 * - evaluating every objective for every building, site and the city over the last 12 months,
 *   results stored (Objectives.evaluate), median of several runs; baseline in the same run: the
 *   naive way, one SQL question per building and month for one objective;
 * - the KPI API of a real hub process (`citypilot hub run`) under 50 concurrent clients reading
 *   objectives, histories and drill-downs: p50/p95/p99 latency.
 * Ends with one JSON line: {"buildings", "months", "evaluateAllMs", "apiP95Ms", "apiConcurrency"}.
 * Options: --buildings N, --requests N, --concurrency N, --runs N.
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, wholeNumberOptions } from '@citypilot/sdk/bench';
import { freePort, ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { loadObjectivesFile } from '../objectives/file.js';
import { Objectives } from '../objectives/objectives.js';
import { monthsAgo } from '../objectives/routes.js';
import { createTestDatabase, deleteStreams, spawnCli, waitFor, type CliProcess } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quiet = { debug() {}, info() {}, warn: (o: object, m?: string) => console.error('warn:', m, o), error: (o: object, m?: string) => console.error('error:', m, o) };

const DEFAULTS = { buildings: 200, requests: 5000, concurrency: 50, runs: 5 };
type Options = typeof DEFAULTS;

/** The city: catalog, one gateway per building, daily readings from 2024 to now, rollups. */
async function generate(storage: Storage, o: Options): Promise<{ samples: number }> {
  const pool = storage.pool;
  await pool.query(`INSERT INTO organisations (key, name) VALUES ('bench-city', 'Bench city')`);
  await pool.query(`INSERT INTO sites (organisation_id, key, name) SELECT o.id, format('site-%s', s), format('Site %s', s) FROM organisations o, generate_series(1, 10) s`);
  await pool.query(
    `INSERT INTO buildings (site_id, key, name, usage, area_m2, energy_reference_year, light_points)
     SELECT s.id, format('b%s', lpad(b::text, 3, '0')), format('Building %s', b), (ARRAY['school', 'town-hall', 'gymnasium', 'library', 'offices'])[1 + b % 5],
            800 + (b * 37) % 4000, 2024, CASE WHEN b % 20 = 0 THEN 400 END
       FROM generate_series(1, $1) b JOIN sites s ON s.key = format('site-%s', 1 + b % 10)`,
    [o.buildings],
  );
  await pool.query(`INSERT INTO gateways (id, building_key) SELECT key, key FROM buildings`);
  await pool.query(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags)
     SELECT g.id, p.key, p.key, p.unit, 'number', p.tags FROM gateways g CROSS JOIN (VALUES
       ('elec.energy', 'kWh', '{elec,meter,energy}'::text[]), ('heat.energy', 'kWh', '{heat,meter,energy}'::text[]), ('outdoor.temp', '°C', '{air,temp,outside,sensor}'::text[])
     ) AS p(key, unit, tags)`,
  );
  const from = new Date(Date.UTC(2024, 0, 1));
  const to = new Date();
  await storage.partitions.ensurePartitions(from.getTime(), to.getTime());
  const { rowCount } = await pool.query(
    `INSERT INTO samples (point_id, time, value, quality)
     SELECT p.id, t,
            CASE WHEN p.point_key = 'outdoor.temp' THEN 11 - 8 * cos(2 * pi() * extract(doy FROM t) / 365)
                 ELSE k * (50 + p.id % 40) * (CASE WHEN p.point_key = 'heat.energy' THEN 1.5 ELSE 1 END) * (1 - 0.00005 * k) END,
            'good'
       FROM points p, LATERAL generate_series($1::timestamptz, $2::timestamptz, INTERVAL '1 day') WITH ORDINALITY AS g(t, k)`,
    [from, to],
  );
  await storage.rollups.rebuild({ from, to });
  for (const t of storage.mode === 'timescaledb' ? ['samples'] : ['samples', 'rollup_hour', 'rollup_day', 'rollup_month']) await pool.query(`VACUUM ANALYZE ${t}`);
  return { samples: rowCount ?? 0 };
}

/** The naive way, for the baseline: one SQL question per building and month (energy per m², one objective). */
async function naive(storage: Storage, months: string[]): Promise<number> {
  const started = performance.now();
  const { rows: buildings } = await storage.pool.query<{ key: string; area_m2: number }>('SELECT key, area_m2 FROM buildings ORDER BY key');
  for (const b of buildings) {
    for (const month of months) {
      await storage.pool.query(
        `SELECT sum(r.last_value - coalesce(prev.last_value, r.first_value)) / $3 AS v
           FROM rollup_month r JOIN points p ON p.id = r.point_id JOIN gateways g ON g.id = p.gateway_id
           LEFT JOIN rollup_month prev ON prev.point_id = r.point_id AND prev.bucket = ((r.bucket AT TIME ZONE $4) - INTERVAL '1 month') AT TIME ZONE $4
          WHERE g.building_key = $1 AND p.tags @> '{meter,energy}' AND r.bucket = ($2 || '-01')::timestamp AT TIME ZONE $4`,
        [b.key, month, b.area_m2, storage.rollups.timezone],
      );
    }
  }
  return performance.now() - started;
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), DEFAULTS);
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  let hub: CliProcess | undefined;
  let streams: (() => Promise<void>) | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_objectives');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`software: node ${process.version}, PostgreSQL ${version}, storage ${storage.mode}`);
    const started = performance.now();
    const { samples } = await generate(storage, o);
    console.log(`city: ${o.buildings} buildings on 10 sites, 3 points each read daily since 2024-01-01: ${samples.toLocaleString('en')} samples, rollups built, in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const tz = storage.rollups.timezone;
    const objectives = new Objectives({ pool: storage.pool, timezone: tz });
    for (const file of ['energy.yaml', 'services.yaml']) for (const d of loadObjectivesFile(join(repoRoot, 'hub', 'objectives', file))) await objectives.define(d, 'bench');
    const fromMonth = monthsAgo(11, tz);
    const runs: number[] = [];
    let last;
    for (let i = 0; i < o.runs; i++) {
      const t = performance.now();
      last = await objectives.evaluate({ fromMonth });
      runs.push(performance.now() - t);
    }
    const evaluateAllMs = Math.round(percentile(runs, 50));
    console.log(
      `evaluate all: ${last!.objectives} objectives, ${last!.results.toLocaleString('en')} results (buildings, sites, city × 12 months or their year) in ${runs.map((r) => r.toFixed(0)).join(', ')} ms; ` +
        `last run: load ${last!.timings.loadMs.toFixed(0)} ms, compute ${last!.timings.computeMs.toFixed(0)} ms, store ${last!.timings.storeMs.toFixed(0)} ms`,
    );
    const months = Array.from({ length: 12 }, (_, i) => monthsAgo(11 - i, tz));
    const naiveMs = await naive(storage, months);
    console.log(`baseline: one SQL question per building and month for one objective: ${o.buildings * 12} questions in ${naiveMs.toFixed(0)} ms`);
    console.log(`median: ${evaluateAllMs} ms for every objective (target ≤ 1,000 ms: ${evaluateAllMs <= 1000 ? 'met' : 'MISSED'})`);

    // The API of a real hub process on the same database.
    const port = await freePort(0);
    const names = { prefix: `cpbench.obj.${port}`, stream: `CPBENCH_OBJ_${port}`, durable: 'hub-ingest' };
    const natsUrl = services.natsUrl;
    streams = () => deleteStreams(natsUrl, names);
    hub = spawnCli(['hub', 'run'], { ...process.env, DATABASE_URL: db.url, NATS_URL: natsUrl, HUB_PORT: String(port), LOG_LEVEL: 'warn', HUB_ANONYMOUS_READS: String(10 * o.requests), CITYPILOT_STREAM: names.stream, CITYPILOT_SUBJECT_PREFIX: names.prefix });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok, 30_000, `the hub did not start: ${hub.output()}`);
    const keys = ['energy-per-m2-dd', 'tertiary-decree', 'lighting-energy-per-point', 'reception-waiting-time'];
    const period = months.at(-2)!;
    const urls = [
      '/api/objectives',
      '/api/objectives?theme=energy',
      ...keys.map((k) => `/api/objectives/${k}/results?scope=city`),
      `/api/objectives/energy-per-m2-dd/results?scope=building:b042`,
      `/api/objectives/energy-per-m2-dd/drilldown?period=${period}`,
      `/api/objectives/energy-per-m2-dd/drilldown?period=${period}&scope=site:site-3`,
      `/api/objectives/tertiary-decree/drilldown?period=${period.slice(0, 4)}&scope=building:b007`,
    ];
    for (const u of urls) {
      const r = await fetch(base + u);
      if (!r.ok) throw new Error(`${u}: ${r.status} ${await r.text()}`);
    }
    const latencies: number[] = [];
    let next = 0;
    const apiStarted = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.requests) {
          const u = urls[next++ % urls.length]!;
          const t = performance.now();
          const r = await fetch(base + u);
          await r.arrayBuffer();
          if (!r.ok) throw new Error(`${u}: ${r.status}`);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - apiStarted) / 1000;
    const apiP95Ms = Math.round(percentile(latencies, 95) * 10) / 10;
    console.log(
      `API: ${o.requests} requests from ${o.concurrency} concurrent clients over ${urls.length} KPI URLs in ${seconds.toFixed(1)} s (${Math.round(o.requests / seconds)} req/s): ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${apiP95Ms} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms (target p95 ≤ 50 ms: ${apiP95Ms <= 50 ? 'met' : 'MISSED'})`,
    );
    console.log(JSON.stringify({ buildings: o.buildings, months: 12, evaluateAllMs, apiP95Ms, apiConcurrency: o.concurrency }));
  } finally {
    await hub?.stop();
    await streams?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await storage?.close().catch(() => undefined);
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench:objectives failed: ${error.message}`);
  process.exitCode = 1;
});
