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
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { isBitTable, registerCount, PROTOCOL_LIMITS } from '@citypilot/protocol-modbus';
import { parseDuration, subjects } from '@citypilot/sdk';
import {
  ask,
  clockTicks,
  findNats,
  forkReady,
  freePort,
  machineDescription,
  metric,
  ProcessSampler,
  readProc,
  round,
  sleep,
  type Usage,
} from '@citypilot/sdk/bench';
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
  if (!(value > 0))
    throw new Error(`${name}=${JSON.stringify(text)}: expected ${parse === Number ? 'a positive whole number' : 'a duration such as 60s or 10m'}`);
  return value;
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
      read.values.push({
        offset: p.sim.address - read.address,
        type: p.sim.type as BaselineRead['values'][number]['type'],
        lowWordFirst: p.sim.order === 'CDAB',
      });
      read.count += size;
    }
  }
  return reads;
}

async function main(): Promise<void> {
  const durationMs = setting('BENCH_DURATION', '10m', parseDuration);
  const points = setting('BENCH_POINTS', '5000', Number);
  const intervalMs = setting('BENCH_INTERVAL', '10s', parseDuration);
  const warmupMs = Math.min(setting('BENCH_WARMUP', '1m', parseDuration), durationMs / 4);
  const hz = clockTicks();
  console.log(`Machine: ${machineDescription()}`);

  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bench-gateway-'));
  const children: ChildProcess[] = [];
  const nats = await findNats(dir);
  const suffix = randomBytes(4).toString('hex');
  const prefix = `cpbench.${suffix}`;
  const stream = `CPBENCH_GATEWAY_${suffix}`;
  const jsm = await jetstreamManager(nats.nc);
  try {
    // The hub's stream without a hub: it takes the batches (duplicates dropped on the message id).
    await jsm.streams.add({
      name: stream,
      subjects: [subjects(prefix).telemetryAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: 120_000_000_000,
    });
    const devices = syntheticDevices(points, POINTS_PER_DEVICE);
    const simulators = await forkReady(join(here, 'simulators-process.js'), (m) => (m as { ports?: number[] }).ports, {
      args: [String(points), String(POINTS_PER_DEVICE)],
    });
    children.push(simulators.child);
    const ports = simulators.value;
    console.log(
      `Devices: ${devices.length} simulated Modbus TCP devices of up to ${POINTS_PER_DEVICE} points (${points} in all: 40 % float32, 20 % uint32, 30 % int16, 10 % coils) in process ${simulators.child.pid}`,
    );
    console.log(`NATS: ${nats.url} (${nats.origin}), stream ${stream}`);

    const statusPort = await freePort();
    const statusUrl = `http://127.0.0.1:${statusPort}`;
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      syntheticGatewayYaml(devices, {
        gatewayId: 'bench',
        natsUrl: nats.url,
        subjectPrefix: prefix,
        ports,
        interval: `${intervalMs}ms`,
        dataDir: 'data',
        statusPort,
      }),
    );
    const gateway = spawn(process.execPath, [cliPath, 'run', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(gateway);
    const gatewayExit = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    for (let i = 0; ; i++) {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited (${gateway.exitCode})`);
      if (
        await fetch(`${statusUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 300) throw new Error('the gateway did not start within 60 s');
      await sleep(200);
    }

    // The baseline polls half an interval after the gateway, so the two never meet at the devices.
    const setup: BaselineSetup = { devices: devices.map((d, i) => ({ port: ports[i]!, reads: baselineReads(d) })), intervalMs, offsetMs: intervalMs / 2 };
    const baseline = await forkReady(join(here, 'baseline-process.js'), (m) => (m === 'started' ? true : undefined), { setup });
    children.push(baseline.child);

    console.log(
      `Gateway ${gateway.pid} and baseline ${baseline.child.pid}: ${points} points every ${intervalMs / 1000} s for ${durationMs / 1000} s, warm-up ${warmupMs / 1000} s…\n`,
    );
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

    const status = (await (await fetch(`${statusUrl}/api/status`)).json()) as {
      devices: { cycles: number; skipped: number; state: string }[];
      outbox: { depth: number; dropped: number };
    };
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
    console.log(
      row(
        'Gateway',
        g,
        `${cycles} cycles, ${skipped} skipped, ${accepted} samples accepted, ${forwarded} forwarded (${streamInfo.state.messages} batches, ${round(streamInfo.state.bytes / 2 ** 20)} MB in the stream), outbox ${status.outbox.depth} waiting, ${status.outbox.dropped} dropped, ${failing} devices failing; exit ${exitCode}`,
      ),
    );
    console.log(row('Baseline', b, `${base.cycles} cycles, ${base.values} values read, ${base.errors} errors`));
    console.log(`Gateway RSS peak at any time, start included: ${round(g.rssPeakMB)} MB (baseline ${round(b.rssPeakMB)} MB)`);
    console.log(
      `Gateway overhead over the baseline: RSS +${round(g.rssMeanMB - b.rssMeanMB)} MB (mean), CPU +${round(g.cpuPercent - b.cpuPercent, 2)} points of one core`,
    );
    const meets = g.rssMaxMB <= TARGET_RSS_MB && g.cpuPercent <= TARGET_CPU_PERCENT;
    console.log(`Targets (at most ${TARGET_RSS_MB} MB RSS and ${TARGET_CPU_PERCENT} % of one core): ${meets ? 'met' : 'MISSED'}.`);
    if (failing || forwarded < accepted - status.outbox.depth)
      console.log('WARNING: the gateway did not poll and forward everything; the figures are not those of a healthy run.');
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
