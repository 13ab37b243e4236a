/**
 * Gateway benchmark: `npm run bench --prefix gateway`.
 *
 * A gateway process (`node gateway/dist/cli.js run`) polls 5,000 Modbus points every 10 s for
 * 10 minutes from simulated devices (10 devices of 500 points, served by a separate process),
 * keeps them in its outbox and forwards them to a JetStream stream made for the run (no hub:
 * the stream takes the batches, and is deleted at the end). Its RSS and CPU time are read from
 * /proc every second; after a warm-up, the steady state is reported: RSS max and mean, CPU in
 * percent of one core. The warm-up covers the start (loading the configuration, which makes
 * some 200 MB of short-lived garbage for 5,000 points, and the first connections); the peak of
 * the whole run, start included, is printed too. In the same run and window, a baseline process reads the same registers
 * with the same Modbus library and nothing else (baseline-process.ts), so that the gateway's
 * overhead shows. Prints the machine first and ends with one JSON line:
 * {"points", "intervalSeconds", "rssMB", "cpuPercent", …} (rssMB is the steady-state maximum,
 * rssStartupPeakMB the peak of the whole run).
 * Targets from the issue: at most 150 MB and 10 % of one core.
 *
 * Environment: BENCH_DURATION (default 10m), BENCH_WARMUP (default 1m, at most a quarter of
 * the duration), BENCH_POINTS (5000), BENCH_INTERVAL (10s), NATS_URL (default: a nats-server
 * started for the run from the machine's binary).
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { isBitTable, registerCount, PROTOCOL_LIMITS } from '@citypilot/protocol-modbus';
import { parseDuration, subjects } from '@citypilot/sdk';
import { syntheticDevices, syntheticGatewayYaml, type SyntheticDevice } from '../testing/synthetic-site.js';
import type { BaselineRead, BaselineSetup } from './baseline-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = join(here, '..', 'cli.js');
const POINTS_PER_DEVICE = 500;
const TARGET_RSS_MB = 150;
const TARGET_CPU_PERCENT = 10;

function setting(name: string, fallback: string, parse: (text: string) => number): number {
  const text = process.env[name] || fallback;
  let value: number;
  try {
    value = parse(text);
  } catch {
    value = NaN;
  }
  if (!(value > 0)) throw new Error(`${name}=${JSON.stringify(text)}: expected ${parse === Number ? 'a positive whole number' : 'a duration such as 60s or 10m'}`);
  return value;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
function clockTicks(): number {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return n > 0 ? n : 100;
}

/** RSS (bytes) and CPU time (user + system, in clock ticks) of a process, from /proc. */
function readProc(pid: number): { rss: number; ticks: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return { rss: rssKb * 1024, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** What the sampler saw of one process after the warm-up. */
interface Usage {
  rssMaxMB: number;
  rssMeanMB: number;
  cpuPercent: number;
  /** RSS at the end of the warm-up and at the end: a steady state moves little between them. */
  rssStartMB: number;
  rssEndMB: number;
  /** Highest RSS seen at any time, the start (loading the configuration) included. */
  rssPeakMB: number;
}

class ProcessSampler {
  private readonly rss: number[] = [];
  private peak = 0;
  private startTicks = 0;
  private startAt = 0;
  private last: { rss: number; ticks: number; at: number } | undefined;

  constructor(
    readonly pid: number,
    private readonly hz: number,
  ) {}

  /** Starts the steady-state window. */
  begin(): void {
    const p = readProc(this.pid);
    if (!p) throw new Error(`process ${this.pid} is gone`);
    this.startTicks = p.ticks;
    this.startAt = performance.now();
  }

  sample(): void {
    const p = readProc(this.pid);
    if (!p) throw new Error(`process ${this.pid} is gone`);
    this.last = { ...p, at: performance.now() };
    this.peak = Math.max(this.peak, p.rss);
    if (this.startAt) this.rss.push(p.rss);
  }

  usage(): Usage {
    if (!this.last || !this.rss.length) throw new Error('no samples after the warm-up');
    const mb = (bytes: number) => bytes / 2 ** 20;
    const seconds = (this.last.at - this.startAt) / 1000;
    return {
      rssMaxMB: mb(Math.max(...this.rss)),
      rssMeanMB: mb(this.rss.reduce((a, b) => a + b, 0) / this.rss.length),
      cpuPercent: ((this.last.ticks - this.startTicks) / this.hz / seconds) * 100,
      rssStartMB: mb(this.rss[0]!),
      rssEndMB: mb(this.rss[this.rss.length - 1]!),
      rssPeakMB: mb(this.peak),
    };
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function jetStreamAt(url: string): Promise<NatsConnection | undefined> {
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
      return nc;
    } catch {
      await nc.close();
    }
  } catch {
    // Nothing there.
  }
  return undefined;
}

/**
 * NATS_URL, else a nats-server of the run's own started from the machine's binary (stopped by
 * `stop`), with its default settings.
 */
async function findNats(dir: string): Promise<{ url: string; nc: NatsConnection; origin: string; stop: () => Promise<void> }> {
  if (process.env.NATS_URL) {
    const nc = await jetStreamAt(process.env.NATS_URL);
    if (!nc) throw new Error(`NATS_URL=${process.env.NATS_URL}: no NATS server with JetStream answers there`);
    return { url: process.env.NATS_URL, nc, origin: 'NATS_URL', stop: async () => undefined };
  }
  const binary = [...(process.env.PATH ?? '').split(':').map((d) => join(d, 'nats-server')), '/usr/sbin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p));
  if (!binary) throw new Error('no nats-server to start: install it (Debian: apt-get install nats-server) or set NATS_URL to a server with JetStream');
  const port = await freePort();
  const config = join(dir, 'nats-server.conf');
  writeFileSync(config, `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(join(dir, 'nats'))} }\n`);
  const child = spawn(binary, ['-c', config], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  };
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const nc = await jetStreamAt(url);
    if (nc) return { url, nc, origin: `a nats-server started for the run (${binary})`, stop };
    await sleep(200);
  }
  await stop();
  throw new Error(`${binary} did not start on port ${port}`);
}

/** Each device's contiguous ranges, as one request can read them, for the baseline. */
function baselineReads(device: SyntheticDevice): BaselineRead[] {
  const reads: BaselineRead[] = [];
  for (const table of ['holding', 'input', 'coil', 'discrete'] as const) {
    const points = device.points.filter((p) => p.sim.table === table).sort((a, b) => a.sim.address - b.sim.address);
    const max = isBitTable(table) ? PROTOCOL_LIMITS.readBits : PROTOCOL_LIMITS.readRegisters;
    let read: BaselineRead | undefined;
    for (const p of points) {
      const size = isBitTable(table) ? 1 : registerCount(p.sim.type);
      if (!read || p.sim.address !== read.address + read.count || read.count + size > max) {
        read = { table, address: p.sim.address, count: 0, values: [] };
        reads.push(read);
      }
      read.values.push({ offset: p.sim.address - read.address, type: p.sim.type as BaselineRead['values'][number]['type'], lowWordFirst: p.sim.order === 'CDAB' });
      read.count += size;
    }
  }
  return reads;
}

function forkReady<T>(file: string, args: string[], ready: (message: unknown) => T | undefined, setup?: object): Promise<{ child: ChildProcess; value: T }> {
  const child = fork(join(here, file), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (setup) child.send(setup);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${file} exited (${code})`)));
    const listener = (m: unknown) => {
      const value = ready(m);
      if (value === undefined) return;
      child.off('message', listener);
      resolve({ child, value });
    };
    child.on('message', listener);
  });
}

function ask<T>(child: ChildProcess, question: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(question);
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const durationMs = setting('BENCH_DURATION', '10m', parseDuration);
  const points = setting('BENCH_POINTS', '5000', Number);
  const intervalMs = setting('BENCH_INTERVAL', '10s', parseDuration);
  const warmupMs = Math.min(setting('BENCH_WARMUP', '1m', parseDuration), durationMs / 4);
  const hz = clockTicks();
  const cpu = cpus()[0];
  console.log(`Machine: ${cpu?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${round(totalmem() / 2 ** 30)} GB memory, Node ${process.version} on ${process.platform}/${process.arch}`);

  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bench-gateway-'));
  const children: ChildProcess[] = [];
  const nats = await findNats(dir);
  const suffix = randomBytes(4).toString('hex');
  const prefix = `cpbench.${suffix}`;
  const stream = `CPBENCH_GATEWAY_${suffix}`;
  const jsm = await jetstreamManager(nats.nc);
  try {
    // The hub's stream without a hub: it takes the batches (duplicates dropped on the message id).
    await jsm.streams.add({ name: stream, subjects: [subjects(prefix).telemetryAll], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: 120_000_000_000 });
    const devices = syntheticDevices(points, POINTS_PER_DEVICE);
    const simulators = await forkReady('simulators-process.js', [String(points), String(POINTS_PER_DEVICE)], (m) => (m as { ports?: number[] }).ports);
    children.push(simulators.child);
    const ports = simulators.value;
    console.log(`Devices: ${devices.length} simulated Modbus TCP devices of up to ${POINTS_PER_DEVICE} points (${points} in all: 40 % float32, 20 % uint32, 30 % int16, 10 % coils) in process ${simulators.child.pid}`);
    console.log(`NATS: ${nats.url} (${nats.origin}), stream ${stream}`);

    const statusPort = await freePort();
    const statusUrl = `http://127.0.0.1:${statusPort}`;
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, syntheticGatewayYaml(devices, { gatewayId: 'bench', natsUrl: nats.url, subjectPrefix: prefix, ports, interval: `${intervalMs}ms`, dataDir: 'data', statusPort }));
    const gateway = spawn(process.execPath, [cliPath, 'run', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(gateway);
    const gatewayExit = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    for (let i = 0; ; i++) {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited (${gateway.exitCode})`);
      if (await fetch(`${statusUrl}/healthz`).then((r) => r.ok, () => false)) break;
      if (i > 300) throw new Error('the gateway did not start within 60 s');
      await sleep(200);
    }

    // The baseline polls half an interval after the gateway, so the two never meet at the devices.
    const setup: BaselineSetup = { devices: devices.map((d, i) => ({ port: ports[i]!, reads: baselineReads(d) })), intervalMs, offsetMs: intervalMs / 2 };
    const baseline = await forkReady('baseline-process.js', [], (m) => (m === 'started' ? true : undefined), setup);
    children.push(baseline.child);

    console.log(`Gateway ${gateway.pid} and baseline ${baseline.child.pid}: ${points} points every ${intervalMs / 1000} s for ${durationMs / 1000} s, warm-up ${warmupMs / 1000} s…\n`);
    const samplers = [new ProcessSampler(gateway.pid!, hz), new ProcessSampler(baseline.child.pid!, hz)] as const;
    const started = performance.now();
    let began = false;
    let nextReport = 30_000;
    while (performance.now() - started < durationMs) {
      await sleep(1000);
      const elapsed = performance.now() - started;
      for (const s of samplers) s.sample();
      if (!began && elapsed >= warmupMs) {
        for (const s of samplers) s.begin();
        began = true;
      }
      if (elapsed >= nextReport) {
        nextReport += 30_000;
        const now = readProc(gateway.pid!);
        console.log(`  ${Math.round(elapsed / 1000)} s: gateway RSS ${round((now?.rss ?? 0) / 2 ** 20)} MB${began ? '' : ' (warming up)'}`);
      }
    }
    const [g, b] = [samplers[0].usage(), samplers[1].usage()];

    const status = (await (await fetch(`${statusUrl}/api/status`)).json()) as { devices: { cycles: number; skipped: number; state: string }[]; outbox: { depth: number; dropped: number } };
    const accepted = await metric(statusUrl, 'citypilot_gateway_samples_accepted_total');
    const forwarded = await metric(statusUrl, 'citypilot_gateway_samples_forwarded_total');
    const base = await ask<{ cycles: number; values: number; errors: number }>(baseline.child, 'count');
    const streamInfo = await jsm.streams.info(stream);
    gateway.kill('SIGTERM');
    const exitCode = await gatewayExit;

    const cycles = Math.min(...status.devices.map((d) => d.cycles));
    const skipped = status.devices.reduce((n, d) => n + d.skipped, 0);
    const failing = status.devices.filter((d) => d.state !== 'ok').length;
    const row = (name: string, u: Usage, extra: string) =>
      `${name.padEnd(10)} RSS max ${String(round(u.rssMaxMB)).padStart(6)} MB  mean ${String(round(u.rssMeanMB)).padStart(6)} MB  (${round(u.rssStartMB)} → ${round(u.rssEndMB)})  CPU ${String(round(u.cpuPercent, 2)).padStart(5)} % of one core  ${extra}`;
    console.log(row('Gateway', g, `${cycles} cycles, ${skipped} skipped, ${accepted} samples accepted, ${forwarded} forwarded (${streamInfo.state.messages} batches, ${round(streamInfo.state.bytes / 2 ** 20)} MB in the stream), outbox ${status.outbox.depth} waiting, ${status.outbox.dropped} dropped, ${failing} devices failing; exit ${exitCode}`));
    console.log(row('Baseline', b, `${base.cycles} cycles, ${base.values} values read, ${base.errors} errors`));
    console.log(`Gateway RSS peak at any time, start included: ${round(g.rssPeakMB)} MB (baseline ${round(b.rssPeakMB)} MB)`);
    console.log(`Gateway overhead over the baseline: RSS +${round(g.rssMeanMB - b.rssMeanMB)} MB (mean), CPU +${round(g.cpuPercent - b.cpuPercent, 2)} points of one core`);
    const meets = g.rssMaxMB <= TARGET_RSS_MB && g.cpuPercent <= TARGET_CPU_PERCENT;
    console.log(`Targets (at most ${TARGET_RSS_MB} MB RSS and ${TARGET_CPU_PERCENT} % of one core): ${meets ? 'met' : 'MISSED'}.`);
    if (failing || forwarded < accepted - status.outbox.depth) console.log('WARNING: the gateway did not poll and forward everything; the figures are not those of a healthy run.');
    console.log(
      JSON.stringify({
        points,
        intervalSeconds: intervalMs / 1000,
        rssMB: round(g.rssMaxMB),
        cpuPercent: round(g.cpuPercent, 2),
        rssMeanMB: round(g.rssMeanMB),
        rssStartupPeakMB: round(g.rssPeakMB),
        samplesForwarded: forwarded,
        baselineRssMB: round(b.rssMaxMB),
        baselineRssMeanMB: round(b.rssMeanMB),
        baselineCpuPercent: round(b.cpuPercent, 2),
      }),
    );
  } finally {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      if (child.connected) child.send('stop');
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(timer);
    }
    await jsm.streams.delete(stream).catch(() => undefined);
    await nats.nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
