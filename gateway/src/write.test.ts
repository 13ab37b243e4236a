import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator, type SimulatedPoint } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { parseGatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { PluginRegistry } from './registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const setpoint: SimulatedPoint = { table: 'holding', address: 10, type: 'int16', behaviour: { kind: 'constant', value: 190 } };
const pump: SimulatedPoint = { table: 'coil', address: 0, type: 'bool', behaviour: { kind: 'constant', value: false } };
const temp: SimulatedPoint = { table: 'input', address: 0, type: 'int16', behaviour: { kind: 'constant', value: 201 } };

describe('writing points through the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-write-'));
  const simulator = new ModbusSimulator({ points: [setpoint, pump, temp] });
  const gateways: Gateway[] = [];
  let simulatorPort = 0;
  beforeAll(async () => {
    simulatorPort = (await simulator.start()).port;
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop(0)));
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(allowWrites: boolean) {
    const config = parseGatewayConfig(
      `gateway: { id: plant-room }
hub: { natsUrl: nats://127.0.0.1:1 }
dataDir: data-${allowWrites}
status: { port: 0, allowWrites: ${allowWrites} }
devices:
  - id: boiler
    plugin: modbus
    interval: 1s
    connection: { host: 127.0.0.1, port: ${simulatorPort} }
    points:
      - { id: setpoint, unit: °C, scale: 0.1, writable: true, address: { table: holding, address: 10, type: int16 } }
      - { id: pump, kind: boolean, writable: true, address: { table: coil, address: 0, type: bool } }
      - { id: temp, unit: °C, scale: 0.1, address: { table: input, address: 0, type: int16 } }
`,
      join(dir, `gateway-${allowWrites}.yaml`),
      new PluginRegistry(),
    );
    const gateway = await Gateway.start({ config, logger: quiet });
    gateways.push(gateway);
    return gateway;
  }

  const post = (gateway: Gateway, id: string, body: unknown) =>
    fetch(`${gateway.url}/api/points/${id}/write`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('writes engineering values to writable points, and the next cycle reads them', async () => {
    const gateway = await start(true);
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));

    const response = await post(gateway, 'boiler.setpoint', { value: 21.5 });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ point: 'boiler.setpoint', value: 21.5 });
    // Scale 0.1: the device holds 215.
    expect(simulator.get('holding', 10, 'int16')).toBe(215);
    expect((await post(gateway, 'boiler.pump', { value: true })).status).toBe(200);
    expect(simulator.get('coil', 0, 'bool')).toBe(true);

    const after = Date.now();
    await expect.poll(() => samples.find((s) => s.point === 'boiler.setpoint' && s.time > after)?.value, { timeout: 5000 }).toBeCloseTo(21.5, 6);
    expect(samples.find((s) => s.point === 'boiler.pump' && s.time > after)?.value).toBe(true);
  });

  it('refuses read-only and unknown points, values of the wrong kind and malformed bodies', async () => {
    const gateway = gateways[0]!;
    const refused = await post(gateway, 'boiler.temp', { value: 30 });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string }).error).toBe('boiler.temp is not writable (writable: false in the configuration)');
    expect((await post(gateway, 'boiler.flow', { value: 1 })).status).toBe(404);
    expect((await post(gateway, 'boiler.pump', { value: 1 })).status).toBe(409);
    expect((await post(gateway, 'boiler.setpoint', { level: 1 })).status).toBe(400);
    // Relinquishing (null) is for plugins that command by priority, not Modbus.
    const relinquish = await post(gateway, 'boiler.setpoint', { value: null });
    expect(relinquish.status).toBe(409);
    expect(((await relinquish.json()) as { error: string }).error).toBe('the modbus plugin cannot relinquish a point (null): write a value instead');
    // Out of range for an int16 once scaled: the plugin refuses it before anything is sent.
    expect((await post(gateway, 'boiler.setpoint', { value: 5000 })).status).toBe(409);
    expect(simulator.get('holding', 10, 'int16')).toBe(215);
  });

  it('refuses every write unless the configuration allows writes', async () => {
    const gateway = await start(false);
    const response = await post(gateway, 'boiler.setpoint', { value: 18 });
    expect(response.status).toBe(403);
    expect(simulator.get('holding', 10, 'int16')).toBe(215);
  });
});
