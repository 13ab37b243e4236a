/**
 * A measured number as people read it: with the significant digits its source has, never more
 * (0.0137 kWh/m²/DJU, not 0.01; 86,830 kWh, not 86830.4172), grouped by thousands, English
 * punctuation. The integer digits of a large number are all kept: rounding 86,830 to 86,800
 * would hide a change the meters did see.
 */
export function formatMeasured(value: number, significantDigits = 3): string {
  if (!Number.isInteger(significantDigits) || significantDigits < 1 || significantDigits > 21) {
    throw new RangeError(`significantDigits must be an integer from 1 to 21, got ${significantDigits}`);
  }
  if (!Number.isFinite(value)) return String(value);
  const integerDigits = Math.abs(value) >= 1 ? Math.floor(Math.log10(Math.abs(value))) + 1 : 0;
  return new Intl.NumberFormat('en', { maximumSignificantDigits: Math.min(21, Math.max(significantDigits, integerDigits)) }).format(value);
}
