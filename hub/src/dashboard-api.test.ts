import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { buildApi } from './api.js';
import { createToken } from './auth/tokens.js';
import { createHubMetrics } from './metrics.js';
import { Objectives } from './objectives/objectives.js';
import { monthsAgo } from './objectives/routes.js';
import { RESULT_CSV_COLUMNS } from './objectives/results-csv.js';
import { Storage } from './storage/storage.js';
import { createTestDatabase, localMidnight, objectiveDefinition } from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TZ = 'Europe/Paris';
/** The town hall's meters: 10 kWh of electricity and 1 m³ of gas (11.2 kWh by default) an hour. */
const ELEC_PER_HOUR = 10;
const GAS_M3_PER_HOUR = 1;
const T0 = Date.UTC(2023, 11, 1);

/**
 * The API the dashboard's pages read, on a small city: the town hall (centre site, 1,000 m²,
 * reference year 2024) with an electricity meter, a gas meter counting m³ and an outdoor sensor,
 * read daily since December 2023 and hourly for the last 40 days; an empty gymnasium (north).
 */
describe('the dashboard API: objective trends, CSV, definition checks, building pages', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let objectives: Objectives;
  const tokens: Record<string, string> = {};
  const as = (who: string | undefined) => (who ? { authorization: `Bearer ${tokens[who]}` } : {});
  const now = Date.now();

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'dashboard_api');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    objectives = new Objectives({ pool: storage.pool, timezone: TZ });
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      objectives,
      logger: { ...quiet, error: (o: object) => console.error(o) },
    });
    await storage.pool.query(`
      INSERT INTO organisations (key, name) VALUES ('city', 'City');
      INSERT INTO sites (organisation_id, key, name) SELECT id, s.key, s.name FROM organisations, (VALUES ('centre', 'Centre'), ('north', 'North')) AS s(key, name);
      INSERT INTO buildings (site_id, key, name, usage, area_m2, energy_reference_year)
        SELECT s.id, b.key, b.name, b.usage, b.area, b.ref FROM sites s JOIN (VALUES
          ('centre', 'hall', 'Town hall', 'town-hall', 1000.0, 2024), ('north', 'gym', 'Gymnasium', 'gymnasium', 500.0, NULL)
        ) AS b(site, key, name, usage, area, ref) ON b.site = s.key;
    `);
    const end = now - (now % HOUR);
    const times: number[] = [];
    for (let t = T0; t < end - 40 * DAY; t += DAY) times.push(t);
    for (let t = end - 40 * DAY - ((end - 40 * DAY - T0) % DAY) + DAY; t <= end; t += HOUR) times.push(t);
    const samples: Sample[] = [];
    for (const t of times) {
      const hours = (t - T0) / HOUR;
      const day = (t - Date.UTC(new Date(t).getUTCFullYear(), 0, 1)) / DAY;
      samples.push(
        { point: 'm.elec', time: t, value: hours * ELEC_PER_HOUR, quality: 'good' },
        { point: 'm.gas', time: t, value: hours * GAS_M3_PER_HOUR, quality: 'good' },
        // A season, so that the baseline can tell the weather from the base load.
        { point: 'm.out', time: t, value: 11 - 8 * Math.cos((2 * Math.PI * day) / 365), quality: 'good' },
      );
    }
    const point = (id: string, unit: string, tags: string[]) => ({
      id,
      name: id,
      unit,
      kind: 'number' as const,
      tags,
      source: { plugin: 'test', device: 'm', address: 0 },
      intervalMs: HOUR,
    });
    const batch: Batch = {
      v: BATCH_VERSION,
      gateway: 'gw-hall',
      seq: 1,
      createdAt: now,
      building: 'hall',
      points: [
        point('m.elec', 'kWh', ['elec', 'meter', 'energy']),
        point('m.gas', 'm3', ['gas', 'meter', 'volume']),
        point('m.out', '°C', ['air', 'temp', 'outside', 'sensor']),
      ],
      samples,
    };
    await storage.writeBatches([batch]);
    await objectives.define(
      objectiveDefinition({ key: 'hall-elec', formula: 'delta("elec meter energy")', scope: { level: 'city' }, target: { kind: 'value', value: 7000 } }),
      'test',
    );
    await objectives.define(
      objectiveDefinition({ key: 'internal', formula: 'delta("elec meter energy")', scope: { level: 'city' }, published: false }),
      'test',
    );
    await objectives.evaluate({ fromMonth: monthsAgo(24, TZ) });
    for (const role of ['operator', 'agent', 'director'])
      tokens[role] = (await createToken(storage.pool, { role, label: `${role} of the test` }, 'test')).token;
    tokens.north = (await createToken(storage.pool, { role: 'technician', label: 'north technician', sites: ['north'] }, 'test')).token;
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it("gives each objective of the list its last 13 periods, oldest first, and its latest result's value a year before", async () => {
    const list = (await app.inject({ method: 'GET', url: '/api/objectives' })).json();
    expect(list.map((o: { key: string }) => o.key)).toEqual(['hall-elec']);
    const [o] = list;
    expect(o.trend).toHaveLength(1);
    const { scope, points: periods } = o.trend[0];
    expect(scope).toBe('city');
    expect(periods).toHaveLength(13);
    expect(periods.map((p: { period: string }) => p.period)).toEqual(Array.from({ length: 13 }, (_, i) => monthsAgo(12 - i, TZ)));
    expect(periods[0]).toEqual({ period: monthsAgo(12, TZ), value: expect.any(Number), target: 7000, status: expect.stringMatching(/^(green|amber|red)$/) });
    const [latest] = o.latest;
    expect(latest.period).toBe(monthsAgo(0, TZ));
    // The card's change against last year: the same month a year before, as the trend's first point.
    expect(latest.lastYear).toBeCloseTo(periods[0].value, 6);
    expect(latest.previous).toBeCloseTo(periods[11].value, 6);
    // A director sees the unpublished one with its trend too.
    const director = (await app.inject({ method: 'GET', url: '/api/objectives', headers: as('director') })).json();
    expect(director.find((x: { key: string }) => x.key === 'internal').trend[0].points).toHaveLength(13);
  });

  it('downloads what an objective page shows as CSV, with the same access and filters as its results', async () => {
    const from = monthsAgo(3, TZ);
    const to = monthsAgo(1, TZ);
    const url = `/api/objectives/hall-elec/results.csv?from=${from}&to=${to}`;
    for (const attempt of ['miss', 'cached']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, attempt).toBe(200);
      expect(response.headers['content-type'], attempt).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition'], attempt).toBe('attachment; filename="hall-elec.csv"');
    }
    const lines = (await app.inject({ method: 'GET', url })).body.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(RESULT_CSV_COLUMNS.join(','));
    const json = (await app.inject({ method: 'GET', url: `/api/objectives/hall-elec/results?from=${from}&to=${to}` })).json().results;
    const rows = lines.slice(1, -1).map((l) => Object.fromEntries(l.split(',').map((cell, i) => [RESULT_CSV_COLUMNS[i], cell])));
    expect(rows).toHaveLength(3);
    rows.forEach((row, i) => {
      const r = json[i];
      expect(row).toMatchObject({
        objective: 'hall-elec',
        scope: 'city',
        period: r.period,
        value: String(r.value),
        target: '7000',
        status: r.status,
        unit: 'kWh',
        complete: 'true',
        data_complete: String(r.dataComplete),
      });
      expect(row.last_year).toBe(r.lastYear === null ? '' : String(r.lastYear));
      expect(row.forecast).toBe('');
      expect(row.period_first_day).toBe(`${r.period}-01`);
      expect(row.period_last_day).toMatch(new RegExp(`^${r.period}-(28|29|30|31)$`));
    });
    // Unpublished: not for anyone; a director downloads it.
    expect((await app.inject({ method: 'GET', url: '/api/objectives/internal/results.csv' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/objectives/internal/results.csv', headers: as('director') })).statusCode).toBe(200);
    // A technician may not name a scope outside its sites.
    const outside = await app.inject({ method: 'GET', url: '/api/objectives/hall-elec/results.csv?scope=site:centre', headers: as('north') });
    expect(outside.statusCode).toBe(403);
    expect(outside.json().error).toMatch(/query\.scope: "site:centre" is not within this token's sites \(north\)/);
    for (const [query, where] of [
      ['from=2026-13', 'from'],
      ['scope=building:../x', 'scope'],
      ['to=yesterday', 'to'],
    ]) {
      const bad = await app.inject({ method: 'GET', url: `/api/objectives/hall-elec/results.csv?${query}` });
      expect(bad.statusCode, query).toBe(400);
      expect(bad.json().error, query).toContain(where);
    }
  });

  it('checks a definition as an operator types it, says where each problem is, and stores nothing', async () => {
    const check = (who: string | undefined, payload: unknown) =>
      app.inject({ method: 'POST', url: '/api/objectives/check', headers: as(who), payload: payload as object });
    const definition = objectiveDefinition({ formula: 'delta("elec meter energy") / area' });
    delete definition.key;
    expect((await check(undefined, { definition })).statusCode).toBe(401);
    expect((await check('agent', { definition })).statusCode).toBe(403);
    const valid = await check('operator', { definition });
    expect(valid.statusCode).toBe(200);
    expect(valid.json()).toEqual({
      valid: true,
      dependencies: {
        points: [{ fn: 'delta', tags: ['elec', 'energy', 'meter'] }],
        services: [],
        attributes: ['area'],
        degreeDayBases: [],
        openingHours: false,
      },
    });
    const unknown = await check('operator', { definition: { ...definition, formula: 'summ("elec meter energy") / area' } });
    expect(unknown.statusCode).toBe(200);
    expect(unknown.json()).toEqual({
      valid: false,
      issues: [{ path: 'formula', column: 1, message: expect.stringMatching(/^column 1: unknown function "summ"; expected one of .*sum/) }],
    });
    // The formula is checked even when the rest is not yet right.
    const both = await check('operator', { definition: { ...definition, label: { fr: 'Énergie' }, formula: 'delta("elec meter energy") * (2' } });
    expect(both.json().valid).toBe(false);
    expect(both.json().issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: expect.stringMatching(/^label/) }),
        { path: 'formula', column: 32, message: expect.stringMatching(/^column 32: expected "\)"/) },
      ]),
    );
    const steps = await check('operator', {
      definition: {
        ...definition,
        key: 'Bad Key',
        target: {
          kind: 'trajectory',
          baseline: 2020,
          steps: [
            { year: 2040, change: -0.5 },
            { year: 2030, change: -0.4 },
          ],
        },
      },
    });
    expect(steps.json().issues).toEqual([expect.objectContaining({ path: 'key' })]);
    for (const [payload, where] of [
      [{}, 'definition'],
      [{ definition: 'delta()' }, 'definition'],
      [[definition], 'body'],
    ] as const) {
      const bad = await check('operator', payload);
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
      expect(bad.json().error, JSON.stringify(payload)).toContain(where);
    }
    const huge = await check('operator', { definition: { ...definition, methodology: 'x'.repeat(100_000) } });
    expect(huge.statusCode).toBe(413);
    const { rows } = await storage.pool.query(`SELECT count(*)::int AS n FROM objectives`);
    expect(rows[0].n).toBe(2);
  });

  it("shows a building's meters, energy per m², tertiary-decree trajectory and completeness; a technician only its sites'", async () => {
    const response = await app.inject({ method: 'GET', url: '/api/buildings/hall' });
    expect(response.statusCode).toBe(200);
    const page = response.json();
    expect(page).toMatchObject({
      key: 'hall',
      name: 'Town hall',
      site: 'centre',
      siteName: 'Centre',
      usage: 'town-hall',
      areaM2: 1000,
      energyReferenceYear: 2024,
    });
    expect(page.meters.map((m: { point: string; role: string; energy: string; unit: string }) => [m.point, m.energy, m.role, m.unit])).toEqual([
      ['m.elec', 'elec', 'main', 'kWh'],
      ['m.gas', 'gas', 'main', 'm3'],
    ]);
    expect(page.meters[0].ageSeconds).toBeGreaterThanOrEqual(0);
    expect(page.meters[0].quality).toBe('good');

    // The 12 months before the current one, in local hours; gas counted in kWh at 11.2 kWh/m³.
    const [year, month] = monthsAgo(0, TZ).split('-').map(Number) as [number, number];
    const hours = (localMidnight(TZ, year, month - 1) - localMidnight(TZ, year, month - 13)) / HOUR;
    const { last12Months } = page.energy;
    expect(last12Months).toMatchObject({ from: monthsAgo(12, TZ), to: monthsAgo(1, TZ), months: 12, monthsWithData: 12 });
    const energy = Object.fromEntries(last12Months.energies.map((e: { energy: string }) => [e.energy, e]));
    expect(energy.elec.kWh).toBeCloseTo(hours * ELEC_PER_HOUR, -1);
    expect(energy.gas.kWh).toBeCloseTo(hours * GAS_M3_PER_HOUR * 11.2, -1);
    expect(energy.total.kWh).toBeCloseTo(hours * (ELEC_PER_HOUR + 11.2 * GAS_M3_PER_HOUR), -1);
    expect(energy.total.kWhPerM2).toBeCloseTo(energy.total.kWh / 1000, 1);
    expect(page.energy.yearToDate).toMatchObject({ from: `${year}-01`, to: monthsAgo(0, TZ) });

    // 2024, a leap year, at a constant pace whatever the weather: normalised to 365 days.
    const { trajectory } = page;
    expect(trajectory).toMatchObject({ referenceYear: 2024, basis: 'normalised' });
    const perYear = 24 * (ELEC_PER_HOUR + 11.2 * GAS_M3_PER_HOUR);
    expect(trajectory.reference.kWh).toBeCloseTo(perYear * 366, -2);
    expect(trajectory.reference.normalisedKWh / (perYear * 365)).toBeCloseTo(1, 3);
    expect(trajectory.targets.map((t: { year: number; kWh: number }) => [t.year, Math.round((t.kWh / trajectory.reference.normalisedKWh) * 100)])).toEqual([
      [2030, 60],
      [2040, 50],
      [2050, 40],
    ]);
    expect(trajectory.years.map((y: { year: number }) => y.year)).toEqual(Array.from({ length: year - 2023 }, (_, i) => 2024 + i));
    expect(trajectory.years[0].targetKWh).toBe(Math.round(trajectory.reference.normalisedKWh));
    expect(trajectory.years.at(-1).complete).toBe(false);

    // Hourly readings of an hourly point over the last 40 days: every whole day complete.
    expect(page.completeness.last7Days.ratio).toBeCloseTo(1, 2);
    expect(page.completeness.last30Days.ratio).toBeCloseTo(1, 2);
    expect(page.completeness.days).toHaveLength(30);
    expect(page.latestSample.ageSeconds).toBeGreaterThanOrEqual(0);

    const gym = (await app.inject({ method: 'GET', url: '/api/buildings/gym', headers: as('north') })).json();
    expect(gym).toMatchObject({ key: 'gym', meters: [], trajectory: null, completeness: { last7Days: { ratio: null } }, latestSample: { time: null } });
    // Outside the technician's sites: the same answer as an unknown building.
    for (const [url, who] of [
      ['/api/buildings/hall', 'north'],
      ['/api/buildings/nowhere', undefined],
    ] as const) {
      const missing = await app.inject({ method: 'GET', url, headers: as(who) });
      expect(missing.statusCode, url).toBe(404);
    }
    expect((await app.inject({ method: 'GET', url: '/api/buildings/hall', headers: as('north') })).json().error).toBe('no building "hall"');
    const hostile = await app.inject({ method: 'GET', url: `/api/buildings/${encodeURIComponent("hall' OR 1=1 --")}` });
    expect(hostile.statusCode).toBe(400);
    expect(hostile.json().error).toMatch(/key/);
  });
});
