import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
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
