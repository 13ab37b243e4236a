import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { createTestDatabase, storageEngines } from '../testing/index.js';
import { migrate } from './migrations.js';
import { SampleTimeRangeError } from './partitions.js';
import { Storage } from './storage.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const engines = await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'));

/** Samples of `point` every `step` ms in [from, to), value 1. */
function series(point: string, from: number, to: number, step: number): Sample[] {
  const out: Sample[] = [];
  for (let t = from; t < to; t += step) out.push({ point, time: t, value: 1, quality: 'good' });
  return out;
}

/** Names of the partitions of samples, sorted. */
async function partitionNames(db: pg.Pool | pg.Client): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

for (const engine of engines) {
  const title = engine.mode === 'postgresql' ? 'Samples partitioned by month on plain PostgreSQL' : 'Samples in a hypertable on TimescaleDB';
  describe.skipIf(engine.skip !== undefined)(engine.skip ? `${title} (skipped: ${engine.skip})` : title, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let storage: Storage;
    let seq = 0;
    const open = (url: string) => Storage.open({ databaseUrl: url, logger, timescale: engine.mode === 'postgresql' ? 'off' : 'auto' });
    const batch = (gateway: string, samples: Sample[]): Batch => ({ v: BATCH_VERSION, gateway, seq: ++seq, createdAt: 0, samples });

    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `partitions_${engine.mode}`);
      storage = await open(db.url);
    });
    afterAll(async () => {
      await storage?.close();
      await db?.drop();
    });

    it(`uses ${engine.mode}`, () => expect(storage.mode).toBe(engine.mode));

    it('stores samples spanning several months, through INSERT and COPY, each once, making the partitions as they are needed', async () => {
      // Every 10 days from 20 November 2025 to 10 February 2026, then March–April through COPY.
      const viaInsert = series('m.a', Date.UTC(2025, 10, 20), Date.UTC(2026, 1, 10), 10 * DAY + HOUR);
      expect(await storage.writeBatches([batch('spread', viaInsert)])).toEqual({ inserted: viaInsert.length, duplicates: 0 });
      expect(await storage.writeBatches([batch('spread', viaInsert)])).toEqual({ inserted: 0, duplicates: viaInsert.length });
      const viaCopy = series('m.b', Date.UTC(2026, 2, 30), Date.UTC(2026, 3, 3), HOUR);
      storage.copyMinRows = 1;
      try {
        expect(await storage.writeBatches([batch('spread', viaCopy)])).toEqual({ inserted: viaCopy.length, duplicates: 0 });
        expect(await storage.writeBatches([batch('spread', [...viaCopy, ...viaInsert])])).toEqual({
          inserted: 0,
          duplicates: viaCopy.length + viaInsert.length,
        });
      } finally {
        storage.copyMinRows = Infinity;
      }
      const { rows } = await storage.pool.query<{ point_key: string; time: Date }>(
        `SELECT p.point_key, s.time FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'spread' ORDER BY 1, 2`,
      );
      expect(rows.map((r) => [r.point_key, r.time.getTime()])).toEqual([...viaInsert, ...viaCopy].map((s) => [s.point, s.time]));
      if (engine.mode === 'postgresql') {
        expect(await partitionNames(storage.pool)).toEqual([
          'samples_p2025_11',
          'samples_p2025_12',
          'samples_p2026_01',
          'samples_p2026_02',
          'samples_p2026_03',
          'samples_p2026_04',
        ]);
        // Each row in its month's partition, UTC months: the last instant of March and the first of April.
        await storage.writeBatches([
          batch('edges', [
            { point: 'm', time: Date.UTC(2026, 3, 1) - 1, value: 1, quality: 'good' },
            { point: 'm', time: Date.UTC(2026, 3, 1), value: 2, quality: 'good' },
          ]),
        ]);
        const edges = await storage.pool.query<{ part: string; value: number }>(
          `SELECT s.tableoid::regclass::text AS part, s.value FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'edges' ORDER BY s.time`,
        );
        expect(edges.rows).toEqual([
          { part: 'samples_p2026_03', value: 1 },
          { part: 'samples_p2026_04', value: 2 },
        ]);
      } else {
        expect((await partitionNames(storage.pool)).filter((n) => n.startsWith('samples_p'))).toEqual([]);
        const { rows: chunks } = await storage.pool.query(`SELECT 1 FROM timescaledb_information.chunks WHERE hypertable_name = 'samples'`);
        expect(chunks.length).toBeGreaterThan(6);
      }
    });

    it('costs no database round trip once the months of a write have their partitions', async () => {
      let connections = 0;
      const count = () => void connections++;
      storage.pool.on('acquire', count);
      try {
        await storage.partitions.ensurePartitions(Date.UTC(2026, 6, 3), Date.UTC(2026, 7, 20));
        const first = connections;
        expect(first).toBe(engine.mode === 'postgresql' ? 1 : 0);
        await storage.partitions.ensurePartitions(Date.UTC(2026, 6, 1), Date.UTC(2026, 7, 31, 23, 59, 59, 999));
        await storage.partitions.ensurePartitions(Date.UTC(2026, 7, 15), Date.UTC(2026, 7, 15));
        expect(connections).toBe(first);
      } finally {
        storage.pool.off('acquire', count);
      }
    });

    it.skipIf(engine.mode !== 'postgresql')(
      engine.mode === 'postgresql'
        ? 'creates each partition once when several hub processes need the same months at once'
        : 'creates each partition once when several hub processes need the same months at once (skipped: TimescaleDB makes its own chunks)',
      async () => {
        const others = await Promise.all([open(db.url), open(db.url), open(db.url)]);
        try {
          const writes = others.flatMap((other, i) => [
            other.partitions.ensurePartitions(Date.UTC(2027, i, 10), Date.UTC(2027, 11, 31)),
            other.writeBatches([batch(`busy-${i}`, series('m', Date.UTC(2027, 11 - i, 1), Date.UTC(2027, 11 - i, 2), HOUR))]),
          ]);
          await Promise.all([...writes, storage.partitions.ensurePartitions(Date.UTC(2027, 0, 1), Date.UTC(2027, 5, 1))]);
          expect((await partitionNames(storage.pool)).filter((n) => n.startsWith('samples_p2027'))).toEqual(
            Array.from({ length: 12 }, (_, m) => `samples_p2027_${String(m + 1).padStart(2, '0')}`),
          );
          const { rows } = await storage.pool.query(`SELECT count(*)::int AS n FROM samples WHERE time >= '2027-01-01Z'`);
          expect(rows[0].n).toBe(3 * 24);
        } finally {
          await Promise.all(others.map((o) => o.close()));
        }
      },
    );

    it.skipIf(engine.mode !== 'postgresql')(
      engine.mode === 'postgresql'
        ? 'refuses sample times no partition can be made for, and creates nothing'
        : 'refuses sample times no partition can be made for (skipped: TimescaleDB makes its own chunks)',
      async () => {
        const before = await partitionNames(storage.pool);
        for (const [from, to] of [
          [Date.UTC(1969, 11, 31), Date.UTC(2026, 0, 1)],
          [Date.UTC(2026, 0, 1), Date.UTC(12026, 0, 1)],
          [Date.UTC(2026, 0, 1), 8.64e18],
          [Date.UTC(2026, 0, 1), Date.UTC(2126, 0, 1)], // a century: more partitions than one write may make
          [Number.NaN, Date.UTC(2026, 0, 1)],
        ]) {
          await expect(storage.partitions.ensurePartitions(from!, to!)).rejects.toThrow(SampleTimeRangeError);
        }
        expect(await partitionNames(storage.pool)).toEqual(before);
      },
    );

    it.skipIf(engine.mode !== 'postgresql')(
      engine.mode === 'postgresql'
        ? 'makes again a partition that another hub process dropped for retention when a late sample needs it'
        : 'makes again a partition another hub process dropped (skipped: TimescaleDB makes its own chunks)',
      async () => {
        const own = await createTestDatabase(engine.adminUrl, 'partitions_dropped');
        const hub = await Storage.open({ databaseUrl: own.url, logger, timescale: 'off', lifecycle: { retention: { samples: '1 year' } } });
        try {
          const old = Date.now() - 2 * 365 * DAY;
          const late = { point: 'm', time: old, value: 1, quality: 'good' as const };
          expect(await hub.writeBatches([batch('late', [late])])).toEqual({ inserted: 1, duplicates: 0 });
          // Another hub process's retention pass drops the month.
          const [name] = await partitionNames(hub.pool);
          await hub.pool.query(`DROP TABLE ${name}`);
          expect(await hub.writeBatches([batch('late', [{ ...late, time: old + 1 }])])).toEqual({ inserted: 1, duplicates: 0 });
          expect(await partitionNames(hub.pool)).toEqual([name]);
        } finally {
          await hub.close();
          await own.drop();
        }
      },
    );

    it.skipIf(engine.mode !== 'postgresql')(
      engine.mode === 'postgresql'
        ? "reads by point and time range, as the rollups read samples, only the range's partitions"
        : 'reads by point and time range only the partitions of the range (skipped: TimescaleDB excludes chunks itself)',
      async () => {
        // The shape of Rollups.touch's read: buckets from arrays, joined to samples by point and
        // time. The planner cannot prune here, but the executor does, per bucket.
        const t = Date.UTC(2026, 0, 15, 10, 30);
        const { rows } = await storage.pool.query<{ 'QUERY PLAN': unknown[] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON)
           SELECT s.point_id, b.bucket, count(*) FROM (
             SELECT DISTINCT p, date_trunc('hour', to_timestamp(t / 1000.0), 'Europe/Paris') AS bucket
               FROM unnest($1::bigint[], $2::float8[]) AS u(p, t)) AS b
             JOIN samples s ON s.point_id = b.p AND s.time >= b.bucket AND s.time < b.bucket + INTERVAL '1 hour'
            GROUP BY 1, 2`,
          [
            [1, 2],
            [t, t],
          ],
        );
        const scanned = partitionsRead(rows[0]!['QUERY PLAN']);
        expect(scanned).toEqual(['samples_p2026_01']);
        // A plain range read (series, completeness, the raw-data benchmark) is pruned when planned.
        const plan = await storage.pool.query<{ 'QUERY PLAN': unknown[] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM samples WHERE point_id = $1 AND time >= $2 AND time < $3`,
          [1, new Date(Date.UTC(2026, 1, 3)), new Date(Date.UTC(2026, 1, 4))],
        );
        expect(partitionsRead(plan.rows[0]!['QUERY PLAN'], true)).toEqual(['samples_p2026_02']);
      },
    );
  });
}

/** Partitions of samples a plan read (executed at least once), or merely planned with `planned`. */
function partitionsRead(plan: unknown, planned = false): string[] {
  const found = new Set<string>();
  const visit = (node: Record<string, unknown>) => {
    const relation = node['Relation Name'];
    if (typeof relation === 'string' && relation.startsWith('samples_p') && (planned || Number(node['Actual Loops']) > 0)) found.add(relation);
    for (const child of (node['Plans'] as Record<string, unknown>[] | undefined) ?? []) visit(child);
  };
  for (const entry of plan as { Plan: Record<string, unknown> }[]) visit(entry.Plan);
  return [...found].sort();
}

for (const engine of engines) {
  const title = 'Migration 4 on a database that holds samples';
  describe.skipIf(engine.skip !== undefined)(engine.skip ? `${title}, on TimescaleDB (skipped: ${engine.skip})` : `${title}, on ${engine.mode}`, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `migration4_${engine.mode}`);
    });
    afterAll(async () => {
      await db?.drop();
    });

    it(
      engine.mode === 'postgresql'
        ? 'moves every row into monthly partitions, unchanged'
        : 'enables compression, segmented by point and ordered by time, rows unchanged',
      async () => {
        const timescale = engine.mode === 'timescaledb';
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        let rowsBefore: unknown[];
        try {
          if (timescale) await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
          expect(await migrate(client, { timescale }, { through: 3 })).toEqual([1, 2, 3]);
          // Three points of one gateway, the edges of UTC months, every kind of value.
          await client.query(`
          INSERT INTO gateways (id) VALUES ('old');
          INSERT INTO points (gateway_id, point_key, name) VALUES ('old', 'p1', 'p1'), ('old', 'p2', 'p2'), ('old', 'p3', 'p3');
          INSERT INTO samples (point_id, time, value, text_value, quality, reason) VALUES
            (1, '2025-12-01T00:00:00Z', 1.5, NULL, 'good', NULL),
            (1, '2025-12-31T23:59:59.999999Z', 2, NULL, 'uncertain', 'range'),
            (1, '2026-01-01T00:00:00Z', NULL, 'text, with ''quotes''', 'good', NULL),
            (2, '2026-01-01T00:00:00Z', NULL, NULL, 'bad', 'timeout after 2000 ms'),
            (2, '2026-02-28T23:00:00Z', -0.25, NULL, 'stale', NULL);
          INSERT INTO samples (point_id, time, value, quality)
            SELECT 3, t, extract(epoch FROM t), 'good' FROM generate_series('2025-11-15T00:00:00Z'::timestamptz, '2026-02-15T00:00:00Z', INTERVAL '1 hour') t;
        `);
          rowsBefore = (await client.query(`SELECT point_id, time, value, text_value, quality::text, reason FROM samples ORDER BY point_id, time`)).rows;
        } finally {
          await client.end();
        }
        const storage = await Storage.open({ databaseUrl: db.url, logger, timescale: timescale ? 'auto' : 'off' });
        try {
          expect(storage.mode).toBe(engine.mode);
          const { rows } = await storage.pool.query(`SELECT point_id, time, value, text_value, quality::text, reason FROM samples ORDER BY point_id, time`);
          expect(rows).toEqual(rowsBefore);
          expect(rows).toHaveLength(5 + 92 * 24 + 1);
          if (timescale) {
            const settings = await storage.pool.query(
              `SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings WHERE hypertable = 'samples'::regclass`,
            );
            expect(settings.rows).toEqual([{ segmentby: 'point_id', orderby: '"time"' }]);
          } else {
            expect(await partitionNames(storage.pool)).toEqual(['samples_p2025_11', 'samples_p2025_12', 'samples_p2026_01', 'samples_p2026_02']);
            const edges = await storage.pool.query(`SELECT tableoid::regclass::text AS part FROM samples WHERE point_id = 1 ORDER BY time`);
            expect(edges.rows.map((r) => r.part)).toEqual(['samples_p2025_12', 'samples_p2025_12', 'samples_p2026_01']);
            const leftover = await storage.pool.query(`SELECT 1 FROM pg_class WHERE relname = 'samples_unpartitioned'`);
            expect(leftover.rows).toEqual([]);
          }
          // The primary key still makes writes idempotent (point p1 has id 1).
          const again = await storage.writeBatches([
            {
              v: BATCH_VERSION,
              gateway: 'old',
              seq: 1,
              createdAt: 0,
              samples: [
                { point: 'p1', time: Date.UTC(2025, 11, 1), value: 9, quality: 'good' },
                { point: 'p1', time: Date.UTC(2026, 2, 1), value: 3, quality: 'good' },
              ],
            },
          ]);
          expect(again).toEqual({ inserted: 1, duplicates: 1 });
        } finally {
          await storage.close();
        }
      },
    );
  });
}
