import { checkFinite, checkSeries, describe, SavingsInputError } from './input-error.js';

/**
 * The result of a project that saves no energy (online booking, a new bus line, …): the mean of
 * an indicator over the periods before the project against its mean over the periods after, and
 * whether it moved the way the city wants. No weather or occupancy adjustment: the note says so,
 * so that no one reads it as a measured saving.
 */

export interface BeforeAfterResult {
  method: 'before-after';
  /** Mean of the known values before, in the indicator's unit; null when none is known. */
  before: number | null;
  /** Mean of the known values after; null when none is known. */
  after: number | null;
  /** after − before; null when either is unknown. */
  change: number | null;
  /** change / |before| (0.1 = +10 %); null when before is unknown or 0. */
  changeFraction: number | null;
  /** Whether the change goes the `better` way (no change: false); null when change is unknown. */
  improved: boolean | null;
  /** Plain English: periods counted, and what is missing. */
  note: string;
  /** Periods with a known value on each side. */
  beforePeriods: number;
  afterPeriods: number;
}

type Value = { period: string; value: number | null };

function knownMean(series: readonly Value[], side: string): { mean: number | null; count: number } {
  let sum = 0;
  let count = 0;
  checkSeries<Value>(series, `${side} periods`).forEach((p, i) => {
    if (p === null || typeof p !== 'object') throw new SavingsInputError(`${side} period ${i}: an object with period and value expected`);
    const where = typeof p.period === 'string' && p.period.length > 0 && p.period.length <= 40 ? `${side} period '${p.period}'` : null;
    if (where === null) throw new SavingsInputError(`${side} period ${i}: period must be a label of 1 to 40 characters, got ${describe(p.period)}`);
    if (p.value === null) return;
    sum += checkFinite(p.value, where, 'value');
    count++;
  });
  return { mean: count > 0 ? sum / count : null, count };
}

/** Means of the known values before and after, and whether the indicator improved (`better`: which way is better). */
export function compareBeforeAfter(before: readonly Value[], after: readonly Value[], better: 'lower' | 'higher'): BeforeAfterResult {
  if (better !== 'lower' && better !== 'higher') throw new SavingsInputError(`better must be 'lower' or 'higher', got ${describe(better)}`);
  const b = knownMean(before, 'before');
  const a = knownMean(after, 'after');
  const change = b.mean !== null && a.mean !== null ? a.mean - b.mean : null;
  const changeFraction = change !== null && b.mean !== 0 ? change / Math.abs(b.mean!) : null;
  const improved = change === null ? null : better === 'lower' ? change < 0 : change > 0;
  const missing = [b.count === 0 ? 'no known value before' : null, a.count === 0 ? 'no known value after' : null].filter((s) => s !== null);
  const note =
    `Mean of ${b.count} period${b.count === 1 ? '' : 's'} before against ${a.count} after, with no adjustment for what else changed.` +
    (missing.length > 0 ? ` Not comparable: ${missing.join(' and ')}.` : '');
  return { method: 'before-after', before: b.mean, after: a.mean, change, changeFraction, improved, note, beforePeriods: b.count, afterPeriods: a.count };
}
