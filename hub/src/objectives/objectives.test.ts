import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { createTestDatabase, localMidnight, objectiveDefinition } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { trajectoryChange } from './engine.js';
import { ObjectiveDefinitionError, type ObjectiveDefinition } from './model.js';
import { Objectives, type StatusChange } from './objectives.js';
import { importOutdoorTemperatures, WeatherFileError } from './weather.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;

/** An objective on buildings, monthly, that a test changes where it needs to. */
const objective = (overrides: Partial<ObjectiveDefinition>) => objectiveDefinition(overrides);

describe('objectives on real data', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let objectives: Objectives;
  const changes: StatusChange[] = [];
  let seq = 0;

  /** Samples of `gateway` (serving `building`), announcing points with the given tags. */
  async function write(gateway: string, building: string, points: Record<string, string[]>, samples: Sample[]): Promise<void> {
    const batch: Batch = {
      v: BATCH_VERSION,
      gateway,
      seq: ++seq,
      createdAt: Date.now(),
      building,
      points: Object.entries(points).map(([id, tags]) => ({
        id,
        name: id,
        unit: tags.includes('temp') ? '°C' : 'kWh',
        kind: 'number' as const,
        tags,
        source: { plugin: 'test', device: 'd', address: 0 },
      })),
      samples,
    };
    await storage.writeBatches([batch]);
  }

  function hourly(point: string, from: number, to: number, value: (t: number) => number): Sample[] {
    const out: Sample[] = [];
    for (let t = from; t <= to; t += HOUR) out.push({ point, time: t, value: value(t), quality: 'good' });
    return out;
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'objectives');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    objectives = new Objectives({ pool: storage.pool, timezone: 'Europe/Paris', onStatusChanges: (c) => changes.push(...c) });
    await storage.pool.query(`
      INSERT INTO organisations (key, name) VALUES ('city', 'City');
      INSERT INTO sites (organisation_id, key, name) SELECT id, 'centre', 'Centre' FROM organisations;
      INSERT INTO sites (organisation_id, key, name) SELECT id, 'north', 'North' FROM organisations;
      INSERT INTO buildings (site_id, key, name, usage, area_m2, energy_reference_year)
        SELECT s.id, b.key, b.key, b.usage, b.area, b.ref FROM sites s JOIN (VALUES
          ('centre', 'hall', 'town-hall', 1000.0, 2020), ('centre', 'school', 'school', 2000.0, 2020), ('north', 'gym', 'gymnasium', 500.0, NULL)
        ) AS b(site, key, usage, area, ref) ON b.site = s.key;
    `);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('divides the energy of a DST month (745 hours) by area and degree-days, per building, site and city', async () => {
    // Local October 2026 runs from 2026-09-30T22:00Z to 2026-10-31T23:00Z: 745 hours.
    const from = Date.UTC(2026, 8, 30, 21); // 23:00 local on 30 September: September's last reading
    const to = Date.UTC(2026, 9, 31, 23); // midnight local on 1 November: the reading on October's end
    await write('gw-hall', 'hall', { 'm.elec': ['elec', 'meter', 'energy'], 'm.out': ['air', 'temp', 'outside', 'sensor'] }, [
      ...hourly('m.elec', from, to, (t) => 5000 + (10 * (t - from)) / HOUR),
      ...hourly('m.out', from + HOUR, to + HOUR, () => 8),
    ]);
    await write(
      'gw-school',
      'school',
      { 'm.elec': ['elec', 'meter', 'energy'] },
      hourly('m.elec', from, to, (t) => (20 * (t - from)) / HOUR),
    );
    await objectives.define(
      objective({ key: 'energy-intensity', formula: 'delta("elec meter energy") / area / hdd(18)', scope: { level: 'city' }, unit: 'kWh/m²/DJU' }),
      'test',
    );
    await objectives.define(objective({ key: 'hours', formula: 'hours', scope: { level: 'city' } }), 'test');
    const summary = await objectives.evaluate({ fromMonth: '2026-10', now: new Date(Date.UTC(2026, 10, 15)), keys: ['energy-intensity', 'hours'] });
    expect(summary.objectives).toBe(2);
    const { rows } = await storage.pool.query(
      `SELECT o.key, r.scope, r.value, r.complete FROM objective_results r JOIN objectives o ON o.id = r.objective_id
        WHERE r.period = '2026-10' ORDER BY o.key, r.scope`,
    );
    // Degree-days: 31 days at 8 °C, base 18: 310 (the school has no sensor: the city's mean).
    expect(rows).toEqual([
      { key: 'energy-intensity', scope: 'building:gym', value: null, complete: true },
      { key: 'energy-intensity', scope: 'building:hall', value: 7450 / 1000 / 310, complete: true },
      { key: 'energy-intensity', scope: 'building:school', value: 14900 / 2000 / 310, complete: true },
      { key: 'energy-intensity', scope: 'city', value: (7450 + 14900) / 3500 / 310, complete: true },
      { key: 'energy-intensity', scope: 'site:centre', value: (7450 + 14900) / 3000 / 310, complete: true },
      { key: 'energy-intensity', scope: 'site:north', value: null, complete: true },
      { key: 'hours', scope: 'building:gym', value: 745, complete: true },
      { key: 'hours', scope: 'building:hall', value: 745, complete: true },
      { key: 'hours', scope: 'building:school', value: 745, complete: true },
      { key: 'hours', scope: 'city', value: 745, complete: true },
      { key: 'hours', scope: 'site:centre', value: 745, complete: true },
      { key: 'hours', scope: 'site:north', value: 745, complete: true },
    ]);
  });

  it('follows the tertiary decree trajectory from the reference year, and forecasts the year in progress', async () => {
    // 2020 (reference year): 1,000 kWh a month; 2026: 700 kWh a month, read at local midnight
    // at the end of each month (and when reading starts again in 2024).
    const readings: Sample[] = [];
    let meter = 0;
    for (const year of [2019, 2020, 2024, 2025, 2026]) {
      if (year === 2019 || year === 2024) readings.push({ point: 'm.heat', time: localMidnight('Europe/Paris', year, 0), value: meter, quality: 'good' });
      // 2026: read until the end of June.
      for (let month = 0; month < (year === 2026 ? 6 : 12); month++) {
        meter += year <= 2020 ? 1000 : 700;
        readings.push({ point: 'm.heat', time: localMidnight('Europe/Paris', year, month + 1), value: meter, quality: 'good' });
      }
    }
    await write('gw-decree', 'school', { 'm.heat': ['heat', 'meter', 'energy'] }, readings);
    await objectives.define(
      objective({
        key: 'decree',
        formula: 'delta("heat meter energy")',
        period: 'year',
        target: {
          kind: 'trajectory',
          baseline: 'reference-year',
          steps: [
            { year: 2030, change: -0.4 },
            { year: 2040, change: -0.5 },
            { year: 2050, change: -0.6 },
          ],
        },
      }),
      'test',
    );
    // 1 July 2026: half of 2026 has gone by (181 of 365 days).
    const now = new Date(Date.UTC(2026, 6, 1, 12));
    await objectives.evaluate({ fromMonth: '2025-01', now, keys: ['decree'] });
    const { rows } = await storage.pool.query(
      `SELECT r.period, r.value, r.target, r.status, r.previous_value, r.last_year_value, r.forecast, r.complete
         FROM objective_results r JOIN objectives o ON o.id = r.objective_id WHERE o.key = 'decree' AND r.scope = 'building:school' ORDER BY r.period`,
    );
    // 2025: 5 years of a 10-year path to -40 %: -20 % of 2020's 12,000 kWh.
    expect(rows[0]).toMatchObject({ period: '2025', value: 8400, status: 'green', complete: true, forecast: null });
    expect(rows[0].target).toBeCloseTo(12000 * 0.8, 6);
    // 2026 so far: January to June read (6 × 700). The forecast adds July at its pace so far (no
    // reading yet: nothing) and August to December as they were in 2025 (5 × 700).
    expect(rows[1]).toMatchObject({
      period: '2026',
      value: 4200,
      previous_value: 8400,
      last_year_value: 8400,
      forecast: 7700,
      status: 'green',
      complete: false,
    });
    expect(rows[1].target).toBeCloseTo(12000 * 0.76, 6);
    expect(
      trajectoryChange(
        {
          kind: 'trajectory',
          baseline: 2020,
          steps: [
            { year: 2030, change: -0.4 },
            { year: 2040, change: -0.5 },
          ],
        },
        2020,
        2035,
      ),
    ).toBeCloseTo(-0.45, 10);
  });

  it('keeps the results of a version when the definition changes, and reports the statuses that change', async () => {
    changes.length = 0;
    await objectives.define(objective({ key: 'versions', formula: 'delta("elec meter energy")', target: { kind: 'value', value: 8000 } }), 'test');
    await objectives.evaluate({ fromMonth: '2026-10', now: new Date(Date.UTC(2026, 10, 15)), keys: ['versions'] });
    expect(changes.filter((c) => c.scope === 'building:hall' && c.period === '2026-10').map((c) => [c.from, c.to])).toEqual([[null, 'green']]);
    changes.length = 0;
    const again = await objectives.define(
      objective({ key: 'versions', formula: 'delta("elec meter energy")', target: { kind: 'value', value: 8000 } }),
      'test',
    );
    expect(again.created).toBe(false);
    const v2 = await objectives.define(objective({ key: 'versions', formula: 'delta("elec meter energy")', target: { kind: 'value', value: 7000 } }), 'test');
    expect(v2.objective.version).toBe(2);
    await objectives.evaluate({ fromMonth: '2026-10', now: new Date(Date.UTC(2026, 10, 15)), keys: ['versions'] });
    // 7,450 against 7,000 with 10 % tolerance: amber. Version 1's result stays green.
    expect(changes.find((c) => c.scope === 'building:hall' && c.period === '2026-10')).toMatchObject({ version: 2, from: null, to: 'amber' });
    const { rows } = await storage.pool.query(
      `SELECT o.version, r.status FROM objective_results r JOIN objectives o ON o.id = r.objective_id
        WHERE o.key = 'versions' AND r.scope = 'building:hall' AND r.period = '2026-10' ORDER BY o.version`,
    );
    expect(rows).toEqual([
      { version: 1, status: 'green' },
      { version: 2, status: 'amber' },
    ]);
  });

  it('imports daily outdoor temperatures for degree-days, reporting bad rows by row and column', async () => {
    const csv = ['date;mean_c', '2026-01-01;4,5', '02/01/2026;5.5', '2026-02-30;3', '2026-01-03;chaud'].join('\n');
    const { stored, errors } = await importOutdoorTemperatures(storage.pool, csv, 'meteo.csv');
    expect(stored).toBe(2);
    expect(errors.map((e) => [e.row, e.column])).toEqual([
      [4, 'date'],
      [5, 'mean_c'],
    ]);
    const { rows } = await storage.pool.query(`SELECT to_char(day, 'YYYY-MM-DD') AS day, mean_c, source FROM outdoor_temperatures ORDER BY day`);
    expect(rows).toEqual([
      { day: '2026-01-01', mean_c: 4.5, source: 'meteo.csv' },
      { day: '2026-01-02', mean_c: 5.5, source: 'meteo.csv' },
    ]);
    await expect(importOutdoorTemperatures(storage.pool, 'jour;temperature\n2026-01-01;4', 'x.csv')).rejects.toThrow(WeatherFileError);
  });

  it('refuses a malformed definition or formula, saying where, and stores nothing', async () => {
    await expect(objectives.define(objective({ key: 'bad', formula: 'delta("elec meter energy") / aera' }), 'test')).rejects.toThrow(ObjectiveDefinitionError);
    await expect(objectives.define(objective({ key: 'bad', formula: 'delta("elec meter energy") / aera' }), 'test')).rejects.toThrow(/^formula: .*aera/);
    await expect(objectives.define(objective({ key: 'bad', period: 'week' as never }), 'test')).rejects.toThrow(/^period: /);
    await expect(
      objectives.define(
        objective({
          key: 'bad',
          target: {
            kind: 'trajectory',
            baseline: 2020,
            steps: [
              { year: 2040, change: -0.5 },
              { year: 2030, change: -0.4 },
            ],
          },
        }),
        'test',
      ),
    ).rejects.toThrow(/^target\.steps: steps must be in increasing years/);
    expect((await objectives.versions('bad')).length).toBe(0);
  });
});
