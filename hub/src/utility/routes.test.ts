import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerAccess } from '../auth/access.js';
import { ROLES, type Role } from '../auth/principal.js';
import { registerErrors } from '../http/errors.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { UtilityConnectors } from './connectors.js';
import { UtilityImports } from './import-files.js';
import { utilityRoutes } from './routes.js';
import { SecretBox } from './secrets.js';
import { UtilityStore } from './store.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const as = (role: Role) => ({ 'x-test-principal': role });
const csv = { 'content-type': 'text/csv' };
const fixture = (name: string) => readFileSync(new URL(`../../src/utility/imports/fixtures/${name}`, import.meta.url));

/** The utility API over HTTP: configuration by operators, imports of the utilities' files. */
describe('utility routes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;

  async function samples(gateway: string, point: string): Promise<[string, number, string | null][]> {
    const { rows } = await storage.pool.query(
      `SELECT s.time, s.value, s.reason FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = $2 ORDER BY s.time`,
      [gateway, point],
    );
    return rows.map((r) => [r.time.toISOString(), r.value, r.reason]);
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'utility_routes');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await importCatalog(storage.pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [
        {
          id: 'centre',
          name: 'Centre',
          buildings: [
            { id: 'hotel-de-ville', name: 'Hôtel de ville', usage: 'town-hall', area: 3000 },
            { id: 'ecole', name: 'École', usage: 'school', area: 1500 },
          ],
        },
      ],
    });
    const store = new UtilityStore(storage);
    const connectors = new UtilityConnectors({
      pool: storage.pool,
      store,
      timezone: 'Europe/Paris',
      logger: quiet,
      clients: () => {
        throw new Error('not collected in this test');
      },
      secrets: SecretBox.fromBase64(Buffer.alloc(32, 1).toString('base64')),
    });
    const imports = new UtilityImports({ pool: storage.pool, store, connectors, timezone: 'Europe/Paris' });
    app = Fastify({ logger: false });
    registerErrors(app);
    app.addHook('onRequest', async (request) => {
      const role = request.headers['x-test-principal'];
      if (typeof role === 'string' && ROLES.includes(role as Role)) request.principal = { id: `${role}-1`, role: role as Role, sites: null };
    });
    registerAccess(app, { pool: storage.pool });
    await app.register(utilityRoutes, { connectors, imports, importBodyLimit: 1024 * 1024, publicUrl: 'https://tableau.ville.example' });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('lets an operator set up a connector whose secret is never shown again, and no one else', async () => {
    const body = { kind: 'enedis', name: 'Enedis', baseUrl: 'https://gw.ext.prod.api.enedis.fr', clientId: 'app', clientSecret: 's3cr3t-value' };
    const refused = await app.inject({ method: 'PUT', url: '/api/utility/connectors/enedis', headers: as('director'), payload: body });
    expect(refused.statusCode).toBe(403);
    const saved = await app.inject({ method: 'PUT', url: '/api/utility/connectors/enedis', headers: as('operator'), payload: body });
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json()).toMatchObject({ key: 'enedis', hasSecret: true, enabled: true, collectHour: 7, lookbackDays: 7, lastRun: null });
    expect(saved.body).not.toContain('s3cr3t-value');
    // Changed without a secret: the stored one stays.
    const renamed = await app.inject({
      method: 'PUT',
      url: '/api/utility/connectors/enedis',
      headers: as('operator'),
      payload: { ...body, clientSecret: undefined, name: 'Enedis (ville)' },
    });
    expect(renamed.json()).toMatchObject({ name: 'Enedis (ville)', hasSecret: true });
    const listed = await app.inject({ url: '/api/utility/connectors', headers: as('operator') });
    expect(listed.body).not.toContain('s3cr3t-value');
    const bad = await app.inject({ method: 'PUT', url: '/api/utility/connectors/enedis', headers: as('operator'), payload: { ...body, collectHour: 25 } });
    expect(bad.statusCode).toBe(400);
    // The consent page's address: kept when a change leaves it out, removed with null.
    const put = (payload: object) => app.inject({ method: 'PUT', url: '/api/utility/connectors/enedis', headers: as('operator'), payload });
    const customerSpace = 'https://mon-compte-particulier.enedis.fr';
    expect((await put({ ...body, clientSecret: undefined, authorizeUrl: customerSpace })).json().authorizeUrl).toBe(customerSpace);
    expect((await put({ ...body, clientSecret: undefined })).json().authorizeUrl).toBe(customerSpace);
    expect((await put({ ...body, clientSecret: undefined, authorizeUrl: null })).json().authorizeUrl).toBeNull();
  });

  it('sends a customer back from the consent page to the utility meters page, saying what went wrong', async () => {
    const unknown = await app.inject({ url: '/api/utility/consent/callback?state=forged&usage_point_id=09111642617347' });
    expect(unknown.statusCode).toBe(303);
    expect(unknown.headers.location).toMatch(/^\/gestion\/compteurs\?consentement=refuse&raison=this%20consent%20link%20was%20not%20asked/);
    const refused = await app.inject({ url: '/api/utility/consent/callback?error=access_denied' });
    expect(refused.headers.location).toBe('/gestion/compteurs?consentement=refuse&raison=access_denied');
  });

  it('links delivery points to buildings, checking each', async () => {
    const put = (utility: string, id: string, payload: object) =>
      app.inject({ method: 'PUT', url: `/api/utility/delivery-points/${utility}/${id}`, headers: as('operator'), payload });
    expect((await put('enedis', '123', { energy: 'elec', building: 'ecole', since: '2024-01-01' })).json()).toMatchObject({ code: 'UTILITY_INVALID' });
    expect((await put('enedis', '09111642617347', { energy: 'elec', building: 'nowhere', since: '2024-01-01' })).json().error).toMatch(/no building nowhere/);
    expect((await put('enedis', '09111642617347', { energy: 'elec', building: 'ecole', since: '2024-02-30' })).json().error).toMatch(/not a day/);
    const linked = await put('enedis', '09111642617347', { energy: 'elec', building: 'ecole', since: '2024-01-01', connector: 'enedis' });
    expect(linked.statusCode, linked.body).toBe(200);
    expect(linked.json()).toMatchObject({ utility: 'enedis', id: '09111642617347', building: 'ecole', source: 'utility:enedis:09111642617347' });
    expect((await put('grdf', '22423299474865', { energy: 'gas', building: 'hotel-de-ville', since: '2020-01-01' })).statusCode).toBe(200);
    // Gas readings cannot become electricity ones.
    expect((await put('grdf', '22423299474865', { energy: 'elec', building: 'hotel-de-ville', since: '2020-01-01' })).statusCode).toBe(400);
    // Nor can a connector collecting a Linky become a GRDF one.
    const kind = await app.inject({
      method: 'PUT',
      url: '/api/utility/connectors/enedis',
      headers: as('operator'),
      payload: { kind: 'grdf', name: 'GRDF', baseUrl: 'https://api.grdf.fr', clientId: 'app' },
    });
    expect(kind.statusCode).toBe(400);
    expect(kind.json().error).toMatch(/collects delivery points of another utility \(09111642617347\)/);
  });

  it("gives an operator Enedis's consent page for a delivery point, sending the customer back to the hub's public address", async () => {
    const asked = await app.inject({
      method: 'POST',
      url: '/api/utility/connectors/enedis/consents',
      headers: as('operator'),
      payload: { deliveryPoint: '09111642617347' },
    });
    expect(asked.statusCode, asked.body).toBe(200);
    const url = new URL(asked.json().url);
    expect(`${url.origin}${url.pathname}`).toBe('https://gw.ext.prod.api.enedis.fr/dataconnect/v1/oauth2/authorize');
    expect(url.searchParams.get('redirect_uri')).toBe('https://tableau.ville.example/api/utility/consent/callback');
    expect(url.searchParams.get('duration')).toBe('P1Y');
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{32}$/);
    const other = await app.inject({
      method: 'POST',
      url: '/api/utility/connectors/enedis/consents',
      headers: as('operator'),
      payload: { deliveryPoint: '30001610071843' },
    });
    expect(other.statusCode).toBe(400);
    expect(other.json().error).toMatch(/not a delivery point of connector enedis/);
  });

  it("imports Enedis's export, once however often it is sent, and says which PRM it could not place", async () => {
    const file = fixture('enedis-mes-donnees.csv');
    const first = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=enedis&file=mes-donnees.csv',
      headers: { ...csv, ...as('operator') },
      payload: file,
    });
    expect(first.statusCode, first.body).toBe(200);
    const run = first.json();
    expect(run).toMatchObject({ via: 'csv', format: 'enedis', fileName: 'mes-donnees.csv', submittedBy: 'operator-1', ok: true });
    expect(run.inserted).toBeGreaterThan(0);
    expect(run.inserted).toBe(run.readings);
    const again = await app.inject({ method: 'POST', url: '/api/utility/imports?format=enedis', headers: { ...csv, ...as('operator') }, payload: file });
    expect(again.json()).toMatchObject({ inserted: 0, corrected: 0, unchanged: run.readings });
    // The M023 file's PRM is linked to no building: said once, nothing of it stored.
    const other = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=enedis',
      headers: { ...csv, ...as('operator') },
      payload: fixture('enedis-m023.csv'),
    });
    const unplaced = other.json().errors.filter((e: { deliveryPoint?: string }) => e.deliveryPoint);
    // The file holds two PRMs, each said once.
    expect(unplaced).toEqual([
      { deliveryPoint: '30001610071843', message: expect.stringMatching(/^PRM 30001610071843 is not linked to a building/) },
      { deliveryPoint: '30001610071844', message: expect.stringMatching(/^PRM 30001610071844 is not linked to a building/) },
    ]);
    expect(other.json().inserted).toBe(0);
  });

  it('keeps the good rows of a file and lists the bad ones by line and column', async () => {
    const text = [
      'Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes',
      '09111642617347;Courbe de charge;02/03/2026;03/03/2026;Energie active;Consommation;Comptage Brut;W;30',
      '',
      'Horodate;Valeur',
      '2026-03-02T00:30:00+01:00;1200',
      '2026-03-02T01:00:00+01:00;12,5x',
      '2026-03-02T01:30:00+01:00;1300',
    ].join('\n');
    const response = await app.inject({ method: 'POST', url: '/api/utility/imports?format=enedis', headers: { ...csv, ...as('operator') }, payload: text });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ ok: true, inserted: 2, errorCount: 1, errors: [{ row: 6, column: 'Valeur', message: expect.any(String) }] });
    expect(await samples('utility:enedis:09111642617347', 'power')).toEqual(
      expect.arrayContaining([
        ['2026-03-01T23:00:00.000Z', 1.2, null],
        ['2026-03-02T00:00:00.000Z', 1.3, null],
      ]),
    );
  });

  it('refuses a file of another format whole, and a caller who is not an operator', async () => {
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=enedis',
      headers: { ...csv, ...as('operator') },
      payload: 'a;b;c\n1;2;3\n',
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().code).toBe('IMPORT_FILE_REFUSED');
    const agent = await app.inject({ method: 'POST', url: '/api/utility/imports?format=enedis', headers: { ...csv, ...as('agent') }, payload: 'x' });
    expect(agent.statusCode).toBe(403);
    const format = await app.inject({ method: 'POST', url: '/api/utility/imports?format=edf', headers: { ...csv, ...as('operator') }, payload: 'x' });
    expect(format.statusCode).toBe(400);
    const big = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=enedis',
      headers: { ...csv, ...as('operator') },
      payload: Buffer.alloc(2 * 1024 * 1024, 65),
    });
    expect(big.statusCode).toBe(413);
  });

  it("imports GRDF's gas in kWh, with the volume and coefficient it came from", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=grdf',
      headers: { ...csv, ...as('operator') },
      payload: fixture('grdf-journalier.csv'),
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().inserted).toBeGreaterThan(0);
    const gas = await samples('utility:grdf:22423299474865', 'consumption');
    expect(gas.length).toBe(response.json().inserted);
    expect(gas.some(([, , reason]) => reason !== null && /m³ × [\d.]+ kWh\/m³/.test(reason))).toBe(true);
  });

  it('imports bill lines: the lines of one period add up, and the indexes spread them over the months', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/utility/imports?format=bills',
      headers: { ...csv, ...as('operator') },
      payload: fixture('factures.csv'),
    });
    expect(response.statusCode, response.body).toBe(200);
    const run = response.json();
    // The electricity lines of March 2026 (12,480 and 4,020 kWh) make one period.
    expect(await samples('utility:bills:ecole-elec', 'billed-energy')).toEqual([
      ['2026-02-28T23:00:00.000Z', 16500, 'EDF, invoice F-2026-0001, until 2026-03-31T22:00:00.000Z'],
    ]);
    expect(await samples('utility:bills:ecole-elec', 'bill-cost')).toEqual([
      ['2026-02-28T23:00:00.000Z', 0, null],
      ['2026-03-31T22:00:00.000Z', 2827.52, null],
    ]);
    // A line naming no building the catalog has is listed with its line and column.
    for (const e of run.errors) expect(e).toMatchObject({ row: expect.any(Number), message: expect.any(String) });
    const runs = await app.inject({ url: '/api/utility/imports', headers: as('operator') });
    expect(runs.json().runs[0]).toMatchObject({ id: run.id, format: 'bills' });
  });
});
