/** TEMPORARY stand-in for projects-math's before-after.ts: the lead replaces it with the real file. */

export interface BeforeAfterComparison {
  before: number | null;
  after: number | null;
  change: number | null;
  relativeChange: number | null;
  improved: boolean | null;
}

/** Means of the values before and after, and whether the change goes the better way. */
export function compareBeforeAfter(before: readonly (number | null)[], after: readonly (number | null)[], better: 'lower' | 'higher'): BeforeAfterComparison {
  const mean = (xs: readonly (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const b = mean(before);
  const a = mean(after);
  if (a === null || b === null) return { before: b, after: a, change: null, relativeChange: null, improved: null };
  const change = a - b;
  return {
    before: b,
    after: a,
    change,
    relativeChange: b !== 0 ? change / b : null,
    improved: change === 0 ? null : better === 'lower' ? change < 0 : change > 0,
  };
}
