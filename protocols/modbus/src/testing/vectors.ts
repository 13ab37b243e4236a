import type { DataType, WordOrder } from '../codec.js';

// Known vectors: the register words a device holds for a value, in each order.
// float32 123.456 = 0x42F6E979; float64 123.456 = 0x405EDD2F1A9FBE77; int32 -2 = 0xFFFFFFFE;
// int64 -2 = 0xFFFFFFFFFFFFFFFE; uint64 283686952306183 = 0x0001020304050607.
export interface KnownVector {
  type: DataType;
  value: number | string | boolean;
  /** What decoding gives when it is not `value` exactly (float32 rounding). */
  decoded?: number;
  length?: number;
  /** The register words a device holds for `value`, in each order. */
  words: Record<WordOrder, number[]>;
}

export const knownVectors: readonly KnownVector[] = [
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
