import { EngineeringUnits, ObjectType } from '@bacnet-js/client';

/** What one object of the simulated device is, and how its present value moves. */
export interface SimulatedObjectSpec {
  type: ObjectType;
  instance: number;
  name: string;
  description: string;
  /** Engineering units (BACnetEngineeringUnits) of analog objects. */
  units?: EngineeringUnits;
  /** Present value at start: a number for analog objects, 0/1 for binary ones, 1..n for multi-state ones, an integer for integer-value and positive-integer-value. */
  initial: number;
  /** The next present value at time `now` (ms since the epoch), given the current one and the time since the last tick. Absent: only writes change it. */
  move?: (current: number, now: number, elapsedMs: number) => number;
  /** Analog objects: the smallest change that sends a COV notification. Default 0.1. */
  covIncrement?: number;
  /** Commandable (priority array and relinquish default): outputs always, values when true. */
  commandable?: boolean;
  /** Multi-state objects: the text of each state (number-of-states is its length). */
  stateText?: string[];
}

/** What moves the building's values: its caller's load curve and noise. */
export interface BuildingActivity {
  /**
   * The building's load at a time (milliseconds since the epoch): the share of full load, 0..1.
   * The plant runs above 0.3, the boiler heats above 0.2. Default: a steady full load (1).
   */
  load?: (time: number) => number;
  /** Noise in -1..1 for a time and a seed, the same for the same arguments. Default: none (0). */
  noise?: (time: number, seed: number) => number;
}

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/**
 * A building's controller as a BACnet device: an air handling unit, a boiler and the main meter,
 * with at least one object of every type the plugin reads. `generatedAnalogInputs` adds that many
 * zone temperature sensors (analog-input 1000, 1001, …), for benchmarks of large devices. Present
 * values move with `activity`: the plugins' simulators pass the curve of a municipal building's week.
 */
export function buildingObjects(generatedAnalogInputs = 0, activity: BuildingActivity = {}): SimulatedObjectSpec[] {
  const load = activity.load ?? (() => 1);
  const noise = activity.noise ?? (() => 0);
  const running = (now: number) => load(now) > 0.3;
  const objects: SimulatedObjectSpec[] = [
    {
      type: ObjectType.ANALOG_INPUT,
      instance: 1,
      name: 'AHU1 Supply Air Temperature',
      description: 'Supply air temperature after the heating coil',
      units: EngineeringUnits.DEGREES_CELSIUS,
      initial: 19,
      move: (_, now) => round(19 + (running(now) ? 0.3 : -2) + 0.2 * noise(now, 1), 2),
    },
    {
      type: ObjectType.ANALOG_INPUT,
      instance: 2,
      name: 'AHU1 Return Air Temperature',
      description: 'Return air temperature',
      units: EngineeringUnits.DEGREES_CELSIUS,
      initial: 21,
      move: (_, now) => round(20.5 + 1.5 * load(now) + 0.2 * noise(now, 2), 2),
    },
    {
      type: ObjectType.ANALOG_INPUT,
      instance: 3,
      name: 'Boiler1 Flow Temperature',
      description: 'Boiler flow water temperature',
      units: EngineeringUnits.DEGREES_CELSIUS,
      initial: 65,
      covIncrement: 0.5,
      move: (_, now) => round(55 + 20 * load(now) + 0.5 * noise(now, 3), 2),
    },
    {
      type: ObjectType.ANALOG_INPUT,
      instance: 4,
      name: 'Main Meter Power',
      description: 'Active power of the main electricity meter',
      units: EngineeringUnits.KILOWATTS,
      initial: 30,
      covIncrement: 1,
      move: (_, now) => round(120 * load(now) * (1 + 0.05 * noise(now, 4)), 1),
    },
    {
      type: ObjectType.ANALOG_OUTPUT,
      instance: 1,
      name: 'AHU1 Heating Valve',
      description: 'Heating coil valve command',
      units: EngineeringUnits.PERCENT,
      initial: 0,
      covIncrement: 1,
    },
    {
      type: ObjectType.ANALOG_VALUE,
      instance: 1,
      name: 'AHU1 Supply Air Setpoint',
      description: 'Supply air temperature setpoint',
      units: EngineeringUnits.DEGREES_CELSIUS,
      initial: 19,
      commandable: true,
    },
    {
      type: ObjectType.ANALOG_VALUE,
      instance: 2,
      name: 'Main Meter Energy',
      description: 'Active energy of the main electricity meter',
      units: EngineeringUnits.KILOWATT_HOURS,
      initial: 125_000,
      covIncrement: 1,
      // 120 kW at full load.
      move: (current, now, elapsedMs) => current + (120 * load(now) * elapsedMs) / 3_600_000,
    },
    {
      type: ObjectType.BINARY_INPUT,
      instance: 1,
      name: 'AHU1 Fan Status',
      description: 'Supply fan running',
      initial: 0,
      move: (_, now) => (running(now) ? 1 : 0),
    },
    { type: ObjectType.BINARY_OUTPUT, instance: 1, name: 'AHU1 Fan Command', description: 'Supply fan start/stop', initial: 0 },
    {
      type: ObjectType.BINARY_VALUE,
      instance: 1,
      name: 'Occupancy Override',
      description: 'Occupied mode forced by the operator',
      initial: 0,
      commandable: true,
    },
    {
      type: ObjectType.MULTI_STATE_INPUT,
      instance: 1,
      name: 'Boiler1 State',
      description: 'Boiler operating state',
      initial: 1,
      stateText: ['Off', 'Heating', 'Fault'],
      move: (_, now) => (load(now) > 0.2 ? 2 : 1),
    },
    {
      type: ObjectType.MULTI_STATE_VALUE,
      instance: 1,
      name: 'AHU1 Mode',
      description: 'Operating mode of the air handling unit',
      initial: 1,
      stateText: ['Auto', 'Comfort', 'Economy', 'Off'],
      commandable: true,
    },
  ];
  for (let i = 0; i < generatedAnalogInputs; i++) {
    const instance = 1000 + i;
    objects.push({
      type: ObjectType.ANALOG_INPUT,
      instance,
      name: `Zone ${i + 1} Temperature`,
      description: `Room temperature of zone ${i + 1}`,
      units: EngineeringUnits.DEGREES_CELSIUS,
      initial: 20,
      move: (_, now) => round(19.5 + 2 * load(now) + 0.3 * noise(now, 100 + i), 2),
    });
  }
  return objects;
}
