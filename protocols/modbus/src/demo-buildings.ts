import type { SimulatedBehaviour, SimulatedPoint } from './simulator.js';
import type { DataType, WordOrder } from './codec.js';
import type { Table } from './tables.js';

/** A point of a demo building: what its gateway config says, and what its simulator holds. */
export interface DemoPoint {
  /** Point id within the building's device. */
  id: string;
  name: string;
  /** Unit after scaling. */
  unit: string;
  /** Haystack-style marker tags. */
  tags: string[];
  /** Engineering value = raw × scale; the same as `sim.scale`. */
  scale: number;
  sim: SimulatedPoint;
}

export interface DemoBuilding {
  /** Also the id of the building's gateway. */
  id: string;
  name: string;
  /** One Modbus TCP device (any unit id) holding all of them. */
  points: DemoPoint[];
}

function point(
  id: string,
  name: string,
  unit: string,
  tags: string[],
  address: { table: Table; address: number; type: DataType; order?: WordOrder; scale?: number },
  behaviour: SimulatedBehaviour,
): DemoPoint {
  const scale = address.scale ?? 1;
  return { id, name, unit, tags, scale, sim: { ...address, scale, behaviour } };
}

/**
 * The two buildings of the demo city, each one Modbus TCP device with the same register map:
 *
 * | point | register | type | raw unit |
 * |---|---|---|---|
 * | elec-energy | holding 0 | float32 CDAB | kWh |
 * | elec-power | holding 2 | float32 CDAB | kW |
 * | heat-energy (town hall) | input 10 | uint32 ABCD | Wh (scale 0.001 → kWh) |
 * | gas-volume (school) | input 10 | uint32 ABCD | 0.01 m3 (scale 0.01 → m3) |
 * | indoor-temp | input 20 | int16 | 0.1 °C (scale 0.1) |
 * | outdoor-temp | input 21 | int16 | 0.1 °C (scale 0.1) |
 *
 * The meters' start values are where the hub's demo history (back to 2019, counted backwards
 * from them) ends: they are large enough that no reading of that history is negative, and the
 * heat meter's stays within its uint32 register (4,294,967 kWh) for years of simulation.
 */
export const demoBuildings: readonly DemoBuilding[] = [
  {
    id: 'town-hall',
    name: 'Town hall',
    points: [
      ...electricity(1_254_310, 42),
      point(
        'heat-energy',
        'District heating, energy delivered',
        'kWh',
        ['heat', 'meter', 'energy'],
        { table: 'input', address: 10, type: 'uint32', order: 'ABCD', scale: 0.001 },
        { kind: 'meter', startValue: 2_812_400, kWhPerHour: 65 },
      ),
      ...temperatures(20.5),
    ],
  },
  {
    id: 'school',
    name: 'Jules Ferry school',
    points: [
      ...electricity(1_386_020, 28),
      point(
        'gas-volume',
        'Natural gas, volume consumed',
        'm3',
        ['gas', 'meter', 'volume'],
        { table: 'input', address: 10, type: 'uint32', order: 'ABCD', scale: 0.01 },
        { kind: 'meter', startValue: 152_300, kWhPerHour: 6 },
      ),
      ...temperatures(19.5),
    ],
  },
];

function electricity(startKWh: number, peakKW: number): DemoPoint[] {
  return [
    point(
      'elec-energy',
      'Electricity, active energy imported',
      'kWh',
      ['elec', 'meter', 'energy'],
      { table: 'holding', address: 0, type: 'float32', order: 'CDAB' },
      { kind: 'meter', startValue: startKWh, kWhPerHour: peakKW },
    ),
    point(
      'elec-power',
      'Electricity, active power',
      'kW',
      ['elec', 'meter', 'power'],
      { table: 'holding', address: 2, type: 'float32', order: 'CDAB' },
      { kind: 'load', peak: peakKW },
    ),
  ];
}

function temperatures(indoorMean: number): DemoPoint[] {
  return [
    point(
      'indoor-temp',
      'Indoor air temperature',
      '°C',
      ['air', 'temp', 'zone', 'sensor'],
      { table: 'input', address: 20, type: 'int16', scale: 0.1 },
      { kind: 'temperature', mean: indoorMean, dailyAmplitude: 0.8 },
    ),
    point(
      'outdoor-temp',
      'Outdoor air temperature',
      '°C',
      ['air', 'temp', 'outside', 'sensor'],
      { table: 'input', address: 21, type: 'int16', scale: 0.1 },
      { kind: 'temperature', mean: 9, dailyAmplitude: 4 },
    ),
  ];
}
