// The benchmark's OPC UA server, in a process of its own so that neither the gateway's process
// nor the baseline's measures its work. Started by gateway-load.ts with an IPC channel, over which
// it first receives a SimulatorSetup; it sends { endpointUrl } once listening, answers
// 'count' with the notifications it has sent each client session (SimulatorCount), and stops
// on 'stop' or when its parent goes.
import { OpcuaSimulator } from '@citypilot/protocol-opcua';

export interface SimulatorSetup {
  pkiDir: string;
  /** Generated Double variables Building.Bench.V1 … V<count>, all changing every changeEveryMs. */
  count: number;
  changeEveryMs: number;
  /** Our clients' application certificates: the gateway's and the baseline's. */
  trustedClientCertificates: string[];
}

export type SimulatorCount = ReturnType<OpcuaSimulator['notificationsSent']>;

let simulator: OpcuaSimulator | undefined;

async function stop(): Promise<void> {
  await simulator?.stop();
  process.exit(0);
}

process.on('message', (message: SimulatorSetup | string) => {
  if (message === 'count') process.send!(simulator?.notificationsSent() ?? []);
  else if (message === 'stop') void stop();
  else if (typeof message === 'object') {
    simulator = new OpcuaSimulator({
      pkiDir: message.pkiDir,
      trustedClientCertificates: message.trustedClientCertificates,
      generatedVariables: { count: message.count, changeEveryMs: message.changeEveryMs },
      // The building's own dozen variables move at the usual pace; nobody monitors them here.
      tickMs: 1000,
    });
    void simulator.start().then(({ endpointUrl }) => process.send!({ endpointUrl }));
  }
});
process.on('disconnect', () => void stop());
