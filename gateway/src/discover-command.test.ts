import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { BacnetSimulator } from '@citypilot/protocol-bacnet/testing';
import { simulatedPoint } from '@citypilot/plugin-modbus/testing';
import { readYamlFile, type PointConfig } from '@citypilot/sdk';
import { modbusPlugin } from '@citypilot/plugin-modbus';
import { parseGatewayConfig } from './config.js';
import { discoverDevices, DiscoverUsageError } from './discover-command.js';
import { PluginRegistry } from './registry.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(packageDir, 'dist', 'cli.js');

/** The points of one of the Modbus plugin's shipped profiles, as a simulator serves them. */
function profilePoints(id: string) {
  const data = readYamlFile(join(modbusPlugin.profilesDir!, `${id}.yaml`)).data as { points: Record<string, unknown>[] };
  return data.points.map((p) => simulatedPoint({ kind: 'number', tags: [], scale: 1, offset: 0, writable: false, ...p } as unknown as PointConfig, false));
}

describe('citypilot gateway discover modbus', () => {
  // An SDM630 meter as unit 3 behind a gateway that answers for nothing else.
  const meter = new ModbusSimulator({ points: profilePoints('eastron-sdm630'), unitId: 3 });
  // A TCP device that answers whatever the unit id.
  const anyUnit = new ModbusSimulator({ points: profilePoints('eastron-sdm630') });
  let port = 0;
  let anyUnitPort = 0;
  beforeAll(async () => {
    port = (await meter.start()).port;
    anyUnitPort = (await anyUnit.start()).port;
  });
  afterAll(async () => {
    await meter.stop();
    await anyUnit.stop();
  });

  it('finds the unit that answers, matches its profile, and drafts a block the gateway accepts', async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'modbus', ['--host', '127.0.0.1', '--port', String(port), '--units', '1-4', '--timeout', '300ms']);
    const drafted = parse(yaml) as { devices: Record<string, unknown>[] };
    expect(drafted.devices).toEqual([
      { id: 'unit-3', name: 'Modbus unit 3', plugin: 'modbus', profile: 'eastron-sdm630', connection: expect.objectContaining({ host: '127.0.0.1', port, unitId: 3 }) },
    ]);
    // What the profile fixes is left to it, or the block would be refused.
    expect(drafted.devices[0]!.connection).not.toHaveProperty('maxRegistersPerRequest');
    const config = parseGatewayConfig(`gateway: { id: site }\n${yaml}`, join(packageDir, 'discovered.yaml'), new PluginRegistry());
    expect(config.devices[0]!.config.points).toHaveLength(15);
  });

  it('reports a device that answers every unit id once, with a note', async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'modbus', [`--host=127.0.0.1`, `--port=${anyUnitPort}`, '--units=1-3']);
    expect(yaml).toMatch(/# every unit id tried answered/);
    expect((parse(yaml) as { devices: unknown[] }).devices).toEqual([expect.objectContaining({ id: 'unit-1', profile: 'eastron-sdm630' })]);
  });

  it('says so when nothing answers', async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'modbus', ['--host', '127.0.0.1', '--port', String(port), '--units', '7', '--timeout', '200ms']);
    expect(yaml).toMatch(/^# No device answered/);
  });

  it('refuses a bad command line with the option named, before any request', async () => {
    const registry = new PluginRegistry();
    await expect(discoverDevices(registry, 'modbus', ['--host', '127.0.0.1', '--port', 'abc'])).rejects.toThrow(/--port: .*integer/i);
    await expect(discoverDevices(registry, 'modbus', ['--host', '127.0.0.1', '--units', '3-1'])).rejects.toThrow(/--units: "3-1" is not a range/);
    await expect(discoverDevices(registry, 'modbus', ['--colour', 'red'])).rejects.toThrow(DiscoverUsageError);
    await expect(discoverDevices(registry, 'knx', [])).rejects.toThrow(/unknown plugin "knx": expected one of bacnet, modbus/);
  });

  it('lists the plugin options from its schema (--help) and exits 2 on a bad option, from the command line', () => {
    const help = spawnSync(process.execPath, [cli, 'discover', 'modbus', '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--units +Unit ids/);
    expect(help.stdout).toMatch(/--host /);
    expect(help.stdout).not.toMatch(/--unitId/);
    const bad = spawnSync(process.execPath, [cli, 'discover', 'modbus', '--port', 'x'], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('citypilot gateway discover bacnet', () => {
  const device = new BacnetSimulator({ deviceInstance: 3101, deviceName: 'CTA Gymnase' });
  // Bound to all addresses: it hears a broadcast Who-Is on loopback.
  const broadcastable = new BacnetSimulator({ interface: '0.0.0.0', deviceInstance: 3102 });
  beforeAll(async () => {
    await device.start();
    await broadcastable.start();
  });
  afterAll(async () => {
    await device.stop();
    await broadcastable.stop();
  });

  it('asks one device (directed Who-Is), reads its objects, and drafts a block with a point per object that the gateway accepts', async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'bacnet', ['--interface', '127.0.0.1', '--port', '0', '--address', device.address, '--wait', '500ms']);
    const drafted = parse(yaml) as { devices: { id: string; connection: unknown; points: { id: string; address: unknown; unit?: string; kind?: string }[] }[] };
    expect(drafted.devices).toHaveLength(1);
    const [block] = drafted.devices;
    expect(block!.id).toBe('cta-gymnase');
    expect(block!.connection).toEqual({ deviceInstance: 3101, address: device.address });
    expect(block!.points).toHaveLength(device.objectList.length - 1);
    expect(block!.points[0]).toMatchObject({ id: 'ahu1-supply-air-temperature', unit: '°C', address: { objectType: 'analog-input', instance: 1 } });
    expect(block!.points.find((p) => (p.address as { objectType: string }).objectType === 'binary-input')?.kind).toBe('boolean');
    expect(yaml).toMatch(/# CityPilot Simulated Building Controller, max APDU 1476/);
    const config = parseGatewayConfig(`gateway: { id: site }\n${yaml}`, join(packageDir, 'discovered.yaml'), new PluginRegistry());
    expect(config.devices[0]!.config.points).toHaveLength(device.objectList.length - 1);
  });

  it('runs from the command line, and lists its options', async () => {
    // Not spawnSync: the simulated device answers from this process's event loop.
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [cli, 'discover', 'bacnet', ...args], { encoding: 'utf8', timeout: 30_000 });
    const { stdout } = await run('--interface', '127.0.0.1', '--port', '0', '--address', device.address, '--wait', '300ms');
    expect(stdout).toMatch(/^# 1 device\(s\) found by bacnet discovery/);
    expect((parse(stdout) as { devices: { connection: unknown }[] }).devices[0]!.connection).toEqual({ deviceInstance: 3101, address: device.address });
    const help = await run('--help');
    expect(help.stdout).toMatch(/--broadcastAddress +Where the Who-Is broadcast goes/);
    expect(help.stdout).toMatch(/--wait +How long to collect I-Am answers/);
  });

  it('finds devices by a broadcast Who-Is within instance limits, options written in kebab-case', async () => {
    const port = broadcastable.address.split(':')[1];
    const args = ['--interface', '0.0.0.0', '--port', '0', '--broadcast-address', `127.255.255.255:${port}`, '--low', '3100', '--high', '3200', '--wait', '800ms'];
    const yaml = await discoverDevices(new PluginRegistry(), 'bacnet', args);
    expect((parse(yaml) as { devices: { connection: { deviceInstance: number } }[] }).devices.map((d) => d.connection.deviceInstance)).toEqual([3102]);
    const none = await discoverDevices(new PluginRegistry(), 'bacnet', [...args.slice(0, 6), '--low', '1', '--high', '2', '--wait', '300ms']);
    expect(none).toMatch(/^# No device answered/);
  });
});
