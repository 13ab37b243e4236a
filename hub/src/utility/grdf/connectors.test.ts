import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../testing/index.js';
import { importCatalog } from '../../storage/catalog.js';
import { Storage } from '../../storage/storage.js';
import { utilityClients } from '../clients.js';
import { UtilityConnectors } from '../connectors.js';
import { addDays, dayStart, daysBetween, localDay } from '../local-time.js';
import { SecretBox } from '../secrets.js';
import { UtilityStore } from '../store.js';
import { GrdfSimulator } from './simulator.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';
const SCHOOL_PCE = '22423299474865';
const GYM_PCE = 'GI000042';
/** The school's second gas meter, read monthly. */
const MONTHLY_PCE = '22423299474999';
const SECRET = 'the-city-s-adict-secret';
const HOUR = 3_600_000;

/**
 * A connector collecting the gas meters of a school and a gym from a simulated GRDF ADICT on
 * loopback, day after day of a clock the test moves: the gas days since the first, a day late
 * then given, a day corrected, a PCE without an access right that does not stop the other.
 */
describe('utility connectors against GRDF ADICT (simulated on loopback)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let simulator: GrdfSimulator;
  let connectors: UtilityConnectors;
  // The test's clock: 08:00 local on the day.
  let today = '2026-11-02';
  const now = () => dayStart(today, TZ) + 8 * HOUR;
  const since = '2026-09-20';

  /** Stored consumption samples of a PCE as [local day, kWh, reason]. */
  async function consumption(pce: string): Promise<[string, number, string | null][]> {
    const { rows } = await storage.pool.query(
      `SELECT s.time, s.value, s.reason FROM samples s JOIN points p ON p.id = s.point_id
        WHERE p.gateway_id = $1 AND p.point_key = 'consumption' ORDER BY s.time`,
      [`utility:grdf:${pce}`],
    );
    return rows.map((r) => [localDay(r.time.getTime(), TZ), r.value, r.reason]);
  }

  const run = () => connectors.run('grdf', 'test');

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'utility_grdf');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await importCatalog(storage.pool, {
      organisation: { id: 'city', name: 'City' },
      sites: [
        {
          id: 'north',
          name: 'North',
          buildings: [
            { id: 'school', name: 'School', usage: 'school', area: 2000 },
            { id: 'gym', name: 'Gym', usage: 'gymnasium', area: 900 },
          ],
        },
      ],
    });
    simulator = await GrdfSimulator.start({
      clients: [{ id: 'city-adict', secret: SECRET }],
      pces: [{ pce: SCHOOL_PCE }, { pce: GYM_PCE, accessRight: false }, { pce: MONTHLY_PCE, frequency: 'monthly' }],
      today: () => today,
      firstDay: '2026-01-01',
    });
    connectors = new UtilityConnectors({
      pool: storage.pool,
      store: new UtilityStore(storage),
      timezone: TZ,
      logger: quiet,
      clients: utilityClients({}, { baseDelayMs: 20, minIntervalMs: 0, now }),
      secrets: SecretBox.fromBase64(Buffer.alloc(32, 9).toString('base64')),
      now,
    });
    await connectors.save(
      'grdf',
      { kind: 'grdf', name: 'GRDF ADICT', baseUrl: simulator.url, clientId: 'city-adict', enabled: true, collectHour: 7, lookbackDays: 3, authorizeUrl: null },
      SECRET,
    );
    for (const [id, building] of [
      [SCHOOL_PCE, 'school'],
      [GYM_PCE, 'gym'],
    ] as const)
      await connectors.saveDeliveryPoint({ utility: 'grdf', id, energy: 'gas', building, connector: 'grdf', loadCurve: false, since, consentUntil: null });
  });
  afterAll(async () => {
    await connectors?.stop();
    await simulator?.stop();
    await storage?.close();
    await db?.drop();
  });

  it("collects every gas day since the first in one call, GRDF's kWh with the m³ and coefficient they came from", async () => {
    const summary = await run();
    const stored = await consumption(SCHOOL_PCE);
    expect(stored.map(([d]) => d)).toEqual(daysBetween(since, today));
    for (const [day, kWh, reason] of stored) {
      const period = simulator.period(SCHOOL_PCE, day)!;
      expect(kWh).toBe(period.kWh);
      expect(reason).toBe(`${period.m3} m³ × ${period.kWhPerM3} kWh/m³`);
    }
    const asked = simulator.requests.filter((r) => r.path.includes(SCHOOL_PCE));
    expect(asked.map((r) => [r.query.date_debut, r.query.date_fin, r.status])).toEqual([[since, today, 200]]);
    // The gym's PCE has no access right: said against it, and the school collected all the same.
    expect(summary.ok).toBe(false);
    expect(summary.errors).toEqual([{ deliveryPoint: GYM_PCE, message: expect.stringContaining("GRDF gives no access to this PCE's informative data") }]);
    const state = await connectors.get('grdf');
    const school = state.deliveryPoints.find((p) => p.id === SCHOOL_PCE)!;
    expect(school).toMatchObject({ lastDay: addDays(today, -1), daysMissing: 0, lastError: null });
    expect(state.deliveryPoints.find((p) => p.id === GYM_PCE)!.lastError).toMatch(/code 1000002/);
  });

  it('fills a gas day GRDF gave late, and replaces a corrected day keeping its first version', async () => {
    await connectors.saveDeliveryPoint({
      utility: 'grdf',
      id: GYM_PCE,
      energy: 'gas',
      building: 'gym',
      connector: null,
      loadCurve: false,
      since,
      consentUntil: null,
    });
    const late = today;
    today = addDays(today, 2);
    simulator.withhold(SCHOOL_PCE, late);
    const first = await run();
    expect(first).toMatchObject({ ok: true, daysMissing: 1 });
    expect((await consumption(SCHOOL_PCE)).map(([d]) => d)).not.toContain(late);

    simulator.release(SCHOOL_PCE, late);
    const corrected = addDays(today, -1);
    const original = (await consumption(SCHOOL_PCE)).find(([d]) => d === corrected)![1];
    simulator.correct(SCHOOL_PCE, corrected, 1.25);
    today = addDays(today, 1);
    const second = await run();
    expect(second).toMatchObject({ ok: true, daysMissing: 0 });
    expect(second.corrected).toBeGreaterThanOrEqual(1);
    const stored = await consumption(SCHOOL_PCE);
    expect(stored.map(([d]) => d)).toEqual(daysBetween(since, today));
    expect(stored.find(([d]) => d === late)![1]).toBe(simulator.period(SCHOOL_PCE, late)!.kWh);
    expect(stored.find(([d]) => d === corrected)![1]).toBe(simulator.period(SCHOOL_PCE, corrected)!.kWh);
    expect(stored.find(([d]) => d === corrected)![1]).not.toBe(original);
    const history = await storage.pool.query(
      `SELECT h.value, h.replaced_by FROM sample_history h JOIN points p ON p.id = h.point_id
        WHERE p.gateway_id = $1 AND p.point_key = 'consumption' AND h.time = $2`,
      [`utility:grdf:${SCHOOL_PCE}`, new Date(dayStart(corrected, TZ))],
    );
    expect(history.rows).toEqual([{ value: original, replaced_by: String(second.id) }]);
  });

  it('counts a meter read monthly whole for its months: only the month in progress is missing', async () => {
    await connectors.saveDeliveryPoint({
      utility: 'grdf',
      id: MONTHLY_PCE,
      energy: 'gas',
      building: 'school',
      connector: 'grdf',
      loadCurve: false,
      since: '2026-09-01',
      consentUntil: null,
    });
    const summary = await run();
    expect(summary.errors.filter((e) => e.deliveryPoint === MONTHLY_PCE)).toEqual([]);
    const monthly = (await connectors.get('grdf')).deliveryPoints.find((p) => p.id === MONTHLY_PCE)!;
    const monthStart = `${today.slice(0, 7)}-01`;
    expect(monthly).toMatchObject({ daysMissing: daysBetween(monthStart, today).length, lastError: null });
    expect(monthly.lastDay).toBe(addDays(monthStart, -1));
  });

  it('says which PCE lost its access right once the customer revokes it', async () => {
    simulator.revokeAccess(SCHOOL_PCE);
    today = addDays(today, 1);
    const summary = await run();
    expect(summary.ok).toBe(false);
    expect(summary.errors).toEqual([{ deliveryPoint: SCHOOL_PCE, message: expect.stringContaining('code 1000014') }]);
    expect((await connectors.get('grdf')).deliveryPoints[0]!.lastError).toMatch(/révoqué son consentement/);
  });
});
