import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { parseGatewayConfig } from './config/config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './config/registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('a device with two poll groups', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-poll-groups-'));
  // Three adjacent registers: read as one device they would be one request of 3 registers.
  const simulator = new ModbusSimulator({
    points: [
      { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 40 } },
      { table: 'holding', address: 1, type: 'uint16', behaviour: { kind: 'constant', value: 1 } },
      { table: 'holding', address: 2, type: 'uint16', behaviour: { kind: 'constant', value: 1000 } },
    ],
  });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads each group at its own rate, only its own registers, and sends the fast point as window aggregates', async () => {
    const { port } = await simulator.start();
    // Every request the simulated device answers, as (address, count).
    const requests: string[] = [];
    const read = simulator.device.read.bind(simulator.device);
    simulator.device.read = (table, address, count) => {
      requests.push(`${table} ${address}+${count}`);
      return read(table, address, count);
    };
    const config = parseGatewayConfig(
      `gateway: { id: test }
hub: { natsUrl: "nats://127.0.0.1:1" }
status: { port: 0 }
pollGroups:
  fast: { interval: 1s, jitter: 500ms }
  slow: { interval: 3s }
devices:
  - id: meter
    plugin: modbus
    connection: { host: 127.0.0.1, port: ${port} }
    points:
      - id: power
        group: fast
        address: { table: holding, address: 0 }
        aggregate: { window: 2s, functions: [avg, max, count] }
      - id: state
        group: fast
        address: { table: holding, address: 1 }
      - id: energy
        group: slow
        address: { table: holding, address: 2 }
        aggregate: { window: 3s, functions: [last, delta] }
`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    const of = (point: string) => samples.filter((s) => s.point === point);
    const hasGap = (list: Sample[], gap: number) => list.some((s, i) => i > 0 && s.time - list[i - 1]!.time === gap);

    // Raw readings of the fast group one slot apart; full (not partial) windows of both groups.
    await expect.poll(() => hasGap(of('meter.state'), 1000), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => of('meter.power').filter((s) => s.quality === 'good').length, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => of('meter.energy.delta').filter((s) => s.quality === 'good').length, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);

    // Samples keep their slot time, whatever the jitter; aggregates the time of their window.
    expect(of('meter.state').every((s) => s.time % 1000 === 0 && s.value === 1 && s.quality === 'good')).toBe(true);
    const fullPower = of('meter.power').filter((s) => s.quality === 'good');
    expect(fullPower.every((s) => s.time % 2000 === 0 && s.value === 40)).toBe(true);
    expect(of('meter.power.max').find((s) => s.time === fullPower[0]!.time)).toMatchObject({ value: 40, quality: 'good' });
    // A 2 s window of a 1 s group holds at most two readings.
    const counts = of('meter.power.count').filter((s) => s.quality === 'good');
    expect(counts.every((s) => typeof s.value === 'number' && s.value >= 1 && s.value <= 2)).toBe(true);
    expect(of('meter.energy.delta').find((s) => s.quality === 'good')).toMatchObject({ value: 0 });
    expect(
      of('meter.energy')
        .filter((s) => s.quality === 'good')
        .every((s) => s.time % 3000 === 0 && s.value === 1000),
    ).toBe(true);

    // Each group read only its own registers: never the whole block, never its neighbour's.
    expect(requests.length).toBeGreaterThan(0);
    expect(new Set(requests)).toEqual(new Set(['holding 0+2', 'holding 2+1']));
    const fastReads = requests.filter((r) => r === 'holding 0+2').length;
    const slowReads = requests.filter((r) => r === 'holding 2+1').length;
    expect(fastReads).toBeGreaterThan(slowReads);

    // The status shows the raw latest value of aggregated points, and each group's schedule.
    const status = (await (await fetch(`${gateway.url}/api/status`)).json()) as GatewayStatus;
    expect(status.points.find((p) => p.point === 'meter.power')).toMatchObject({ value: 40, quality: 'good' });
    expect(status.points.find((p) => p.point === 'meter.power')!.time % 1000).toBe(0);
    const groups = status.devices[0]!.groups;
    expect(groups.map((g) => [g.group, g.intervalMs, g.points])).toEqual([
      ['fast', 1000, 2],
      ['slow', 3000, 1],
    ]);
    expect(groups[0]!.offsetMs).toBeGreaterThanOrEqual(0);
    expect(groups[0]!.offsetMs).toBeLessThan(500);
    expect(groups[1]!.offsetMs).toBe(0);

    // On stop, the open windows are sent cut short rather than lost.
    const before = samples.length;
    await gateway.stop(0);
    gateway = undefined;
    const after = samples.slice(before);
    const cut = after.filter((s) => /window cut short/.test(s.reason ?? ''));
    // A read in progress when the stop began ends first (DevicePoller.stop), and its reading of the
    // point that is not aggregated is sent as any other; nothing else may come.
    expect(after.filter((s) => !cut.includes(s)).every((s) => s.point === 'meter.state' && s.quality === 'good')).toBe(true);
    expect(cut.map((s) => s.point).sort()).toEqual(['meter.energy', 'meter.energy.delta', 'meter.power', 'meter.power.count', 'meter.power.max']);
    expect(cut.every((s) => s.quality === 'uncertain')).toBe(true);
  });
});
