export type Table = 'holding' | 'input' | 'coil' | 'discrete';

/** One value to read: `count` registers (or bits) from `address` of `table`. */
export interface ReadItem<K = string> {
  key: K;
  table: Table;
  address: number;
  count: number;
}

/** One request of a plan, and where each of its items lies inside the response. */
export interface ReadRequest<K = string> {
  table: Table;
  address: number;
  count: number;
  items: { key: K; offset: number; count: number }[];
}

export interface PlanLimits {
  /** Registers per read request; the protocol allows 125. */
  maxRegisters?: number;
  /** Bits per read request; the protocol allows 2000. */
  maxBits?: number;
  /** Unused registers or bits that may be read between two items to save a request. Default 0. */
  maxGap?: number;
}

const isBits = (table: Table) => table === 'coil' || table === 'discrete';

/**
 * Groups items into the fewest read requests within the limits: per table, in address order,
 * an item joins the current request when the gap before it is at most `maxGap` and the request
 * stays within its size limit. Items that overlap share a request. Pure: no I/O.
 */
export function planReads<K>(items: readonly ReadItem<K>[], limits: PlanLimits = {}): ReadRequest<K>[] {
  const maxRegisters = limits.maxRegisters ?? 125;
  const maxBits = limits.maxBits ?? 2000;
  const maxGap = limits.maxGap ?? 0;
  const requests: ReadRequest<K>[] = [];
  const tables: Table[] = ['holding', 'input', 'coil', 'discrete'];
  for (const table of tables) {
    const limit = isBits(table) ? maxBits : maxRegisters;
    const sorted = items.filter((i) => i.table === table).sort((a, b) => a.address - b.address || b.count - a.count);
    let current: ReadRequest<K> | undefined;
    for (const item of sorted) {
      if (item.count > limit) throw new RangeError(`an item of ${item.count} ${isBits(table) ? 'bits' : 'registers'} exceeds the request limit of ${limit}`);
      const end = item.address + item.count;
      const currentEnd = current ? current.address + current.count : 0;
      if (current && item.address - currentEnd <= maxGap && Math.max(end, currentEnd) - current.address <= limit) {
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
