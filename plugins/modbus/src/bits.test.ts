import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, pluginDeviceSchema } from '@citypilot/sdk';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { modbusPlugin } from './plugin.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function device(port: number, points: unknown[]): Parameters<typeof modbusPlugin.create>[0] {
  return parseConfig(pluginDeviceSchema(modbusPlugin), { id: 'ahu', plugin: 'modbus', connection: { host: '127.0.0.1', port }, points }) as never;
}

function issues(points: unknown[]) {
  try {
    modbusPlugin.create(device(502, points), { timeoutMs: 500, logger: quiet });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

describe('flags packed in a register', () => {
  it('reads each bit of a status word as true or false, in the same request as the word itself', async () => {
    // 0b1000_0000_0000_0101: bits 0, 2 and 15 set.
    const simulator = new ModbusSimulator({ points: [{ table: 'input', address: 40, type: 'uint16', behaviour: { kind: 'constant', value: 0x8005 } }] });
    cleanup.push(() => simulator.stop());
    const { port } = await simulator.start();
    const driver = modbusPlugin.create(
      device(port, [
        { id: 'status', address: { table: 'input', address: 40 } },
        { id: 'running', kind: 'boolean', address: { table: 'input', address: 40, bit: 0 } },
        { id: 'filter-alarm', kind: 'boolean', address: { table: 'input', address: 40, bit: 1 } },
        { id: 'frost-alarm', kind: 'boolean', address: { table: 'input', address: 40, bit: 2 } },
        { id: 'manual', kind: 'boolean', address: { table: 'input', address: 40, bit: 15 } },
      ]),
      { timeoutMs: 1000, logger: quiet },
    );
    cleanup.push(() => driver.close());
    const before = simulator.requests;
    expect(await driver.read()).toEqual([
      { point: 'status', value: 0x8005, quality: 'good' },
      { point: 'running', value: true, quality: 'good' },
      { point: 'filter-alarm', value: false, quality: 'good' },
      { point: 'frost-alarm', value: true, quality: 'good' },
      { point: 'manual', value: true, quality: 'good' },
    ]);
    expect(simulator.requests - before).toBe(1);
  });

  it('refuses a bit on a coil or on a wider value, a writable bit, and the same bit twice', () => {
    expect(
      issues([
        { id: 'a', address: { table: 'coil', address: 0, type: 'bool', bit: 1 } },
        { id: 'b', address: { table: 'holding', address: 10, type: 'float32', bit: 3 } },
        { id: 'c', writable: true, address: { table: 'holding', address: 20, bit: 3 } },
        { id: 'd', address: { table: 'holding', address: 30, bit: 4 } },
        { id: 'e', address: { table: 'holding', address: 30, bit: 4 } },
        { id: 'f', address: { table: 'holding', address: 31, type: 'bool' } },
      ]),
    ).toEqual([
      { path: ['points', 0, 'address', 'bit'], message: 'applies to holding and input registers, not to a coil' },
      { path: ['points', 1, 'address', 'bit'], message: 'applies to one 16-bit register (type uint16), not to a float32' },
      { path: ['points', 2, 'writable'], message: 'a bit of a register cannot be written: the write would overwrite the other bits of the register' },
      { path: ['points', 4, 'address'], message: 'holding 30 overlaps point "d" (holding 30)' },
      {
        path: ['points', 5, 'address', 'type'],
        message: '"bool" is for coils and discrete inputs: for a flag in a holding register, give its bit (bit: 0..15)',
      },
    ]);
  });
});
