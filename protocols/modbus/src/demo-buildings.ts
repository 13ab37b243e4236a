import type { SimulatedPoint } from './simulator.js';

/** A point of a demo building: what its gateway config says, and what its simulator holds. */
export interface DemoPoint {
  id: string;
  name: string;
  unit: string;
  tags: string[];
  /** Engineering value = raw × scale. */
  scale: number;
  sim: SimulatedPoint;
}

export interface DemoBuilding {
  /** Also the id of the building's gateway. */
  id: string;
  name: string;
  points: DemoPoint[];
}

/**
 * The buildings of the demo city, each a Modbus TCP device with an electricity meter (energy as
 * float32 with swapped words, as many meters do; power), a heat meter (uint32 in kWh), and an
 * indoor and an outdoor temperature (int16 in tenths of °C).
 */
export const demoBuildings: readonly DemoBuilding[] = [
  building('town-hall', 'Town hall', { energyStart: 1_254_310, kWhPerHour: 42, heatStart: 812_400, heatPerHour: 65, indoor: 20.5 }),
  building('school', 'Jules Ferry school', { energyStart: 386_020, kWhPerHour: 28, heatStart: 402_900, heatPerHour: 48, indoor: 19.5 }),
];

function building(id: string, name: string, p: { energyStart: number; kWhPerHour: number; heatStart: number; heatPerHour: number; indoor: number }): DemoBuilding {
  return {
    id,
    name,
    points: [
      {
        id: 'elec-energy',
        name: 'Electricity, active energy imported',
        unit: 'kWh',
        tags: ['elec', 'meter', 'energy'],
        scale: 1,
        sim: { table: 'holding', address: 0, type: 'float32', order: 'CDAB', behaviour: { kind: 'meter', startValue: p.energyStart, perHour: p.kWhPerHour } },
      },
      {
        id: 'elec-power',
        name: 'Electricity, active power',
        unit: 'kW',
        tags: ['elec', 'meter', 'power'],
        scale: 1,
        sim: { table: 'holding', address: 2, type: 'float32', order: 'CDAB', behaviour: { kind: 'load', peak: p.kWhPerHour } },
      },
      {
        id: 'heat-energy',
        name: 'Heating, energy delivered',
        unit: 'kWh',
        tags: ['heat', 'meter', 'energy'],
        scale: 1,
        sim: { table: 'input', address: 10, type: 'uint32', order: 'ABCD', behaviour: { kind: 'meter', startValue: p.heatStart, perHour: p.heatPerHour } },
      },
      {
        id: 'indoor-temp',
        name: 'Indoor air temperature',
        unit: '°C',
        tags: ['air', 'temp', 'zone', 'sensor'],
        scale: 0.1,
        sim: { table: 'input', address: 20, type: 'int16', scale: 0.1, behaviour: { kind: 'temperature', mean: p.indoor, dailyAmplitude: 0.8 } },
      },
      {
        id: 'outdoor-temp',
        name: 'Outdoor air temperature',
        unit: '°C',
        tags: ['air', 'temp', 'outside', 'sensor'],
        scale: 0.1,
        sim: { table: 'input', address: 21, type: 'int16', scale: 0.1, behaviour: { kind: 'temperature', mean: 9, dailyAmplitude: 4 } },
      },
    ],
  };
}
