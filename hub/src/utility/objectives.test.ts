import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch } from '@citypilot/sdk';
import { createTestDatabase, objectiveDefinition } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { importCatalog, type Catalog } from '../storage/catalog.js';
import { Objectives } from '../objectives/objectives.js';
import { addDays, dayStart } from './local-time.js';
import type { ConsumptionReading } from './readings.js';
import { UtilityStore, type DeliveryPoint } from './store.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';

/**
 * A building fed only by its utility meter gives the objectives the same results as the same
 * consumption sent through a gateway; a building measured by both reads the one its objective names.
 */
describe('objectives over utility meters', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let objectives: Objectives;
  let store: UtilityStore;
  let run: number;
  const building = (id: string) => ({ id, name: id, usage: 'school' as const, area: 1000 });
  const catalog: Catalog = {
    organisation: { id: 'city', name: 'City' },
    sites: [{ id: 'north', name: 'North', buildings: [building('by-utility'), building('by-gateway'), building('by-both')] }],
  };
  // 14 months of days, a consumption that changes with the day so that any shift would show; a
  // spring and an autumn clock change inside.
  const first = '2025-01-01';
  const days = Array.from({ length: 424 }, (_, i) => addDays(first, i));
  const kWh = (i: number) => 200 + ((i * 37) % 90) + (i % 7 >= 5 ? -120 : 0);
  const readings: ConsumptionReading[] = days.map((day, i) => ({ start: dayStart(day, TZ), end: dayStart(addDays(day, 1), TZ), kWh: kWh(i), quality: 'good' }));

  /** The same consumption as a gateway's meter sends it: its index at each local midnight. */
  function gatewayBatch(gateway: string, building: string, scale: number): Batch {
    let index = 5000;
    const samples = [{ point: 'meter.energy', time: readings[0]!.start, value: index, quality: 'good' as const }];
    for (const r of readings) samples.push({ point: 'meter.energy', time: r.end, value: (index += r.kWh * scale), quality: 'good' });
    return {
      v: BATCH_VERSION,
      gateway,
      seq: 1,
      createdAt: Date.now(),
      building,
      points: [
        {
          id: 'meter.energy',
          name: 'Main meter',
          unit: 'kWh',
          kind: 'number',
          tags: ['elec', 'meter', 'energy'],
          source: { plugin: 'modbus', device: 'meter', address: 0 },
        },
      ],
      samples,
    };
  }

  async function values(key: string): Promise<Record<string, number | null>> {
    const { rows } = await storage.pool.query<{ scope: string; period: string; value: number | null }>(
      `SELECT r.scope, r.period, r.value FROM objective_results r JOIN objectives o ON o.id = r.objective_id WHERE o.key = $1 ORDER BY r.scope, r.period`,
      [key],
    );
    return Object.fromEntries(rows.map((r) => [`${r.scope} ${r.period}`, r.value]));
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'utility_objectives');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    objectives = new Objectives({ pool: storage.pool, timezone: TZ });
    store = new UtilityStore(storage);
    await importCatalog(storage.pool, catalog);
    const { rows } = await storage.pool.query(`INSERT INTO utility_runs (via, submitted_by) VALUES ('api', 'test') RETURNING id`);
    run = Number(rows[0].id);
    const linky = (id: string, b: string): DeliveryPoint => ({ utility: 'enedis', id, energy: 'elec', building: b });
    await store.writeConsumption(linky('11111111111111', 'by-utility'), readings, run);
    await storage.writeBatches([gatewayBatch('gw-gateway', 'by-gateway', 1)]);
    // Measured twice: the BMS's meter counts 10 % less than the utility's.
    await store.writeConsumption(linky('22222222222222', 'by-both'), readings, run);
    await storage.writeBatches([gatewayBatch('gw-both', 'by-both', 0.9)]);
    await objectives.define(objectiveDefinition({ key: 'elec', formula: 'delta("elec meter energy") / area' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'elec-utility', formula: 'delta("elec meter energy utility") / area' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'elec-bms', formula: 'delta("elec meter energy bms") / area', period: 'quarter' }), 'test');
    await objectives.evaluate({ fromMonth: '2025-01', now: new Date(Date.UTC(2026, 2, 15)) });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('gives a building fed by its utility meter the results of the same data sent through a gateway', async () => {
    const results = await values('elec');
    const months = days.filter((d) => d.endsWith('-01')).map((d) => d.slice(0, 7));
    expect(months).toHaveLength(14);
    for (const month of months) {
      const utility = results[`building:by-utility ${month}`];
      expect(utility, month).toBeTypeOf('number');
      expect(utility, month).toBeCloseTo(results[`building:by-gateway ${month}`]!, 9);
    }
    // January 2025, from the readings themselves: the sum of its 31 days over 1,000 m².
    const january = readings.slice(0, 31).reduce((n, r) => n + r.kWh, 0) / 1000;
    expect(results['building:by-utility 2025-01']).toBeCloseTo(january, 9);
  });

  it('knows nothing of the months before its first reading, rather than counting them as 0 kWh', async () => {
    await objectives.evaluate({ fromMonth: '2024-10', now: new Date(Date.UTC(2026, 2, 15)), keys: ['elec'] });
    const results = await values('elec');
    for (const month of ['2024-10', '2024-11']) expect(results[`building:by-utility ${month}`] ?? null, month).toBeNull();
    // December 2024 ends at the first reading (local midnight of 1 January 2025): its advance is unknown too.
    expect(results['building:by-utility 2024-12'] ?? null).toBeNull();
    expect(results['building:by-utility 2025-01']).toBeTypeOf('number');
  });

  it('reads the BMS of a building measured by both unless the objective names the utility', async () => {
    const january = readings.slice(0, 31).reduce((n, r) => n + r.kWh, 0) / 1000;
    expect((await values('elec'))['building:by-both 2025-01']).toBeCloseTo(january * 0.9, 9);
    expect((await values('elec-utility'))['building:by-both 2025-01']).toBeCloseTo(january, 9);
    expect((await values('elec-utility'))['building:by-utility 2025-01']).toBeCloseTo(january, 9);
    // The BMS alone: the building without one has no value.
    const bms = await values('elec-bms');
    expect(bms['building:by-gateway 2025-Q1']).toBeTypeOf('number');
    expect(bms['building:by-utility 2025-Q1'] ?? null).toBeNull();
  });
});
