import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerAccess } from '../auth/access.js';
import { ROLES, type Role } from '../auth/principal.js';
import { importCatalog } from '../storage/catalog.js';
import { migrate } from '../storage/migrations.js';
import { createTestDatabase } from '../testing/index.js';
import { serviceDataRoutes } from './routes.js';
import { ServiceData } from './service-data.js';

/** Test-only authentication: `x-test-principal: <role>:<id>` becomes the request's principal. */
function withTestPrincipal(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const header = request.headers['x-test-principal'];
    if (typeof header !== 'string') return;
    const [role, id] = header.split(':') as [Role, string];
    if (!ROLES.includes(role)) throw new Error(`test principal with an unknown role ${role}`);
    request.principal = { id, role, sites: null };
  });
}

const as = (role: Role, id = `${role}-1`) => ({ 'x-test-principal': `${role}:${id}` });
const json = { 'content-type': 'application/json' };
const csv = { 'content-type': 'text/csv' };

describe('service-data routes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let app: FastifyInstance;
  const count = async () => Number((await pool.query('SELECT count(*) FROM service_values')).rows[0].count);

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'service_data_routes');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const client = await pool.connect();
    try {
      await migrate(client, { timescale: false, timezone: 'Europe/Paris' });
    } finally {
      client.release();
    }
    await importCatalog(pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [{ id: 'centre', name: 'Centre', buildings: [{ id: 'town-hall', name: 'Hôtel de ville', usage: 'town-hall', area: 3000 }] }],
    });
    app = Fastify({ logger: false });
    withTestPrincipal(app);
    registerAccess(app, { pool });
    await app.register(serviceDataRoutes, { serviceData: await ServiceData.open(pool) });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  const value = { source: 'reception-town-hall', metric: 'reception.wait_minutes', scope: 'building:town-hall', period: '2026-10-12', value: 14 };

  it('lets an operator define a source with its mapping, and no one else', async () => {
    const body = {
      name: "Accueil de l'hôtel de ville",
      mapping: { period: 'date', scope: 'building:town-hall', columns: { attente: 'reception.wait_minutes' } },
    };
    const url = '/api/service-data/sources/reception-town-hall';
    const anonymous = await app.inject({ method: 'PUT', url, headers: json, payload: body });
    expect([anonymous.statusCode, anonymous.json()]).toEqual([401, { error: 'this needs a token with the role operator' }]);
    const byAgent = await app.inject({ method: 'PUT', url, headers: { ...json, ...as('agent') }, payload: body });
    expect([byAgent.statusCode, byAgent.json()]).toEqual([403, { error: 'an agent token may not do this: it needs the role operator' }]);
    const created = await app.inject({ method: 'PUT', url, headers: { ...json, ...as('operator') }, payload: body });
    expect(created.statusCode).toBe(201);
    expect(created.json().source).toMatchObject({ key: 'reception-town-hall', name: body.name, mapping: body.mapping });
    // Renamed: the mapping left out is kept.
    const renamed = await app.inject({ method: 'PUT', url, headers: { ...json, ...as('operator') }, payload: { name: 'Accueil' } });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().source).toMatchObject({ name: 'Accueil', mapping: body.mapping });
    const bad = await app.inject({
      method: 'PUT',
      url: '/api/service-data/sources/Reception',
      headers: { ...json, ...as('operator') },
      payload: { name: 'x', mapping: { period: 'd' } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues).toEqual([
      { path: 'key', message: 'expected a source key of lowercase letters, digits, - and _ (such as reception-town-hall), got "Reception"' },
    ]);
    const listed = await app.inject({ url: '/api/service-data/sources', headers: as('agent') });
    expect(listed.json().sources.map((s: { key: string }) => s.key)).toEqual(['reception-town-hall']);
  });

  it('refuses values from an anonymous caller (401) and a director (403), takes them from an agent', async () => {
    const payload = { values: [value] };
    const anonymous = await app.inject({ method: 'POST', url: '/api/service-data', headers: json, payload });
    expect([anonymous.statusCode, anonymous.json()]).toEqual([401, { error: 'this needs a token with the role agent or operator' }]);
    // The role is checked before the body is even read.
    const anonymousGarbage = await app.inject({ method: 'POST', url: '/api/service-data', headers: json, payload: '{"values": [' });
    expect(anonymousGarbage.statusCode).toBe(401);
    const director = await app.inject({ method: 'POST', url: '/api/service-data', headers: { ...json, ...as('director') }, payload });
    expect([director.statusCode, director.json()]).toEqual([403, { error: 'a director token may not do this: it needs the role agent or operator' }]);
    expect(await count()).toBe(0);
    const agent = await app.inject({ method: 'POST', url: '/api/service-data', headers: { ...json, ...as('agent', 'token-17') }, payload });
    expect(agent.statusCode).toBe(200);
    expect(agent.json()).toMatchObject({
      stored: [{ ...value, granularity: 'day', submittedBy: 'token-17', via: 'api', supersededAt: null }],
      superseded: [],
      unchanged: [],
    });
    expect(await count()).toBe(1);
  });

  it('refuses values of a site or building the catalog does not have, unless told to keep them', async () => {
    const before = await count();
    const values = [value, { ...value, scope: 'site:nowhere' }, { ...value, scope: 'city' }];
    const refused = await app.inject({ method: 'POST', url: '/api/service-data', headers: { ...json, ...as('agent') }, payload: { values } });
    expect([refused.statusCode, refused.json().code, refused.json().issues]).toEqual([
      400,
      'SERVICE_VALUES_INVALID',
      [{ path: 'values[1].scope', message: '"site:nowhere" is not a site of the catalog (send them with unknownScopes=keep to store it all the same)' }],
    ]);
    expect(await count()).toBe(before);
    const kept = await app.inject({
      method: 'POST',
      url: '/api/service-data?unknownScopes=keep',
      headers: { ...json, ...as('agent') },
      payload: { values: [{ ...value, scope: 'site:nowhere', period: '2026-01-05' }] },
    });
    expect([kept.statusCode, kept.json().stored.length]).toEqual([200, 1]);
    await pool.query(`DELETE FROM service_values WHERE scope = 'site:nowhere'`);
  });

  it('rejects bad JSON values with the reason and stores none of them', async () => {
    const before = await count();
    const post = (payload: unknown, headers: Record<string, string> = json) =>
      app.inject({ method: 'POST', url: '/api/service-data', headers: { ...headers, ...as('agent') }, payload: payload as string });
    const typed = await post({
      values: [
        { ...value, period: '2026-10-13' },
        { ...value, value: null },
        { ...value, metric: 'Wait', valeur: 3 },
      ],
    });
    expect(typed.statusCode).toBe(400);
    expect(typed.json()).toEqual({
      error: expect.any(String),
      code: 'SERVICE_REQUEST_INVALID',
      issues: [
        { path: 'values[1].value', message: 'expected a finite number, got null' },
        { path: 'values[2].valeur', message: 'is not a known setting (check its spelling and indentation)' },
        {
          path: 'values[2].metric',
          message: 'expected a metric of lowercase letters, digits and _, in parts separated by dots (such as calls.answered), got "Wait"',
        },
      ],
    });
    // What the schema cannot say: a day that does not exist, a value given twice, an unknown source.
    const semantic = await post({ values: [{ ...value, period: '2026-02-29' }, value, value] });
    expect([semantic.statusCode, semantic.json().code, semantic.json().error]).toEqual([
      400,
      'SERVICE_VALUES_INVALID',
      'values[0].period: "2026-02-29" is not a date\nvalues[2]: the same source, metric, scope and period as values[1]: give each value once',
    ]);
    const unknown = await post({ values: [{ ...value, source: 'parking-centre' }] });
    expect([unknown.statusCode, unknown.json().error]).toEqual([400, 'values[0].source: no source "parking-centre" is defined (an operator defines sources)']);
    const empty = await post({ values: [] });
    expect([empty.statusCode, empty.json().error]).toEqual([400, 'values: expected a list of 1 to 10000 item(s), got []']);
    const malformed = await post('{"values": [', json);
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toMatch(/JSON/);
    expect(await count()).toBe(before);
  });

  it('imports a CSV file with the saved mapping: 200 with the counts of values stored, superseded and rows in error', async () => {
    const file = 'date;attente\r\n12/10/2026;12,5\r\n13/10/2026;douze\r\n14/10/2026;9\r\n';
    const response = await app.inject({
      method: 'POST',
      url: '/api/service-data/import?source=reception-town-hall&file=octobre.csv',
      headers: { ...csv, ...as('agent', 'token-18') },
      payload: file,
    });
    expect(response.statusCode).toBe(200);
    const result = response.json();
    expect(result).toEqual({
      source: 'reception-town-hall',
      file: 'octobre.csv',
      delimiter: ';',
      rows: 3,
      stored: 2,
      superseded: 1,
      unchanged: 0,
      rowsInError: 1,
      errorCount: 1,
      errors: [{ row: 3, column: 'attente', message: 'row 3, column "attente": "douze" is not a number' }],
      mappingSaved: false,
    });

    const history = await app.inject({
      url: '/api/service-data/history?source=reception-town-hall&metric=reception.wait_minutes&scope=building:town-hall&period=2026-10-12',
      headers: as('director'),
    });
    expect(history.statusCode).toBe(200);
    expect(history.json().versions.map((v: { value: number; submittedBy: string; file: string | null }) => [v.value, v.submittedBy, v.file])).toEqual([
      [14, 'token-17', null],
      [12.5, 'token-18', 'octobre.csv'],
    ]);
    // The agent who corrects a value sees what the correction replaced; an elected official reads results, not entries.
    const byAgent = await app.inject({
      url: '/api/service-data/history?source=reception-town-hall&metric=reception.wait_minutes&scope=building:town-hall&period=2026-10-12',
      headers: as('agent'),
    });
    expect(byAgent.statusCode).toBe(200);
    const forbidden = await app.inject({
      url: '/api/service-data/history?source=reception-town-hall&metric=visitors&scope=city&period=2026-10',
      headers: as('elected'),
    });
    expect(forbidden.statusCode).toBe(403);
  });

  it('answers 400 with the reason when a whole file is refused, and stores nothing', async () => {
    const before = await count();
    const post = (query: string, payload: string | Buffer, headers: Record<string, string> = csv) =>
      app.inject({ method: 'POST', url: `/api/service-data/import?${query}`, headers: { ...headers, ...as('operator') }, payload });
    const missing = await post('source=reception-town-hall', 'jour;attente\n2026-10-01;3\n');
    expect([missing.statusCode, missing.json().code, missing.json().error]).toEqual([
      400,
      'CSV_FILE_REFUSED',
      'the header has no column "date", which the mapping gives for the period (the header, split at ";", is: "jour" ; "attente"); nothing was imported',
    ]);
    const empty = await post('source=reception-town-hall', '');
    expect([empty.statusCode, empty.json().error]).toEqual([400, 'the file is empty; nothing was imported']);
    const badMapping = await post('source=reception-town-hall&mapping={"period":', 'date\n2026-10-01\n');
    expect([badMapping.statusCode, badMapping.json().error]).toEqual([400, 'mapping: is not JSON: "{\\"period\\":"']);
    const noSource = await post('file=a.csv', 'date\n');
    expect([noSource.statusCode, noSource.json().error]).toEqual([
      400,
      'source: is required: expected a source key of lowercase letters, digits, - and _ (such as reception-town-hall)',
    ]);
    const asJson = await post('source=reception-town-hall', '{"a":1}', json);
    expect([asJson.statusCode, asJson.json().error]).toEqual([400, 'body: expected the CSV file as the body, with Content-Type text/csv']);
    const unknownScope = await post(
      `source=reception-town-hall&mapping=${encodeURIComponent(JSON.stringify({ period: 'date', scope: 'building:town-hal', columns: { n: 'visitors' } }))}`,
      'date;n\n2026-10-01;3\n',
    );
    expect([unknownScope.statusCode, unknownScope.json().error]).toEqual([
      400,
      'mapping.scope: the scope "building:town-hal" is not a building of the catalog (import with unknownScopes=keep to store it all the same); nothing was imported',
    ]);
    const mixed = await post(
      'source=reception-town-hall',
      Buffer.concat([Buffer.from('date;attente\n01/10/2026;1\n# répété\n'), Buffer.from('02/10/2026;2 # \xe9t\xe9\n', 'latin1')]),
    );
    expect([mixed.statusCode, mixed.json().code]).toEqual([400, 'CSV_FILE_REFUSED']);
    expect(mixed.json().error).toMatch(/^the file is not UTF-8 throughout/);
    const asImage = await post('source=reception-town-hall', 'GIF89a', { 'content-type': 'image/gif' });
    expect([asImage.statusCode, asImage.json().error]).toEqual([
      415,
      'Content-Type "image/gif" is not accepted here: send a CSV file (text/csv, text/plain, application/vnd.ms-excel)',
    ]);
    expect(await count()).toBe(before);
  });

  it('reads a file saved by Excel in Windows-1252 with a one-off mapping, and saves that mapping when an operator asks, never an agent', async () => {
    const mapping = JSON.stringify({ period: 'période', scope: 'building:town-hall', columns: { visiteurs: 'visitors' } });
    const body = Buffer.from('période;visiteurs\r\n10/2026;2400\r\n', 'latin1');
    const saved = async () => (await app.inject({ url: '/api/service-data/sources', headers: as('agent') })).json().sources[0].mapping;
    const before = await saved();
    const upload = (role: Role) =>
      app.inject({
        method: 'POST',
        url: `/api/service-data/import?source=reception-town-hall&file=visiteurs.csv&saveMapping=true&mapping=${encodeURIComponent(mapping)}`,
        headers: { 'content-type': 'application/vnd.ms-excel', ...as(role) },
        payload: body,
      });
    const byAgent = await upload('agent');
    expect([byAgent.statusCode, byAgent.json().code]).toEqual([403, 'MAPPING_SAVE_FORBIDDEN']);
    expect(byAgent.json().error).toMatch(
      /^saveMapping: an agent token may not save a source's mapping \(the role operator may, through PUT \/api\/service-data\/sources\/reception-town-hall\)/,
    );
    expect(await saved()).toEqual(before);
    const response = await upload('operator');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ errors: [], mappingSaved: true, stored: 1 });
    expect(await saved()).toEqual(JSON.parse(mapping));
    const stored = await app.inject({ url: '/api/service-data?metric=visitors&scope=building:town-hall', headers: as('agent') });
    expect(stored.json().values).toMatchObject([{ metric: 'visitors', period: '2026-10', granularity: 'month', value: 2400, file: 'visiteurs.csv' }]);
  });

  it('lists current values to the roles that read them, filtered by metric, scope and period', async () => {
    const url = '/api/service-data?metric=reception.wait_minutes&scope=building:town-hall&from=2026-10-01&to=2026-10-13';
    expect((await app.inject({ url })).statusCode).toBe(401);
    expect((await app.inject({ url, headers: as('technician') })).statusCode).toBe(403);
    for (const role of ['director', 'elected', 'operator', 'agent'] as const) {
      const response = await app.inject({ url, headers: as(role) });
      expect(response.statusCode).toBe(200);
      expect(response.json().values.map((v: { period: string; value: number }) => [v.period, v.value])).toEqual([['2026-10-12', 12.5]]);
      expect(response.json().truncated).toBe(false);
    }
    const limited = await app.inject({ url: '/api/service-data?limit=1', headers: as('agent') });
    expect([limited.json().values.length, limited.json().truncated]).toEqual([1, true]);
    const bad = await app.inject({ url: '/api/service-data?from=last-monday&limit=0', headers: as('agent') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().issues.map((i: { path: string }) => i.path)).toEqual(['from', 'limit']);
  });
});
