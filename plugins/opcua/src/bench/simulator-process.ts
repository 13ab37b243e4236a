// The benchmark's OPC UA server, in a process of its own so that the benchmark's process
// measures only the gateway side. Started by subscribe.ts with an IPC channel: it sends
// { endpointUrl } once listening, answers { monitored } to 'count', and stops on 'stop' or
// when its parent goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, OpcuaSimulator } from '@citypilot/protocol-opcua/testing';
import { BENCH_POINTS, benchPath } from './points.js';

const root = mkdtempSync(join(tmpdir(), 'citypilot-opcua-bench-'));
const simulator = new OpcuaSimulator({
  pkiDir: join(root, 'pki'),
  extraVariables: Array.from({ length: BENCH_POINTS }, (_, i) => ({ path: benchPath(i), dataType: DataType.Double, initial: () => 20 + (i % 100) / 10 })),
});
const { endpointUrl } = await simulator.start();

async function stop(): Promise<void> {
  await simulator.stop();
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'count') process.send!({ monitored: [...simulator.monitoredItems().values()].reduce((a, b) => a + b, 0) });
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send!({ endpointUrl });
