/**
 * Numbers at the precision their source has. A device gives an integer register, a 32-bit float
 * or a 64-bit one; JavaScript holds them all as 64-bit floats, so arithmetic and widening add
 * digits the device never had (463 × 0.1 = 46.300000000000004, the REAL 21.3 widens to
 * 21.299999237060547). These helpers take those digits away, and nothing else.
 */

/** Significant digits a 64-bit float holds exactly; beyond them is the noise of binary arithmetic. */
const DOUBLE_DIGITS = 15;

/**
 * The shortest decimal that is the same 32-bit float as `value`: what a device's REAL (BACnet),
 * Float (OPC UA) or float32 register holds, e.g. 21.3 for 21.299999237060547. Values that are
 * not finite come back unchanged.
 */
export function float32Decimal(value: number): number {
  if (!Number.isFinite(value)) return value;
  const single = Math.fround(value);
  // A float32 is told apart from its neighbours by at most 9 significant digits.
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(single.toPrecision(digits));
    if (Math.fround(candidate) === single) return candidate;
  }
  return single;
}

/** Decimal places of a step written as a decimal: 0.1 → 1, 0.25 → 2, 1e-7 → 7, 10 → 0. */
export function decimalsOf(step: number): number {
  if (!Number.isFinite(step) || Number.isInteger(step)) return 0;
  const [mantissa, exponent = '0'] = String(Math.abs(step)).split('e');
  const fraction = mantissa!.split('.')[1]?.length ?? 0;
  return Math.min(Math.max(fraction - Number(exponent), 0), 20);
}

/** `value` rounded to `decimals` places, without binary noise (46.300000000000004 at 1 → 46.3). */
export function roundToDecimals(value: number, decimals: number): number {
  if (!Number.isFinite(value)) return value;
  return Number(value.toFixed(Math.min(Math.max(Math.trunc(decimals), 0), 20)));
}

/** `value` cut to the 15 significant digits a 64-bit float holds exactly (2.1300000000000003 → 2.13). */
export function withoutBinaryNoise(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(DOUBLE_DIGITS));
}

/**
 * `raw × scale + offset` at the resolution of its source. An integer source (a register, a
 * counter) steps by `scale`, so the result has the decimals of the scale and of the offset:
 * 463 × 0.1 = 46.3. A fractional source (a float) keeps its own digits, less the noise of the
 * arithmetic.
 */
export function scaled(raw: number, scale: number, offset: number): number {
  const value = raw * scale + offset;
  if (!Number.isFinite(value)) return value;
  if (Number.isInteger(raw)) return roundToDecimals(value, Math.max(decimalsOf(scale), decimalsOf(offset)));
  return withoutBinaryNoise(value);
}
