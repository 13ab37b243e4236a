// An OpcuaSimulator in a child process, driven by SimulatorProcess (simulator-client.ts) over
// the IPC channel: each message { id, op, args } is answered { id, result } or { id, error }.
// The simulator's work (building the address space at each start, notifications) then does not
// stall the test's event loop, whose timers a gateway under test relies on.
import { OpcuaSimulator, type OpcuaSimulatorOptions } from '../simulator.js';

const options = JSON.parse(process.argv[2] ?? '{}') as OpcuaSimulatorOptions;
const simulator = new OpcuaSimulator(options);

const ops: Record<string, (...args: never[]) => unknown> = {
  start: () => simulator.start(),
  stop: () => simulator.stop(),
  set: (path: string, value: number | boolean | string) => simulator.set(path, value),
  get: (path: string) => simulator.get(path),
  monitoredItems: () => [...simulator.monitoredItems()],
};

process.on('message', (message: { id: number; op: string; args: never[] }) => {
  void (async () => {
    try {
      const result = await ops[message.op]!(...message.args);
      process.send!({ id: message.id, result });
    } catch (error) {
      process.send!({ id: message.id, error: (error as Error).message });
    }
  })();
});
process.on('disconnect', () => void simulator.stop().finally(() => process.exit(0)));
process.send!({ ready: true });
