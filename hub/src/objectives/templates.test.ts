import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, ConfigFileError, type Sample } from '@citypilot/sdk';
import { ServiceData, type ServiceValueInput } from '../service-data/index.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, localMidnight } from '../testing/index.js';
import { serviceDataReader } from './data.js';
import { loadObjectivesFile } from './file.js';
import { Objectives } from './objectives.js';
import { operatExport } from './operat.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const shipped = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'objectives');

/** The shipped objective definitions (hub/objectives/*.yaml), on data whose answers are known. */
/** Outdoor daily mean (°C) of each calendar month, January first. */
const MONTH_TEMPERATURE = [5, 6, 9, 12, 15, 16, 20, 20, 17, 13, 8, 5];
const calendarDays = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
/** Length of a local month in Paris, in days: March loses an hour, October gains one. */
const days = (year: number, month: number) => calendarDays(year, month) + (month === 2 ? -1 / 24 : month === 9 ? 1 / 24 : 0);
/** Heating degree-days (base 18 °C) of a month. */
const degreeDays = (year: number, month: number) => calendarDays(year, month) * Math.max(0, 18 - MONTH_TEMPERATURE[month]!);

describe('the shipped objectives on known data', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let objectives: Objectives;
  const now = new Date(Date.UTC(2026, 10, 20)); // 20 November 2026

  /** A result of `key` for `scope` and `period`. */
  async function result(key: string, scope: string, period: string) {
    const { rows } = await storage.pool.query(
      `SELECT r.value, r.target, r.status FROM objective_results r JOIN objectives o ON o.id = r.objective_id
        WHERE o.key = $1 AND o.superseded_at IS NULL AND r.scope = $2 AND r.period = $3`,
      [key, scope, period],
    );
    return rows[0];
  }

  /**
   * Readings of one meter: `perMonth` kWh in each month (0-based), read at local midnight on the
   * 1st (the boundaries periods are cut at), from January 2019 to the end of October 2026.
   */
  function monthly(point: string, perMonth: (year: number, month: number) => number): Sample[] {
    let reading = 0;
    const out: Sample[] = [{ point, time: localMidnight('Europe/Paris', 2019, 0), value: reading, quality: 'good' }];
    for (let year = 2019; year <= 2026; year++) {
      for (let month = 0; month < 12 && (year < 2026 || month < 10); month++) {
        reading += perMonth(year, month);
        out.push({ point, time: localMidnight('Europe/Paris', year, month + 1), value: reading, quality: 'good' });
      }
    }
    return out;
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'objective_templates');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const serviceData = await ServiceData.open(storage.pool);
    objectives = new Objectives({ pool: storage.pool, timezone: 'Europe/Paris', services: serviceDataReader(serviceData) });
    await storage.pool.query(`
      INSERT INTO organisations (key, name) VALUES ('city', 'City');
      INSERT INTO sites (organisation_id, key, name) SELECT id, 'centre', 'Centre' FROM organisations;
      INSERT INTO buildings (site_id, key, name, usage, area_m2, energy_reference_year, light_points)
        SELECT s.id, b.key, b.name, b.usage, b.area, b.ref, b.lights FROM sites s, (VALUES
          ('hall', 'Hôtel de ville', 'town-hall', 2000.0, 2020, NULL), ('cabinet', 'Armoire d''éclairage; centre', 'technical', NULL, NULL, 500)
        ) AS b(key, name, usage, area, ref, lights);
      -- Daily means from a weather service, the same every day of a month (MONTH_TEMPERATURE).
      INSERT INTO outdoor_temperatures (day, mean_c, source)
        SELECT d, (ARRAY[${MONTH_TEMPERATURE.join(', ')}])[extract(month FROM d)], 'test' FROM generate_series('2019-01-01'::date, '2026-12-31'::date, '1 day') AS d;
    `);
    // The town hall: electricity 40 kWh a day (a DST month has 30 23/24 or 31 1/24 days), heat 25
    // kWh per degree-day until 2024 and 20 from 2025 (insulation).
    const hall = [...monthly('elec', (y, m) => 40 * days(y, m)), ...monthly('heat', (y, m) => (y >= 2025 ? 20 : 25) * degreeDays(y, m))];
    const cabinet = monthly('lighting', (y) => (y >= 2025 ? 6000 : 10_000));
    for (const [gateway, building, samples, tags] of [
      ['gw-hall', 'hall', hall, { elec: ['elec', 'meter', 'energy'], heat: ['heat', 'meter', 'energy'] }],
      ['gw-cabinet', 'cabinet', cabinet, { lighting: ['lighting', 'meter', 'energy'] }],
    ] as const) {
      await storage.writeBatches([
        {
          v: BATCH_VERSION,
          gateway,
          seq: 1,
          createdAt: 0,
          building,
          points: Object.entries(tags).map(([id, t]) => ({
            id,
            name: id,
            unit: 'kWh',
            kind: 'number' as const,
            tags: [...t],
            source: { plugin: 'test', device: 'd', address: 0 },
          })),
          samples: [...samples],
        },
      ]);
    }
    // October 2026 at the town hall: two days of reception, switchboard, mail and car parks.
    const scope = 'building:hall';
    const values: ServiceValueInput[] = [
      { source: 'desk', metric: 'reception.wait_minutes', scope, period: '2026-10-05', value: 8 },
      { source: 'desk', metric: 'reception.wait_minutes', scope, period: '2026-10-06', value: 14 },
      { source: 'phone', metric: 'calls.offered', scope, period: '2026-10-05', value: 200 },
      { source: 'phone', metric: 'calls.offered', scope, period: '2026-10-06', value: 100 },
      { source: 'phone', metric: 'calls.answered', scope, period: '2026-10-05', value: 180 },
      { source: 'phone', metric: 'calls.answered', scope, period: '2026-10-06', value: 93 },
      { source: 'mail', metric: 'mail.received', scope, period: '2026-10', value: 400 },
      { source: 'mail', metric: 'mail.answered_15d', scope, period: '2026-10', value: 372 },
      { source: 'parks', metric: 'parking.occupied', scope: 'city', period: '2026-10-05', value: 450 },
      { source: 'parks', metric: 'parking.occupied', scope: 'city', period: '2026-10-06', value: 350 },
      { source: 'parks', metric: 'parking.capacity', scope: 'city', period: '2026-10-05', value: 500 },
      { source: 'parks', metric: 'parking.capacity', scope: 'city', period: '2026-10-06', value: 500 },
    ];
    for (const source of new Set(values.map((v) => v.source))) await serviceData.defineSource(source, source);
    await serviceData.submit({ id: 'test' }, values);
    for (const file of ['energy.yaml', 'services.yaml']) for (const d of loadObjectivesFile(join(shipped, file))) await objectives.define(d, 'test');
    await objectives.evaluate({ fromMonth: '2025-01', now });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('energy per m², climate-normalised: the month as a year at 2,500 degree-days', async () => {
    // The baseline of the 12 months to October 2026 is exact: 40 kWh a day, 20 kWh per degree-day.
    // A year at 2,500 DJU: 40 × 365 + 20 × 2,500 = 64,600 kWh over 2,000 m². October 2020's
    // baseline: 40 kWh a day, 25 kWh per degree-day: 40 × 365 + 25 × 2,500 = 77,100; target −10 %.
    const r = await result('energy-per-m2-dd', 'building:hall', '2026-10');
    expect(r.value).toBeCloseTo(64_600 / 2000, 9);
    expect(r.target).toBeCloseTo((77_100 / 2000) * 0.9, 9);
    expect(r.status).toBe('green');
    // June gives the same value as January: only the heating share is normalised.
    expect((await result('energy-per-m2-dd', 'building:hall', '2026-06')).value).toBeCloseTo(64_600 / 2000, 9);
    // The cabinet's lighting meter is an energy meter too, but it has no floor area: no value.
    expect(await result('energy-per-m2-dd', 'building:cabinet', '2026-10')).toMatchObject({ value: null, status: 'unknown' });
  });

  it('tertiary decree: the year normalised to 2,500 degree-days, against the trajectory from the reference year', async () => {
    // 2025 (365 days, 2,239 DJU): 14,600 + 20 × 2,239 kWh; normalised: 14,600 + 20 × 2,500 = 64,600.
    // 2020 (reference, 366 days): its base load 40 × 366 brought to 365 days, + 25 × 2,500 = 77,100.
    const r = await result('tertiary-decree', 'building:hall', '2025');
    expect(r.value).toBeCloseTo(64_600, 6);
    expect(r.target).toBeCloseTo(77_100 * (1 - 0.2), 6); // 5 of 10 years to -40 %
    // 64,600 is 4.7 % above 61,680: within the 5 % tolerance.
    expect(r.status).toBe('amber');
  });

  it('public lighting: the energy of the month per light point, against 2020', async () => {
    expect(await result('lighting-energy-per-point', 'city', '2026-10')).toEqual({ value: 6000 / 500, target: (10000 / 500) * 0.7, status: 'green' });
    // Its scope is the buildings with a lighting meter: the cabinet, not the town hall.
    expect(await result('lighting-energy-per-point', 'building:cabinet', '2026-10')).toMatchObject({ value: 12 });
    expect(await result('lighting-energy-per-point', 'building:hall', '2026-10')).toBeUndefined();
  });

  it('reception quality: mean waiting time, share of calls answered, mail answered within 15 days', async () => {
    expect(await result('reception-waiting-time', 'city', '2026-10')).toEqual({ value: 11, target: 10, status: 'amber' });
    expect(await result('calls-answered', 'city', '2026-10')).toEqual({ value: expect.closeTo(91, 9), target: 90, status: 'green' });
    expect(await result('mail-answered-15-days', 'city', '2026-10')).toEqual({ value: expect.closeTo(93, 9), target: 95, status: 'amber' });
    expect(await result('reception-waiting-time', 'building:hall', '2026-10')).toMatchObject({ value: 11 });
  });

  it('car park occupancy: mean occupied spaces over mean capacity', async () => {
    expect(await result('parking-occupancy', 'city', '2026-10')).toEqual({ value: 80, target: 85, status: 'green' });
  });

  it('reports every mistake of an objectives file with its line and column, and applies nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'citypilot-objectives-'));
    try {
      const file = join(dir, 'bad.yaml');
      const good = readFileSync(join(shipped, 'services.yaml'), 'utf8');
      // The shipped file with a misspelt name in a formula and a key used twice.
      writeFileSync(
        file,
        good
          .replace('service_avg("reception.wait_minutes")', 'service_avg("reception.wait_minutes") / aera')
          .replace('key: calls-answered', 'key: reception-waiting-time'),
      );
      expect(() => loadObjectivesFile(file)).toThrow(ConfigFileError);
      const lines = (() => {
        try {
          loadObjectivesFile(file);
          return [];
        } catch (error) {
          return (error as ConfigFileError).problems;
        }
      })();
      expect(lines).toEqual([
        expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+ objectives\\[0\\]\\.formula: column 41: unknown name "aera"`)),
        expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+ objectives\\[1\\]\\.key: "reception-waiting-time" is already the key of objectives\\[0\\]$`)),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports the annual energy per building and energy for OPERAT', async () => {
    const csv = await operatExport(storage.pool, 'Europe/Paris', 2025);
    const lines = csv.split('\n');
    // 2025: 2,239 degree-days (403 + 336 + 279 + 180 + 93 + 60 + 30 + 155 + 300 + 403). The town
    // hall: 40 × 365 = 14,600 kWh of electricity, 20 × 2,239 = 44,780 of heat; normalised,
    // 14,600 + 20 × 2,500 = 64,600, on an exact baseline (R² 1, CV(RMSE) 0).
    expect(lines).toEqual([
      'identifiant_batiment;nom;usage;surface_m2;annee;electricite_kwh;gaz_naturel_kwh;reseau_chaleur_kwh;autres_kwh;total_kwh;dju_annee;dju_reference;total_kwh_corrige_climat;charge_de_base_kwh_par_jour;kwh_par_dju;r2;cv_rmse',
      expect.stringMatching(/^cabinet;"Armoire d'éclairage; centre";technical;;2025;;;;72000;72000;2239;2500;\d+;[\d.]+;[\d.-]+;;0\.\d+$/),
      'hall;Hôtel de ville;town-hall;2000;2025;14600;;44780;0;59380;2239;2500;64600;40.0;20.00;1.000;0.000',
      '',
    ]);
    // The cabinet's lighting is 6,000 kWh every month: no variance for R² to explain (empty), and
    // the baseline's CV(RMSE) says how far months of 28 to 31 days are from that constant.
  });
});
