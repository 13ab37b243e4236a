import { ApplicationTag, Reliability } from '@bacnet-js/client';
import {
  BacnetAbortError,
  BacnetError,
  BacnetRejectError,
  BacnetServiceError,
  enumName,
  type StatusFlagsValue,
  type TypedValue,
} from '@citypilot/protocol-bacnet';
import { float32Decimal, type Quality, type Reading, type ValueKind } from '@citypilot/sdk';

/** What is known of an object's state besides its value: from a read with status, or a COV notification. */
export interface ObjectStatus {
  statusFlags?: StatusFlagsValue;
  /** BACnetReliability; absent when the object has none or it was not read (COV notifications do not carry it). */
  reliability?: number;
  outOfService?: boolean;
}

/**
 * A point's reading from the value the device gave and the object's status. Quality:
 * - fault (the FAULT flag, or a reliability other than no-fault-detected) → bad, the reason
 *   naming the reliability (`fault: open-loop`): a sensor in fault gives a value the device
 *   itself does not vouch for (an open circuit reads as the end of the range), which must not
 *   reach KPIs, so it is not passed on even as uncertain;
 * - out of service → uncertain, "out of service": the value is decoupled from the field (set by
 *   an operator or a test), real but not measured;
 * - overridden → uncertain, "overridden": the field is forced locally (hand switch, override);
 * - in alarm alone → good: the value is a true measurement of something abnormal.
 */
export function toReading(point: string, kind: ValueKind, value: TypedValue | undefined, status: ObjectStatus): Reading {
  const flags = status.statusFlags;
  const faultReliability = status.reliability !== undefined && status.reliability !== Reliability.NO_FAULT_DETECTED;
  if (flags?.fault || faultReliability) {
    return { point, value: null, quality: 'bad', reason: faultReliability ? `fault: ${enumName(Reliability, status.reliability!)}` : 'fault (status flags)' };
  }
  const converted = convert(kind, value);
  if ('reason' in converted) return { point, value: null, quality: 'bad', reason: converted.reason };
  let quality: Quality = 'good';
  let reason: string | undefined;
  if (status.outOfService || flags?.outOfService) [quality, reason] = ['uncertain', 'out of service'];
  else if (flags?.overridden) [quality, reason] = ['uncertain', 'overridden'];
  return reason ? { point, value: converted.value, quality, reason } : { point, value: converted.value, quality };
}

const NUMERIC_TAGS = new Set<number>([ApplicationTag.REAL, ApplicationTag.DOUBLE, ApplicationTag.UNSIGNED_INTEGER, ApplicationTag.SIGNED_INTEGER]);

/**
 * A device's value as a point of `kind` holds it: REAL (as the shortest decimal of its 32-bit
 * float), Double, Unsigned and Signed are numbers;
 * ENUMERATED is a number, or for a boolean point 0 false and 1 true (binary objects' inactive
 * and active); BOOLEAN is a boolean, or 0/1; CharacterString is a string. Anything else, or a
 * value that does not fit the kind, is a reason.
 */
export function convert(kind: ValueKind, typed: TypedValue | undefined): { value: number | boolean | string } | { reason: string } {
  if (!typed) return { reason: 'the device gave no value' };
  const { tag } = typed;
  let value = typed.value;
  if (typeof value === 'bigint') value = Number(value);
  const tagName = enumName(ApplicationTag, tag).replaceAll('-', ' ');
  const misfit = () => ({ reason: `a ${tagName} value (${JSON.stringify(value)}) does not fit a ${kind} point` });
  if (tag === ApplicationTag.NULL) return { reason: 'the device gave NULL (no value)' };
  if (NUMERIC_TAGS.has(tag) || tag === ApplicationTag.ENUMERATED) {
    if (typeof value !== 'number') return { reason: `a ${tagName} that is not a number` };
    if (!Number.isFinite(value)) return { reason: `not a number (${value})` };
    // A REAL is a 32-bit float: its shortest decimal (21.3), not its widening (21.299999237060547).
    if (kind === 'number') return { value: tag === ApplicationTag.REAL ? float32Decimal(value) : value };
    if (kind === 'boolean' && tag === ApplicationTag.ENUMERATED && (value === 0 || value === 1)) return { value: value === 1 };
    return misfit();
  }
  if (tag === ApplicationTag.BOOLEAN) {
    if (typeof value !== 'boolean') return { reason: 'a BOOLEAN that is not true or false' };
    if (kind === 'boolean') return { value };
    if (kind === 'number') return { value: value ? 1 : 0 };
    return misfit();
  }
  if (tag === ApplicationTag.CHARACTER_STRING) {
    if (kind === 'string' && typeof value === 'string') return { value };
    return misfit();
  }
  return misfit();
}

/** A point's reason for a BACnet error: the standard's names of the error, reject or abort. */
export function errorReason(error: BacnetError): string {
  if (error instanceof BacnetServiceError) return `error ${error.errorClass}/${error.errorCode}`;
  if (error instanceof BacnetRejectError) return `rejected: ${error.reason}`;
  if (error instanceof BacnetAbortError) return `aborted: ${error.reason}`;
  return error.message;
}
