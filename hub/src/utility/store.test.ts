import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, storageEngines } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { addDays, dayStart } from './local-time.js';
import type { ConsumptionReading } from './readings.js';
import { cumulate, utilityGatewayId, UtilityStore, type DeliveryPoint } from './store.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';
const titles = { postgresql: 'Utility readings on plain PostgreSQL', timescaledb: 'Utility readings on TimescaleDB' };
const engines = (await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'))).map((e) => ({
  ...e,
  title: e.skip ? `${titles[e.mode]} (skipped: ${e.skip})` : titles[e.mode],
}));

/** Daily readings of `days` from `first`, `kWh(i)` on the i-th. */
function daily(first: string, days: number, kWh: (i: number) => number): ConsumptionReading[] {
  return Array.from({ length: days }, (_, i) => {
    const day = addDays(first, i);
    return { start: dayStart(day, TZ), end: dayStart(addDays(day, 1), TZ), kWh: kWh(i), quality: 'good' as const };
  });
}

describe('cumulate', () => {
  it('makes an index from consecutive periods, and says where a period was not given', () => {
    const D = 86_400_000;
    const periods = [
      { start: 0, end: D, value: 5, quality: 'good' as const },
      { start: D, end: 2 * D, value: 7, quality: 'good' as const },
      { start: 4 * D, end: 5 * D, value: 1, quality: 'good' as const },
    ];
    expect(cumulate(periods, 'kWh')).toEqual([
      { time: 0, value: 0, quality: 'good' },
      { time: D, value: 5, quality: 'good' },
      { time: 2 * D, value: 12, quality: 'good' },
      { time: 5 * D, value: 13, quality: 'uncertain', reason: '2 days before this reading not given by the utility yet: counted as 0 kWh' },
    ]);
  });
});

for (const engine of engines) {
  describe.skipIf(engine.skip !== undefined)(engine.title, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let storage: Storage;
    let store: UtilityStore;
    let run = 0;
    const school: DeliveryPoint = { utility: 'enedis', id: '12345678901234', energy: 'elec', building: 'school' };

    async function series(point: string): Promise<[string, number, string][]> {
      const { rows } = await storage.pool.query(
        `SELECT s.time, s.value, s.quality::text FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = $2 ORDER BY s.time`,
        [utilityGatewayId(school), point],
      );
      return rows.map((r) => [r.time.toISOString(), r.value, r.quality]);
    }

    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `utility_store_${engine.mode}`);
      storage = await Storage.open({ databaseUrl: db.url, logger, timescale: engine.mode === 'postgresql' ? 'off' : 'auto' });
      store = new UtilityStore(storage);
      const { rows } = await storage.pool.query(`INSERT INTO utility_runs (via, submitted_by) VALUES ('api', 'test') RETURNING id`);
      run = Number(rows[0].id);
    });
    afterAll(async () => {
      await storage?.close();
      await db?.drop();
    });

    it('registers a delivery point as a source of its building, with meter tags objectives read', async () => {
      await store.register(school);
      const { rows } = await storage.pool.query(
        `SELECT p.point_key, p.unit, p.tags, g.building_key FROM points p JOIN gateways g ON g.id = p.gateway_id WHERE g.id = $1 ORDER BY 1`,
        [utilityGatewayId(school)],
      );
      expect(rows).toEqual([
        { point_key: 'consumption', unit: 'kWh', tags: ['elec', 'consumption', 'utility', 'enedis'], building_key: 'school' },
        { point_key: 'meter', unit: 'kWh', tags: ['elec', 'meter', 'energy', 'utility', 'enedis'], building_key: 'school' },
        { point_key: 'power', unit: 'kW', tags: ['elec', 'power', 'loadCurve', 'utility', 'enedis'], building_key: 'school' },
      ]);
    });

    it('stores each reading once, replaces a corrected one keeping the previous version, and keeps the index right', async () => {
      // October 2026 has its 25-hour day on the 25th.
      const first = await store.writeConsumption(
        school,
        daily('2026-10-24', 3, (i) => 100 + i),
        run,
      );
      expect(first).toEqual({ readings: 3, inserted: 3, corrected: 0, unchanged: 0 });
      const again = await store.writeConsumption(
        school,
        daily('2026-10-24', 3, (i) => 100 + i),
        run,
      );
      expect(again).toEqual({ readings: 3, inserted: 0, corrected: 0, unchanged: 3 });
      expect(await series('meter')).toEqual([
        ['2026-10-23T22:00:00.000Z', 0, 'good'],
        ['2026-10-24T22:00:00.000Z', 100, 'good'],
        ['2026-10-25T23:00:00.000Z', 201, 'good'],
        ['2026-10-26T23:00:00.000Z', 303, 'good'],
      ]);

      const corrected = await store.writeConsumption(
        school,
        daily('2026-10-24', 3, (i) => (i === 1 ? 150 : 100 + i)),
        run,
      );
      expect(corrected).toEqual({ readings: 3, inserted: 0, corrected: 1, unchanged: 2 });
      expect((await series('consumption')).map(([, v]) => v)).toEqual([100, 150, 102]);
      const history = await storage.pool.query(
        `SELECT time, value, replaced_by FROM sample_history h JOIN points p ON p.id = h.point_id WHERE p.point_key = 'consumption'`,
      );
      expect(history.rows).toEqual([{ time: new Date('2026-10-24T22:00:00.000Z'), value: 101, replaced_by: String(run) }]);
      expect((await series('meter')).map(([, v]) => v)).toEqual([0, 100, 250, 352]);

      // The daily rollup follows the correction on both engines.
      await storage.rollups.settle();
      const days = await storage.rollups.series({
        points: [{ gateway: utilityGatewayId(school), point: 'consumption' }],
        from: dayStart('2026-10-24', TZ),
        to: dayStart('2026-10-27', TZ),
        step: 'day',
      });
      expect(days.map((d) => d.sum)).toEqual([100, 150, 102]);
    });

    it('stores a load curve long enough to go in with COPY at the times it was given', async () => {
      const start = Date.UTC(2026, 2, 27, 23, 30);
      const readings = Array.from({ length: 700 }, (_, i) => ({
        start: start + i * 1_800_000,
        end: start + (i + 1) * 1_800_000,
        kW: 10 + (i % 48) / 8,
        quality: 'good' as const,
      }));
      expect(await store.writePower(school, readings, run, { bulk: true })).toEqual({ readings: 700, inserted: 700, corrected: 0, unchanged: 0 });
      const stored = await series('power');
      expect(stored.map(([t]) => t)).toEqual(readings.map((r) => new Date(r.start).toISOString()));
      expect(stored.map(([, v]) => v)).toEqual(readings.map((r) => r.kW));
      // The rollups were queued with the bulk write; the query rebuilds them first: the day of
      // 29 March (23 hours) holds its 46 steps.
      const [day] = await storage.rollups.series({
        points: [{ gateway: utilityGatewayId(school), point: 'power' }],
        from: dayStart('2026-03-29', TZ),
        to: dayStart('2026-03-30', TZ),
        step: 'day',
      });
      expect(day!.count).toBe(46);
    });

    it('counts a day the utility has not given as 0, uncertain, until it comes', async () => {
      await store.writeConsumption(
        school,
        daily('2026-10-28', 1, () => 90),
        run,
      );
      const withGap = await series('meter');
      expect(withGap.at(-1)).toEqual(['2026-10-28T23:00:00.000Z', 442, 'uncertain']);
      await store.writeConsumption(
        school,
        daily('2026-10-27', 1, () => 80),
        run,
      );
      expect((await series('meter')).slice(-2)).toEqual([
        ['2026-10-27T23:00:00.000Z', 432, 'good'],
        ['2026-10-28T23:00:00.000Z', 522, 'good'],
      ]);
    });
  });
}
