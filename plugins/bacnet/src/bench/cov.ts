// Benchmark: what a gateway's read cycles cost one BACnet device of 500 analog inputs (zone
// temperatures that move every second, as the simulated device makes them), through the driver
// as the gateway uses it: mode poll (the baseline, every point read with ReadPropertyMultiple at
// each cycle) against mode cov (subscribed at the first read, later cycles answered from
// notifications). Cycles are a second apart, so notifications flow between them. Run with
// `npm run bench:modes --prefix plugins/bacnet` (or `node dist/bench/cov.js 10` for 10 cycles each).
// The device runs in this process: CPU figures cover both sides. Prints the machine, a line per
// run, and one JSON line of the figures last.
import { performance } from 'node:perf_hooks';
import { BacnetSimulator } from '@citypilot/protocol-bacnet';
import { buildingLoad, pluginDeviceSchema, simulationNoise, validate, type DeviceConfig, type DriverPlugin } from '@citypilot/sdk';
import { freeUdpPort, machineDescription } from '@citypilot/sdk/bench';
import { createBacnetPlugin } from '../plugin.js';

const CYCLES = Number(process.argv[2] ?? 5);
const POINTS = 500;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Run {
  name: string;
  /** Confirmed requests the device received per cycle, after the first. */
  requests: number;
  /** Mean time of a read, after the first, in milliseconds. */
  readMs: number;
  /** Time of the first read (subscriptions included), in milliseconds. */
  firstReadMs: number;
  /** Notifications sent by the device per second. */
  notificationsPerSecond: number;
  cpuPercent: number;
  notGood: number;
}

async function run(name: string, mode: 'poll' | 'cov'): Promise<Run> {
  const sim = new BacnetSimulator({ generatedAnalogInputs: POINTS, objects: undefined, load: buildingLoad, noise: simulationNoise });
  await sim.start();
  const plugin = createBacnetPlugin() as unknown as DriverPlugin;
  const points = Array.from({ length: POINTS }, (_, i) => ({ id: `zone-${i + 1}`, unit: '°C', address: { objectType: 'analog-input', instance: 1000 + i } }));
  const result = validate(pluginDeviceSchema(plugin), {
    id: 'bench',
    plugin: 'bacnet',
    connection: { deviceInstance: sim.deviceInstance, address: sim.address, network: { interface: '127.0.0.1', port: await freeUdpPort() }, mode },
    points,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  const driver = plugin.create(result.value as DeviceConfig, { timeoutMs: 3000, logger: quiet });
  try {
    let started = performance.now();
    await driver.read();
    const firstReadMs = performance.now() - started;
    const requestsBefore = Object.values(sim.stats.requests).reduce((n, v) => n + v, 0);
    const notificationsBefore = sim.stats.covNotifications;
    const cpu = process.cpuUsage();
    const wallStart = performance.now();
    let readMs = 0;
    let notGood = 0;
    for (let c = 0; c < CYCLES; c++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      started = performance.now();
      const readings = await driver.read();
      readMs += performance.now() - started;
      notGood += readings.filter((r) => r.quality !== 'good').length;
    }
    const wall = performance.now() - wallStart;
    const used = process.cpuUsage(cpu);
    const requests = Object.values(sim.stats.requests).reduce((n, v) => n + v, 0) - requestsBefore;
    return {
      name,
      requests: Math.round((requests / CYCLES) * 10) / 10,
      readMs: Math.round((readMs / CYCLES) * 10) / 10,
      firstReadMs: Math.round(firstReadMs),
      notificationsPerSecond: Math.round((sim.stats.covNotifications - notificationsBefore) / (wall / 1000)),
      cpuPercent: Math.round(((used.user + used.system) / 1000 / wall) * 100),
      notGood,
    };
  } finally {
    await driver.close();
    await sim.stop();
  }
}

console.log(`Machine: ${machineDescription()}`);
console.log(`load: ${POINTS} analog inputs moving every second, ${CYCLES} read cycles a second apart per run, after a first read`);
const poll = await run('baseline: mode poll, ReadPropertyMultiple at each cycle', 'poll');
const cov = await run('mode cov: subscribed, cycles answered from notifications', 'cov');
for (const r of [poll, cov]) {
  console.log(
    `${r.name}: first read ${r.firstReadMs} ms; then ${r.requests} requests and ${r.readMs} ms a cycle, ${r.notificationsPerSecond} notifications/s, CPU ${r.cpuPercent} % of a core, ${r.notGood} readings not good`,
  );
}
console.log(
  JSON.stringify({
    points: POINTS,
    cycles: CYCLES,
    pollRequestsPerCycle: poll.requests,
    pollReadMs: poll.readMs,
    pollCpuPercent: poll.cpuPercent,
    covFirstReadMs: cov.firstReadMs,
    covRequestsPerCycle: cov.requests,
    covReadMs: cov.readMs,
    covNotificationsPerSecond: cov.notificationsPerSecond,
    covCpuPercent: cov.cpuPercent,
    notGood: poll.notGood + cov.notGood,
  }),
);
