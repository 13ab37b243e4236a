/**
 * Open data download benchmark: `npm run bench:open-data` at the repository root.
 *
 * The hourly readings of 600 electricity meters over a year (600 × 8,760 = 5,256,000 rows of
 * `rollup_hour`, all points published, dataset `point-hourly` switched on) downloaded as CSV
 * through the hub's API (`GET /api/open-data/datasets/point-hourly/data.csv`), the API running
 * in a process of its own (open-data-server.ts) whose RSS is read from /proc every 100 ms. In
 * the same run, the limit: `COPY (<the statement the API runs>) TO STDOUT` of the same rows
 * read by this process with pg-copy-streams, bytes discarded. The two are run alternately,
 * COPY first, `--runs` times each, and the best run of each is reported. Targets: the API at
 * ≥ 0.5 of COPY's rows/s, and the hub's RSS growth during the downloads ≤ 100 MB. Ends with
 * one JSON line: {"rows", "rowsPerSecond", "copyRowsPerSecond", "ratio", "rssGrowthMB"}.
 *
 * Runs on the PostgreSQL of DATABASE_URL, or the one on the standard port, or one it starts
 * (like `citypilot demo`), without TimescaleDB (rollup_hour is then a table the benchmark can
 * fill directly); creates its own database and drops it. Options: --points N, --hours N,
 * --runs N.
 */
import type { ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { forkReady, machineDescription, readProc, round, sleep, wholeNumberOptions } from '@citypilot/sdk/bench';
import { datasetById } from '../open-data/datasets.js';
import { OpenData } from '../open-data/open-data.js';
import { datasetStatement, parseDatasetQuery } from '../open-data/query.js';
import { ensureServices, type Services } from '../services/local-services.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const DATASET = 'point-hourly';
const BUILDINGS = 10;
const GATEWAYS = 20;
/** The first hour of the year loaded, local (Europe/Paris, the hub's default time zone). */
const FIRST_HOUR = '2025-01-01 00:00:00+01';
/** Points whose rows one INSERT loads: the load reports its progress between them. */
const POINTS_PER_INSERT = 50;
const RSS_EVERY_MS = 100;
const RSS_TARGET_MB = 100;
const RATIO_TARGET = 0.5;
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};
const MB = 2 ** 20;

/** One read of the whole CSV: its rows (newlines less the header), bytes and seconds. */
interface Read {
  rows: number;
  bytes: number;
  seconds: number;
}

/** Newlines in a chunk of CSV (the generated names hold none, so each ends a row). */
function newlines(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * The catalog (buildings), the gateways and their meters, the meters' hourly rollups generated
 * in SQL, every meter published and the dataset switched on.
 *
 * Each meter is read every 15 minutes and its value is its index in kWh: an hour's four
 * readings are the index at :00, :15, :30 and :45, so `min` and `first` are the index at the
 * start of the hour, `max` and `last` the index at :45, the mean halfway. The hour's energy has
 * a base load that depends on the meter, more in winter, and more on weekdays from 8:00 to 18:00.
 */
async function load(storage: Storage, points: number, hours: number): Promise<void> {
  const pool = storage.pool;
  await importCatalog(pool, {
    organisation: { id: 'city', name: 'City' },
    sites: [
      {
        id: 'centre',
        name: 'Centre',
        buildings: Array.from({ length: BUILDINGS }, (_, i) => ({ id: `b${i}`, name: `Building ${i}`, usage: 'school' as const, area: 1000 + 250 * i })),
      },
    ],
  });
  const gateways = Math.min(GATEWAYS, points);
  await pool.query(
    `INSERT INTO gateways (id, building_key, last_seen)
     SELECT 'bench-gw-' || lpad(g::text, 2, '0'), 'b' || (g % ${BUILDINGS}), now() FROM generate_series(0, $1 - 1) g`,
    [gateways],
  );
  await pool.query(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags, interval_ms)
     SELECT 'bench-gw-' || lpad((i % $2)::text, 2, '0'), 'meters.elec-energy-' || i, 'Electricity meter ' || i, 'kWh', 'number',
            ARRAY['elec', 'meter', 'energy'], 900000
       FROM generate_series(0, $1 - 1) i ORDER BY i`,
    [points, gateways],
  );
  const ids = (await pool.query<{ id: string }>(`SELECT id FROM points ORDER BY id`)).rows.map((r) => Number(r.id));
  for (let from = 0; from < ids.length; from += POINTS_PER_INSERT) {
    const chunk = ids.slice(from, from + POINTS_PER_INSERT);
    await pool.query(
      `INSERT INTO rollup_hour (point_id, bucket, n, sum, min, max, first_time, first_value, last_time, last_value)
       SELECT p.id, h.bucket, 4, 4 * h.start + 1.5 * h.kwh, h.start, h.start + 0.75 * h.kwh, h.bucket, h.start,
              h.bucket + INTERVAL '45 minutes', h.start + 0.75 * h.kwh
         FROM unnest($1::bigint[]) WITH ORDINALITY AS p (id, i)
         CROSS JOIN LATERAL (
           SELECT e.bucket, e.kwh, round((10000 * p.i + sum(e.kwh) OVER (ORDER BY e.k) - e.kwh)::numeric, 3)::float8 AS start
             FROM (SELECT k, $2::timestamptz + k * INTERVAL '1 hour' AS bucket,
                          round(((2 + (p.i % 17) * 0.5) * (1 + 0.4 * cos(2 * pi() * (k / 24) / 365.0))
                                 + CASE WHEN (k / 24 + 2) % 7 < 5 AND k % 24 BETWEEN 8 AND 17 THEN 6 + p.i % 5 ELSE 0 END
                                 + (k % 13) * 0.05)::numeric, 3)::float8 AS kwh
                     FROM generate_series(0, $3 - 1) k) e
         ) h`,
      [chunk, FIRST_HOUR, hours],
    );
    if ((from / POINTS_PER_INSERT) % 4 === 3 || from + POINTS_PER_INSERT >= ids.length)
      console.log(`  loaded the rollups of ${Math.min(from + POINTS_PER_INSERT, ids.length)} of ${ids.length} points`);
  }
  await pool.query(`INSERT INTO open_data_points (point_id, published_by) SELECT id, 'bench' FROM points`);
  const openData = new OpenData({ pool, timezone: storage.rollups.timezone });
  try {
    await openData.setDataset(DATASET, { enabled: true }, 'bench');
  } finally {
    await openData.close();
  }
  // Hint bits and statistics set now, so that no read below pays for them and the plans are informed.
  await pool.query(`VACUUM (ANALYZE) rollup_hour`);
  await pool.query(`ANALYZE points, gateways, open_data_points`);
}

/** The whole COPY of `statement` as CSV with its header, counted and discarded. */
async function copyRead(client: pg.Client, statement: string): Promise<Read> {
  const started = performance.now();
  const stream = client.query(copyTo(`COPY (${statement}) TO STDOUT WITH (FORMAT csv, HEADER true)`));
  let lines = 0;
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    lines += newlines(chunk);
    bytes += chunk.length;
  }
  return { rows: lines - 1, bytes, seconds: (performance.now() - started) / 1000 };
}

/** GET `path` on the hub, the body counted and discarded. */
function httpRead(port: number, path: string): Promise<Read> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = get({ host: '127.0.0.1', port, path }, (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c.slice(0, 500)));
        res.on('end', () => reject(new Error(`GET ${path}: ${res.statusCode} ${text.slice(0, 500)}`)));
        return;
      }
      let lines = 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        lines += newlines(chunk);
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ rows: lines - 1, bytes, seconds: (performance.now() - started) / 1000 }));
      res.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** Reads `pid`'s RSS every 100 ms until `stop`: the highest value and how many reads were made. */
function watchRss(pid: number): { stop: () => { peak: number; reads: number } } {
  let peak = 0;
  let reads = 0;
  const read = () => {
    const p = readProc(pid);
    if (p) {
      peak = Math.max(peak, p.rss);
      reads++;
    }
  };
  read();
  const timer = setInterval(read, RSS_EVERY_MS);
  return {
    stop: () => {
      clearInterval(timer);
      read();
      return { peak, reads };
    },
  };
}

const perSecond = (r: Read) => r.rows / r.seconds;
const describeRead = (r: Read) =>
  `${r.rows.toLocaleString('en')} rows, ${round(r.bytes / MB)} MB in ${r.seconds.toFixed(2)} s: ${Math.round(perSecond(r)).toLocaleString('en')} rows/s, ${round(r.bytes / MB / r.seconds)} MB/s`;

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.send('stop');
  else child.kill('SIGTERM');
  const clean = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!clean) {
    console.error('cleanup: the API process did not stop within 10 s: killed');
    child.kill('SIGKILL');
    await exited;
  }
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), { points: 600, hours: 8760, runs: 2 });
  const expected = o.points * o.hours;
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  let server: ChildProcess | undefined;
  let copyClient: pg.Client | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_open_data');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const tz = storage.rollups.timezone;
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    console.log(`machine: ${machineDescription()}`);
    console.log(`software: PostgreSQL ${version}, storage ${storage.mode} (${storage.modeDetail}), time zone ${tz}`);
    console.log(
      `load: ${o.points} electricity meters on ${Math.min(GATEWAYS, o.points)} gateways in ${BUILDINGS} buildings × ${o.hours.toLocaleString('en')} hours from ${FIRST_HOUR} = ${expected.toLocaleString('en')} rows of rollup_hour, all published, dataset ${DATASET} on`,
    );
    const loadStarted = performance.now();
    await load(storage, o.points, o.hours);
    console.log(`load: done in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s (generated in SQL, then VACUUM ANALYZE)`);

    // The statement the API runs for the download, for the COPY baseline; on a connection set
    // as the API's download connections are (jit=off), so that only the path differs.
    const dataset = datasetById(DATASET)!;
    const statement = datasetStatement(dataset, parseDatasetQuery(dataset, {}, false), pg.escapeLiteral(tz), 'columns', { inline: true }).text;
    copyClient = new pg.Client({ connectionString: db.url, options: '-c jit=off' });
    await copyClient.connect();

    const started = await forkReady(join(here, 'open-data-server.js'), (m) => (m as { port?: number } | null)?.port, { args: [db.url] });
    server = started.child;
    const port = started.value;
    const pid = server.pid!;
    const csvPath = `/api/open-data/datasets/${DATASET}/data.csv`;
    const firstPoint = (await storage.pool.query<{ id: string }>(`SELECT min(id) AS id FROM points`)).rows[0]!.id;
    const warmUp = await httpRead(port, `${csvPath}?point_id=${firstPoint}`);
    if (warmUp.rows !== o.hours) throw new Error(`the warm-up download of one point gave ${warmUp.rows} rows, not ${o.hours}`);
    const rssBefore = readProc(pid)!.rss;
    console.log(
      `hub API: pid ${pid}, port ${port}; warm-up download of one point (${warmUp.rows.toLocaleString('en')} rows) done; RSS before the downloads ${round(rssBefore / MB)} MB`,
    );

    const copies: Read[] = [];
    const downloads: Read[] = [];
    let peak = rssBefore;
    let rssReads = 0;
    for (let run = 1; run <= o.runs; run++) {
      const copy = await copyRead(copyClient, statement);
      copies.push(copy);
      console.log(`run ${run}, COPY … TO STDOUT (bench process, pg-copy-streams): ${describeRead(copy)}`);
      const watch = watchRss(pid);
      let download: Read;
      try {
        download = await httpRead(port, csvPath);
      } finally {
        const seen = watch.stop();
        peak = Math.max(peak, seen.peak);
        rssReads += seen.reads;
      }
      downloads.push(download);
      console.log(`run ${run}, GET ${csvPath} (hub API process): ${describeRead(download)}; hub RSS peak so far ${round(peak / MB)} MB`);
      for (const [what, read] of [
        ['COPY', copy],
        ['the API', download],
      ] as const) {
        if (read.rows !== expected) throw new Error(`run ${run}: ${what} gave ${read.rows} rows, not ${o.points} × ${o.hours} = ${expected}`);
      }
      if (download.bytes !== copy.bytes) throw new Error(`run ${run}: the API sent ${download.bytes} bytes, COPY ${copy.bytes}: not the same CSV`);
    }

    const best = (reads: Read[]) => reads.reduce((a, b) => (perSecond(b) > perSecond(a) ? b : a));
    const rowsPerSecond = perSecond(best(downloads));
    const copyRowsPerSecond = perSecond(best(copies));
    const ratio = rowsPerSecond / copyRowsPerSecond;
    const rssGrowthMB = (peak - rssBefore) / MB;
    console.log(
      `order: COPY then API, ${o.runs} time(s) each; figures below are the best (fastest) run of each, RSS growth the highest peak of all API runs over the RSS before the first`,
    );
    console.log(`rows: ${expected.toLocaleString('en')} (${o.points} points × ${o.hours.toLocaleString('en')} hours), the same count from COPY and the API`);
    console.log(`COPY … TO STDOUT: ${Math.round(copyRowsPerSecond).toLocaleString('en')} rows/s`);
    console.log(`API download:     ${Math.round(rowsPerSecond).toLocaleString('en')} rows/s`);
    console.log(`ratio API / COPY: ${ratio.toFixed(2)} (target ≥ ${RATIO_TARGET}: ${ratio >= RATIO_TARGET ? 'met' : 'MISSED'})`);
    console.log(
      `hub RSS: ${round(rssBefore / MB)} MB before, ${round(peak / MB)} MB at the peak (${rssReads} reads, every ${RSS_EVERY_MS} ms): growth ${round(rssGrowthMB)} MB (target ≤ ${RSS_TARGET_MB} MB: ${rssGrowthMB <= RSS_TARGET_MB ? 'met' : 'MISSED'})`,
    );
    console.log(
      JSON.stringify({
        rows: expected,
        rowsPerSecond: Math.round(rowsPerSecond),
        copyRowsPerSecond: Math.round(copyRowsPerSecond),
        ratio: Math.round(ratio * 100) / 100,
        rssGrowthMB: round(rssGrowthMB),
      }),
    );
  } finally {
    if (server) await stopServer(server).catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await copyClient?.end().catch(() => undefined);
    await storage?.close().catch(() => undefined);
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench:open-data failed: ${error.message}`);
  process.exitCode = 1;
});
