import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  deviceConfigSchema,
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  float32Decimal,
  manifestProblem,
  parseConfig,
  pluginDeviceSchema,
  validate,
  type Driver,
} from '@citypilot/sdk';
import { demoBuildings, ModbusProtocolError, ModbusSimulator, ModbusTimeoutError, type SimulatedPoint } from '@citypilot/protocol-modbus';
import { constantPoint } from '@citypilot/protocol-modbus/testing';
import { modbusPlugin } from './plugin.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const typedSchema = deviceConfigSchema(modbusPlugin.schema.connection, modbusPlugin.schema.address);

/** A device block as the gateway hands it to the plugin: validated, defaults applied. */
function device(port: number, points: unknown[], connection: object = {}) {
  return parseConfig(typedSchema, { id: 'meter', plugin: 'modbus', connection: { host: '127.0.0.1', port, ...connection }, points });
}

function createError(points: unknown[], connection: object = {}): ConfigError {
  try {
    modbusPlugin.create(device(502, points, connection), { timeoutMs: 500, logger: quiet });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('create() accepted the configuration');
}

describe('Modbus plugin manifest and schema', () => {
  it('is loadable by this SDK', () => {
    expect(manifestProblem(modbusPlugin.manifest)).toBeUndefined();
    expect(modbusPlugin.manifest).toMatchObject({ id: 'modbus', version: '0.1.0', sdk: '^0.1.0', protocol: 'modbus-tcp modbus-rtu' });
  });

  it('documents every setting', () => {
    for (const part of [modbusPlugin.schema.connection, modbusPlugin.schema.address]) {
      for (const [key, property] of Object.entries(part.properties)) expect((property as { description?: string }).description, key).toBeTruthy();
    }
  });

  it('fills in the defaults', () => {
    const config = device(502, [{ id: 'x', address: { table: 'holding', address: 0 } }]);
    expect(config.connection).toEqual({
      transport: 'tcp',
      host: '127.0.0.1',
      port: 502,
      baudRate: 9600,
      parity: 'even',
      dataBits: 8,
      stopBits: 1,
      pauseBetweenRequests: '0ms',
      retries: 0,
      unitId: 1,
      writeFunctions: 'single-when-possible',
      addressing: 'zero-based',
      maxRegistersPerRequest: 125,
      maxGap: 0,
    });
    expect(config.points[0]!.address).toEqual({ table: 'holding', address: 0, type: 'uint16', order: 'ABCD' });
  });

  it('rejects an address beyond the address space, with its path and the range that addressing allows', () => {
    // The bound depends on addressing and the type's size, so create() checks it, not the schema.
    const config = device(502, [
      { id: 'energy', address: { table: 'holding', address: 0, type: 'float32' } },
      { id: 'power', address: { table: 'holding', address: 70000, type: 'float32' } },
    ]);
    let error: unknown;
    try {
      modbusPlugin.create(config, { timeoutMs: 500, logger: quiet });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: ['points', 1, 'address', 'address'], message: '70000 is outside 0..65534 (zero-based: a float32 takes 2 registers and the last one is 65535)' },
    ]);
  });

  it('lists the choices for a type, an order or a table it does not know', () => {
    expect(() => device(502, [{ id: 'x', address: { table: 'holdings', address: 0, type: 'float', order: 'ACBD' } }])).toThrow(
      [
        'points[0].address.table: expected one of "holding", "input", "coil", "discrete", got "holdings"',
        'points[0].address.type: expected one of "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", got "float"',
        'points[0].address.order: expected one of "ABCD", "CDAB", "BADC", "DCBA", got "ACBD"',
      ].join('\n'),
    );
  });

  it('rejects unknown settings in connection and address', () => {
    const result = validate(pluginDeviceSchema(modbusPlugin), {
      id: 'meter',
      plugin: 'modbus',
      connection: { host: 'h', slave: 1 },
      points: [{ id: 'x', address: { table: 'holding', address: 0, scale: 2 } }],
    });
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual([
      ['connection', 'slave'],
      ['points', 0, 'address', 'scale'],
    ]);
  });
});

describe('Modbus plugin cross-field checks', () => {
  it('reports overlapping points, with the point they overlap', () => {
    const e = createError([
      { id: 'energy', address: { table: 'holding', address: 0, type: 'float32' } },
      { id: 'voltage', address: { table: 'input', address: 1 } },
      { id: 'power', address: { table: 'holding', address: 1, type: 'uint16' } },
    ]);
    expect(e.issues).toEqual([{ path: ['points', 2, 'address'], message: 'holding 1 overlaps point "energy" (holding 0..1)' }]);
  });

  it('reports strings without length, bits on register tables, registers on bit tables, values past 65535', () => {
    const e = createError([
      { id: 'model', kind: 'string', address: { table: 'holding', address: 10, type: 'string' } },
      { id: 'flag', address: { table: 'holding', address: 20, type: 'bool' } },
      { id: 'alarm', address: { table: 'coil', address: 0, type: 'uint16' } },
      { id: 'last', address: { table: 'input', address: 65535, type: 'float32' } },
      { id: 'ok', address: { table: 'input', address: 65535 } },
    ]);
    expect(e.issues).toEqual([
      { path: ['points', 0, 'address', 'length'], message: 'is required for a string: its length in registers (two characters each)' },
      {
        path: ['points', 1, 'address', 'type'],
        message: '"bool" is for coils and discrete inputs: for a flag in a holding register, give its bit (bit: 0..15)',
      },
      { path: ['points', 2, 'address', 'type'], message: 'a coil holds one bit: expected "bool", got "uint16"' },
      { path: ['points', 3, 'address', 'address'], message: '65535 is outside 0..65534 (zero-based: a float32 takes 2 registers and the last one is 65535)' },
    ]);
    expect(e.message).toContain('points[3].address.address: 65535 is outside 0..65534');
  });

  it('reports duplicate ids, read-only tables marked writable, and strings read as numbers', () => {
    const e = createError([
      { id: 'a', address: { table: 'holding', address: 0 } },
      { id: 'a', address: { table: 'holding', address: 1 } },
      { id: 'b', writable: true, address: { table: 'input', address: 0 } },
      { id: 'c', address: { table: 'holding', address: 2, type: 'string', length: 4 } },
      { id: 'd', address: { table: 'holding', address: 6, type: 'uint32', length: 4 } },
    ]);
    expect(e.issues).toEqual([
      { path: ['points', 1, 'id'], message: '"a" is already the id of points[0]' },
      { path: ['points', 2, 'writable'], message: 'input registers are read-only' },
      { path: ['points', 3, 'kind'], message: 'must be "string" for a string register, got "number"' },
      { path: ['points', 4, 'address', 'length'], message: 'applies to strings only, not to uint32' },
    ]);
  });

  it('counts one-based addresses from 1 and checks them against maxRegistersPerRequest', () => {
    expect(createError([{ id: 'zero', address: { table: 'holding', address: 0 } }], { addressing: 'one-based' }).issues).toEqual([
      { path: ['points', 0, 'address', 'address'], message: '0 is outside 1..65536 (one-based)' },
    ]);
    expect(() =>
      modbusPlugin.create(device(502, [{ id: 'top', address: { table: 'holding', address: 65536 } }], { addressing: 'one-based' }), {
        timeoutMs: 500,
        logger: quiet,
      }),
    ).not.toThrow();
    expect(
      createError([{ id: 'name', kind: 'string', address: { table: 'holding', address: 0, type: 'string', length: 20 } }], { maxRegistersPerRequest: 16 })
        .issues,
    ).toEqual([{ path: ['points', 0, 'address', 'length'], message: 'takes 20 registers, more than connection.maxRegistersPerRequest (16)' }]);
  });
});

describe('Modbus plugin against a simulated device', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function start(points: SimulatedPoint[], now?: () => number): Promise<{ simulator: ModbusSimulator; port: number }> {
    const simulator = new ModbusSimulator({ points, now });
    const { port } = await simulator.start();
    cleanup.push(() => simulator.stop());
    return { simulator, port };
  }

  function create(config: ReturnType<typeof device>, timeoutMs = 1000): Driver {
    const driver = modbusPlugin.create(config, { timeoutMs, logger: quiet });
    cleanup.push(() => driver.close());
    return driver;
  }

  for (const building of demoBuildings) {
    it(`reads the raw values of the demo ${building.id}'s points`, async () => {
      const now = new Date(2026, 0, 6, 11).getTime();
      const { simulator, port } = await start(
        building.points.map((p) => p.sim),
        () => now,
      );
      const driver = create(
        device(
          port,
          building.points.map((p) => ({
            id: p.id,
            unit: p.unit,
            tags: p.tags,
            scale: p.scale,
            address: { table: p.sim.table, address: p.sim.address, type: p.sim.type, order: p.sim.order },
          })),
        ),
      );
      const readings = await driver.read();
      expect(readings.map((r) => r.point)).toEqual(building.points.map((p) => p.id));
      for (const p of building.points) {
        const reading = readings.find((r) => r.point === p.id)!;
        // A float32 as the shortest decimal of its 32 bits, not widened (41.61808, not 41.618080139160156).
        const held = simulator.get(p.sim.table, p.sim.address, p.sim.type, p.sim.order);
        expect(reading, p.id).toEqual({ point: p.id, value: p.sim.type === 'float32' ? float32Decimal(held as number) : held, quality: 'good' });
        // Raw, as the device holds it: the gateway core applies the scale.
        const b = p.sim.behaviour;
        if (b.kind === 'meter') expect(reading.value, p.id).toBe(Math.round(b.startValue / p.scale));
        if (b.kind === 'temperature') expect(Math.abs((reading.value as number) * p.scale - b.mean)).toBeLessThanOrEqual(b.dailyAmplitude * 1.05);
      }
    });
  }

  it('reads coils, discrete inputs, strings and one-based addresses', async () => {
    const { port } = await start([
      constantPoint('holding', 0, 'uint16', 7),
      constantPoint('holding', 1, 'string', 'CP-42', { length: 3 }),
      constantPoint('coil', 3, 'bool', true),
      constantPoint('discrete', 0, 'bool', false),
    ]);
    const driver = create(
      device(
        port,
        [
          { id: 'mode', address: { table: 'holding', address: 1 } },
          { id: 'model', kind: 'string', address: { table: 'holding', address: 2, type: 'string', length: 3 } },
          { id: 'pump', kind: 'boolean', address: { table: 'coil', address: 4, type: 'bool' } },
          { id: 'alarm', kind: 'boolean', address: { table: 'discrete', address: 1, type: 'bool' } },
        ],
        { addressing: 'one-based' },
      ),
    );
    expect(await driver.read()).toEqual([
      { point: 'mode', value: 7, quality: 'good' },
      { point: 'model', value: 'CP-42', quality: 'good' },
      { point: 'pump', value: true, quality: 'good' },
      { point: 'alarm', value: false, quality: 'good' },
    ]);
  });

  it('marks only the points of a refused request bad, with the exception', async () => {
    const { port } = await start([constantPoint('holding', 0, 'uint16', 42), constantPoint('input', 0, 'uint16', 43)]);
    const driver = create(
      device(port, [
        { id: 'ok', address: { table: 'holding', address: 0 } },
        { id: 'missing', address: { table: 'holding', address: 100 } },
        { id: 'also-ok', address: { table: 'input', address: 0 } },
      ]),
    );
    expect(await driver.read()).toEqual([
      { point: 'ok', value: 42, quality: 'good' },
      { point: 'missing', value: null, quality: 'bad', reason: 'illegal data address (exception 2)' },
      { point: 'also-ok', value: 43, quality: 'good' },
    ]);
  });

  it('splits a request refused for an address in a gap it reads across, and reads around the addresses it learnt', async () => {
    // Registers 0..29, but for 8 (in the gap between b and c) and 20 (where point e is).
    const mapped = Array.from({ length: 30 }, (_, a) => a).filter((a) => a !== 8 && a !== 20);
    const { simulator, port } = await start(mapped.map((a) => constantPoint('holding', a, 'uint16', a * 10)));
    const addresses = { a: 0, b: 4, c: 12, d: 16, e: 20, f: 24, g: 28 };
    const driver = create(
      device(
        port,
        Object.entries(addresses).map(([id, address]) => ({ id, address: { table: 'holding', address } })),
        // One request, 0..28, reading across both holes.
        { maxGap: 8 },
      ),
    );
    const expected = Object.entries(addresses).map(([id, address]) =>
      id === 'e'
        ? { point: id, value: null, quality: 'bad', reason: 'illegal data address (exception 2)' }
        : { point: id, value: address * 10, quality: 'good' },
    );
    const requests = async () => {
      const before = simulator.requests;
      expect(await driver.read()).toEqual(expected);
      return simulator.requests - before;
    };
    // The whole, then halves of halves: 0..13 (refused), 0, 4..13 (refused), 4, 12, 16..28
    // (refused), 16..20 (refused), 16, 20 (refused), 24..28.
    expect(await requests()).toBe(11);
    // From then on: 0..4, 12..16, 20 alone (still refused), 24..28; one request per point
    // would be 7.
    expect(await requests()).toBe(4);
    expect(await requests()).toBe(4);
  });

  it('reads a subset of points (a poll group) with requests for those only, planned once per subset', async () => {
    const { simulator, port } = await start([0, 1, 2, 3, 10, 11].map((a) => constantPoint('holding', a, 'uint16', a * 10)));
    const seen: string[] = [];
    const read = simulator.device.read.bind(simulator.device);
    simulator.device.read = (table, address, count) => {
      seen.push(`${address}+${count}`);
      return read(table, address, count);
    };
    const ids = ['a', 'b', 'c', 'd', 'k', 'l'];
    const driver = create(
      device(
        port,
        [0, 1, 2, 3, 10, 11].map((address, i) => ({ id: ids[i], address: { table: 'holding', address } })),
      ),
    );
    const fast = ['b', 'c'];
    const slow = ['l', 'a', 'nope'];
    expect(await driver.read(fast)).toEqual([
      { point: 'b', value: 10, quality: 'good' },
      { point: 'c', value: 20, quality: 'good' },
    ]);
    // In the device's order; ids it does not have are ignored.
    expect(await driver.read(slow)).toEqual([
      { point: 'a', value: 0, quality: 'good' },
      { point: 'l', value: 110, quality: 'good' },
    ]);
    expect(await driver.read(fast)).toHaveLength(2);
    expect((await driver.read()).map((r) => r.point)).toEqual(ids);
    expect(seen).toEqual(['1+2', '0+1', '11+1', '1+2', '0+4', '10+2']);
  });

  it('fails the whole device on a garbled answer, and reads again once the answers are whole', async () => {
    const { simulator, port } = await start([constantPoint('holding', 0, 'float32', 21.5, { order: 'CDAB' }), constantPoint('coil', 0, 'bool', true)]);
    const driver = create(
      device(port, [
        { id: 't', address: { table: 'holding', address: 0, type: 'float32', order: 'CDAB' } },
        { id: 'pump', kind: 'boolean', address: { table: 'coil', address: 0, type: 'bool' } },
      ]),
    );
    const good = [
      { point: 't', value: 21.5, quality: 'good' },
      { point: 'pump', value: true, quality: 'good' },
    ];
    expect(await driver.read()).toEqual(good);
    simulator.garble(true);
    const error = await driver.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceProtocolError);
    expect(error).toMatchObject({ code: 'DEVICE_PROTOCOL' });
    expect((error as Error).cause).toBeInstanceOf(ModbusProtocolError);
    simulator.garble(false);
    expect(await driver.read()).toEqual(good);
  });

  it('marks values that are not numbers bad, and 64-bit values beyond 2^53 uncertain', async () => {
    const { simulator, port } = await start([constantPoint('holding', 0, 'float32', 1), constantPoint('holding', 2, 'uint64', 0)]);
    simulator.set('holding', 0, NaN, 'float32');
    const driver = create(
      device(port, [
        { id: 'nan', address: { table: 'holding', address: 0, type: 'float32' } },
        { id: 'big', address: { table: 'holding', address: 2, type: 'uint64' } },
      ]),
    );
    expect((await driver.read())[0]).toEqual({ point: 'nan', value: null, quality: 'bad', reason: 'not a number' });
    simulator.set('holding', 0, Infinity, 'float32');
    simulator.set('holding', 2, Number.MAX_SAFE_INTEGER, 'uint64');
    expect(await driver.read()).toEqual([
      { point: 'nan', value: null, quality: 'bad', reason: 'not a number' },
      { point: 'big', value: Number.MAX_SAFE_INTEGER, quality: 'good' },
    ]);
    for (let a = 2; a < 6; a++) simulator.set('holding', a, 0xffff, 'uint16');
    expect((await driver.read())[1]).toEqual({
      point: 'big',
      value: 18446744073709552000,
      quality: 'uncertain',
      reason: 'beyond 2^53: rounded to the nearest double',
    });
  });

  it('fails the whole device with a timeout when it falls silent, and reads again when it answers', async () => {
    const { simulator, port } = await start([constantPoint('input', 5, 'int16', -7)]);
    const driver = create(device(port, [{ id: 't', address: { table: 'input', address: 5, type: 'int16' } }]), 300);
    expect(await driver.read()).toEqual([{ point: 't', value: -7, quality: 'good' }]);
    simulator.silence(true);
    const started = Date.now();
    const error = await driver.read().catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(DeviceTimeoutError);
    expect(error).toMatchObject({ code: 'DEVICE_TIMEOUT', message: `127.0.0.1:${port} unit 1: no answer within 300 ms` });
    expect((error as Error).cause).toBeInstanceOf(ModbusTimeoutError);
    simulator.silence(false);
    expect(await driver.read()).toEqual([{ point: 't', value: -7, quality: 'good' }]);
  });

  it('reports a device that refuses the connection as unreachable', async () => {
    const { simulator, port } = await start([]);
    await simulator.stop();
    const driver = create(device(port, [{ id: 'x', address: { table: 'holding', address: 0 } }]), 500);
    const error = await driver.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceUnreachableError);
    expect(error).toMatchObject({ code: 'DEVICE_UNREACHABLE', message: `127.0.0.1:${port}: cannot connect (ECONNREFUSED)` });
  });

  it('writes writable points, reads them back, and refuses the others', async () => {
    const { simulator, port } = await start([
      constantPoint('holding', 0, 'float32', 20, { order: 'CDAB' }),
      constantPoint('coil', 0, 'bool', false),
      constantPoint('holding', 10, 'uint16', 1),
    ]);
    const driver = create(
      device(port, [
        { id: 'setpoint', writable: true, address: { table: 'holding', address: 0, type: 'float32', order: 'CDAB' } },
        { id: 'pump', kind: 'boolean', writable: true, address: { table: 'coil', address: 0, type: 'bool' } },
        { id: 'mode', address: { table: 'holding', address: 10 } },
        { id: 'ghost', writable: true, address: { table: 'holding', address: 20 } },
      ]),
    );
    await driver.write!('setpoint', 21.5);
    await driver.write!('pump', true);
    expect(simulator.get('holding', 0, 'float32', 'CDAB')).toBe(21.5);
    expect(simulator.get('coil', 0, 'bool')).toBe(true);

    await expect(driver.write!('mode', 2)).rejects.toMatchObject({
      issues: [{ path: ['points', 2, 'writable'], message: 'is false: the gateway may not write this point' }],
    });
    await expect(driver.write!('nope', 2)).rejects.toBeInstanceOf(ConfigError);
    await expect(driver.write!('setpoint', 'warm')).rejects.toMatchObject({ issues: [{ path: ['points', 0], message: '"warm" is not a number for float32' }] });
    const refused = await driver.write!('ghost', 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeviceProtocolError);
    expect((refused as Error).message).toBe('write refused: illegal data address (exception 2)');
    expect(simulator.get('holding', 10, 'uint16')).toBe(1);
  });
});
