import { describe, expect, it } from 'vitest';
import { decimalsOf, float32Decimal, roundToDecimals, scaled, withoutBinaryNoise } from './precision.js';

describe('float32Decimal', () => {
  it('gives the shortest decimal of the same 32-bit float', () => {
    expect(float32Decimal(Math.fround(21.3))).toBe(21.3);
    expect(float32Decimal(Math.fround(0.1))).toBe(0.1);
    expect(float32Decimal(Math.fround(-1234.567))).toBe(-1234.567);
    expect(float32Decimal(Math.fround(16777217))).toBe(16777216);
    expect(float32Decimal(Math.fround(123456789))).toBe(123456790);
    expect(float32Decimal(0)).toBe(0);
  });
  it('leaves what is not finite as it is', () => {
    expect(float32Decimal(Number.NaN)).toBeNaN();
    expect(float32Decimal(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('decimalsOf', () => {
  it('counts the decimals a step is written with', () => {
    expect(decimalsOf(0.1)).toBe(1);
    expect(decimalsOf(0.25)).toBe(2);
    expect(decimalsOf(1e-7)).toBe(7);
    expect(decimalsOf(1.5e-7)).toBe(8);
    expect(decimalsOf(10)).toBe(0);
    expect(decimalsOf(-0.01)).toBe(2);
    expect(decimalsOf(Number.NaN)).toBe(0);
  });
});

describe('scaled', () => {
  it('gives an integer source the resolution of its scale and offset', () => {
    expect(463 * 0.1).not.toBe(46.3);
    expect(scaled(463, 0.1, 0)).toBe(46.3);
    expect(scaled(1234, 0.001, 0)).toBe(1.234);
    expect(scaled(7, 0.1, -273.15)).toBe(-272.45);
    expect(scaled(3, 10, 0)).toBe(30);
  });
  it('takes only the binary noise off a fractional source', () => {
    expect(scaled(21.3, 0.1, 0)).toBe(2.13);
    expect(scaled(0.123456789, 1, 0)).toBe(0.123456789);
  });
  it('leaves an overflow for the caller to refuse', () => {
    expect(scaled(Number.MAX_VALUE, 10, 0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('rounding helpers', () => {
  it('round without noise', () => {
    expect(roundToDecimals(46.300000000000004, 1)).toBe(46.3);
    expect(withoutBinaryNoise(2.1300000000000003)).toBe(2.13);
    expect(withoutBinaryNoise(0)).toBe(0);
  });
});
