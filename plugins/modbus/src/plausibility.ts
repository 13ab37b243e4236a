import { scaled, type Reading } from '@citypilot/sdk';

/** A profile's point as discovery reads it: its address's encoding, unit, tags and scaling. */
export interface ProfilePoint {
  id: string;
  unit?: string;
  tags?: readonly string[];
  scale?: number;
  offset?: number;
  address: { type?: string; order?: string; bit?: number; length?: number };
}

/** Engineering values a meter can show, by unit (inclusive), for units the profiles use. */
const UNIT_RANGES: Record<string, readonly [number, number]> = {
  V: [0, 1_000_000],
  kV: [0, 1000],
  A: [-1_000_000, 1_000_000],
  Hz: [40, 70],
  W: [-1e10, 1e10],
  kW: [-1e7, 1e7],
  MW: [-1e4, 1e4],
  var: [-1e10, 1e10],
  kvar: [-1e7, 1e7],
  VA: [0, 1e10],
  kVA: [0, 1e7],
  Wh: [0, 1e16],
  kWh: [0, 1e13],
  MWh: [0, 1e10],
  m3: [0, 1e12],
  '°C': [-60, 200],
  '%': [0, 100],
};

/** A power factor, by its tag. */
const POWER_FACTOR: readonly [number, number] = [-1, 1];

/** Below this, a non-zero float is what integers read as a float give (a denormal), not a measure. */
const TINIEST_MEASURE = 1e-30;

/**
 * Why the values a device gave for a profile's points are not those of the profile's model, or
 * undefined when they are plausible for it. A profile "fits" any device that answers its
 * addresses; this tells a meter from a device that answers every address with one value (a flat
 * register map, a gateway answering for anything) or whose registers mean something else:
 * - flat: every point of each encoding (type and word order) reads the same raw value, and some
 *   encoding has several points, which no meter in service does;
 * - out of range: a value that is not finite, a float so tiny it is an integer read as a float,
 *   or outside what its unit can measure (a frequency outside 40..70 Hz, a power factor outside
 *   -1..1, a negative energy counter …).
 * `readings` are the driver's, raw, in any order; points without a reading are not judged.
 */
export function implausibility(points: readonly ProfilePoint[], readings: readonly Reading[]): string | undefined {
  const raw = new Map(readings.map((r) => [r.point, r.value]));
  const read = points.filter((p) => typeof raw.get(p.id) === 'number');
  const byEncoding = new Map<string, Set<number>>();
  const sizes = new Map<string, number>();
  for (const p of read) {
    const key = `${p.address.type ?? 'uint16'}/${p.address.order ?? 'ABCD'}/${p.address.bit ?? ''}`;
    byEncoding.set(key, (byEncoding.get(key) ?? new Set()).add(raw.get(p.id) as number));
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  const flat = [...byEncoding.values()].every((values) => values.size === 1) && [...sizes.values()].some((n) => n > 1);
  if (flat) {
    const values = [...new Set([...byEncoding.values()].flatMap((v) => [...v]))];
    return `every point reads the same raw value (${values.map(formatNumber).join(', ')}), as a device answering every address with one value does (a meter with nothing measured reads so too)`;
  }
  const wrong: string[] = [];
  for (const p of read) {
    const value = scaled(raw.get(p.id) as number, p.scale ?? 1, p.offset ?? 0);
    const range = p.tags?.includes('pf') ? POWER_FACTOR : p.unit === undefined ? undefined : UNIT_RANGES[p.unit];
    const unit = p.unit ? ` ${p.unit}` : '';
    if (!Number.isFinite(value)) wrong.push(`${p.id} reads ${value}`);
    else if (value !== 0 && Math.abs(value) < TINIEST_MEASURE) wrong.push(`${p.id} reads ${formatNumber(value)}${unit}, an integer read as a float`);
    else if (range && (value < range[0] || value > range[1]))
      wrong.push(`${p.id} reads ${formatNumber(value)}${unit}, expected ${range[0]} to ${range[1]}${unit}`);
  }
  if (!wrong.length) return undefined;
  const shown = wrong.slice(0, 3).join('; ');
  return wrong.length > 3 ? `${shown} (and ${wrong.length - 3} more)` : shown;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) || !Number.isFinite(n) ? String(n) : n.toPrecision(6).replace(/\.?0+(e|$)/, '$1');
}
