import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { serviceDataReader } from '../objectives/data.js';
import { Objectives } from '../objectives/objectives.js';
import { ServiceData } from '../service-data/index.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, objectiveDefinition } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Limits small enough for a test to cross them; windows long enough that one test stays in one or two. */
const ANONYMOUS_WRITES = 10;
const ANONYMOUS_READS = 5;
const SAMPLE = 3;
const WINDOW_MS = 3_600_000;

interface AuditRow {
  principal_id: string;
  method: string;
  route: string;
  status_code: number;
  summary: { notRecorded?: number } | null;
}

describe('hub API under a flood: rate limits, a bounded audit, cached public reads', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let operator: string;
  const metrics = createHubMetrics();

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'api_limits');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const serviceData = await ServiceData.open(storage.pool);
    const objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone, services: serviceDataReader(serviceData) });
    app = buildApi({
      storage,
      metrics,
      natsConnected: () => true,
      objectives,
      serviceData,
      rateLimits: { windowMs: WINDOW_MS, anonymousWrites: ANONYMOUS_WRITES, anonymousReads: ANONYMOUS_READS },
      publicCache: { ttlMs: WINDOW_MS },
      audit: { refusedSamplePerWindow: SAMPLE, windowMs: WINDOW_MS },
    });
    await app.ready();
    operator = (await createToken(storage.pool, { role: 'operator', label: 'operator of the test' }, 'test')).token;
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('answers a flood of anonymous writes 429 beyond the limit, and keeps of it a counted sample in the audit', async () => {
    const flood = 600;
    const statuses: number[] = [];
    for (let sent = 0; sent < flood; sent += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          app.inject({
            method: 'PUT',
            url: `/api/objectives/flood-${sent + i}`,
            remoteAddress: '192.0.2.7',
            payload: objectiveDefinition({ key: `flood-${sent + i}` }),
          }),
        ),
      );
      for (const response of batch) {
        statuses.push(response.statusCode);
        if (response.statusCode === 429) {
          expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
          expect(response.json()).toMatchObject({
            code: 'RATE_LIMITED',
            error: expect.stringMatching(/^too many writes: at most 10 per 3600 s per address without a token; try again in \d+ s$/),
          });
        }
      }
    }
    expect(new Set(statuses)).toEqual(new Set([401, 429]));
    // Another address is not held back by the first one's flood; a token's holder neither.
    expect((await app.inject({ method: 'PUT', url: '/api/objectives/other', remoteAddress: '192.0.2.8', payload: {} })).statusCode).toBe(401);
    const written = await app.inject({
      method: 'PUT',
      url: '/api/objectives/kept',
      remoteAddress: '192.0.2.7',
      headers: { authorization: `Bearer ${operator}` },
      payload: objectiveDefinition({ key: 'kept' }),
    });
    expect(written.statusCode).toBe(201);

    // Closing the API writes the counts of the window still open.
    await app.close();
    const { rows } = await storage.pool.query<AuditRow>(
      `SELECT principal_id, method, route, status_code, summary FROM api_audit WHERE route = '/api/objectives/:key'`,
    );
    const anonymous = rows.filter((r) => r.principal_id === 'anonymous');
    // Every refused attempt is in the audit, stored or counted; a window stores at most SAMPLE of
    // each status, and the flood may straddle two windows.
    for (const status of [401, 429]) {
      const ofStatus = anonymous.filter((r) => r.status_code === status);
      const sampled = ofStatus.filter((r) => r.summary?.notRecorded === undefined);
      const counted = ofStatus.reduce((sum, r) => sum + (r.summary?.notRecorded ?? 0), 0);
      expect(sampled.length + counted).toBe(statuses.filter((s) => s === status).length + (status === 401 ? 1 : 0));
      expect(sampled.length).toBeLessThanOrEqual(2 * SAMPLE);
    }
    expect(anonymous.length).toBeLessThanOrEqual(2 * 2 * (SAMPLE + 1));
    // And visible in the metrics.
    const counter = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
    expect(await counter('citypilot_hub_api_rate_limited_total')).toBe(statuses.filter((s) => s === 429).length);
    expect(await counter('citypilot_hub_audit_sampled_out_total')).toBe(anonymous.reduce((sum, r) => sum + (r.summary?.notRecorded ?? 0), 0));
    // The authenticated write is recorded in full.
    expect(rows.filter((r) => r.principal_id !== 'anonymous')).toEqual([expect.objectContaining({ method: 'PUT', status_code: 201 })]);
  });
});

describe('hub API: the heaviest public read under many anonymous clients', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let operator: string;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'api_public_cache');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      rateLimits: { windowMs: WINDOW_MS, anonymousReads: ANONYMOUS_READS },
      authFailures: { windowMs: WINDOW_MS },
      publicCache: { ttlMs: WINDOW_MS },
    });
    await app.ready();
    operator = (await createToken(storage.pool, { role: 'operator', label: 'operator of the test' }, 'test')).token;
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('answers from one query, from the cache, or 429; /healthz stays open', async () => {
    const clients = 20;
    const perClient = 10;
    const url = (order: number) =>
      order % 2
        ? '/api/completeness?by=point&step=hour&from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z'
        : '/api/completeness?to=2026-01-31T00:00:00Z&step=hour&by=point&from=2026-01-01T00:00:00Z';
    const responses = await Promise.all(
      Array.from({ length: clients * perClient }, (_, i) => app.inject({ url: url(i), remoteAddress: `198.51.100.${i % clients}` })),
    );
    const answered = responses.filter((r) => r.statusCode === 200);
    expect(responses.filter((r) => r.statusCode !== 200).every((r) => r.statusCode === 429)).toBe(true);
    expect(answered).toHaveLength(clients * ANONYMOUS_READS);
    // The same question however its parameters are ordered: one query, the rest from the cache.
    expect(answered.filter((r) => r.headers['x-cache'] === 'miss')).toHaveLength(1);
    expect(answered.filter((r) => r.headers['x-cache'] === 'hit')).toHaveLength(clients * ANONYMOUS_READS - 1);
    expect(new Set(answered.map((r) => r.body)).size).toBe(1);
    const limited = responses.find((r) => r.statusCode === 429)!;
    expect(limited.json()).toMatchObject({
      code: 'RATE_LIMITED',
      error: expect.stringMatching(/^too many reads: at most 5 per 3600 s per address without a token/),
    });
    const health = await app.inject({ url: '/healthz', remoteAddress: '198.51.100.0' });
    expect([health.statusCode, health.json().database]).toEqual([200, 'ok']);
  });

  it('refuses an address 429 before any token lookup once 60 of its tokens were refused', async () => {
    const guess = (i: number, address: string) =>
      app.inject({ url: '/api/buildings', remoteAddress: address, headers: { authorization: `Bearer cp_${1000 + i}_${'B'.repeat(43)}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++) statuses.push((await guess(i, '192.0.2.50')).statusCode);
    expect(statuses).toEqual([...Array<number>(60).fill(401), ...Array<number>(10).fill(429)]);
    const refused = await guess(70, '192.0.2.50');
    expect(refused.json()).toEqual({
      error: expect.stringMatching(/^too many refused tokens from this address: at most 60 per 3600 s; try again in \d+ s$/),
      code: 'RATE_LIMITED',
    });
    // Another address is still answered, and so is the first one without a token.
    expect((await guess(71, '192.0.2.51')).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/buildings', remoteAddress: '192.0.2.50' })).statusCode).toBe(200);
  });

  it('refuses a range whose answer would be too large, before querying', async () => {
    const client = await storage.pool.connect();
    try {
      await client.query(`INSERT INTO gateways (id, first_seen) VALUES ('big', now())`);
      await client.query(
        `INSERT INTO points (gateway_id, point_key, name, interval_ms) SELECT 'big', 'p' || g, 'p' || g, 60000 FROM generate_series(1, 200) g`,
      );
    } finally {
      client.release();
    }
    // Ranges the cache has not seen (the previous test's answer would be served from it).
    const month = '/api/completeness?by=point&step=hour&from=2026-01-01T00:00:00Z&to=2026-01-30T00:00:00Z';
    const response = await app.inject({ url: month, headers: { authorization: `Bearer ${operator}` } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'this would answer about 139200 rows, more than 100000: ask a shorter range, step=day or by=building' });
    // Without a token, a tenth of that: what the public cache keeps.
    const days = '/api/completeness?by=point&step=hour&from=2026-01-01T00:00:00Z&to=2026-01-04T00:00:00Z';
    const anonymous = await app.inject({ url: days, remoteAddress: '203.0.113.1' });
    expect(anonymous.json()).toEqual({
      error: 'this would answer about 14400 rows, more than 10000 without a token: ask a shorter range, step=day or by=building',
    });
    expect((await app.inject({ url: days, headers: { authorization: `Bearer ${operator}` } })).statusCode).toBe(200);
  });

  it('cancels a query longer than the statement timeout and answers 503 "try a smaller range"; /healthz keeps its own connection', async () => {
    const hurried = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, pools: { statementTimeoutMs: 1 } });
    try {
      // 200 points × 366 days: tens of thousands of buckets, far longer than 1 ms.
      const response = await hurried.inject({
        url: '/api/completeness?by=point&step=day&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z',
        headers: { authorization: `Bearer ${operator}` },
      });
      expect([response.statusCode, response.headers['retry-after']]).toEqual([503, '30']);
      expect(response.json()).toEqual({ error: 'the query took too long and was cancelled: try a smaller range or a coarser step', code: 'QUERY_TIMEOUT' });
      expect((await hurried.inject({ url: '/healthz' })).json()).toMatchObject({ status: 'ok', database: 'ok' });
    } finally {
      await hurried.close();
    }
  });
});
