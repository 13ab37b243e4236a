import { describe, expect, it } from 'vitest';
import { decodeRegisters, encodeValue, registerCount, type DataType, type WordOrder } from './codec.js';

// Known vectors: the register words a device holds for a value, in each byte/word order.
// float32 123.456 = 0x42F6E979; int32 -2 = 0xFFFFFFFE; uint64 0x0001020304050607 = 283686952306183;
// float64 1.5 = 0x3FF8000000000000.
const vectors: { type: DataType; value: number | string; words: Record<WordOrder, number[]>; length?: number }[] = [
  { type: 'float32', value: 123.456, words: { ABCD: [0x42f6, 0xe979], CDAB: [0xe979, 0x42f6], BADC: [0xf642, 0x79e9], DCBA: [0x79e9, 0xf642] } },
  { type: 'int32', value: -2, words: { ABCD: [0xffff, 0xfffe], CDAB: [0xfffe, 0xffff], BADC: [0xffff, 0xfeff], DCBA: [0xfeff, 0xffff] } },
  { type: 'uint32', value: 0x12345678, words: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] } },
  { type: 'int16', value: -2, words: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] } },
  { type: 'uint16', value: 0x1234, words: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
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
  { type: 'int64', value: -1, words: { ABCD: [0xffff, 0xffff, 0xffff, 0xffff], CDAB: [0xffff, 0xffff, 0xffff, 0xffff], BADC: [0xffff, 0xffff, 0xffff, 0xffff], DCBA: [0xffff, 0xffff, 0xffff, 0xffff] } },
  { type: 'float64', value: 1.5, words: { ABCD: [0x3ff8, 0, 0, 0], CDAB: [0, 0, 0, 0x3ff8], BADC: [0xf83f, 0, 0, 0], DCBA: [0, 0, 0, 0xf83f] } },
  { type: 'string', value: 'AB12', length: 2, words: { ABCD: [0x4142, 0x3132], CDAB: [0x3132, 0x4142], BADC: [0x4241, 0x3231], DCBA: [0x3231, 0x4241] } },
];

describe('Modbus codec', () => {
  for (const v of vectors) {
    for (const order of ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const) {
      it(`${v.type} ${order}`, () => {
        const decoded = decodeRegisters(v.words[order], v.type, order, v.length);
        if (v.type === 'float32') expect(decoded).toBeCloseTo(v.value as number, 3);
        else expect(decoded).toBe(v.value);
        expect(encodeValue(v.value, v.type, order, v.length)).toEqual(v.words[order]);
      });
    }
  }

  it('trims the padding of strings', () => {
    expect(decodeRegisters([0x4142, 0x4300, 0x0000], 'string', 'ABCD', 3)).toBe('ABC');
    expect(decodeRegisters([0x4142, 0x2020], 'string', 'ABCD', 2)).toBe('AB');
  });

  it('reads a register as a bool when asked', () => {
    expect(decodeRegisters([0], 'bool')).toBe(false);
    expect(decodeRegisters([7], 'bool')).toBe(true);
  });

  it('refuses words of the wrong length and values that do not fit', () => {
    expect(() => decodeRegisters([1], 'float32')).toThrow('float32 needs 2 register(s), got 1');
    expect(() => encodeValue(70000, 'uint16')).toThrow('70000 does not fit uint16');
    expect(() => encodeValue(1.5, 'int32')).toThrow('1.5 does not fit int32');
    expect(() => encodeValue('too long', 'string', 'ABCD', 2)).toThrow('longer than 4 characters');
  });

  it('counts registers per type', () => {
    expect([registerCount('bool'), registerCount('int16'), registerCount('float32'), registerCount('uint64'), registerCount('string', 8)]).toEqual([1, 1, 2, 4, 8]);
  });
});
