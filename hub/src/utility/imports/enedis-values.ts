/**
 * The values of an Enedis export (enedis-csv.ts): the PRM, the units, the steps of a load curve
 * and the bounds a measure must lie within, with the error said when it does not.
 */
import { quote } from './errors.js';
import { parseDecimal, parseWhole, thousands } from './text.js';

/** A load curve's highest power: above, a value is a typing or export error. */
export const MAX_POWER_W = 100_000_000;
/** A day's highest consumption: MAX_POWER_W over 25 hours (the day the clocks go back). */
export const MAX_DAY_WH = MAX_POWER_W * 25;
/** Steps of a load curve, in minutes. */
export const LOAD_CURVE_STEPS = [5, 10, 15, 30, 60] as const;

export type Kind = 'power' | 'consumption';

export function isPrm(text: string): boolean {
  return /^\d{14}$/.test(text);
}

/** Units of `unit` per kW (power) or kWh (consumption), or undefined when it is not a unit of that. */
export function unitDivisor(unit: string, kind: Kind): number | undefined {
  const u = unit.toLowerCase();
  if (kind === 'power') return u === 'w' ? 1000 : u === 'kw' ? 1 : undefined;
  return u === 'wh' ? 1000 : u === 'kwh' ? 1 : undefined;
}

/** The highest value a measure may take, in W or Wh, and how an error says it. */
export interface ValueLimit {
  max: number;
  said: string;
}

/** A load curve's power (W or kW). */
export const POWER_LIMIT: ValueLimit = { max: MAX_POWER_W, said: '100 MW' };
/** A day's consumption (Wh or kWh). */
export const DAY_LIMIT: ValueLimit = { max: MAX_DAY_WH, said: '100 MW over a day' };
/** A step's energy (M023 EA, Wh or kWh over `step` minutes). */
export function stepEnergyLimit(step: number): ValueLimit {
  return { max: (MAX_POWER_W * step) / 60, said: `100 MW over ${step} minutes` };
}

/**
 * `text[start, end)` read in `unit` (`divisor` units per kW or kWh: 1000 for W and Wh, which must
 * be whole, 1 for kW and kWh) as kW or kWh, from 0 to the limit; else the error to report.
 */
export function checkedValue(text: string, start: number, end: number, unit: string, divisor: number, limit: ValueLimit): number | string {
  const whole = divisor !== 1;
  const value = whole ? parseWhole(text, start, end) : parseDecimal(text.slice(start, end));
  const max = whole ? limit.max : limit.max / 1000;
  if (value >= 0 && value <= max) return value / divisor;
  return `expected ${whole ? 'a whole number' : 'a number'} of ${unit} from 0 to ${thousands(max)} (${limit.said}), found ${quote(text.slice(start, end))}`;
}
