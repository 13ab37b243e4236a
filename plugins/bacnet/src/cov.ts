import { ApplicationTag } from '@bacnet-js/client';
import type { CovSubscription, PointResult, StatusFlagsValue, TypedValue } from '@citypilot/protocol-bacnet';
import { float32Decimal, type Reading } from '@citypilot/sdk';
import type { PlannedPoint } from './checks.js';
import { toReading, type ObjectStatus } from './values.js';

/**
 * What the driver keeps of the points it subscribed to change-of-value notifications, and how it
 * judges them: the reading a notified value gives, and whether a confirmation read shows a change
 * the device should have notified (a sign that it restarted and forgot its subscriptions).
 */

/** What the driver keeps of one point's subscription. */
export interface CovState {
  subscription?: CovSubscription;
  /** A subscribe request is on its way. */
  pending?: boolean;
  /** Latest present value and status flags notified (or read while subscribed). */
  value?: TypedValue;
  status: ObjectStatus;
  /** The status flags say fault: the reliability, which notifications do not carry, is read once. */
  needsStatus: boolean;
  /** Not before this time (ms) is a refused subscription asked again. */
  retryAt: number;
  /** The covIncrement has been written (or found equal, or refused). */
  incrementDone: boolean;
  /** When (ms) the value was last confirmed: a notification, or a read. */
  confirmedAt: number;
  /** The object's COV_Increment as last read (analog objects), the change below which the device does not notify. */
  deviceIncrement?: number;
}

/** A subscribed point's state before its first subscription. */
export function newCovState(): CovState {
  return { status: {}, needsStatus: false, retryAt: 0, incrementDone: false, confirmedAt: 0 };
}

/** A subscribed point's reading from its latest notification: `uncertain` once older than its bound (its confirmation read failed). */
export function covReading(p: PlannedPoint, state: CovState, now: number): Reading {
  const reading = toReading(p.id, p.kind, state.value, state.status);
  const age = now - state.confirmedAt;
  if (reading.quality !== 'good' || age <= p.confirmWithinMs) return reading;
  return {
    ...reading,
    quality: 'uncertain',
    reason: `not confirmed for ${Math.round(age / 1000)} s (no notification, no read): the device may have forgotten its subscription`,
  };
}

/**
 * The first of `points` (subscribed ones, just read again as `results`) whose value or status
 * changed by more than the device notifies without having notified it, as the words of a
 * restart's evidence; undefined when every value is as notified.
 */
export function unnotifiedChange(points: readonly PlannedPoint[], results: readonly PointResult[], cov: ReadonlyMap<string, CovState>): string | undefined {
  let evidence: string | undefined;
  points.forEach((p, i) => {
    const state = cov.get(p.id);
    const r = results[i]!;
    if (evidence || !state?.value || r.error || r.values?.length !== 1) return;
    const read = r.values[0]!;
    const known = state.value;
    const flags = (f?: StatusFlagsValue) => (f ? `${f.inAlarm}${f.fault}${f.overridden}${f.outOfService}` : '');
    let moved: boolean;
    if (read.tag !== known.tag) moved = true;
    else if (typeof read.value === 'number' && typeof known.value === 'number') {
      // An analog value moves below its COV increment without a notification; a change of at least the increment is always notified.
      const tolerance = p.covIncrement?.value ?? state.deviceIncrement ?? 0;
      const change = Math.abs(read.value - known.value);
      moved = change > 0 && change >= tolerance * (1 - 1e-6);
    } else moved = read.value !== known.value;
    if (moved) evidence = `${p.object} reads ${describeValue(read)} while its last notification said ${describeValue(known)}`;
    else if (r.statusFlags && state.status.statusFlags && flags(r.statusFlags) !== flags(state.status.statusFlags))
      evidence = `the status flags of ${p.object} changed without a notification`;
  });
  return evidence;
}

/** A value as a message shows it: `21.3`, `true`, `"text"`. */
function describeValue(v: TypedValue): string {
  if (typeof v.value === 'number' && v.tag === ApplicationTag.REAL) return String(float32Decimal(v.value));
  return typeof v.value === 'string' ? JSON.stringify(v.value) : String(v.value);
}
