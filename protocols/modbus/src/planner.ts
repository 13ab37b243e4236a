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
 * Addresses of one table a device refuses (it answers exception 2, illegal data address), as a
 * driver learns them. `count` 0 is a boundary: `address - 1` and `address` are both readable but
 * not in one request (some devices refuse reads across their internal blocks).
 */
export interface AddressRange {
  table: Table;
  address: number;
  count: number;
}

export interface PlanOptions {
  /**
   * Ranges no request may read across. An item that needs an avoided address gets a request of
   * its own, which the device will refuse: that item alone is lost.
   */
  avoid?: readonly AddressRange[];
}

/**
 * Groups items into the fewest read requests within the limits. Per table (in the order holding,
 * input, coil, discrete) and in address order, an item joins the current request when the gap
 * before it is at most `maxGap` and the request stays within its size limit; otherwise it starts
 * a new one. Every item lies wholly in one request; overlapping items share one. Greedy extension
 * is optimal here: whether a run of sorted items fits one request depends only on its first
 * start, its last end and its gaps. Avoided ranges only forbid some joins, so the same holds with
 * them. Pure: no I/O.
 * @throws RangeError when an item alone exceeds the limit, or when a limit or an item is invalid
 */
export function planReads<K>(items: readonly ReadItem<K>[], limits: PlanLimits = {}, options: PlanOptions = {}): ReadRequest<K>[] {
  const maxRegisters = limit('maxRegisters', limits.maxRegisters, PROTOCOL_LIMITS.readRegisters, 1);
  const maxBits = limit('maxBits', limits.maxBits, PROTOCOL_LIMITS.readBits, 1);
  const maxGap = limit('maxGap', limits.maxGap, 0, 0, 65535);
  const requests: ReadRequest<K>[] = [];
  for (const table of TABLES) {
    const max = isBitTable(table) ? maxBits : maxRegisters;
    const sorted = items.filter((i) => i.table === table).sort((a, b) => a.address - b.address || b.count - a.count);
    const avoid = (options.avoid ?? []).filter((r) => r.table === table);
    // An item that needs an avoided address is read on its own; no request reads across an
    // avoided range or boundary between two items.
    const touches = (address: number, end: number) => avoid.some((r) => r.count > 0 && r.address < end && address < r.address + r.count);
    const between = (end: number, next: number) =>
      avoid.some((r) => (r.count === 0 ? end <= r.address && r.address <= next : r.address < next && end < r.address + r.count));
    let current: ReadRequest<K> | undefined;
    let alone = false;
    for (const item of sorted) {
      if (!Number.isInteger(item.address) || !Number.isInteger(item.count) || item.address < 0 || item.count < 1 || item.address + item.count > 65536) {
        throw new RangeError(`item ${String(item.key)}: ${item.count} at ${table} ${item.address} is outside 0..65535`);
      }
      if (item.count > max)
        throw new RangeError(`item ${String(item.key)}: ${item.count} ${isBitTable(table) ? 'bits' : 'registers'} exceed the request limit of ${max}`);
      const end = item.address + item.count;
      const currentEnd = current ? current.address + current.count : 0;
      const needsAvoided = touches(item.address, end);
      if (
        current &&
        !alone &&
        !needsAvoided &&
        item.address - currentEnd <= maxGap &&
        Math.max(end, currentEnd) - current.address <= max &&
        !between(currentEnd, item.address)
      ) {
        current.count = Math.max(end, currentEnd) - current.address;
        current.items.push({ key: item.key, offset: item.address - current.address, count: item.count });
      } else {
        current = { table, address: item.address, count: item.count, items: [{ key: item.key, offset: 0, count: item.count }] };
        alone = needsAvoided;
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

/**
 * The items of a request in two requests, split near the middle where the halves do not overlap,
 * to find which part a device refuses. Pure: no I/O.
 * @returns the two halves, or undefined when the request cannot be split (one item, or items
 *   that all overlap one another)
 */
export function splitRequest<K>(request: ReadRequest<K>): [ReadRequest<K>, ReadRequest<K>] | undefined {
  const items = [...request.items].sort((a, b) => a.offset - b.offset || b.count - a.count);
  // Cut points: indexes where every item before ends at or before the next one starts.
  const cuts: number[] = [];
  let end = 0;
  items.forEach((item, i) => {
    if (i > 0 && item.offset >= end) cuts.push(i);
    end = Math.max(end, item.offset + item.count);
  });
  if (cuts.length === 0) return undefined;
  const middle = items.length / 2;
  const cut = cuts.reduce((best, c) => (Math.abs(c - middle) < Math.abs(best - middle) ? c : best));
  return [part(request, items.slice(0, cut)), part(request, items.slice(cut))];
}

/**
 * Plans a request's items again around avoided ranges: the requests that replace it. A request
 * that avoids them all comes back unchanged (as one equal request). Pure: no I/O.
 */
export function replanRequest<K>(request: ReadRequest<K>, avoid: readonly AddressRange[]): ReadRequest<K>[] {
  const items = request.items.map((i) => ({ key: i.key, table: request.table, address: request.address + i.offset, count: i.count }));
  // The request fits the device's limits and gaps, so any run of its items does: no other limit.
  return planReads(items, { maxGap: 65535 }, { avoid });
}

/** A request reading only `items` of `request` (at least one). */
function part<K>(request: ReadRequest<K>, items: ReadRequest<K>['items']): ReadRequest<K> {
  const first = Math.min(...items.map((i) => i.offset));
  const end = Math.max(...items.map((i) => i.offset + i.count));
  return { table: request.table, address: request.address + first, count: end - first, items: items.map((i) => ({ ...i, offset: i.offset - first })) };
}
