import { describe, expect, it } from 'vitest';
import { decodeRegisters, encodeValue, registerCount, WORD_ORDERS, type DataType, type WordOrder } from './codec.js';

// Known vectors: the register words a device holds for a value, in each order.
// float32 123.456 = 0x42F6E979; float64 123.456 = 0x405EDD2F1A9FBE77; int32 -2 = 0xFFFFFFFE;
// int64 -2 = 0xFFFFFFFFFFFFFFFE; uint64 283686952306183 = 0x0001020304050607.
const vectors: { type: DataType; value: number | string | boolean; decoded?: number; length?: number; words: Record<WordOrder, number[]> }[] = [
  { type: 'bool', value: true, words: { ABCD: [1], CDAB: [1], BADC: [1], DCBA: [1] } },
  { type: 'int16', value: -2, words: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] } },
  { type: 'uint16', value: 0x1234, words: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
  { type: 'int32', value: -2, words: { ABCD: [0xffff, 0xfffe], CDAB: [0xfffe, 0xffff], BADC: [0xffff, 0xfeff], DCBA: [0xfeff, 0xffff] } },
  { type: 'uint32', value: 0x12345678, words: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] } },
  {
    type: 'float32',
    value: 123.456,
    decoded: Math.fround(123.456),
    words: { ABCD: [0x42f6, 0xe979], CDAB: [0xe979, 0x42f6], BADC: [0xf642, 0x79e9], DCBA: [0x79e9, 0xf642] },
  },
  {
    type: 'int64',
    value: -2,
    words: {
      ABCD: [0xffff, 0xffff, 0xffff, 0xfffe],
      CDAB: [0xfffe, 0xffff, 0xffff, 0xffff],
      BADC: [0xffff, 0xffff, 0xffff, 0xfeff],
      DCBA: [0xfeff, 0xffff, 0xffff, 0xffff],
    },
  },
  {
    type: 'uint64',
    value: 283686952306183,
    words: {
      ABCD: [0x0001, 0x0203, 0x0405, 0x0607],
      CDAB: [0x0607, 0x0405, 0x0203, 0x0001],
      BADC: [0x0100, 0x0302, 0x0504, 0x0706],
      DCBA: [0x0706, 0x0504, 0x0302, 0x0100],
    },
  },
  {
    type: 'float64',
    value: 123.456,
    words: {
      ABCD: [0x405e, 0xdd2f, 0x1a9f, 0xbe77],
      CDAB: [0xbe77, 0x1a9f, 0xdd2f, 0x405e],
      BADC: [0x5e40, 0x2fdd, 0x9f1a, 0x77be],
      DCBA: [0x77be, 0x9f1a, 0x2fdd, 0x5e40],
    },
  },
  { type: 'string', value: 'AB12', length: 2, words: { ABCD: [0x4142, 0x3132], CDAB: [0x3132, 0x4142], BADC: [0x4241, 0x3231], DCBA: [0x3231, 0x4241] } },
];

describe('Modbus codec', () => {
  for (const v of vectors) {
    for (const order of WORD_ORDERS) {
      it(`${v.type} ${order}: ${JSON.stringify(v.value)} ⇄ [${v.words[order].map((w) => w.toString(16))}]`, () => {
        expect(encodeValue(v.value, v.type, order, v.length)).toEqual(v.words[order]);
        expect(decodeRegisters(v.words[order], v.type, order, v.length)).toBe(v.decoded ?? v.value);
      });
    }
  }

  it('round-trips extremes of every numeric type in every order', () => {
    const cases: [DataType, number][] = [
      ['int16', -32768], ['uint16', 65535], ['int32', -2147483648], ['uint32', 4294967295],
      ['int64', Number.MIN_SAFE_INTEGER], ['uint64', Number.MAX_SAFE_INTEGER], ['float32', -0.5], ['float64', Math.PI],
    ];
    for (const order of WORD_ORDERS) {
      for (const [type, value] of cases) expect(decodeRegisters(encodeValue(value, type, order), type, order), `${type} ${order}`).toBe(value);
    }
  });

  it('decodes 64-bit integers beyond 2^53 to the nearest double', () => {
    const max = decodeRegisters([0xffff, 0xffff, 0xffff, 0xffff], 'uint64');
    expect(max).toBe(18446744073709552000);
    expect(Number.isSafeInteger(max)).toBe(false);
    expect(() => encodeValue(2 ** 53, 'uint64')).toThrow('9007199254740992 does not fit uint64');
  });

  it('decodes NaN and infinities as the device holds them', () => {
    expect(decodeRegisters([0x7fc0, 0x0000], 'float32')).toBeNaN();
    expect(decodeRegisters([0x0000, 0xff80], 'float32', 'CDAB')).toBe(-Infinity);
  });

  it('trims the padding of strings and infers their length from the words', () => {
    expect(decodeRegisters([0x4142, 0x4300, 0x0000], 'string', 'ABCD', 3)).toBe('ABC');
    expect(decodeRegisters([0x4142, 0x2020], 'string')).toBe('AB');
    expect(encodeValue('ABC', 'string')).toEqual([0x4142, 0x4300]);
    expect(encodeValue('ABC', 'string', 'ABCD', 3)).toEqual([0x4142, 0x4300, 0x0000]);
  });

  it('reads a register as a bool when asked', () => {
    expect(decodeRegisters([0], 'bool')).toBe(false);
    expect(decodeRegisters([7], 'bool')).toBe(true);
  });

  it('refuses words of the wrong length and values that do not fit', () => {
    expect(() => decodeRegisters([1], 'float32')).toThrow('float32 needs 2 register(s), got 1');
    expect(() => decodeRegisters([1, 2], 'string', 'ABCD', 3)).toThrow('string needs 3 register(s), got 2');
    expect(() => encodeValue(70000, 'uint16')).toThrow('70000 does not fit uint16');
    expect(() => encodeValue(-1, 'uint32')).toThrow('-1 does not fit uint32');
    expect(() => encodeValue(1.5, 'int32')).toThrow('1.5 does not fit int32');
    expect(() => encodeValue(1e39, 'float32')).toThrow('1e+39 does not fit float32');
    expect(() => encodeValue('12', 'uint16')).toThrow('"12" is not a number for uint16');
    expect(() => encodeValue(12, 'string', 'ABCD', 2)).toThrow('12 is not a string');
    expect(() => encodeValue('too long', 'string', 'ABCD', 2)).toThrow('"too long" is longer than 4 characters');
    expect(() => encodeValue('été', 'string', 'ABCD', 2)).toThrow('has characters outside printable ASCII');
    expect(() => encodeValue(2, 'bool')).toThrow('2 is not a bool');
  });

  it('counts registers per type, strings by their length', () => {
    expect([registerCount('bool'), registerCount('int16'), registerCount('float32'), registerCount('uint64'), registerCount('string', 8)]).toEqual([1, 1, 2, 4, 8]);
    expect(() => registerCount('string')).toThrow('a string needs its length in registers');
  });
});
