import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BacnetSimulator, buildingObjects } from '@citypilot/protocol-bacnet/testing';
import type { Sample } from '@citypilot/sdk';
import { loadGatewayConfig, parseGatewayConfig } from './config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './registry.js';
import { createWriteToken } from './write-tokens.js';

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

  it('samples its points by COV into the outbox, and writes and relinquishes at the point\'s priority', async () => {
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
    // Two more cycles, and no point was read: every one is subscribed.
    expect(simulator.stats.requests.readPropertyMultiple ?? 0).toBe(rpm);

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
    expect((await post(21)).status).toBe(200);
    expect(simulator.priorityArray(ANALOG_VALUE, 1)[9]).toBe(21);
    await expect.poll(() => latest('ahu.setpoint')?.value, { timeout: 10_000 }).toBe(21);

    // null relinquishes: the slot is emptied, the relinquish default (19) takes over.
    const relinquished = await post(null);
    expect(relinquished.status).toBe(200);
    // The answer's value is the one read back just after (see the write API), asked is null.
    expect(await relinquished.json()).toMatchObject({ point: 'ahu.setpoint', asked: null });
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
