import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { serviceDataReader } from '../objectives/data.js';
import { Objectives } from '../objectives/objectives.js';
import { ServiceData } from '../service-data/index.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, objectiveDefinition, waitFor } from '../testing/index.js';

/** Words of PostgreSQL's own error texts, which no caller may see. */
const POSTGRES_WORDS = /invalid input|syntax|unsupported Unicode|violates|out of range for type|relation|column "|stack size/i;

describe('hub API: hostile input gets a 4xx with the reason, never a 500', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let operator: string;
  const logged: { msg: string; fields: Record<string, unknown> }[] = [];
  const logger = { debug() {}, info() {}, warn() {}, error: (fields: Record<string, unknown>, msg?: string) => logged.push({ msg: msg ?? '', fields }) };
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const month = 'from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z';

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'hostile_input');
    storage = await Storage.open({ databaseUrl: db.url, logger, timescale: 'off' });
    const serviceData = await ServiceData.open(storage.pool);
    const objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone, services: serviceDataReader(serviceData) });
    // Generous limits: this file is about what a request holds, not how many there are.
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      logger,
      objectives,
      serviceData,
      rateLimits: { anonymousReads: 10_000, anonymousWrites: 10_000 },
    });
    app.register(async (api) => {
      api.get('/test/broken', async () => {
        throw new Error('the secret detail of a bug');
      });
    });
    await app.ready();
    operator = (await createToken(storage.pool, { role: 'operator', label: 'operator of the test' }, 'test')).token;
    await serviceData.defineSource('reception', 'Accueil');
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  /** JSON text of `levels` nested lists (as text: serialising it would overflow the test's own stack). */
  const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
  const value = { source: 'reception', metric: 'reception.wait_minutes', scope: 'city', period: '2026-10-12', value: 14 };

  it.each<[string, { method?: 'GET' | 'PUT' | 'POST'; url: string; payload?: unknown; operator?: boolean }, number, RegExp]>([
    [
      'a NUL in a query parameter of a public route',
      { url: `/api/completeness?${month}&timezone=a%00b` },
      400,
      /^querystring\.timezone: contains a NUL character/,
    ],
    [
      'a NUL in the gateway of a series',
      { url: `/api/series?gateway=a%00b&point=p&${month}`, operator: true },
      400,
      /^querystring\.gateway: contains a NUL character/,
    ],
    ['a NUL in the principal of the audit', { url: '/api/audit?principal=a%00b', operator: true }, 400, /^querystring\.principal: contains a NUL character/],
    [
      'a NUL in the name of a source',
      { method: 'PUT', url: '/api/service-data/sources/reception', payload: { name: 'a\u0000b' }, operator: true },
      400,
      /^body\.name: contains a NUL character/,
    ],
    [
      "a NUL in an objective's label",
      { method: 'PUT', url: '/api/objectives/nul', payload: objectiveDefinition({ label: { fr: 'a\u0000b', en: 'x' } }), operator: true },
      400,
      /^body\.label\.fr: contains a NUL character/,
    ],
    [
      "a NUL in an objective's owner",
      { method: 'PUT', url: '/api/objectives/nul', payload: objectiveDefinition({ owner: 'a\u0000b' }), operator: true },
      400,
      /^body\.owner: contains a NUL character/,
    ],
    [
      'a NUL in a key of a body',
      { method: 'PUT', url: '/api/objectives/nul', payload: { ...objectiveDefinition(), 'a\u0000b': 1 }, operator: true },
      400,
      /^body: a key contains a NUL character/,
    ],
    ['a date before PostgreSQL', { url: '/api/completeness?from=-271821-04-20T00:00:00Z&to=2026-01-01T00:00:00Z' }, 400, /^from must be an ISO 8601 date-time/],
    [
      'a date of the year 0',
      { url: '/api/completeness?from=0000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z' },
      400,
      /^from must be between the years 1900 and 9999$/,
    ],
    [
      'a day that is not on the calendar',
      { url: '/api/completeness?from=2026-02-30T00:00:00Z&to=2026-03-02T00:00:00Z' },
      400,
      /^from: "2026-02-30T00:00:00Z" is not a date and time of the calendar$/,
    ],
    [
      'from=1, which JavaScript reads as 2001',
      { url: '/api/completeness?from=1&to=2026-01-01T00:00:00Z' },
      400,
      /^from must be an ISO 8601 date-time with its offset, e.g. .*, not "1"$/,
    ],
    [
      'a series from the year 0',
      { url: '/api/series?gateway=g&point=p&from=0000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', operator: true },
      400,
      /^from must be between the years 1900 and 9999$/,
    ],
    ['results from the month 0000-01', { url: '/api/objectives/any/results?from=0000-01&to=9999-12' }, 400, /^querystring\/from must match pattern/],
    [
      'a service period in the year 10000 in UTC',
      { method: 'POST', url: '/api/service-data', payload: { values: [{ ...value, period: '9999-12-31T23:59:59-14:00' }] }, operator: true },
      400,
      /after the year 9999/,
    ],
    ['an audit range from the year 0', { url: '/api/audit?from=0000-01-01T00:00:00Z', operator: true }, 400, /^from must be between the years 1900 and 9999$/],
    [
      'a parameter given twice',
      { url: '/api/completeness?from=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z&to=2026-01-31T00:00:00Z' },
      400,
      /^from must be an ISO 8601 date-time/,
    ],
    [
      'an audit page before an id beyond 2^53',
      { url: '/api/audit?before=99999999999999999999999', operator: true },
      400,
      /^querystring\/before must be <= 9007199254740991$/,
    ],
    [
      'a deeply nested objective',
      {
        method: 'PUT',
        url: '/api/objectives/deep',
        payload: JSON.stringify(objectiveDefinition({ key: 'deep', label: 'DEEP' })).replace('"DEEP"', deep(100_000)),
        operator: true,
      },
      400,
      /^body\.label(\[0\])+: nested too deeply \(at most 32 levels\)$/,
    ],
    [
      'deeply nested service data',
      { method: 'POST', url: '/api/service-data', payload: `{"values":${deep(100_000)}}`, operator: true },
      400,
      /nested too deeply/,
    ],
    [
      'a number beyond double precision',
      {
        method: 'POST',
        url: '/api/service-data',
        payload: '{"values":[{"source":"reception","metric":"a","scope":"city","period":"2026-10","value":1e999}]}',
        operator: true,
      },
      400,
      /^body\.values\[0\]\.value: expected a finite number$/,
    ],
    [
      '10,001 service values',
      { method: 'POST', url: '/api/service-data', payload: { values: Array.from({ length: 10_001 }, () => value) }, operator: true },
      400,
      /^values: expected a list of 1 to 10000 item\(s\), got a list of 10001 items$/,
    ],
    ['an audit page before Infinity', { url: '/api/audit?before=Infinity', operator: true }, 400, /^querystring\.before: expected a finite number$/],
    [
      'an OPERAT export for the year Infinity',
      { url: '/api/objectives/operat?year=Infinity', operator: true },
      400,
      /^querystring\.year: expected a finite number$/,
    ],
    [
      'a 300-character source name',
      { method: 'PUT', url: '/api/service-data/sources/reception', payload: { name: 'x'.repeat(300) }, operator: true },
      400,
      /^name: expected a non-empty string of at most 200 characters, got "x+"… \(300 characters\)$/,
    ],
  ])('%s', async (_what, request, status, reason) => {
    const response = await app.inject({
      method: request.method ?? 'GET',
      url: request.url,
      headers: { ...(request.operator ? as(operator) : {}), ...(typeof request.payload === 'string' ? { 'content-type': 'application/json' } : {}) },
      ...(request.payload === undefined ? {} : { payload: request.payload as string }),
    });
    expect(response.statusCode).toBe(status);
    const { error } = response.json<{ error: string }>();
    expect(error).toMatch(reason);
    expect(error).not.toMatch(POSTGRES_WORDS);
  });

  it('reports a CSV cell of nine million digits on its row, and stores the rest', async () => {
    const file = `date;attente\n12/10/2026;${'9'.repeat(9_000_000)}\n13/10/2026;12\n`;
    const mapping = encodeURIComponent(JSON.stringify({ period: 'date', scope: 'city', columns: { attente: 'reception.wait_minutes' } }));
    const response = await app.inject({
      method: 'POST',
      url: `/api/service-data/import?source=reception&mapping=${mapping}`,
      headers: { ...as(operator), 'content-type': 'text/csv' },
      payload: file,
    });
    expect(response.statusCode).toBe(200);
    const result = response.json<{ errors: { row: number; message: string }[]; stored: number; rowsInError: number }>();
    expect(result.errors).toEqual([{ row: 2, column: 'attente', message: expect.stringMatching(/^row 2, column "attente": "9+\.\.\. is too large a number/) }]);
    expect(result).toMatchObject({ stored: 1, rowsInError: 1 });
  });

  it('refuses a header naming one column 100,000 times in a short answer', async () => {
    const file = `date;${'1;'.repeat(100_000)}attente\n12/10/2026;${'1;'.repeat(100_000)}12\n`;
    const mapping = encodeURIComponent(JSON.stringify({ period: 'date', scope: 'city', columns: { attente: 'reception.wait_minutes' } }));
    const response = await app.inject({
      method: 'POST',
      url: `/api/service-data/import?source=reception&mapping=${mapping}`,
      headers: { ...as(operator), 'content-type': 'text/csv' },
      payload: file,
    });
    expect(response.statusCode).toBe(400);
    expect(response.body.length).toBeLessThan(4096);
    expect(response.json<{ error: string }>().error).toMatch(
      /^the header names the column "1" more than once \(the header, split at ";", is: "date" ; "1" ; .*, and 99962 more columns\); nothing was imported$/,
    );
    // Audited as a streamed body, not as the request object's own fields.
    const audited = await waitFor(
      async () => {
        const { rows } = await storage.pool.query<{ summary: unknown }>(
          `SELECT summary FROM api_audit WHERE route = '/api/service-data/import' AND status_code = 400 ORDER BY id DESC LIMIT 1`,
        );
        return rows[0];
      },
      5000,
      'the refused import was not audited',
    );
    expect(audited.summary).toEqual({ body: 'streamed, not read' });
  });

  it('answers an unexpected failure with 500 "internal error" and a request id, the detail in the log under that id', async () => {
    const response = await app.inject({ url: '/test/broken' });
    expect(response.statusCode).toBe(500);
    const body = response.json<{ error: string; requestId: string }>();
    expect(body).toEqual({ error: 'internal error', requestId: expect.any(String) });
    expect(logged).toContainEqual({
      msg: 'API request failed',
      fields: expect.objectContaining({ requestId: body.requestId, err: 'the secret detail of a bug' }),
    });
  });

  it('audits a write whose body holds NUL characters, refused attempts included, with the NUL escaped', async () => {
    await storage.pool.query('TRUNCATE api_audit');
    const body = { name: 'a\u0000b', 'c\u0000d': 'e' };
    expect((await app.inject({ method: 'PUT', url: '/api/service-data/sources/reception', headers: as(operator), payload: body })).statusCode).toBe(400);
    // Anonymous: refused for its role before its body is read, and audited all the same.
    expect((await app.inject({ method: 'PUT', url: '/api/objectives/nul', payload: objectiveDefinition({ owner: 'a\u0000b' }) })).statusCode).toBe(401);
    const rows = await waitFor(
      async () => {
        // This test's routes only: the audit is written in the background, and an earlier test's
        // row may land after the TRUNCATE.
        const { rows: r } = await storage.pool.query<{ principal_id: string; status_code: number; summary: unknown }>(
          `SELECT principal_id, status_code, summary FROM api_audit WHERE route IN ('/api/service-data/sources/:key', '/api/objectives/:key') ORDER BY id`,
        );
        return r.length >= 2 && r;
      },
      5000,
      'the writes were not audited',
    );
    expect(rows).toEqual([
      { principal_id: operator.split('_')[1], status_code: 400, summary: { name: 'a\\u0000b', 'c\\u0000d': 'e' } },
      { principal_id: 'anonymous', status_code: 401, summary: null },
    ]);
  });
});
