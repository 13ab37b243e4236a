import { describe, expect, it } from 'vitest';
import { planReads, replanRequest, splitRequest, type ReadItem, type ReadRequest } from './planner.js';

const item = (key: string, address: number, count = 1, table: ReadItem['table'] = 'holding'): ReadItem => ({ key, table, address, count });
const shape = (plan: ReturnType<typeof planReads>) => plan.map((r) => `${r.table} ${r.address}+${r.count}`);

describe('Modbus request planner', () => {
  it('merges adjacent items of a table into one request, whatever their order', () => {
    expect(planReads([item('b', 2, 2), item('a', 0, 2), item('c', 4, 1)])).toEqual([
      {
        table: 'holding',
        address: 0,
        count: 5,
        items: [
          { key: 'a', offset: 0, count: 2 },
          { key: 'b', offset: 2, count: 2 },
          { key: 'c', offset: 4, count: 1 },
        ],
      },
    ]);
  });

  it('splits at gaps unless maxGap allows reading across them', () => {
    const items = [item('a', 0, 2), item('b', 5, 2)];
    expect(shape(planReads(items))).toEqual(['holding 0+2', 'holding 5+2']);
    expect(shape(planReads(items, { maxGap: 2 }))).toEqual(['holding 0+2', 'holding 5+2']);
    expect(planReads(items, { maxGap: 3 })).toEqual([
      {
        table: 'holding',
        address: 0,
        count: 7,
        items: [
          { key: 'a', offset: 0, count: 2 },
          { key: 'b', offset: 5, count: 2 },
        ],
      },
    ]);
    const bits = [item('x', 0, 1, 'coil'), item('y', 10, 1, 'coil')];
    expect(shape(planReads(bits, { maxGap: 9 }))).toEqual(['coil 0+11']);
  });

  it('never exceeds 125 registers per request, nor a lower device limit', () => {
    const floats = Array.from({ length: 200 }, (_, i) => item(`f${i}`, i * 2, 2));
    const plan = planReads(floats);
    // 62 float32 (124 registers) per request: a 63rd would end at 126.
    expect(plan.map((r) => r.count)).toEqual([124, 124, 124, 28]);
    expect(planReads(floats, { maxRegisters: 10 }).length).toBe(40);
    const words = Array.from({ length: 250 }, (_, i) => item(`w${i}`, i));
    expect(planReads(words).map((r) => r.count)).toEqual([125, 125]);
    expect(planReads(floats).flatMap((r) => r.items).length).toBe(200);
  });

  it('never exceeds 2000 bits per request', () => {
    const bits = Array.from({ length: 4500 }, (_, i) => item(`c${i}`, i, 1, 'discrete'));
    expect(planReads(bits).map((r) => r.count)).toEqual([2000, 2000, 500]);
    expect(planReads(bits, { maxBits: 1000 }).length).toBe(5);
  });

  it('keeps the four tables apart, in a fixed order', () => {
    const plan = planReads([item('d', 0, 1, 'discrete'), item('h', 0), item('i', 1, 1, 'input'), item('c', 0, 1, 'coil'), item('h2', 1)]);
    expect(shape(plan)).toEqual(['holding 0+2', 'input 1+1', 'coil 0+1', 'discrete 0+1']);
  });

  it('puts overlapping items in one request', () => {
    const plan = planReads([item('whole', 10, 4), item('low', 12, 2)]);
    expect(plan).toEqual([
      {
        table: 'holding',
        address: 10,
        count: 4,
        items: [
          { key: 'whole', offset: 0, count: 4 },
          { key: 'low', offset: 2, count: 2 },
        ],
      },
    ]);
  });

  it('plans nothing for no items', () => {
    expect(planReads([])).toEqual([]);
  });

  it('never reads across an avoided range: a gap holding one splits, an item needing one is read alone', () => {
    const items = [item('a', 0), item('b', 4), item('c', 12), item('d', 16), item('e', 20), item('f', 24), item('g', 28)];
    expect(shape(planReads(items, { maxGap: 8 }))).toEqual(['holding 0+29']);
    const avoid = [
      { table: 'holding' as const, address: 5, count: 7 },
      { table: 'holding' as const, address: 20, count: 1 },
      // Another table's ranges change nothing here.
      { table: 'input' as const, address: 0, count: 30 },
    ];
    expect(shape(planReads(items, { maxGap: 8 }, { avoid }))).toEqual(['holding 0+5', 'holding 12+5', 'holding 20+1', 'holding 24+5']);
    // A range that only partly covers an item, or lies anywhere in a gap, counts the same.
    expect(
      shape(planReads([item('x', 0, 2), item('y', 2, 2), item('z', 6, 2)], { maxGap: 4 }, { avoid: [{ table: 'holding', address: 5, count: 1 }] })),
    ).toEqual(['holding 0+4', 'holding 6+2']);
    expect(shape(planReads([item('x', 0, 2), item('y', 2, 2), item('z', 4, 2)], {}, { avoid: [{ table: 'holding', address: 3, count: 1 }] }))).toEqual([
      'holding 0+2',
      'holding 2+2',
      'holding 4+2',
    ]);
  });

  it('treats an avoided range of no addresses as a boundary that no request reads across', () => {
    const items = [item('a', 0, 2), item('b', 2, 2), item('c', 4, 2)];
    expect(shape(planReads(items, {}, { avoid: [{ table: 'holding', address: 2, count: 0 }] }))).toEqual(['holding 0+2', 'holding 2+4']);
    // A boundary inside an item does not split it.
    expect(shape(planReads(items, {}, { avoid: [{ table: 'holding', address: 3, count: 0 }] }))).toEqual(['holding 0+6']);
  });

  it('splits a request in two halves that do not overlap, near the middle', () => {
    const [request] = planReads([item('a', 10, 2), item('b', 14, 2), item('c', 16, 1), item('d', 20, 4)], { maxGap: 4 });
    expect(splitRequest(request!)).toEqual([
      {
        table: 'holding',
        address: 10,
        count: 6,
        items: [
          { key: 'a', offset: 0, count: 2 },
          { key: 'b', offset: 4, count: 2 },
        ],
      },
      {
        table: 'holding',
        address: 16,
        count: 8,
        items: [
          { key: 'c', offset: 0, count: 1 },
          { key: 'd', offset: 4, count: 4 },
        ],
      },
    ]);
    // Overlapping items stay together; items that all overlap cannot be split, nor can one item.
    const [overlapping] = planReads([item('whole', 0, 4), item('low', 2, 2), item('next', 4, 1)]);
    expect(splitRequest(overlapping!)?.map((r) => r.items.map((i) => i.key))).toEqual([['whole', 'low'], ['next']]);
    const [chain] = planReads([item('whole', 0, 4), item('low', 2, 2)]);
    expect(splitRequest(chain!)).toBeUndefined();
    expect(splitRequest(planReads([item('one', 0, 2)])[0]!)).toBeUndefined();
  });

  it('replans a request around avoided ranges, and leaves one that avoids them as it was', () => {
    const request: ReadRequest = planReads([item('a', 0), item('b', 4), item('c', 12), item('d', 16)], { maxRegisters: 20, maxGap: 8 })[0]!;
    expect(replanRequest(request, [])).toEqual([request]);
    expect(shape(replanRequest(request, [{ table: 'holding', address: 8, count: 1 }]))).toEqual(['holding 0+5', 'holding 12+5']);
    expect(replanRequest(request, [{ table: 'coil', address: 8, count: 1 }])).toEqual([request]);
  });

  it('refuses an item larger than one request, or outside the address space', () => {
    expect(() => planReads([item('big', 0, 126)])).toThrow('item big: 126 registers exceed the request limit of 125');
    expect(() => planReads([item('end', 65535, 2)])).toThrow('is outside 0..65535');
    expect(() => planReads([item('a', 0)], { maxRegisters: 126 })).toThrow('maxRegisters must be an integer from 1 to 125, got 126');
  });
});
