/**
 * The fuzzer itself, on a small fastify API with known faults, documented the way the hub
 * documents its routes (registerOpenApi reading each route's `config.access`): it must find each
 * fault, shrink it to a readable request, and leave the sound routes alone. This API does not
 * register the hub's enforcement of that declaration (registerAccess), so that one route can be
 * documented for operators and let everyone through; the sound route checks its role by hand.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOpenApi } from '../auth/openapi.js';
import { ANONYMOUS, type Role } from '../auth/principal.js';
import { fuzzApi, type FuzzReport, type OpenApiDocument } from './api-fuzz.js';

describe('API fuzzer', () => {
  let app: FastifyInstance;
  let report: FuzzReport;

  beforeAll(async () => {
    app = Fastify({ logger: false });
    // Test-only authentication: the `x-role` header is the caller's role; `forged` is refused.
    app.addHook('onRequest', async (request, reply) => {
      const role = request.headers['x-role'];
      if (role === 'forged') return reply.code(401).send({ error: 'unknown token' });
      request.principal = typeof role === 'string' ? { id: role, role: role as Role, sites: null } : ANONYMOUS;
    });
    registerOpenApi(app);
    app.register(async (api) => {
      api.get<{ Querystring: { text?: string } }>(
        '/nul-unsafe',
        { schema: { querystring: { type: 'object', properties: { text: { type: 'string', maxLength: 50 } } } } },
        async (request) => {
          // What a text column does with NUL: an error the hub would answer with 500.
          if (request.query.text?.includes('\u0000')) throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
          return { length: request.query.text?.length ?? 0 };
        },
      );
      // Documented for operators, but nothing enforces it: everyone gets through.
      api.put<{ Params: { key: string } }>(
        '/settings/:key',
        {
          config: { access: { roles: ['operator'] } },
          schema: { params: { type: 'object', properties: { key: { type: 'string', pattern: '^[a-z]+$' } } }, body: { type: 'object' } },
        },
        async (request) => ({ saved: request.params.key }),
      );
      api.post<{ Body: { count: number } }>(
        '/sound',
        {
          config: { access: { roles: ['operator'] } },
          preHandler: async (request, reply) => {
            const { role } = request.principal;
            if (role === 'public') return reply.code(401).send({ error: 'this needs a token with the role operator' });
            if (role !== 'operator' && role !== 'admin') return reply.code(403).send({ error: 'it needs the role operator' });
          },
          schema: {
            body: { type: 'object', required: ['count'], properties: { count: { type: 'integer', minimum: 0, maximum: 10 } }, additionalProperties: false },
          },
        },
        async (request) => ({ doubled: request.body.count * 2 }),
      );
    });
    await app.ready();
    const document = (await app.inject({ url: '/api/openapi.json' })).json() as OpenApiDocument;
    report = await fuzzApi({
      document,
      principals: { public: 'public', agent: 'agent', operator: 'operator', forged: null },
      send: async (request) => {
        const role = request.principal === 'public' ? {} : { 'x-role': request.principal };
        const answer = await app.inject({ method: request.method as 'GET', url: request.url, headers: { ...request.headers, ...role }, payload: request.body });
        return { status: answer.statusCode, body: answer.body };
      },
      context: { knownStrings: ['boiler'] },
      budgetMs: 8000,
      healthy: async () => undefined,
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('finds a 5xx and shrinks it to a small request that still shows the cause', () => {
    const failure = report.failures.find((f) => f.operation === 'GET /nul-unsafe');
    expect(failure).toMatchObject({ problem: 'answered 500', request: { method: 'GET' } });
    expect(failure!.request.url).toMatch(/^\/nul-unsafe\?text=.*%00/);
    expect(failure!.request.url.length).toBeLessThan(60);
    expect(failure!.answer?.status).toBe(500);
  });

  it('finds a route that answers roles its OpenAPI document does not give it', () => {
    const failures = report.failures.filter((f) => f.operation === 'PUT /settings/{key}');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.map((f) => f.problem).join('\n')).toMatch(
      /answered 200 to (the role public|the role agent|credentials it must refuse), on an operation for operator, admin/,
    );
  });

  it('leaves sound routes alone, and calls every operation as every principal', () => {
    expect(report.failures.filter((f) => !['GET /nul-unsafe', 'PUT /settings/{key}'].includes(f.operation))).toEqual([]);
    for (const operation of ['GET /nul-unsafe', 'PUT /settings/{key}', 'POST /sound', 'GET /api/openapi.json']) {
      for (const principal of ['public', 'agent', 'operator', 'forged'])
        expect(report.counts[operation]?.[principal], `${operation} as ${principal}`).toBeGreaterThan(0);
    }
  });
});
