import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerAccess } from '../auth/access.js';
import { importCatalog } from '../storage/catalog.js';
import { migrate } from '../storage/migrations.js';
import { createTestDatabase } from '../testing/index.js';
import { IMPORT_ERRORS_REPORTED } from './csv-import.js';
import { serviceDataRoutes } from './routes.js';
import { ServiceData } from './service-data.js';

const ROWS = 200_000;

/** Row `i` of the file: even rows of the town hall (stored), odd rows of a building the catalog lacks (refused). */
function line(i: number): string {
  const time = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
  return `${time};${i % 2 === 0 ? 'building:town-hall' : `building:ghost-${i}`};${i % 97}\n`;
}

describe('a 200,000-row CSV import over HTTP', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'service_data_large');
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
    const serviceData = await ServiceData.open(pool);
    await serviceData.defineSource('counters', 'Compteurs', { period: 'time', scopeColumn: 'where', columns: { n: 'visitors' } });
    app = Fastify({ logger: false });
    app.addHook('onRequest', async (request) => {
      request.principal = { id: 'agent-1', role: 'agent', sites: null };
    });
    registerAccess(app, { pool });
    await app.register(serviceDataRoutes, { serviceData });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });

  it('answers with a summary of bounded size, refuses the rows of unknown buildings, and keeps memory flat', async () => {
    // The file is made as it is sent: neither side holds it whole.
    let next = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (next === 0) controller.enqueue(new TextEncoder().encode('time;where;n\n'));
        if (next >= ROWS) return controller.close();
        let text = '';
        for (const end = Math.min(next + 2000, ROWS); next < end; next++) text += line(next);
        controller.enqueue(new TextEncoder().encode(text));
      },
    });
    const baseline = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - baseline.heapUsed - baseline.arrayBuffers);
    }, 20);
    let text: string;
    let status: number;
    try {
      const response = await fetch(`${url}/api/service-data/import?source=counters&file=big.csv`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body,
        duplex: 'half',
      } as RequestInit);
      status = response.status;
      text = await response.text();
    } finally {
      clearInterval(sampler);
    }
    expect(status, text.slice(0, 500)).toBe(200);
    expect(text.length).toBeLessThan(64 * 1024);
    const summary = JSON.parse(text);
    expect(summary).toMatchObject({
      rows: ROWS,
      stored: ROWS / 2,
      superseded: 0,
      unchanged: 0,
      rowsInError: ROWS / 2,
      errorCount: ROWS / 2,
      mappingSaved: false,
    });
    expect(summary.errors).toHaveLength(IMPORT_ERRORS_REPORTED);
    expect(summary.errors[0]).toEqual({
      row: 3,
      column: 'where',
      message: 'row 3, column "where": "building:ghost-1" is not a building of the catalog (import with unknownScopes=keep to store it all the same)',
    });
    expect(Number((await pool.query(`SELECT count(*) FROM service_values WHERE scope = 'building:town-hall'`)).rows[0].count)).toBe(ROWS / 2);
    expect(Number((await pool.query(`SELECT count(*) FROM service_values WHERE scope <> 'building:town-hall'`)).rows[0].count)).toBe(0);
    // Holding the file's rows and answering them back took more than 500 MB; reading it by
    // chunks takes about 100 MB at most here, garbage not yet collected included.
    expect(peak).toBeLessThan(200 * 1024 * 1024);
  });

  it('keeps the rows of unknown buildings when asked, and refuses a file given twice the same value at chunks apart', async () => {
    const lines = ['time;where;n\n'];
    for (let i = 0; i < 2500; i++)
      lines.push(
        `2026-03-${String(1 + (i % 28)).padStart(2, '0')}T${String(Math.floor(i / 28) % 24).padStart(2, '0')}:${String(Math.floor(i / 672)).padStart(2, '0')}:00Z;building:annex;1\n`,
      );
    // Row 2502 repeats row 2 (the first data row), more than a chunk later.
    lines.push(lines[1]!);
    const response = await app.inject({
      method: 'POST',
      url: '/api/service-data/import?source=counters&file=annex.csv&unknownScopes=keep',
      headers: { 'content-type': 'text/csv' },
      payload: lines.join(''),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ rows: 2501, stored: 2500, rowsInError: 1 });
    expect(response.json().errors).toEqual([
      { row: 2502, column: 'n', message: 'row 2502, column "n": visitors for building:annex in 2026-03-01T00:00:00Z is already given on row 2' },
    ]);
  });
});
