import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceTimeoutError, float32Decimal, parseConfig, pluginDeviceSchema, type Reading } from '@citypilot/sdk';
import { ModbusSimulator, WORD_ORDERS, type SimulatedPoint } from '@citypilot/protocol-modbus';
import { knownVectors } from '@citypilot/protocol-modbus/testing';
import { modbusPlugin } from './plugin.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const schema = pluginDeviceSchema(modbusPlugin);
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function device(port: number, points: unknown[]): Parameters<typeof modbusPlugin.create>[0] {
  return parseConfig(schema, { id: 'meter', plugin: 'modbus', connection: { host: '127.0.0.1', port }, points }) as never;
}

describe('every type in every byte order, over a real socket', () => {
  it('reads the known vectors a device holds as raw words', async () => {
    // Each vector's words go into the device one register at a time, as raw uint16: the encoder
    // under test plays no part in what the device holds.
    const raw: SimulatedPoint[] = [];
    const points: { id: string; kind: string; address: object }[] = [];
    const expected = new Map<string, number | string | boolean>();
    let address = 0;
    for (const v of knownVectors.filter((k) => k.type !== 'bool')) {
      for (const order of WORD_ORDERS) {
        const id = `${v.type}-${order.toLowerCase()}`;
        v.words[order].forEach((word, i) => raw.push({ table: 'holding', address: address + i, type: 'uint16', behaviour: { kind: 'constant', value: word } }));
        points.push({
          id,
          kind: v.type === 'string' ? 'string' : 'number',
          address: { table: 'holding', address, type: v.type, order, ...(v.length ? { length: v.length } : {}) },
        });
        // A float32 comes as the shortest decimal of its 32 bits: 123.456, not 123.45600128173828.
        const decoded = v.decoded ?? v.value;
        expected.set(id, v.type === 'float32' && typeof decoded === 'number' ? float32Decimal(decoded) : decoded);
        address += v.words[order].length + 1; // a one-register gap between values
      }
    }
    const simulator = new ModbusSimulator({ points: raw });
    cleanup.push(() => simulator.stop());
    const { port } = await simulator.start();
    const driver = modbusPlugin.create(device(port, points), { timeoutMs: 1000, logger: quiet });
    cleanup.push(() => driver.close());

    const readings = await driver.read();
    expect(readings).toHaveLength(expected.size);
    for (const r of readings)
      expect({ point: r.point, value: r.value, quality: r.quality }).toEqual({ point: r.point, value: expected.get(r.point), quality: 'good' });
  });
});

/**
 * A TCP relay in front of a device that stops passing requests on after `answered` answers: the
 * device falls silent in the middle of a poll cycle.
 */
async function relay(target: number, answered: number): Promise<{ port: number; resume: () => void; server: Server }> {
  let answers = 0;
  let open = true;
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(target, '127.0.0.1');
    client.on('data', (data) => {
      if (open) upstream.write(data);
    });
    upstream.on('data', (data) => {
      client.write(data);
      if (++answers >= answered) open = false;
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, resume: () => ((open = true), (answers = -Infinity)), server };
}

describe('a device that stops answering in the middle of a cycle', () => {
  it('fails that read as a timeout, not with half the points, and reads whole again once it answers', async () => {
    const points: SimulatedPoint[] = [
      { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 11 } },
      { table: 'input', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 22 } },
    ];
    const simulator = new ModbusSimulator({ points });
    cleanup.push(() => simulator.stop());
    const { port } = await simulator.start();
    // Two tables: two requests per cycle; the relay lets the first answer through, not the second.
    const gate = await relay(port, 1);
    cleanup.push(() => new Promise<void>((resolve) => gate.server.close(() => resolve())));
    const driver = modbusPlugin.create(
      device(gate.port, [
        { id: 'h', address: { table: 'holding', address: 0 } },
        { id: 'i', address: { table: 'input', address: 0 } },
      ]),
      { timeoutMs: 300, logger: quiet },
    );
    cleanup.push(() => driver.close());

    await expect(driver.read()).rejects.toBeInstanceOf(DeviceTimeoutError);
    gate.resume();
    const readings: Reading[] = await driver.read();
    expect(readings).toEqual([
      { point: 'h', value: 11, quality: 'good' },
      { point: 'i', value: 22, quality: 'good' },
    ]);
  });
});
