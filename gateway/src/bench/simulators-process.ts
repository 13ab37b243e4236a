// The benchmark's devices, in a process of their own so that neither the gateway's process nor
// the baseline's measures their work. Started by gateway.ts with an IPC channel and the site's
// size as arguments (points, points per device): it sends { ports } once every device listens,
// answers { requests } to 'count', and stops on 'stop' or when its parent goes.
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { buildingLoad, simulationNoise } from '@citypilot/sdk';
import { syntheticDevices } from '../testing/synthetic-site.js';

const [points, perDevice] = process.argv.slice(2).map(Number);
const simulators = syntheticDevices(points!, perDevice!).map(
  (d) => new ModbusSimulator({ points: d.points.map((p) => p.sim), load: buildingLoad, noise: simulationNoise }),
);
const ports = await Promise.all(simulators.map(async (s) => (await s.start()).port));

async function stop(): Promise<void> {
  await Promise.all(simulators.map((s) => s.stop()));
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'count') process.send!({ requests: simulators.reduce((n, s) => n + s.requests, 0) });
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send!({ ports });
