import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { decodeBatch, type Batch, type Sample } from '@citypilot/sdk';
import { loadGatewayConfig } from './config.js';
import { Gateway } from '../gateway.js';
import { PluginRegistry } from './registry.js';
import { readOutboxFile } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const suffix = `${process.pid}_${Date.now().toString(36)}`;

/**
 * Hot reload of the configuration file, against a real NATS and the Modbus simulator: the outbox
 * and what it holds survive the change, an invalid file or a restart-only change is refused and
 * the running configuration keeps running.
 */
describe('a gateway whose configuration file changes while it runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-live-config-'));
  const file = join(dir, 'gateway.yaml');
  const prefix = `cptest.live.${suffix}`;
  const stream = `CPTEST_LIVE_${suffix}`;
  const simulator = new ModbusSimulator({
    points: [
      { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } },
      { table: 'holding', address: 1, type: 'uint16', behaviour: { kind: 'constant', value: 9 } },
    ],
  });
  let modbusPort = 0;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let gateway: Gateway | undefined;

  const point = (id: string, address: number) => `      - { id: ${id}, address: { table: holding, address: ${address} } }\n`;
  const yaml = (points: string, over: { statusPort?: number } = {}) =>
    `gateway:\n  id: live\nhub:\n  natsUrl: ${inject('natsUrl')}\n  subjectPrefix: ${prefix}\n  batchMaxDelay: 200ms\n` +
    `status: { port: ${over.statusPort ?? 0} }\ndataDir: data\ndevices:\n` +
    `  - id: boiler\n    plugin: modbus\n    interval: 1s\n    connection: { host: 127.0.0.1, port: ${modbusPort} }\n    points:\n${points}`;
  /** As editors do: a new file renamed over the old one. */
  const replaceFile = (text: string) => {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  };

  beforeAll(async () => {
    modbusPort = (await simulator.start()).port;
    nc = await connect({ servers: inject('natsUrl') });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a valid change, refuses an invalid one, and forwards every sample once across both', async () => {
    writeFileSync(file, yaml(point('a', 0)));
    // No stream yet: the hub's side is missing, so samples wait in the outbox.
    gateway = await Gateway.start({ config: loadGatewayConfig(file, new PluginRegistry()), configFile: file, logger: quiet });
    const emitted: Sample[] = [];
    gateway.on('samples', (s) => emitted.push(...s));
    const first = gateway.status().config;
    expect(first).toMatchObject({ source: 'file', revision: expect.stringMatching(/^[0-9a-f]{12}$/), lastError: null });
    await expect.poll(() => gateway!.status().outbox.depth, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => gateway!.status().outbox.lastError, { timeout: 15_000 }).not.toBeNull();

    // A point added, by replacing the file: applied while the outbox holds samples.
    replaceFile(yaml(point('a', 0) + point('b', 1)));
    await expect.poll(() => gateway!.status().config.revision, { timeout: 15_000 }).not.toBe(first.revision);
    const second = gateway.status().config;
    expect(second).toMatchObject({ source: 'file', lastError: null });
    await expect.poll(() => emitted.some((s) => s.point === 'boiler.b' && s.value === 9), { timeout: 15_000 }).toBe(true);

    // An invalid file: refused with file:line:column, logged, and the running one keeps running.
    replaceFile(yaml(point('a', 0) + point('b', 1)).replace('interval: 1s', 'interval: often'));
    await expect.poll(() => gateway!.status().config.lastError?.message, { timeout: 15_000 }).toBeDefined();
    const refused = gateway.status().config;
    expect(refused).toMatchObject({ source: 'file', revision: second.revision, appliedAt: second.appliedAt });
    expect(refused.lastError).toMatchObject({ source: 'file', revision: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(refused.lastError!.revision).not.toBe(second.revision);
    expect(refused.lastError!.message).toContain(`${file}:12:5 devices[0].interval: expected a duration such as 500ms, 15s, 5m or 1h, got "often"`);
    expect(refused.lastError!.message).toMatch(/not applied; the running configuration keeps running\.$/);
    const count = emitted.filter((s) => s.point === 'boiler.b').length;
    await expect.poll(() => emitted.filter((s) => s.point === 'boiler.b').length, { timeout: 15_000 }).toBeGreaterThan(count);

    // A setting that needs a restart: refused, naming it.
    writeFileSync(file, yaml(point('a', 0), { statusPort: 1 }));
    await gateway.reload();
    expect(gateway.status().config).toMatchObject({ source: 'file', revision: second.revision });
    expect(gateway.status().config.lastError!.message).toContain('status.port: 0 → 1');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain(`citypilot_gateway_config_info{source="file",revision="${second.revision}"} 1`);
    expect(metrics).toMatch(/citypilot_gateway_config_refused_total\{source="file"\} 2/);

    // Back to one point, by SIGHUP's path: applied, the error gone.
    writeFileSync(file, yaml(point('a', 0)));
    await gateway.reload();
    expect(gateway.status().config).toMatchObject({ source: 'file', revision: first.revision, lastError: null });
    expect(gateway.status().points.map((p) => p.point)).toEqual(['boiler.a']);

    // The hub's stream appears: everything accepted arrives, once, in order.
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.telemetry.>`] });
    await expect.poll(() => gateway!.status().outbox.depth, { timeout: 30_000 }).toBe(0);
    await gateway.stop(5000);
    gateway = undefined;
    const left = readOutboxFile(join(dir, 'data'));
    const batches: Batch[] = [];
    const info = await jsm.streams.info(stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) batches.push(decodeBatch((await jsm.streams.getMessage(stream, { seq }))!.data));
    const forwarded = [...batches.flatMap((b) => b.samples), ...left.batches.flatMap((b) => b.samples), ...left.queued];
    expect(forwarded).toEqual(emitted);
    expect(new Set(batches.map((b) => b.seq)).size).toBe(batches.length);
    // The point list went with the first batch, and again after the changes: the latest one (an
    // announcement not sent yet is replaced by the next).
    const announced = batches.filter((b) => b.points).map((b) => b.points!.map((p) => p.id));
    expect(announced.length).toBeGreaterThanOrEqual(2);
    expect(announced.at(-1)).toEqual(['boiler.a']);
  });

  it('cuts the open aggregation windows at a change, sending them as cut short, and goes on with new ones', async () => {
    const aggDir = mkdtempSync(join(tmpdir(), 'citypilot-live-agg-'));
    const aggFile = join(aggDir, 'gateway.yaml');
    // A window far longer than the test: only a cut can close it.
    const config = (window: string) =>
      `gateway:\n  id: live-agg\nhub: { natsUrl: nats://127.0.0.1:1 }\nstatus: { port: 0 }\ndevices:\n` +
      `  - id: boiler\n    plugin: modbus\n    interval: 1s\n    connection: { host: 127.0.0.1, port: ${modbusPort} }\n    points:\n` +
      `      - { id: a, address: { table: holding, address: 0 }, aggregate: { window: ${window}, functions: [avg, count] } }\n`;
    writeFileSync(aggFile, config('1h'));
    const aggGateway = await Gateway.start({ config: loadGatewayConfig(aggFile, new PluginRegistry()), configFile: aggFile, logger: quiet });
    const emitted: Sample[] = [];
    aggGateway.on('samples', (s) => emitted.push(...s));
    try {
      await expect.poll(() => aggGateway.status().points.length, { timeout: 15_000 }).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2500));
      expect(emitted).toEqual([]);
      writeFileSync(aggFile, config('2h'));
      await aggGateway.reload();
      expect(aggGateway.status().config.lastError).toBeNull();
      // The 1 h window, cut: its average of the readings so far, and how many there were.
      const avg = emitted.find((s) => s.point === 'boiler.a')!;
      const count = emitted.find((s) => s.point === 'boiler.a.count')!;
      expect(avg).toMatchObject({ value: 7, quality: 'uncertain', reason: expect.stringMatching(/cut short/) });
      expect(count.value).toBeGreaterThanOrEqual(2);
      expect(count.time).toBe(avg.time);
      // Readings into the new window.
      const reloadedAt = Date.now();
      await expect.poll(() => aggGateway.status().points.some((p) => p.time > reloadedAt), { timeout: 15_000 }).toBe(true);
    } finally {
      await aggGateway.stop(0);
      rmSync(aggDir, { recursive: true, force: true });
    }
    // The 2 h window of the new configuration, cut by the stop: a window of its own, later.
    const second = emitted.filter((s) => s.point === 'boiler.a');
    expect(second).toHaveLength(2);
    expect(second[1]!.time).toBeGreaterThan(second[0]!.time);
  });

  it('applies new settings of a serial line its running devices hold (a wrong baud rate fixed live)', async () => {
    const rtuDir = mkdtempSync(join(tmpdir(), 'citypilot-live-rtu-'));
    const rtuFile = join(rtuDir, 'gateway.yaml');
    // No such port: the devices fail to read, which is not what is watched here.
    const rtu = (baudRate: number) =>
      `gateway:\n  id: live-rtu\nhub: { natsUrl: nats://127.0.0.1:1 }\nstatus: { port: 0 }\ndevices:\n` +
      ['m1', 'm2']
        .map(
          (id, i) =>
            `  - id: ${id}\n    plugin: modbus\n    interval: 1s\n    connection: { transport: rtu, serialPort: /dev/citypilot-test-none, baudRate: ${baudRate}, unitId: ${i + 1} }\n    points:\n${point('a', 0)}`,
        )
        .join('');
    writeFileSync(rtuFile, rtu(9600));
    const rtuGateway = await Gateway.start({ config: loadGatewayConfig(rtuFile, new PluginRegistry()), configFile: rtuFile, logger: quiet });
    try {
      const before = rtuGateway.status().config;
      writeFileSync(rtuFile, rtu(19200));
      await rtuGateway.reload();
      expect(rtuGateway.status().config.lastError).toBeNull();
      expect(rtuGateway.status().config.revision).not.toBe(before.revision);
    } finally {
      await rtuGateway.stop(0);
      rmSync(rtuDir, { recursive: true, force: true });
    }
  });
});
