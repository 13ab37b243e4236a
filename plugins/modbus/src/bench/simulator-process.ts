// The benchmark's simulated device, in a process of its own so that the benchmark's process
// measures only the gateway side. Started by poll.ts with an IPC channel: it sends
// { port } once listening, answers { requests } to 'count', and stops on 'stop' or when its
// parent goes.
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { buildingLoad, simulationNoise } from '@citypilot/sdk';
import { benchMap } from './map.js';

const simulator = new ModbusSimulator({ points: benchMap().map((p) => p.sim), load: buildingLoad, noise: simulationNoise });
const { port } = await simulator.start();

async function stop(): Promise<void> {
  await simulator.stop();
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'count') process.send!({ requests: simulator.requests });
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send!({ port });
