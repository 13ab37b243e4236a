import { buildingLoad, simulationNoise, type PointConfig, type RunningSimulator, type SimulateOptions } from '@citypilot/sdk';
import { isBitTable, ModbusRtuSimulator, ModbusSimulator, SimulatedDevice, type SimulatedBehaviour, type SimulatedPoint } from '@citypilot/protocol-modbus';
import type { ModbusAddressConfig } from './schema.js';

/**
 * How a simulated value of a point moves, guessed from its unit and tags: counters count up along
 * the building's day, demands follow it, temperatures follow the time of day, and the rest
 * (voltages, frequencies, power factors …) hold a plausible constant.
 */
export function behaviourFor(point: Pick<PointConfig, 'unit' | 'tags' | 'kind'>): SimulatedBehaviour {
  const unit = point.unit ?? '';
  const tags = new Set(point.tags);
  if (point.kind === 'boolean') return { kind: 'constant', value: false };
  if (point.kind === 'string') return { kind: 'constant', value: 'SIM' };
  if (/^(k|M)?Wh$|^m3$/.test(unit))
    return {
      kind: 'meter',
      startValue: unit === 'MWh' ? 120 : unit === 'Wh' ? 12_000_000 : 12_000,
      kWhPerHour: unit === 'Wh' ? 20_000 : unit === 'MWh' ? 0.02 : 20,
    };
  if (/^(k|M)?W$|^m3\/h$/.test(unit)) return { kind: 'load', peak: unit === 'W' ? 20_000 : unit === 'MW' ? 0.02 : 20 };
  if (unit === '°C')
    return tags.has('outside') ? { kind: 'temperature', mean: 9, dailyAmplitude: 4 } : { kind: 'temperature', mean: 20.5, dailyAmplitude: 0.8 };
  if (unit === 'A') return { kind: 'load', peak: 30 };
  if (unit === 'V') return { kind: 'constant', value: 230 };
  if (unit === 'Hz') return { kind: 'constant', value: 50 };
  if (tags.has('pf')) return { kind: 'constant', value: 0.95 };
  return { kind: 'constant', value: 0 };
}

/** The simulator's view of a point: its zero-based address and how its value moves. */
export function simulatedPoint(point: PointConfig, oneBased: boolean): SimulatedPoint {
  const a = point.address as ModbusAddressConfig;
  const sim: SimulatedPoint = { table: a.table, address: a.address - (oneBased ? 1 : 0), type: a.type, order: a.order, behaviour: behaviourFor(point) };
  if (a.length !== undefined) sim.length = a.length;
  // The device holds value / scale (offsets are rare on meters and left out); integers are rounded.
  if (!isBitTable(a.table) && point.scale !== 1) sim.scale = point.scale;
  return sim;
}

/**
 * Starts a simulated device serving `points`, e.g. a profile's: Modbus TCP on `host:port`, or,
 * when `options.connection` says `transport: rtu`, Modbus RTU on `connection.serialPort` (one
 * end of a serial line or pty pair) as unit `connection.unitId` (default 1).
 */
export async function simulate(points: PointConfig[], options: SimulateOptions): Promise<RunningSimulator> {
  const connection = options.connection ?? {};
  const simulated = points.map((p) => simulatedPoint(p, connection.addressing === 'one-based'));
  if (connection.transport === 'rtu') {
    const path = String(connection.serialPort);
    const unitId = Number(connection.unitId ?? 1);
    const simulator = new ModbusRtuSimulator({
      path,
      devices: new Map([[unitId, new SimulatedDevice({ points: simulated, load: buildingLoad, noise: simulationNoise })]]),
    });
    await simulator.start();
    return { connection: { transport: 'rtu', serialPort: path, unitId }, stop: () => simulator.stop() };
  }
  const simulator = new ModbusSimulator({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    points: simulated,
    load: buildingLoad,
    noise: simulationNoise,
  });
  const { host, port } = await simulator.start();
  return { connection: { host, port }, stop: () => simulator.stop() };
}
