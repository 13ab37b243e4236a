import type { PointConfig, Reading, Sample } from '@citypilot/sdk';

/**
 * Turns a driver's raw reading into a sample: the point's kind, scale and offset applied, and
 * values that cannot be what the point says marked bad with the reason, never passed on.
 */
export function toSample(pointId: string, point: PointConfig, reading: Reading, time: number): Sample {
  const sample = (value: Sample['value'], quality: Sample['quality'], reason?: string): Sample =>
    reason === undefined ? { point: pointId, time: reading.time ?? time, value, quality } : { point: pointId, time: reading.time ?? time, value, quality, reason };
  if (reading.value === null || reading.quality === 'bad') return sample(null, 'bad', reading.reason ?? 'no value');
  const raw = reading.value;
  switch (point.kind) {
    case 'number': {
      const n = typeof raw === 'boolean' ? Number(raw) : raw;
      if (typeof n !== 'number') return sample(null, 'bad', `expected a number, the device gave ${JSON.stringify(raw)}`);
      const value = n * point.scale + point.offset;
      if (!Number.isFinite(value)) return sample(null, 'bad', 'not a finite number');
      return sample(value, reading.quality, reading.reason);
    }
    case 'boolean':
      if (typeof raw === 'string') return sample(null, 'bad', `expected a boolean, the device gave ${JSON.stringify(raw)}`);
      return sample(typeof raw === 'number' ? raw !== 0 : raw, reading.quality, reading.reason);
    case 'string':
      return sample(String(raw), reading.quality, reading.reason);
  }
}

/** A sample for a point the whole device failed to deliver. */
export function badSample(pointId: string, time: number, reason: string): Sample {
  return { point: pointId, time, value: null, quality: 'bad', reason };
}
