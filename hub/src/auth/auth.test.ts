import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, waitFor } from '../testing/index.js';
import { registerAudit } from './audit.js';
import { createToken, revokeToken } from './tokens.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const CACHE_TTL_MS = 300;

describe('hub API: tokens, roles and audit', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const token = async (role: string, label = `${role} test`, sites?: string[]) => (await createToken(storage.pool, { role, label, sites }, 'test')).token;
  const auditRows = async () =>
    (
      await storage.pool.query<{ principal_id: string; role: string; method: string; route: string; target: string; status_code: number; summary: unknown }>(
        'SELECT * FROM api_audit ORDER BY id',
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'auth');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, auth: { cacheTtlMs: CACHE_TTL_MS } });
    // Routes of the kind the objectives API will have.
    app.register(async (api) => {
      api.get('/test/whoami', async (request) => request.principal);
      api.post('/test/objectives', { config: { access: { roles: ['operator'] } } }, async (request) => ({ saved: true, by: request.principal.id }));
      api.put('/test/objectives/:id', { config: { access: { roles: ['operator'] } } }, async (request) => {
        request.auditSummary = { objective: (request.params as { id: string }).id, target: 120 };
        return { saved: true };
      });
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('gives a route the role of the token, and keeps public routes open to anyone', async () => {
    const operator = await token('operator');
    const id = operator.split('_')[1];
    const write = await app.inject({ method: 'POST', url: '/test/objectives', headers: bearer(operator), payload: {} });
    expect(write.statusCode).toBe(200);
    expect(write.json()).toEqual({ saved: true, by: id });
    expect((await app.inject({ url: '/api/audit', headers: bearer(operator) })).statusCode).toBe(200);
    expect((await app.inject({ url: '/test/whoami' })).json()).toEqual({ id: 'anonymous', role: 'public', sites: null });
    expect((await app.inject({ url: '/api/buildings' })).statusCode).toBe(200);
    const anonymous = await app.inject({ url: '/api/audit' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toEqual({ error: 'this needs a token with the role operator' });
  });

  it('gives a technician token its sites, and other roles every site', async () => {
    const technician = await token('technician', 'boiler room', ['quartier-nord', 'centre-ville']);
    expect((await app.inject({ url: '/test/whoami', headers: bearer(technician) })).json()).toEqual({
      id: technician.split('_')[1],
      role: 'technician',
      sites: ['centre-ville', 'quartier-nord'],
    });
    expect((await app.inject({ url: '/test/whoami', headers: bearer(await token('elected')) })).json()).toMatchObject({ role: 'elected', sites: null });
  });

  it.each([
    ['director', 'a director token may not do this: it needs the role operator'],
    ['elected', 'an elected token may not do this: it needs the role operator'],
    ['technician', 'a technician token may not do this: it needs the role operator'],
  ])('answers a %s on an operator route with 403 and the reason', async (role, reason) => {
    const response = await app.inject({ url: '/api/audit', headers: bearer(await token(role, role, role === 'technician' ? ['centre-ville'] : undefined)) });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: reason });
  });

  describe('refuses bad credentials with 401, the reason and a code, never as anonymous', () => {
    it.each<[string, () => string | Promise<string>, string, string | RegExp]>([
      ['a header that is not Bearer', () => 'Basic b3BlcmF0b3I6c2VjcmV0', 'AUTH_HEADER_MALFORMED', 'the Authorization header must be "Bearer <token>"'],
      ['Bearer without a token', () => 'Bearer', 'AUTH_HEADER_MALFORMED', 'the Authorization header must be "Bearer <token>"'],
      [
        'a token of another kind',
        () => 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x',
        'TOKEN_MALFORMED',
        'this is not a CityPilot token (cp_<id>_<secret>, as printed by `citypilot hub token create`)',
      ],
      ['a truncated token', async () => `Bearer ${(await token('operator')).slice(0, -1)}`, 'TOKEN_MALFORMED', /^this is not a CityPilot token/],
      [
        'an unknown id',
        async () => `Bearer ${(await token('operator')).replace(/^cp_\d+_/, 'cp_999999_')}`,
        'TOKEN_UNKNOWN',
        'no token has the id 999999 on this hub',
      ],
      [
        'a wrong secret',
        async () => {
          const [, id] = (await token('operator')).split('_');
          return `Bearer cp_${id}_${'A'.repeat(43)}`;
        },
        'TOKEN_SECRET_MISMATCH',
        /^the secret of token \d+ is wrong$/,
      ],
      [
        'a revoked token',
        async () => {
          const revoked = await token('operator');
          await revokeToken(storage.pool, revoked.split('_')[1]!, 'test');
          return `Bearer ${revoked}`;
        },
        'TOKEN_REVOKED',
        /^token \d+ was revoked on \d{4}-\d\d-\d\dT/,
      ],
    ])('%s', async (_case, header, code, reason) => {
      // On a public route too: a caller who sent a token must learn that it does not work.
      for (const url of ['/api/buildings', '/api/audit']) {
        const response = await app.inject({ url, headers: { authorization: await header() } });
        expect(response.statusCode).toBe(401);
        const body = response.json();
        expect(body.code).toBe(code);
        expect(body.error).toMatch(typeof reason === 'string' ? new RegExp(`^${reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : reason);
        expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
      }
    });
  });

  it('reads a token once for 50 concurrent requests', async () => {
    const director = await token('director');
    const query = vi.spyOn(storage.pool, 'query');
    try {
      const responses = await Promise.all(Array.from({ length: 50 }, () => app.inject({ url: '/test/whoami', headers: bearer(director) })));
      expect(responses.map((r) => r.statusCode)).toEqual(Array(50).fill(200));
      expect(query.mock.calls.filter(([sql]) => String(sql).includes('FROM api_tokens')).length).toBe(1);
    } finally {
      query.mockRestore();
    }
  });

  it('stops accepting a revoked token within the cache time', async () => {
    const agent = await token('agent');
    expect((await app.inject({ url: '/test/whoami', headers: bearer(agent) })).statusCode).toBe(200);
    await revokeToken(storage.pool, agent.split('_')[1]!, 'test');
    const revokedAt = Date.now();
    await waitFor(
      async () => (await app.inject({ url: '/test/whoami', headers: bearer(agent) })).statusCode === 401,
      5000,
      'the revoked token is still accepted',
    );
    // waitFor polls every 200 ms; the rest is margin for a busy machine.
    expect(Date.now() - revokedAt).toBeLessThan(CACHE_TTL_MS + 700);
  });

  it('records the last use of a token at most once a minute', async () => {
    const director = await token('director');
    const id = director.split('_')[1];
    const lastUsed = async () =>
      (await storage.pool.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_tokens WHERE id = $1', [id])).rows[0]!.last_used_at;
    expect(await lastUsed()).toBeNull();
    await app.inject({ url: '/test/whoami', headers: bearer(director) });
    const first = await waitFor(lastUsed, 5000, 'last_used_at was not set');
    await new Promise((r) => setTimeout(r, CACHE_TTL_MS + 100)); // past the cache: the row is read again
    await app.inject({ url: '/test/whoami', headers: bearer(director) });
    await new Promise((r) => setTimeout(r, 200));
    expect(await lastUsed()).toEqual(first);
  });

  it('audits every write that reaches a route, whatever its outcome, and never a token', async () => {
    await storage.pool.query('TRUNCATE api_audit');
    const operator = await token('operator');
    const operatorId = operator.split('_')[1]!;
    const director = await token('director');
    const [, directorId] = director.split('_');
    const secret = operator.split('_').slice(2).join('_');
    const body = { name: 'energy 2030', target: 120, apiToken: operator, note: `made with ${operator}`, nested: { deep: { deeper: 1 } } };

    expect((await app.inject({ method: 'POST', url: '/test/objectives?draft=1', headers: bearer(operator), payload: body })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/test/objectives', headers: bearer(director), payload: body })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/test/objectives', payload: body })).statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'POST', url: '/test/objectives', headers: bearer(`cp_${operatorId}_${'B'.repeat(43)}`), payload: body })).statusCode,
    ).toBe(401);
    expect((await app.inject({ method: 'PUT', url: '/test/objectives/12', headers: bearer(operator), payload: body })).statusCode).toBe(200);
    // Not audited: reads, and requests that reached no route.
    expect((await app.inject({ url: '/api/buildings', headers: bearer(operator) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/test/nowhere', headers: bearer(operator), payload: body })).statusCode).toBe(404);

    const rows = await waitFor(
      async () => {
        const r = await auditRows();
        return r.length >= 5 && r;
      },
      5000,
      'the writes were not all audited',
    );
    const summary = { name: 'energy 2030', target: 120, apiToken: '[redacted]', note: 'made with [redacted]', nested: '[object of 1 keys]' };
    // Each row is written after its response, independently: their order is not guaranteed.
    expect(rows).toHaveLength(5);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          principal_id: operatorId,
          role: 'operator',
          method: 'POST',
          route: '/test/objectives',
          target: '/test/objectives',
          status_code: 200,
          summary,
        }),
        // Refused by its role before its body was read: nothing of the body to summarise.
        expect.objectContaining({
          principal_id: directorId,
          role: 'director',
          method: 'POST',
          route: '/test/objectives',
          target: '/test/objectives',
          status_code: 403,
          summary: null,
        }),
        expect.objectContaining({ principal_id: 'anonymous', role: 'public', method: 'POST', status_code: 401, summary: null }),
        // Refused before its body was read: which token was tried, and why.
        expect.objectContaining({
          principal_id: 'anonymous',
          role: 'public',
          method: 'POST',
          status_code: 401,
          summary: { refused: 'TOKEN_SECRET_MISMATCH', tokenId: operatorId },
        }),
        expect.objectContaining({
          principal_id: operatorId,
          method: 'PUT',
          route: '/test/objectives/:id',
          target: '/test/objectives/12',
          status_code: 200,
          summary: { objective: '12', target: 120 },
        }),
      ]),
    );
    const dump = JSON.stringify((await storage.pool.query('SELECT * FROM api_audit')).rows);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain('B'.repeat(43));

    const listed = await app.inject({ url: `/api/audit?principal=${operatorId}&limit=1`, headers: bearer(operator) });
    expect(listed.statusCode).toBe(200);
    const page = listed.json();
    expect(page.truncated).toBe(true);
    expect(page.entries).toEqual([
      {
        id: expect.any(String),
        at: expect.stringMatching(/Z$/),
        principal: operatorId,
        name: null,
        role: 'operator',
        method: 'PUT',
        route: '/test/objectives/:id',
        target: '/test/objectives/12',
        status: 200,
        summary: { objective: '12', target: 120 },
      },
    ]);
    const next = (await app.inject({ url: `/api/audit?principal=${operatorId}&before=${page.entries[0].id}`, headers: bearer(operator) })).json();
    expect(next).toMatchObject({ truncated: false, entries: [{ method: 'POST', status: 200 }] });
    const range = (
      await app.inject({
        url: `/api/audit?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}&to=2999-01-01T00:00:00Z`,
        headers: bearer(operator),
      })
    ).json();
    expect(range.entries).toHaveLength(5);
  });

  it.each([
    ['limit=5000', 'querystring/limit must be <= 1000'],
    ['limit=0', 'querystring/limit must be >= 1'],
    ['from=yesterday', 'querystring/from must match format "date-time"'],
    ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to must be after from'],
    ['pricipal=3', 'unknown parameter pricipal: the parameters are from, to, principal, before, limit'],
  ])('answers /api/audit?%s with 400 and the reason', async (query, reason) => {
    const response = await app.inject({ url: `/api/audit?${query}`, headers: bearer(await token('admin')) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: reason });
  });

  it('answers a write whose audit fails, and logs and counts the failure', async () => {
    // A database that does not exist: every audit insert fails.
    const broken = new pg.Pool({ connectionString: `${db.url}_missing` });
    const errors: string[] = [];
    const failures = {
      count: 0,
      inc() {
        this.count++;
      },
    };
    const bare = Fastify();
    registerAudit(bare, { pool: broken, logger: { ...quiet, error: (_o, msg) => errors.push(msg ?? '') }, failures });
    bare.post('/write', async () => ({ ok: true }));
    try {
      const response = await bare.inject({ method: 'POST', url: '/write', payload: { a: 1 } });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ ok: true });
      await waitFor(() => failures.count === 1, 10_000, 'the failure was not counted');
      expect(errors).toEqual(['could not record an API write in the audit']);
    } finally {
      await bare.close();
      await broken.end();
    }
  });
});
