import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deviceConfigSchema, readYamlFile, validate } from '@citypilot/sdk';
import { bacnetAddress, bacnetConnection } from './schema.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

// The gateway's own test accepts every registered plugin's sample, create() included; this one
// checks what the sample shows, against the same schema the gateway uses.
describe('the sample configuration', () => {
  it('is accepted by the device block schema, defaults filled in, ids unique', () => {
    const source = readYamlFile(join(packageDir, 'sample.yaml'));
    const devices = (source.data as { devices: unknown[] }).devices;
    expect(devices.length).toBe(3);
    const schema = deviceConfigSchema(bacnetConnection, bacnetAddress);
    const problems: string[] = [];
    const valid = devices.flatMap((device, i) => {
      const result = validate(schema, device);
      if (result.ok) return [result.value];
      problems.push(...source.describe(result.issues.map((issue) => ({ ...issue, path: ['devices', i, ...issue.path] }))));
      return [];
    });
    expect(problems).toEqual([]);
    expect(new Set(valid.map((d) => d.id)).size).toBe(valid.length);
    for (const device of valid) expect(new Set(device.points.map((p) => p.id)).size, device.id).toBe(device.points.length);
    const [ahu, plant, rooms] = valid;
    expect(ahu!.connection).toMatchObject({ deviceInstance: 11001, address: '192.168.10.21', mode: 'cov', readMethod: 'auto' });
    expect(plant!.connection.address).toBeUndefined();
    expect(plant!.points[0]!.address).toEqual({ objectType: 'analog-input', instance: 1, property: 'present-value', read: 'device', priority: 16 });
    expect(rooms!.connection.network.bbmd).toEqual({ address: '10.20.30.1', ttl: '10m' });
    // Devices on one interface and port share a socket: their network blocks must agree.
    expect(plant!.connection.network).toEqual(ahu!.connection.network);
  });

  it('the schema says what a wrong setting of a device block should be', () => {
    const schema = deviceConfigSchema(bacnetConnection, bacnetAddress);
    const result = validate(schema, {
      id: 'x',
      plugin: 'bacnet',
      connection: { deviceInstance: 4194303 },
      points: [{ id: 'p', address: { objectType: 'analogue-input', instance: 1 } }],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
        'connection.deviceInstance: 4194303 is outside 0..4194302',
        'points.0.address.objectType: expected an object type such as analog-input, binary-value, multi-state-value, or its number, got "analogue-input"',
      ]);
    }
  });
});
