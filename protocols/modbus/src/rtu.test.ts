import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModbusClient, type ModbusClient } from './client.js';
import { ModbusConnectionError, ModbusExceptionError, ModbusTimeoutError } from './errors.js';
import { ModbusLinkConflictError, ModbusLinks } from './links.js';
import { ModbusRtuSimulator, type ModbusRtuSimulatorOptions } from './rtu-simulator.js';
import { SimulatedDevice, type SimulatedPoint } from './simulator.js';
import { openPtyPair, socatMissing, type PtyPair } from './testing/pty.js';

const constant = (table: SimulatedPoint['table'], address: number, type: SimulatedPoint['type'], value: number | boolean): SimulatedPoint => ({
  table,
  address,
  type,
  behaviour: { kind: 'constant', value },
});

/** A small meter: its unit id is in holding 0, so that answers show who gave them. */
const meter = (unitId: number) =>
  new SimulatedDevice({
    points: [
      constant('holding', 0, 'uint16', unitId),
      constant('holding', 1, 'int32', -2),
      constant('input', 5, 'int16', -7),
      constant('coil', 0, 'bool', true),
    ],
  });

const missing = socatMissing();
if (missing) console.log(`Modbus RTU tests skipped: ${missing}`);

describe.skipIf(missing)(`Modbus RTU over a pty pair${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pty: PtyPair;
  const cleanup: (() => Promise<void>)[] = [];
  // A pty pair of its own for each test: nothing a test leaves on the line reaches the next.
  beforeEach(async () => {
    pty = await openPtyPair();
    cleanup.push(() => pty.close());
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function line(devices: Map<number, SimulatedDevice>, options: Partial<ModbusRtuSimulatorOptions> = {}) {
    const simulator = new ModbusRtuSimulator({ path: pty.b, devices, ...options });
    await simulator.start();
    cleanup.push(() => simulator.stop());
    return simulator;
  }

  function client(c: ModbusClient): ModbusClient {
    cleanup.push(() => c.close());
    return c;
  }

  it('reads and writes every table over RTU, and reports exceptions', async () => {
    const device = meter(1);
    await line(new Map([[1, device]]));
    const c = client(createModbusClient({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 }));
    expect(await c.readRegisters(1, 'holding', 0, 3)).toEqual([1, 0xffff, 0xfffe]);
    expect(await c.readRegisters(1, 'input', 5, 1)).toEqual([0xfff9]);
    expect(await c.readBits(1, 'coil', 0, 1)).toEqual([true]);
    await c.writeRegisters(1, 1, [0, 42]);
    expect(device.get('holding', 1, 'int32')).toBe(42);
    await c.writeCoils(1, 0, [false]);
    expect(await c.readBits(1, 'coil', 0, 1)).toEqual([false]);
    await expect(c.readRegisters(1, 'holding', 100, 1)).rejects.toBeInstanceOf(ModbusExceptionError);
    expect(await c.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
  });

  it('serves two devices sharing one line one request at a time, each with its own answers', async () => {
    const simulator = await line(
      new Map([
        [1, meter(1)],
        [2, meter(2)],
      ]),
      { answerDelayMs: 10 },
    );
    const links = new ModbusLinks();
    const one = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 }));
    const two = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 }));
    expect(links.users()).toEqual(new Map([[pty.a, 2]]));
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? one.readRegisters(1, 'holding', 0, 1) : two.readRegisters(2, 'holding', 0, 1))),
    );
    answers.forEach((a, i) => expect(a).toEqual([i % 2 === 0 ? 1 : 2]));
    expect(simulator.requests).toHaveLength(10);
    expect(simulator.maxInFlight).toBe(1);
    simulator.requests.slice(1).forEach((r, i) => expect(r.receivedAt).toBeGreaterThanOrEqual(simulator.requests[i]!.answeredAt!));
  });

  it('keeps the pause between requests, whoever asks next', async () => {
    const simulator = await line(
      new Map([
        [1, meter(1)],
        [2, meter(2)],
      ]),
    );
    const links = new ModbusLinks();
    const slow = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000, pauseMs: 500 }));
    const other = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 }));
    await Promise.all([
      slow.readRegisters(1, 'holding', 0, 1),
      other.readRegisters(2, 'holding', 0, 1),
      slow.readRegisters(1, 'holding', 0, 1),
      other.readRegisters(2, 'holding', 0, 1),
    ]);
    const r = simulator.requests;
    expect(r.map((x) => x.unitId)).toEqual([1, 2, 1, 2]);
    // After unit 1's requests the line stays quiet for 500 ms (less the client's reading of the answer).
    expect(r[1]!.receivedAt - r[0]!.answeredAt!).toBeGreaterThanOrEqual(490);
    expect(r[3]!.receivedAt - r[2]!.answeredAt!).toBeGreaterThanOrEqual(490);
    // Unit 2 asks for no pause: the next request does not wait for one. The pause is long so
    // that a busy machine's scheduling delays (tens of ms) cannot be mistaken for it.
    expect(r[2]!.receivedAt - r[1]!.answeredAt!).toBeLessThan(490);
  });

  it('keeps reading a device on the line while another one is silent, after its timeout', async () => {
    const silent = meter(2);
    silent.silence(true);
    await line(
      new Map([
        [1, meter(1)],
        [2, silent],
      ]),
    );
    const links = new ModbusLinks();
    const good = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 }));
    const dead = client(links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 200, retries: 0 }));
    const started = Date.now();
    const [deadResult, goodResult] = await Promise.allSettled([dead.readRegisters(2, 'holding', 0, 1), good.readRegisters(1, 'holding', 0, 1)]);
    expect(deadResult).toMatchObject({ status: 'rejected', reason: { code: 'MODBUS_TIMEOUT', message: `${pty.a} unit 2: no answer within 200 ms` } });
    expect(goodResult).toEqual({ status: 'fulfilled', value: [1] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    silent.silence(false);
    expect(await dead.readRegisters(2, 'holding', 0, 1)).toEqual([2]);
    expect(await good.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
  });

  it('retries a request that timed out, after a backoff', async () => {
    const device = meter(1);
    device.silence(true);
    const simulator = await line(new Map([[1, device]]));
    const c = client(createModbusClient({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 300, retries: 2, retryBackoffMs: 200 }));
    // Attempts at about 0, 300 + 200 and 800 + 400 ms: the device answers from 1000 ms on.
    setTimeout(() => device.silence(false), 1000);
    expect(await c.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
    expect(simulator.requests).toHaveLength(3);
    // Gaps of timeout + backoff, the backoff doubling. The margin (100 ms) absorbs how late the
    // simulator may see one request against another on a loaded machine (20 ms was not enough
    // with other test files running); a retry without backoff (300) or without doubling (500
    // instead of 700) still fails.
    const [first, second, third] = simulator.requests.map((r) => r.receivedAt) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(300 + 200 - 100);
    expect(third - second).toBeGreaterThanOrEqual(300 + 400 - 100);
  });

  it('reaches devices through a serial-to-Ethernet gateway (RTU over TCP), sharing its connection', async () => {
    const simulator = await line(
      new Map([
        [1, meter(1)],
        [2, meter(2)],
      ]),
    );
    const gateway = await pty.bridgeTcp();
    const links = new ModbusLinks();
    const transport = { kind: 'rtu-over-tcp', host: gateway.host, port: gateway.port } as const;
    const one = client(links.get({ transport, timeoutMs: 1000 }));
    const two = client(links.get({ transport, timeoutMs: 1000 }));
    expect(links.users()).toEqual(new Map([[`${gateway.host}:${gateway.port}`, 2]]));
    const answers = await Promise.all([one.readRegisters(1, 'holding', 0, 3), two.readRegisters(2, 'input', 5, 1), one.readBits(1, 'coil', 0, 1)]);
    expect(answers).toEqual([[1, 0xffff, 0xfffe], [0xfff9], [true]]);
    await two.writeRegisters(2, 1, [0, 7]);
    expect(await two.readRegisters(2, 'holding', 1, 2)).toEqual([0, 7]);
    expect(simulator.maxInFlight).toBe(1);
  });

  it('closes the line with its last client, and refuses other serial settings on it', async () => {
    await line(new Map([[1, meter(1)]]));
    const links = new ModbusLinks();
    const one = links.get({ transport: { kind: 'rtu', path: pty.a, baudRate: 9600 }, timeoutMs: 1000 });
    const two = links.get({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 1000 });
    expect(() => links.get({ transport: { kind: 'rtu', path: pty.a, parity: 'none' }, timeoutMs: 1000 })).toThrow(ModbusLinkConflictError);
    expect(() => links.get({ transport: { kind: 'rtu', path: pty.a, baudRate: 19200 }, timeoutMs: 1000 })).toThrow(
      `${pty.a} is already used with baudRate 9600 by another device`,
    );
    expect(await one.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
    await one.close();
    await expect(one.readRegisters(1, 'holding', 0, 1)).rejects.toThrow(`${pty.a}: the client is closed`);
    expect(await two.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
    await two.close();
    expect(links.users()).toEqual(new Map());
    // A new client opens the line again, once the old one is closed.
    const three = client(links.get({ transport: { kind: 'rtu', path: pty.a, parity: 'none' }, timeoutMs: 1000 }));
    expect(await three.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
  });

  it('reports a serial port that does not exist as a connection error', async () => {
    const c = client(createModbusClient({ transport: { kind: 'rtu', path: `${pty.a}-missing` }, timeoutMs: 200 }));
    const error = await c.readRegisters(1, 'holding', 0, 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModbusConnectionError);
    expect((error as Error).message).toMatch(new RegExp(`^${pty.a}-missing: cannot open \\(.+\\)$`));
  });

  it('times out on a unit nobody answers for', async () => {
    await line(new Map([[1, meter(1)]]));
    const c = client(createModbusClient({ transport: { kind: 'rtu', path: pty.a }, timeoutMs: 150, retries: 0 }));
    await expect(c.readRegisters(9, 'holding', 0, 1)).rejects.toBeInstanceOf(ModbusTimeoutError);
    expect(await c.readRegisters(1, 'holding', 0, 1)).toEqual([1]);
  });
});
