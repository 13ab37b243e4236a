import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Sample } from '@citypilot/sdk';
import { createTestDatabase, localMidnight, objectiveDefinition } from '../testing/index.js';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { operatExport } from './operat.js';
import { Objectives } from './objectives.js';

/**
 * Calendar-exact periods: meter advances from local midnight to local midnight, what the data
 * leaves uncovered, and degree-days of a day in progress. Each test owns its database; every
 * expected value is worked out by hand in the comment above it.
 */
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const TZ = 'Europe/Paris';
const METER = ['elec', 'meter', 'energy'];
const HEAT = ['heat', 'meter', 'energy'];
const OUTSIDE = ['air', 'temp', 'outside', 'sensor'];

describe('calendar-exact objectives', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let seq = 0;

  beforeEach(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'objectives_calendar');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await storage.pool.query(`
      INSERT INTO organisations (key, name) VALUES ('city', 'City');
      INSERT INTO sites (organisation_id, key, name) SELECT id, 'centre', 'Centre' FROM organisations;
      INSERT INTO buildings (site_id, key, name, usage, area_m2) SELECT id, 'hall', 'Hall', 'town-hall', 1000 FROM sites;
    `);
  });
  afterEach(async () => {
    await storage?.close();
    await db?.drop();
  });

  async function write(points: Record<string, string[]>, samples: Sample[]): Promise<void> {
    await storage.writeBatches([
      {
        v: BATCH_VERSION,
        gateway: 'gw-hall',
        seq: ++seq,
        createdAt: Date.now(),
        building: 'hall',
        points: Object.entries(points).map(([id, tags]) => ({
          id,
          name: id,
          unit: tags.includes('temp') ? '°C' : 'kWh',
          kind: 'number' as const,
          tags,
          source: { plugin: 'test', device: 'd', address: 0 },
        })),
        samples,
      },
    ]);
  }

  /** Samples of `point` every `step` ms from `from` (included) to `to` (excluded), except those `skip` says. */
  function every(point: string, step: number, from: number, to: number, value: (t: number) => number, skip: (t: number) => boolean = () => false): Sample[] {
    const out: Sample[] = [];
    for (let t = from; t < to; t += step) if (!skip(t)) out.push({ point, time: t, value: value(t), quality: 'good' });
    return out;
  }

  async function result(key: string, period: string) {
    const { rows } = await storage.pool.query(
      `SELECT r.value, r.forecast, r.missing_days, r.unbracketed_hours FROM objective_results r JOIN objectives o ON o.id = r.objective_id
        WHERE o.key = $1 AND r.scope = 'building:hall' AND r.period = $2`,
      [key, period],
    );
    return rows[0];
  }

  it('counts a DST month (745 hours) from local midnight to local midnight, however the readings fall', async () => {
    // A meter advancing 10 kWh an hour, read every 6 hours at 00, 06, 12 and 18 UTC: 02:00,
    // 08:00… local in summer time, 01:00, 07:00… after 25 October. Local October runs from
    // 30 September 22:00 UTC to 31 October 23:00 UTC: 745 hours, 7,450 kWh. From the last
    // reading before each boundary (30 September and 31 October, 18:00 UTC) it would be 744.
    const origin = Date.UTC(2026, 8, 28);
    // A heat meter read on 15 September and 15 November only (00:00 UTC, 61 days apart),
    // advancing 1,464 kWh between: 1 kWh an hour, 745 in October, though it has no October
    // reading.
    await write({ 'm.elec': METER, 'm.heat': HEAT }, [
      ...every('m.elec', 6 * HOUR, origin, Date.UTC(2026, 10, 3), (t) => (10 * (t - origin)) / HOUR),
      { point: 'm.heat', time: Date.UTC(2026, 8, 15), value: 0, quality: 'good' },
      { point: 'm.heat', time: Date.UTC(2026, 10, 15), value: 1464, quality: 'good' },
    ]);
    const objectives = new Objectives({ pool: storage.pool, timezone: TZ });
    await objectives.define(objectiveDefinition({ key: 'elec' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'heat', formula: 'delta("heat meter energy")' }), 'test');
    await objectives.evaluate({ fromMonth: '2026-10', now: new Date(Date.UTC(2026, 11, 15)), keys: ['elec', 'heat'] });
    const october = await result('elec', '2026-10');
    expect(october.value).toBeCloseTo(7450, 9);
    expect(october).toMatchObject({ missing_days: 0, unbracketed_hours: 0 });
    const heat = await result('heat', '2026-10');
    expect(heat.value).toBeCloseTo(745, 9);
    expect(heat).toMatchObject({ missing_days: 0, unbracketed_hours: 0 });
  });

  it('counts a leap year exactly, and says how many hours no reading brackets', async () => {
    // Two meters advancing 1 kWh an hour, read daily at 01:00 local. The heat meter's readings
    // start on 31 December 2023: 2024 is 366 × 24 = 8,784 hours (the two DST changes cancel),
    // its reading at midnight interpolated on both sides. The electricity meter's start on
    // 1 January 2024 at 01:00: nothing brackets midnight, the year counts from that first
    // reading, 8,783 kWh, and the result says 1 hour is not covered.
    const origin = Date.UTC(2023, 0, 1);
    const daily = (point: string, firstDay: number) => {
      const out: Sample[] = [];
      for (let day = firstDay; day <= 367; day++) {
        const t = localMidnight(TZ, 2024, 0, day) + HOUR;
        out.push({ point, time: t, value: (t - origin) / HOUR, quality: 'good' });
      }
      return out;
    };
    await write({ 'm.elec': METER, 'm.heat': HEAT }, [...daily('m.elec', 1), ...daily('m.heat', 0)]);
    const objectives = new Objectives({ pool: storage.pool, timezone: TZ });
    await objectives.define(objectiveDefinition({ key: 'elec', period: 'year' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'heat', period: 'year', formula: 'delta("heat meter energy")' }), 'test');
    await objectives.evaluate({ fromMonth: '2024-01', now: new Date(Date.UTC(2025, 5, 1)), keys: ['elec', 'heat'] });
    const heat = await result('heat', '2024');
    expect(heat.value).toBeCloseTo(8784, 9);
    expect(heat).toMatchObject({ missing_days: 0, unbracketed_hours: 0 });
    const elec = await result('elec', '2024');
    expect(elec.value).toBeCloseTo(8783, 9);
    expect(elec.unbracketed_hours).toBeCloseTo(1, 9);
  });

  it('reports a year whose outdoor temperature misses a day as incomplete, through the API too', async () => {
    // 8 °C all of 2025, read every 3 hours, except on 10 March (local): 364 days × 10
    // degree-days (base 18), and 1 day missing.
    const skip = (t: number) => t >= localMidnight(TZ, 2025, 2, 10) && t < localMidnight(TZ, 2025, 2, 11);
    await write(
      { 'm.out': OUTSIDE },
      every('m.out', 3 * HOUR, localMidnight(TZ, 2025, 0), localMidnight(TZ, 2026, 0), () => 8, skip),
    );
    const objectives = new Objectives({ pool: storage.pool, timezone: TZ });
    await objectives.define(objectiveDefinition({ key: 'dd', period: 'year', formula: 'hdd(18)', unit: 'DJU' }), 'test');
    await objectives.evaluate({ fromMonth: '2025-01', now: new Date(Date.UTC(2026, 1, 1)), keys: ['dd'] });
    const year = await result('dd', '2025');
    expect(year.value).toBeCloseTo(3640, 9);
    expect(year).toMatchObject({ missing_days: 1, unbracketed_hours: 0 });
    const app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, objectives });
    try {
      const { token } = await createToken(storage.pool, { role: 'director', label: 'director of the test' }, 'test');
      const answer = await app.inject({ method: 'GET', url: '/api/objectives/dd/results?scope=building:hall', headers: { authorization: `Bearer ${token}` } });
      expect(answer.statusCode).toBe(200);
      // 2026 so far has no reading at all: January's 31 days are missing.
      expect(answer.json().results).toMatchObject([
        { period: '2025', complete: true, dataComplete: false, gaps: { missingDays: 1, unbracketedHours: 0 } },
        { period: '2026', complete: false, dataComplete: false, gaps: { missingDays: 31, unbracketedHours: 0 } },
      ]);
    } finally {
      await app.close();
    }
  });

  it('forecasts a month on the morning of a day from the hours gone by, with the degree-day method chosen', async () => {
    // 1–6 December 2026 read hourly at 8 °C, except a 20 °C reading at noon on the 1st; on the
    // 7th one reading at 00:30 local, 1.8 °C. Now: 7 December, 01:54 local (00:54 UTC).
    // Daily mean: the 1st is (23 × 8 + 20) / 24 = 8.5 °C, 9.5 degree-days; (Tmin + Tmax) / 2
    // is 14 °C, 4 degree-days. The 2nd to the 6th: 10 each. The 7th so far: 18 − 1.8 = 16.2
    // degree-days for the 1.9 hours of 24 gone by. December so far: 6 × 24 + 1.9 = 145.9 of
    // its 744 hours; the forecast is the month at that pace.
    const start = localMidnight(TZ, 2026, 11, 1);
    const noon = start + 12 * HOUR;
    await write({ 'm.out': OUTSIDE }, [
      ...every('m.out', HOUR, start, localMidnight(TZ, 2026, 11, 7), (t) => (t === noon ? 20 : 8)),
      { point: 'm.out', time: localMidnight(TZ, 2026, 11, 7) + HOUR / 2, value: 1.8, quality: 'good' },
    ]);
    const now = new Date(Date.UTC(2026, 11, 7, 0, 54));
    const mean = new Objectives({ pool: storage.pool, timezone: TZ });
    const minMax = new Objectives({ pool: storage.pool, timezone: TZ, degreeDayMethod: 'min-max' });
    await mean.define(objectiveDefinition({ key: 'dd-mean', formula: 'hdd(18)', unit: 'DJU' }), 'test');
    await mean.define(objectiveDefinition({ key: 'dd-min-max', formula: 'hdd(18)', unit: 'DJU' }), 'test');
    await mean.evaluate({ fromMonth: '2026-12', now, keys: ['dd-mean'] });
    await minMax.evaluate({ fromMonth: '2026-12', now, keys: ['dd-min-max'] });
    const today = (16.2 * 1.9) / 24;
    const byMean = await result('dd-mean', '2026-12');
    expect(byMean.value).toBeCloseTo(9.5 + 50 + today, 9);
    expect(byMean.forecast).toBeCloseTo(((9.5 + 50 + today) * 744) / 145.9, 9);
    const byMinMax = await result('dd-min-max', '2026-12');
    expect(byMinMax.value).toBeCloseTo(4 + 50 + today, 9);
    expect(byMinMax.forecast).toBeCloseTo(((4 + 50 + today) * 744) / 145.9, 9);
    // The day in progress is not a missing day.
    expect(byMean.missing_days).toBe(0);
    // The OPERAT export counts its degree-days as the objectives do (seen from the year's end,
    // every day whole: the 7th is 16.2): 9.5 + 50 + 16.2 by the daily mean, 4 + 50 + 16.2 by
    // (Tmin + Tmax) / 2, in whole DJU.
    const dju = async (objectives: Objectives) =>
      (await operatExport(storage.pool, TZ, 2026, { degreeDayMethod: objectives.degreeDayMethod }))
        .split('\n')
        .find((l) => l.startsWith('hall;'))!
        .split(';')[10];
    expect(await dju(mean)).toBe('76');
    expect(await dju(minMax)).toBe('70');
    expect(() => new Objectives({ pool: storage.pool, timezone: TZ, degreeDayMethod: 'median' as never })).toThrow(
      /^degreeDayMethod: "median" is not a degree-day method; expected one of mean, min-max$/,
    );
  });
});
