import { DataType } from 'node-opcua-client';
import { makeEUInformation, standardUnits, type EUInformation } from 'node-opcua-data-access';

/**
 * A value the simulated building holds: numbers, Booleans, strings, dates; arrays of numbers
 * (or one 64-bit integer as node-opcua's [high, low] pair), bytes and localized texts for
 * the variables a test adds.
 */
export type SimulatedValue = number | boolean | string | Date | number[] | Buffer | { text: string; locale?: string };

/** One variable of the simulated building, under Objects/Building. */
export interface BuildingVariable {
  /** Dotted path under Objects/Building, e.g. `AHU1.SupplyAirTemperature`. */
  path: string;
  dataType: DataType;
  /** For an array: its length (ValueRank 1, ArrayDimensions [length]); the value is a number[] of that length. */
  arrayLength?: number;
  /** Engineering units (UNECE codes); the variable is then an AnalogItem. */
  unit?: EUInformation;
  /** EURange: the values expected in normal operation (required with `unit`: AnalogItems have one). */
  range?: { low: number; high: number };
  /** Writable by clients (a setpoint). */
  writable?: boolean;
  initial(now: number): SimulatedValue;
  /** The next value, `elapsedMs` after the last one; `get` reads the other variables' current values. */
  move?(current: SimulatedValue, now: number, elapsedMs: number, get: (path: string) => SimulatedValue): SimulatedValue;
}

/** What moves the building's values: its caller's load curve and noise. */
export interface BuildingActivity {
  /**
   * The building's load at a time (milliseconds since the epoch): the share of full load, 0..1.
   * The air handling units run above 0.3, the boiler above 0.2. Default: a steady full load (1).
   */
  load?: (time: number) => number;
  /** Noise in -1..1 for a time and a seed, the same for the same arguments. Default: none (0). */
  noise?: (time: number, seed: number) => number;
}

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

const units = {
  celsius: standardUnits.degree_celsius,
  percent: standardUnits.percent,
  kilowatt: standardUnits.kilowatt,
  kilowattHour: makeEUInformation('KWH', 'kWh', 'kilowatt hour'),
  litre: makeEUInformation('LTR', 'l', 'litre'),
  kilovar: makeEUInformation('KVR', 'kvar', 'kilovar'),
  ampere: standardUnits.ampere,
};

function airHandlingUnit(name: string, seed: number, load: (time: number) => number, noise: (time: number, seed: number) => number): BuildingVariable[] {
  const running = (now: number) => load(now) > 0.3;
  return [
    { path: `${name}.SupplyAirSetpoint`, dataType: DataType.Double, unit: units.celsius, range: { low: 10, high: 30 }, writable: true, initial: () => 19 },
    {
      path: `${name}.SupplyAirTemperature`,
      dataType: DataType.Double,
      unit: units.celsius,
      range: { low: -20, high: 60 },
      initial: () => 19,
      move: (_, now, __, get) => round((get(`${name}.SupplyAirSetpoint`) as number) + (running(now) ? 0.3 : -2) + 0.2 * noise(now, seed), 2),
    },
    {
      path: `${name}.ReturnAirTemperature`,
      dataType: DataType.Double,
      unit: units.celsius,
      range: { low: -20, high: 60 },
      initial: () => 21,
      move: (_, now) => round(20.5 + 1.5 * load(now) + 0.2 * noise(now, seed + 1), 2),
    },
    {
      path: `${name}.FanSpeed`,
      dataType: DataType.Double,
      unit: units.percent,
      range: { low: 0, high: 100 },
      initial: () => 0,
      move: (_, now) => (running(now) ? round(30 + 60 * load(now) + 2 * noise(now, seed + 2), 1) : 0),
    },
    { path: `${name}.FanRunning`, dataType: DataType.Boolean, initial: () => false, move: (_, now) => running(now) },
  ];
}

/**
 * The simulated building: two air handling units, a boiler and a main meter, whose values move
 * with `activity` (the plugins' simulators pass the curve of a municipal building's week).
 */
export function buildingVariables(activity: BuildingActivity = {}): BuildingVariable[] {
  const load = activity.load ?? (() => 1);
  const noise = activity.noise ?? (() => 0);
  return [
    ...airHandlingUnit('AHU1', 1, load, noise),
    ...airHandlingUnit('AHU2', 11, load, noise),
    {
      path: 'Boiler1.FlowTemperature',
      dataType: DataType.Double,
      unit: units.celsius,
      range: { low: 0, high: 110 },
      initial: () => 65,
      move: (_, now) => round(55 + 20 * load(now) + 0.5 * noise(now, 21), 2),
    },
    { path: 'Boiler1.Running', dataType: DataType.Boolean, initial: () => true, move: (_, now) => load(now) > 0.2 },
    {
      path: 'Boiler1.Power',
      dataType: DataType.Double,
      unit: units.kilowatt,
      range: { low: 0, high: 400 },
      initial: () => 0,
      move: (_, now) => round(300 * load(now) * (1 + 0.05 * noise(now, 22)), 1),
    },
    {
      path: 'Meters.Main.Energy',
      dataType: DataType.Double,
      unit: units.kilowattHour,
      range: { low: 0, high: 1e9 },
      initial: () => 125_000,
      // 120 kW at full load.
      move: (current, now, elapsedMs) => (current as number) + (120 * load(now) * elapsedMs) / 3_600_000,
    },
    {
      path: 'Meters.Main.WaterVolume',
      dataType: DataType.UInt32,
      unit: units.litre,
      range: { low: 0, high: 2 ** 32 - 1 },
      initial: () => 3_400_000,
      // About a litre a second at full load; a counter of whole litres that never stalls.
      move: (current, now, elapsedMs) => ((current as number) + Math.max(1, Math.round((load(now) * elapsedMs) / 1000))) % 2 ** 32,
    },
    {
      path: 'Meters.Main.ReactivePower',
      dataType: DataType.Int16,
      unit: units.kilovar,
      range: { low: -100, high: 100 },
      initial: () => 12,
      move: (_, now) => Math.round(10 + 30 * load(now) + 5 * noise(now, 31)),
    },
    {
      path: 'Meters.Main.PhaseCurrents',
      dataType: DataType.Double,
      arrayLength: 3,
      unit: units.ampere,
      range: { low: 0, high: 400 },
      initial: () => [40, 38, 41],
      // A meter's currents of L1, L2, L3: one array, as many meters publish them.
      move: (_, now) => [0, 1, 2].map((phase) => round(10 + 150 * load(now) * (1 + 0.05 * noise(now, 41 + phase)), 1)),
    },
    { path: 'Meters.Main.Status', dataType: DataType.String, initial: () => 'OK' },
    { path: 'Meters.Main.LastReset', dataType: DataType.DateTime, initial: () => new Date(Date.UTC(2026, 0, 1)) },
  ];
}
