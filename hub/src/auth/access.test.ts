import Fastify from 'fastify';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { serviceDataReader } from '../objectives/data.js';
import { Objectives } from '../objectives/objectives.js';
import { ServiceData } from '../service-data/index.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, objectiveDefinition, uniqueStreamNames, uniqueSuffix } from '../testing/index.js';
import { AccessDeclarationError, registerAccess } from './access.js';
import { ROLES, type Role } from './principal.js';
import { createToken } from './tokens.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Operation {
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, unknown> };
  'x-roles': string[];
  'x-sites': unknown;
}

/** A plausible value of each parameter the API takes, so that a call gets past its validation to what it does. */
const PLAUSIBLE: Record<string, string> = {
  from: '2026-01-01T00:00:00Z',
  to: '2026-01-02T00:00:00Z',
  year: '2026',
  gateway: 'gw-nord',
  point: 'meter.energy',
  period: '2026-01',
  scope: 'city',
  source: 'reception-nord',
  metric: 'reception.wait_minutes',
  key: 'waiting-nord',
};

describe('hub API: roles and sites, from one declaration', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  let nc: NatsConnection;
  /** Every route the application declared, as `METHOD url`. */
  const declared: string[] = [];
  const tokens: Partial<Record<Role, string>> = {};
  const as = (role: Role) => (role === 'public' ? {} : { authorization: `Bearer ${tokens[role]}` });

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'access');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const serviceData = await ServiceData.open(storage.pool);
    const objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone, services: serviceDataReader(serviceData) });
    nc = await connect({ servers: inject('natsUrl') });
    // The fleet's routes without a validator: nothing is ever pushed to its bucket.
    const fleet = { nc, prefix: uniqueStreamNames('access').prefix, configBucket: `cptest-access-${uniqueSuffix()}` };
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, objectives, serviceData, fleet });
    app.addHook('onRoute', (route) => {
      if (route.method !== 'HEAD') declared.push(`${String(route.method)} ${route.url}`);
    });
    await importCatalog(storage.pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [
        { id: 'nord', name: 'Quartier nord', buildings: [{ id: 'school-nord', name: 'École nord', usage: 'school', area: 1200 }] },
        { id: 'centre', name: 'Centre-ville', buildings: [{ id: 'town-hall', name: 'Hôtel de ville', usage: 'town-hall', area: 3000 }] },
      ],
    });
    await storage.pool.query(`INSERT INTO gateways (id, building_key) VALUES ('gw-nord', 'school-nord'), ('gw-centre', 'town-hall')`);
    await storage.pool.query(
      `INSERT INTO points (gateway_id, point_key, name, interval_ms) VALUES ('gw-nord', 'meter.energy', 'Compteur', 60000), ('gw-centre', 'meter.energy', 'Compteur', 60000)`,
    );
    for (const role of ROLES) {
      if (role === 'public') continue;
      tokens[role] = (
        await createToken(storage.pool, { role, label: `${role} of the test`, ...(role === 'technician' ? { sites: ['nord'] } : {}) }, 'test')
      ).token;
    }
    await serviceData.defineSource('reception-nord', 'Accueil nord');
    const reception = { theme: 'reception', unit: 'min', formula: 'service_avg("reception.wait_minutes")', target: { kind: 'value', value: 10 } };
    for (const [key, scope, published] of [
      ['waiting-nord', { level: 'site', keys: ['nord'] }, false],
      ['waiting-centre', { level: 'site', keys: ['centre'] }, false],
      ['waiting-city', { level: 'city' }, true],
    ] as const) {
      await objectives.define(objectiveDefinition({ ...reception, key, scope, published }), 'test');
    }
    // Results as an evaluation leaves them: the city, then its two sites below it.
    await storage.pool.query(
      `INSERT INTO objective_results (objective_id, scope, parent, level, period, period_start, period_end, value, target, status, complete, computed_at)
       SELECT o.id, s.scope, s.parent, s.level, '2026-01', '2025-12-31T23:00:00Z', '2026-01-31T23:00:00Z', 8, 10, 'green', true, now()
         FROM objectives o, (VALUES ('city', NULL, 'city'), ('site:nord', 'city', 'site'), ('site:centre', 'city', 'site')) AS s(scope, parent, level)
        WHERE o.key = 'waiting-city'`,
    );
  });
  afterAll(async () => {
    await app?.close();
    await nc?.close();
    await storage?.close();
    await db?.drop();
  });

  it('answers every operation with 401 or 403 exactly for the roles its x-roles leave out (admin always allowed)', async () => {
    const doc = (await app.inject({ url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    // Nothing the server answers escapes the document, but the dashboard's bundles (files, not API).
    expect(documented.sort()).toEqual([...new Set(declared)].filter((route) => !route.endsWith(' /assets/*')).sort());
    let calls = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) => PLAUSIBLE[name] ?? 'x');
        const query = (operation.parameters ?? [])
          .filter((p) => p.in === 'query' && p.required)
          .map((p) => `${p.name}=${encodeURIComponent(PLAUSIBLE[p.name] ?? 'x')}`);
        const csv = operation.requestBody?.content['text/csv'] !== undefined;
        for (const role of ROLES) {
          const response = await app.inject({
            method: method.toUpperCase() as 'GET',
            url: query.length ? `${url}?${query.join('&')}` : url,
            headers: { ...as(role), ...(method === 'get' ? {} : { 'content-type': csv ? 'text/csv' : 'application/json' }) },
            ...(method === 'get' ? {} : { payload: csv ? 'date;value\n' : '{}' }),
          });
          calls++;
          const allowed = role === 'admin' || operation['x-roles'].includes('public') || operation['x-roles'].includes(role);
          const where = `${method.toUpperCase()} ${path} as ${role}: ${response.statusCode} ${response.body.slice(0, 200)}`;
          if (allowed) expect([401, 403], where).not.toContain(response.statusCode);
          else expect(response.statusCode, where).toBe(role === 'public' ? 401 : 403);
          expect(response.statusCode, where).toBeLessThan(500);
        }
      }
    }
    expect(calls).toBeGreaterThan(20 * ROLES.length);
  });

  it('documents what a technician may name and what it sees', async () => {
    const doc = (await app.inject({ url: '/api/openapi.json' })).json() as {
      paths: Record<string, Record<string, Operation & { description: string; responses: Record<string, unknown> }>>;
    };
    const series = doc.paths['/api/series']!.get!;
    expect(series['x-sites']).toEqual({ check: ['query.gateway'], filter: false });
    expect(series.description).toMatch(/Sites: a technician token may name only its own sites' gateways \(query\.gateway\), else 403\.$/);
    expect(series.responses['403']).toBeDefined();
    expect(doc.paths['/api/buildings']!.get!['x-sites']).toEqual({ check: [], filter: true });
    expect(doc.paths['/healthz']!.get!['x-sites']).toBe('none');
    // The service-data operations need a token, as the server enforces.
    for (const [path, operations] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/service-data'))) {
      for (const [method, operation] of Object.entries(operations)) expect(operation['x-roles'], `${method} ${path}`).not.toContain('public');
    }
  });

  it("refuses a technician what names another site (403), and leaves other sites' data out of its lists", async () => {
    const technician = as('technician');
    const series = (gateway: string) =>
      app.inject({ url: `/api/series?gateway=${gateway}&point=meter.energy&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`, headers: technician });
    expect((await series('gw-nord')).statusCode).toBe(200);
    const foreign = await series('gw-centre');
    expect([foreign.statusCode, foreign.json()]).toEqual([403, { error: `query.gateway: "gw-centre" is not within this token's sites (nord)` }]);
    // A gateway no building has is no site's: refused too.
    expect((await series('gw-unknown')).statusCode).toBe(403);
    // An operator sees every site.
    expect(
      (await app.inject({ url: '/api/series?gateway=gw-centre&point=meter.energy&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', headers: as('operator') }))
        .statusCode,
    ).toBe(200);

    expect((await app.inject({ url: '/api/buildings', headers: technician })).json().map((b: { id: string }) => b.id)).toEqual(['school-nord']);
    expect((await app.inject({ url: '/api/buildings' })).json().map((b: { id: string }) => b.id)).toEqual(['school-nord', 'town-hall']);
    const status = (await app.inject({ url: '/api/status', headers: technician })).json();
    expect(status.gateways.map((g: { id: string }) => g.id)).toEqual(['gw-nord']);
    expect(status.points.map((p: { gateway: string }) => p.gateway)).toEqual(['gw-nord']);
    const completeness = (by: string) =>
      app.inject({ url: `/api/completeness?by=${by}&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`, headers: technician });
    expect([...new Set((await completeness('building')).json().map((r: { key: string }) => r.key))]).toEqual(['school-nord']);
    expect([...new Set((await completeness('point')).json().map((r: { key: string }) => r.key))]).toEqual(['gw-nord/meter.energy']);
  });

  it('shows a technician the published objectives and the unpublished ones of its own sites, and of those the results of the city and its own sites', async () => {
    const technician = as('technician');
    const keys = (await app.inject({ url: '/api/objectives', headers: technician })).json().map((o: { key: string }) => o.key);
    expect(keys.sort()).toEqual(['waiting-city', 'waiting-nord']);
    expect((await app.inject({ url: '/api/objectives/waiting-centre', headers: technician })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/objectives/waiting-nord', headers: technician })).statusCode).toBe(200);
    // A director sees every objective and every result.
    expect((await app.inject({ url: '/api/objectives', headers: as('director') })).json()).toHaveLength(3);
    expect(
      (await app.inject({ url: '/api/objectives/waiting-city/drilldown?period=2026-01&scope=city', headers: as('director') })).json().children,
    ).toHaveLength(2);

    const results = await app.inject({ url: '/api/objectives/waiting-city/drilldown?period=2026-01&scope=city', headers: technician });
    expect(results.statusCode).toBe(200);
    expect(results.json().children.map((c: { scope: string }) => c.scope)).toEqual(['site:nord']);
    const foreign = await app.inject({ url: '/api/objectives/waiting-city/results?scope=site:centre', headers: technician });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error).toMatch(/query\.scope: "site:centre" is not within this token's sites/);
    const own = await app.inject({ url: '/api/objectives/waiting-city/results?scope=site:nord', headers: technician });
    expect([...new Set(own.json().results.map((r: { scope: string }) => r.scope))]).toEqual(['site:nord']);
  });

  it('refuses to start with a route under /api that declares no access, or lets technicians in without saying what their sites restrict', async () => {
    for (const options of [{}, { config: { access: { roles: ['technician'] as Role[] } } }, { config: { access: { roles: ['root' as Role] } } }]) {
      const bare = Fastify({ logger: false });
      registerAccess(bare, { pool: storage.pool });
      bare.register(async (api) => {
        api.get('/api/forgotten', options, async () => ({}));
      });
      await expect(bare.ready()).rejects.toBeInstanceOf(AccessDeclarationError);
      await bare.close();
    }
  });
});
