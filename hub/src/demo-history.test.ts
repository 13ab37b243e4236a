import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './testing/index.js';
import { Storage } from './storage/storage.js';
import { backfillDemoHistory } from './demo-history.js';
import { testDemoCity } from './testing/demo-data.js';
import { completeness } from './storage/completeness.js';
import { localMidnight } from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('the demo history', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'demo_history');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('has no negative meter reading from 2019 on, and meters that never run backwards', async () => {
    // Before: the school's electricity meter read −369,814.69 kWh on 1 January 2019 and the town
    // hall's heat meter −789,445.53 kWh (consumption since 2019 counted back from start values
    // smaller than it).
    const started = performance.now();
    expect(await backfillDemoHistory(storage, testDemoCity(), Date.UTC(2026, 11, 7, 1))).toBe(true);
    console.log(`demo history written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const { rows } = await storage.pool.query<{ point: string; first: number; min: number; backwards: number }>(
      `SELECT p.gateway_id || '/' || p.point_key AS point, min(s.value) AS min, count(*) FILTER (WHERE s.step < 0)::int AS backwards,
              (array_agg(s.value ORDER BY s.time))[1] AS first
         FROM (SELECT point_id, time, value, value - lag(value) OVER (PARTITION BY point_id ORDER BY time) AS step FROM samples) s
         JOIN points p ON p.id = s.point_id
        WHERE 'meter' = ANY (p.tags) AND ('energy' = ANY (p.tags) OR 'volume' = ANY (p.tags))
        GROUP BY 1 ORDER BY 1`,
    );
    // Two meters in each building: electricity, and district heating or gas (the plant's sub-meters have no history).
    expect(rows.map((r) => r.point)).toHaveLength(4);
    for (const r of rows) {
      expect(r.min, r.point).toBeGreaterThanOrEqual(0);
      expect(r.backwards, r.point).toBe(0);
    }
  });

  it('is complete for the last 31 days at the interval its points announce, as live days are', async () => {
    // Before: hourly history for points announcing 5 s polling, and none of the power, the indoor
    // temperature and the plant (OPC UA, BACnet): yesterday's completeness was 0.14 % per meter,
    // 0 for the others.
    const timezone = storage.rollups.timezone;
    const today = localMidnight(timezone, 2026, 11, 7);
    const days = await completeness(storage.pool, { by: 'point', step: 'day', from: new Date(today - 31 * 86_400_000), to: new Date(today), timezone });
    // Every Modbus point of both buildings (five each) and every point of their plant but its two
    // sub-meters, every day.
    const plant = testDemoCity().plant.flatMap((d) => d.points.map((p) => `${d.building}/${d.device}.${p.id}`));
    const points = [...new Set(days.map((d) => d.key))];
    expect(points).toHaveLength(10 + plant.length);
    expect(plant.filter((p) => !points.includes(p))).toEqual([]);
    const submeters = new Set(['town-hall/bms.main-energy', 'town-hall/bms.main-water-volume', 'school/hvac.main-meter-energy']);
    for (const d of days) if (!submeters.has(d.key)) expect(d.ratio, `${d.key} ${d.bucket}`).toBeGreaterThan(0.99);
    const yesterday = await completeness(storage.pool, { by: 'building', step: 'day', from: new Date(today - 86_400_000), to: new Date(today), timezone });
    // The plant's meters (sub-meters and a water meter, no history) aside.
    expect(yesterday.map((d) => d.key)).toEqual(['school', 'town-hall']);
    for (const d of yesterday) expect(d.ratio, d.key).toBeGreaterThan(0.9);
  });
});
