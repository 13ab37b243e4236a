import { afterAll, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { ClockWatch, jitterOffset } from './clock.js';
import { parseGatewayConfig } from '../config/config.js';
import { createGatewayMetrics } from '../status/metrics.js';
import { guardTime } from './normalise.js';
import { DevicePoller } from './poller.js';
import { PluginRegistry } from '../config/registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const MIN = 60_000;

describe('device timestamps', () => {
  const sample: Sample = { point: 'm.p', time: T0, value: 1, quality: 'good' };
  const guard = { slot: T0, now: T0 + 300, intervalMs: 15_000, toleranceMs: 5 * MIN };

  it('takes the slot time when the device gives none, and the device time when it is believable', () => {
    expect(guardTime(sample, undefined, guard)).toEqual(sample);
    expect(guardTime(sample, T0 - 4_000, guard)).toEqual({ ...sample, time: T0 - 4_000 });
  });

  it('replaces a device time beyond the tolerance by the slot time, uncertain with the reason', () => {
    const ahead = guardTime(sample, T0 + 6 * MIN, guard);
    expect(ahead).toMatchObject({ time: T0, quality: 'uncertain' });
    expect(ahead.reason).toMatch(/^device time 2026-01-05T10:06:00.000Z is 6 min ahead of the gateway's clock \(tolerance 5 min\)/);
    expect(guardTime(sample, T0 - 2 * 3_600_000, guard).reason).toMatch(/2 h behind/);
    // A bad reading keeps its own reason; only its time is fixed.
    const badReading: Sample = { ...sample, value: null, quality: 'bad', reason: 'illegal data address' };
    expect(guardTime(badReading, T0 + 6 * MIN, guard)).toEqual({ ...badReading, time: T0 });
  });

  it('marks stale a value whose device time is older than two read intervals', () => {
    const stale = guardTime(sample, T0 - 40_000, guard);
    expect(stale).toMatchObject({ time: T0 - 40_000, quality: 'stale' });
    expect(stale.reason).toMatch(/more than 2 read intervals of 15 s/);
    expect(guardTime(sample, T0 - 29_000, guard).quality).toBe('good');
  });
});

describe('the gateway clock', () => {
  it('sees a step of the wall clock against the monotonic one once, and not slow drift', () => {
    let wall = T0;
    let mono = 0;
    const jumps: number[] = [];
    const clock = new ClockWatch({ thresholdMs: 2000, wall: () => wall, monotonic: () => mono, onJump: (s) => jumps.push(s) });
    for (let i = 0; i < 100; i++) {
      mono += 1000;
      wall += 1010; // 1 % fast: drift, never a jump
      expect(clock.check()).toBe(0);
    }
    wall -= 3_600_000;
    mono += 1000;
    wall += 1000;
    expect(clock.check()).toBe(-3_600_000);
    expect(clock.check()).toBe(0);
    wall += 10_000;
    expect(clock.check()).toBe(10_000);
    expect(jumps).toEqual([-3_600_000, 10_000]);
    expect(clock.epoch).toBe(2);
  });

  it('gives each device and group a stable jitter offset within the jitter', () => {
    const offsets = Array.from({ length: 50 }, (_, i) => jitterOffset(`meter-${i}`, 'fast', 1000));
    expect(offsets.every((o) => Number.isInteger(o) && o >= 0 && o < 1000)).toBe(true);
    expect(new Set(offsets).size).toBeGreaterThan(25);
    expect(jitterOffset('meter-1', 'fast', 1000)).toBe(offsets[1]);
    expect(jitterOffset('meter-1', 'fast', 0)).toBe(0);
  });
});

describe('a poller whose gateway clock jumps', () => {
  const simulator = new ModbusSimulator({ points: [{ table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } }] });
  let poller: DevicePoller | undefined;
  afterAll(async () => {
    await poller?.stop();
    await simulator.stop();
  });

  it('re-aligns after a jump back and forth, never emitting a point twice at one time or back in time', async () => {
    const { port } = await simulator.start();
    const config = parseGatewayConfig(
      `gateway: { id: test }\ndevices:\n  - id: meter\n    plugin: modbus\n    interval: 200ms\n    connection: { host: 127.0.0.1, port: ${port} }\n` +
        `    points:\n      - { id: value, address: { table: holding, address: 0 } }\n`,
      'gateway.yaml',
      new PluginRegistry(),
    );
    const { config: device, plugin } = config.devices[0]!;
    // The gateway's wall clock is the system's plus a shift the test steps; timers and the
    // monotonic clock run on unchanged.
    let shift = 0;
    const jumps: number[] = [];
    const clock = new ClockWatch({ thresholdMs: 1000, wall: () => Date.now() + shift, onJump: (s) => jumps.push(s) });
    const samples: Sample[] = [];
    const driver = plugin.create(device, { timeoutMs: 2000, logger: quiet });
    poller = new DevicePoller(device, 'modbus', driver, (s) => samples.push(...s), quiet, createGatewayMetrics(), {
      pollGroups: {},
      clock,
      deviceTimeToleranceMs: 5 * MIN,
    });
    poller.start();
    await expect.poll(() => samples.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);

    shift = -3000;
    const beforeBack = samples.length;
    const lastBeforeBack = samples.at(-1)!.time;
    await expect.poll(() => jumps.length, { timeout: 10_000 }).toBe(1);
    // Readings resume once the new clock has passed the last slot read.
    await expect.poll(() => samples.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(beforeBack + 3);
    expect(samples.slice(beforeBack).every((s) => s.time > lastBeforeBack)).toBe(true);

    shift = 3_600_000;
    await expect.poll(() => jumps.length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => samples.filter((s) => s.time > Date.now() + 3_500_000).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

    expect(jumps[0]).toBeLessThan(-2000);
    expect(jumps[1]).toBeGreaterThan(3_500_000);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.time).toBeGreaterThan(samples[i - 1]!.time);
    expect(samples.every((s) => s.time % 200 === 0 && s.quality === 'good')).toBe(true);
  });
});
