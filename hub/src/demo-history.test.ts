import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './testing/index.js';
import { Storage } from './storage/storage.js';
import { backfillDemoHistory } from './demo-history.js';

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
    expect(await backfillDemoHistory(storage, Date.UTC(2026, 11, 7, 1))).toBe(true);
    const { rows } = await storage.pool.query<{ point: string; first: number; min: number; backwards: number }>(
      `SELECT p.gateway_id || '/' || p.point_key AS point, min(s.value) AS min, count(*) FILTER (WHERE s.step < 0)::int AS backwards,
              (array_agg(s.value ORDER BY s.time))[1] AS first
         FROM (SELECT point_id, time, value, value - lag(value) OVER (PARTITION BY point_id ORDER BY time) AS step FROM samples) s
         JOIN points p ON p.id = s.point_id
        WHERE 'meter' = ANY (p.tags) AND ('energy' = ANY (p.tags) OR 'volume' = ANY (p.tags))
        GROUP BY 1 ORDER BY 1`,
    );
    // Two meters in each building: electricity, and district heating or gas.
    expect(rows.map((r) => r.point)).toHaveLength(4);
    for (const r of rows) {
      expect(r.min, r.point).toBeGreaterThanOrEqual(0);
      expect(r.backwards, r.point).toBe(0);
    }
  });
});
