import type { ValueKind } from '@citypilot/sdk';
import { BACNET_OBJECT_TYPES, type BacnetObjectTypeName } from './schema.js';

/**
 * BACnet object types by number (BACnetObjectType, ASHRAE 135 clause 21): EDE files and the
 * wire give numbers, a configuration names them. Numbers 0..127 are the standard's; 128..1023
 * are vendors' own (proprietary) types.
 */
const STANDARD_OBJECT_TYPES: readonly string[] = [
  'analog-input', // 0
  'analog-output',
  'analog-value',
  'binary-input',
  'binary-output',
  'binary-value', // 5
  'calendar',
  'command',
  'device',
  'event-enrollment',
  'file', // 10
  'group',
  'loop',
  'multi-state-input',
  'multi-state-output',
  'notification-class', // 15
  'program',
  'schedule',
  'averaging',
  'multi-state-value',
  'trend-log', // 20
  'life-safety-point',
  'life-safety-zone',
  'accumulator',
  'pulse-converter',
  'event-log', // 25
  'global-group',
  'trend-log-multiple',
  'load-control',
  'structured-view',
  'access-door', // 30
  'timer',
  'access-credential',
  'access-point',
  'access-rights',
  'access-user', // 35
  'access-zone',
  'credential-data-input',
  'network-security',
  'bitstring-value',
  'characterstring-value', // 40
  'datepattern-value',
  'date-value',
  'datetimepattern-value',
  'datetime-value',
  'integer-value', // 45
  'large-analog-value',
  'octetstring-value',
  'positive-integer-value',
  'timepattern-value',
  'time-value', // 50
  'notification-forwarder',
  'alert-enrollment',
  'channel',
  'lighting-output',
  'binary-lighting-output', // 55
  'network-port',
  'elevator-group',
  'escalator',
  'lift',
  // ASHRAE 135-2020 (not in the library's enumeration yet).
  'staging', // 60
  'audit-log',
  'audit-reporter',
  'color',
  'color-temperature',
];

/** The Device object's type number: the row of an EDE file that names a device. */
export const DEVICE_OBJECT_TYPE = 8;

/** The standard's name of an object type number (`analog-input`), or `proprietary 130` / `object type 77`. */
export function objectTypeLabel(type: number): string {
  const name = STANDARD_OBJECT_TYPES[type];
  if (name) return name;
  return type >= 128 ? `proprietary object type ${type}` : `object type ${type}`;
}

/** The number of a standard object type's name, such as 0 for `analog-input`. */
export function objectTypeNumber(name: string): number | undefined {
  const index = STANDARD_OBJECT_TYPES.indexOf(name);
  return index < 0 ? undefined : index;
}

/**
 * The object types a point may read, by number, with the kind of their present value: binary
 * objects are active/inactive, analog and counting ones numbers, multi-state ones a state
 * number (1..n).
 */
const POINT_KINDS: Record<BacnetObjectTypeName, ValueKind> = {
  'analog-input': 'number',
  'analog-output': 'number',
  'analog-value': 'number',
  'binary-input': 'boolean',
  'binary-output': 'boolean',
  'binary-value': 'boolean',
  'multi-state-input': 'number',
  'multi-state-output': 'number',
  'multi-state-value': 'number',
  accumulator: 'number',
  'pulse-converter': 'number',
  'integer-value': 'number',
  'positive-integer-value': 'number',
  'large-analog-value': 'number',
  'characterstring-value': 'string',
  loop: 'number',
};

/** For an object type a point can name in a configuration: its name and value kind; else undefined. */
export function pointObjectType(type: number): { name: BacnetObjectTypeName; kind: ValueKind } | undefined {
  const name = STANDARD_OBJECT_TYPES[type];
  if (!name || !(BACNET_OBJECT_TYPES as readonly string[]).includes(name)) return undefined;
  return { name: name as BacnetObjectTypeName, kind: POINT_KINDS[name as BacnetObjectTypeName] };
}

/** Short forms used to make ids unique (`temp-ai3`): the abbreviations integrators use. */
const ABBREVIATIONS: Record<string, string> = {
  'analog-input': 'ai',
  'analog-output': 'ao',
  'analog-value': 'av',
  'binary-input': 'bi',
  'binary-output': 'bo',
  'binary-value': 'bv',
  'multi-state-input': 'msi',
  'multi-state-output': 'mso',
  'multi-state-value': 'msv',
  accumulator: 'acc',
  'pulse-converter': 'pc',
  'integer-value': 'iv',
  'positive-integer-value': 'piv',
  'large-analog-value': 'lav',
  'characterstring-value': 'csv',
  loop: 'loop',
};

/** `ai` for analog-input, `obj130` for a type without a usual abbreviation. */
export function objectTypeAbbreviation(type: number): string {
  return ABBREVIATIONS[STANDARD_OBJECT_TYPES[type] ?? ''] ?? `obj${type}`;
}
