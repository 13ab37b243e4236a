/**
 * OPC UA benchmark: `npm run bench --prefix plugins/opcua`. Target: 5,000 monitored items
 * sampled every second.
 *
 * Two clients monitor 5,000 Double variables, each from its own OpcuaSimulator in a process of
 * its own (load-simulator-process.ts), security SignAndEncrypt by default, in the same run. The
 * variables all change twice a second: the server samples each monitored item every second, and
 * a change between every two samples makes every sample a new value to notify (changing at the
 * sampling rate itself, the two timers drift and samples miss changes). One server per client:
 * one node-opcua server serving both samples less often than asked (some 4,100 to 4,700
 * notifications a second for 5,000 items, for both clients alike, on this 2-core machine: its
 * sampling timer runs late when its event loop is busy), and neither client should slow the
 * other's server. The clients:
 * - the gateway: a real `node gateway/dist/cli.js run gateway.yaml` with one `opcua` device of
 *   5,000 points at interval 1s in mode subscribe, forwarding to a JetStream stream made for the
 *   run on a nats-server of the run's own (no hub: the stream takes the batches);
 * - the baseline (load-baseline-process.ts): the same items through @citypilot/protocol-opcua's
 *   OpcuaConnection alone, counting notifications and doing nothing else (with the V8 flag
 *   --optimize-for-size that the gateway sets for itself, so that their memory compares).
 * Each process's RSS and CPU time are read from /proc every second over the measured window,
 * which starts once both have had every item's first value, after a warm-up.
 *
 * Notifications per second are counted by the SERVER, for both clients alike: the data change
 * notifications its simulator has sent its sessions (OPC UA SubscriptionDiagnostics
 * DataChangeNotificationsCount), over the window.
 * A client that cannot keep up sends fewer Publish requests, so the server sends fewer
 * notifications (each item keeps only its latest value): this count is what the client took in.
 * The gateway's driver keeps no counter of its own to read, and the samples it forwards are
 * taken at each interval from the latest values, whether they changed or not, so they are
 * printed beside it (samples forwarded per second) but are not the notification rate. The
 * baseline's own count of notifications received is printed too, as a check of the server's.
 * The gateway's count against the baseline's, printed as a percentage, says whether it keeps up.
 *
 * Prints the machine first and ends with one JSON line: {"monitoredItems",
 * "notificationsPerSecond", "rssMB", "cpuPercent", … "baselineNotificationsPerSecond",
 * "baselineRssMB", "baselineCpuPercent"} (rssMB: the maximum in the window; CPU in percent of
 * one core). Without the `opcua` plugin in the gateway, the gateway's figures are null and
 * "gatewayError" says why.
 *
 * Environment: BENCH_DURATION (the measured window, default 2m), BENCH_WARMUP (default 30s),
 * BENCH_ITEMS (5000), BENCH_INTERVAL (1s: sampling, publishing and the gateway's interval;
 * the variables change twice as often), BENCH_SECURITY (SignAndEncrypt, Sign or None),
 * NATS_URL (default: a nats-server started for the run from the machine's binary). A quick check:
 * BENCH_DURATION=20s BENCH_WARMUP=5s npm run bench --prefix plugins/opcua
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import {
  buildingNodeId,
  ensureClientCertificate,
  OPCUA_SECURITY_MODES,
  OpcuaConnection,
  OpcuaServerCertificateUntrustedError,
  trustServerCertificate,
  type OpcuaSecurityMode,
} from '@citypilot/protocol-opcua';
import { parseDuration, subjects } from '@citypilot/sdk';
import type { BaselineSetup } from './load-baseline-process.js';
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
import type { SimulatorCount, SimulatorSetup } from './load-simulator-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const repository = join(here, '..', '..', '..', '..');
const gatewayCli = join(repository, 'gateway', 'dist', 'cli.js');

function setting(name: string, fallback: string, parse: (text: string) => number): number {
  const text = process.env[name] || fallback;
  let value: number;
  try {
    value = parse(text);
  } catch {
    value = NaN;
  }
  if (!(value > 0))
    throw new Error(`${name}=${JSON.stringify(text)}: expected ${parse === Number ? 'a positive whole number' : 'a duration such as 20s or 2m'}`);
  return value;
}

/**
 * What a technician does at commissioning, for one client store: connect once, see the server's
 * certificate refused, trust it by its thumbprint. The server trusts our certificate from its start.
 */
async function trustServer(endpointUrl: string, pkiDir: string, securityMode: OpcuaSecurityMode): Promise<void> {
  if (securityMode === 'None') return;
  try {
    const connection = await OpcuaConnection.connect(endpointUrl, { pkiDir, securityMode });
    await connection.close();
  } catch (error) {
    if (!(error instanceof OpcuaServerCertificateUntrustedError)) throw error;
    await trustServerCertificate(pkiDir, error.thumbprint);
  }
}

/** The run's gateway configuration: one opcua device of every generated variable. */
function gatewayYaml(s: {
  natsUrl: string;
  subjectPrefix: string;
  statusPort: number;
  endpointUrl: string;
  securityMode: OpcuaSecurityMode;
  items: number;
  intervalMs: number;
}): string {
  const lines = [
    'gateway:',
    '  id: bench',
    'hub:',
    `  natsUrl: ${s.natsUrl}`,
    `  subjectPrefix: ${s.subjectPrefix}`,
    'dataDir: data',
    'status:',
    `  port: ${s.statusPort}`,
    // 5,000 samples a second is the default forwarding limit: not what is measured here.
    'outbox:',
    `  maxSamplesPerSecond: ${Math.max(5000, Math.ceil((s.items * 4 * 1000) / s.intervalMs))}`,
    'devices:',
    '  - id: bms',
    '    plugin: opcua',
    `    interval: ${s.intervalMs}ms`,
    `    connection: { endpointUrl: "${s.endpointUrl}", securityMode: ${s.securityMode}, mode: subscribe, publishingInterval: ${s.intervalMs}ms }`,
    '    points:',
  ];
  // Sampled at the interval, as the baseline's items are (the default, a tenth of the interval,
  // would have the gateway's server notify every change, twice a second): the same load on both.
  // The gateway's readings are then uncertain (sampled not under the interval), which is not measured.
  for (let i = 1; i <= s.items; i++)
    lines.push(`      - { id: v${i}, address: { nodeId: "${buildingNodeId(`Bench.V${i}`)}", samplingInterval: ${s.intervalMs}ms } }`);
  return lines.join('\n') + '\n';
}

/** Notifications a server has sent its sessions: its one client's (a session closed is no longer counted: the trust check's has none). */
function sent(count: SimulatorCount): number {
  return count.reduce((n, session) => n + session.dataChangeNotifications, 0);
}

async function main(): Promise<void> {
  const items = setting('BENCH_ITEMS', '5000', Number);
  const intervalMs = setting('BENCH_INTERVAL', '1s', parseDuration);
  const durationMs = setting('BENCH_DURATION', '2m', parseDuration);
  const warmupMs = setting('BENCH_WARMUP', '30s', parseDuration);
  const securityMode = (process.env.BENCH_SECURITY || 'SignAndEncrypt') as OpcuaSecurityMode;
  if (!OPCUA_SECURITY_MODES.includes(securityMode)) throw new Error(`BENCH_SECURITY=${securityMode}: expected one of ${OPCUA_SECURITY_MODES.join(', ')}`);
  const hz = clockTicks();
  console.log(`Machine: ${machineDescription()}`);

  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bench-opcua-'));
  const children: ChildProcess[] = [];
  const nats = await findNats(dir);
  const jsm = await jetstreamManager(nats.nc);
  const suffix = randomBytes(4).toString('hex');
  const prefix = `cpbench.${suffix}`;
  const stream = `CPBENCH_OPCUA_${suffix}`;
  try {
    // The gateway's store is where its driver keeps it: <dataDir>/plugins/opcua/pki.
    const gatewayPki = join(dir, 'data', 'plugins', 'opcua', 'pki');
    const baselinePki = join(dir, 'baseline-pki');
    const gatewayCertificate = await ensureClientCertificate(gatewayPki);
    const baselineCertificate = await ensureClientCertificate(baselinePki);
    const startSimulator = async (name: string, client: string) => {
      const setup: SimulatorSetup = {
        pkiDir: join(dir, `server-pki-${name}`),
        count: items,
        changeEveryMs: intervalMs / 2,
        trustedClientCertificates: [client],
      };
      const started = await forkReady(join(here, 'load-simulator-process.js'), (m) => (m as { endpointUrl?: string }).endpointUrl, { setup, execArgv: [] });
      children.push(started.child);
      return { child: started.child, endpointUrl: started.value };
    };
    const gatewayServer = await startSimulator('gateway', gatewayCertificate.certificateFile);
    const baselineServer = await startSimulator('baseline', baselineCertificate.certificateFile);
    await trustServer(gatewayServer.endpointUrl, gatewayPki, securityMode);
    await trustServer(baselineServer.endpointUrl, baselinePki, securityMode);
    console.log(
      `Servers: ${items} Double variables changing every ${intervalMs / 2000} s, sampled every ${intervalMs / 1000} s; the gateway's at ${gatewayServer.endpointUrl} ` +
        `(process ${gatewayServer.child.pid}), the baseline's at ${baselineServer.endpointUrl} (process ${baselineServer.child.pid}); security ${securityMode}`,
    );

    await jsm.streams.add({
      name: stream,
      subjects: [subjects(prefix).telemetryAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: 120_000_000_000,
    });
    console.log(`NATS: ${nats.url} (${nats.origin}), stream ${stream}`);

    const statusPort = await freePort();
    const statusUrl = `http://127.0.0.1:${statusPort}`;
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      gatewayYaml({ natsUrl: nats.url, subjectPrefix: prefix, statusPort, endpointUrl: gatewayServer.endpointUrl, securityMode, items, intervalMs }),
    );
    const gatewayStarted = performance.now();
    const gateway = spawn(process.execPath, [gatewayCli, 'run', file], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'pipe'] });
    children.push(gateway);
    let gatewayStderr = '';
    gateway.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      gatewayStderr = (gatewayStderr + chunk.toString()).slice(-2000);
    });
    const gatewayExit = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    let gatewayError: string | undefined;
    for (let i = 0; ; i++) {
      if (gateway.exitCode !== null) {
        gatewayError = `the gateway exited (${gateway.exitCode}) at its start: ${gatewayStderr.trim().split('\n').slice(-3).join(' | ')}`;
        break;
      }
      if (
        await fetch(`${statusUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 600) throw new Error('the gateway did not start within 2 minutes');
      await sleep(200);
    }
    const count = async () => ({
      gateway: sent(await ask<SimulatorCount>(gatewayServer.child, 'count')),
      baseline: sent(await ask<SimulatorCount>(baselineServer.child, 'count')),
    });
    /** Seconds from `started` (the client's start) until the server has sent it every item's first value. */
    const waitForFirstValues = async (who: 'gateway' | 'baseline', started: number) => {
      while ((await count())[who] < items) {
        if (who === 'gateway' && gateway.exitCode !== null) throw new Error(`the gateway exited (${gateway.exitCode})`);
        if (performance.now() - started > 300_000) throw new Error(`the ${who} did not get every item's first value within 5 minutes`);
        await sleep(1000);
      }
      return (performance.now() - started) / 1000;
    };
    if (gatewayError) console.log(`Gateway: not measured, ${gatewayError}`);
    else console.log(`Gateway ${gateway.pid}: every item's first value ${round(await waitForFirstValues('gateway', gatewayStarted))} s after its start`);

    const baselineSetup: BaselineSetup = {
      endpointUrl: baselineServer.endpointUrl,
      pkiDir: baselinePki,
      securityMode,
      nodeIds: Array.from({ length: items }, (_, i) => buildingNodeId(`Bench.V${i + 1}`)),
      samplingIntervalMs: intervalMs,
    };
    const baselineStarted = performance.now();
    // With the V8 flag `citypilot gateway run` sets for itself, so that the memory compares.
    const baseline = await forkReady(join(here, 'load-baseline-process.js'), (m) => (m as { refused?: number }).refused, {
      setup: baselineSetup,
      execArgv: ['--optimize-for-size'],
    });
    children.push(baseline.child);
    if (baseline.value > 0) throw new Error(`the server refused ${baseline.value} of the baseline's items`);
    console.log(`Baseline ${baseline.child.pid}: every item's first value ${round(await waitForFirstValues('baseline', baselineStarted))} s after its start`);

    console.log(`Warm-up ${warmupMs / 1000} s, then ${durationMs / 1000} s measured…\n`);
    // The servers' own use is shown for context.
    const servers = [new ProcessSampler(gatewayServer.child.pid!, hz), new ProcessSampler(baselineServer.child.pid!, hz)];
    const samplers = [...servers, ...(gatewayError ? [] : [new ProcessSampler(gateway.pid!, hz)]), new ProcessSampler(baseline.child.pid!, hz)];
    const warmupEnd = performance.now() + warmupMs;
    while (performance.now() < warmupEnd) {
      for (const s of samplers) s.sample();
      await sleep(1000);
    }
    for (const s of samplers) s.begin();
    const before = await count();
    const baselineBefore = (await ask<{ notifications: number }>(baseline.child, 'count')).notifications;
    const forwardedBefore = gatewayError ? NaN : await metric(statusUrl, 'citypilot_gateway_samples_forwarded_total');
    const windowStart = performance.now();
    let nextReport = 30_000;
    while (performance.now() - windowStart < durationMs) {
      await sleep(1000);
      for (const s of samplers) s.sample();
      const elapsed = performance.now() - windowStart;
      if (elapsed >= nextReport) {
        nextReport += 30_000;
        const rss = (pid: number | undefined) => (pid ? `${round((readProc(pid)?.rss ?? 0) / 2 ** 20)} MB` : '-');
        console.log(`  ${Math.round(elapsed / 1000)} s: RSS gateway ${gatewayError ? '-' : rss(gateway.pid)}, baseline ${rss(baseline.child.pid)}`);
      }
    }
    const after = await count();
    const baselineAfter = (await ask<{ notifications: number }>(baseline.child, 'count')).notifications;
    const seconds = (performance.now() - windowStart) / 1000;
    const b = samplers.at(-1)!.usage();
    const perSecond = (n: number) => round(n / seconds);
    const baselineRate = perSecond(after.baseline - before.baseline);
    const row = (name: string, u: Usage, rate: number, extra: string) =>
      `${name.padEnd(9)} ${String(rate).padStart(7)} notifications/s  RSS max ${String(round(u.rssMaxMB)).padStart(6)} MB  mean ${String(round(u.rssMeanMB)).padStart(6)} MB  CPU ${String(round(u.cpuPercent, 2)).padStart(6)} % of one core  ${extra}`;

    let gatewayFigures: Record<string, number | null> = {
      notificationsPerSecond: null,
      rssMB: null,
      cpuPercent: null,
      rssMeanMB: null,
      rssStartupPeakMB: null,
      samplesForwardedPerSecond: null,
    };
    if (!gatewayError) {
      const g = samplers[2]!.usage();
      const forwardedAfter = await metric(statusUrl, 'citypilot_gateway_samples_forwarded_total');
      const status = (await (await fetch(`${statusUrl}/api/status`)).json()) as {
        devices: { state: string; lastError: string | null }[];
        outbox: { depth: number; dropped: number };
      };
      const streamInfo = await jsm.streams.info(stream);
      const rate = perSecond(after.gateway - before.gateway);
      const failing = status.devices.filter((d) => d.state !== 'ok');
      console.log(
        row(
          'Gateway',
          g,
          rate,
          `${perSecond(forwardedAfter - forwardedBefore)} samples forwarded/s (${streamInfo.state.messages} batches in the stream), outbox ${status.outbox.depth} waiting, ${status.outbox.dropped} dropped, ${failing.length} device(s) failing`,
        ),
      );
      console.log(`Gateway RSS peak at any time, start included: ${round(g.rssPeakMB)} MB`);
      if (failing.length)
        console.log(`WARNING: the gateway's device is failing (${failing.map((d) => d.lastError).join('; ')}); the figures are not those of a healthy run.`);
      if (after.gateway - before.gateway < 0.95 * (after.baseline - before.baseline))
        console.log('WARNING: the gateway took in less than 95 % of what the baseline did.');
      gatewayFigures = {
        notificationsPerSecond: rate,
        rssMB: round(g.rssMaxMB),
        cpuPercent: round(g.cpuPercent, 2),
        rssMeanMB: round(g.rssMeanMB),
        rssStartupPeakMB: round(g.rssPeakMB),
        samplesForwardedPerSecond: perSecond(forwardedAfter - forwardedBefore),
      };
      gateway.kill('SIGTERM');
      const exitCode = await gatewayExit;
      if (exitCode !== 0) console.log(`WARNING: the gateway exited with ${exitCode} on SIGTERM.`);
    }
    console.log(row('Baseline', b, baselineRate, `(${perSecond(baselineAfter - baselineBefore)} notifications/s received by its own count)`));
    const [sg, sb] = servers.map((server) => server.usage()) as [Usage, Usage];
    console.log(
      `Servers: the gateway's RSS max ${round(sg.rssMaxMB)} MB, CPU ${round(sg.cpuPercent, 2)} % of one core; the baseline's ${round(sb.rssMaxMB)} MB, ${round(sb.cpuPercent, 2)} %`,
    );
    console.log(
      `Expected: ${round(items / (intervalMs / 1000))} notifications/s (${items} items, each sampled every ${intervalMs / 1000} s with a new value each time); window ${round(seconds)} s.`,
    );
    if (!gatewayError) {
      const g = gatewayFigures;
      console.log(`Gateway notifications against the baseline's: ${round((100 * g.notificationsPerSecond!) / baselineRate)} %`);
      console.log(
        `Gateway overhead over the baseline: RSS +${round(g.rssMeanMB! - b.rssMeanMB)} MB (mean), CPU +${round(g.cpuPercent! - b.cpuPercent, 2)} points of one core`,
      );
    }
    console.log(
      JSON.stringify({
        monitoredItems: items,
        intervalSeconds: intervalMs / 1000,
        securityMode,
        durationSeconds: round(seconds),
        ...gatewayFigures,
        baselineNotificationsPerSecond: baselineRate,
        baselineRssMB: round(b.rssMaxMB),
        baselineRssMeanMB: round(b.rssMeanMB),
        baselineCpuPercent: round(b.cpuPercent, 2),
        ...(gatewayError ? { gatewayError } : {}),
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
