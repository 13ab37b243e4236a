import { float32Decimal, type Reading, type ValueKind } from '@citypilot/sdk';
import type { OpcuaValue } from '@citypilot/protocol-opcua';

/** What the conversion of a value needs to know of its point. */
export interface ValueTarget {
  id: string;
  kind: ValueKind;
  /** For a variable that holds an array: the element read. */
  index?: number;
}

const NUMERIC_TYPES = new Set(['SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Float', 'Double']);
const INT64_TYPES = new Set(['Int64', 'UInt64']);

type Converted = { value: number | boolean | string; uncertain?: string } | { refused: string };

/**
 * A reading of `point` from a value the server gave (read or notified). The StatusCode's
 * severity is the quality: Good… is good, Uncertain… uncertain (value kept, the status name
 * as the reason), Bad… bad with no value. A value that does not fit the point's kind, an array
 * without `index`, an index beyond the array: bad, with the reason in words.
 */
export function toReading(point: ValueTarget, v: OpcuaValue): Reading {
  if (v.quality === 'bad') return { point: point.id, value: null, quality: 'bad', reason: v.statusCode };
  let raw: unknown = v.value;
  if (v.array) {
    const length = (raw as ArrayLike<unknown> | null)?.length ?? 0;
    if (point.index === undefined) return bad(point, `the node holds an array of ${length} values; give address.index`);
    if (point.index >= length)
      return bad(point, `address.index ${point.index} is beyond the array of ${length} value${length === 1 ? '' : 's'} the node holds`);
    raw = (raw as ArrayLike<unknown>)[point.index];
  } else if (point.index !== undefined && v.dataType !== 'Null') {
    return bad(point, `address.index is set but the node holds one ${v.dataType}, not an array`);
  }
  const converted = convert(point.kind, v.dataType, raw);
  if ('refused' in converted) return bad(point, converted.refused);
  const reasons = [v.quality === 'uncertain' ? v.statusCode : undefined, converted.uncertain].filter((r): r is string => r !== undefined);
  if (reasons.length) return { point: point.id, value: converted.value, quality: 'uncertain', reason: reasons.join('; ') };
  return { point: point.id, value: converted.value, quality: 'good' };
}

function bad(point: ValueTarget, reason: string): Reading {
  return { point: point.id, value: null, quality: 'bad', reason };
}

/** One value (an array's element, or a scalar) of OPC UA type `dataType` as a point of `kind`. */
function convert(kind: ValueKind, dataType: string, raw: unknown): Converted {
  if (raw === null || raw === undefined || dataType === 'Null') return { refused: 'the server gave no value (null)' };
  const misfit = (): Converted => ({ refused: `the node holds a ${dataType}, which does not fit a point of kind ${kind}` });
  if (kind === 'number') {
    if (NUMERIC_TYPES.has(dataType) && typeof raw === 'number') {
      if (!Number.isFinite(raw)) return { refused: `not a finite number (${raw})` };
      // A Float holds about 7 significant digits: 21.3 arrives as 21.299999237060547, given as
      // the shortest decimal that is the same Float. A Double is given as it is.
      return { value: dataType === 'Float' ? float32Decimal(raw) : raw };
    }
    if (INT64_TYPES.has(dataType) && Array.isArray(raw) && raw.length === 2) {
      // node-opcua gives 64-bit integers as [high, low] 32-bit words.
      const bits = (BigInt(raw[0] as number) << 32n) | BigInt(raw[1] as number);
      const big = dataType === 'Int64' ? BigInt.asIntN(64, bits) : BigInt.asUintN(64, bits);
      const value = Number(big);
      return Number.isSafeInteger(value) ? { value } : { value, uncertain: `${big} is beyond 2^53: rounded to the nearest double` };
    }
    if (dataType === 'DateTime' && raw instanceof Date) return { value: raw.getTime() };
    return misfit();
  }
  if (kind === 'boolean') return dataType === 'Boolean' && typeof raw === 'boolean' ? { value: raw } : misfit();
  if (dataType === 'String' && typeof raw === 'string') return { value: raw };
  if (dataType === 'LocalizedText') return { value: (raw as { text?: string | null }).text ?? '' };
  if (dataType === 'DateTime' && raw instanceof Date) return { value: raw.toISOString() };
  return misfit();
}
