import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayConfigError, parseGatewayConfig } from './config.js';
import { ProfileLibrary } from './profiles.js';
import { PluginRegistry } from './registry.js';

const registry = new PluginRegistry();
const dir = mkdtempSync(join(tmpdir(), 'citypilot-profiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gateway(devices: string, extra = ''): string {
  return `gateway:\n  id: school\n${extra}devices:\n${devices}`;
}

function problems(text: string): string[] {
  try {
    parseGatewayConfig(text, join(dir, 'gateway.yaml'), registry);
  } catch (error) {
    if (error instanceof GatewayConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('the configuration was accepted');
}

/** A connection block that reaches nothing, per plugin, for a device that only has to pass the checks. */
const someConnection: Record<string, string> = {
  modbus: '{ host: 192.0.2.1 }',
  opcua: '{ endpointUrl: "opc.tcp://192.0.2.1:4840" }',
  bacnet: '{ deviceInstance: 1234, address: 192.0.2.1 }',
};

describe('shipped device profiles', () => {
  const library = new ProfileLibrary();
  for (const id of registry.ids()) {
    const plugin = registry.get(id)!;
    for (const profileId of library.ids(plugin)) {
      it(`${id}/${profileId} is valid and a device using it passes the plugin's checks`, () => {
        const loaded = library.get(plugin, profileId)!;
        expect(loaded.profile.id).toBe(profileId);
        expect(basename(loaded.source.file)).toBe(`${profileId}.yaml`);
        const config = parseGatewayConfig(
          gateway(`  - id: meter\n    plugin: ${id}\n    profile: ${profileId}\n    connection: ${someConnection[id] ?? '{ host: 192.0.2.1 }'}\n`),
          join(dir, 'gateway.yaml'),
          registry,
        );
        expect(config.devices[0]!.config.points.map((p) => p.id)).toEqual(loaded.profile.points.map((p) => p.id));
      });
    }
  }

  it('include a generic profile and at least three meters', () => {
    const ids = library.ids(registry.get('modbus')!);
    expect(ids).toContain('generic-meter');
    expect(ids.filter((i) => i !== 'generic-meter').length).toBeGreaterThanOrEqual(3);
  });
});

describe('a device that uses a profile', () => {
  it('gets the profile points and connection settings, its own points first, redefinitions replacing', () => {
    const config = parseGatewayConfig(
      gateway(`  - id: main
    plugin: modbus
    profile: schneider-iem3000
    connection: { host: 192.0.2.1, unitId: 3 }
    points:
      - { id: power, name: Main power, unit: kW, tags: [elec, meter, power, main], address: { table: holding, address: 3060, type: float32 } }
      - { id: tariff, name: Active tariff, address: { table: holding, address: 4191, type: uint16 } }
`),
      join(dir, 'gateway.yaml'),
      registry,
    );
    const device = config.devices[0]!.config;
    expect(device.connection).toMatchObject({ host: '192.0.2.1', unitId: 3, addressing: 'one-based' });
    expect(device.points.slice(0, 2).map((p) => p.id)).toEqual(['power', 'tariff']);
    expect(device.points.filter((p) => p.id === 'power')).toHaveLength(1);
    expect(device.points.find((p) => p.id === 'power')!.tags).toContain('main');
    expect(device.points.find((p) => p.id === 'energy-import')).toMatchObject({ unit: 'kWh', scale: 0.001 });
  });

  it('is refused with the list of profiles when the profile is unknown', () => {
    expect(problems(gateway(`  - id: main\n    plugin: modbus\n    profile: abb-b23\n    connection: { host: 192.0.2.1 }\n`))).toEqual([
      `${join(dir, 'gateway.yaml')}:6:5 devices[0].profile: unknown profile "abb-b23" for plugin modbus: expected one of "carlo-gavazzi-em24", "eastron-sdm630", "generic-meter", "schneider-iem3000"`,
    ]);
  });

  it('may not set again what the profile fixes for the model', () => {
    expect(
      problems(gateway(`  - id: main\n    plugin: modbus\n    profile: schneider-iem3000\n    connection: { host: 192.0.2.1, addressing: zero-based }\n`)),
    ).toEqual([`${join(dir, 'gateway.yaml')}:7:36 devices[0].connection.addressing: is set by profile schneider-iem3000 ("one-based"): remove it here`]);
  });

  it("shows a mistake in a site's profile at its line in the profile file", () => {
    const site = join(dir, 'site-profiles');
    mkdirSync(site, { recursive: true });
    writeFileSync(
      join(site, 'heat-meter.yaml'),
      `id: heat-meter
plugin: modbus
name: Site heat meter
source: supplier's sheet
points:
  - { id: energy, unit: kWh, address: { table: input, address: 0, type: uint32 } }
  - { id: flow, unit: m3/h, address: { table: input, address: 2, type: float } }
`,
    );
    const text = gateway(`  - id: heat\n    plugin: modbus\n    profile: heat-meter\n    connection: { host: 192.0.2.1 }\n`, 'profileDirs: [site-profiles]\n');
    expect(problems(text)).toEqual([
      `${join(site, 'heat-meter.yaml')}:7:66 points[1].address.type: expected one of "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", got "float"`,
    ]);
  });

  it("points a device point that overlaps a profile point at the profile's line", () => {
    const text = gateway(`  - id: main
    plugin: modbus
    profile: generic-meter
    connection: { host: 192.0.2.1 }
    points:
      - { id: extra, address: { table: holding, address: 3, type: uint16 } }
`);
    expect(problems(text)).toEqual([
      `${registry.get('modbus')!.profilesDir}generic-meter.yaml:12:76 points[1].address: holding 2..3 overlaps point "extra" (holding 3) (in devices[0])`,
    ]);
  });

  it('lists the profiles of every folder, the site folder after the shipped one', () => {
    const site = join(dir, 'site-profiles');
    const library = new ProfileLibrary([site]);
    const plugin = registry.get('modbus')!;
    expect(library.dirs(plugin)).toEqual([plugin.profilesDir, site]);
    expect(library.ids(plugin)).toEqual([...readdirSync(plugin.profilesDir!).map((f) => basename(f, '.yaml')), 'heat-meter'].sort());
  });
});
