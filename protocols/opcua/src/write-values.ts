/**
 * What an OPC UA node can be written with: the value a caller gives (a JSON number, Boolean or
 * string) checked against the node's built-in data type and value rank before anything is
 * sent, so that a value the node cannot hold is refused with the reason in words, never
 * truncated by the encoding (2.5 sent to an Int32 node as 2) nor refused with node-opcua's
 * internal text.
 */

/** A node's type as a write needs it. */
export interface OpcuaNodeType {
  /** Built-in type name (`Int16`, `Double`, `Boolean`, `String`, `DateTime`, …), the base type of a subtype (`UtcTime` → `DateTime`, an enumeration → `Int32`). */
  dataType: string;
  /** OPC UA ValueRank: -1 scalar, -2 any, -3 scalar or one dimension, 0 one or more dimensions, ≥ 1 that many dimensions. */
  valueRank: number;
}

/** The integer types and their ranges. 64-bit ones only up to 2^53, what a JSON number holds exactly. */
const INTEGERS: Record<string, { min: number; max: number; words: string }> = {
  SByte: { min: -128, max: 127, words: 'an integer from -128 to 127' },
  Byte: { min: 0, max: 255, words: 'an integer from 0 to 255' },
  Int16: { min: -32768, max: 32767, words: 'an integer from -32768 to 32767' },
  UInt16: { min: 0, max: 65535, words: 'an integer from 0 to 65535' },
  Int32: { min: -2147483648, max: 2147483647, words: 'an integer from -2147483648 to 2147483647' },
  UInt32: { min: 0, max: 4294967295, words: 'an integer from 0 to 4294967295' },
  Int64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, words: 'an integer from -(2^53 - 1) to 2^53 - 1, as the gateway writes it exactly' },
  UInt64: { min: 0, max: Number.MAX_SAFE_INTEGER, words: 'an integer from 0 to 2^53 - 1, as the gateway writes it exactly' },
};

/** The largest finite Float (IEEE 754 single precision). */
const FLOAT_MAX = 3.4028234663852886e38;

/** The value to send, or why `value` cannot be written to the node `nodeId` of type `type`. */
export function writableValue(nodeId: string, type: OpcuaNodeType, value: number | boolean | string): { value: unknown } | { refused: string } {
  const node = `node ${nodeId} is ${type.dataType}`;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (type.valueRank >= 0) return { refused: `node ${nodeId} holds an array (ValueRank ${type.valueRank}): the gateway writes single values only` };
  const integer = INTEGERS[type.dataType];
  if (integer) {
    if (typeof value !== 'number') return { refused: `${shown} is not a number: ${node}` };
    if (!Number.isInteger(value)) return { refused: `${value} is not an integer: ${node}` };
    if (value < integer.min || value > integer.max) return { refused: `${value} does not fit ${type.dataType} (${integer.words})` };
    return { value };
  }
  switch (type.dataType) {
    case 'Float':
      if (typeof value !== 'number') return { refused: `${shown} is not a number: ${node}` };
      if (!Number.isFinite(value) || Math.abs(value) > FLOAT_MAX) return { refused: `${value} does not fit Float (a 32-bit float, at most ±${FLOAT_MAX})` };
      return { value };
    case 'Double':
      if (typeof value !== 'number') return { refused: `${shown} is not a number: ${node}` };
      if (!Number.isFinite(value)) return { refused: `${value} is not a finite number: ${node}` };
      return { value };
    case 'Boolean':
      if (typeof value !== 'boolean') return { refused: `${shown} is not a Boolean: ${node} (true or false)` };
      return { value };
    case 'String':
      if (typeof value !== 'string') return { refused: `${shown} is not a string: ${node}` };
      return { value };
    case 'LocalizedText':
      if (typeof value !== 'string') return { refused: `${shown} is not a string: ${node}` };
      return { value: { text: value } };
    case 'DateTime': {
      // As the plugin reads one: milliseconds since the epoch, or an ISO 8601 date and time.
      const ms = typeof value === 'number' ? value : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
      if (!Number.isFinite(ms))
        return { refused: `${shown} is not a date: ${node} (milliseconds since 1970 or an ISO 8601 date and time such as 2026-01-01T00:00:00Z)` };
      return { value: new Date(ms) };
    }
    default:
      return { refused: `${node}, which the gateway does not write (it writes numbers, Booleans, strings and dates)` };
  }
}

/** Plain words for the statuses a server answers a refused write with. */
const WRITE_STATUSES: Record<string, string> = {
  BadNotWritable: 'the node is read-only on the server',
  BadUserAccessDenied: 'the server does not let this user write the node',
  BadNodeIdUnknown: 'the server has no such node',
  BadTypeMismatch: 'the server expects another data type for the node',
  BadOutOfRange: 'the value is outside what the node accepts',
  BadWriteNotSupported: 'the server does not support writing this node this way',
  BadNotSupported: 'the server does not support writing this node this way',
  BadIndexRangeInvalid: 'the server refused the part of the value written',
  BadSecurityModeInsufficient: 'the server needs a signed or encrypted connection to write the node',
};

/** A refusal by the server, in a sentence: the node, the OPC UA status name, and what it means. */
export function writeRefusal(nodeId: string, status: string): string {
  const words = WRITE_STATUSES[status];
  return `the server refused to write ${nodeId}: ${status}${words ? ` (${words})` : ''}`;
}
