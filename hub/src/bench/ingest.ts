/**
 * Ingest throughput benchmark: `npm run bench:ingest` at the repository root.
 *
 * Publishes a realistic load into JetStream (by default 2,000,000 samples in batches of 1,000
 * from 100 gateways × 200 points, one sample per point and minute), then lets two hub ingest
 * workers drain it into a fresh database, and measures the sustained end-to-end rate. In the same
 * run it measures the baseline: a raw COPY of the same rows into an identical empty samples table.
 * Ends with one JSON line: {"storage", "samplesPerSecond", "copyRowsPerSecond", "ratio"}.
 *
 * Runs on the servers of NATS_URL / DATABASE_URL, or those on the standard ports, or ones it
 * starts (like `citypilot demo`); creates its own databases and streams and removes them.
 * Options: --samples N, --gateways N, --points N, --batch N, --workers N, --write-samples N,
 * --copy-min-rows N, --timescale (fail unless the samples go to TimescaleDB).
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { BATCH_VERSION, batchMessageId, encodeBatch, subjects, type Batch } from '@citypilot/sdk';
import { ensureIngestStreams, IngestWorker, type StreamNames } from '../ingest/ingest.js';
import { createHubMetrics } from '../metrics.js';
import { ensureServices, type Services } from '../services/local-services.js';
import { sampleTimeRange } from '../storage/partitions.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, deleteStreams, uniqueSuffix } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The whole run must stay bounded: the drain gives up after this. */
const DRAIN_TIMEOUT_MS = 120_000;

interface Options {
  samples: number;
  gateways: number;
  points: number;
  batch: number;
  workers: number;
  writeSamples?: number;
  copyMinRows?: number;
  timescale: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { samples: 2_000_000, gateways: 100, points: 200, batch: 1000, workers: 2, timescale: false };
  const numeric: Record<string, keyof Options> = {
    '--samples': 'samples',
    '--gateways': 'gateways',
    '--points': 'points',
    '--batch': 'batch',
    '--workers': 'workers',
    '--write-samples': 'writeSamples',
    '--copy-min-rows': 'copyMinRows',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--timescale') o.timescale = true;
    else if (numeric[a]) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} needs a whole number, not ${JSON.stringify(argv[i])}`);
      (o as unknown as Record<string, number>)[numeric[a]] = n;
    } else throw new Error(`unknown option ${a} (options: ${Object.keys(numeric).join(', ')}, --timescale)`);
  }
  return o;
}

const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

/**
 * The load: each gateway sends its points' samples in time order, `batch` samples per batch,
 * one sample per point and minute; its first batch announces its points. A few samples are
 * uncertain or bad, as in real buildings.
 */
function makeBatches(o: Options, t0: number): Batch[] {
  const perGateway = Math.ceil(o.samples / o.gateways);
  const batches: Batch[] = [];
  for (let g = 0; g < o.gateways; g++) {
    const gateway = `bench-gw-${String(g).padStart(3, '0')}`;
    let seq = 0;
    for (let i = 0; i < perGateway; i += o.batch) {
      const samples: Batch['samples'] = [];
      for (let j = i; j < Math.min(i + o.batch, perGateway); j++) {
        const p = j % o.points;
        const minute = Math.floor(j / o.points);
        const value = Math.round((20 + 5 * Math.sin((minute + p) / 30) + p / 10) * 100) / 100;
        const s: Batch['samples'][number] =
          (j * 7919) % 997 === 0
            ? { point: `plc.p${p}`, time: t0 + minute * 60_000, value: null, quality: 'bad', reason: 'timeout after 2000 ms' }
            : { point: `plc.p${p}`, time: t0 + minute * 60_000, value, quality: 'good' };
        samples.push(s);
      }
      const b: Batch = { v: BATCH_VERSION, gateway, seq: ++seq, createdAt: t0, samples };
      if (seq === 1) {
        b.points = Array.from({ length: o.points }, (_, p) => ({
          id: `plc.p${p}`,
          name: `Point ${p}`,
          unit: p % 2 ? '°C' : 'kWh',
          kind: 'number' as const,
          tags: p % 2 ? ['air', 'temp', 'sensor'] : ['elec', 'meter', 'energy'],
          source: { plugin: 'modbus', device: 'plc', address: { table: 'holding', address: p * 2 } },
          intervalMs: 60_000,
        }));
      }
      batches.push(b);
    }
  }
  // Gateways send concurrently: interleave them as JetStream would receive them.
  batches.sort((a, b) => a.seq - b.seq || (a.gateway < b.gateway ? -1 : 1));
  return batches;
}

async function publishAll(nc: NatsConnection, names: StreamNames, encoded: { subject: string; id: string; data: Uint8Array }[]): Promise<number> {
  const js = jetstream(nc);
  const started = performance.now();
  let next = 0;
  const inFlight = 64;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < encoded.length) {
        const m = encoded[next++]!;
        await js.publish(m.subject, m.data, { msgID: m.id, timeout: 30_000 });
      }
    }),
  );
  void names;
  return (performance.now() - started) / 1000;
}

/** Raw COPY of the same rows into an empty samples table: what the database alone can take. */
async function copyBaseline(url: string, rows: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    await client.query('BEGIN');
    const stream = client.query(copyFrom('COPY samples (point_id, time, value, text_value, quality, reason) FROM STDIN'));
    await pipeline(Readable.from(rows), stream);
    await client.query('COMMIT');
    return (performance.now() - started) / 1000;
  } finally {
    await client.end();
  }
}

function copyRows(batches: Batch[], ids: Map<string, number>): string[] {
  const chunks: string[] = [];
  let chunk = '';
  for (const b of batches) {
    for (const s of b.samples) {
      const id = ids.get(`${b.gateway}\0${s.point}`)!;
      chunk += `${id}\t${new Date(s.time).toISOString()}\t${s.value ?? '\\N'}\t\\N\t${s.quality}\t${s.reason ?? '\\N'}\n`;
    }
    if (chunk.length > 256 * 1024) {
      chunks.push(chunk);
      chunk = '';
    }
  }
  if (chunk) chunks.push(chunk);
  return chunks;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const runStarted = performance.now();
  let services: Services | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const suffix = uniqueSuffix();
    const names: StreamNames = { prefix: `cpbench.ingest.${suffix}`, stream: `CPBENCH_INGEST_${suffix}`, durable: 'hub-ingest' };
    const natsUrl = services.natsUrl;
    const db = await createTestDatabase(services.databaseUrl, 'bench_ingest');
    cleanups.push(db.drop);
    const baselineDb = await createTestDatabase(services.databaseUrl, 'bench_copy');
    cleanups.push(baselineDb.drop);

    const storage = await Storage.open({ databaseUrl: db.url, logger: quiet, poolSize: o.workers + 2 });
    cleanups.unshift(() => storage.close());
    if (o.copyMinRows !== undefined) storage.copyMinRows = o.copyMinRows;
    if (o.timescale && storage.mode !== 'timescaledb') throw new Error(`--timescale: the samples are not in TimescaleDB here (${storage.modeDetail})`);
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`software: node ${process.version}, PostgreSQL ${version}, storage ${storage.mode} (${storage.modeDetail})`);

    const nc = await connect({ servers: natsUrl, name: 'citypilot-bench-ingest' });
    cleanups.unshift(() => nc.close());
    cleanups.push(() => deleteStreams(natsUrl, names));
    await ensureIngestStreams(nc, names);

    const t0 = Date.UTC(2026, 0, 5, 0, 0, 0);
    const batches = makeBatches(o, t0);
    const total = batches.reduce((n, b) => n + b.samples.length, 0);
    const subj = subjects(names.prefix);
    const encoded = batches.map((b) => ({ subject: subj.telemetry(b.gateway), id: batchMessageId(b), data: encodeBatch(b) }));
    const bytes = encoded.reduce((n, m) => n + m.data.byteLength, 0);
    console.log(
      `load: ${total.toLocaleString('en')} samples in ${batches.length.toLocaleString('en')} batches of ${o.batch} from ${o.gateways} gateways × ${o.points} points, 1-minute spacing, ${(bytes / 2 ** 20).toFixed(0)} MiB of JSON`,
    );
    const publishSeconds = await publishAll(nc, names, encoded);
    console.log(`published into JetStream in ${publishSeconds.toFixed(2)} s (${Math.round(total / publishSeconds).toLocaleString('en')} samples/s)`);

    // Ingest: the workers drain the stream; first to last commit, as the workers see them.
    const metrics = createHubMetrics();
    const commits: { at: number; inserted: number }[] = [];
    let stored = 0;
    const write = storage.writeBatches.bind(storage);
    storage.writeBatches = async (b) => {
      const r = await write(b);
      stored += r.inserted;
      commits.push({ at: performance.now(), inserted: r.inserted });
      return r;
    };
    const workers = Array.from({ length: o.workers }, () => new IngestWorker({ nc, storage, names, logger: quiet, metrics, maxWriteSamples: o.writeSamples }));
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    for (const w of workers) w.start();
    cleanups.unshift(() => Promise.all(workers.map((w) => w.stop())));
    while (stored < total && performance.now() - started < DRAIN_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(workers.map((w) => w.stop()));
    const cpuUsed = process.cpuUsage(cpuBefore);
    if (stored < total) throw new Error(`only ${stored} of ${total} samples were stored within ${DRAIN_TIMEOUT_MS / 1000} s`);
    const last = commits.at(-1)!.at;
    const seconds = (last - started) / 1000;
    const firstToLast = (last - commits[0]!.at) / 1000;
    const samplesPerSecond = Math.round(total / seconds);
    const count = Number((await storage.pool.query('SELECT count(*) AS n FROM samples')).rows[0].n);
    if (count !== total) throw new Error(`the database holds ${count} samples, not ${total}`);
    const info = await (await jetstreamManager(nc)).consumers.info(names.stream, names.durable);
    const writes = commits.length;
    console.log(
      `ingest: ${o.workers} workers, ${writes} transactions (${Math.round(total / writes).toLocaleString('en')} samples each), ` +
        `${seconds.toFixed(2)} s from start to last commit (${firstToLast.toFixed(2)} s first to last commit): ` +
        `${samplesPerSecond.toLocaleString('en')} samples/s; hub process CPU ${((cpuUsed.user + cpuUsed.system) / 1e6).toFixed(1)} s; ` +
        `consumer left with ${info.num_pending + info.num_ack_pending} pending`,
    );

    // Baseline: the same rows, raw COPY into an identical empty samples table (same migrations).
    const baseline = await Storage.open({ databaseUrl: baselineDb.url, logger: quiet });
    const range = sampleTimeRange(batches);
    if (range) await baseline.partitions.ensurePartitions(range.from, range.to); // as writeBatches does
    await baseline.close();
    const ids = new Map<string, number>();
    for (const r of (await storage.pool.query<{ id: string; gateway_id: string; point_key: string }>('SELECT id, gateway_id, point_key FROM points')).rows) {
      ids.set(`${r.gateway_id}\0${r.point_key}`, Number(r.id));
    }
    const rows = copyRows(batches, ids);
    const copySeconds = await copyBaseline(baselineDb.url, rows);
    const copyRowsPerSecond = Math.round(total / copySeconds);
    console.log(
      `baseline: raw COPY (text) of the same ${total.toLocaleString('en')} rows into an empty samples table in ${copySeconds.toFixed(2)} s: ${copyRowsPerSecond.toLocaleString('en')} rows/s`,
    );
    const ratio = Math.round((samplesPerSecond / copyRowsPerSecond) * 1000) / 1000;
    console.log(
      `summary: ${samplesPerSecond.toLocaleString('en')} samples/s end to end = ${ratio} × raw COPY (target ≥ 150,000 samples/s and ≥ 0.3); whole run ${((performance.now() - runStarted) / 1000).toFixed(0)} s`,
    );
    console.log(JSON.stringify({ storage: storage.mode, samplesPerSecond, copyRowsPerSecond, ratio }));
  } finally {
    for (const c of cleanups) await c().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error) => {
  console.error(`bench:ingest failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
