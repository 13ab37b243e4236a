import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { localMonth } from '../objectives/objectives.js';
import { importCatalog, type Catalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { dayStart } from '../utility/local-time.js';
import { EnergyPrices } from './energy-prices.js';
import { addMonths } from './evaluate.js';
import { Projects } from './store.js';

/**
 * The projects API on real PostgreSQL: definitions, versions and who sees them; tariffs set
 * through the API and bill lines imported from CSV; and an end-to-end evaluation of a synthetic
 * school whose electricity drops by 20 % after its works, recovered within the stated
 * uncertainty and priced month by month with a tariff that changes within a month.
 */
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';

/** Days of a local month `YYYY-MM`. */
const daysIn = (month: string) => new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5)), 0)).getUTCDate();
/** Outdoor daily mean (°C) of the i-th day: a season around 12 °C ± 8 °C, and a deterministic wobble of ±2 °C. */
const temperature = (day: string, i: number) => {
  const doy = (Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8))) - Date.UTC(Number(day.slice(0, 4)), 0, 1)) / 86_400_000;
  return 12 - 8 * Math.cos((2 * Math.PI * (doy - 15)) / 365) + (((i * 7919) % 11) - 5) * 0.4;
};

function project(key: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key,
    title: { fr: `Projet ${key}`, en: `Project ${key}` },
    theme: 'energy',
    scope: 'building:school',
    dates: { worksStart: '2025-07-01', worksEnd: '2025-08-31' },
    costs: { investment: 50_000, subsidies: [{ name: 'CEE', amount: 10_000 }] },
    energy: { energies: ['elec'] },
    owner: 'Energy manager',
    published: true,
    ...overrides,
  };
}

describe('projects API', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  const tokens: Record<string, string> = {};
  const as = (role: string | undefined) => (role ? { authorization: `Bearer ${tokens[role]}` } : {});
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, role?: string, payload?: unknown) =>
    app.inject({ method, url, headers: as(role), ...(payload === undefined ? {} : { payload: payload as object }) });

  // The synthetic school: months of the baseline (12), the works (1), the reporting (12), then the current month.
  const current = localMonth(new Date(), TZ);
  const works = addMonths(current, -13);
  const first = addMonths(works, -12);
  const months = Array.from({ length: 26 }, (_, i) => addMonths(first, i));
  /** Heating degree-days (base 18 °C) per month, as the hub computes them from one reading a day. */
  const hdd = new Map<string, number>();
  /** The kWh the school would have used without the works, and what it used. */
  const counterfactual = new Map<string, number>();
  const used = new Map<string, number>();

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'projects_api');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const catalog: Catalog = {
      organisation: { id: 'city', name: 'City' },
      sites: [{ id: 'north', name: 'North', buildings: [{ id: 'school', name: 'School', usage: 'school', area: 2000 }] }],
    };
    await importCatalog(storage.pool, catalog);
    const samples: Sample[] = [];
    let index = 100_000;
    let dayNumber = 0;
    for (const [k, month] of months.entries()) {
      samples.push({ point: 'meter.energy', time: dayStart(`${month}-01`, TZ), value: index, quality: 'good' });
      if (month === current) break;
      let degreeDays = 0;
      for (let d = 1; d <= daysIn(month); d++) {
        const day = `${month}-${String(d).padStart(2, '0')}`;
        const t = temperature(day, dayNumber++);
        degreeDays += Math.max(0, 18 - t);
        // At local noon: the day's only reading is its mean.
        samples.push({ point: 'outdoor.temp', time: dayStart(day, TZ) + 12 * 3_600_000, value: t, quality: 'good' });
      }
      hdd.set(month, degreeDays);
      // 300 kWh a day and 25 kWh per degree-day, with a deterministic ±2 % month to month.
      const wouldUse = (300 * daysIn(month) + 25 * degreeDays) * (1 + 0.02 * Math.sin(k * 2.3));
      counterfactual.set(month, wouldUse);
      // −20 % from the month after the works on; the works' month as the baseline.
      used.set(month, month > works ? 0.8 * wouldUse : wouldUse);
      index += used.get(month)!;
    }
    const batch: Batch = {
      v: BATCH_VERSION,
      gateway: 'gw-school',
      seq: 1,
      createdAt: Date.now(),
      building: 'school',
      points: [
        {
          id: 'meter.energy',
          name: 'Main meter',
          unit: 'kWh',
          kind: 'number',
          tags: ['elec', 'meter', 'energy'],
          source: { plugin: 'modbus', device: 'meter', address: 0 },
        },
        {
          id: 'outdoor.temp',
          name: 'Outdoor',
          unit: '°C',
          kind: 'number',
          tags: ['air', 'temp', 'outside', 'sensor'],
          source: { plugin: 'modbus', device: 'meter', address: 1 },
        },
      ],
      samples,
    };
    await storage.writeBatches([batch]);
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      projects: { projects: new Projects(storage.pool), prices: new EnergyPrices(storage.pool), discountRate: 0.04 },
    });
    for (const role of ['operator', 'director', 'agent', 'elected'])
      tokens[role] = (await createToken(storage.pool, { role, label: `${role} of the test` }, 'test')).token;
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('lets operators and directors write projects, never an agent or an anonymous caller, and says field by field what is wrong', async () => {
    expect((await call('POST', '/api/projects', undefined, project('relamping'))).statusCode).toBe(401);
    const agent = await call('POST', '/api/projects', 'agent', project('relamping'));
    expect(agent.statusCode).toBe(403);
    const created = await call('POST', '/api/projects', 'operator', project('relamping'));
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ key: 'relamping', version: 1, definition: { lifetimeYears: 20, costs: { yearlyRunningCost: 0 } } });
    expect((await call('POST', '/api/projects', 'director', project('relamping'))).statusCode).toBe(409);
    const bad = await call(
      'PUT',
      '/api/projects/broken',
      'operator',
      project('broken', { dates: { worksStart: '2025-07-01', worksEnd: '2025-06-30' }, costs: { investment: -5 } }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues).toEqual([{ path: 'costs.investment', message: expect.stringMatching(/-5 is outside 0\.\./) }]);
    const backwards = await call('PUT', '/api/projects/broken', 'operator', project('broken', { dates: { worksStart: '2025-07-01', worksEnd: '2025-06-30' } }));
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().issues).toEqual([{ path: 'dates.worksEnd', message: expect.stringMatching(/before worksStart 2025-07-01/) }]);
    const neither = await call('PUT', '/api/projects/broken', 'operator', { ...project('broken'), energy: undefined });
    expect(neither.json().issues[0].message).toMatch(/exactly one of energy .* or metric/);
    expect((await call('GET', '/api/projects/broken', 'operator')).statusCode).toBe(404);
  });

  it('keeps every version with who made it, shows unpublished projects to staff only, and keeps a deleted project’s history', async () => {
    const put = (key: string, role: string, body: Record<string, unknown>, query = '') => call('PUT', `/api/projects/${key}${query}`, role, body);
    expect((await put('boiler', 'director', project('boiler', { published: false }))).statusCode).toBe(201);
    // The same definition again: nothing new.
    expect((await put('boiler', 'director', project('boiler', { published: false }))).statusCode).toBe(200);
    const second = await put('boiler', 'operator', project('boiler', { published: false, title: { fr: 'Chaudière', en: 'Boiler' } }), '?version=1');
    expect(second.statusCode).toBe(201);
    expect(second.json().version).toBe(2);
    // Made from version 1 while 2 is current: refused.
    expect((await put('boiler', 'operator', project('boiler', { published: true }), '?version=1')).statusCode).toBe(409);

    const anonymousList = (await call('GET', '/api/projects')).json() as { key: string }[];
    expect(anonymousList.map((p) => p.key)).toEqual(['relamping']);
    expect(((await call('GET', '/api/projects', 'agent')).json() as { key: string }[]).map((p) => p.key)).toEqual(['boiler', 'relamping']);
    expect((await call('GET', '/api/projects/boiler')).statusCode).toBe(404);
    expect((await call('GET', '/api/projects/boiler/savings')).statusCode).toBe(404);
    const staff = (await call('GET', '/api/projects/boiler', 'elected')).json();
    expect(staff).toMatchObject({ version: 2, definition: { title: { en: 'Boiler' } }, deleted: false });
    expect(staff.versions.map((v: { version: number; createdBy: string }) => v.version)).toEqual([2, 1]);
    const first = (await call('GET', '/api/projects/boiler?version=1', 'elected')).json();
    expect(first.definition.title.en).toBe('Project boiler');
    expect((await call('GET', '/api/projects/boiler?version=9', 'elected')).statusCode).toBe(404);
    expect((await call('GET', '/api/projects/boiler?version=x', 'elected')).statusCode).toBe(400);

    expect((await call('DELETE', '/api/projects/boiler', 'agent')).statusCode).toBe(403);
    expect((await call('DELETE', '/api/projects/boiler', 'director')).statusCode).toBe(204);
    expect((await call('DELETE', '/api/projects/boiler', 'director')).statusCode).toBe(404);
    const deleted = (await call('GET', '/api/projects/boiler', 'operator')).json();
    expect(deleted).toMatchObject({ deleted: true, version: 2 });
    const versions = (await call('GET', '/api/projects/boiler/versions', 'operator')).json();
    expect(versions.map((v: { version: number; deletedBy: string | null }) => [v.version, v.deletedBy !== null])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect(((await call('GET', '/api/projects', 'operator')).json() as { key: string }[]).map((p) => p.key)).toEqual(['relamping']);
  });

  it('imports supplier bill lines: bad rows reported by row and column, good rows kept as tariffs with their provenance', async () => {
    const csv = [
      'period_start;period_end;energy;kwh;amount_eur',
      '01/01/2025;31/01/2025;gas;10 000;850,00', // row 2: 850 / 10,000 = 0.085 €/kWh
      '01/02/2025;31/02/2025;gas;9000;800', // row 3: no 31 February
      '2025-03-01;2025-03-31;gas;8000;720', // row 4: 0.09 €/kWh
      '2025-04-01;2025-04-30;fuel;100;20', // row 5: not an energy
      '2025-05-01;2025-05-31;gas;5000;475', // row 6: 0.095 €/kWh
    ].join('\n');
    const response = await app.inject({
      method: 'POST',
      url: '/api/energy-prices/import?file=bills-2025.csv',
      headers: { ...as('operator'), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(response.statusCode).toBe(200);
    const summary = response.json();
    expect(summary).toMatchObject({ file: 'bills-2025.csv', rows: 5, stored: 3, errorCount: 2 });
    expect(summary.errors.map((e: { row: number; column: string }) => [e.row, e.column])).toEqual([
      [3, 'period_end'],
      [5, 'energy'],
    ]);
    expect(summary.errors[0].message).toBe('row 3, column "period_end": "31/02/2025" is not a date (YYYY-MM-DD or DD/MM/YYYY)');
    const gas = (
      (await call('GET', '/api/energy-prices')).json().tariffs as {
        energy: string;
        from: string;
        to: string;
        eurosPerKWh: number;
        source: string;
        importId: number;
      }[]
    ).filter((t) => t.energy === 'gas');
    expect(gas.map((t) => [t.from, t.to, t.eurosPerKWh])).toEqual([
      ['2025-01-01', '2025-01-31', 0.085],
      ['2025-03-01', '2025-03-31', 0.09],
      ['2025-05-01', '2025-05-31', 0.095],
    ]);
    expect(gas[0]!.source).toBe('bills-2025.csv row 2: 850 € for 10000 kWh');
    const { rows } = await storage.pool.query(`SELECT file_name, submitted_by, rows, stored, error_count FROM energy_price_imports WHERE id = $1`, [
      gas[0]!.importId,
    ]);
    expect(rows[0]).toMatchObject({ file_name: 'bills-2025.csv', rows: 5, stored: 3, error_count: 2 });
    expect(rows[0].submitted_by).toMatch(/./);
    // Who entered a tariff is for staff; the public reads the price and its source.
    const byWhom = async (role?: string) => ((await call('GET', '/api/energy-prices', role)).json().tariffs as { createdBy: string | null }[])[0]!.createdBy;
    expect(await byWhom()).toBeNull();
    expect(await byWhom('operator')).toMatch(/./);
    // The same file again replaces its tariffs rather than refusing them as overlaps.
    const again = await app.inject({
      method: 'POST',
      url: '/api/energy-prices/import?file=bills-2025.csv',
      headers: { ...as('operator'), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(again.json()).toMatchObject({ stored: 3, errorCount: 2 });
    // A header without its amount column: nothing imported.
    const headless = await app.inject({
      method: 'POST',
      url: '/api/energy-prices/import',
      headers: { ...as('operator'), 'content-type': 'text/csv' },
      payload: 'period_start;period_end;energy;kwh\n',
    });
    expect(headless.statusCode).toBe(400);
    expect(headless.json().error).toMatch(/lacks the column amount_eur/);
    expect((await app.inject({ method: 'POST', url: '/api/energy-prices/import', headers: { 'content-type': 'text/csv' }, payload: csv })).statusCode).toBe(
      401,
    );
  });

  it('measures the −20 % of the works within the stated uncertainty, priced month by month across a mid-month change of tariff', async () => {
    const reporting = months.slice(13, 25);
    const r3 = reporting[2]!;
    // 0.20 €/kWh up to the 10th of the third reporting month, 0.30 €/kWh from the 11th.
    const tariffs = [
      { energy: 'elec', from: `${first}-01`, to: `${r3}-10`, eurosPerKWh: 0.2, source: 'contract A' },
      { energy: 'elec', from: `${r3}-11`, to: null, eurosPerKWh: 0.3, source: 'contract B' },
    ];
    const overlapping = await call('PUT', '/api/energy-prices', 'operator', { tariffs: [...tariffs, { ...tariffs[1]!, from: `${r3}-05` }] });
    expect(overlapping.statusCode).toBe(400);
    expect(overlapping.json().issues[0].path).toMatch(/^tariffs\[\d\]\.from$/);
    expect((await call('PUT', '/api/energy-prices', 'operator', { tariffs })).statusCode).toBe(200);
    // The project: works during `works`, 50,000 € less 10,000 € of CEE, 1,000 € a year to run.
    const dates = { worksStart: `${works}-01`, worksEnd: `${works}-${daysIn(works)}` };
    expect(
      (
        await call(
          'PUT',
          '/api/projects/school-works',
          'operator',
          project('school-works', { dates, costs: { investment: 50_000, yearlyRunningCost: 1000, subsidies: [{ name: 'CEE', amount: 10_000 }] } }),
        )
      ).statusCode,
    ).toBe(201);

    const response = await call('GET', '/api/projects/school-works/savings');
    expect(response.statusCode).toBe(200);
    const savings = response.json();
    expect(savings.baselinePeriod).toEqual({ from: first, to: addMonths(works, -1) });
    expect(savings.reportingPeriod).toEqual({ from: reporting[0], to: reporting[11] });
    const [elec] = savings.energies;
    expect(elec.method).toBe('ipmvp-c');
    // The model as savings-model.ts gives it, passed through the answer's schema.
    expect(elec.model).toEqual(expect.any(Object));
    expect(elec.buildings).toEqual(['school']);
    // The baseline the model was fitted on: the months' kWh and degree-days as written.
    for (const b of elec.baseline) {
      expect(b.energy).toBeCloseTo(used.get(b.period)!, 6);
      expect(b.hdd).toBeCloseTo(hdd.get(b.period)!, 6);
    }
    // Measured: 80 % of what the school would have used; avoided: the 20 % left, known here.
    const trueAvoided = reporting.reduce((s, m) => s + 0.2 * counterfactual.get(m)!, 0);
    expect(elec.months.map((m: { period: string }) => m.period)).toEqual(reporting);
    elec.months.forEach((m: { period: string; measured: number }) => expect(m.measured).toBeCloseTo(used.get(m.period)!, 6));
    expect(elec.uncertainty.absolute).toBeGreaterThan(0);
    expect(Math.abs(elec.totalKWh - trueAvoided)).toBeLessThanOrEqual(elec.uncertainty.absolute);
    const expectedBaseline = elec.months.reduce((s: number, m: { adjustedBaseline: number }) => s + m.adjustedBaseline, 0);
    expect(elec.totalKWh / expectedBaseline).toBeGreaterThan(0.18);
    expect(elec.totalKWh / expectedBaseline).toBeLessThan(0.22);

    // € month by month: 0.20 €/kWh before r3, 0.30 after, and in r3 (10 + (D − 10)) days weighted.
    const d = daysIn(r3);
    const byPeriod = new Map<string, { avoidedKWh: number; euros: number; tCO2e: number }>(elec.months.map((m: { period: string }) => [m.period, m]));
    expect(byPeriod.get(reporting[1]!)!.euros).toBeCloseTo(byPeriod.get(reporting[1]!)!.avoidedKWh * 0.2, 6);
    expect(byPeriod.get(r3)!.euros).toBeCloseTo((byPeriod.get(r3)!.avoidedKWh * (10 * 0.2 + (d - 10) * 0.3)) / d, 6);
    expect(byPeriod.get(reporting[3]!)!.euros).toBeCloseTo(byPeriod.get(reporting[3]!)!.avoidedKWh * 0.3, 6);
    // tCO2e with the default factor of electricity (kg CO2e/kWh, from the prices module), per 1,000 kg.
    // The factor of r3's year: the newest electricity factor of that year or before (the defaults hold several years).
    const factors = (await call('GET', '/api/emission-factors')).json().factors as { energy: string; year: number; kgCO2ePerKWh: number; origin: string }[];
    const elecFactor = factors.filter((f) => f.energy === 'elec' && f.year <= Number(r3.slice(0, 4))).sort((a, b) => b.year - a.year)[0]!;
    expect(elecFactor.origin).toBe('default');
    expect(byPeriod.get(r3)!.tCO2e).toBeCloseTo((byPeriod.get(r3)!.avoidedKWh * elecFactor.kgCO2ePerKWh) / 1000, 9);

    // The return: 40,000 € net; a year of reporting: its € less 1,000 € of running cost.
    const euros = elec.months.reduce((s: number, m: { euros: number }) => s + m.euros, 0);
    expect(savings.finance.netInvestment).toBe(40_000);
    expect(savings.finance.yearlyNetSavings).toBeCloseTo(euros - 1000, 6);
    expect(savings.finance.basis).toMatch(/last 12 reporting months/);
    expect(savings.finance.simplePayback).toBeCloseTo(40_000 / (euros - 1000), 6);
    expect(savings.finance.discountRate).toBe(0.04);
    expect(savings.totals.kWh).toBeCloseTo(elec.totalKWh, 6);
    expect(savings.months.at(-1).cumulatedKWh).toBeCloseTo(elec.totalKWh, 6);

    // A metric project on a hub without service data: compared on nothing, said so, no € return.
    const metric = project('online-booking', {
      theme: 'reception',
      scope: 'site:north',
      energy: undefined,
      metric: { key: 'reception.wait_minutes', better: 'lower' },
      costs: { investment: 5000 },
    });
    expect((await call('PUT', '/api/projects/online-booking', 'operator', metric)).statusCode).toBe(201);
    const booking = (await call('GET', '/api/projects/online-booking/savings')).json();
    expect(booking).toMatchObject({ kind: 'metric', energies: [], metric: { key: 'reception.wait_minutes', comparison: { before: null, after: null } } });
    expect(booking.finance).toMatchObject({ netInvestment: 5000, yearlyNetSavings: null, paybackDate: null });

    const summary = (await call('GET', '/api/projects-summary')).json();
    expect(summary.totals.projects).toBe(3); // relamping (published, 2025 dates), school-works and online-booking
    expect(summary.totals.netInvestment).toBe(85_000);
    expect(summary.projects.find((p: { key: string }) => p.key === 'school-works').totals.kWh).toBeCloseTo(elec.totalKWh, 6);
  });

  it('documents every projects route with its roles in the OpenAPI document', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json() as { paths: Record<string, Record<string, { 'x-roles': string[] }>> };
    const routes = Object.entries(doc.paths)
      .filter(([path]) => /^\/api\/(projects|energy-prices|emission-factors)/.test(path))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op['x-roles'].join(',')}`));
    expect(routes.sort()).toEqual([
      'DELETE /api/projects/{key} operator,director,admin',
      'GET /api/emission-factors public',
      'GET /api/energy-prices public',
      'GET /api/projects public',
      'GET /api/projects-summary public',
      'GET /api/projects/{key} public',
      'GET /api/projects/{key}/savings public',
      'GET /api/projects/{key}/versions public',
      'POST /api/energy-prices/import operator,director,admin',
      'POST /api/projects operator,director,admin',
      'PUT /api/emission-factors operator,director,admin',
      'PUT /api/energy-prices operator,director,admin',
      'PUT /api/projects/{key} operator,director,admin',
    ]);
  });
});
