import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { createTestDatabase, storageEngines } from '../testing/index.js';
import { RollupTimeZoneMismatchError, UnknownTimeZoneError, type RollupStep } from './rollups.js';
import { Storage } from './storage.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;

const titles = { postgresql: 'Rollups on plain PostgreSQL', timescaledb: 'Rollups on TimescaleDB' };
const engines = (await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'))).map((e) => ({
  ...e,
  title: e.skip ? `${titles[e.mode]} (skipped: ${e.skip})` : titles[e.mode],
}));

for (const engine of engines) {
  describe.skipIf(engine.skip !== undefined)(engine.title, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let storage: Storage;
    let seq = 0;

    /** Samples of numeric points of `gateway` (meters in kWh), announced with them. */
    async function write(gateway: string, samples: Sample[]): Promise<void> {
      const keys = [...new Set(samples.map((s) => s.point))];
      const points = keys.map((id) => ({
        id,
        name: id,
        unit: 'kWh',
        kind: 'number' as const,
        tags: ['energy', 'meter'],
        source: { plugin: 'test', device: 'd', address: 0 },
      }));
      const batch: Batch = { v: BATCH_VERSION, gateway, seq: ++seq, createdAt: Date.now(), samples, points };
      await storage.writeBatches([batch]);
    }

    /** Buckets of one point as [start, count, sum, first value, last value]. */
    async function buckets(gateway: string, point: string, step: RollupStep, from: number, to: number) {
      const rows = await storage.rollups.series({ points: [{ gateway, point }], from, to, step });
      return rows.map((r) => [r.bucket, r.count, r.sum, r.first.value, r.last.value]);
    }

    function hourly(point: string, from: number, to: number, value: (t: number) => number = () => 1): Sample[] {
      const out: Sample[] = [];
      for (let t = from; t < to; t += HOUR) out.push({ point, time: t, value: value(t), quality: 'good' });
      return out;
    }

    beforeAll(async () => {
      db = await createTestDatabase(engine.adminUrl, `rollups_${engine.mode}`);
      storage = await Storage.open({ databaseUrl: db.url, logger, timescale: engine.mode === 'postgresql' ? 'off' : 'auto' });
    });
    afterAll(async () => {
      await storage?.close();
      await db?.drop();
    });

    it(`uses ${engine.mode}`, () => {
      expect(storage.mode).toBe(engine.mode);
      expect(storage.rollups.timezone).toBe('Europe/Paris');
    });

    it('cuts the spring-forward day (2026-03-29, Europe/Paris) as one 23-hour day from local midnight to local midnight', async () => {
      // Local midnight of the 29th is 23:00Z on the 28th (CET); of the 30th, 22:00Z (CEST).
      const start = Date.UTC(2026, 2, 28, 23);
      const end = Date.UTC(2026, 2, 29, 22);
      await write('spring', hourly('m.energy', start - 2 * HOUR, end + 2 * HOUR));
      expect(await buckets('spring', 'm.energy', 'day', start - 24 * HOUR, end + 24 * HOUR)).toEqual([
        ['2026-03-27T23:00:00.000Z', 2, 2, 1, 1],
        ['2026-03-28T23:00:00.000Z', 23, 23, 1, 1],
        ['2026-03-29T22:00:00.000Z', 2, 2, 1, 1],
      ]);
      const hours = await buckets('spring', 'm.energy', 'hour', start, end);
      expect(hours).toHaveLength(23);
      expect(hours.every(([, n]) => n === 1)).toBe(true);
      // The month starts at local midnight of the 1st: 23:00Z on 28 February (CET).
      expect(await buckets('spring', 'm.energy', 'month', Date.UTC(2026, 0, 1), Date.UTC(2026, 5, 1))).toEqual([['2026-02-28T23:00:00.000Z', 27, 27, 1, 1]]);
    });

    it('cuts the fall-back day (2026-10-25, Europe/Paris) as one 25-hour day, its repeated hour as two real hours', async () => {
      const start = Date.UTC(2026, 9, 24, 22);
      const end = Date.UTC(2026, 9, 25, 23);
      await write(
        'autumn',
        hourly('m.energy', start, end, (t) => (t - start) / HOUR),
      );
      expect(await buckets('autumn', 'm.energy', 'day', start - 24 * HOUR, end + 24 * HOUR)).toEqual([['2026-10-24T22:00:00.000Z', 25, 300, 0, 24]]);
      // 02:00 local happens twice: 00:00Z (CEST) and 01:00Z (CET), each its own hour.
      expect(await buckets('autumn', 'm.energy', 'hour', Date.UTC(2026, 9, 24, 23), Date.UTC(2026, 9, 25, 3))).toEqual([
        ['2026-10-24T23:00:00.000Z', 1, 1, 1, 1],
        ['2026-10-25T00:00:00.000Z', 1, 2, 2, 2],
        ['2026-10-25T01:00:00.000Z', 1, 3, 3, 3],
        ['2026-10-25T02:00:00.000Z', 1, 4, 4, 4],
      ]);
      expect(await buckets('autumn', 'm.energy', 'month', Date.UTC(2026, 8, 1), Date.UTC(2026, 11, 1))).toEqual([['2026-09-30T22:00:00.000Z', 25, 300, 0, 24]]);
    });

    it('refreshes exactly the buckets late data touches, and no other', async () => {
      const day1 = Date.UTC(2026, 4, 9, 22); // local midnight, 10 May
      const day2 = day1 + 24 * HOUR;
      await write('late', [...hourly('m.energy', day1, day1 + 24 * HOUR), ...hourly('m.energy', day2, day2 + 24 * HOUR)]);
      const steps: RollupStep[] = ['hour', 'day', 'month'];
      const before = await Promise.all(steps.map((step) => buckets('late', 'm.energy', step, day1 - 40 * 24 * HOUR, day2 + 40 * 24 * HOUR)));
      const versions = engine.mode === 'postgresql' ? await rowVersions(storage, 'late') : undefined;
      // A sample half an hour into 10:00 local on the 11th, arriving late.
      const late = day2 + 10 * HOUR + HOUR / 2;
      await write('late', [{ point: 'm.energy', time: late, value: 5, quality: 'good' }]);
      const after = await Promise.all(steps.map((step) => buckets('late', 'm.energy', step, day1 - 40 * 24 * HOUR, day2 + 40 * 24 * HOUR)));
      const changed = steps.map((_, i) => after[i]!.filter((row) => !before[i]!.some((b) => JSON.stringify(b) === JSON.stringify(row))));
      expect(changed).toEqual([
        [[new Date(day2 + 10 * HOUR).toISOString(), 2, 6, 1, 5]],
        [[new Date(day2).toISOString(), 25, 29, 1, 1]],
        [['2026-04-30T22:00:00.000Z', 49, 53, 1, 1]],
      ]);
      expect(after.map((a) => a.length)).toEqual(before.map((b) => b.length));
      if (versions) {
        // Plain PostgreSQL: the other rows were not even rewritten.
        const now = await rowVersions(storage, 'late');
        const rewritten = [...now].filter(([key, xmin]) => versions.get(key) !== xmin).map(([key]) => key);
        expect(rewritten.sort()).toEqual([
          `day ${new Date(day2).toISOString()}`,
          `hour ${new Date(day2 + 10 * HOUR).toISOString()}`,
          'month 2026-04-30T22:00:00.000Z',
        ]);
      }
    });

    it('rolls up out-of-order batches as it rolls up the same samples in order', async () => {
      const from = Date.UTC(2026, 5, 30, 20);
      const samples = hourly('m.energy', from, from + 30 * HOUR, (t) => Math.round((t - from) / 60_000) * 0.25);
      await write('ordered', samples);
      const shuffled = [...samples].reverse();
      for (let i = 0; i < shuffled.length; i += 7) await write('shuffled', shuffled.slice(i, i + 7));
      for (const step of ['hour', 'day', 'month'] as const) {
        const a = await buckets('ordered', 'm.energy', step, from - 40 * 24 * HOUR, from + 40 * 24 * HOUR);
        const b = await buckets('shuffled', 'm.energy', step, from - 40 * 24 * HOUR, from + 40 * 24 * HOUR);
        expect(b).toEqual(a);
        expect(a.length).toBeGreaterThan(0);
      }
    });

    it("adds up each building's meters per local month: last reading minus the previous month's last", async () => {
      // Two meters in the same building, one in another; readings every hour from 1 Feb to 1 Apr local.
      const from = Date.UTC(2026, 0, 31, 23);
      const to = Date.UTC(2026, 2, 31, 22);
      await write('town-hall', [...hourly('elec', from, to, (t) => (t - from) / HOUR), ...hourly('gas', from, to, (t) => 2 * ((t - from) / HOUR))]);
      await write(
        'school',
        hourly('elec', from, to, (t) => 1000 + (t - from) / HOUR),
      );
      await storage.pool.query(
        `UPDATE gateways SET building_key = CASE id WHEN 'town-hall' THEN 'b-town-hall' ELSE 'b-school' END WHERE id IN ('town-hall', 'school')`,
      );
      const hoursFeb = 28 * 24;
      const hoursMar = 31 * 24 - 1; // the spring-forward day
      const energy = await storage.rollups.energyByBuilding({ from, to });
      expect(energy).toEqual([
        // February has no month before it here: last minus first reading.
        { building: 'b-school', bucket: new Date(from).toISOString(), energy: hoursFeb - 1, meters: 1 },
        { building: 'b-school', bucket: '2026-02-28T23:00:00.000Z', energy: hoursMar, meters: 1 },
        { building: 'b-town-hall', bucket: new Date(from).toISOString(), energy: 3 * (hoursFeb - 1), meters: 2 },
        { building: 'b-town-hall', bucket: '2026-02-28T23:00:00.000Z', energy: 3 * hoursMar, meters: 2 },
      ]);
      // Asked from March only, February's last reading still counts as March's start.
      const march = await storage.rollups.energyByBuilding({ from: Date.UTC(2026, 1, 28, 23), to });
      expect(march.map((e) => e.energy)).toEqual([hoursMar, 3 * hoursMar]);
      const days = await storage.rollups.energyByBuilding({ from: Date.UTC(2026, 2, 28, 23), to: Date.UTC(2026, 2, 29, 22), step: 'day' });
      expect(days.map((e) => [e.building, e.energy])).toEqual([
        ['b-school', 23],
        ['b-town-hall', 69],
      ]);
    });

    it('counts every sample when several writers fill the same buckets at once', async () => {
      const from = Date.UTC(2026, 6, 31, 21, 0); // the last local hour of July
      const writers = Array.from({ length: 8 }, (_, w) =>
        write(
          'busy',
          Array.from({ length: 30 }, (_, i) => ({ point: 'm.energy', time: from + (i * 8 + w) * 15_000, value: 1, quality: 'good' as const })),
        ),
      );
      await Promise.all(writers);
      for (const step of ['hour', 'day', 'month'] as const) {
        const rows = await buckets('busy', 'm.energy', step, from - 40 * 24 * HOUR, from + 40 * 24 * HOUR);
        expect(rows.map(([, n]) => n)).toEqual([240]);
      }
    });

    it('counts a redelivered batch once, and only the new samples of a batch that repeats stored ones', async () => {
      const from = Date.UTC(2026, 8, 14, 22); // local midnight, 15 September
      const first = hourly('m.energy', from, from + 6 * HOUR, (t) => (t - from) / HOUR);
      await write('again', first);
      await write('again', first); // the same samples again, as after a hub crash before its ack
      // Three stored samples and three new ones, one of which falls in a new local day.
      const overlapping = hourly('m.energy', from + 3 * HOUR, from + 6 * HOUR, (t) => (t - from) / HOUR);
      overlapping.push(...hourly('m.energy', from + 6 * HOUR + HOUR / 2, from + 8 * HOUR, () => 100), {
        point: 'm.energy',
        time: from + 30 * HOUR,
        value: 7,
        quality: 'good',
      });
      await write('again', overlapping);
      expect(await buckets('again', 'm.energy', 'day', from, from + 48 * HOUR)).toEqual([
        [new Date(from).toISOString(), 8, 15 + 200, 0, 100],
        [new Date(from + 24 * HOUR).toISOString(), 1, 7, 7, 7],
      ]);
      const { rows } = await storage.pool.query(`SELECT count(*)::int AS n FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'again'`);
      expect(rows[0].n).toBe(9);
    });

    it('rolls up the samples stored before the rollups existed', async () => {
      const from = Date.UTC(2026, 7, 31, 22); // local midnight, 1 September
      await write('before', hourly('m.energy', from, from + 48 * HOUR));
      // Back to a database that has samples but never ran migration 3.
      await storage.close();
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      if (engine.mode === 'timescaledb') await client.query('DROP MATERIALIZED VIEW rollup_month, rollup_day, rollup_hour CASCADE');
      else await client.query('DROP TABLE rollup_month, rollup_day, rollup_hour');
      await client.query('DROP TABLE rollup_settings; DELETE FROM schema_migrations WHERE id = 3');
      await client.end();
      storage = await Storage.open({ databaseUrl: db.url, logger, timescale: engine.mode === 'postgresql' ? 'off' : 'auto' });
      expect(await buckets('before', 'm.energy', 'day', from, from + 48 * HOUR)).toEqual([
        [new Date(from).toISOString(), 24, 24, 1, 1],
        [new Date(from + 24 * HOUR).toISOString(), 24, 24, 1, 1],
      ]);
      expect(await buckets('before', 'm.energy', 'month', from, from + 48 * HOUR)).toEqual([[new Date(from).toISOString(), 48, 48, 1, 1]]);
    });

    it('refuses to open the database with another time zone than its rollups were cut in', async () => {
      await expect(
        Storage.open({ databaseUrl: db.url, logger, timezone: 'America/New_York', timescale: engine.mode === 'postgresql' ? 'off' : 'auto' }),
      ).rejects.toThrow(RollupTimeZoneMismatchError);
      await expect(Storage.open({ databaseUrl: db.url, logger, timezone: 'Europe/Atlantis' })).rejects.toThrow(UnknownTimeZoneError);
    });
  });
}

/** xmin of every rollup row of `gateway`'s points, by `<step> <bucket>`. */
async function rowVersions(storage: Storage, gateway: string): Promise<Map<string, string>> {
  const { rows } = await storage.pool.query<{ key: string; xmin: string }>(
    `SELECT 'hour ' || to_char(r.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS key, r.xmin::text AS xmin FROM rollup_hour r JOIN points p ON p.id = r.point_id WHERE p.gateway_id = $1
     UNION ALL
     SELECT 'day ' || to_char(r.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), r.xmin::text FROM rollup_day r JOIN points p ON p.id = r.point_id WHERE p.gateway_id = $1
     UNION ALL
     SELECT 'month ' || to_char(r.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), r.xmin::text FROM rollup_month r JOIN points p ON p.id = r.point_id WHERE p.gateway_id = $1`,
    [gateway],
  );
  return new Map(rows.map((r) => [r.key, r.xmin]));
}
