import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { ServiceData } from '../service-data/index.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, objectiveDefinition } from '../testing/index.js';
import { serviceDataReader } from './data.js';
import { Objectives } from './objectives.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A reception objective of the city; the key comes from the URL it is PUT to. */
function definition(key: string, published: boolean, overrides: Record<string, unknown> = {}) {
  return objectiveDefinition({
    key,
    theme: 'reception',
    unit: 'min',
    formula: 'service_avg("reception.wait_minutes")',
    scope: { level: 'city' },
    target: { kind: 'value', value: 10 },
    tolerance: 0.2,
    published,
    ...overrides,
  });
}

describe('objectives API with tokens, service data and corrections', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let objectives: Objectives;
  const tokens: Record<string, string> = {};
  const as = (role: string | undefined) => (role ? { authorization: `Bearer ${tokens[role]}` } : {});

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'objectives_api');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const serviceData = await ServiceData.open(storage.pool);
    objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone, services: serviceDataReader(serviceData) });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, objectives, serviceData });
    for (const role of ['operator', 'agent', 'director'])
      tokens[role] = (await createToken(storage.pool, { role, label: `${role} of the test` }, 'test')).token;
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('lets an operator define objectives, never an agent or an anonymous caller, and reports a malformed formula with its column', async () => {
    const put = (key: string, role: string | undefined, body: unknown) =>
      app.inject({ method: 'PUT', url: `/api/objectives/${key}`, headers: as(role), payload: body as object });
    expect((await put('waiting', undefined, definition('waiting', true))).statusCode).toBe(401);
    const agent = await put('waiting', 'agent', definition('waiting', true));
    expect(agent.statusCode).toBe(403);
    expect(agent.json().error).toMatch(/agent token may not do this: it needs the role operator/);
    expect((await put('waiting', 'operator', definition('waiting', true))).statusCode).toBe(201);
    expect((await put('internal', 'operator', definition('internal', false))).statusCode).toBe(201);
    const bad = await put('broken', 'operator', definition('broken', true, { formula: 'service_avg("reception.wait_minutes") * (2' }));
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^formula: column \d+: expected "\)"/);
    expect((await app.inject({ method: 'GET', url: '/api/objectives/broken', headers: as('operator') })).statusCode).toBe(404);
  });

  it('shows an anonymous caller the published objectives only; a director sees them all', async () => {
    const anonymous = await app.inject({ method: 'GET', url: '/api/objectives' });
    expect(anonymous.json().map((o: { key: string }) => o.key)).toEqual(['waiting']);
    expect((await app.inject({ method: 'GET', url: '/api/objectives/internal' })).statusCode).toBe(404);
    const director = await app.inject({ method: 'GET', url: '/api/objectives', headers: as('director') });
    expect(
      director
        .json()
        .map((o: { key: string }) => o.key)
        .sort(),
    ).toEqual(['internal', 'waiting']);
    expect((await app.inject({ method: 'GET', url: '/api/objectives/internal', headers: as('director') })).statusCode).toBe(200);
  });

  it('keeps the good rows of a CSV file with bad ones, and turns a status red when a correction comes in', async () => {
    await app.inject({
      method: 'PUT',
      url: '/api/service-data/sources/reception-hall',
      headers: as('operator'),
      payload: { name: 'Town hall reception', mapping: { period: 'date', scope: 'city', columns: { wait_minutes: 'reception.wait_minutes' } } },
    });
    const csv = ['date;wait_minutes', '01/10/2026;8', '02/10/2026;douze', '03/10/2026;9,5', '32/10/2026;7'].join('\n');
    const imported = await app.inject({
      method: 'POST',
      url: '/api/service-data/import?source=reception-hall&file=october.csv',
      headers: { ...as('agent'), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(imported.statusCode).toBe(200);
    const result = imported.json();
    expect(result.stored).toBe(2);
    expect(result.errors.map((e: { row: number; column?: string }) => [e.row, e.column])).toEqual([
      [3, 'wait_minutes'],
      [5, 'date'],
    ]);
    const now = new Date(Date.UTC(2026, 10, 15));
    await objectives.evaluate({ fromMonth: '2026-10', now, keys: ['waiting'] });
    const before = await app.inject({ method: 'GET', url: '/api/objectives/waiting/results?scope=city&from=2026-10&to=2026-10' });
    expect(before.json().results).toEqual([
      expect.objectContaining({ period: '2026-10', value: 8.75, target: 10, status: 'green', statusBasis: 'value', statusText: 'target met' }),
    ]);
    // The desk corrects the 1st: 20 minutes, not 8. The mean is now 14.75: red.
    const correction = await app.inject({
      method: 'POST',
      url: '/api/service-data',
      headers: as('agent'),
      payload: { values: [{ source: 'reception-hall', metric: 'reception.wait_minutes', scope: 'city', period: '2026-10-01', value: 20 }] },
    });
    expect(correction.statusCode).toBe(200);
    const { changes } = await objectives.evaluate({ fromMonth: '2026-10', now, keys: ['waiting'] });
    expect(changes).toEqual([expect.objectContaining({ objective: 'waiting', scope: 'city', period: '2026-10', from: 'green', to: 'red', value: 14.75 })]);
    const after = await app.inject({ method: 'GET', url: '/api/objectives/waiting/results?scope=city&from=2026-10&to=2026-10' });
    expect(after.json().results[0]).toMatchObject({ value: 14.75, status: 'red', statusBasis: 'value', statusText: 'target missed' });
  });
});
