import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerAccess } from '../auth/access.js';
import { ROLES, type Role } from '../auth/principal.js';
import { registerErrors } from '../http/errors.js';
import { ServiceData } from '../service-data/index.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { dayStart } from '../utility/local-time.js';
import { UtilityStore } from '../utility/store.js';
import { Costs } from './costs.js';
import { prorate } from './model.js';
import { costRoutes } from './routes.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';
const as = (role: Role) => ({ 'x-test-principal': role });
const csv = { 'content-type': 'text/csv' };

/**
 * A finance department's file, French headers with accents, `;` and decimal comma. Rows 5 and 6
 * are bad (a 13th month, an amount in words); the other four are stored:
 * - row 2: the reception staff of the town hall (mairie), the whole of 2026: 120,000.00 €;
 * - row 3: cleaning from 15/12/2025 to 10/01/2026 (excluded): 26 days, 17 in 2025 and 9 in 2026,
 *   2,600 € → 1,700 € in 2025 and 900 € in 2026;
 * - row 4: a maintenance contract of the site centre, January to June 2026: 3,000.50 €;
 * - row 7: a credit of the city's public lighting in June 2026: −500 €.
 */
const FILE = [
  'début;fin;périmètre;service;nature;montant;libellé',
  '01/01/2026;01/01/2027;mairie;accueil;personnel;"120 000,00";Agents d\'accueil',
  '15/12/2025;10/01/2026;mairie;accueil;entretien;2600;Nettoyage',
  '2026-01-01;2026-07-01;centre;entretien;maintenance;3000,50;Contrat chaufferie',
  '2026-13-01;2026-02-01;mairie;accueil;staff;10;Mois impossible',
  '2026-01-01;2026-02-01;ecole;accueil;staff;douze;Montant en lettres',
  '2026-06-01;2026-07-01;ville;eclairage-public;energy;-500;Avoir',
].join('\r\n');

/** The cost of services over HTTP, on a real database: imports, proration, per-unit figures, bills, roles. */
describe('costs', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'costs');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await importCatalog(storage.pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [
        {
          id: 'centre',
          name: 'Centre',
          buildings: [
            { id: 'mairie', name: 'Mairie', usage: 'town-hall', area: 2000 },
            { id: 'ecole', name: 'École', usage: 'school', area: 1000 },
          ],
        },
        { id: 'nord', name: 'Nord', buildings: [{ id: 'gymnase', name: 'Gymnase', usage: 'gymnasium', area: 800 }] },
      ],
    });
    // A building whose area the catalog does not know (yet).
    await storage.pool.query(`UPDATE buildings SET area_m2 = NULL WHERE key = 'gymnase'`);
    // The town hall's electricity bills: 620 € from 2025-12-01 to 2026-02-01 (62 days, 31 in
    // each year: 310 € in 2026) and 290 € for February 2026: 600 € in 2026, 310 € in 2025.
    await storage.partitions.ensurePartitions(Date.UTC(2025, 10, 1), Date.UTC(2026, 3, 1));
    const { rows } = await storage.pool.query<{ id: string }>(`INSERT INTO utility_runs (via, submitted_by) VALUES ('csv', 'test') RETURNING id`);
    const bill = (from: string, to: string, amountEur: number) => ({
      start: dayStart(from, TZ),
      end: dayStart(to, TZ),
      energy: 'elec' as const,
      kWh: 1000,
      amountEur,
      supplier: 'EDF',
    });
    await new UtilityStore(storage).writeBills(
      'mairie',
      'elec',
      [bill('2025-12-01', '2026-02-01', 620), bill('2026-02-01', '2026-03-01', 290)],
      Number(rows[0]!.id),
    );
    // Visitors received at the town hall: 1,500 + 2,500 = 4,000 in 2026 (December 2025's do not count).
    const serviceData = await ServiceData.open(storage.pool);
    await serviceData.defineSource('accueil-mairie', 'Accueil de la mairie');
    await serviceData.submit({ id: 'agent-1' }, [
      { source: 'accueil-mairie', metric: 'visitors', scope: 'building:mairie', period: '2025-12', value: 999 },
      { source: 'accueil-mairie', metric: 'visitors', scope: 'building:mairie', period: '2026-03', value: 1500 },
      { source: 'accueil-mairie', metric: 'visitors', scope: 'building:mairie', period: '2026-04', value: 2500 },
    ]);
    app = Fastify({ logger: false });
    registerErrors(app);
    app.addHook('onRequest', async (request) => {
      const role = request.headers['x-test-principal'];
      if (typeof role === 'string' && ROLES.includes(role as Role)) request.principal = { id: `${role}-1`, role: role as Role, sites: null };
    });
    registerAccess(app, { pool: storage.pool });
    await app.register(costRoutes, { costs: new Costs({ pool: storage.pool, timezone: TZ }), importBodyLimit: 64 * 1024 });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  const report = async (query: string, role: Role = 'agent') => {
    const response = await app.inject({ url: `/api/costs?${query}`, headers: as(role) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };

  it('prorates by days, exactly, across a year boundary', () => {
    // 26 days from 2025-12-15 to 2026-01-10: 17 in 2025, 9 in 2026.
    expect(prorate(2600, '2025-12-15', '2026-01-10', 2025)).toBe(1700);
    expect(prorate(2600, '2025-12-15', '2026-01-10', 2026)).toBe(900);
    expect(prorate(2600, '2025-12-15', '2026-01-10', 2027)).toBe(0);
    // A leap year whole: its 366 days in it.
    expect(prorate(36_600, '2024-01-01', '2025-01-01', 2024)).toBe(36_600);
  });

  it('imports a file: the two bad rows reported by row and column, the good ones stored', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/costs/import?file=budget-2026.csv', headers: { ...csv, ...as('operator') }, payload: FILE });
    expect(response.statusCode, response.body).toBe(200);
    const summary = response.json();
    expect(summary).toMatchObject({ file: 'budget-2026.csv', delimiter: ';', rows: 6, stored: 4, rowsInError: 2, errorCount: 2 });
    expect(summary.errors).toEqual([
      { row: 5, column: 'début', message: 'row 5, column "début": "2026-13-01" is not a day (expected 2026-01-31 or 31/01/2026)' },
      { row: 6, column: 'montant', message: 'row 6, column "montant": "douze" is not a number' },
    ]);
    const { rows } = await storage.pool.query(
      `SELECT to_char(period_from, 'YYYY-MM-DD') AS f, scope, service, nature, amount_eur::float8 AS eur, import_row FROM budget_lines ORDER BY import_row`,
    );
    expect(rows).toEqual([
      { f: '2026-01-01', scope: 'building:mairie', service: 'accueil', nature: 'staff', eur: 120000, import_row: 2 },
      { f: '2025-12-15', scope: 'building:mairie', service: 'accueil', nature: 'maintenance', eur: 2600, import_row: 3 },
      { f: '2026-01-01', scope: 'site:centre', service: 'entretien', nature: 'maintenance', eur: 3000.5, import_row: 4 },
      { f: '2026-06-01', scope: 'city', service: 'eclairage-public', nature: 'energy', eur: -500, import_row: 7 },
    ]);
    const imports = await app.inject({ url: '/api/costs/imports', headers: as('director') });
    expect(imports.json().imports[0]).toMatchObject({ id: summary.id, file: 'budget-2026.csv', submittedBy: 'operator-1', rows: 6, stored: 4, errorCount: 2 });
  });

  it('counts the utility bills as energy spending, prorated by days', async () => {
    const r2026 = await report('year=2026&scope=building:mairie&service=energie');
    expect(r2026.spending).toEqual([{ scope: 'building:mairie', service: 'energie', nature: 'energy', source: 'bills', amountEur: 600 }]);
    const r2025 = await report('year=2025&scope=building:mairie');
    expect(r2025.spending).toEqual([
      { scope: 'building:mairie', service: 'accueil', nature: 'maintenance', source: 'budget', amountEur: 1700 },
      { scope: 'building:mairie', service: 'energie', nature: 'energy', source: 'bills', amountEur: 310 },
    ]);
  });

  it('gives € per m² and € per visitor received once the service names its metric', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/api/costs/units',
      headers: as('director'),
      payload: { units: [{ service: 'accueil', metric: 'visitors', unit: 'visiteur reçu' }] },
    });
    expect(put.statusCode, put.body).toBe(200);
    // The town hall in 2026: reception 120,000 + 900 = 120,900 € over 2,000 m² = 60.45 €/m²,
    // and over 4,000 visitors = 30.225 € each; energy 600 € = 0.30 €/m²; in all 121,500 € = 60.75 €/m².
    const mairie = await report('year=2026&scope=building:mairie');
    expect(mairie).toMatchObject({ areaM2: 2000, totalEur: 121_500, eurPerM2: 60.75, buildingsWithoutArea: [] });
    expect(mairie.services).toEqual([
      { service: 'accueil', amountEur: 120_900, eurPerM2: 60.45, perUnit: { metric: 'visitors', unit: 'visiteur reçu', quantity: 4000, eurPerUnit: 30.225 } },
      { service: 'energie', amountEur: 600, eurPerM2: 0.3, perUnit: null },
    ]);
    // The site centre holds the town hall and the school (3,000 m²) and its own contract:
    // 120,900 + 600 + 3,000.50 = 124,500.50 €; reception 120,900 / 3,000 = 40.30 €/m².
    const centre = await report('year=2026&scope=site:centre');
    expect(centre).toMatchObject({ areaM2: 3000, totalEur: 124_500.5 });
    expect(centre.services[0]).toEqual({
      service: 'accueil',
      amountEur: 120_900,
      eurPerM2: 40.3,
      perUnit: { metric: 'visitors', unit: 'visiteur reçu', quantity: 4000, eurPerUnit: 30.225 },
    });
    // The city adds the lighting credit (−500 €); the gymnasium has no area: its m² do not count.
    const city = await report('year=2026', 'elected');
    expect(city).toMatchObject({ scope: 'city', areaM2: 3000, totalEur: 124_000.5, buildingsWithoutArea: ['gymnase'] });
  });

  it('refuses anonymous callers, lets an agent read but not import', async () => {
    expect((await app.inject({ url: '/api/costs?year=2026' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/costs?year=2026', headers: as('agent') })).statusCode).toBe(200);
    const importing = await app.inject({ method: 'POST', url: '/api/costs/import', headers: { ...csv, ...as('agent') }, payload: FILE });
    expect(importing.statusCode).toBe(403);
    const naming = await app.inject({ method: 'PUT', url: '/api/costs/units', headers: as('agent'), payload: { units: [] } });
    expect(naming.statusCode).toBe(403);
  });

  it('answers a bad question with what was expected, never a 5xx', async () => {
    const noYear = await app.inject({ url: '/api/costs', headers: as('agent') });
    expect(noYear.statusCode).toBe(400);
    expect(noYear.json()).toMatchObject({ code: 'COSTS_REQUEST_INVALID', error: expect.stringContaining('year') });
    const unknown = await app.inject({ url: '/api/costs?year=2026&scope=building:nowhere', headers: as('agent') });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toBe('scope: "building:nowhere" is not a building of the catalog');
    const noHeader = await app.inject({ method: 'POST', url: '/api/costs/import', headers: { ...csv, ...as('operator') }, payload: 'a;b\n1;2\n' });
    expect(noHeader.statusCode).toBe(400);
    expect(noHeader.json()).toMatchObject({ code: 'COSTS_FILE_REFUSED', error: expect.stringContaining('the header has no column debut') });
    const twice = await app.inject({
      method: 'PUT',
      url: '/api/costs/units',
      headers: as('operator'),
      payload: { units: [1, 2].map(() => ({ service: 'accueil', metric: 'visitors', unit: 'visiteur' })) },
    });
    expect(twice.statusCode).toBe(400);
    expect((await app.inject({ method: 'DELETE', url: '/api/costs/imports/999999', headers: as('operator') })).statusCode).toBe(404);
  });

  it('reads a Windows-1252 file with commas, and withdraws an import with its lines', async () => {
    const text = 'Début,Fin,Périmètre,Service,Nature,Montant (€),Libellé\r\n2026-01-01,2026-02-01,ecole,entretien,autre,"12,5",Réparation\r\n';
    const response = await app.inject({
      method: 'POST',
      url: '/api/costs/import',
      headers: { ...csv, ...as('operator') },
      payload: Buffer.from(text, 'latin1'),
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ delimiter: ',', stored: 1, errorCount: 0 });
    const { rows } = await storage.pool.query(`SELECT scope, nature, amount_eur::float8 AS eur, label FROM budget_lines WHERE import_id = $1`, [
      response.json().id,
    ]);
    expect(rows).toEqual([{ scope: 'building:ecole', nature: 'other', eur: 12.5, label: 'Réparation' }]);
    const removed = await app.inject({ method: 'DELETE', url: `/api/costs/imports/${response.json().id}`, headers: as('operator') });
    expect(removed.json()).toEqual({ lines: 1 });
    expect((await storage.pool.query(`SELECT 1 FROM budget_lines WHERE import_id = $1`, [response.json().id])).rowCount).toBe(0);
  });
});
