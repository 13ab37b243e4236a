import { execFile, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { BacnetSimulator } from '@citypilot/protocol-bacnet/testing';
import { DataType, OpcuaSimulator } from '@citypilot/protocol-opcua/testing';
import { simulatedPoint } from '@citypilot/plugin-modbus/testing';
import { readYamlFile, type PointConfig } from '@citypilot/sdk';
import { modbusPlugin } from '@citypilot/plugin-modbus';
import { whoIsDestination } from '@citypilot/plugin-bacnet';
import { parseGatewayConfig } from '../config/config.js';
import { discoverDevices, DiscoverUsageError } from './discover-command.js';
import { PluginRegistry } from '../config/registry.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
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
  // Devices that answer every address with one value: every profile's addresses answer.
  const flat = new ModbusSimulator({ points: [], unitId: 1, fill: 0x4366 });
  const zeros = new ModbusSimulator({ points: [], unitId: 1, fill: 0 });
  let port = 0;
  let anyUnitPort = 0;
  let flatPort = 0;
  let zerosPort = 0;
  beforeAll(async () => {
    port = (await meter.start()).port;
    anyUnitPort = (await anyUnit.start()).port;
    flatPort = (await flat.start()).port;
    zerosPort = (await zeros.start()).port;
  });
  afterAll(async () => {
    await meter.stop();
    await anyUnit.stop();
    await flat.stop();
    await zeros.stop();
  });

  it('proposes no profile for a device that answers every address with one value, and says why for each', async () => {
    for (const [p, raw] of [
      [flatPort, /every point reads the same raw value \(230\.263\)/],
      [zerosPort, /every point reads the same raw value \(0\)/],
    ] as const) {
      const yaml = await discoverDevices(new PluginRegistry(), 'modbus', ['--host', '127.0.0.1', '--port', String(p), '--units', '1', '--timeout', '300ms']);
      const drafted = parse(yaml) as { devices: Record<string, unknown>[] };
      expect(drafted.devices).toEqual([expect.objectContaining({ id: 'unit-1', plugin: 'modbus', points: [expect.objectContaining({ id: 'register-0' })] })]);
      expect(drafted.devices[0]).not.toHaveProperty('profile');
      // Every shipped profile answered in full, and each is named with its reason.
      for (const id of ['carlo-gavazzi-em24', 'eastron-sdm630', 'generic-meter', 'schneider-iem3000']) {
        expect(yaml).toMatch(new RegExp(`# .*not proposed: ${id}, whose addresses it answers, but `));
      }
      expect(yaml).toMatch(raw);
      expect(yaml).toMatch(/# .*no known profile fits/);
    }
  });

  it('proposes no profile whose values the device gives are out of what their units measure', async () => {
    const odd = new ModbusSimulator({ points: profilePoints('eastron-sdm630'), unitId: 1 });
    const { port: oddPort } = await odd.start();
    try {
      odd.set('input', 70, 1000, 'float32');
      odd.set('input', 62, -3, 'float32');
      const yaml = await discoverDevices(new PluginRegistry(), 'modbus', [
        '--host',
        '127.0.0.1',
        '--port',
        String(oddPort),
        '--units',
        '1',
        '--timeout',
        '300ms',
      ]);
      expect(parse(yaml).devices[0]).not.toHaveProperty('profile');
      expect(yaml).toMatch(
        /# not proposed: eastron-sdm630, whose addresses it answers, but power-factor reads -3, expected -1 to 1; frequency reads 1000 Hz, expected 40 to 70 Hz/,
      );
    } finally {
      await odd.stop();
    }
  });

  it('finds the unit that answers, matches its profile, and drafts a block the gateway accepts', async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'modbus', ['--host', '127.0.0.1', '--port', String(port), '--units', '1-4', '--timeout', '300ms']);
    const drafted = parse(yaml) as { devices: Record<string, unknown>[] };
    expect(drafted.devices).toEqual([
      {
        id: 'unit-3',
        name: 'Modbus unit 3',
        plugin: 'modbus',
        profile: 'eastron-sdm630',
        connection: expect.objectContaining({ host: '127.0.0.1', port, unitId: 3 }),
      },
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
    await expect(discoverDevices(registry, 'knx', [])).rejects.toThrow(/unknown plugin "knx": expected one of bacnet, modbus, opcua/);
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
    const yaml = await discoverDevices(new PluginRegistry(), 'bacnet', [
      '--interface',
      '127.0.0.1',
      '--port',
      '0',
      '--address',
      device.address,
      '--wait',
      '500ms',
    ]);
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
    expect(help.stdout).toMatch(/--broadcast-address +Where the Who-Is broadcast goes/);
    expect(help.stdout).toMatch(/--wait +How long to collect I-Am answers/);
  });

  it('finds devices by a broadcast Who-Is within instance limits, options written in kebab-case', async () => {
    const port = broadcastable.address.split(':')[1];
    const args = [
      '--interface',
      '0.0.0.0',
      '--port',
      '0',
      '--broadcast-address',
      `127.255.255.255:${port}`,
      '--low',
      '3100',
      '--high',
      '3200',
      '--wait',
      '800ms',
    ];
    const yaml = await discoverDevices(new PluginRegistry(), 'bacnet', args);
    expect((parse(yaml) as { devices: { connection: { deviceInstance: number } }[] }).devices.map((d) => d.connection.deviceInstance)).toEqual([3102]);
    const none = await discoverDevices(new PluginRegistry(), 'bacnet', [...args.slice(0, 6), '--low', '1', '--high', '2', '--wait', '300ms']);
    expect(none).toMatch(/^# No device answered/);
  });
});

describe('citypilot gateway discover bacnet, on equipment named and built as others do', () => {
  const device = new BacnetSimulator({
    deviceInstance: 3103,
    deviceName: 'PeerSim-BACnet',
    objects: [
      { type: 2, instance: 1, name: 'Room Setpoint', description: 'Room set-point', initial: 21 },
      { type: 17, instance: 1, name: 'Occupancy Schedule', description: 'Weekly occupancy', initial: 1 },
      { type: 6, instance: 1, name: 'Holidays', description: 'Public holidays', initial: 0 },
    ],
  });
  beforeAll(() => device.start());
  afterAll(() => device.stop());

  it("drafts an id that reads like the device's name, and leaves out its schedule and calendar with the reason in a comment", async () => {
    const yaml = await discoverDevices(new PluginRegistry(), 'bacnet', [
      '--interface',
      '127.0.0.1',
      '--port',
      '0',
      '--address',
      device.address,
      '--wait',
      '500ms',
    ]);
    const drafted = parse(yaml) as { devices: { id: string; points: { id: string }[] }[] };
    expect(drafted.devices[0]!.id).toBe('peersim-bacnet');
    expect(drafted.devices[0]!.points.map((p) => p.id)).toEqual(['room-setpoint']);
    expect(yaml).toMatch(
      /^ *# left out: 1 schedule, 1 calendar object\(s\): schedules and calendars hold what they command or which days they cover, not a measurement: read the objects they command$/m,
    );
  });

  it('sends the Who-Is to port 47808 when --broadcast-address names no port', async () => {
    // Port 47808 on loopback, where the Who-Is must arrive; another program may hold it.
    const listener = createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      listener.once('error', () => resolve(false));
      listener.bind(47808, '127.0.0.1', () => resolve(true));
    });
    if (!bound) {
      listener.close();
      console.warn('port 47808 of 127.0.0.1 is in use: the Who-Is destination is checked without the network');
      expect(whoIsDestination('127.0.0.1')).toBe('127.0.0.1:47808');
      return;
    }
    const received: Buffer[] = [];
    listener.on('message', (m) => received.push(m));
    try {
      await discoverDevices(new PluginRegistry(), 'bacnet', ['--interface', '127.0.0.1', '--port', '0', '--broadcast-address', '127.0.0.1', '--wait', '300ms']);
      // BVLC original-broadcast, NPDU, unconfirmed request 0x10, service who-is (8).
      expect(received.map((m) => m.subarray(6, 8).toString('hex'))).toEqual(['1008']);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});

describe('citypilot gateway discover opcua', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-discover-opcua-'));
  // The building, with what a drafted block cannot hold as it is: a long array, bytes.
  const simulator = new OpcuaSimulator({
    pkiDir: join(dir, 'server-pki'),
    extraVariables: [
      { path: 'Plant.Temperatures', dataType: DataType.Double, arrayLength: 40, initial: () => Array.from({ length: 40 }, (_, i) => 20 + i / 10) },
      { path: 'Plant.Firmware', dataType: DataType.ByteString, initial: () => Buffer.from([1, 2, 3]) },
    ],
  });
  let endpointUrl = '';
  beforeAll(async () => {
    endpointUrl = (await simulator.start()).endpointUrl;
  });
  afterAll(async () => {
    await simulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('browses the server into one draft device block the gateway accepts: ids, units, kinds, tags, arrays flattened, the rest noted', async () => {
    const args = ['--endpoint-url', endpointUrl, '--security-mode', 'None', '--data-dir', join(dir, 'data'), '--timeout', '5s'];
    const yaml = await discoverDevices(new PluginRegistry(), 'opcua', args);
    const drafted = parse(yaml) as {
      devices: { id: string; connection: object; points: { id: string; name: string; unit?: string; kind: string; tags: string[]; address: object }[] }[];
    };
    expect(drafted.devices).toHaveLength(1);
    const [device] = drafted.devices;
    expect(device!.connection).toEqual({ endpointUrl, securityMode: 'None' });
    const points = new Map(device!.points.map((p) => [p.id, p]));
    expect(points.get('ahu1-supply-air-temperature')).toEqual({
      id: 'ahu1-supply-air-temperature',
      name: 'AHU1 SupplyAirTemperature',
      unit: '°C',
      kind: 'number',
      tags: expect.arrayContaining(['temp', 'supply', 'air', 'ahu']),
      address: { nodeId: 'ns=1;s=Building.AHU1.SupplyAirTemperature' },
    });
    expect(points.get('meters-main-energy')).toMatchObject({ unit: 'kWh', tags: expect.arrayContaining(['elec', 'energy', 'meter']) });
    expect(points.get('ahu2-fan-running')).toMatchObject({ kind: 'boolean', address: { nodeId: 'ns=1;s=Building.AHU2.FanRunning' } });
    expect(points.get('meters-main-last-reset')).toMatchObject({ kind: 'string' });
    expect(points.get('meters-main-phase-currents-2')).toMatchObject({ unit: 'A', address: { nodeId: 'ns=1;s=Building.Meters.Main.PhaseCurrents', index: 2 } });
    expect(points.has('meters-main-phase-currents')).toBe(false);
    expect(points.get('plant-temperatures-31')).toMatchObject({ address: { index: 31 } });
    expect(points.has('plant-temperatures-32')).toBe(false);
    expect(device!.points.some((p) => p.id.startsWith('plant-firmware'))).toBe(false);
    // What to check, as comments above the block.
    expect(yaml).toMatch(/# Building\/Plant\/Temperatures is an array of 40 values: only its first 32 are drafted/);
    expect(yaml).toMatch(/# left out, of types the plugin does not read: Building\/Plant\/Firmware \(ByteString\)/);
    expect(yaml).toMatch(/# writable on the server .*: ahu1-supply-air-setpoint, ahu2-supply-air-setpoint/);
    expect(device!.points.every((p) => !('writable' in p))).toBe(true);

    const config = parseGatewayConfig(`gateway: { id: site }\n${yaml}`, join(dir, 'discovered.yaml'), new PluginRegistry());
    expect(config.devices[0]!.config.points).toHaveLength(device!.points.length);
    expect(config.devices[0]!.config.points.every((p) => p.writable === false)).toBe(true);
  });

  it('drafts plain YAML: no anchors or aliases, so that deleting a point leaves the others as they were', async () => {
    const args = ['--endpoint-url', endpointUrl, '--security-mode', 'None', '--data-dir', join(dir, 'data'), '--timeout', '5s'];
    const yaml = await discoverDevices(new PluginRegistry(), 'opcua', args);
    const lines = yaml.split('\n').filter((l) => !l.trimStart().startsWith('#'));
    expect(lines.filter((l) => /(^|[\s:[,])[&*][A-Za-z0-9_-]+/.test(l))).toEqual([]);
    // The phase currents, elements of one array, have identical tags: each list written out.
    expect(lines.filter((l) => l.trim() === 'tags: [elec, current, meter]').length).toBe(3);
    // What the draft's comment invites: delete a point, here the first of those.
    const first = lines.findIndex((l) => l.trim() === '- id: meters-main-phase-currents-0');
    const next = lines.findIndex((l, i) => i > first && /^\s+- id: /.test(l));
    expect(first).toBeGreaterThan(0);
    const edited = [...lines.slice(0, first), ...lines.slice(next)].join('\n');
    const config = parseGatewayConfig(`gateway: { id: site }\n${edited}`, join(dir, 'edited.yaml'), new PluginRegistry());
    const points = config.devices[0]!.config.points;
    expect(points.map((p) => p.id)).not.toContain('meters-main-phase-currents-0');
    expect(points.find((p) => p.id === 'meters-main-phase-currents-1')!.tags).toEqual(['elec', 'current', 'meter']);
    expect(points).toHaveLength((parse(yaml) as { devices: { points: unknown[] }[] }).devices[0]!.points.length - 1);
  });

  it("says which certificate to trust when the server's is not trusted yet", async () => {
    const args = ['--endpoint-url', endpointUrl, '--security-mode', 'SignAndEncrypt', '--data-dir', join(dir, 'fresh-data'), '--timeout', '5s'];
    await expect(discoverDevices(new PluginRegistry(), 'opcua', args)).rejects.toThrow(
      /not trusted by us .*thumbprint ([0-9a-f]{40}).*citypilot gateway opcua-certificates trust CONFIG \1/,
    );
  });

  it("prints only the draft on stdout from the command line, node-opcua's warnings elsewhere", async () => {
    // Not spawnSync: the simulator answers from this process.
    const child = spawn(process.execPath, [
      cli,
      'discover',
      'opcua',
      '--endpoint-url',
      endpointUrl,
      '--security-mode',
      'None',
      '--data-dir',
      join(dir, 'data'),
      '--from',
      'ns=1;s=Building.Boiler1',
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(status, stderr).toBe(0);
    const drafted = parse(stdout) as { devices: { points: { id: string }[] }[] };
    expect(drafted.devices[0]!.points.map((p) => p.id)).toEqual(['flow-temperature', 'running', 'power']);
    expect(stdout).not.toMatch(/NODE-OPCUA|node-opcua/);
  });
});
