import { isIPv4 } from 'node:net';
import { ApplicationTag, ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { formatObjectId } from '@citypilot/protocol-bacnet';
import { checkEachPoint, parseDuration, type ConfigIssue, type DeviceConfig, type ValueKind } from '@citypilot/sdk';
import { objectTypeNumber, pointObjectType } from './object-types.js';
import type { bacnetAddress, bacnetConnection, BacnetConnectionConfig } from './schema.js';

/**
 * What `create()` makes of a BACnet device block before any I/O: the rules its schema cannot
 * express, checked (every problem at once, with its path in the block), and its points planned
 * (object type and property resolved, whether each is subscribed to COV decided).
 */

type BacnetDeviceConfig = DeviceConfig<typeof bacnetConnection, typeof bacnetAddress>;

const P = PropertyIdentifier;

/** Object types whose present value and status flags a device reports by COV (ASHRAE 135 table 13-1); the others are read. */
const COV_OBJECT_TYPES = new Set<number>([
  ObjectType.ANALOG_INPUT,
  ObjectType.ANALOG_OUTPUT,
  ObjectType.ANALOG_VALUE,
  ObjectType.BINARY_INPUT,
  ObjectType.BINARY_OUTPUT,
  ObjectType.BINARY_VALUE,
  ObjectType.MULTI_STATE_INPUT,
  ObjectType.MULTI_STATE_OUTPUT,
  ObjectType.MULTI_STATE_VALUE,
  ObjectType.LOOP,
  ObjectType.PULSE_CONVERTER,
  ObjectType.LARGE_ANALOG_VALUE,
  ObjectType.INTEGER_VALUE,
  ObjectType.POSITIVE_INTEGER_VALUE,
  ObjectType.CHARACTERSTRING_VALUE,
]);

/**
 * A subscribed point's value is confirmed by a read at least every `CONFIRM_INTERVALS` of its
 * intervals, and at least every `CONFIRM_CAP_MS`: a device that restarted and forgot its
 * subscriptions is found out within that bound (README, "A device that restarts").
 */
const CONFIRM_INTERVALS = 12;
const CONFIRM_CAP_MS = 5 * 60_000;

/** Object types with a COV_Increment, and the datatype it is written in. */
export const COV_INCREMENT_TAGS = new Map<number, number>([
  [ObjectType.ANALOG_INPUT, ApplicationTag.REAL],
  [ObjectType.ANALOG_OUTPUT, ApplicationTag.REAL],
  [ObjectType.ANALOG_VALUE, ApplicationTag.REAL],
  [ObjectType.PULSE_CONVERTER, ApplicationTag.REAL],
  [ObjectType.LARGE_ANALOG_VALUE, ApplicationTag.DOUBLE],
  [ObjectType.INTEGER_VALUE, ApplicationTag.UNSIGNED_INTEGER],
  [ObjectType.POSITIVE_INTEGER_VALUE, ApplicationTag.UNSIGNED_INTEGER],
]);

/** Inputs: their present value follows the field and is written only while out of service (clause 12.2.4). */
const INPUT_TYPES = new Set<number>([ObjectType.ANALOG_INPUT, ObjectType.BINARY_INPUT, ObjectType.MULTI_STATE_INPUT]);

/** Properties that are lists, arrays or structures: no point can hold them. */
const NOT_A_VALUE = new Map<number, string>([
  [P.OBJECT_IDENTIFIER, 'object-identifier'],
  [P.OBJECT_LIST, 'object-list'],
  [P.PRIORITY_ARRAY, 'priority-array'],
  [P.PROPERTY_LIST, 'property-list'],
  [P.STATE_TEXT, 'state-text'],
  [P.STATUS_FLAGS, 'status-flags'],
  [P.EVENT_TIME_STAMPS, 'event-time-stamps'],
]);

/** A point as the driver reads it: numbers resolved, what it is subscribed for decided. */
export interface PlannedPoint {
  id: string;
  /** Index in the device's `points`, for error paths. */
  index: number;
  kind: ValueKind;
  objectType: number;
  instance: number;
  property: number;
  /** `analog-input:1`, for messages. */
  object: string;
  /** Subscribed to COV in mode cov: present-value of an object type that reports changes, not `read: poll`. */
  subscribe: boolean;
  covIncrement?: { value: number; tag: number };
  priority: number;
  writable: boolean;
  /** Subscribed points: a value not confirmed (by a notification or a read) within this many ms is read again, and never served as good. */
  confirmWithinMs: number;
  /** The point's interval, in ms. */
  intervalMs: number;
}

/** The connection's rules the schema cannot express, with their paths in the device block. */
export function connectionIssues(c: BacnetConnectionConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const issue = (path: string[], message: string) => issues.push({ path: ['connection', ...path], message });
  const endpoint = (path: string[], text: string, what: string) => {
    const [ip, port] = text.split(':');
    if (!isIPv4(ip!)) issue(path, `${JSON.stringify(text)} is not an IPv4 address (four numbers 0..255): expected ${what}`);
    else if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) issue(path, `port ${port} is outside 1..65535`);
  };
  if (c.address !== undefined) endpoint(['address'], c.address, "the device's address, such as 192.168.10.21 or 192.168.10.21:47809");
  if (!isIPv4(c.network.interface))
    issue(
      ['network', 'interface'],
      `${JSON.stringify(c.network.interface)} is not an IPv4 address: expected the gateway's address on the building network, or 0.0.0.0 for all`,
    );
  endpoint(['network', 'broadcastAddress'], c.network.broadcastAddress, "the subnet's broadcast address, such as 192.168.10.255");
  if (c.network.bbmd) {
    endpoint(['network', 'bbmd', 'address'], c.network.bbmd.address, "the BBMD's address, such as 10.20.30.1");
    const ttl = parseDuration(c.network.bbmd.ttl) / 1000;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 65535)
      issue(['network', 'bbmd', 'ttl'], `${c.network.bbmd.ttl} is not a whole number of seconds from 1s to 65535s (18h12m15s)`);
  }
  const lifetime = parseDuration(c.covLifetime) / 1000;
  if (!Number.isInteger(lifetime) || lifetime < 1) issue(['covLifetime'], `${c.covLifetime} is not a whole number of seconds of at least 1s`);
  return issues;
}

/** The rules the schema cannot express, into `issues`; the points planned. */
export function checkPoints(device: BacnetDeviceConfig, issues: ConfigIssue[], intervalMs: (pointId: string) => number): PlannedPoint[] {
  const planned: PlannedPoint[] = [];
  // A point with problems is not planned; the device is refused anyway (create() throws).
  checkEachPoint(device.points, issues, (p, index, issue) => {
    const before = issues.length;
    const a = p.address;
    const objectType = typeof a.objectType === 'number' ? a.objectType : objectTypeNumber(a.objectType)!;
    const property = a.property === 'present-value' ? P.PRESENT_VALUE : a.property;
    const presentValue = property === P.PRESENT_VALUE;
    const known = pointObjectType(objectType);
    const typeName = known?.name ?? `object type ${objectType}`;
    if (objectType === ObjectType.DEVICE)
      issue(['address', 'objectType'], "is the Device object: a point reads a property of one of the device's other objects");
    const notValue = NOT_A_VALUE.get(property);
    if (notValue)
      issue(
        ['address', 'property'],
        `${property} is ${notValue}, a list or structure that no point can hold: expected present-value or a property with a single value`,
      );
    if (presentValue && known) {
      const fits = known.kind === p.kind || (known.kind === 'boolean' && p.kind === 'number');
      if (!fits) {
        const expected = known.kind === 'boolean' ? 'boolean (or number for 0/1)' : known.kind;
        issue(
          ['kind'],
          `the present value of a ${typeName} is a ${known.kind === 'boolean' ? 'binary state' : known.kind}: expected kind ${expected}, got ${p.kind}`,
        );
      }
    }
    if (a.covIncrement !== undefined) {
      if (!COV_INCREMENT_TAGS.has(objectType))
        issue(
          ['address', 'covIncrement'],
          `applies to analog objects (analog-input, -output, -value, large-analog-value, integer-value, positive-integer-value, pulse-converter), not to a ${typeName}`,
        );
      else if (!presentValue) issue(['address', 'covIncrement'], 'applies to points that read present-value, the property COV reports');
      else if (a.read === 'poll') issue(['address', 'covIncrement'], 'applies to subscribed points: this one is read: poll');
    }
    if (p.writable) {
      if (INPUT_TYPES.has(objectType) && presentValue)
        issue(['writable'], `the present value of a ${typeName} follows the field and cannot be commanded: write to an output or value object`);
    } else if (a.priority !== 16) {
      issue(['address', 'priority'], "applies to the gateway's writes, and the point is not writable (writable: true to write it)");
    }
    if (issues.length > before) return;
    const covTag = COV_INCREMENT_TAGS.get(objectType);
    const interval = intervalMs(p.id);
    planned.push({
      id: p.id,
      index,
      kind: p.kind,
      objectType,
      instance: a.instance,
      property,
      object: formatObjectId({ type: objectType, instance: a.instance }),
      subscribe: device.connection.mode === 'cov' && a.read === 'device' && presentValue && COV_OBJECT_TYPES.has(objectType),
      ...(a.covIncrement !== undefined && covTag !== undefined ? { covIncrement: { value: a.covIncrement, tag: covTag } } : {}),
      priority: a.priority,
      writable: p.writable,
      intervalMs: interval,
      confirmWithinMs: confirmBound(interval),
    });
  });
  return planned;
}

/**
 * How long a subscribed point's value may go without a notification or a read before it is read
 * again: 12 of its intervals, at most 5 minutes, and never less than one interval (a point read
 * less often than the cap is read at each of its reads).
 */
export function confirmBound(intervalMs: number): number {
  return Math.max(intervalMs, Math.min(CONFIRM_INTERVALS * intervalMs, CONFIRM_CAP_MS));
}
