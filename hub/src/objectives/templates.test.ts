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
   * Readings of one meter: `perMonth` kWh a month, read at local midnight on the 1st (the
   * boundaries periods are cut at), from January 2019 to the end of October 2026.
   */
  function monthly(point: string, perMonth: (year: number) => number): Sample[] {
    let reading = 0;
    const out: Sample[] = [{ point, time: localMidnight('Europe/Paris', 2019, 0), value: reading, quality: 'good' }];
    for (let year = 2019; year <= 2026; year++) {
      for (let month = 0; month < 12 && (year < 2026 || month < 10); month++) {
        reading += perMonth(year);
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
      -- A constant 8 °C from a weather service: 10 degree-days (base 18) a day.
      INSERT INTO outdoor_temperatures (day, mean_c, source) SELECT d, 8, 'test' FROM generate_series('2019-01-01'::date, '2026-12-31'::date, '1 day') AS d;
    `);
    // The town hall: electricity 1,000 kWh a month, heat 3,000 in 2020 and 2,000 from 2025.
    const hall = [...monthly('elec', () => 1000), ...monthly('heat', (y) => (y >= 2025 ? 2000 : 3000))];
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
          points: Object.entries(tags).map(([id, t]) => ({ id, name: id, unit: 'kWh', kind: 'number' as const, tags: [...t], source: { plugin: 'test', device: 'd', address: 0 } })),
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

  it('energy per m² and degree-day: the meters of the month over the area and the degree-days', async () => {
    // October 2026: 1,000 + 2,000 kWh, 2,000 m², 31 days × 10 degree-days; 2020's October: 4,000 kWh.
    expect(await result('energy-per-m2-dd', 'building:hall', '2026-10')).toEqual({ value: 3000 / 2000 / 310, target: (4000 / 2000 / 310) * 0.9, status: 'green' });
    // The cabinet's lighting meter is an energy meter too, but it has no floor area: no value.
    expect(await result('energy-per-m2-dd', 'building:cabinet', '2026-10')).toMatchObject({ value: null, status: 'unknown' });
  });

  it('tertiary decree: the year normalised to 2,500 degree-days, against the trajectory from the reference year', async () => {
    // 2025: 36,000 kWh, 3,650 degree-days; 2020 (reference, 366 days): 48,000 kWh, 3,660.
    const r = await result('tertiary-decree', 'building:hall', '2025');
    expect(r.value).toBeCloseTo((36000 * 2500) / 3650, 6);
    expect(r.target).toBeCloseTo(((48000 * 2500) / 3660) * (1 - 0.2), 6); // 5 of 10 years to -40 %
    expect(r.status).toBe('green');
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
      writeFileSync(file, good.replace('service_avg("reception.wait_minutes")', 'service_avg("reception.wait_minutes") / aera').replace('key: calls-answered', 'key: reception-waiting-time'));
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
    expect(csv.split('\n')).toEqual([
      'identifiant_batiment;nom;usage;surface_m2;annee;electricite_kwh;gaz_naturel_kwh;reseau_chaleur_kwh;autres_kwh;total_kwh',
      'cabinet;"Armoire d\'éclairage; centre";technical;;2025;;;;72000;72000',
      'hall;Hôtel de ville;town-hall;2000;2025;12000;;24000;0;36000',
      '',
    ]);
  });
});
