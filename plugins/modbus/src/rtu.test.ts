import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DeviceTimeoutError, parseConfig, pluginDeviceSchema, type DeviceConfig, type Driver } from '@citypilot/sdk';
import { ModbusRtuSimulator, SimulatedDevice, type SimulatedPoint } from '@citypilot/protocol-modbus';
import { openPtyPair, socatMissing } from '@citypilot/protocol-modbus/testing';
import { createModbusPlugin } from './plugin.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const points = [
  { id: 'energy', address: { table: 'holding', address: 0, type: 'uint32' } },
  { id: 'temp', address: { table: 'input', address: 0, type: 'int16' } },
];
const meter = (energy: number) =>
  new SimulatedDevice({
    points: [
      { table: 'holding', address: 0, type: 'uint32', behaviour: { kind: 'constant', value: energy } },
      { table: 'input', address: 0, type: 'int16', behaviour: { kind: 'constant', value: -5 } },
    ] satisfies SimulatedPoint[],
  });

/** A device block as the gateway hands it to the plugin: validated, defaults applied. */
function device(plugin: ReturnType<typeof createModbusPlugin>, id: string, connection: object, devicePoints: unknown[] = points) {
  return parseConfig(pluginDeviceSchema(plugin), { id, plugin: 'modbus', connection, points: devicePoints }) as DeviceConfig<
    typeof plugin.schema.connection,
    typeof plugin.schema.address
  >;
}

function createError(connection: object, devicePoints: unknown[] = points): ConfigError {
  const plugin = createModbusPlugin();
  try {
    plugin.create(device(plugin, 'meter', connection, devicePoints), { timeoutMs: 500, logger: quiet }).close();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('create() accepted the configuration');
}

describe('Modbus plugin serial settings', () => {
  it('needs a serial port for rtu and a host for the others, and refuses the one that does not apply', () => {
    expect(createError({ transport: 'rtu' }).issues).toEqual([
      { path: ['connection', 'serialPort'], message: 'is required for transport rtu: the path of the serial port, such as /dev/ttyUSB0' },
    ]);
    expect(createError({ transport: 'rtu', serialPort: '/dev/ttyUSB0', host: '192.0.2.1' }).issues).toEqual([
      { path: ['connection', 'host'], message: 'applies to transports tcp and rtu-over-tcp, not rtu (the device is on serialPort)' },
    ]);
    expect(createError({ transport: 'rtu-over-tcp' }).issues).toEqual([
      { path: ['connection', 'host'], message: 'is required for transport rtu-over-tcp: the IP address or host name of the device or gateway' },
    ]);
    expect(createError({ host: '192.0.2.1', serialPort: '/dev/ttyUSB0' }).issues).toEqual([
      { path: ['connection', 'serialPort'], message: 'applies to transport rtu only, not tcp' },
    ]);
  });

  it('reports connection and point problems together', () => {
    const e = createError({ transport: 'rtu' }, [{ id: 'x', address: { table: 'coil', address: 0, type: 'uint16' } }]);
    expect(e.issues.map((i) => i.path)).toEqual([
      ['connection', 'serialPort'],
      ['points', 0, 'address', 'type'],
    ]);
  });

  it('refuses two devices on one serial port with different line settings', () => {
    const plugin = createModbusPlugin();
    const first = plugin.create(device(plugin, 'a', { transport: 'rtu', serialPort: '/dev/ttyUSB7', baudRate: 19200 }), { timeoutMs: 500, logger: quiet });
    let error: unknown;
    try {
      plugin.create(device(plugin, 'b', { transport: 'rtu', serialPort: '/dev/ttyUSB7' }), { timeoutMs: 500, logger: quiet });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        path: ['connection', 'baudRate'],
        message: '/dev/ttyUSB7 is already used with baudRate 19200 by another device: devices on one serial line share its settings',
      },
    ]);
    // Another plugin instance has links of its own.
    expect(() =>
      createModbusPlugin()
        .create(device(plugin, 'b', { transport: 'rtu', serialPort: '/dev/ttyUSB7' }), { timeoutMs: 500, logger: quiet })
        .close(),
    ).not.toThrow();
    return first.close();
  });

  it('reads durations for the pause between requests, and refuses other words', () => {
    const plugin = createModbusPlugin();
    expect(device(plugin, 'a', { transport: 'rtu', serialPort: '/dev/ttyUSB0', pauseBetweenRequests: '50ms' }).connection.pauseBetweenRequests).toBe('50ms');
    expect(() => device(plugin, 'a', { transport: 'rtu', serialPort: '/dev/ttyUSB0', pauseBetweenRequests: 50 })).toThrow('connection.pauseBetweenRequests');
    expect(() => device(plugin, 'a', { transport: 'serial' })).toThrow('connection.transport: expected one of "tcp", "rtu", "rtu-over-tcp", got "serial"');
  });
});

const missing = socatMissing();
if (missing) console.log(`Modbus plugin RTU tests skipped: ${missing}`);

describe.skipIf(missing)(`Modbus plugin on a serial line (a pty pair)${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function line(devices: Map<number, SimulatedDevice>) {
    const pty = await openPtyPair();
    cleanup.push(() => pty.close());
    const simulator = new ModbusRtuSimulator({ path: pty.b, devices });
    await simulator.start();
    cleanup.push(() => simulator.stop());
    return { pty, simulator };
  }

  function create(plugin: ReturnType<typeof createModbusPlugin>, config: ReturnType<typeof device>, timeoutMs: number): Driver {
    const driver = plugin.create(config, { timeoutMs, logger: quiet });
    cleanup.push(() => driver.close());
    return driver;
  }

  it('marks only the silent device of a shared line bad; the other reads after its timeout', async () => {
    const silent = meter(2000);
    const { pty, simulator } = await line(
      new Map([
        [1, meter(1000)],
        [2, silent],
      ]),
    );
    const plugin = createModbusPlugin();
    const one = create(plugin, device(plugin, 'one', { transport: 'rtu', serialPort: pty.a, unitId: 1 }), 1000);
    const two = create(plugin, device(plugin, 'two', { transport: 'rtu', serialPort: pty.a, unitId: 2 }), 250);
    expect(await Promise.all([one.read(), two.read()])).toEqual([
      [
        { point: 'energy', value: 1000, quality: 'good' },
        { point: 'temp', value: -5, quality: 'good' },
      ],
      [
        { point: 'energy', value: 2000, quality: 'good' },
        { point: 'temp', value: -5, quality: 'good' },
      ],
    ]);
    silent.silence(true);
    const [failed, good] = await Promise.allSettled([two.read(), one.read()]);
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'DEVICE_TIMEOUT', message: `${pty.a} unit 2: no answer within 250 ms` } });
    expect((failed as PromiseRejectedResult).reason).toBeInstanceOf(DeviceTimeoutError);
    expect(good).toEqual({
      status: 'fulfilled',
      value: [expect.objectContaining({ point: 'energy', value: 1000, quality: 'good' }), expect.objectContaining({ quality: 'good' })],
    });
    expect(simulator.maxInFlight).toBe(1);
  });

  it('writes with functions 5 and 6 for single values unless the device takes multiple writes only', async () => {
    const target = () =>
      new SimulatedDevice({
        points: [
          { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 0 } },
          { table: 'holding', address: 2, type: 'float32', behaviour: { kind: 'constant', value: 0 } },
          { table: 'coil', address: 0, type: 'bool', behaviour: { kind: 'constant', value: false } },
        ],
      });
    const writable = [
      { id: 'setpoint', writable: true, address: { table: 'holding', address: 0, type: 'uint16' } },
      { id: 'limit', writable: true, address: { table: 'holding', address: 2, type: 'float32' } },
      { id: 'pump', kind: 'boolean', writable: true, address: { table: 'coil', address: 0, type: 'bool' } },
    ];
    const { pty, simulator } = await line(
      new Map([
        [1, target()],
        [2, target()],
      ]),
    );
    const plugin = createModbusPlugin();
    const writes = (unitId: number) =>
      simulator.requests.filter((r) => r.unitId === unitId && [5, 6, 15, 16].includes(r.functionCode)).map((r) => r.functionCode);
    for (const [unitId, writeFunctions] of [
      [1, 'single-when-possible'],
      [2, 'multiple-only'],
    ] as const) {
      const driver = create(plugin, device(plugin, `d${unitId}`, { transport: 'rtu', serialPort: pty.a, unitId, writeFunctions }, writable), 1000);
      await driver.write!('setpoint', 215);
      await driver.write!('limit', 1.5);
      await driver.write!('pump', true);
      expect(await driver.read()).toEqual([
        { point: 'setpoint', value: 215, quality: 'good' },
        { point: 'limit', value: 1.5, quality: 'good' },
        { point: 'pump', value: true, quality: 'good' },
      ]);
    }
    expect(writes(1)).toEqual([6, 16, 5]);
    expect(writes(2)).toEqual([16, 16, 15]);
  });

  it('reads a device through a serial-to-Ethernet gateway, with a pause between requests', async () => {
    const { pty, simulator } = await line(new Map([[3, meter(3000)]]));
    const gateway = await pty.bridgeTcp();
    const plugin = createModbusPlugin();
    const driver = create(
      plugin,
      device(plugin, 'meter', { transport: 'rtu-over-tcp', host: gateway.host, port: gateway.port, unitId: 3, pauseBetweenRequests: '60ms' }),
      1000,
    );
    expect(await driver.read()).toEqual([
      { point: 'energy', value: 3000, quality: 'good' },
      { point: 'temp', value: -5, quality: 'good' },
    ]);
    const [first, second] = simulator.requests;
    expect(second!.receivedAt - first!.answeredAt!).toBeGreaterThanOrEqual(55);
  });
});
