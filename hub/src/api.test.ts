import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from './api.js';
import { createHubMetrics } from './metrics.js';
import { Storage } from './storage/storage.js';
import { createTestDatabase } from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('hub API: catalog and completeness', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'api');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it.each([
    ['by=floor&step=day&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 'by must be "point" or "building", not "floor"'],
    ['step=week&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 'step must be "hour" or "day", not "week"'],
    ['from=yesterday&to=2026-01-02T00:00:00Z', 'from must be an ISO 8601 date-time with its offset, e.g. 2026-10-25T00:00:00+02:00, not "yesterday"'],
    ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to must be after from'],
    ['step=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'at most 31 days of hours per request'],
    ['from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&timezone=Mars/Olympus', 'unknown time zone "Mars/Olympus"'],
  ])('answers /api/completeness?%s with 400 and the reason', async (query, reason) => {
    const response = await app.inject({ url: `/api/completeness?${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: reason });
  });

  it('answers good queries', async () => {
    const response = await app.inject({ url: '/api/completeness?by=point&step=hour&from=2026-01-01T00:00:00Z&to=2026-01-01T03:00:00Z' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([]);
    expect((await app.inject({ url: '/api/buildings' })).json()).toEqual([]);
  });
});
