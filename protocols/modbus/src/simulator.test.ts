import { describe, expect, it, vi } from 'vitest';
import { ModbusTcpClient } from './client.js';
import { registerCount } from './codec.js';
import { ModbusProtocolError } from './errors.js';
import { demoBuildings } from './demo-buildings.js';
import { ModbusSimulator, type SimulatedPoint } from './simulator.js';

// Local times, so that the load curve (in the process's time zone) is the same everywhere.
const tuesday = (hour: number) => new Date(2026, 0, 6, hour).getTime();
// The caller's building: full load in office hours, a quarter at night; and repeatable noise.
const load = (time: number) => (new Date(time).getHours() >= 8 && new Date(time).getHours() < 18 ? 1 : 0.25);
const noise = (time: number, seed: number) => Math.sin(Math.floor(time / 1000) + seed);

describe('Modbus simulator', () => {
  it('counts a meter up along the load curve, in engineering units over scaled registers', async () => {
    let now = tuesday(10);
    const meter: SimulatedPoint = { table: 'input', address: 0, type: 'uint32', scale: 0.001, behaviour: { kind: 'meter', startValue: 1000, kWhPerHour: 40 } };
    const simulator = new ModbusSimulator({ points: [meter], tickMs: 5, now: () => now, load });
    await simulator.start();
    try {
      expect(simulator.get('input', 0, 'uint32')).toBe(1_000_000); // Wh
      now = tuesday(11); // one hour at full load
      await vi.waitFor(() => expect(simulator.get('input', 0, 'uint32')).toBe(1_040_000));
      now += 3_600_000 * 16; // to 03:00: the night rate applies
      await vi.waitFor(() => expect(simulator.get('input', 0, 'uint32')).toBe(1_040_000 + 16 * 40_000 * 0.25));
    } finally {
      await simulator.stop();
    }
  });

  it('gives temperatures that follow the time of day, the same for the same time', () => {
    const temperature: SimulatedPoint = {
      table: 'input',
      address: 0,
      type: 'int16',
      scale: 0.1,
      behaviour: { kind: 'temperature', mean: 10, dailyAmplitude: 5 },
    };
    const at = (time: number) => new ModbusSimulator({ points: [temperature], now: () => time, noise }).get('input', 0, 'int16') as number;
    expect(at(tuesday(15))).toBeGreaterThan(at(tuesday(3)));
    expect(Math.abs(at(tuesday(15)) - 150)).toBeLessThanOrEqual(3); // 15.0 °C ± noise, in tenths
    expect(Math.abs(at(tuesday(3)) - 50)).toBeLessThanOrEqual(3);
    expect(at(tuesday(15))).toBe(at(tuesday(15)));
  });

  it('without a load or noise from its caller, runs at a steady full load without noise', () => {
    const demand: SimulatedPoint = { table: 'input', address: 0, type: 'uint16', behaviour: { kind: 'load', peak: 40 } };
    const at = (time: number) => new ModbusSimulator({ points: [demand], now: () => time }).get('input', 0, 'uint16');
    expect([at(tuesday(3)), at(tuesday(11))]).toEqual([40, 40]);
    const halfLoad = new ModbusSimulator({ points: [demand], now: () => tuesday(11), load: () => 0.5, noise: () => 1 });
    expect(halfLoad.get('input', 0, 'uint16')).toBe(21); // 40 × 0.5 × 1.05
  });

  it('sets and gets raw values, and refuses addresses no point covers', () => {
    const simulator = new ModbusSimulator({
      points: [
        { table: 'holding', address: 4, type: 'float32', order: 'CDAB', behaviour: { kind: 'constant', value: 1.5 } },
        { table: 'coil', address: 2, type: 'bool', behaviour: { kind: 'constant', value: false } },
      ],
    });
    expect(simulator.get('holding', 4, 'float32', 'CDAB')).toBe(1.5);
    expect(simulator.get('holding', 4, 'uint16')).toBe(0);
    simulator.set('holding', 4, -42.25, 'float32', 'CDAB');
    expect(simulator.get('holding', 4, 'float32', 'CDAB')).toBe(-42.25);
    simulator.set('coil', 2, true, 'bool');
    expect(simulator.get('coil', 2, 'bool')).toBe(true);
    expect(() => simulator.get('holding', 5, 'float32')).toThrow('no point covers holding 5..6');
    expect(() => simulator.set('input', 0, 1, 'uint16')).toThrow('no point covers input 0..0');
  });

  it('refuses points that overlap or do not suit their table', () => {
    const p = (address: number, type: SimulatedPoint['type'] = 'uint32', table: SimulatedPoint['table'] = 'holding'): SimulatedPoint => ({
      table,
      address,
      type,
      behaviour: { kind: 'constant', value: 0 },
    });
    expect(() => new ModbusSimulator({ points: [p(0), p(1)] })).toThrow('holding 1 belongs to two points');
    expect(() => new ModbusSimulator({ points: [p(0, 'uint16', 'coil')] })).toThrow('uint16 does not suit a coil');
    expect(() => new ModbusSimulator({ points: [p(65535)] })).toThrow('leaves 0..65535');
  });

  it('counts requests, and while garbled answers malformed frames that the client reports as such', async () => {
    const simulator = new ModbusSimulator({
      points: [
        { table: 'holding', address: 0, type: 'uint32', behaviour: { kind: 'constant', value: 70000 } },
        { table: 'coil', address: 0, type: 'bool', behaviour: { kind: 'constant', value: true } },
      ],
    });
    const { port } = await simulator.start();
    const client = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 1000 });
    try {
      expect(await client.readRegisters(1, 'holding', 0, 2)).toEqual([1, 4464]);
      simulator.garble(true);
      await expect(client.readRegisters(1, 'holding', 0, 2)).rejects.toBeInstanceOf(ModbusProtocolError);
      await expect(client.readBits(1, 'coil', 0, 1)).rejects.toBeInstanceOf(ModbusProtocolError);
      // An exception answer cut short is no exception answer.
      await expect(client.readRegisters(1, 'holding', 10, 1)).rejects.toBeInstanceOf(ModbusProtocolError);
      simulator.garble(false);
      expect(await client.readBits(1, 'coil', 0, 1)).toEqual([true]);
      expect(simulator.requests).toBe(5);
    } finally {
      await client.close();
      await simulator.stop();
    }
  });

  it('with a fill, answers every address no point covers with it, as a device with a flat register map', async () => {
    const simulator = new ModbusSimulator({
      points: [{ table: 'holding', address: 4, type: 'uint16', behaviour: { kind: 'constant', value: 7 } }],
      fill: 0x4366,
    });
    const { port } = await simulator.start();
    const client = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 1000 });
    try {
      expect(await client.readRegisters(1, 'holding', 2, 4)).toEqual([0x4366, 0x4366, 7, 0x4366]);
      expect(await client.readRegisters(1, 'input', 60000, 2)).toEqual([0x4366, 0x4366]);
      expect(await client.readBits(1, 'discrete', 100, 2)).toEqual([true, true]);
      // Writes still go to points only.
      await expect(client.writeRegister(1, 2, 1)).rejects.toThrow(/illegal data address|exception 2/i);
    } finally {
      await client.close();
      await simulator.stop();
    }
    expect(() => new ModbusSimulator({ points: [], fill: 70000 })).toThrow('fill 70000 is not a register value');
  });
});

describe('demo buildings', () => {
  it('describe the town hall and the school with the same register map', () => {
    expect(demoBuildings.map((b) => b.id)).toEqual(['town-hall', 'school']);
    for (const building of demoBuildings) {
      const sims = building.points.map((p) => p.sim);
      expect(() => new ModbusSimulator({ points: sims })).not.toThrow();
      expect(building.points.every((p) => p.scale === (p.sim.scale ?? 1))).toBe(true);
      const byId = new Map(building.points.map((p) => [p.id, p]));
      expect(byId.get('elec-energy')!.sim).toMatchObject({ table: 'holding', type: 'float32', order: 'CDAB' });
      expect(byId.get('elec-power')!.sim).toMatchObject({ type: 'float32' });
      expect(byId.get('indoor-temp')!.sim).toMatchObject({ type: 'int16', scale: 0.1 });
      expect(byId.get('outdoor-temp')!.tags).toEqual(['air', 'temp', 'outside', 'sensor']);
      expect(sims.filter((s) => s.type === 'uint32' && s.order === 'ABCD')).toHaveLength(1);
      expect(sims.every((s) => s.address + registerCount(s.type, s.length) <= 65536)).toBe(true);
    }
  });
});
