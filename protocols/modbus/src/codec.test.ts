import { describe, expect, it } from 'vitest';
import { decodeRegisters, encodeValue, registerCount, WORD_ORDERS, type DataType } from './codec.js';
import { knownVectors as vectors } from './testing/vectors.js';

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
      ['int16', -32768],
      ['uint16', 65535],
      ['int32', -2147483648],
      ['uint32', 4294967295],
      ['int64', Number.MIN_SAFE_INTEGER],
      ['uint64', Number.MAX_SAFE_INTEGER],
      ['float32', -0.5],
      ['float64', Math.PI],
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
    expect([registerCount('bool'), registerCount('int16'), registerCount('float32'), registerCount('uint64'), registerCount('string', 8)]).toEqual([
      1, 1, 2, 4, 8,
    ]);
    expect(() => registerCount('string')).toThrow('a string needs its length in registers');
  });
});
