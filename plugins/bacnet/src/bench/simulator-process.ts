// The benchmark's simulated BACnet/IP devices, in a process of their own so that the benchmark's
// process measures only the gateway side. Started by read-and-cov.ts with an IPC channel (messages in
// protocol.ts): it answers with the ports of its devices once listening, with a device's request
// counters to `stats`, drives COV changes on `cov`, and stops on `stop` or when its parent goes.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { BacnetSimulator, objectTypeNumber } from '@citypilot/protocol-bacnet';
import { BENCH_DEVICE_INSTANCE, BENCH_FIRST_INSTANCE, BENCH_MAX_APDUS, BENCH_POINTS, type ChildMessage, type ParentMessage } from './protocol.js';

const AI = objectTypeNumber('analog-input')!;
const simulators = new Map<number, BacnetSimulator>();
for (const maxApdu of BENCH_MAX_APDUS) {
  // Values move only at each tick: an hour between ticks keeps them still, so that every COV
  // notification of the run is one this process caused, and counted.
  simulators.set(maxApdu, new BacnetSimulator({ maxApdu, deviceInstance: BENCH_DEVICE_INSTANCE, generatedAnalogInputs: BENCH_POINTS, tickMs: 3_600_000 }));
}
const ports: Record<number, number> = {};
for (const [maxApdu, sim] of simulators) ports[maxApdu] = (await sim.start()).port;

function send(message: ChildMessage): void {
  process.send!(message);
}

/**
 * Moves every benchmark object's present value by 1 (ten times the COV increment) in turn, for
 * `seconds`: as fast as this process can when `rate` is 0, else `rate` changes a second in
 * steps of 10 ms. Each change sends one notification per subscription of the object.
 */
async function driveCov(sim: BacnetSimulator, seconds: number, rate: number): Promise<void> {
  const sentBefore = sim.stats.covNotifications;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  let changes = 0;
  const change = () => {
    const i = changes % BENCH_POINTS;
    const round = Math.floor(changes / BENCH_POINTS);
    sim.set(AI, BENCH_FIRST_INSTANCE + i, 20 + (round % 2));
    changes++;
  };
  if (rate <= 0) {
    // Batches of 100, giving the event loop a turn between them so the socket's sends go out.
    while (performance.now() < end) {
      for (let k = 0; k < 100; k++) change();
      await yieldToLoop();
    }
  } else {
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (changes < due) change();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  send({
    type: 'cov-done',
    changes,
    sent: sim.stats.covNotifications - sentBefore,
    seconds: wallMs / 1000,
    cpuPercent: ((used.user + used.system) / 1000 / wallMs) * 100,
  });
}

async function stop(): Promise<void> {
  for (const sim of simulators.values()) await sim.stop();
  process.exit(0);
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stats') {
    const sim = simulators.get(message.maxApdu)!;
    send({
      type: 'stats',
      requests: { ...sim.stats.requests },
      covNotifications: sim.stats.covNotifications,
      subscriptions: sim.covSubscriptions.length,
      cpu: process.cpuUsage(),
    });
  } else if (message.type === 'cov') {
    void driveCov(simulators.get(message.maxApdu)!, message.seconds, message.rate);
  } else if (message.type === 'stop') {
    void stop();
  }
});
process.on('disconnect', () => void stop());
send({ type: 'ready', ports, pid: process.pid });
