/**
 * Decoding and encoding of Modbus register words into typed values, in every byte and word order
 * found on meters and controllers.
 */

export type DataType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string';

export const DATA_TYPES: readonly DataType[] = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'];

/**
 * Byte order of a multi-register value, written for 32 bits where A is the most significant
 * byte: `ABCD` big-endian (the Modbus convention), `CDAB` words swapped (common on meters),
 * `BADC` bytes swapped within each word, `DCBA` little-endian. For 64 bits the same two swaps
 * apply to four words; for 16 bits only the byte swap matters.
 */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

export const WORD_ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** Registers a value of `type` occupies; `length` is a string's length in registers. */
export function registerCount(type: DataType, length = 1): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length;
  }
}

/** Register words as a big-endian byte buffer, after undoing `order`. */
function wordsToBuffer(words: readonly number[], order: WordOrder): Buffer {
  const ordered = order === 'CDAB' || order === 'DCBA' ? [...words].reverse() : words;
  const buf = Buffer.alloc(ordered.length * 2);
  ordered.forEach((w, i) => buf.writeUInt16BE(w & 0xffff, i * 2));
  if (order === 'BADC' || order === 'DCBA') buf.swap16();
  return buf;
}

/** The inverse of {@link wordsToBuffer} (both swaps are their own inverse). */
function bufferToWords(buf: Buffer, order: WordOrder): number[] {
  const b = Buffer.from(buf);
  if (order === 'BADC' || order === 'DCBA') b.swap16();
  const words = Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2));
  return order === 'CDAB' || order === 'DCBA' ? words.reverse() : words;
}

/**
 * Decodes the words of one value. 64-bit integers come back as numbers, exact up to 2^53 (a
 * meter counting in Wh reaches that after a million years). Strings are ASCII, trailing NULs and
 * spaces removed.
 * @throws RangeError when `words` is not as long as the type needs
 */
export function decodeRegisters(words: readonly number[], type: DataType, order: WordOrder = 'ABCD', length = 1): number | boolean | string {
  const needed = registerCount(type, length);
  if (words.length !== needed) throw new RangeError(`${type} needs ${needed} register(s), got ${words.length}`);
  if (type === 'bool') return words[0] !== 0;
  const buf = wordsToBuffer(words, order);
  switch (type) {
    case 'int16':
      return buf.readInt16BE(0);
    case 'uint16':
      return buf.readUInt16BE(0);
    case 'int32':
      return buf.readInt32BE(0);
    case 'uint32':
      return buf.readUInt32BE(0);
    case 'int64':
      return Number(buf.readBigInt64BE(0));
    case 'uint64':
      return Number(buf.readBigUInt64BE(0));
    case 'float32':
      return buf.readFloatBE(0);
    case 'float64':
      return buf.readDoubleBE(0);
    case 'string':
      return buf.toString('latin1').replace(/[\0 ]+$/, '');
  }
}

/**
 * Encodes a value into the words a device would hold (the simulator, and writes).
 * @throws RangeError when the value does not fit the type
 */
export function encodeValue(value: number | boolean | string, type: DataType, order: WordOrder = 'ABCD', length = 1): number[] {
  if (type === 'bool') return [value ? 1 : 0];
  const size = registerCount(type, length) * 2;
  const buf = Buffer.alloc(size);
  if (type === 'string') {
    const text = String(value);
    if (text.length > size) throw new RangeError(`${JSON.stringify(text)} is longer than ${size} characters`);
    buf.write(text, 'latin1');
    return bufferToWords(buf, order);
  }
  const n = Number(value);
  const integer = (min: number, max: number) => {
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${value} does not fit ${type}`);
  };
  switch (type) {
    case 'int16':
      integer(-0x8000, 0x7fff);
      buf.writeInt16BE(n);
      break;
    case 'uint16':
      integer(0, 0xffff);
      buf.writeUInt16BE(n);
      break;
    case 'int32':
      integer(-0x80000000, 0x7fffffff);
      buf.writeInt32BE(n);
      break;
    case 'uint32':
      integer(0, 0xffffffff);
      buf.writeUInt32BE(n);
      break;
    case 'int64':
      integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      buf.writeBigInt64BE(BigInt(n));
      break;
    case 'uint64':
      integer(0, Number.MAX_SAFE_INTEGER);
      buf.writeBigUInt64BE(BigInt(n));
      break;
    case 'float32':
      buf.writeFloatBE(n);
      break;
    case 'float64':
      buf.writeDoubleBE(n);
      break;
  }
  return bufferToWords(buf, order);
}
