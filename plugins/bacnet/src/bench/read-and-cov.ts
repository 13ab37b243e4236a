// Benchmark: 1,000 points on one simulated BACnet/IP device, read in cycles with
// ReadPropertyMultiple against ReadProperty alone (the baseline, same run), and COV notifications
// handled. Run with `npm run bench --prefix plugins/bacnet`.
//
// The devices run in a child process (simulator-process.ts), so that this process's CPU time is
// the gateway side's alone. Each cycle reads the present value of 1,000 analog inputs with their
// status (status-flags, reliability, out-of-service: four properties a point), back to back, for
// BENCH_READ_SECONDS (default 20) per method: RPM planned to the device's max APDU of 1476, the
// same at 480 (small controllers), and one ReadProperty per property. Requests are counted by the
// device. Then 1,000 unconfirmed COV subscriptions: the device changes every object in turn as
// fast as it can for BENCH_COV_SECONDS (default 20), and this process counts the notifications it
// handles (decoded and the latest value kept, as a driver does) against those the device sent;
// then again at a fixed rate (BENCH_COV_RATE notifications/s; default half the rate handled
// flat out), to see whether a rate the subscriber keeps up with loses nothing. UDP loses
// notifications in the kernel when the socket's receive buffer is full: those drops are read
// from /proc/net/snmp (Linux) and printed beside the losses.
//
// Reads go through the driver as the gateway uses it: a device block validated by the plugin's
// schema (mode poll, readMethod rpm or rp, the defaults otherwise: 2 requests in flight, 2 s
// timeout, 1 retry, max APDU from the device), `create`, then `read()` cycles; a driver's cycle is
// the gateway's read of the device. COV goes through the driver's client, BacnetClient of
// @citypilot/protocol-bacnet (10 min lifetime, unconfirmed notifications, as the driver asks),
// because the driver keeps the latest value of each point and shows no count of the
// notifications it handled. Prints the machine, a line per run, and one JSON line of the figures
// last.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BacnetClient, objectTypeNumber, planReadPropertyMultiple, propertyNumber, type BacnetDevice, type ReadMethod } from '@citypilot/protocol-bacnet';
import { pluginDeviceSchema, validate, type DeviceConfig, type Driver, type DriverPlugin } from '@citypilot/sdk';
import { freeUdpPort, machineDescription } from '@citypilot/sdk/bench';
import { createBacnetPlugin } from '../plugin.js';
import { BENCH_DEVICE_INSTANCE, BENCH_FIRST_INSTANCE, BENCH_POINTS, type BenchMaxApdu, type ChildMessage, type ParentMessage } from './protocol.js';

/** A positive number from the environment, else `fallback`. */
function setting(name: string, what: string, fallback?: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: expected ${what} above 0`);
  return value;
}
const READ_SECONDS = setting('BENCH_READ_SECONDS', 'a number of seconds', 20)!;
const COV_SECONDS = setting('BENCH_COV_SECONDS', 'a number of seconds', 20)!;
const COV_RATE = setting('BENCH_COV_RATE', 'a number of notifications a second');
/** The driver schema's defaults. */
const IN_FLIGHT = 2;
const TIMEOUT_MS = 2000;
const COV_LIFETIME_SECONDS = 600;
const AI = objectTypeNumber('analog-input')!;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Datagrams the kernel dropped for want of room in a socket's receive buffer, machine-wide
 * (Linux's /proc/net/snmp); undefined elsewhere. What a COV subscriber loses is lost there: UDP
 * gives no other sign of it.
 */
function udpReceiveBufferDrops(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp: '));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const value = Number(values[names.indexOf('RcvbufErrors')]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The simulator process, and the next message of each type it sends. */
class Simulators {
  private readonly waiting = new Map<string, ((m: ChildMessage) => void)[]>();
  ports: Record<number, number> = {};
  pid = 0;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: ChildMessage) => this.waiting.get(m.type)?.shift()?.(m));
  }

  static async start(): Promise<Simulators> {
    const child = fork(new URL('./simulator-process.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const sims = new Simulators(child);
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the simulator process exited (${code})`))));
    const ready = (await Promise.race([sims.next('ready'), exited])) as Extract<ChildMessage, { type: 'ready' }>;
    exited.catch(() => undefined);
    sims.ports = ready.ports;
    sims.pid = ready.pid;
    return sims;
  }

  next<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve) => {
      const list = this.waiting.get(type) ?? [];
      list.push(resolve as (m: ChildMessage) => void);
      this.waiting.set(type, list);
    });
  }

  async ask<T extends ChildMessage['type']>(message: ParentMessage, answer: T): Promise<Extract<ChildMessage, { type: T }>> {
    const reply = this.next(answer);
    this.child.send(message);
    return reply;
  }

  stop(): void {
    if (this.child.connected) this.child.send({ type: 'stop' } satisfies ParentMessage);
  }
}

/**
 * Requests a cycle needs when every answer comes at the first attempt: the planner's count for
 * RPM (the four properties of each point, as readPoints asks them), one per property for RP.
 * What the device counts beyond it are retries after a timeout, or splits of aborted answers.
 */
function plannedRequests(maxApdu: number, readMethod: ReadMethod): number {
  const properties = ['present-value', 'status-flags', 'reliability', 'out-of-service'].map((p) => propertyNumber(p)!);
  const refs = Array.from({ length: BENCH_POINTS }, (_, i) =>
    properties.map((property) => ({ objectType: AI, instance: BENCH_FIRST_INSTANCE + i, property })),
  ).flat();
  return readMethod === 'rp' ? refs.length : planReadPropertyMultiple(refs, { maxApdu }).length;
}

interface ReadRun {
  name: string;
  /** Requests a cycle when every answer comes at once. */
  planned: number;
  cycles: number;
  seconds: number;
  requestsPerCycle: number;
  /** Requests a cycle by service, as the device counted them. */
  services: Record<string, number>;
  pointsPerSecond: number;
  meanCycleMs: number;
  maxCycleMs: number;
  /** CPU time of this process over wall time, in percent of one core. */
  cpuPercent: number;
  /** The device's CPU over the same time, in percent of one core. */
  deviceCpuPercent: number;
  /** CPU time of this process per point read, in microseconds: what a core would give without sharing. */
  cpuMicrosecondsPerPoint: number;
  /** Readings not good (or without a number), over all cycles: 0 when all is well. */
  notGood: number;
  /** Datagrams the kernel dropped for a full receive buffer during the run, machine-wide (Linux). */
  kernelDrops?: number;
}

/** The driver of one simulated device, in mode poll, as the gateway creates it from a device block. */
function createDriver(plugin: DriverPlugin, localPort: number, id: string, port: number, readMethod: ReadMethod): Driver {
  const block = {
    id,
    plugin: 'bacnet',
    timeout: `${TIMEOUT_MS}ms`,
    connection: {
      deviceInstance: BENCH_DEVICE_INSTANCE,
      address: `127.0.0.1:${port}`,
      network: { interface: '127.0.0.1', port: localPort },
      mode: 'poll',
      readMethod,
      maxRequestsInFlight: IN_FLIGHT,
    },
    points: Array.from({ length: BENCH_POINTS }, (_, i) => ({
      id: `zone-${i + 1}`,
      unit: '°C',
      address: { objectType: 'analog-input', instance: BENCH_FIRST_INSTANCE + i },
    })),
  };
  const result = validate(pluginDeviceSchema(plugin), block);
  if (!result.ok) throw new Error(`the benchmark's device block is not valid: ${JSON.stringify(result.issues)}`);
  return plugin.create(result.value as DeviceConfig, { timeoutMs: TIMEOUT_MS, logger: quiet });
}

async function readRun(
  sims: Simulators,
  plugin: DriverPlugin,
  localPort: number,
  name: string,
  maxApdu: BenchMaxApdu,
  readMethod: ReadMethod,
): Promise<ReadRun> {
  const driver = createDriver(plugin, localPort, `${readMethod}-${maxApdu}`, sims.ports[maxApdu]!, readMethod);
  try {
    return await measureReads(
      sims,
      name,
      maxApdu,
      readMethod,
      async () => (await driver.read()).filter((r) => r.quality !== 'good' || typeof r.value !== 'number').length,
    );
  } finally {
    await driver.close();
  }
}

/** Runs `cycle` (it returns the readings not good) for READ_SECONDS after one warm-up cycle, measuring this process and the device. */
async function measureReads(sims: Simulators, name: string, maxApdu: BenchMaxApdu, readMethod: ReadMethod, cycle: () => Promise<number>): Promise<ReadRun> {
  // Warm-up: the device's max APDU and services are read from its Device object at the first cycle.
  await cycle();
  const before = await sims.ask({ type: 'stats', maxApdu }, 'stats');
  const dropsBefore = udpReceiveBufferDrops();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let cycles = 0;
  let notGood = 0;
  let maxCycleMs = 0;
  while (cycles === 0 || performance.now() - started < READ_SECONDS * 1000) {
    const t = performance.now();
    notGood += await cycle();
    maxCycleMs = Math.max(maxCycleMs, performance.now() - t);
    cycles++;
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const dropsAfter = udpReceiveBufferDrops();
  const after = await sims.ask({ type: 'stats', maxApdu }, 'stats');
  const services: Record<string, number> = {};
  for (const [service, n] of Object.entries(after.requests))
    if (n - (before.requests[service] ?? 0) > 0) services[service] = round((n - (before.requests[service] ?? 0)) / cycles, 2);
  const deviceCpu = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
  return {
    name,
    planned: plannedRequests(maxApdu, readMethod),
    cycles,
    seconds: wallMs / 1000,
    requestsPerCycle: round(
      Object.values(services).reduce((a, b) => a + b, 0),
      2,
    ),
    services,
    pointsPerSecond: Math.round((cycles * BENCH_POINTS) / (wallMs / 1000)),
    meanCycleMs: round(wallMs / cycles),
    maxCycleMs: round(maxCycleMs),
    cpuPercent: round(((used.user + used.system) / 1000 / wallMs) * 100),
    deviceCpuPercent: round((deviceCpu / wallMs) * 100),
    cpuMicrosecondsPerPoint: round((used.user + used.system) / (cycles * BENCH_POINTS)),
    notGood,
    kernelDrops: dropsBefore !== undefined && dropsAfter !== undefined ? dropsAfter - dropsBefore : undefined,
  };
}

interface CovRun {
  name: string;
  /** Notifications the device sent, and those this process handled. */
  sent: number;
  handled: number;
  lost: number;
  /** Handled a second, from the phase's start to the last one handled. */
  handledPerSecond: number;
  sentPerSecond: number;
  cpuPercent: number;
  deviceCpuPercent: number;
  /** CPU time of this process per notification handled, in microseconds. */
  cpuMicrosecondsPerNotification: number;
  /** Datagrams the kernel dropped for a full receive buffer during the run, machine-wide (Linux). */
  kernelDrops?: number;
}

/** Counts the notifications of the subscriptions and keeps each object's latest value, as a driver does. */
class CovCounter {
  handled = 0;
  lastAt = 0;
  readonly latest = new Map<number, unknown>();

  onNotification = (n: { object: { instance: number }; presentValue?: { value: unknown } }) => {
    this.latest.set(n.object.instance, n.presentValue?.value);
    this.handled++;
    this.lastAt = performance.now();
  };
}

async function covRun(sims: Simulators, counter: CovCounter, name: string, rate: number): Promise<CovRun> {
  counter.handled = 0;
  const dropsBefore = udpReceiveBufferDrops();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const done = await sims.ask({ type: 'cov', maxApdu: 1476, seconds: COV_SECONDS, rate }, 'cov-done');
  // Those still in the socket's buffer, or on their way.
  const drainUntil = performance.now() + 2000;
  while (counter.handled < done.sent && performance.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 20));
  const end = Math.max(counter.lastAt, started + done.seconds * 1000);
  const used = process.cpuUsage(cpu);
  const wallMs = end - started;
  const dropsAfter = udpReceiveBufferDrops();
  return {
    name,
    sent: done.sent,
    handled: counter.handled,
    lost: done.sent - counter.handled,
    handledPerSecond: Math.round(counter.handled / (wallMs / 1000)),
    sentPerSecond: Math.round(done.sent / done.seconds),
    cpuPercent: round(((used.user + used.system) / 1000 / (performance.now() - started)) * 100),
    deviceCpuPercent: round(done.cpuPercent),
    cpuMicrosecondsPerNotification: round((used.user + used.system) / Math.max(1, counter.handled)),
    kernelDrops: dropsBefore !== undefined && dropsAfter !== undefined ? dropsAfter - dropsBefore : undefined,
  };
}

async function main(): Promise<void> {
  console.log(
    `Machine: ${machineDescription()}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const sims = await Simulators.start();
  const client = new BacnetClient({ interface: '127.0.0.1', port: 0, timeoutMs: TIMEOUT_MS, retries: 1 });
  try {
    await client.open();
    console.log(
      `Devices: ${BENCH_POINTS} analog inputs each, max APDU ${Object.keys(sims.ports).join(' and ')}, simulated in process ${sims.pid} on 127.0.0.1:${Object.values(sims.ports).join(', :')}`,
    );
    console.log(`Reads through the driver (mode poll, ${IN_FLIGHT} requests in flight, timeout ${TIMEOUT_MS} ms); COV through its BacnetClient`);
    console.log(
      `Reading present value + status-flags + reliability + out-of-service of every point, back to back, ${READ_SECONDS} s per method after one warm-up cycle…\n`,
    );

    // One plugin, one socket for the three devices, as a gateway has.
    const plugin = createBacnetPlugin() as unknown as DriverPlugin;
    const localPort = await freeUdpPort();
    const rpm = await readRun(sims, plugin, localPort, 'ReadPropertyMultiple, APDU 1476', 1476, 'rpm');
    const rpm480 = await readRun(sims, plugin, localPort, 'ReadPropertyMultiple, APDU 480', 480, 'rpm');
    const rp = await readRun(sims, plugin, localPort, 'ReadProperty (baseline)', 1476, 'rp');
    for (const r of [rpm, rpm480, rp]) {
      console.log(
        `${r.name.padEnd(33)} ${String(r.cycles).padStart(5)} cycles in ${r.seconds.toFixed(1)} s  ${String(r.requestsPerCycle).padStart(7)} requests/cycle (planned ${r.planned})  ` +
          `${String(r.meanCycleMs).padStart(7)} ms/cycle (max ${r.maxCycleMs})  ${String(r.pointsPerSecond).padStart(6)} points/s  CPU ${r.cpuPercent} % (device ${r.deviceCpuPercent} %), ${r.cpuMicrosecondsPerPoint} µs a point  not good ${r.notGood}` +
          (r.kernelDrops !== undefined ? `  kernel receive-buffer drops ${r.kernelDrops}` : ''),
      );
    }
    console.log(
      `Speed-up of RPM at 1476 over ReadProperty: ${round(rpm.pointsPerSecond / rp.pointsPerSecond)}×, ${round(rp.requestsPerCycle / rpm.requestsPerCycle)}× fewer requests.`,
    );

    // COV: one subscription per object on the 1476 device, the current value notified at once.
    const device: BacnetDevice = {
      address: `127.0.0.1:${sims.ports[1476]}`,
      deviceInstance: BENCH_DEVICE_INSTANCE,
      maxRequestsInFlight: IN_FLIGHT,
      timeoutMs: TIMEOUT_MS,
    };
    const counter = new CovCounter();
    const subscribing = performance.now();
    await Promise.all(
      Array.from({ length: BENCH_POINTS }, (_, i) =>
        client.subscribeCov(
          device,
          { type: AI, instance: BENCH_FIRST_INSTANCE + i },
          { lifetimeSeconds: COV_LIFETIME_SECONDS, onNotification: counter.onNotification },
        ),
      ),
    );
    const subscribeSeconds = (performance.now() - subscribing) / 1000;
    const held = await sims.ask({ type: 'stats', maxApdu: 1476 }, 'stats');
    const initialDeadline = performance.now() + 10_000;
    while (counter.latest.size < BENCH_POINTS && performance.now() < initialDeadline) await new Promise((resolve) => setTimeout(resolve, 20));
    console.log(
      `\nCOV: ${BENCH_POINTS} subscriptions in ${subscribeSeconds.toFixed(1)} s (${Math.round(BENCH_POINTS / subscribeSeconds)}/s), ${held.subscriptions} held by the device, initial values of ${counter.latest.size} objects received`,
    );
    console.log(`The device changes every object in turn for ${COV_SECONDS} s, flat out, then at a fixed rate…\n`);
    const flood = await covRun(sims, counter, 'flat out', 0);
    const fixedRate = COV_RATE ?? Math.max(1, Math.round(flood.handledPerSecond / 2));
    const steady = await covRun(sims, counter, `at ${fixedRate}/s`, fixedRate);
    for (const r of [flood, steady]) {
      console.log(
        `${`COV ${r.name}`.padEnd(20)} sent ${String(r.sent).padStart(8)} (${r.sentPerSecond}/s)  handled ${String(r.handled).padStart(8)} (${r.handledPerSecond}/s)  lost ${r.lost} (${round((r.lost / Math.max(1, r.sent)) * 100, 2)} %)  CPU ${r.cpuPercent} % (device ${r.deviceCpuPercent} %), ${r.cpuMicrosecondsPerNotification} µs a notification` +
          (r.kernelDrops !== undefined ? `  kernel receive-buffer drops ${r.kernelDrops}` : ''),
      );
    }
    console.log(
      `Load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (the figures depend on it: the machine was shared)`,
    );

    console.log(
      JSON.stringify({
        pointsPerSecondRpm: rpm.pointsPerSecond,
        pointsPerSecondRp: rp.pointsPerSecond,
        requestsPerCycleRpm: rpm.requestsPerCycle,
        requestsPerCycleRp: rp.requestsPerCycle,
        covNotificationsPerSecond: flood.handledPerSecond,
        pointsPerSecondRpm480: rpm480.pointsPerSecond,
        requestsPerCycleRpm480: rpm480.requestsPerCycle,
        plannedRequestsPerCycleRpm: rpm.planned,
        plannedRequestsPerCycleRpm480: rpm480.planned,
        cpuPercentRpm: rpm.cpuPercent,
        cpuPercentRp: rp.cpuPercent,
        cpuPercentRpm480: rpm480.cpuPercent,
        cpuMicrosecondsPerPointRpm: rpm.cpuMicrosecondsPerPoint,
        cpuMicrosecondsPerPointRp: rp.cpuMicrosecondsPerPoint,
        notGoodReadings: rpm.notGood + rpm480.notGood + rp.notGood,
        covNotificationsSent: flood.sent,
        covNotificationsLost: flood.lost,
        covCpuPercent: flood.cpuPercent,
        covCpuMicrosecondsPerNotification: flood.cpuMicrosecondsPerNotification,
        covFixedRate: fixedRate,
        covFixedRateLost: steady.lost,
        covKernelReceiveBufferDrops: flood.kernelDrops ?? null,
        points: BENCH_POINTS,
        readsThrough: 'driver',
        covThrough: 'BacnetClient',
      }),
    );
  } finally {
    client.close();
    sims.stop();
  }
}

await main();
