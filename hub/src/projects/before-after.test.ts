import { describe, expect, it } from 'vitest';
import { compareBeforeAfter } from './before-after.js';

describe('before and after a project that saves no energy', () => {
  it('compares the means of the known values and says whether it improved', () => {
    // Waiting days at the town hall: before 10, unknown, 14 (mean 12); after 9, 9 (mean 9).
    // Change −3, −3 / 12 = −25 %: better when lower.
    const before = [
      { period: '2024-01', value: 10 },
      { period: '2024-02', value: null },
      { period: '2024-03', value: 14 },
    ];
    const after = [
      { period: '2024-05', value: 9 },
      { period: '2024-06', value: 9 },
    ];
    const result = compareBeforeAfter(before, after, 'lower');
    expect(result).toMatchObject({
      method: 'before-after',
      before: 12,
      after: 9,
      change: -3,
      changeFraction: -0.25,
      improved: true,
      beforePeriods: 2,
      afterPeriods: 2,
    });
    expect(result.note).toBe('Mean of 2 periods before against 2 after, with no adjustment for what else changed.');
    expect(compareBeforeAfter(before, after, 'higher').improved).toBe(false);
    expect(compareBeforeAfter(after, after, 'higher').improved).toBe(false);
  });

  it('says what is missing, and refuses what is not a number', () => {
    const result = compareBeforeAfter([{ period: '2024-01', value: null }], [{ period: '2024-05', value: 3 }], 'higher');
    expect(result).toMatchObject({ before: null, after: 3, change: null, changeFraction: null, improved: null });
    expect(result.note).toContain('Not comparable: no known value before.');
    expect(compareBeforeAfter([{ period: 'a', value: 0 }], [{ period: 'b', value: 3 }], 'higher').changeFraction).toBeNull();
    expect(() => compareBeforeAfter([{ period: '2024-01', value: NaN }], [], 'lower')).toThrow(
      "before period '2024-01': value must be a finite number, got NaN",
    );
    expect(() => compareBeforeAfter([], [], 'up' as never)).toThrow("better must be 'lower' or 'higher', got \"up\"");
  });
});
