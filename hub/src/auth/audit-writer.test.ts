import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { AuditWriter, type AuditRow } from './audit-writer.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('AuditWriter', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'audit_writer');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  const row = (principal: string, status: number, summary: string | null = null): AuditRow => ({
    at: new Date(),
    principal,
    principalName: null,
    role: principal === 'anonymous' ? 'public' : 'operator',
    method: 'PUT',
    route: '/api/objectives/:key',
    target: '/api/objectives/k',
    status,
    summary,
  });

  it('bounds its queue: rows beyond maxPending are dropped, counted and logged, the others written in batches', async () => {
    await storage.pool.query('TRUNCATE api_audit');
    const failures = {
      count: 0,
      inc(n = 1) {
        this.count += n;
      },
    };
    const logged: string[] = [];
    const writer = new AuditWriter({
      pool: storage.pool,
      logger: { ...quiet, error: (_f, msg) => logged.push(msg ?? '') },
      failures,
      maxPending: 5,
      batchSize: 2,
    });
    // Queued in one go: the first row leaves the queue for its insert at once, five wait, the rest find the queue full.
    for (let i = 0; i < 20; i++) writer.record(row('7', 200, JSON.stringify({ i })));
    await writer.close();
    const { rows } = await storage.pool.query<{ summary: { i: number } }>('SELECT summary FROM api_audit ORDER BY id');
    expect(rows.map((r) => r.summary.i)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(failures.count).toBe(14);
    expect(logged).toHaveLength(14);
    expect(new Set(logged)).toEqual(new Set(['audit queue full: an API write was not recorded']));
  });

  it('stores a sample of refused anonymous attempts per group and counts the rest in one row per group', async () => {
    await storage.pool.query('TRUNCATE api_audit');
    const sampledOut = {
      count: 0,
      inc(n = 1) {
        this.count += n;
      },
    };
    const writer = new AuditWriter({ pool: storage.pool, sampledOut, refusedSamplePerWindow: 2, windowMs: 1e12 }); // one window for the whole test
    for (let i = 0; i < 7; i++) writer.record(row('anonymous', 401));
    for (let i = 0; i < 4; i++) writer.record(row('anonymous', 429));
    // Neither anonymous and refused, nor refused at all: recorded whole.
    for (let i = 0; i < 3; i++) writer.record(row('anonymous', 400));
    for (let i = 0; i < 3; i++) writer.record(row('7', 401));
    await writer.close();
    const { rows } = await storage.pool.query<{ principal_id: string; status_code: number; summary: { notRecorded?: number } | null }>(
      'SELECT principal_id, status_code, summary FROM api_audit ORDER BY id',
    );
    const of = (principal: string, status: number) => rows.filter((r) => r.principal_id === principal && r.status_code === status);
    expect(of('anonymous', 401).map((r) => r.summary?.notRecorded ?? null)).toEqual([null, null, 5]);
    expect(of('anonymous', 429).map((r) => r.summary?.notRecorded ?? null)).toEqual([null, null, 2]);
    expect(of('anonymous', 400)).toHaveLength(3);
    expect(of('7', 401)).toHaveLength(3);
    expect(sampledOut.count).toBe(7);
  });
});
