import { CityPilotError } from '@citypilot/sdk';

/**
 * The one error of the projects' computations (savings, before/after, finance, prices): an input
 * that is not a finite number in its range, a label in the wrong form, or too many periods. Its
 * message names the place ("baseline month '2025-01': hdd must be …") so that the API built on
 * these functions can answer 400 with it as is.
 */
export class SavingsInputError extends CityPilotError {
  declare readonly code: 'SAVINGS_INPUT_INVALID';
  constructor(message: string) {
    super('SAVINGS_INPUT_INVALID', message);
  }
}

/** Most periods (months) a series may hold: 100 years of months, so that time and memory stay bounded. */
export const MAX_PERIODS = 1200;

/** `value` as a finite number ≥ `min` (or > `min` when `strict`), else a SavingsInputError naming `where` and `what`. */
export function checkNumber(value: unknown, where: string, what: string, min: number, strict = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (strict ? value <= min : value < min)) {
    throw new SavingsInputError(`${where}: ${what} must be a finite number ${strict ? '>' : '≥'} ${min}, got ${describe(value)}`);
  }
  return value;
}

/** `value` as a finite number (of any sign), else a SavingsInputError. */
export function checkFinite(value: unknown, where: string, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SavingsInputError(`${where}: ${what} must be a finite number, got ${describe(value)}`);
  return value;
}

/** A series no longer than MAX_PERIODS, else a SavingsInputError. */
export function checkSeries<T>(series: unknown, what: string): readonly T[] {
  if (!Array.isArray(series)) throw new SavingsInputError(`${what} must be a list of periods, got ${describe(series)}`);
  if (series.length > MAX_PERIODS) throw new SavingsInputError(`${what}: at most ${MAX_PERIODS} periods are accepted, got ${series.length}`);
  return series as readonly T[];
}

/** A short, safe rendering of a rejected value for an error message (never a whole object). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'a list' : typeof value;
}

/** A calendar month 'YYYY-MM' (year 1900..2200) as [year, month 1..12], or null. */
export function parseMonth(label: unknown): [number, number] | null {
  if (typeof label !== 'string') return null;
  const m = /^(\d{4})-(\d{2})$/.exec(label);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  return year >= 1900 && year <= 2200 && month >= 1 && month <= 12 ? [year, month] : null;
}

/** A date 'YYYY-MM-DD' that exists (year 1900..2200) as milliseconds since the epoch at 00:00 UTC, or null. */
export function parseDay(label: unknown): number | null {
  if (typeof label !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(label);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1900 || year > 2200) return null;
  const t = Date.UTC(year, month - 1, day);
  const d = new Date(t);
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day ? t : null;
}

/** 'YYYY-MM' of a year and a month that may overflow (month 13 is January of the next year). */
export function formatMonth(year: number, month: number): string {
  const index = year * 12 + (month - 1);
  const y = Math.floor(index / 12);
  return `${String(y).padStart(4, '0')}-${String(index - y * 12 + 1).padStart(2, '0')}`;
}
