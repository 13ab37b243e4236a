import { describe, expect, it } from 'vitest';
import { planReads, type ReadItem } from './planner.js';

const reg = (key: string, address: number, count = 1, table: ReadItem['table'] = 'holding'): ReadItem => ({ key, table, address, count });

describe('Modbus request planner', () => {
  it('merges adjacent items of a table into one request', () => {
    const plan = planReads([reg('b', 2, 2), reg('a', 0, 2), reg('c', 4, 1)]);
    expect(plan).toEqual([
      { table: 'holding', address: 0, count: 5, items: [{ key: 'a', offset: 0, count: 2 }, { key: 'b', offset: 2, count: 2 }, { key: 'c', offset: 4, count: 1 }] },
    ]);
  });

  it('splits at gaps unless maxGap allows reading across them', () => {
    const items = [reg('a', 0, 2), reg('b', 5, 2)];
    expect(planReads(items).map((r) => [r.address, r.count])).toEqual([[0, 2], [5, 2]]);
    expect(planReads(items, { maxGap: 3 }).map((r) => [r.address, r.count])).toEqual([[0, 7]]);
    expect(planReads(items, { maxGap: 2 }).map((r) => [r.address, r.count])).toEqual([[0, 2], [5, 2]]);
  });

  it('never exceeds 125 registers or 2000 bits per request, nor a lower device limit', () => {
    const regs = Array.from({ length: 200 }, (_, i) => reg(`r${i}`, i * 2, 2));
    const plan = planReads(regs);
    expect(plan.every((r) => r.count <= 125)).toBe(true);
    expect(plan.length).toBe(Math.ceil(400 / 124)); // 62 float32 per request: 124 registers
    expect(planReads(regs, { maxRegisters: 10 }).length).toBe(40); // 5 float32 per request
    const bits = Array.from({ length: 4500 }, (_, i) => reg(`c${i}`, i, 1, 'coil'));
    expect(planReads(bits).map((r) => r.count)).toEqual([2000, 2000, 500]);
  });

  it('keeps tables apart', () => {
    const plan = planReads([reg('h', 0), reg('i', 1, 1, 'input'), reg('h2', 1)]);
    expect(plan.map((r) => [r.table, r.address, r.count])).toEqual([['holding', 0, 2], ['input', 1, 1]]);
  });

  it('refuses an item larger than one request', () => {
    expect(() => planReads([reg('big', 0, 126)])).toThrow('exceeds the request limit of 125');
  });
});
