import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DeviceTimeoutError, DeviceUnreachableError, parseConfig, pluginDeviceSchema, type DeviceConfig } from '@citypilot/sdk';
import { ModbusSimulator, demoBuildings, type SimulatedPoint } from '@citypilot/protocol-modbus';
import { modbusPlugin } from './plugin.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const schema = pluginDeviceSchema(modbusPlugin);

function device(port: number, points: unknown[], connection: object = {}): DeviceConfig {
  return parseConfig(schema, { id: 'meter', plugin: 'modbus', connection: { host: '127.0.0.1', port, ...connection }, points }) as DeviceConfig;
}

function createError(points: unknown[], connection: object = {}): ConfigError {
  try {
    modbusPlugin.create(device(502, points, connection) as never, { timeoutMs: 500, logger: quiet });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('create() accepted the config');
}

describe('Modbus plugin configuration', () => {
  it('reports overlapping points, with the point they overlap', () => {
    const e = createError([
      { id: 'energy', address: { table: 'holding', address: 0, type: 'float32' } },
      { id: 'power', address: { table: 'holding', address: 1, type: 'uint16' } },
    ]);
    expect(e.issues).toEqual([{ path: ['points', 1, 'address'], message: 'overlaps point "energy" (holding 0..1)' }]);
  });

  it('reports strings without length, bits on register tables, and addresses out of range', () => {
    const e = createError([
      { id: 'model', address: { table: 'holding', address: 10, type: 'string' } },
      { id: 'flag', address: { table: 'holding', address: 20, type: 'bool' } },
      { id: 'alarm', address: { table: 'coil', address: 0, type: 'uint16' } },
      { id: 'last', address: { table: 'input', address: 65535, type: 'float32' } },
    ]);
    expect(e.issues).toEqual([
      { path: ['points', 0, 'address', 'length'], message: 'is required for a string: its length in registers' },
      { path: ['points', 1, 'address', 'type'], message: 'a holding register is not a bool: use uint16 (or a coil or discrete input)' },
      { path: ['points', 2, 'address', 'type'], message: 'coil holds single bits: expected "bool", got "uint16"' },
      { path: ['points', 3, 'address', 'address'], message: '65535 is outside 0..65534 (zero-based, 2 register(s))' },
    ]);
  });

  it('counts one-based addresses from 1', () => {
    const e = createError([{ id: 'zero', address: { table: 'holding', address: 0 } }], { addressing: 'one-based' });
    expect(e.issues[0]!.message).toBe('0 is outside 1..65536 (one-based, 1 register(s))');
  });

  it('rejects an unknown type through the schema, listing the types', () => {
    expect(() => device(502, [{ id: 'x', address: { table: 'holding', address: 0, type: 'float' } }])).toThrow(
      'points[0].address.type: expected one of "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", got "float"',
    );
  });
});

describe('Modbus plugin against a simulated device', () => {
  let simulator: ModbusSimulator | undefined;
  afterEach(async () => {
    await simulator?.stop();
    simulator = undefined;
  });

  it("reads the demo town hall's points, decoded, in as few requests as the plan allows", async () => {
    const building = demoBuildings[0]!;
    simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim) });
    const { port } = await simulator.start();
    const energy = building.points.find((p) => p.id === 'elec-energy')!;
    simulator.set(energy.sim, 1_254_310.5);
    const indoor = building.points.find((p) => p.id === 'indoor-temp')!;
    simulator.set(indoor.sim, 21.3);
    const config = device(
      port,
      building.points.map((p) => ({ id: p.id, address: { table: p.sim.table, address: p.sim.address, type: p.sim.type, order: p.sim.order ?? 'ABCD' } })),
    );
    const driver = modbusPlugin.create(config as never, { timeoutMs: 1000, logger: quiet });
    try {
      const readings = new Map((await driver.read()).map((r) => [r.point, r]));
      expect(readings.size).toBe(building.points.length);
      expect(readings.get('elec-energy')).toEqual({ point: 'elec-energy', value: 1_254_310.5, quality: 'good' });
      // Raw value: the gateway core applies the point's scale (0.1) later.
      expect(readings.get('indoor-temp')).toEqual({ point: 'indoor-temp', value: 213, quality: 'good' });
      expect([...readings.values()].every((r) => r.quality === 'good')).toBe(true);
    } finally {
      await driver.close();
    }
  });

  it('marks only the points of a refused request bad, with the exception', async () => {
    const sim: SimulatedPoint = { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 42 } };
    simulator = new ModbusSimulator({ points: [sim] });
    const { port } = await simulator.start();
    const driver = modbusPlugin.create(
      device(port, [
        { id: 'ok', address: { table: 'holding', address: 0 } },
        { id: 'missing', address: { table: 'holding', address: 100 } },
      ]) as never,
      { timeoutMs: 1000, logger: quiet },
    );
    try {
      expect(await driver.read()).toEqual([
        { point: 'ok', value: 42, quality: 'good' },
        { point: 'missing', value: null, quality: 'bad', reason: 'illegal data address (exception 2)' },
      ]);
    } finally {
      await driver.close();
    }
  });

  it('fails the device with a timeout when it falls silent, and reads again when it answers', async () => {
    const sim: SimulatedPoint = { table: 'input', address: 5, type: 'int16', behaviour: { kind: 'constant', value: -7 } };
    simulator = new ModbusSimulator({ points: [sim] });
    const { port } = await simulator.start();
    const driver = modbusPlugin.create(device(port, [{ id: 't', address: { table: 'input', address: 5, type: 'int16' } }]) as never, { timeoutMs: 300, logger: quiet });
    try {
      expect(await driver.read()).toEqual([{ point: 't', value: -7, quality: 'good' }]);
      simulator.silence(true);
      const started = Date.now();
      await expect(driver.read()).rejects.toBeInstanceOf(DeviceTimeoutError);
      expect(Date.now() - started).toBeLessThan(5000);
      simulator.silence(false);
      expect(await driver.read()).toEqual([{ point: 't', value: -7, quality: 'good' }]);
    } finally {
      await driver.close();
    }
  });

  it('reports a device that refuses the connection as unreachable', async () => {
    simulator = new ModbusSimulator({ points: [] });
    const { port } = await simulator.start();
    await simulator.stop();
    const driver = modbusPlugin.create(device(port, [{ id: 'x', address: { table: 'holding', address: 0 } }]) as never, { timeoutMs: 500, logger: quiet });
    try {
      await expect(driver.read()).rejects.toBeInstanceOf(DeviceUnreachableError);
    } finally {
      await driver.close();
    }
  });
});
