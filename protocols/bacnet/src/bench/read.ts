// Benchmark: reading the present value and status flags of 1,000 analog inputs of one simulated
// BACnet/IP device over loopback, with ReadPropertyMultiple requests planned to the device's max
// APDU (1476, 480, 206 octets), against one ReadProperty per value measured in the same run (the
// baseline: what a device without ReadPropertyMultiple costs, same four properties per point). Run with
// `npm run bench --prefix protocols/bacnet` (or `node dist/bench/read.js 5` for 5 cycles each).
// The device runs in this process: CPU figures cover both sides. Prints the machine, a line per
// run, and one JSON line of the figures last.
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ObjectType } from '@bacnet-js/client';
import { BacnetClient } from '../client.js';
import type { PointRead, ReadMethod } from '../client-types.js';
import { BacnetSimulator, type MaxApdu } from '../simulator.js';

const CYCLES = Number(process.argv[2] ?? 3);
// The machine, as every CityPilot benchmark prints it (this package depends on none of ours).
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round((totalmem() / 2 ** 30) * 10) / 10} GB memory, Node ${process.version} on ${process.platform}/${process.arch}`;
const POINTS = 1000;
const IN_FLIGHT = 2;

interface Run {
  name: string;
  requests: number;
  /** Mean time to read every point once, in milliseconds. */
  cycleMs: number;
  /** CPU time of the process over wall time, in percent of one core (client and device together). */
  cpuPercent: number;
  errors: number;
}

async function run(name: string, maxApdu: MaxApdu, readMethod: ReadMethod): Promise<Run> {
  const sim = new BacnetSimulator({ maxApdu, generatedAnalogInputs: POINTS, tickMs: 1000, readPropertyMultiple: readMethod !== 'rp' });
  await sim.start();
  const client = new BacnetClient({ interface: '127.0.0.1', port: 0, timeoutMs: 3000, retries: 1 });
  try {
    const device = { address: sim.address, maxApdu, readMethod, maxRequestsInFlight: IN_FLIGHT };
    const points: PointRead[] = Array.from({ length: POINTS }, (_, i) => ({ objectType: ObjectType.ANALOG_INPUT, instance: 1000 + i, withStatus: true }));
    await client.readPoints(device, points.slice(0, 10)); // warm-up
    const before = { ...sim.stats.requests };
    const cpu = process.cpuUsage();
    const started = performance.now();
    let errors = 0;
    for (let c = 0; c < CYCLES; c++) {
      const results = await client.readPoints(device, points);
      errors += results.filter((r) => r.error).length;
    }
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const requests = Object.entries(sim.stats.requests).reduce((n, [k, v]) => n + v - (before[k] ?? 0), 0) / CYCLES;
    return { name, requests, cycleMs: Math.round(wall / CYCLES), cpuPercent: Math.round(((used.user + used.system) / 1000 / wall) * 100), errors };
  } finally {
    client.close();
    await sim.stop();
  }
}

console.log(`Machine: ${machine}`);
console.log(`load: ${POINTS} analog inputs, ${CYCLES} cycles per run, ${IN_FLIGHT} requests in flight`);
const runs: Run[] = [];
runs.push(await run('baseline: ReadProperty, one request per property', 1476, 'rp'));
for (const maxApdu of [1476, 480, 206] as const)
  runs.push(await run(`ReadPropertyMultiple at ${maxApdu}, present value + status flags + reliability + out-of-service`, maxApdu, 'rpm'));
for (const r of runs) console.log(`${r.name}: ${r.requests} requests a cycle, ${r.cycleMs} ms a cycle, CPU ${r.cpuPercent} % of a core, ${r.errors} errors`);
const [baseline, rpm1476, rpm480, rpm206] = runs as [Run, Run, Run, Run];
console.log(
  JSON.stringify({
    points: POINTS,
    cycles: CYCLES,
    baselineRpRequests: baseline.requests,
    baselineRpCycleMs: baseline.cycleMs,
    rpm1476Requests: rpm1476.requests,
    rpm1476CycleMs: rpm1476.cycleMs,
    rpm480Requests: rpm480.requests,
    rpm480CycleMs: rpm480.cycleMs,
    rpm206Requests: rpm206.requests,
    rpm206CycleMs: rpm206.cycleMs,
    errors: runs.reduce((n, r) => n + r.errors, 0),
  }),
);
