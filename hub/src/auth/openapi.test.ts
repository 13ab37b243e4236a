import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Operation {
  parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  security?: Record<string, string[]>[];
  'x-roles': string[];
  description: string;
  responses: Record<string, unknown>;
}

describe('hub API: the OpenAPI document', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'openapi');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
    // A route written later: its schema and access declaration are enough.
    app.register(async (api) => {
      api.put(
        '/api/objectives/:id',
        {
          config: { access: { roles: ['operator'] } },
          schema: {
            summary: 'Change an objective',
            params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
            body: { type: 'object' },
          },
        },
        async () => ({}),
      );
    });
    const response = await app.inject({ url: '/api/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    doc = JSON.parse(response.body);
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('is an OpenAPI 3 document of every route, served whole', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/',
      '/api/accounts',
      '/api/accounts/{username}',
      '/api/audit',
      '/api/buildings',
      '/api/buildings/{key}',
      '/api/completeness',
      '/api/costs',
      '/api/costs/import',
      '/api/costs/imports',
      '/api/costs/imports/{id}',
      '/api/costs/units',
      '/api/fleet/plugins',
      '/api/objectives/{id}',
      '/api/open-data',
      '/api/open-data/catalog.jsonld',
      '/api/open-data/catalog.ttl',
      '/api/open-data/datasets/{id}',
      '/api/open-data/datasets/{id}/data.csv',
      '/api/open-data/datasets/{id}/data.json',
      '/api/open-data/datasets/{id}/rows',
      '/api/open-data/datasets/{id}/schema.json',
      '/api/open-data/points',
      '/api/open-data/publisher',
      '/api/open-data/settings',
      '/api/openapi.json',
      '/api/session',
      '/api/session/oidc/callback',
      '/api/session/oidc/start',
      '/api/status',
      '/healthz',
      '/metrics',
    ]);
    // Its response schema lets every property through.
    expect(doc).toEqual(JSON.parse(JSON.stringify(app.swagger())));
  });

  it('lists the parameters of /api/completeness and its responses', () => {
    const operation = doc.paths['/api/completeness']!.get!;
    expect(operation.parameters!.map((p) => [p.name, p.in, p.required])).toEqual([
      ['by', 'query', false],
      ['step', 'query', false],
      ['from', 'query', true],
      ['to', 'query', true],
      ['timezone', 'query', false],
    ]);
    expect(operation.parameters![0]!.schema).toEqual({ type: 'string', enum: ['point', 'building'], default: 'building' });
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '401', '429', '500', '503']);
  });

  it('documents the bearer and session schemes and the roles of each route', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.sessionCookie).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'cp_session' });
    expect(doc.components.securitySchemes.csrfToken).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-csrf-token' });
    const audit = doc.paths['/api/audit']!.get!;
    expect(audit['x-roles']).toEqual(['operator', 'admin']);
    expect(audit.security).toEqual([{ bearerAuth: [] }, { sessionCookie: [] }]);
    expect(audit.description).toMatch(/Roles: operator, admin\.$/);
    expect(Object.keys(audit.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
    const later = doc.paths['/api/objectives/{id}']!.put!;
    expect(later['x-roles']).toEqual(['operator', 'admin']);
    // A write with the session cookie needs the CSRF header too.
    expect(later.security).toEqual([{ bearerAuth: [] }, { sessionCookie: [], csrfToken: [] }]);
    expect((later.responses['403'] as { description: string }).description).toMatch(/x-csrf-token/);
    expect(doc.paths['/api/accounts/{username}']!.put!['x-roles']).toEqual(['admin']);
    for (const path of ['/healthz', '/metrics', '/api/status', '/api/buildings', '/api/completeness']) {
      const operation = doc.paths[path]!.get!;
      expect(operation['x-roles'], path).toEqual(['public']);
      expect(operation.security, path).toBeUndefined();
      expect(operation.responses['200'], path).toBeDefined();
    }
  });

  it('leaves the answers of the documented routes as they were', async () => {
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('# TYPE citypilot_hub_samples_inserted_total counter');
    const page = await app.inject({ url: '/' });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toMatch(/^<!doctype html>/);
    expect((await app.inject({ url: '/api/status' })).json()).toEqual({
      storage: { mode: storage.mode, detail: storage.modeDetail },
      gateways: [],
      points: [],
    });
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok', database: 'ok', nats: 'ok', storage: storage.mode });
  });
});
