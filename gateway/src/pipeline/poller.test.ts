import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { ClockWatch } from './clock.js';
import { parseGatewayConfig } from '../config/config.js';
import { createGatewayMetrics } from '../status/metrics.js';
import { DevicePoller } from './poller.js';
import { PluginRegistry } from '../config/registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The cycle count of a poller against what it read: every slot from the first read to the last
 * one either has its samples (once) or was counted skipped.
 */
function slotsOf(samples: Sample[], intervalMs: number) {
  const times = [...new Set(samples.map((s) => s.time))].sort((a, b) => a - b);
  const perSlot = new Map<number, number>();
  for (const s of samples) perSlot.set(s.time, (perSlot.get(s.time) ?? 0) + 1);
  const first = times[0]!;
  const last = times.at(-1)!;
  return { read: times.length, unread: (last - first) / intervalMs + 1 - times.length, perSlot };
}

describe('skipped poll cycles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-poller-'));
  let simulator: ModbusSimulator | undefined;
  let poller: DevicePoller | undefined;
  afterEach(async () => {
    await poller?.stop();
    await simulator?.stop();
    poller = undefined;
    simulator = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A poller of 20 registers every second over loopback, whose device takes `answerMs` to answer,
   * on a wall clock `wall`. Resolves with what it emits and its status.
   */
  async function start(answerMs: number, wall: () => number) {
    simulator = new ModbusSimulator({
      points: Array.from({ length: 20 }, (_, i) => ({
        table: 'holding' as const,
        address: i,
        type: 'uint16' as const,
        behaviour: { kind: 'constant' as const, value: i },
      })),
    });
    // A slow device: each register's value arrives `answerMs` after the request.
    const read = simulator.device.read.bind(simulator.device);
    simulator.device.read = (table, address, count) =>
      read(table, address, count).map((v) => new Promise<number>((resolve) => setTimeout(() => resolve(v), answerMs))) as unknown as number[];
    const { port } = await simulator.start();
    const config = parseGatewayConfig(
      `gateway: { id: test }
hub: { natsUrl: "nats://127.0.0.1:1" }
status: { port: 0 }
devices:
  - id: meter
    plugin: modbus
    interval: 1s
    timeout: 5s
    connection: { host: 127.0.0.1, port: ${port} }
    points:
${Array.from({ length: 20 }, (_, i) => `      - { id: r${i}, address: { table: holding, address: ${i} } }`).join('\n')}
`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    const { config: device, plugin } = config.devices[0]!;
    const samples: Sample[] = [];
    const clock = new ClockWatch({ thresholdMs: 3_600_000, wall });
    const schedule = { pollGroups: {}, clock, deviceTimeToleranceMs: 60_000 };
    poller = new DevicePoller(
      device,
      'modbus',
      plugin.create(device, { timeoutMs: 5000, logger: quiet }),
      (s) => samples.push(...s),
      quiet,
      createGatewayMetrics(),
      schedule,
    );
    poller.start();
    return { samples, running: poller };
  }

  it('does not count a slot read in time as skipped when its timer fires a little early', async () => {
    // A wall clock that runs 10 % slow against the timers' clock: every timer fires before its
    // slot by the wall clock (by up to 100 ms at 1 s), as Node's timers do by a few ms when the
    // event loop is busy. The device answers in 150 ms, well within the second.
    const origin = performance.now();
    const base = Date.now();
    const { samples, running } = await start(150, () => base + (performance.now() - origin) * 0.9);
    await expect.poll(() => running.status().cycles, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(4);
    await running.stop();
    poller = undefined;
    const { read, unread, perSlot } = slotsOf(samples, 1000);
    const status = running.status();
    expect(status.state).toBe('ok');
    // Every slot read once, with all its points; the skips counted are exactly the slots that
    // passed unread (none, unless the machine is so loaded that a timer fires a second late).
    expect([...perSlot.values()].every((n) => n === 20)).toBe(true);
    expect(read).toBe(status.cycles);
    expect(status.skipped).toBe(unread);
  });

  it('counts the slots that passed while the gateway could not run its timers', async () => {
    const { samples, running } = await start(0, Date.now);
    await expect.poll(() => running.status().cycles, { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    // The event loop blocked for 2.5 s: at least one slot passes with no timer run for it.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      /* blocked */
    }
    const before = running.status().cycles;
    await expect.poll(() => running.status().cycles, { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(before + 2);
    await running.stop();
    poller = undefined;
    const { unread } = slotsOf(samples, 1000);
    expect(unread).toBeGreaterThanOrEqual(1);
    expect(running.status().skipped).toBe(unread);
  });
});
