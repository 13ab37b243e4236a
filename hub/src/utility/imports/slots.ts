import { UtilityImportError } from './errors.js';

/** Bits of slots an import keeps at most (32 MiB): some 2,500 years of 5-minute steps across a file's series. */
export const MAX_SLOT_WORDS = 8 * 1024 * 1024;

interface SlotSet {
  /** Slot of the first bit; a multiple of 32. */
  origin: number;
  bits: Uint32Array;
}

/**
 * The slots (5-minute steps of a load curve, days of a consumption) each series of a file has
 * given, one bit each, to find a step given twice whatever the order of the rows. Memory grows
 * with the time a series spans, not with its rows, and is bounded by `maxWords`.
 */
export class SlotSets {
  private readonly sets = new Map<string, SlotSet>();
  private words = 0;

  constructor(private readonly maxWords = MAX_SLOT_WORDS) {}

  /**
   * Claims slots `[from, from + count)` of series `key`: false, and nothing claimed, when one of
   * them was claimed before.
   * @throws UtilityImportError IMPORT_FILE_REFUSED past `maxWords`
   */
  claim(key: string, from: number, count: number): boolean {
    let set = this.sets.get(key);
    if (!set) {
      const origin = Math.floor(from / 32) * 32 - 32 * 32;
      set = { origin, bits: this.allocate(Math.max(256, Math.ceil((from + count - origin) / 32) + 32)) };
      this.sets.set(key, set);
    } else if (from < set.origin || from + count > set.origin + set.bits.length * 32) {
      this.grow(set, from, count);
    }
    const { origin, bits } = set;
    for (let s = from - origin, e = s + count; s < e; s++) if (bits[s >>> 5] & (1 << (s & 31))) return false;
    for (let s = from - origin, e = s + count; s < e; s++) bits[s >>> 5] |= 1 << (s & 31);
    return true;
  }

  private grow(set: SlotSet, from: number, count: number): void {
    const lo = Math.min(set.origin, Math.floor(from / 32) * 32);
    const hi = Math.ceil(Math.max(set.origin + set.bits.length * 32, from + count) / 32) * 32;
    const words = Math.max((hi - lo) / 32, set.bits.length * 2);
    // Room is added on the side the series grew to.
    const origin = from < set.origin ? hi - words * 32 : lo;
    const bits = this.allocate(words);
    bits.set(set.bits, (set.origin - origin) / 32);
    this.words -= set.bits.length;
    set.origin = origin;
    set.bits = bits;
  }

  private allocate(words: number): Uint32Array {
    if (this.words + words > this.maxWords) {
      throw new UtilityImportError(
        'IMPORT_FILE_REFUSED',
        `the file's series span too long a time to be checked for repeated steps (more than ${this.maxWords * 32} slots of 5 minutes or a day): split it, by year or by delivery point`,
      );
    }
    this.words += words;
    return new Uint32Array(words);
  }
}
