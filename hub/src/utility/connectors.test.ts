import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { importCatalog } from '../storage/catalog.js';
import { utilityClients } from './clients.js';
import { UtilityConnectors } from './connectors.js';
import { EnedisSimulator } from './enedis/index.js';
import { addDays, dayStart, daysBetween, localDay } from './local-time.js';
import { SecretBox } from './secrets.js';
import { UtilityStore } from './store.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';
const PRM = '30001234567890';
const SECRET = 'the-city-s-enedis-secret';
const HOUR = 3_600_000;

/**
 * A connector collecting a Linky from a simulated Enedis Data Connect on loopback, day after
 * day of a clock the test moves: paging, quotas, expired tokens, a day late then given, a day
 * corrected, an outage of three days caught up.
 */
describe('utility connectors against Enedis Data Connect (simulated on loopback)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let simulator: EnedisSimulator;
  let connectors: UtilityConnectors;
  // The test's clock: 08:00 local on the day.
  let today = '2026-11-02';
  const now = () => dayStart(today, TZ) + 8 * HOUR;
  const since = '2026-09-20';

  /** Stored consumption samples of the PRM as [local day, kWh], and whether any instant is there twice (the key forbids it). */
  async function consumption(): Promise<[string, number][]> {
    const { rows } = await storage.pool.query(
      `SELECT s.time, s.value FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = 'consumption' ORDER BY s.time`,
      [`utility:enedis:${PRM}`],
    );
    return rows.map((r) => [localDay(r.time.getTime(), TZ), r.value]);
  }

  async function powerSamples(): Promise<number> {
    const { rows } = await storage.pool.query(
      `SELECT count(*)::int AS n FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = 'power'`,
      [`utility:enedis:${PRM}`],
    );
    return rows[0].n;
  }

  const run = () => connectors.run('enedis', 'test');

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'utility_connectors');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await importCatalog(storage.pool, {
      organisation: { id: 'city', name: 'City' },
      sites: [{ id: 'north', name: 'North', buildings: [{ id: 'library', name: 'Library', usage: 'library', area: 600 }] }],
    });
    simulator = await EnedisSimulator.start({
      clients: [{ id: 'city-app', secret: SECRET }],
      usagePoints: [{ prm: PRM, scaleKw: 30 }],
      today: () => today,
      firstDay: '2026-01-01',
    });
    connectors = new UtilityConnectors({
      pool: storage.pool,
      store: new UtilityStore(storage),
      timezone: TZ,
      logger: quiet,
      clients: utilityClients({ baseDelayMs: 20, minIntervalMs: 0 }),
      secrets: SecretBox.fromBase64(Buffer.alloc(32, 7).toString('base64')),
      now,
    });
    await connectors.save(
      'enedis',
      {
        kind: 'enedis',
        name: 'Enedis Data Connect',
        baseUrl: simulator.url,
        clientId: 'city-app',
        enabled: true,
        collectHour: 7,
        lookbackDays: 3,
        authorizeUrl: null,
      },
      SECRET,
    );
    await connectors.saveDeliveryPoint({
      utility: 'enedis',
      id: PRM,
      energy: 'elec',
      building: 'library',
      connector: 'enedis',
      loadCurve: true,
      since,
      consentUntil: null,
    });
  });
  afterAll(async () => {
    await connectors?.stop();
    await simulator?.stop();
    await storage?.close();
    await db?.drop();
  });

  it('keeps the secret sealed, and never gives it back', async () => {
    const stored = await storage.pool.query(`SELECT client_secret FROM utility_connectors WHERE key = 'enedis'`);
    expect(stored.rows[0].client_secret.includes(Buffer.from(SECRET))).toBe(false);
    const state = await connectors.get('enedis');
    expect(state.hasSecret).toBe(true);
    expect(JSON.stringify(state)).not.toContain(SECRET);
  });

  it('collects every day since the first, the daily values in one call and the load curve in windows of 7 days', async () => {
    const summary = await run();
    expect(summary).toMatchObject({ ok: true, errors: [], daysMissing: 0 });
    const days = daysBetween(since, today);
    expect((await consumption()).map(([d]) => d)).toEqual(days);
    // Each day's kWh is Enedis's Wh / 1000.
    expect((await consumption())[0]![1]).toBe(simulator.dailyWh(PRM, since)! / 1000);
    // 43 days of 48 half hours, and one of 50 (the autumn clock change, 25 October).
    expect(await powerSamples()).toBe(days.length * 48 + 2);
    const asked = simulator.requests.filter((r) => r.status === 200 && r.path.includes('consumption'));
    const daily = asked.filter((r) => r.path.includes('daily_consumption'));
    const curve = asked.filter((r) => r.path.includes('load_curve'));
    expect(daily).toHaveLength(1);
    expect(curve.length).toBe(Math.ceil(days.length / 7));
    for (const r of curve) expect(daysBetween(r.query.start!, r.query.end!).length).toBeLessThanOrEqual(7);
    const state = await connectors.get('enedis');
    expect(state.deliveryPoints[0]!).toMatchObject({ lastDay: addDays(today, -1), daysMissing: 0, lastError: null });
    // Next run: tomorrow at 07:00 local.
    expect(state.nextRun).toBe(new Date(dayStart(addDays(today, 1), TZ) + 7 * HOUR).toISOString());
  });

  it('stores a reading once however often it is read, and asks again only the look-back days', async () => {
    const before = simulator.requests.length;
    const summary = await run();
    expect(summary).toMatchObject({ ok: true, inserted: 0, corrected: 0 });
    expect(summary.unchanged).toBe(summary.readings);
    const daily = simulator.requests.slice(before).find((r) => r.path.includes('daily_consumption'))!;
    expect([daily.query.start, daily.query.end]).toEqual([addDays(today, -3), today]);
  });

  it('renews an expired token and waits out the quota (429) without losing a day', async () => {
    today = addDays(today, 1);
    simulator.expireTokens();
    simulator.throttle(2, 1);
    const before = simulator.requests.length;
    const summary = await run();
    expect(summary).toMatchObject({ ok: true, errors: [] });
    const statuses = simulator.requests.slice(before).map((r) => r.status);
    expect(statuses).toContain(401);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect((await consumption()).map(([d]) => d)).toEqual(daysBetween(since, today));
  });

  it('fills a day the utility gave late, and replaces a corrected day keeping its first version', async () => {
    // Two days pass: the first of them is late at Enedis, the second is there.
    const late = today;
    today = addDays(today, 2);
    simulator.withhold(PRM, late);
    const first = await run();
    expect(first.daysMissing).toBe(1);
    expect((await consumption()).map(([d]) => d)).not.toContain(late);
    const index = await storage.pool.query(
      `SELECT s.quality::text, s.reason FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = 'meter' ORDER BY s.time DESC LIMIT 1`,
      [`utility:enedis:${PRM}`],
    );
    expect(index.rows[0]).toEqual({ quality: 'uncertain', reason: expect.stringContaining('1 day before this reading not given') });
    // The run went well: the late day waits for tomorrow's run, at the connector's hour.
    expect((await connectors.get('enedis')).nextRun).toBe(new Date(dayStart(addDays(today, 1), TZ) + 7 * HOUR).toISOString());

    simulator.release(PRM, late);
    const corrected = addDays(today, -1);
    const original = (await consumption()).find(([d]) => d === corrected)![1];
    simulator.correct(PRM, corrected, 1.25);
    today = addDays(today, 1);
    const second = await run();
    expect(second).toMatchObject({ ok: true, daysMissing: 0 });
    expect(second.corrected).toBeGreaterThanOrEqual(1);
    const stored = await consumption();
    expect(stored.map(([d]) => d)).toEqual(daysBetween(since, today));
    expect(stored.find(([d]) => d === corrected)![1]).toBe(simulator.dailyWh(PRM, corrected)! / 1000);
    expect(stored.find(([d]) => d === corrected)![1]).not.toBe(original);
    const history = await storage.pool.query(
      `SELECT h.value, h.replaced_by FROM sample_history h JOIN points p ON p.id = h.point_id
        WHERE p.gateway_id = $1 AND p.point_key = 'consumption' AND h.time = $2`,
      [`utility:enedis:${PRM}`, new Date(dayStart(corrected, TZ))],
    );
    expect(history.rows).toEqual([{ value: original, replaced_by: String(second.id) }]);
  });

  it('catches up the days of a three-day outage at the first run after it', async () => {
    simulator.outage(true);
    for (let i = 0; i < 3; i++) {
      today = addDays(today, 1);
      const failed = await run();
      expect(failed.ok).toBe(false);
      expect(failed.errors[0]).toMatchObject({ deliveryPoint: PRM });
    }
    expect((await connectors.get('enedis')).daysMissing).toBe(3);
    simulator.outage(false);
    today = addDays(today, 1);
    const back = await run();
    expect(back).toMatchObject({ ok: true, daysMissing: 0 });
    const stored = await consumption();
    expect(stored.map(([d]) => d)).toEqual(daysBetween(since, today));
    expect(await powerSamples()).toBe(daysBetween(since, today).length * 48 + 2);
  });

  it('says which delivery point lost its consent', async () => {
    simulator.revokeConsent(PRM);
    today = addDays(today, 1);
    const summary = await run();
    expect(summary.ok).toBe(false);
    expect(summary.errors, JSON.stringify(summary.errors)).toEqual([{ deliveryPoint: PRM, message: expect.stringMatching(/consent/i) }]);
    expect((await connectors.get('enedis')).deliveryPoints[0]!.lastError).toMatch(/consent/i);
  });

  it("asks the customer's consent on Enedis's page and records it when the page sends them back", async () => {
    const asked = await connectors.askConsent('enedis', PRM, 'P1Y', 'https://hub.example.org/api/utility/consent/callback', 'operator-1');
    expect(asked.url.startsWith(`${simulator.url}/dataconnect/v1/oauth2/authorize?`)).toBe(true);
    // The customer consents on the (simulated) page, which sends them back with the state and their PRM.
    const page = await fetch(`${asked.url}&usage_point_id=${PRM}`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    const back = new URL(page.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe('https://hub.example.org/api/utility/consent/callback');
    const given = await connectors.consentGiven(back.searchParams.get('state')!, back.searchParams.get('usage_point_id') ?? undefined);
    expect(given).toEqual({ deliveryPoint: PRM, until: addDays(today, 365) });
    expect((await connectors.get('enedis')).deliveryPoints[0]!.consentUntil).toBe(given.until);
    // A state serves once.
    await expect(connectors.consentGiven(back.searchParams.get('state')!, PRM)).rejects.toThrow(/was not asked by this hub, was used already/);
    // Consent given again: the connector reads the PRM again.
    const summary = await run();
    expect(summary).toMatchObject({ ok: true, daysMissing: 0 });
  });

  it("never asks further back than Enedis keeps a meter's history: older days stay missing, the run goes well", async () => {
    const OLD = '30009999999999';
    const old = await EnedisSimulator.start({
      clients: [{ id: 'city-app', secret: SECRET }],
      usagePoints: [{ prm: OLD }],
      today: () => today,
      firstDay: '2019-01-01',
    });
    try {
      await connectors.save(
        'enedis-old',
        {
          kind: 'enedis',
          name: 'Enedis (history)',
          baseUrl: old.url,
          clientId: 'city-app',
          enabled: true,
          collectHour: 7,
          lookbackDays: 3,
          authorizeUrl: null,
        },
        SECRET,
      );
      await connectors.saveDeliveryPoint({
        utility: 'enedis',
        id: OLD,
        energy: 'elec',
        building: 'library',
        connector: 'enedis-old',
        loadCurve: false,
        since: '2020-01-01',
        consentUntil: null,
      });
      const summary = await connectors.run('enedis-old', 'test');
      expect(summary).toMatchObject({ ok: true, errors: [] });
      const starts = old.requests.filter((r) => r.path.includes('daily_consumption')).map((r) => r.query.start);
      // 36 months and 15 days back, a day kept short of it.
      const earliest = addDays(`${Number(today.slice(0, 4)) - 3}${today.slice(4)}`, -14);
      expect(starts[0]).toBe(earliest);
      const point = (await connectors.get('enedis-old')).deliveryPoints[0]!;
      expect(point.daysMissing).toBe(daysBetween('2020-01-01', earliest).length);
    } finally {
      await old.stop();
    }
  });

  it('ends a collection at the window it is reading when the hub stops, the rest left for the next run', async () => {
    const SLOW = '30008888888888';
    const slow = await EnedisSimulator.start({
      clients: [{ id: 'city-app', secret: SECRET }],
      usagePoints: [{ prm: SLOW }],
      today: () => today,
      firstDay: '2025-01-01',
    });
    const stopping = new UtilityConnectors({
      pool: storage.pool,
      store: new UtilityStore(storage),
      timezone: TZ,
      logger: quiet,
      clients: utilityClients({ baseDelayMs: 20, minIntervalMs: 0 }),
      secrets: SecretBox.fromBase64(Buffer.alloc(32, 7).toString('base64')),
      now,
    });
    try {
      await stopping.save(
        'enedis-slow',
        { kind: 'enedis', name: 'Enedis (slow)', baseUrl: slow.url, clientId: 'city-app', enabled: true, collectHour: 7, lookbackDays: 0, authorizeUrl: null },
        SECRET,
      );
      await stopping.saveDeliveryPoint({
        utility: 'enedis',
        id: SLOW,
        energy: 'elec',
        building: 'library',
        connector: 'enedis-slow',
        loadCurve: true,
        since: '2025-06-01',
        consentUntil: null,
      });
      // The hub stops while the second load-curve window is answered.
      let windows = 0;
      slow.override((request) => {
        if (request.path.includes('load_curve') && ++windows === 2) void stopping.stop();
        return undefined;
      });
      const summary = await stopping.run('enedis-slow', 'test');
      expect(summary.ok).toBe(false);
      expect(summary.errors).toEqual([{ deliveryPoint: SLOW, message: expect.stringContaining('the hub stopped during this collection') }]);
      // It read no further than the window under way when it stopped.
      expect(slow.requests.filter((r) => r.path.includes('load_curve') && r.status === 200).length).toBeLessThanOrEqual(2);
    } finally {
      await slow.stop();
    }
  });

  it('never collects a connector another hub is collecting, until that hub’s lease lapses', async () => {
    await storage.pool.query(`UPDATE utility_connectors SET lease_holder = 'other-hub', lease_until = now() + interval '1 hour' WHERE key = 'enedis'`);
    expect((await connectors.get('enedis')).running).toBe(true);
    await expect(run()).rejects.toThrow(/being collected by another hub/);
    // That hub died: its lease lapses and this one collects.
    await storage.pool.query(`UPDATE utility_connectors SET lease_until = now() - interval '1 second' WHERE key = 'enedis'`);
    expect((await run()).ok).toBe(true);
    const lease = await storage.pool.query(`SELECT lease_holder, lease_until FROM utility_connectors WHERE key = 'enedis'`);
    expect(lease.rows[0]).toEqual({ lease_holder: null, lease_until: null });
  });

  it('runs a connector on its schedule when its hour has come', async () => {
    const runs = (await connectors.runs('enedis')).length;
    await connectors.runDue();
    // The last run failed a moment ago: due again an hour after it, not yet.
    expect((await connectors.runs('enedis')).length).toBe(runs);
    today = addDays(today, 1);
    await connectors.runDue();
    expect((await connectors.runs('enedis')).length).toBe(runs + 1);
  });
});
