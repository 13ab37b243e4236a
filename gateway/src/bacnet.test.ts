import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BacnetSimulator, buildingObjects } from '@citypilot/protocol-bacnet/testing';
import type { Sample } from '@citypilot/sdk';
import { loadGatewayConfig, parseGatewayConfig } from './config/config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './config/registry.js';
import { createWriteToken } from './write/write-tokens.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const ANALOG_INPUT = 0;
const ANALOG_VALUE = 2;

/** A UDP port free on loopback now, for the gateway's BACnet socket. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  const port = await new Promise<number>((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket.address().port)));
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('a gateway with a BACnet device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bacnet-gateway-'));
  // Values that move only when the test sets them.
  const simulator = new BacnetSimulator({ objects: buildingObjects().map(({ move: _move, ...spec }) => spec) });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("samples its points by COV into the outbox, and writes and relinquishes at the point's priority", async () => {
    await simulator.start();
    const config = parseGatewayConfig(
      `gateway: { id: test }
hub: { natsUrl: nats://127.0.0.1:1 }
status: { port: 0, allowWrites: true }
devices:
  - id: ahu
    plugin: bacnet
    interval: 1s
    timeout: 1s
    connection: { deviceInstance: ${simulator.deviceInstance}, address: ${simulator.address}, network: { interface: 127.0.0.1, port: ${await freeUdpPort()} } }
    points:
      - { id: supply-temp, unit: °C, address: { objectType: analog-input, instance: 1 } }
      - { id: fan, kind: boolean, address: { objectType: binary-input, instance: 1 } }
      - { id: setpoint, unit: °C, writable: true, min: 10, max: 30, address: { objectType: analog-value, instance: 1, priority: 10 } }
`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    const latest = (point: string) => samples.filter((s) => s.point === point).at(-1);

    await expect.poll(() => latest('ahu.supply-temp'), { timeout: 10_000 }).toMatchObject({ value: 19, quality: 'good' });
    expect(latest('ahu.fan')).toMatchObject({ value: false, quality: 'good' });
    expect(simulator.covSubscriptions).toHaveLength(3);

    // A change reaches the gateway by notification, stamped with the slot's time.
    simulator.set(ANALOG_INPUT, 1, 23.5);
    await expect.poll(() => latest('ahu.supply-temp')?.value, { timeout: 10_000 }).toBe(23.5);
    expect(latest('ahu.supply-temp')!.time % 1000).toBe(0);
    const rpm = simulator.stats.requests.readPropertyMultiple ?? 0;
    const count = samples.length;
    await expect.poll(() => samples.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(count + 6);
    // Two more cycles, and no point was read: every one is subscribed. A cycle without any
    // notification asks the device one small question (is it there, has it restarted).
    expect((simulator.stats.requests.readPropertyMultiple ?? 0) - rpm).toBeLessThanOrEqual(3);

    const status = (await (await fetch(`${gateway.url}/api/status`)).json()) as GatewayStatus;
    expect(status.devices.find((d) => d.id === 'ahu')).toMatchObject({ plugin: 'bacnet', state: 'ok', lastError: null });
    expect(status.outbox.depth).toBeGreaterThanOrEqual(count);

    const token = createWriteToken(config.dataDir, 'alice');
    const post = (value: unknown) =>
      fetch(`${gateway!.url}/api/points/ahu.setpoint/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ value }),
      });
    // The answer is the device's value read back, not the one notified before the write.
    const written = await post(21);
    expect(written.status).toBe(200);
    expect(await written.json()).toMatchObject({ point: 'ahu.setpoint', asked: 21, value: 21 });
    expect(simulator.priorityArray(ANALOG_VALUE, 1)[9]).toBe(21);
    await expect.poll(() => latest('ahu.setpoint')?.value, { timeout: 10_000 }).toBe(21);

    // null relinquishes: the slot is emptied, the relinquish default (19) takes over.
    const relinquished = await post(null);
    expect(relinquished.status).toBe(200);
    // The answer's value is the one read back just after (see the write API), asked is null.
    expect(await relinquished.json()).toMatchObject({ point: 'ahu.setpoint', asked: null, value: 19 });
    expect(simulator.priorityArray(ANALOG_VALUE, 1)[9]).toBeNull();
    await expect.poll(() => latest('ahu.setpoint')?.value, { timeout: 10_000 }).toBe(19);

    // The device falls silent: its points go bad with the reason, then good again when it answers.
    simulator.misbehave('silent');
    await expect.poll(() => latest('ahu.supply-temp'), { timeout: 15_000 }).toMatchObject({ quality: 'bad', value: null });
    expect(latest('ahu.supply-temp')!.reason).toMatch(/no answer|did not answer/);
    simulator.misbehave('none');
    await expect.poll(() => latest('ahu.supply-temp'), { timeout: 15_000 }).toMatchObject({ quality: 'good', value: 23.5 });
  });

  it('binds its BACnet socket again, on the same port, when the configuration changes while it runs', async () => {
    await gateway?.stop(0);
    gateway = undefined;
    const file = join(dir, 'reload.yaml');
    const port = await freeUdpPort();
    const point = (id: string, instance: number) => `      - { id: ${id}, address: { objectType: analog-input, instance: ${instance} } }\n`;
    const yaml = (points: string) =>
      `gateway: { id: reload }\nhub: { natsUrl: nats://127.0.0.1:1 }\nstatus: { port: 0 }\ndevices:\n` +
      `  - id: plant\n    plugin: bacnet\n    interval: 1s\n    timeout: 1s\n` +
      `    connection: { deviceInstance: ${simulator.deviceInstance}, address: ${simulator.address}, network: { interface: 127.0.0.1, port: ${port} } }\n    points:\n${points}`;
    writeFileSync(file, yaml(point('flow', 3)));
    gateway = await Gateway.start({ config: loadGatewayConfig(file, new PluginRegistry()), configFile: file, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    await expect.poll(() => samples.some((s) => s.point === 'plant.flow' && s.quality === 'good'), { timeout: 10_000 }).toBe(true);

    writeFileSync(file, yaml(point('flow', 3) + point('power', 4)));
    await gateway.reload();
    expect(gateway.status().config.lastError).toBeNull();
    // The old socket was closed with the old configuration's drivers, the new one bound in its place.
    await expect.poll(() => samples.find((s) => s.point === 'plant.power')?.quality, { timeout: 10_000 }).toBe('good');
    const from = Date.now();
    await expect.poll(() => samples.some((s) => s.point === 'plant.flow' && s.time > from && s.quality === 'good'), { timeout: 10_000 }).toBe(true);
  });
});

describe('a gateway with a BACnet device that restarts within a second', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bacnet-restart-'));
  const simulator = new BacnetSimulator({ objects: buildingObjects().map(({ move: _move, ...spec }) => spec) });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the new value within the bound of its COV point, and never the old one as good beyond it', async () => {
    await simulator.start();
    const config = parseGatewayConfig(
      `gateway: { id: restart }
hub: { natsUrl: nats://127.0.0.1:1 }
status: { port: 0 }
devices:
  - id: plant
    plugin: bacnet
    interval: 1s
    timeout: 1s
    connection: { deviceInstance: ${simulator.deviceInstance}, address: ${simulator.address}, network: { interface: 127.0.0.1, port: ${await freeUdpPort()} } }
    points:
      - { id: setpoint, unit: °C, address: { objectType: analog-value, instance: 1 } }
      - { id: supply-temp, unit: °C, address: { objectType: analog-input, instance: 1 } }
`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    await expect.poll(() => samples.filter((s) => s.point === 'plant.setpoint' && s.quality === 'good').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(samples.filter((s) => s.point === 'plant.setpoint').at(-1)).toMatchObject({ value: 19, quality: 'good' });
    expect(simulator.covSubscriptions).toHaveLength(2);

    // The controller reboots: subscriptions and values gone, a new value set by its program.
    await simulator.restart({ values: [{ objectType: ANALOG_VALUE, instance: 1, value: 16.5 }] });
    const restartedAt = Date.now();
    // The documented bound of a 1 s point: 12 intervals.
    const boundMs = 12_000;
    await expect.poll(() => samples.find((s) => s.point === 'plant.setpoint' && s.value === 16.5)?.time, { timeout: boundMs + 5_000 }).toBeDefined();
    const first = samples.find((s) => s.point === 'plant.setpoint' && s.value === 16.5)!;
    expect(first.quality).toBe('good');
    // Stored within the bound, give or take a cycle that a loaded machine may skip.
    expect(first.time - restartedAt).toBeLessThanOrEqual(boundMs + 1000);
    expect(samples.filter((s) => s.point === 'plant.setpoint' && s.time > restartedAt + boundMs && s.value === 19 && s.quality === 'good')).toEqual([]);
    expect(simulator.covSubscriptions).toHaveLength(2);
    const device = gateway.status().devices.find((d) => d.id === 'plant')!;
    expect(device.notes).toEqual([
      expect.stringMatching(/^restart detected at .*: analog-value:1 reads 16\.5 while its last notification said 19; subscribed again/),
    ]);
  });
});

describe("writes to a BACnet device, checked against the object's datatype", () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bacnet-writes-'));
  const INTEGER_VALUE = 45;
  const BINARY_VALUE = 5;
  const MULTI_STATE_VALUE = 19;
  const simulator = new BacnetSimulator({
    objects: [
      ...buildingObjects().map(({ move: _move, ...spec }) => spec),
      { type: INTEGER_VALUE, instance: 3, name: 'Boiler stages allowed', description: 'Stages the boiler may run', initial: 2 },
    ],
  });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses with 409 what the object cannot hold, the device unchanged, and takes 0/1 for a binary point', async () => {
    await simulator.start();
    const config = parseGatewayConfig(
      `gateway: { id: writes }
hub: { natsUrl: nats://127.0.0.1:1 }
status: { port: 0, allowWrites: true }
devices:
  - id: boiler
    plugin: bacnet
    interval: 1s
    timeout: 1s
    connection: { deviceInstance: ${simulator.deviceInstance}, address: ${simulator.address}, mode: poll, network: { interface: 127.0.0.1, port: ${await freeUdpPort()} } }
    points:
      - { id: stages, writable: true, min: -100, max: 100, address: { objectType: integer-value, instance: 3 } }
      - { id: mode, writable: true, min: 1, max: 10, address: { objectType: multi-state-value, instance: 1 } }
      - { id: occupancy, kind: boolean, writable: true, address: { objectType: binary-value, instance: 1 } }
      - { id: setpoint, unit: °C, writable: true, min: -1e40, max: 1e40, address: { objectType: analog-value, instance: 1 } }
`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const token = createWriteToken(config.dataDir, 'alice');
    const post = async (point: string, value: unknown) => {
      const response = await fetch(`${gateway!.url}/api/points/boiler.${point}/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ value }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    expect(await post('stages', 2.5)).toMatchObject({
      status: 409,
      body: { error: expect.stringContaining('2.5 is not an integer: integer-value 3 holds integers from -2147483648 to 2147483647') },
    });
    expect(simulator.get(INTEGER_VALUE, 3)).toBe(2);
    expect(await post('stages', -3)).toMatchObject({ status: 200, body: { readBack: { value: -3 } } });
    expect(simulator.get(INTEGER_VALUE, 3)).toBe(-3);

    expect(await post('mode', 7)).toMatchObject({
      status: 409,
      body: { error: expect.stringContaining('7 is outside the range of multi-state-value 1: state numbers from 1 to 4') },
    });
    expect(await post('mode', 1.5)).toMatchObject({ status: 409, body: { error: expect.stringContaining('1.5 is not an integer') } });
    expect(simulator.get(MULTI_STATE_VALUE, 1)).toBe(1);

    expect(await post('setpoint', 1e39)).toMatchObject({
      status: 409,
      body: { error: expect.stringContaining('a REAL holds numbers from -3.4e38 to 3.4e38') },
    });
    expect(simulator.get(ANALOG_VALUE, 1)).toBe(19);
    // What the device holds comes back at the precision of a REAL.
    expect(await post('setpoint', 21.3)).toMatchObject({ status: 200, body: { readBack: { value: 21.3, quality: 'good' } } });

    expect(await post('occupancy', 1)).toMatchObject({ status: 200, body: { readBack: { value: true } } });
    expect(simulator.priorityArray(BINARY_VALUE, 1)[15]).toBe(1);
    expect(await post('occupancy', 0)).toMatchObject({ status: 200, body: { readBack: { value: false } } });
    expect(simulator.priorityArray(BINARY_VALUE, 1)[15]).toBe(0);
    expect(await post('occupancy', true)).toMatchObject({ status: 200, body: { readBack: { value: true } } });
    expect((await post('occupancy', 2)).status).toBe(409);
  });
});
