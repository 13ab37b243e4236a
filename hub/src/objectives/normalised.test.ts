import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Sample } from '@citypilot/sdk';
import { createTestDatabase, objectiveDefinition } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { parseFormula } from './formula.js';
import { loadObjectiveData } from './data.js';
import { describeStatus, evaluateObjective, statusBasisOf } from './engine.js';
import { checkObjective } from './model.js';
import { Objectives } from './objectives.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const DAY = 86_400_000;
/** Outdoor daily mean (°C) of each calendar month, January first. */
const MONTH_TEMPERATURE = [5, 6, 9, 12, 15, 16, 20, 20, 17, 13, 8, 5];
/** The building: 100 kWh a day of base load and 20 kWh per heating degree-day (base 18 °C). */
const dailyEnergy = (t: number) => 100 + 20 * Math.max(0, 18 - MONTH_TEMPERATURE[new Date(t).getUTCMonth()]!);

describe('climate normalisation and status basis on real data', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let objectives: Objectives;
  // The city's time zone is UTC here: months of whole days without a DST change, so that daily
  // readings at noon make each month's advance exactly its days' energy (the DST months'
  // calendar is tested with the calendar).
  const timezone = 'UTC';
  // 15 December 2026, 00:00: 14 whole days of December have gone by.
  const now = new Date(Date.UTC(2026, 11, 15));

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'normalised');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off', timezone });
    objectives = new Objectives({ pool: storage.pool, timezone });
    await storage.pool.query(`
      INSERT INTO organisations (key, name) VALUES ('city', 'City');
      INSERT INTO sites (organisation_id, key, name) SELECT id, 'centre', 'Centre' FROM organisations;
      INSERT INTO buildings (site_id, key, name, usage, area_m2) SELECT id, 'hall', 'Hall', 'town-hall', 1000 FROM sites;
    `);
    // One day at a time from 29 June 2025 to 14 December 2026 (June 2025 has only one meter
    // reading: it is not a month of the baseline): the meter advances
    // by the day's energy, the outdoor sensor reads the month's temperature (the day's mean).
    const samples: Sample[] = [];
    let meter = 0;
    // The meter is read at the end of each day (midnight, the boundary periods are cut at), so
    // that a month's advance is its own days' energy exactly.
    for (let t = Date.UTC(2025, 5, 29, 12); t < now.getTime(); t += DAY) {
      meter += dailyEnergy(t);
      samples.push(
        { point: 'm.elec', time: t + DAY / 2, value: meter, quality: 'good' },
        { point: 'm.out', time: t, value: MONTH_TEMPERATURE[new Date(t).getUTCMonth()]!, quality: 'good' },
      );
    }
    await storage.writeBatches([
      {
        v: BATCH_VERSION,
        gateway: 'gw-hall',
        seq: 1,
        createdAt: Date.now(),
        building: 'hall',
        points: [
          { id: 'm.elec', name: 'elec', unit: 'kWh', kind: 'number', tags: ['elec', 'meter', 'energy'], source: { plugin: 'test', device: 'd', address: 0 } },
          {
            id: 'm.out',
            name: 'out',
            unit: '°C',
            kind: 'number',
            tags: ['air', 'temp', 'outside', 'sensor'],
            source: { plugin: 'test', device: 'd', address: 1 },
          },
        ],
        samples,
      },
    ]);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('gives a summer month the value of a winter month when the building did not change', async () => {
    await objectives.define(
      objectiveDefinition({
        key: 'normalised',
        formula: 'normalised("elec meter energy", 18, 2500) / area',
        unit: 'kWh/m²',
        target: { kind: 'value', value: 90 },
      }),
      'test',
    );
    await objectives.define(objectiveDefinition({ key: 'per-dd', formula: 'delta("elec meter energy") / area / hdd(18)', unit: 'kWh/m²/DJU' }), 'test');
    await objectives.evaluate({ fromMonth: '2026-01', now, keys: ['normalised', 'per-dd'] });
    const { rows } = await storage.pool.query<{ key: string; period: string; value: number }>(
      `SELECT o.key, r.period, r.value FROM objective_results r JOIN objectives o ON o.id = r.objective_id
        WHERE r.scope = 'building:hall' AND r.period IN ('2026-01', '2026-06') ORDER BY o.key, r.period`,
    );
    const value = (key: string, period: string) => rows.find((r) => r.key === key && r.period === period)!.value;
    // The baseline of the 12 months to each is exact: 100 kWh a day and 20 kWh per degree-day.
    // A year at 2,500 degree-days: (100 × 365 + 20 × 2,500) / 1,000 m² = 86.5 kWh/m², from
    // January (31 days at 5 °C: 11,160 kWh, 403 DJU) as from June (30 days at 16 °C: 4,200 kWh, 60 DJU).
    expect(value('normalised', '2026-01')).toBeCloseTo(86.5, 9);
    expect(value('normalised', '2026-06')).toBeCloseTo(86.5, 9);
    // The whole consumption divided by degree-days makes June 2.5 times January.
    expect(value('per-dd', '2026-01')).toBeCloseTo(11_160 / 1000 / 403, 12);
    expect(value('per-dd', '2026-06')).toBeCloseTo(4200 / 1000 / 60, 12);
  });

  it('says whether each status judges the value or the forecast', async () => {
    const { definition, formula } = checkObjective(
      objectiveDefinition({
        key: 'normalised',
        formula: 'normalised("elec meter energy", 18, 2500) / area',
        period: 'month',
        target: { kind: 'value', value: 90 },
      }),
    );
    const data = await loadObjectiveData(storage.pool, timezone, {
      firstMonth: '2025-01',
      lastMonth: '2026-12',
      tagSets: formula.dependencies.points.map((p) => p.tags),
      serviceMetrics: [],
      degreeDayBases: [18],
    });
    const results = evaluateObjective(definition, formula, data, { firstPeriodMonth: '2026-11', now });
    // November is over: its value. December so far (14 days: 5,040 kWh, 182 DJU) and its
    // forecast (the month at that pace: 11,160 kWh, 403 DJU) both make 86.5; the status is the forecast's.
    expect(results.map((r) => [r.period, r.complete, r.statusBasis, r.status])).toEqual([
      ['2026-11', true, 'value', 'green'],
      ['2026-12', false, 'forecast', 'green'],
    ]);
    expect(results[1]!.value).toBeCloseTo(86.5, 9);
    expect(results[1]!.forecast).toBeCloseTo(86.5, 9);
    // Without enough history for a baseline (fewer than 6 months), no value.
    const short = await loadObjectiveData(storage.pool, timezone, {
      firstMonth: '2026-10',
      lastMonth: '2026-12',
      tagSets: [['elec', 'meter', 'energy']],
      serviceMetrics: [],
      degreeDayBases: [18],
    });
    expect(evaluateObjective(definition, parseFormula(definition.formula), short, { firstPeriodMonth: '2026-11', now }).map((r) => r.value)).toEqual([
      null,
      null,
    ]);
  });
});

describe('status in words, with its basis', () => {
  const down = { direction: 'down' as const, tolerance: 0.1 };
  const over = { complete: true, forecast: null };
  const inProgress = (value: number, forecast: number | null) => ({ complete: false, value, forecast, target: 100 });

  it('says a period over met or missed its target', () => {
    expect(describeStatus({ ...over, status: 'green', value: 90, target: 100 }, down)).toBe('target met');
    expect(describeStatus({ ...over, status: 'amber', value: 105, target: 100 }, down)).toBe('within tolerance of the target');
    expect(describeStatus({ ...over, status: 'red', value: 130, target: 100 }, down)).toBe('target missed');
    expect(describeStatus({ ...over, status: 'unknown', value: null, target: 100 }, down)).toBe('no value');
    expect(describeStatus({ ...over, status: 'unknown', value: 90, target: null }, down)).toBe('no target');
    expect(statusBasisOf(over)).toBe('value');
  });

  it('says a period in progress is on track by its forecast, and how the value so far stands when it differs', () => {
    // The school's 2026 decree: 86,830 kWh so far against a target of 82,841, forecast below it.
    expect(describeStatus({ ...inProgress(86_830, 80_000), status: 'green', target: 82_841 }, down)).toBe('on track; so far above target');
    expect(describeStatus({ ...inProgress(90, 95), status: 'green' }, down)).toBe('on track');
    expect(describeStatus({ ...inProgress(90, 105), status: 'amber' }, down)).toBe('near target; so far within target');
    expect(describeStatus({ ...inProgress(105, 130), status: 'red' }, down)).toBe('off track');
    expect(describeStatus({ ...inProgress(120, 80), status: 'red' }, { direction: 'up', tolerance: 0.1 })).toBe('off track; so far within target');
    expect(describeStatus({ ...inProgress(80, 120), status: 'green' }, { direction: 'up', tolerance: 0.1 })).toBe('on track; so far below target');
    expect(describeStatus({ ...inProgress(80, 120), status: 'green', target: null }, down)).toBe('no value so far');
    expect(statusBasisOf(inProgress(90, 95))).toBe('forecast');
  });

  it('says "so far" when a period in progress has no forecast', () => {
    expect(describeStatus({ ...inProgress(130, null), status: 'red' }, down)).toBe('so far above target');
    expect(describeStatus({ ...inProgress(90, null), status: 'green' }, down)).toBe('so far within target');
    expect(statusBasisOf(inProgress(90, null))).toBe('value');
  });
});
