/**
 * Abuse benchmark: `npm run bench:abuse` at the repository root.
 *
 * A real hub process (`citypilot hub run`) on a database of its own with a month of 15-minute
 * readings of 10 buildings × 10 points, put through three abuses in turn while /healthz is probed
 * every 50 ms on a connection and a thread of its own:
 * 1. a flood of 100,000 anonymous writes (POST and PUT on the write routes, 64 in flight), every
 *    one to be refused;
 * 2. 20 anonymous clients reading the heaviest public route for 30 s (the heaviest is chosen in
 *    the run: the slowest of the candidate public reads, timed on the idle hub);
 * 3. a 200,000-row CSV import of service data by an operator.
 * Between phases it waits (60 s at most, and says how long) until /healthz is fast again, so that
 * what one phase left running (audit writes, abandoned queries) is not counted in the next.
 * For each it prints the hub's RSS growth (peak during the phase over RSS at its start, from
 * /proc) and the /healthz p99 (a probe unanswered after 10 s counts as 10 s), against the
 * /healthz p99 of the idle hub in the same run; targets:
 * RSS growth ≤ 100 MB, /healthz p99 ≤ 100 ms, the import's answer ≤ 1 MB. Ends with one JSON line:
 * {"floodRssGrowthMB", "floodHealthzP99Ms", "heavyReadHealthzP99Ms", "importRssGrowthMB",
 * "importAnswerKB", "idleHealthzP99Ms"}; the other figures (the heavy read's RSS growth, the
 * import's /healthz p99) are in the lines before it.
 *
 * Runs on the PostgreSQL and NATS of DATABASE_URL / NATS_URL, or those on the standard ports, or
 * ones it starts (like `citypilot demo`); creates its own database and streams and removes them.
 * Options: --writes N, --clients N, --seconds N, --rows N.
 */
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { freePort, machineDescription, percentile, readProc, round, sleep, wholeNumberOptions } from '@citypilot/sdk/bench';
import { createToken } from '../auth/tokens.js';
import type { HealthProbeResult, HealthProbeSettings } from './health-probe.js';
import { ServiceData } from '../service-data/index.js';
import { ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, deleteStreams, hubEnv, startHubProcess, uniqueStreamNames, type CliProcess } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};
const DAY = 86_400_000;
const PROBE_EVERY_MS = 50;
/** A probe unanswered this long counts as this long: the hub is not healthy either way. */
const PROBE_TIMEOUT_MS = 10_000;
const IMPORT_SOURCE = 'bench-import';
/** A candidate heavy read unanswered this long is heavy enough; it is not waited for. */
const CANDIDATE_LIMIT_MS = 15_000;
/** How long the hub may take to answer /healthz quickly again after a phase, before the next one. */
const SETTLE_LIMIT_MS = 60_000;

/** An answer's status and size; the body is counted, not kept, unless `keep`. */
interface Answer {
  status: number;
  bytes: number;
  text?: string;
}

/** One HTTP request on `agent`'s connections. */
function send(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; keep?: boolean; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.body !== undefined ? { 'content-length': String(Buffer.byteLength(options.body)) } : {}) };
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers, timeout: options.timeoutMs }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keep) chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text: options.keep ? Buffer.concat(chunks).toString('utf8') : undefined }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** What one phase did to the hub: its RSS growth and the latencies of /healthz meanwhile. */
interface PhaseFigures {
  rssGrowthMB: number;
  healthzP99Ms: number;
  healthzMaxMs: number;
  probes: number;
  failedProbes: number;
}

/**
 * Runs `work` while a worker thread (health-probe.ts) probes /healthz every 50 ms, one probe at a
 * time on a connection of its own (a slow answer delays the next probe, and counts), and samples
 * the hub's RSS: on an event loop of its own, so that the load made here does not delay it.
 */
async function measured<T>(hubPid: number, port: number, work: () => Promise<T>): Promise<{ result: T; figures: PhaseFigures }> {
  const settings: HealthProbeSettings = { port, pid: hubPid, everyMs: PROBE_EVERY_MS, timeoutMs: PROBE_TIMEOUT_MS };
  const worker = new Worker(new URL('./health-probe.js', import.meta.url), { workerData: settings });
  try {
    await once(worker, 'online');
    const result = await work();
    const answer = once(worker, 'message');
    worker.postMessage('stop');
    const [probes] = (await answer) as [HealthProbeResult];
    const mb = (bytes: number) => bytes / 2 ** 20;
    return {
      result,
      figures: {
        rssGrowthMB: round(mb(probes.rssMaxBytes - probes.rssStartBytes)),
        healthzP99Ms: round(percentile(probes.latencies, 99)),
        healthzMaxMs: round(Math.max(...probes.latencies)),
        probes: probes.latencies.length,
        failedProbes: probes.failed,
      },
    };
  } finally {
    await worker.terminate();
  }
}

function describePhase(name: string, f: PhaseFigures, idleP99: number): string {
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return (
    `${name}: RSS growth ${f.rssGrowthMB} MB (target ≤ 100 MB: ${verdict(f.rssGrowthMB <= 100)}), ` +
    `/healthz p99 ${f.healthzP99Ms} ms, max ${f.healthzMaxMs} ms over ${f.probes} probes, ${f.failedProbes} not 200 ` +
    `(idle p99 ${idleP99} ms; target ≤ 100 ms: ${verdict(f.healthzP99Ms <= 100)})`
  );
}

/**
 * Waits until /healthz answers within 100 ms five times in a row (what the previous phase left
 * running, such as abandoned queries, is over), at most SETTLE_LIMIT_MS; says how long it took.
 */
async function settle(port: number, after: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const started = performance.now();
  let fast = 0;
  try {
    while (fast < 5 && performance.now() - started < SETTLE_LIMIT_MS) {
      const t0 = performance.now();
      const answer = await send(agent, port, 'GET', '/healthz', { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => ({ status: 0, bytes: 0 }));
      fast = answer.status === 200 && performance.now() - t0 <= 100 ? fast + 1 : 0;
      await sleep(PROBE_EVERY_MS);
    }
  } finally {
    agent.destroy();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(fast >= 5 ? `  the hub recovered from ${after} in ${seconds} s` : `  the hub had not recovered from ${after} after ${seconds} s; going on`);
}

/** The city's readings: 10 buildings × 10 points read every 15 minutes for the last 32 days. */
async function generate(storage: Storage, now: number): Promise<number> {
  const pool = storage.pool;
  const from = new Date(now - 32 * DAY);
  await storage.partitions.ensurePartitions(from.getTime(), now);
  await pool.query(
    `INSERT INTO gateways (id, building_key) SELECT format('bench-b%s', lpad(b::text, 2, '0')), format('b%s', lpad(b::text, 2, '0')) FROM generate_series(1, 10) b`,
  );
  await pool.query(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags, interval_ms)
     SELECT g.id, format('meters.m%s', m), format('Meter %s', m), 'kWh', 'number', '{elec,meter,energy}', 900000
       FROM gateways g CROSS JOIN generate_series(1, 10) m`,
  );
  const { rowCount } = await pool.query(
    `INSERT INTO samples (point_id, time, value, quality)
     SELECT p.id, t, 1000.0 * p.id + k * 0.7, 'good'
       FROM points p, LATERAL generate_series($1::timestamptz, $2::timestamptz, INTERVAL '15 minutes') WITH ORDINALITY AS g(t, k)
      WHERE random() > 0.02`, // a few missing readings, as in a real month
    [from, new Date(now)],
  );
  await storage.rollups.rebuild({ from, to: new Date(now) });
  await pool.query('VACUUM ANALYZE samples');
  return rowCount ?? 0;
}

/** A CSV file of `rows` rows: one value per scope and day, 500 buildings over as many days as needed. */
function csvFile(dir: string, rows: number, now: number): { file: string; bytes: number } {
  const lines = ['date;lieu;visiteurs'];
  const scopes = 500;
  for (let i = 0; i < rows; i++) {
    const day = new Date(now - (2 + Math.floor(i / scopes)) * DAY);
    const date = `${String(day.getUTCDate()).padStart(2, '0')}/${String(day.getUTCMonth() + 1).padStart(2, '0')}/${day.getUTCFullYear()}`;
    lines.push(`${date};building:b${String(i % scopes).padStart(3, '0')};${(i * 7) % 300}`);
  }
  const text = lines.join('\n') + '\n';
  const file = join(dir, 'service-data.csv');
  writeFileSync(file, text);
  return { file, bytes: Buffer.byteLength(text) };
}

/** Public reads that may be the heaviest; each is timed on the idle hub and the slowest is used. */
function candidateReads(now: number): string[] {
  const day = (d: number) => new Date(now - d * DAY).toISOString();
  return [
    `/api/completeness?by=point&step=hour&from=${day(31)}&to=${day(0)}`,
    // The most hours by point the public may ask of this city (100 points × 96 hours, under the cap).
    `/api/completeness?by=point&step=hour&from=${day(4)}&to=${day(0)}`,
    `/api/completeness?by=building&step=day&from=${day(366)}&to=${day(0)}`,
    `/api/completeness?by=building&step=hour&from=${day(31)}&to=${day(0)}`,
    '/api/status',
    '/',
    '/api/buildings',
    '/api/objectives',
    '/api/openapi.json',
  ];
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), { writes: 100_000, clients: 20, seconds: 30, rows: 200_000 });
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  let hub: CliProcess | undefined;
  let streams: (() => Promise<void>) | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bench-abuse-'));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_abuse');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    console.log(`machine: ${machineDescription()}`);
    console.log(`software: PostgreSQL ${version}, storage ${storage.mode}`);
    const now = Date.now();
    const started = performance.now();
    const samples = await generate(storage, now);
    const serviceData = await ServiceData.open(storage.pool);
    await serviceData.defineSource(IMPORT_SOURCE, 'Bench import', { period: 'date', scopeColumn: 'lieu', columns: { visiteurs: 'visitors' } });
    const operator = (await createToken(storage.pool, { role: 'operator', label: 'bench:abuse import' }, 'bench')).token;
    await storage.close();
    storage = undefined;
    console.log(
      `city: 10 buildings × 10 points every 15 minutes for 32 days: ${samples.toLocaleString('en')} samples, rollups built, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const port = await freePort();
    const names = uniqueStreamNames('benchabuse');
    const natsUrl = services.natsUrl;
    streams = () => deleteStreams(natsUrl, names);
    hub = await startHubProcess(hubEnv(db.url, natsUrl, names, port), port);
    const pid = hub.child.pid!;

    // Baseline: the idle hub, probed the same way.
    const idle = await measured(pid, port, () => sleep(5000));
    const idleHealthzP99Ms = idle.figures.healthzP99Ms;
    console.log(`idle hub: /healthz p99 ${idleHealthzP99Ms} ms over ${idle.figures.probes} probes, RSS ${round((readProc(pid)?.rss ?? 0) / 2 ** 20)} MB`);

    // 1. Refused anonymous writes, on every write route, 64 in flight.
    const writes = [
      {
        method: 'POST',
        path: '/api/service-data',
        body: JSON.stringify({ values: [{ source: IMPORT_SOURCE, metric: 'visitors', scope: 'city', period: '2026-10-12', value: 1 }] }),
        type: 'application/json',
      },
      { method: 'PUT', path: '/api/objectives/flood', body: JSON.stringify({ key: 'flood', theme: 'energy' }), type: 'application/json' },
      { method: 'PUT', path: `/api/service-data/sources/${IMPORT_SOURCE}`, body: JSON.stringify({ name: 'flood' }), type: 'application/json' },
      { method: 'POST', path: `/api/service-data/import?source=${IMPORT_SOURCE}`, body: 'date;lieu;visiteurs\n01/10/2026;city;1\n', type: 'text/csv' },
      { method: 'POST', path: '/api/objectives/evaluate', body: '{}', type: 'application/json' },
    ];
    const statuses = new Map<number, number>();
    const flood = await measured(pid, port, async () => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < o.writes) {
            const w = writes[next++ % writes.length]!;
            const answer = await send(agent, port, w.method, w.path, { headers: { 'content-type': w.type }, body: w.body, timeoutMs: 60_000 }).catch(() => ({
              status: 0,
              bytes: 0,
            }));
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          }
        }),
      );
      return (performance.now() - t0) / 1000;
    });
    const accepted = [...statuses].filter(([s]) => s >= 200 && s < 300).reduce((a, [, n]) => a + n, 0);
    console.log(
      `flood: ${o.writes.toLocaleString('en')} anonymous writes in ${flood.result.toFixed(1)} s (${Math.round(o.writes / flood.result)}/s), answers ${[
        ...statuses,
      ]
        .sort()
        .map(([s, n]) => `${s || 'no answer'}×${n}`)
        .join(', ')}${accepted ? ` — ${accepted} ACCEPTED` : ''}`,
    );
    console.log(describePhase('flood', flood.figures, idleHealthzP99Ms));
    await settle(port, 'the flood');

    // 2. The heaviest public read: the slowest candidate on the idle hub.
    const timings: { path: string; ms: number; bytes: number }[] = [];
    for (const path of candidateReads(now)) {
      // A read still unanswered after CANDIDATE_LIMIT_MS is heavy enough: no need to wait for it.
      const candidates = new Agent({ keepAlive: false });
      const t0 = performance.now();
      const answer = await send(candidates, port, 'GET', path, { timeoutMs: CANDIDATE_LIMIT_MS }).catch(() => ({ status: 0, bytes: NaN }));
      candidates.destroy();
      if (answer.status !== 200)
        console.log(`  ${path}: ${answer.status ? `answered ${answer.status}, not a candidate` : `no answer within ${CANDIDATE_LIMIT_MS} ms`}`);
      // A read the hub refuses (a range over its limits) costs nothing; one it does not answer in time is the heaviest.
      if (answer.status === 200 || answer.status === 0) timings.push({ path, ms: performance.now() - t0, bytes: answer.bytes });
    }
    timings.sort((a, b) => b.ms - a.ms);
    console.log(
      `public reads on the idle hub: ${timings.map((t) => `${t.path.split('&from')[0]} ${t.ms.toFixed(0)} ms ${round(t.bytes / 1024)} KB`).join('; ')}`,
    );
    await settle(port, 'the candidate reads');
    const heaviest = timings[0]!.path;
    const reads = new Map<number, number>();
    const heavy = await measured(pid, port, async () => {
      const until = performance.now() + o.seconds * 1000;
      const readers = new Agent({ keepAlive: true, maxSockets: o.clients });
      const clients = Promise.all(
        Array.from({ length: o.clients }, async () => {
          while (performance.now() < until) {
            const answer = await send(readers, port, 'GET', heaviest).catch(() => ({ status: 0, bytes: 0 }));
            if (performance.now() < until) reads.set(answer.status, (reads.get(answer.status) ?? 0) + 1);
          }
        }),
      );
      // The phase lasts its time: reads still in flight at its end are abandoned (connection closed).
      await Promise.race([clients, sleep(o.seconds * 1000)]);
      readers.destroy();
      await clients;
    });
    console.log(
      `heavy read: ${o.clients} anonymous clients on ${heaviest} for ${o.seconds} s: answers ${
        [...reads]
          .sort()
          .map(([s, n]) => `${s || 'no answer'}×${n}`)
          .join(', ') || 'none'
      }`,
    );
    console.log(describePhase('heavy read', heavy.figures, idleHealthzP99Ms));
    await settle(port, 'the heavy read');

    // 3. A 200,000-row CSV import by an operator.
    const csv = csvFile(dir, o.rows, now);
    const body = readFileSync(csv.file);
    const imported = await measured(pid, port, async () => {
      const t0 = performance.now();
      const answer = await send(agent, port, 'POST', `/api/service-data/import?source=${IMPORT_SOURCE}&file=bench.csv`, {
        headers: { 'content-type': 'text/csv', authorization: `Bearer ${operator}` },
        body,
        keep: true,
        timeoutMs: 300_000,
      }).catch((error: Error) => ({ status: 0, bytes: 0, text: error.message }));
      return { answer, seconds: (performance.now() - t0) / 1000 };
    });
    const { answer, seconds } = imported.result;
    const importAnswerKB = round(answer.bytes / 1024);
    console.log(
      `import: ${o.rows.toLocaleString('en')} rows (${round(csv.bytes / 2 ** 20)} MB) answered ${answer.status || 'nothing'} in ${seconds.toFixed(1)} s, ` +
        `answer ${importAnswerKB} KB (target ≤ 1,024 KB: ${importAnswerKB <= 1024 ? 'met' : 'MISSED'})${answer.status === 200 || answer.status === 201 ? '' : `: ${(answer.text ?? '').slice(0, 300)}`}`,
    );
    console.log(describePhase('import', imported.figures, idleHealthzP99Ms));
    console.log(
      JSON.stringify({
        floodRssGrowthMB: flood.figures.rssGrowthMB,
        floodHealthzP99Ms: flood.figures.healthzP99Ms,
        heavyReadHealthzP99Ms: heavy.figures.healthzP99Ms,
        importRssGrowthMB: imported.figures.rssGrowthMB,
        importAnswerKB,
        idleHealthzP99Ms,
      }),
    );
  } finally {
    agent.destroy();
    const code = await hub?.stop();
    if (hub && code !== 0) console.error(`the hub exited with ${code}: ${hub.output().slice(-2000)}`);
    await streams?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await storage?.close().catch(() => undefined);
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`bench:abuse failed: ${error.message}`);
  process.exitCode = 1;
});
