import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch } from '@citypilot/sdk';
import { createTestDatabase } from '../testing/index.js';
import { Storage } from './storage.js';

const logs: string[] = [];
const logger = {
  debug() {},
  info: (_o: object, m?: string) => void logs.push(m ?? ''),
  warn: (_o: object, m?: string) => void logs.push(m ?? ''),
  error: (_o: object, m?: string) => void logs.push(m ?? ''),
};

function batch(seq: number, samples: Batch['samples'], points?: Batch['points']): Batch {
  return { v: BATCH_VERSION, gateway: 'school', seq, createdAt: Date.now(), samples, ...(points ? { points } : {}) };
}

describe('Storage on a real PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'storage');
    storage = await Storage.open({ databaseUrl: db.url, logger });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('says which storage it uses, and why when it is not TimescaleDB', () => {
    const line = logs.find((l) => l.startsWith('storage: '));
    expect(line).toBeDefined();
    if (storage.mode === 'postgresql') expect(line).toMatch(/^storage: plain PostgreSQL \(TimescaleDB not used: .+\)$/);
    else expect(line).toMatch(/^storage: TimescaleDB \(TimescaleDB \d/);
  });

  it('registers announced points and stores samples with their quality', async () => {
    const t = Date.UTC(2026, 0, 15, 10, 0, 0);
    const result = await storage.writeBatches([
      batch(
        1,
        [
          { point: 'meters.energy', time: t, value: 1234.5, quality: 'good' },
          { point: 'meters.door-open', time: t, value: true, quality: 'good' },
          { point: 'meters.serial', time: t, value: 'SN-42', quality: 'good' },
          { point: 'meters.temp', time: t, value: null, quality: 'bad', reason: 'timeout after 2000 ms' },
        ],
        [
          {
            id: 'meters.energy',
            name: 'Energy',
            unit: 'kWh',
            kind: 'number',
            tags: ['elec', 'meter', 'energy'],
            source: { plugin: 'modbus', device: 'meters', address: { table: 'holding', address: 0 } },
            intervalMs: 5000,
          },
          { id: 'meters.door-open', name: 'Door', kind: 'boolean', tags: [], source: { plugin: 'modbus', device: 'meters', address: 1 } },
          { id: 'meters.serial', name: 'Serial', kind: 'string', tags: [], source: { plugin: 'modbus', device: 'meters', address: 2 } },
        ],
      ),
    ]);
    expect(result).toEqual({ inserted: 4, duplicates: 0 });
    const points = await storage.points();
    expect(points.map((p) => [p.id, p.name, p.unit, p.lastValue, p.lastQuality])).toEqual([
      ['meters.door-open', 'Door', null, true, 'good'],
      ['meters.energy', 'Energy', 'kWh', 1234.5, 'good'],
      ['meters.serial', 'Serial', null, 'SN-42', 'good'],
      // Never announced: registered from its samples, named after its id.
      ['meters.temp', 'meters.temp', null, null, 'bad'],
    ]);
    const { rows } = await storage.pool.query(`SELECT reason FROM samples s JOIN points p ON p.id = s.point_id WHERE p.point_key = 'meters.temp'`);
    expect(rows).toEqual([{ reason: 'timeout after 2000 ms' }]);
  });

  it('stores a batch delivered twice, or overlapping another, exactly once', async () => {
    const t = Date.UTC(2026, 0, 15, 11, 0, 0);
    const b = batch(2, [
      { point: 'meters.energy', time: t, value: 1300, quality: 'good' },
      { point: 'meters.energy', time: t + 5000, value: 1301, quality: 'good' },
    ]);
    expect(await storage.writeBatches([b])).toEqual({ inserted: 2, duplicates: 0 });
    expect(await storage.writeBatches([b])).toEqual({ inserted: 0, duplicates: 2 });
    // Same samples again plus a new one, under another sequence number (a gateway that resent).
    const again = batch(3, [...b.samples, { point: 'meters.energy', time: t + 10_000, value: 1302, quality: 'good' }]);
    expect(await storage.writeBatches([again])).toEqual({ inserted: 1, duplicates: 2 });
    const { rows } = await storage.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT time)::int AS d FROM samples s JOIN points p ON p.id = s.point_id
        WHERE p.point_key = 'meters.energy' AND time >= to_timestamp($1 / 1000.0)`,
      [t],
    );
    expect(rows[0]).toEqual({ n: 3, d: 3 });
    const gateways = await storage.gateways();
    expect(gateways).toMatchObject([{ id: 'school', lastSeq: 3, points: 4 }]);
  });

  it('keeps the newest value as the last value when an older sample arrives late', async () => {
    const t = Date.UTC(2026, 0, 15, 12, 0, 0);
    await storage.writeBatches([batch(4, [{ point: 'meters.energy', time: t, value: 2000, quality: 'good' }])]);
    await storage.writeBatches([batch(5, [{ point: 'meters.energy', time: t - 60_000, value: 1990, quality: 'good' }])]);
    const energy = (await storage.points()).find((p) => p.id === 'meters.energy');
    expect(energy).toMatchObject({ lastValue: 2000, lastTime: new Date(t).toISOString() });
  });

  it('writes nothing of a batch when any part of it fails', async () => {
    const before = await storage.pool.query('SELECT count(*)::int AS n FROM samples');
    const broken = batch(6, [
      { point: 'meters.energy', time: Date.UTC(2026, 0, 16), value: 1, quality: 'good' },
      // A time PostgreSQL cannot represent makes the insert fail after the points were touched.
      { point: 'meters.new-point', time: 8.64e18, value: 1, quality: 'good' },
    ]);
    await expect(storage.writeBatches([broken])).rejects.toThrow();
    const after = await storage.pool.query('SELECT count(*)::int AS n FROM samples');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect((await storage.points()).some((p) => p.id === 'meters.new-point')).toBe(false);
  });
});
