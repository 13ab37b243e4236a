import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { createTestDatabase, objectiveDefinition } from '../testing/index.js';
import { Storage } from '../storage/storage.js';
import { fileURLToPath } from 'node:url';
import { importCatalog, loadCatalog, type Catalog } from '../storage/catalog.js';
import { Objectives } from './objectives.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;

describe('meters: one main meter per energy, every energy in kWh', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let objectives: Objectives;
  let seq = 0;

  const catalog: Catalog = {
    organisation: { id: 'city', name: 'City' },
    sites: [
      {
        id: 'centre',
        name: 'Centre',
        buildings: [
          {
            id: 'hall',
            name: 'Hall',
            usage: 'town-hall',
            area: 1000,
            meters: [
              { point: 'm.main', role: 'main' },
              { point: 'm.sub1', role: 'sub', submeterOf: 'm.main' },
              { point: 'bms.sub2', role: 'sub', submeterOf: 'm.main' },
            ],
          },
          // Two electricity meters, no roles declared: the default must count one only.
          { id: 'annex', name: 'Annex', usage: 'offices', area: 500 },
          {
            id: 'boiler',
            name: 'Boiler house',
            usage: 'technical',
            area: 100,
            meters: [
              {
                point: 'm.gas',
                role: 'main',
                conversions: [
                  { from: '2025-02', kWhPerUnit: 11.5, source: 'invoice February 2025' },
                  { from: '2025-01', kWhPerUnit: 11.0, source: 'invoice January 2025' },
                ],
              },
            ],
          },
          { id: 'gym', name: 'Gym', usage: 'gymnasium', area: 800 },
        ],
      },
    ],
  };

  /** Samples of `gateway` (serving `building`), announcing points with the given tags and unit. */
  async function write(gateway: string, building: string, points: Record<string, { tags: string[]; unit: string }>, samples: Sample[]): Promise<void> {
    const batch: Batch = {
      v: BATCH_VERSION,
      gateway,
      seq: ++seq,
      createdAt: Date.now(),
      building,
      points: Object.entries(points).map(([id, p]) => ({
        id,
        name: id,
        unit: p.unit,
        kind: 'number' as const,
        tags: p.tags,
        source: { plugin: 'test', device: 'd', address: 0 },
      })),
      samples,
    };
    await storage.writeBatches([batch]);
  }

  /** Hourly readings of a meter from `from` to `to` included, advancing `perHour` an hour from 0. */
  function meter(point: string, from: number, to: number, perHour: number): Sample[] {
    const out: Sample[] = [];
    for (let t = from; t <= to; t += HOUR) out.push({ point, time: t, value: (perHour * (t - from)) / HOUR, quality: 'good' });
    return out;
  }

  async function values(key: string): Promise<Record<string, number | null>> {
    const { rows } = await storage.pool.query<{ scope: string; period: string; value: number | null }>(
      `SELECT r.scope, r.period, r.value FROM objective_results r JOIN objectives o ON o.id = r.objective_id WHERE o.key = $1 ORDER BY r.scope, r.period`,
      [key],
    );
    return Object.fromEntries(rows.map((r) => [`${r.scope} ${r.period}`, r.value]));
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'meters');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    objectives = new Objectives({ pool: storage.pool, timezone: 'Europe/Paris' });
    expect((await importCatalog(storage.pool, catalog)).warnings).toEqual([]);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('counts a main meter once, not its two sub-meters, and gives the sub-meters to breakdowns', async () => {
    // Local November 2025 (Europe/Paris, UTC+1 all month): its advance runs from local midnight
    // on 1 November (31 October 23:00Z) to local midnight on 1 December (30 November 23:00Z),
    // readings on both sides of each: 30 days = 720 hours.
    const from = Date.UTC(2025, 9, 31, 22);
    const to = Date.UTC(2025, 10, 30, 23); // 1 December 00:00 local: the month's end is read
    const elec = { tags: ['elec', 'meter', 'energy'], unit: 'kWh' };
    await write('gw-hall', 'hall', { 'm.main': elec, 'm.sub1': elec }, [...meter('m.main', from, to, 10), ...meter('m.sub1', from, to, 3)]);
    // The BMS reports through another gateway of the same building.
    await write('gw-hall-bms', 'hall', { 'bms.sub2': elec }, meter('bms.sub2', from, to, 5));
    // The annex: a utility meter (gw-annex/a.utility) and a BMS one (gw-annex/b.bms), no roles.
    await write('gw-annex', 'annex', { 'a.utility': elec, 'b.bms': elec }, [...meter('a.utility', from, to, 4), ...meter('b.bms', from, to, 4)]);
    await objectives.define(objectiveDefinition({ key: 'elec', formula: 'delta("elec meter energy")' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'elec-sub', formula: 'delta("elec submeter energy")' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'meters', formula: 'count("elec meter energy")' }), 'test');
    const summary = await objectives.evaluate({ fromMonth: '2025-11', now: new Date(Date.UTC(2025, 11, 15)), keys: ['elec', 'elec-sub', 'meters'] });
    // Main meter: 720 h × 10 kWh/h = 7,200 kWh (summing every `meter energy` point gave
    // 7,200 + 720 × 3 + 720 × 5 = 12,960). Sub-meters: 720 × (3 + 5) = 5,760 kWh.
    expect((await values('elec'))['building:hall 2025-11']).toBe(7200);
    expect((await values('elec-sub'))['building:hall 2025-11']).toBe(5760);
    // Annex: one of its two meters, 720 × 4 = 2,880 kWh (not 5,760).
    expect((await values('elec'))['building:annex 2025-11']).toBe(2880);
    expect((await values('meters'))['building:annex 2025-11']).toBe(1);
    // The evaluation says what it chose, and so does the catalog import: the first of
    // gw-annex/a.utility, gw-annex/b.bms.
    expect(summary.meterWarnings).toEqual([
      "building annex: 2 elec meters (gw-annex/a.utility, gw-annex/b.bms) and none declared main; gw-annex/a.utility is counted as the main meter, the others as its sub-meters: declare the roles in the catalog's meters",
    ]);
    expect((await importCatalog(storage.pool, catalog)).warnings).toEqual([
      "building annex: 2 elec meters (gw-annex/a.utility, gw-annex/b.bms) and none declared main; gw-annex/a.utility is counted as the main meter, the others as its sub-meters: declare the roles in the catalog's meters",
    ]);
  });

  it("takes the roles from the gateway's point tags when the catalog declares none", async () => {
    // The gym: a meter the gateway tags submeter, and the main one; local November 2025, 720 h.
    const from = Date.UTC(2025, 9, 31, 22);
    const to = Date.UTC(2025, 10, 30, 23); // 1 December 00:00 local: the month's end is read
    await write(
      'gw-gym',
      'gym',
      { 'a.lights': { tags: ['elec', 'submeter', 'energy'], unit: 'kWh' }, 'z.main': { tags: ['elec', 'meter', 'energy', 'siteMeter'], unit: 'MWh' } },
      [...meter('a.lights', from, to, 1), ...meter('z.main', from, to, 0.01)],
    );
    await objectives.evaluate({ fromMonth: '2025-11', now: new Date(Date.UTC(2025, 11, 15)), keys: ['elec', 'elec-sub'] });
    // Main: 720 h × 0.01 MWh/h = 7.2 MWh = 7,200 kWh; sub-meter: 720 × 1 = 720 kWh.
    expect((await values('elec'))['building:gym 2025-11']).toBeCloseTo(7200, 6);
    expect((await values('elec-sub'))['building:gym 2025-11']).toBe(720);
    expect((await importCatalog(storage.pool, catalog)).warnings).toHaveLength(1); // the annex's only
  });

  it('warns of two main meters of one energy in a building, counting one', async () => {
    const twoMains = structuredClone(catalog);
    twoMains.sites[0]!.buildings[1]!.meters = [
      { point: 'a.utility', role: 'main' },
      { point: 'b.bms', role: 'main' },
    ];
    expect((await importCatalog(storage.pool, twoMains)).warnings).toEqual([
      'building annex: 2 main elec meters (gw-annex/a.utility, gw-annex/b.bms); only gw-annex/a.utility is counted, the others as sub-meters: declare one main meter per energy',
    ]);
    await importCatalog(storage.pool, catalog);
  });

  it('counts a gas meter in m³ in kWh with the coefficient of each month, and the default without one', async () => {
    // Local January 2025: 31 December 23:00 local (22:00Z) to 31 January 23:00 local (22:00Z),
    // 744 h; February: to 28 February 22:00Z, 672 h; March (summer time from 30 March): to
    // 31 March 23:00 local (21:00Z), 743 h. At 2 m³/h: 1,488, 1,344 and 1,486 m³.
    const from = Date.UTC(2024, 11, 31, 22);
    const to = Date.UTC(2025, 2, 31, 22); // 1 April 00:00 local: the quarter's end is read
    const gas = { tags: ['gas', 'meter', 'volume'], unit: 'm³' };
    await write('gw-boiler', 'boiler', { 'm.gas': gas }, meter('m.gas', from, to, 2));
    await write('gw-gym', 'gym', { 'g.gas': gas }, meter('g.gas', from, to, 1));
    await objectives.define(objectiveDefinition({ key: 'gas', formula: 'delta("meter energy gas")' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'gas-q', formula: 'delta("meter energy gas")', period: 'quarter' }), 'test');
    await objectives.define(objectiveDefinition({ key: 'all', formula: 'delta("meter energy")', period: 'quarter' }), 'test');
    await objectives.evaluate({ fromMonth: '2025-01', now: new Date(Date.UTC(2025, 3, 15)), keys: ['gas', 'gas-q', 'all'] });
    const gasValues = await values('gas');
    // January: 1,488 m³ × 11.0 kWh/m³ = 16,368 kWh; February: 1,344 × 11.5 = 15,456 kWh.
    expect(gasValues['building:boiler 2025-01']).toBeCloseTo(16368, 6);
    expect(gasValues['building:boiler 2025-02']).toBeCloseTo(15456, 6);
    // The quarter, month by month: 16,368 + 15,456 + 1,486 × 11.5 (17,089) = 48,913 kWh.
    expect((await values('gas-q'))['building:boiler 2025-Q1']).toBeCloseTo(48913, 6);
    expect((await values('all'))['building:boiler 2025-Q1']).toBeCloseTo(48913, 6);
    // The gym declares no coefficient: 744 m³ × 11.2 kWh/m³ (the documented default) = 8,332.8 kWh.
    expect(gasValues['building:gym 2025-01']).toBeCloseTo(8332.8, 6);
  });

  it("counts the demo school's electricity once and its gas in kWh, as the demo catalog declares them", async () => {
    const demo = loadCatalog(fileURLToPath(new URL('../../demo/catalog.yaml', import.meta.url)));
    await importCatalog(storage.pool, demo);
    // The demo school's points as its gateway announces them (demo-buildings.ts, the BACnet
    // controller's profile), over local November 2025 (720 h, see the first test).
    const from = Date.UTC(2025, 9, 31, 22);
    const to = Date.UTC(2025, 10, 30, 23); // 1 December 00:00 local: the month's end is read
    const elec = { tags: ['elec', 'meter', 'energy'], unit: 'kWh' };
    await write(
      'school',
      'school',
      { 'meters.elec-energy': elec, 'hvac.main-meter-energy': elec, 'meters.gas-volume': { tags: ['gas', 'meter', 'volume'], unit: 'm3' } },
      [...meter('meters.elec-energy', from, to, 10), ...meter('hvac.main-meter-energy', from, to, 10), ...meter('meters.gas-volume', from, to, 2)],
    );
    expect((await importCatalog(storage.pool, demo)).warnings).toEqual([]);
    await objectives.define(objectiveDefinition({ key: 'demo-energy', formula: 'delta("meter energy")' }), 'test');
    await objectives.evaluate({ fromMonth: '2025-11', now: new Date(Date.UTC(2025, 11, 15)), keys: ['demo-energy'] });
    // Electricity 720 × 10 = 7,200 kWh once (not 14,400), gas 720 × 2 = 1,440 m³ × 11.2 kWh/m³
    // = 16,128 kWh: 23,328 kWh.
    expect((await values('demo-energy'))['building:school 2025-11']).toBeCloseTo(23328, 6);
  });
});
