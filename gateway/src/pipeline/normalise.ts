import { scaled, type PointConfig, type Reading, type Sample } from '@citypilot/sdk';

/**
 * Turns a driver's raw reading into a sample: the point's kind, scale and offset applied (at the
 * resolution of the source: a register of 463 at scale 0.1 is 46.3, not 46.300000000000004), and
 * values that cannot be what the point says marked bad with the reason, never passed on.
 */
export function toSample(pointId: string, point: PointConfig, reading: Reading, time: number): Sample {
  const sample = (value: Sample['value'], quality: Sample['quality'], reason?: string): Sample =>
    reason === undefined
      ? { point: pointId, time: reading.time ?? time, value, quality }
      : { point: pointId, time: reading.time ?? time, value, quality, reason };
  if (reading.value === null || reading.quality === 'bad') return sample(null, 'bad', reading.reason ?? 'no value');
  const raw = reading.value;
  switch (point.kind) {
    case 'number': {
      const n = typeof raw === 'boolean' ? Number(raw) : raw;
      if (typeof n !== 'number') return sample(null, 'bad', `expected a number, the device gave ${JSON.stringify(raw)}`);
      const value = scaled(n, point.scale, point.offset);
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

/** What {@link guardTime} checks a device's timestamp against. */
export interface TimeGuard {
  /** The cycle's grid slot, the sample's time when the device gives none (or one not believed). */
  slot: number;
  /** The gateway's clock when the reading arrived. */
  now: number;
  /** The point's read interval, ms: a device time older than two of them is stale. */
  intervalMs: number;
  /** A device time further than this from `now` is not believed. */
  toleranceMs: number;
}

/**
 * Gives a sample its time: the slot's when the device gave none; the device's when it is within
 * the tolerance of the gateway's clock, and `stale` when it is older than two read intervals
 * (the device keeps serving an old value); the slot's again, with quality `uncertain`, when the
 * device's clock is too far off to be believed. A bad sample stays bad, with its own reason.
 */
export function guardTime(sample: Sample, deviceTime: number | undefined, guard: TimeGuard): Sample {
  if (deviceTime === undefined) return sample.time === guard.slot ? sample : { ...sample, time: guard.slot };
  const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : String(t));
  const offset = deviceTime - guard.now;
  if (!Number.isFinite(deviceTime) || Math.abs(offset) > guard.toleranceMs) {
    const reason = `device time ${iso(deviceTime)} is ${describeMs(Math.abs(offset))} ${offset > 0 ? 'ahead of' : 'behind'} the gateway's clock (tolerance ${describeMs(guard.toleranceMs)}): stamped with the gateway's time`;
    return sample.quality === 'bad'
      ? { ...sample, time: guard.slot }
      : { ...sample, time: guard.slot, quality: 'uncertain', reason: sample.reason ? `${sample.reason}; ${reason}` : reason };
  }
  const age = guard.now - deviceTime;
  if (age > 2 * guard.intervalMs && sample.quality !== 'bad') {
    return {
      ...sample,
      time: deviceTime,
      quality: 'stale',
      reason: `the device's value dates from ${iso(deviceTime)}, ${describeMs(age)} ago (more than 2 read intervals of ${describeMs(guard.intervalMs)})`,
    };
  }
  return { ...sample, time: deviceTime };
}

/** `1.5 s`, `12 min`, `3 h`: a duration for a message. */
export function describeMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 6000) / 10} min`;
  return `${Math.round(ms / 360_000) / 10} h`;
}
