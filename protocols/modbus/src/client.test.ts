import { afterEach, describe, expect, it } from 'vitest';
import { ModbusTcpClient } from './client.js';
import { ModbusConnectionError, ModbusExceptionError, ModbusTimeoutError } from './errors.js';
import { ModbusSimulator, type ModbusSimulatorOptions, type SimulatedPoint } from './simulator.js';
import { constantPoint } from './testing/points.js';

const points: SimulatedPoint[] = [
  constantPoint('holding', 0, 'float32', 123.456, { order: 'CDAB' }),
  constantPoint('holding', 2, 'int32', -2),
  constantPoint('holding', 10, 'string', 'CP-1', { length: 3 }),
  constantPoint('input', 5, 'int16', -7),
  constantPoint('coil', 0, 'bool', true),
  constantPoint('coil', 1, 'bool', false),
  constantPoint('discrete', 7, 'bool', true),
];

/** Resources that keep a process alive: sockets, servers and timers. */
const handles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').length;

/**
 * The count of handles once it stops changing, or once it is at most `target`: handles close a
 * little after the calls that close them. (Not vi.waitFor: its own timers would be counted.)
 */
async function settledHandles(target = -1): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const now = handles();
    if (now === last || now <= target) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return last;
}

describe('Modbus TCP client against a simulated device', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(options: Partial<ModbusSimulatorOptions> = {}, timeoutMs = 1000) {
    const simulator = new ModbusSimulator({ points, ...options });
    const { host, port } = await simulator.start();
    cleanup.push(() => simulator.stop());
    const client = new ModbusTcpClient({ host, port, timeoutMs });
    cleanup.push(() => client.close());
    return { simulator, client, port };
  }

  it('reads registers and bits from every table', async () => {
    const { client } = await setup();
    expect(await client.readRegisters(1, 'holding', 0, 4)).toEqual([0xe979, 0x42f6, 0xffff, 0xfffe]);
    expect(await client.readRegisters(1, 'holding', 10, 3)).toEqual([0x4350, 0x2d31, 0x0000]);
    expect(await client.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
    expect(await client.readBits(1, 'coil', 0, 2)).toEqual([true, false]);
    expect(await client.readBits(1, 'discrete', 7, 1)).toEqual([true]);
  });

  it('writes holding registers and coils', async () => {
    const { client, simulator } = await setup();
    await client.writeRegisters(1, 2, [0x0000, 0x002a]);
    expect(await client.readRegisters(1, 'holding', 2, 2)).toEqual([0x0000, 0x002a]);
    expect(simulator.get('holding', 2, 'int32')).toBe(42);
    await client.writeCoils(1, 0, [false, true]);
    expect(await client.readBits(1, 'coil', 0, 2)).toEqual([false, true]);
  });

  it('serves concurrent callers one request at a time, each with its own answer', async () => {
    const { client } = await setup();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? client.readRegisters(1, 'input', 5, 1) : client.readRegisters(1, 'holding', 2, 2))),
    );
    answers.forEach((a, i) => expect(a).toEqual(i % 2 === 0 ? [0xfff9] : [0xffff, 0xfffe]));
  });

  it('reports an exception answer with its code and name, and keeps working', async () => {
    const { client } = await setup();
    const error = await client.readRegisters(1, 'holding', 100, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModbusExceptionError);
    expect(error).toMatchObject({
      code: 'MODBUS_EXCEPTION',
      exceptionCode: 2,
      exceptionName: 'illegal data address',
      message: 'illegal data address (exception 2)',
    });
    // A range only partly covered is refused as a whole.
    await expect(client.readRegisters(1, 'holding', 3, 2)).rejects.toMatchObject({ exceptionCode: 2 });
    await expect(client.writeCoils(1, 5, [true])).rejects.toMatchObject({ exceptionCode: 2 });
    expect(await client.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
  });

  it('times out on a silent device within the timeout, and reconnects once it answers', async () => {
    const { client, simulator } = await setup({}, 200);
    expect(await client.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
    simulator.silence(true);
    const started = Date.now();
    const error = await client.readRegisters(1, 'input', 5, 1).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(ModbusTimeoutError);
    expect(error).toMatchObject({ code: 'MODBUS_TIMEOUT', message: expect.stringMatching(/unit 1: no answer within 200 ms$/) });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
    simulator.silence(false);
    expect(await client.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
  });

  it('sends a request that timed out once more by default, on a new connection', async () => {
    const { simulator, client, port } = await setup({}, 200);
    simulator.silence(true);
    // Silent for the first attempt only: the retry, 50 ms after its timeout, gets the answer.
    setTimeout(() => simulator.silence(false), 100);
    expect(await client.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
    simulator.silence(true);
    const once = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 200, retries: 0 });
    cleanup.push(() => once.close());
    const started = Date.now();
    await expect(once.readRegisters(1, 'input', 5, 1)).rejects.toBeInstanceOf(ModbusTimeoutError);
    expect(Date.now() - started).toBeLessThan(400);
  });

  it('keeps the pause between requests', async () => {
    const { port } = await setup();
    const client = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 1000, pauseMs: 100 });
    cleanup.push(() => client.close());
    await client.readRegisters(1, 'input', 5, 1);
    const started = Date.now();
    await Promise.all([client.readRegisters(1, 'input', 5, 1), client.readRegisters(1, 'input', 5, 1)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });

  it('answers only its unit id when it has one', async () => {
    const { client } = await setup({ unitId: 3 }, 200);
    expect(await client.readRegisters(3, 'input', 5, 1)).toEqual([0xfff9]);
    await expect(client.readRegisters(4, 'input', 5, 1)).rejects.toBeInstanceOf(ModbusTimeoutError);
  });

  it('reports a refused connection as a connection error, with its cause', async () => {
    const simulator = new ModbusSimulator({ points });
    const { host, port } = await simulator.start();
    await simulator.stop();
    const client = new ModbusTcpClient({ host, port, timeoutMs: 1000 });
    cleanup.push(() => client.close());
    const error = await client.readRegisters(1, 'holding', 0, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModbusConnectionError);
    expect(error).toMatchObject({ code: 'MODBUS_CONNECTION', message: `${host}:${port}: cannot connect (ECONNREFUSED)` });
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses arguments outside the protocol limits before sending anything', async () => {
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: 1, timeoutMs: 100 });
    cleanup.push(() => client.close());
    await expect(client.readRegisters(1, 'holding', 0, 126)).rejects.toThrow(RangeError);
    await expect(client.readBits(1, 'coil', 65535, 2)).rejects.toThrow('2 values from address 65535 do not fit 0..65535');
    await expect(client.writeRegisters(1, 0, [70000])).rejects.toThrow('register value 70000 is outside 0..65535');
  });

  it('leaves no socket or timer behind once closed, and refuses requests afterwards', async () => {
    const before = await settledHandles();
    const simulator = new ModbusSimulator({ points });
    const { host, port } = await simulator.start();
    const client = new ModbusTcpClient({ host, port, timeoutMs: 200 });
    await client.readRegisters(1, 'holding', 0, 2);
    expect(handles()).toBeGreaterThan(before);
    simulator.silence(true);
    await expect(client.readRegisters(1, 'holding', 0, 2)).rejects.toBeInstanceOf(ModbusTimeoutError);
    simulator.silence(false);
    expect(await client.readRegisters(1, 'holding', 0, 2)).toEqual([0xe979, 0x42f6]);
    const notSent = client.readRegisters(1, 'holding', 0, 2);
    await client.close();
    await expect(notSent).rejects.toThrow(`${host}:${port}: the client is closed`);
    await expect(client.readRegisters(1, 'holding', 0, 2)).rejects.toBeInstanceOf(ModbusConnectionError);
    // Only the simulator's listening socket and tick timer are left.
    expect(await settledHandles(before + 2)).toBeLessThanOrEqual(before + 2);
    await simulator.stop();
    expect(await settledHandles(before)).toBeLessThanOrEqual(before);
  });
});
