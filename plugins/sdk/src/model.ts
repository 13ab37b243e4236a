/**
 * The shared data model: points and samples, as the gateway produces them and the hub stores
 * them.
 */

/**
 * How far a value can be trusted.
 * - `good`: read from the device as it is.
 * - `uncertain`: read, but the device or the gateway doubts it (out of range, overridden, …).
 * - `bad`: no usable value (device unreachable, exception, decoding failure); `value` is null.
 * - `stale`: the last value is older than its point's expected interval allows.
 */
export type Quality = 'good' | 'uncertain' | 'bad' | 'stale';

export const QUALITIES: readonly Quality[] = ['good', 'uncertain', 'bad', 'stale'];

/** What a point's values are. A string union so that a fourth kind can be added later. */
export type ValueKind = 'number' | 'boolean' | 'string';

/** A value as it travels: a number (already scaled), a boolean, a string, or null when bad. */
export type Value = number | boolean | string | null;

/**
 * Pattern of identifiers chosen by people (gateway, device and point ids): lowercase letters,
 * digits, `-` and `_`. They appear in NATS subjects, URLs and file names, so nothing else.
 * Declared with the wire contract, which gateway ids are part of.
 */
export { ID_PATTERN } from '@citypilot/wire';

/** A point as announced by a gateway to the hub: what it measures and where it comes from. */
export interface PointDefinition {
  /** Stable id, unique within its gateway: `<device id>.<point id>` for device points. */
  id: string;
  /** Human-readable name, e.g. "Main meter active energy". */
  name: string;
  /** Unit after scaling, as a UCUM-like symbol (`kWh`, `°C`, `m3/h`); absent when unitless. */
  unit?: string;
  kind: ValueKind;
  /** Haystack-style marker tags, e.g. `['elec', 'meter', 'energy']`. */
  tags: string[];
  /**
   * Where the value comes from: the driver plugin, the device, and the plugin's own address;
   * for a point the gateway aggregates, the function and the window (`{ function: 'avg',
   * windowMs: 900000 }`).
   */
  source: { plugin: string; device: string; address: unknown; aggregate?: { function: string; windowMs: number } };
  /** Expected interval between two samples, in milliseconds (for completeness and staleness). */
  intervalMs?: number;
}

/** One observation of one point. */
export interface Sample {
  /** The point's id (see {@link PointDefinition.id}). */
  point: string;
  /** Observation time, milliseconds since the Unix epoch (UTC). */
  time: number;
  /** The value after scaling; null when quality is `bad`. */
  value: Value;
  quality: Quality;
  /** Why the quality is not `good` ("timeout after 2000 ms", "illegal data address"). */
  reason?: string;
}
