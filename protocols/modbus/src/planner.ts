import { isBitTable, PROTOCOL_LIMITS, TABLES, type Table } from './tables.js';

/** One value to read: `count` registers (or bits) of `table` from `address` (zero-based). */
export interface ReadItem<K = string> {
  table: Table;
  address: number;
  count: number;
  /** The caller's name for the item, handed back in the plan. */
  key: K;
}

/** One read request of a plan, and where each of its items lies in the answer. */
export interface ReadRequest<K = string> {
  table: Table;
  address: number;
  count: number;
  /** `offset` is counted in registers (or bits) from the request's `address`. */
  items: { key: K; offset: number; count: number }[];
}

export interface PlanLimits {
  /** Registers per request, 1..125. Default 125, the protocol's limit; some devices need less. */
  maxRegisters?: number;
  /** Bits per request, 1..2000. Default 2000, the protocol's limit. */
  maxBits?: number;
  /**
   * Unused registers (or bits) a request may span between two items to save a request. Default
   * 0: only adjacent items are merged. Reading across a gap fails on devices that refuse
   * addresses they do not map (exception 2), so raise it only for devices that allow it.
   */
  maxGap?: number;
}

/**
 * Groups items into the fewest read requests within the limits. Per table (in the order holding,
 * input, coil, discrete) and in address order, an item joins the current request when the gap
 * before it is at most `maxGap` and the request stays within its size limit; otherwise it starts
 * a new one. Every item lies wholly in one request; overlapping items share one. Greedy extension
 * is optimal here: whether a run of sorted items fits one request depends only on its first
 * start, its last end and its gaps. Pure: no I/O.
 * @throws RangeError when an item alone exceeds the limit, or when a limit or an item is invalid
 */
export function planReads<K>(items: readonly ReadItem<K>[], limits: PlanLimits = {}): ReadRequest<K>[] {
  const maxRegisters = limit('maxRegisters', limits.maxRegisters, PROTOCOL_LIMITS.readRegisters, 1);
  const maxBits = limit('maxBits', limits.maxBits, PROTOCOL_LIMITS.readBits, 1);
  const maxGap = limit('maxGap', limits.maxGap, 0, 0, 65535);
  const requests: ReadRequest<K>[] = [];
  for (const table of TABLES) {
    const max = isBitTable(table) ? maxBits : maxRegisters;
    const sorted = items.filter((i) => i.table === table).sort((a, b) => a.address - b.address || b.count - a.count);
    let current: ReadRequest<K> | undefined;
    for (const item of sorted) {
      if (!Number.isInteger(item.address) || !Number.isInteger(item.count) || item.address < 0 || item.count < 1 || item.address + item.count > 65536) {
        throw new RangeError(`item ${String(item.key)}: ${item.count} at ${table} ${item.address} is outside 0..65535`);
      }
      if (item.count > max) throw new RangeError(`item ${String(item.key)}: ${item.count} ${isBitTable(table) ? 'bits' : 'registers'} exceed the request limit of ${max}`);
      const end = item.address + item.count;
      const currentEnd = current ? current.address + current.count : 0;
      if (current && item.address - currentEnd <= maxGap && Math.max(end, currentEnd) - current.address <= max) {
        current.count = Math.max(end, currentEnd) - current.address;
        current.items.push({ key: item.key, offset: item.address - current.address, count: item.count });
      } else {
        current = { table, address: item.address, count: item.count, items: [{ key: item.key, offset: 0, count: item.count }] };
        requests.push(current);
      }
    }
  }
  return requests;
}

function limit(name: string, value: number | undefined, fallback: number, min: number, max = fallback): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}
