// The register map of the benchmark: 2,000 points as a large plant controller or a data
// concentrator in front of many meters lays them out, in contiguous blocks with a few gaps.
import { registerCount, type SimulatedPoint } from '@citypilot/protocol-modbus';

/** One point of the map: what the simulator serves, and its id in the device config. */
export interface BenchPoint {
  id: string;
  sim: SimulatedPoint;
}

/** A block of `points` consecutive values of one type, from `address`. */
interface Block {
  name: string;
  table: SimulatedPoint['table'];
  type: SimulatedPoint['type'];
  order?: SimulatedPoint['order'];
  address: number;
  points: number;
  behaviour: (i: number) => SimulatedPoint['behaviour'];
}

const BLOCKS: readonly Block[] = [
  // Demands of 16 meters' worth of circuits: float32, low word first, 50 per meter.
  ...Array.from({ length: 16 }, (_, m): Block => ({
    name: `power-${m}`,
    table: 'holding',
    type: 'float32',
    order: 'CDAB',
    // 100 registers per meter, then a gap of 20 the device does not map.
    address: 1000 + m * 120,
    points: 50,
    behaviour: (i) => ({ kind: 'load', peak: 5 + ((m * 50 + i) % 40) }),
  })),
  // Energy counters: uint32, two blocks of 200 with a reserved gap of 8 between them.
  {
    name: 'energy-a',
    table: 'input',
    type: 'uint32',
    address: 3000,
    points: 200,
    behaviour: (i) => ({ kind: 'meter', startValue: 10_000 + i * 37, kWhPerHour: 20 }),
  },
  {
    name: 'energy-b',
    table: 'input',
    type: 'uint32',
    address: 3408,
    points: 200,
    behaviour: (i) => ({ kind: 'meter', startValue: 50_000 + i * 11, kWhPerHour: 8 }),
  },
  // Room temperatures in tenths of °C: int16, 10 floors of 50 rooms, each floor at a round address.
  ...Array.from({ length: 10 }, (_, f): Block => ({
    name: `temperature-${f}`,
    table: 'holding',
    type: 'int16',
    address: 5000 + f * 100,
    points: 50,
    behaviour: (i) => ({ kind: 'temperature', mean: 20 + (i % 5) / 2, dailyAmplitude: 2 }),
  })),
  // Pumps and valves on or off: coils, three groups.
  { name: 'pump', table: 'coil', type: 'bool', address: 0, points: 150, behaviour: (i) => ({ kind: 'constant', value: i % 3 === 0 }) },
  { name: 'valve', table: 'coil', type: 'bool', address: 200, points: 100, behaviour: (i) => ({ kind: 'constant', value: i % 2 === 0 }) },
  { name: 'fan', table: 'coil', type: 'bool', address: 400, points: 50, behaviour: (i) => ({ kind: 'constant', value: i % 4 === 0 }) },
];

/** The benchmark's 2,000 points, the same in every process that builds them. */
export function benchMap(): BenchPoint[] {
  return BLOCKS.flatMap((b) => {
    const size = b.type === 'bool' ? 1 : registerCount(b.type);
    return Array.from({ length: b.points }, (_, i) => ({
      id: `${b.name}-${i}`,
      sim: { table: b.table, address: b.address + i * size, type: b.type, order: b.order, scale: b.type === 'int16' ? 0.1 : 1, behaviour: b.behaviour(i) },
    }));
  });
}
