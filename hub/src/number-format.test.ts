import { describe, expect, it } from 'vitest';
import { formatMeasured } from './number-format.js';

describe('formatMeasured', () => {
  it('keeps three significant digits, and every integer digit of a large number', () => {
    // The demo's start summary printed 0.01 for 0.0137 kWh/m²/DJU against a target of 0.0207.
    expect(formatMeasured(0.013712)).toBe('0.0137');
    expect(formatMeasured(0.0207)).toBe('0.0207');
    expect(formatMeasured(86.5)).toBe('86.5');
    expect(formatMeasured(86_830.4172)).toBe('86,830');
    expect(formatMeasured(-1.23456)).toBe('-1.23');
    expect(formatMeasured(0)).toBe('0');
    expect(formatMeasured(0.5, 1)).toBe('0.5');
  });

  it('refuses a number of digits that is not one', () => {
    expect(() => formatMeasured(1, 0)).toThrow('significantDigits must be an integer from 1 to 21, got 0');
  });
});
