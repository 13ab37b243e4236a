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
 * - a building's page (GET /api/buildings/{key}: meters, energy per m², trajectory, completeness),
 *   one request at a time: median.
 * Ends with one JSON line: {"buildings", "months", "evaluateAllMs", "apiP95Ms", "apiConcurrency", "buildingPageMs"}.
 * Options: --buildings N, --requests N, --concurrency N, --runs N.
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, wholeNumberOptions } from '@citypilot/sdk/bench';
import { freePort, ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { generateBenchCity } from './city.js';
import { loadObjectivesFile } from '../objectives/file.js';
import { Objectives } from '../objectives/objectives.js';
import { monthsAgo } from '../objectives/routes.js';
import { createTestDatabase, deleteStreams, hubEnv, startHubProcess, uniqueStreamNames, type CliProcess } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

const DEFAULTS = { buildings: 200, requests: 5000, concurrency: 50, runs: 5 };

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
    const { samples } = await generateBenchCity(storage, o);
    console.log(
      `city: ${o.buildings} buildings on 10 sites, 3 points each read daily since 2024-01-01: ${samples.toLocaleString('en')} samples, rollups built, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const tz = storage.rollups.timezone;
    const objectives = new Objectives({ pool: storage.pool, timezone: tz });
    for (const file of ['energy.yaml', 'services.yaml'])
      for (const d of loadObjectivesFile(join(repoRoot, 'hub', 'objectives', file))) await objectives.define(d, 'bench');
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
    const port = await freePort();
    const names = uniqueStreamNames('benchobj');
    const natsUrl = services.natsUrl;
    streams = () => deleteStreams(natsUrl, names);
    hub = await startHubProcess({ ...hubEnv(db.url, natsUrl, names, port), HUB_ANONYMOUS_READS: String(10 * o.requests) }, port);
    const base = `http://127.0.0.1:${port}`;
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
    // A building's page (the dashboard's): one client at a time, so that the figure is the page's own.
    const pages: number[] = [];
    for (let i = 0; i < 20; i++) {
      const u = `/api/buildings/b${String(1 + ((i * 37) % o.buildings)).padStart(3, '0')}`;
      const t = performance.now();
      const r = await fetch(base + u);
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`${u}: ${r.status}`);
      pages.push(performance.now() - t);
    }
    const buildingPageMs = Math.round(percentile(pages, 50) * 10) / 10;
    console.log(
      `building page (/api/buildings/{key}, one client): median ${buildingPageMs} ms, max ${Math.max(...pages).toFixed(1)} ms over ${pages.length} buildings (target ≤ 100 ms: ${buildingPageMs <= 100 ? 'met' : 'MISSED'})`,
    );
    console.log(JSON.stringify({ buildings: o.buildings, months: 12, evaluateAllMs, apiP95Ms, apiConcurrency: o.concurrency, buildingPageMs }));
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
