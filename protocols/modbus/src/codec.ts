/**
 * Register words ⇄ typed values, in every byte and word order found on meters and controllers.
 * Pure functions: no I/O, no state.
 */

export type DataType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string';

export const DATA_TYPES: readonly DataType[] = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'];

/**
 * Byte order of a value over several registers, named for 32 bits with A the most significant
 * byte: `ABCD` big-endian words and bytes (the Modbus convention), `CDAB` words swapped (common on
 * meters: "low word first"), `BADC` bytes swapped within each word, `DCBA` both (little-endian).
 * The same two swaps generalise to any size: for 64 bits `CDAB` reverses the four words
 * (GHEFCDAB); for 16 bits `CDAB` is `ABCD` and `DCBA` is `BADC`. Strings follow the same rules
 * (`BADC` for devices that store the second character of a pair first).
 */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

export const WORD_ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

const FIXED_SIZES: Readonly<Record<Exclude<DataType, 'string'>, number>> = {
  bool: 1,
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
};

/** The values each integer type can hold, as [lowest, highest]. */
export const INTEGER_RANGES: Readonly<Partial<Record<DataType, readonly [number, number]>>> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
  // Values are JavaScript numbers: 64-bit integers are written exactly within ±2^53 only.
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * Registers one value of `type` occupies. `length` is a string's length in registers (two
 * characters each) and is ignored for other types.
 * @throws RangeError for a string without a positive integer length
 */
export function registerCount(type: DataType, length?: number): number {
  if (type !== 'string') return FIXED_SIZES[type];
  if (length === undefined || !Number.isInteger(length) || length < 1) throw new RangeError(`a string needs its length in registers, got ${length}`);
  return length;
}

/** The value's bytes in big-endian order (ABCD), from the words as the device holds them. */
function toBigEndian(words: readonly number[], order: WordOrder): Buffer {
  const ordered = order === 'CDAB' || order === 'DCBA' ? [...words].reverse() : words;
  const buf = Buffer.alloc(ordered.length * 2);
  ordered.forEach((w, i) => buf.writeUInt16BE(w & 0xffff, i * 2));
  if (order === 'BADC' || order === 'DCBA') buf.swap16();
  return buf;
}

/** The words a device holds for big-endian bytes: the inverse of {@link toBigEndian}. */
function fromBigEndian(buf: Buffer, order: WordOrder): number[] {
  if (order === 'BADC' || order === 'DCBA') buf.swap16();
  const words = Array.from({ length: buf.length / 2 }, (_, i) => buf.readUInt16BE(i * 2));
  return order === 'CDAB' || order === 'DCBA' ? words.reverse() : words;
}

/**
 * Decodes the register words of one value.
 * - `bool`: a register read as a flag, true when not 0.
 * - `int64`/`uint64`: a number, exact within ±2^53 (Number.MAX_SAFE_INTEGER, a Wh counter gets
 *   there after a million years of a megawatt); beyond, the nearest double (relative error below
 *   1.2e-16). Callers that care check `Number.isSafeInteger`.
 * - `float32`/`float64` may decode to NaN or ±Infinity, as the device holds them.
 * - `string`: ASCII (bytes above 0x7F read as Latin-1), trailing NULs and spaces removed; its
 *   length defaults to the number of words.
 * @throws RangeError when `words` is not as long as the type needs
 */
export function decodeRegisters(words: readonly number[], type: DataType, order: WordOrder = 'ABCD', length?: number): number | boolean | string {
  const needed = registerCount(type, type === 'string' ? (length ?? words.length) : undefined);
  if (words.length !== needed) throw new RangeError(`${type} needs ${needed} register(s), got ${words.length}`);
  if (type === 'bool') return words[0] !== 0;
  const buf = toBigEndian(words, order);
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
 * Encodes a value into the register words a device would hold (for writes and the simulator):
 * the inverse of {@link decodeRegisters}. Strings are ASCII, padded with NULs to `length`
 * registers (default: just long enough).
 * @throws RangeError when the value is not of the type's kind or does not fit it
 */
export function encodeValue(value: number | boolean | string, type: DataType, order: WordOrder = 'ABCD', length?: number): number[] {
  const refuse = (why: string) => new RangeError(`${JSON.stringify(value)} ${why}`);
  if (type === 'bool') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw refuse('is not a bool (true, false, 0 or 1)');
    return [value ? 1 : 0];
  }
  if (type === 'string') {
    if (typeof value !== 'string') throw refuse('is not a string');
    if (!/^[\x20-\x7e]*$/.test(value)) throw refuse('has characters outside printable ASCII');
    const size = registerCount(type, length ?? Math.max(1, Math.ceil(value.length / 2))) * 2;
    if (value.length > size) throw refuse(`is longer than ${size} characters`);
    const buf = Buffer.alloc(size);
    buf.write(value, 'latin1');
    return fromBigEndian(buf, order);
  }
  if (typeof value !== 'number') throw refuse(`is not a number for ${type}`);
  const range = INTEGER_RANGES[type];
  if (range && (!Number.isInteger(value) || value < range[0] || value > range[1])) throw refuse(`does not fit ${type}`);
  if (type === 'float32' && Number.isFinite(value) && !Number.isFinite(Math.fround(value))) throw refuse('does not fit float32');
  const buf = Buffer.alloc(FIXED_SIZES[type] * 2);
  switch (type) {
    case 'int16':
      buf.writeInt16BE(value);
      break;
    case 'uint16':
      buf.writeUInt16BE(value);
      break;
    case 'int32':
      buf.writeInt32BE(value);
      break;
    case 'uint32':
      buf.writeUInt32BE(value);
      break;
    case 'int64':
      buf.writeBigInt64BE(BigInt(value));
      break;
    case 'uint64':
      buf.writeBigUInt64BE(BigInt(value));
      break;
    case 'float32':
      buf.writeFloatBE(value);
      break;
    case 'float64':
      buf.writeDoubleBE(value);
      break;
  }
  return fromBigEndian(buf, order);
}
