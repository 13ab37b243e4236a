// Benchmark: polling one Modbus TCP device of 2,000 points through the plugin, against one
// request per point measured in the same run. Run with `npm run bench --prefix plugins/modbus`.
// The simulated device runs in a child process (simulator-process.ts), so that this process's
// CPU time and memory are the gateway side's alone. Prints the machine, a summary, and one JSON
// line of the figures last.
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { deviceConfigSchema, parseConfig } from '@citypilot/sdk';
import { machineDescription } from '@citypilot/sdk/bench';
import { decodeRegisters, isBitTable, ModbusTcpClient, PROTOCOL_LIMITS, registerCount, type Table } from '@citypilot/protocol-modbus';
import { modbusPlugin } from '../plugin.js';
import { benchMap, type BenchPoint } from './map.js';

/** Polling time of each of the two runs, in seconds: `node dist/bench/poll.js 3` for 3. */
const SECONDS = Number(process.argv[2] ?? 10);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Run {
  cycles: number;
  requests: number;
  seconds: number;
  /** CPU time of this process over wall time, in percent of one core. */
  cpuPercent: number;
  rssMB: number;
  /** Readings that were not good, over all cycles: 0 when all is well. */
  notGood: number;
}

/**
 * The fewest requests that read every point, computed apart from the planner: per table, over
 * the points in address order, best[j] is the fewest requests for the first j points, the
 * minimum of best[i] + 1 over every i whose points i..j-1 fit one request (within the size
 * limit, no unmapped gap between them, as the device refuses those and maxGap is 0). A request
 * reads a contiguous range, so the points it serves are consecutive in address order: every plan
 * is a partition into such runs, and this minimum over all of them is exact, whatever the
 * planner's greedy does. O(points × points per request).
 */
function optimalRequests(points: readonly BenchPoint[]): number {
  let total = 0;
  for (const table of ['holding', 'input', 'coil', 'discrete'] as Table[]) {
    const spans = points
      .filter((p) => p.sim.table === table)
      .map((p) => ({ start: p.sim.address, end: p.sim.address + (isBitTable(table) ? 1 : registerCount(p.sim.type, p.sim.length)) }))
      .sort((a, b) => a.start - b.start);
    const max = isBitTable(table) ? PROTOCOL_LIMITS.readBits : PROTOCOL_LIMITS.readRegisters;
    const best = [0];
    for (let j = 1; j <= spans.length; j++) {
      best[j] = Infinity;
      for (let i = j - 1; i >= 0; i--) {
        if (spans[j - 1]!.end - spans[i]!.start > max) break;
        if (i < j - 1 && spans[i]!.end !== spans[i + 1]!.start) break;
        best[j] = Math.min(best[j]!, best[i]! + 1);
      }
    }
    total += best[spans.length]!;
  }
  return total;
}

function startSimulator(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(new URL('./simulator-process.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the simulator process exited (${code})`)));
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
  });
}

/** Requests the simulator has received so far. */
function requestCount(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { requests: number }).requests));
    child.send('count');
  });
}

/** Runs `cycle` for SECONDS (at least once) after one warm-up cycle, measuring this process. */
async function measure(child: ChildProcess, cycle: () => Promise<number>): Promise<Run> {
  await cycle();
  const before = await requestCount(child);
  let cycles = 0;
  let notGood = 0;
  let rss = process.memoryUsage.rss();
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (cycles === 0 || performance.now() - started < SECONDS * 1000) {
    notGood += await cycle();
    cycles++;
    rss = Math.max(rss, process.memoryUsage.rss());
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const requests = (await requestCount(child)) - before;
  return { cycles, requests, seconds: wallMs / 1000, cpuPercent: ((used.user + used.system) / 1000 / wallMs) * 100, rssMB: rss / 2 ** 20, notGood };
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  console.log(`Machine: ${machineDescription()}`);
  const points = benchMap();
  const { child, port } = await startSimulator();
  try {
    const config = parseConfig(deviceConfigSchema(modbusPlugin.schema.connection, modbusPlugin.schema.address), {
      id: 'bench',
      plugin: 'modbus',
      connection: { host: '127.0.0.1', port },
      points: points.map((p) => ({ id: p.id, address: { table: p.sim.table, address: p.sim.address, type: p.sim.type, order: p.sim.order ?? 'ABCD' } })),
    });
    const counts = points.reduce<Record<string, number>>(
      (c, p) => ({ ...c, [`${p.sim.type}${p.sim.order === 'CDAB' ? ' CDAB' : ''}`]: (c[`${p.sim.type}${p.sim.order === 'CDAB' ? ' CDAB' : ''}`] ?? 0) + 1 }),
      {},
    );
    console.log(
      `Device: ${points.length} points (${Object.entries(counts)
        .map(([t, n]) => `${n} ${t}`)
        .join(', ')}), simulated in process ${child.pid} on 127.0.0.1:${port}`,
    );
    console.log(`Polling for ${SECONDS} s each, after one warm-up cycle…\n`);

    const driver = modbusPlugin.create(config, { timeoutMs: 2000, logger: quiet });
    const planned = await measure(child, async () => (await driver.read()).filter((r) => r.quality !== 'good').length);
    await driver.close();

    // The baseline: the same points, one request each, through the same client.
    const client = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 2000 });
    const naive = await measure(child, async () => {
      for (const p of points) {
        if (isBitTable(p.sim.table)) await client.readBits(1, p.sim.table, p.sim.address, 1);
        else decodeRegisters(await client.readRegisters(1, p.sim.table, p.sim.address, registerCount(p.sim.type)), p.sim.type, p.sim.order ?? 'ABCD');
      }
      return 0;
    });
    await client.close();

    const optimal = optimalRequests(points);
    const figures = {
      pointsPerSecond: Math.round((planned.cycles * points.length) / planned.seconds),
      requestsPerCycle: round(planned.requests / planned.cycles, 2),
      optimalRequestsPerCycle: optimal,
      naiveRequestsPerCycle: round(naive.requests / naive.cycles, 2),
      naivePointsPerSecond: Math.round((naive.cycles * points.length) / naive.seconds),
      rssMB: round(planned.rssMB),
      cpuPercent: round(planned.cpuPercent),
    };
    const line = (name: string, r: Run, requests: number, pps: number) =>
      `${name.padEnd(22)} ${String(r.cycles).padStart(6)} cycles in ${r.seconds.toFixed(1)} s  ${String(requests).padStart(7)} requests/cycle  ${String(round((r.seconds * 1000) / r.cycles, 2)).padStart(8)} ms/cycle  ${String(pps).padStart(7)} points/s  CPU ${round(r.cpuPercent)} %  RSS max ${round(r.rssMB)} MB`;
    console.log(line('Planned (the plugin)', planned, figures.requestsPerCycle, figures.pointsPerSecond));
    console.log(line('One request per point', naive, figures.naiveRequestsPerCycle, figures.naivePointsPerSecond));
    console.log(
      `\nOptimum for this map: ${optimal} requests/cycle (limits ${PROTOCOL_LIMITS.readRegisters} registers, ${PROTOCOL_LIMITS.readBits} bits, no reading across gaps)` +
        `: the plan ${figures.requestsPerCycle === optimal ? 'reaches it' : 'MISSES it'}.`,
    );
    console.log(
      `Speed-up over one request per point: ${round(figures.pointsPerSecond / figures.naivePointsPerSecond)}×; readings not good: ${planned.notGood}.`,
    );
    console.log(JSON.stringify(figures));
  } finally {
    child.send('stop');
  }
}

await main();
