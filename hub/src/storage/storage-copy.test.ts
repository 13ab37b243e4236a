import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch } from '@citypilot/sdk';
import { createTestDatabase } from '../testing/index.js';
import { Storage } from './storage.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function batch(seq: number, samples: Batch['samples'], gateway = 'library'): Batch {
  return { v: BATCH_VERSION, gateway, seq, createdAt: Date.now(), samples };
}

/** Large writes go through COPY and a staging table: the same results as the INSERT path. */
describe('Storage writes through COPY', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'storage_copy');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    storage.copyMinRows = 1; // every write takes the COPY path
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('stores every kind of value, with text that COPY must escape, exactly as given', async () => {
    const t = Date.UTC(2026, 1, 1, 8, 0, 0);
    const awkward = 'tab\there, newline\nthere, back\\slash, \\N, cr\r, é — 日本';
    const result = await storage.writeBatches([
      batch(1, [
        { point: 'plc.energy', time: t, value: 1234.5678901234, quality: 'good' },
        { point: 'plc.tiny', time: t, value: 1e-300, quality: 'good' },
        { point: 'plc.flag', time: t, value: false, quality: 'uncertain', reason: awkward },
        { point: 'plc.label', time: t, value: awkward, quality: 'good' },
        { point: 'plc.empty', time: t, value: '', quality: 'good' },
        { point: 'plc.none', time: t, value: null, quality: 'stale' },
      ]),
    ]);
    expect(result).toEqual({ inserted: 6, duplicates: 0 });
    const { rows } = await storage.pool.query(
      `SELECT p.point_key AS k, s.time, s.value, s.text_value AS x, s.quality::text AS q, s.reason AS r
         FROM samples s JOIN points p ON p.id = s.point_id ORDER BY p.point_key`,
    );
    const at = new Date(t);
    expect(rows).toEqual([
      { k: 'plc.empty', time: at, value: null, x: '', q: 'good', r: null },
      { k: 'plc.energy', time: at, value: 1234.5678901234, x: null, q: 'good', r: null },
      { k: 'plc.flag', time: at, value: 0, x: null, q: 'uncertain', r: awkward },
      { k: 'plc.label', time: at, value: null, x: awkward, q: 'good', r: null },
      { k: 'plc.none', time: at, value: null, x: null, q: 'stale', r: null },
      { k: 'plc.tiny', time: at, value: 1e-300, x: null, q: 'good', r: null },
    ]);
    const latest = (await storage.points()).find((p) => p.id === 'plc.label');
    expect(latest).toMatchObject({ lastValue: awkward, lastQuality: 'good' });
  });

  it('stores redelivered and overlapping samples once, within one write and across writes', async () => {
    const t = Date.UTC(2026, 1, 2);
    const samples = Array.from({ length: 3000 }, (_, i) => ({
      point: `plc.p${i % 30}`,
      time: t + Math.floor(i / 30) * 60_000,
      value: i,
      quality: 'good' as const,
    }));
    const a = batch(2, samples.slice(0, 2000));
    const b = batch(3, samples.slice(1000));
    // b overlaps a by 1,000 samples inside the same transaction.
    expect(await storage.writeBatches([a, b])).toEqual({ inserted: 3000, duplicates: 1000 });
    expect(await storage.writeBatches([a])).toEqual({ inserted: 0, duplicates: 2000 });
    const { rows } = await storage.pool.query(`SELECT count(*)::int AS n FROM samples WHERE time >= to_timestamp($1 / 1000.0)`, [t]);
    expect(rows[0].n).toBe(3000);
    // The staging table is emptied at commit: nothing leaks into the next write.
    expect(await storage.writeBatches([batch(4, [{ point: 'plc.p0', time: t - 1, value: 1, quality: 'good' }])])).toEqual({ inserted: 1, duplicates: 0 });
  });

  it('writes nothing when the COPY fails, and the next write works', async () => {
    const before = (await storage.pool.query('SELECT count(*)::int AS n FROM samples')).rows[0].n;
    const broken = batch(5, [
      { point: 'plc.energy', time: Date.UTC(2026, 1, 3), value: 1, quality: 'good' },
      { point: 'plc.never-stored', time: 8.64e18, value: 1, quality: 'good' },
    ]);
    await expect(storage.writeBatches([broken])).rejects.toThrow();
    // A value PostgreSQL refuses inside the COPY itself (a NUL character) fails the same way.
    await expect(storage.writeBatches([batch(6, [{ point: 'plc.label', time: Date.UTC(2026, 1, 3), value: 'a\u0000b', quality: 'good' }])])).rejects.toThrow();
    expect((await storage.pool.query('SELECT count(*)::int AS n FROM samples')).rows[0].n).toBe(before);
    expect((await storage.points()).some((p) => p.id === 'plc.never-stored')).toBe(false);
    for (let i = 0; i < 6; i++) {
      // More writes than pooled connections: every connection is usable after the failures.
      expect(await storage.writeBatches([batch(7 + i, [{ point: 'plc.energy', time: Date.UTC(2026, 1, 4) + i, value: i, quality: 'good' }])])).toEqual({
        inserted: 1,
        duplicates: 0,
      });
    }
  });

  it('lets concurrent writers that share gateways finish without deadlock', async () => {
    const t = Date.UTC(2026, 1, 5);
    const gateways = ['gw-a', 'gw-b', 'gw-c', 'gw-d'];
    const make = (seq: number, order: string[]) =>
      order.map((g) =>
        batch(
          seq,
          Array.from({ length: 200 }, (_, i) => ({
            point: `plc.p${i % 20}`,
            time: t + seq * 3_600_000 + Math.floor(i / 20) * 1000,
            value: i,
            quality: 'good' as const,
          })),
          g,
        ),
      );
    await storage.writeBatches(make(1, gateways)); // registers the points
    const writes = Array.from({ length: 8 }, (_, i) => storage.writeBatches(make(2 + i, i % 2 ? [...gateways].reverse() : gateways)));
    const results = await Promise.all(writes);
    expect(results.every((r) => r.inserted === 800 && r.duplicates === 0)).toBe(true);
  });

  it('stores the samples of concurrent writers that all name the same new points', async () => {
    // Each writer finds the points unknown; whichever commits first registers them, and the
    // others must then take their ids, whether from the database or from the first's commit.
    const t = Date.UTC(2026, 1, 6);
    const make = (seq: number) =>
      ['gw-new-a', 'gw-new-b'].map((g) =>
        batch(
          seq,
          Array.from({ length: 100 }, (_, i) => ({ point: `plc.n${i % 25}`, time: t + seq * 60_000 + (i % 4) * 1000, value: i, quality: 'good' as const })),
          g,
        ),
      );
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => storage.writeBatches(make(i + 1))));
    expect(results.map((r) => r.inserted)).toEqual(Array(8).fill(200));
    const { rows } = await storage.pool.query(`SELECT gateway_id, count(*)::int AS n FROM points WHERE gateway_id LIKE 'gw-new-%' GROUP BY 1 ORDER BY 1`);
    expect(rows).toEqual([
      { gateway_id: 'gw-new-a', n: 25 },
      { gateway_id: 'gw-new-b', n: 25 },
    ]);
  });
});
