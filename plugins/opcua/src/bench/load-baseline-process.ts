// The benchmark's baseline: the same monitored items through the protocol layer alone, a bare
// Node process with @citypilot/protocol-opcua's OpcuaConnection (node-opcua underneath) that
// subscribes to every variable and counts the notifications, with nothing else: no driver, no
// scheduler, no normalisation, no outbox, no forwarding. What the gateway uses beyond this is
// its own overhead.
//
// Started by gateway-load.ts with an IPC channel, over which it first receives a BaselineSetup;
// sends { refused } once subscribed, answers { notifications } to 'count', and stops on 'stop'
// or when its parent goes.
import { OpcuaConnection, type OpcuaSecurityMode, type OpcuaSubscription } from '@citypilot/protocol-opcua';

export interface BaselineSetup {
  endpointUrl: string;
  pkiDir: string;
  securityMode: OpcuaSecurityMode;
  nodeIds: string[];
  samplingIntervalMs: number;
}

let notifications = 0;
let connection: OpcuaConnection | undefined;
let subscription: OpcuaSubscription | undefined;

async function start(setup: BaselineSetup): Promise<void> {
  connection = await OpcuaConnection.connect(setup.endpointUrl, { pkiDir: setup.pkiDir, securityMode: setup.securityMode });
  subscription = await connection.subscribe(
    setup.nodeIds.map((nodeId) => ({ nodeId, samplingIntervalMs: setup.samplingIntervalMs })),
    () => notifications++,
    { publishingIntervalMs: setup.samplingIntervalMs },
  );
  process.send!({ refused: subscription.refused.length });
}

async function stop(): Promise<void> {
  await subscription?.close();
  await connection?.close();
  process.exit(0);
}

process.on('message', (message: BaselineSetup | string) => {
  if (message === 'count') process.send!({ notifications });
  else if (message === 'stop') void stop();
  else if (typeof message === 'object') {
    start(message).catch((error: unknown) => {
      process.send!({ error: (error as Error).message });
    });
  }
});
process.on('disconnect', () => void stop());
