// Benchmark of the OPC UA driver's subscription: 5,000 monitored items created through the
// driver (batched CreateMonitoredItems requests), against the same items created one request
// each (the baseline, as the protocol package did before batching), then reads served from the
// notified values. Prints the machine and the figures, and ends with one line of JSON.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseConfig, pluginDeviceSchema, type DriverPlugin, type Logger } from '@citypilot/sdk';
import { OpcuaConnection, buildingNodeId } from '@citypilot/protocol-opcua';
import { waitUntil } from '@citypilot/protocol-opcua/testing';
import { opcuaPlugin } from '../plugin.js';
import { BENCH_POINTS, benchPath } from './points.js';

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function startSimulator(): Promise<{ child: ChildProcess; endpointUrl: string }> {
  const child = fork(new URL('./simulator-process.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the simulator process exited (${code})`)));
    child.once('message', (m) => resolve({ child, endpointUrl: (m as { endpointUrl: string }).endpointUrl }));
  });
}

function monitoredCount(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { monitored: number }).monitored));
    child.send('count');
  });
}

async function main(): Promise<void> {
  const cpu = cpus()[0];
  console.log(
    `Machine: ${cpu?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${round(totalmem() / 2 ** 30)} GB memory, Node ${process.version} on ${process.platform}/${process.arch}`,
  );
  const { child, endpointUrl } = await startSimulator();
  const stateDir = mkdtempSync(join(tmpdir(), 'citypilot-opcua-bench-client-'));
  const nodeIds = Array.from({ length: BENCH_POINTS }, (_, i) => buildingNodeId(benchPath(i)));
  try {
    console.log(`Server: ${BENCH_POINTS} Double variables, simulated in process ${child.pid} at ${endpointUrl}, security None\n`);

    // The driver: connect, subscribe (batched), answer the first read from the server.
    let allReported = false;
    const logger: Logger = { info() {}, warn() {}, error() {}, debug: (_o, msg) => void (allReported ||= /every monitored item has reported/.test(msg ?? '')) };
    const plugin = opcuaPlugin as unknown as DriverPlugin;
    const config = parseConfig(pluginDeviceSchema(plugin), {
      id: 'bench',
      plugin: 'opcua',
      interval: '15s',
      connection: { endpointUrl, securityMode: 'None', publishingInterval: '1s' },
      points: nodeIds.map((nodeId, i) => ({ id: `p${i}`, address: { nodeId } })),
    });
    const driver = plugin.create(config, { timeoutMs: 30_000, logger, stateDir });
    let started = performance.now();
    const first = await driver.read();
    const firstReadMs = performance.now() - started;
    await waitUntil('every item notified', () => allReported, 120_000);
    const allNotifiedMs = performance.now() - started;
    const monitored = await monitoredCount(child);
    const cpuBefore = process.cpuUsage();
    started = performance.now();
    const READS = 20;
    let notGood = first.filter((r) => r.quality !== 'good').length;
    for (let i = 0; i < READS; i++) notGood += (await driver.read()).filter((r) => r.quality !== 'good').length;
    const cachedReadMs = (performance.now() - started) / READS;
    const cpuUsed = process.cpuUsage(cpuBefore);
    await driver.close();
    console.log(
      `Driver: first read (connect, subscribe ${monitored} items, read them once) ${round(firstReadMs)} ms; every item notified after ${round(allNotifiedMs)} ms`,
    );
    console.log(
      `        a read of the ${BENCH_POINTS} points from the notified values: ${round(cachedReadMs, 2)} ms (${round((cpuUsed.user + cpuUsed.system) / 1000 / READS, 2)} ms CPU); readings not good: ${notGood}`,
    );

    // The same items through the protocol package, batched, then one request per item (each
    // item its own sampling interval, so that no two share a request): the baseline.
    const pkiDir = join(stateDir, 'pki');
    const batched = await timeSubscribe(
      endpointUrl,
      pkiDir,
      nodeIds.map((nodeId) => ({ nodeId, samplingIntervalMs: 15_000 })),
    );
    const oneByOne = await timeSubscribe(
      endpointUrl,
      pkiDir,
      nodeIds.map((nodeId, i) => ({ nodeId, samplingIntervalMs: 15_000 + i })),
    );
    console.log(
      `Subscribing ${BENCH_POINTS} items: batched ${round(batched)} ms, one request per item (baseline) ${round(oneByOne)} ms: ${round(oneByOne / batched)}× faster`,
    );
    console.log(
      JSON.stringify({
        points: BENCH_POINTS,
        firstReadMs: round(firstReadMs),
        allNotifiedMs: round(allNotifiedMs),
        cachedReadMs: round(cachedReadMs, 2),
        subscribeBatchedMs: round(batched),
        subscribeOneByOneMs: round(oneByOne),
        notGood,
      }),
    );
  } finally {
    child.send('stop');
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function timeSubscribe(endpointUrl: string, pkiDir: string, items: { nodeId: string; samplingIntervalMs: number }[]): Promise<number> {
  const connection = await OpcuaConnection.connect(endpointUrl, { pkiDir });
  try {
    const started = performance.now();
    const subscription = await connection.subscribe(items, () => undefined, { publishingIntervalMs: 1000 });
    const ms = performance.now() - started;
    if (subscription.refused.length) throw new Error(`${subscription.refused.length} items refused: ${subscription.refused[0]!.reason}`);
    await subscription.close();
    return ms;
  } finally {
    await connection.close();
  }
}

await main();
