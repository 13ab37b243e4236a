import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { ConfigError } from '@citypilot/sdk';
import type { PlannedPoint } from './checks.js';
import { pointObjectType } from './object-types.js';

/** Largest magnitude of a REAL (IEEE 754 single precision). */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The value as the object's present value holds it, or a ConfigError saying why it cannot:
 * REAL within the range of a 32-bit float, Double finite, integers within the range of their
 * datatype, multi-state values a state number 1..number-of-states (read from the device once),
 * binary values true/false or 1/0, texts for characterstring-value. Checked before anything is
 * sent: a device would store 2 for 2.5, or refuse with its own words.
 * @param numberOfStates the object's number-of-states, asked only of a multi-state point
 */
export async function commandValue(
  p: PlannedPoint,
  value: number | boolean | string,
  numberOfStates: () => Promise<number>,
): Promise<number | boolean | string> {
  // Another property than present-value, or a proprietary object: its datatype is not known here.
  const type = pointObjectType(p.objectType);
  if (p.property !== PropertyIdentifier.PRESENT_VALUE || !type) return value;
  const what = `${type.name} ${p.instance}`;
  const refuse = (message: string): never => {
    throw new ConfigError([{ path: ['points', p.index], message }]);
  };
  const shown = JSON.stringify(value);
  if (p.objectType === ObjectType.CHARACTERSTRING_VALUE) {
    if (typeof value !== 'string') refuse(`${shown} is not a text: ${what} holds a character string`);
    return value;
  }
  if (typeof value === 'string') refuse(`${shown} is a text: ${what} holds ${type.kind === 'boolean' ? 'true/false (or 1/0)' : 'numbers'}`);
  if (type.kind === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (value !== 0 && value !== 1) refuse(`${value} is not a binary state: ${what} holds 0 (inactive, false) or 1 (active, true)`);
    return value === 1;
  }
  if (typeof value === 'boolean') refuse(`${value} is not a number: ${what} holds numbers`);
  const n = value as number;
  const integer = (low: number, high: number, kind = 'integers') => {
    if (!Number.isInteger(n)) refuse(`${n} is not an integer: ${what} holds ${kind} from ${low} to ${high}`);
    if (n < low || n > high) refuse(`${n} is outside the range of ${what}: ${kind} from ${low} to ${high}`);
  };
  switch (p.objectType) {
    case ObjectType.INTEGER_VALUE:
      integer(-2147483648, 2147483647);
      break;
    case ObjectType.POSITIVE_INTEGER_VALUE:
    case ObjectType.ACCUMULATOR:
      integer(0, 4294967295);
      break;
    case ObjectType.MULTI_STATE_INPUT:
    case ObjectType.MULTI_STATE_OUTPUT:
    case ObjectType.MULTI_STATE_VALUE:
      integer(1, await numberOfStates(), 'state numbers');
      break;
    case ObjectType.LARGE_ANALOG_VALUE:
      break;
    default:
      // REAL: beyond a 32-bit float's range the device would hold infinity.
      if (Math.abs(n) > FLOAT32_MAX) refuse(`${n} is outside the range of ${what}: a REAL holds numbers from -3.4e38 to 3.4e38`);
  }
  return n;
}
