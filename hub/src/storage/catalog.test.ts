import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, ConfigFileError, type Batch, type PointDefinition } from '@citypilot/sdk';
import { createTestDatabase } from '../testing/index.js';
import { importCatalog, listBuildings, loadCatalog } from './catalog.js';
import { completeness } from './completeness.js';
import { Storage } from './storage.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'citypilot-catalog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const catalogYaml = `organisation: { id: ville-exemple, name: Ville d'Exemple }
sites:
  - id: centre
    name: Centre-ville
    buildings:
      - { id: town-hall, name: Hôtel de ville, usage: town-hall, area: 4200, energyReferenceYear: 2019 }
      - { id: school, name: École Jules Ferry, usage: school, area: 2850, latitude: 48.9, longitude: 2.25 }
`;

function point(id: string, intervalMs: number, device = 'meters'): PointDefinition {
  return { id, name: id, kind: 'number', tags: [], source: { plugin: 'modbus', device, address: {} }, intervalMs };
}

function announce(gateway: string, seq: number, points: PointDefinition[], building?: string): Batch {
  return { v: BATCH_VERSION, gateway, seq, createdAt: Date.now(), points, ...(building ? { building } : {}), samples: [] };
}

describe('catalog file', () => {
  it('reports every mistake with file, line and path, and accepts the corrected file', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      `organisation: { id: ville-exemple, name: Ville }
sites:
  - id: centre
    name: Centre
    buildings:
      - { id: school, name: École, usage: scool, area: 0 }
      - { id: school, name: Gymnase, usage: gymnasium, area: 900 }
`,
    );
    let error: unknown;
    try {
      loadCatalog(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as ConfigFileError).problems).toEqual([
      `${bad}:6:36 sites[0].buildings[0].usage: expected one of "town-hall", "offices", "school", "nursery", "gymnasium", "swimming-pool", "library", "cultural", "social", "technical", "other", got "scool"`,
      `${bad}:6:50 sites[0].buildings[0].area: expected a floor area in m², greater than 0, got 0`,
    ]);
    writeFileSync(bad, catalogYaml.replace('id: school', 'id: town-hall'));
    expect(() => loadCatalog(bad)).toThrow(
      `${bad}:7:11 sites[0].buildings[1].id: "town-hall" is already the id of sites[0].buildings[0]\n${bad}: 1 problem; nothing was imported.`,
    );
  });

  it('reads the gateways that may serve each building, as the demo city lists them, and refuses a repeated one', () => {
    const demo = loadCatalog(fileURLToPath(new URL('../../demo/catalog.yaml', import.meta.url)));
    expect(demo.sites.flatMap((s) => s.buildings.map((b) => [b.id, b.gateways]))).toEqual([
      ['town-hall', ['town-hall']],
      ['school', ['school']],
      ['library', []],
    ]);
    const repeated = join(dir, 'repeated.yaml');
    writeFileSync(repeated, catalogYaml.replace('energyReferenceYear: 2019 }', 'energyReferenceYear: 2019, gateways: [gw-a, gw-a] }'));
    expect(() => loadCatalog(repeated)).toThrow(
      /sites\[0\]\.buildings\[0\]\.gateways: expected a list of gateway ids, each once \(such as \[town-hall\]\), got \["gw-a","gw-a"\]/,
    );
  });

  it("reads the roles of the demo city's meters, and refuses inconsistent ones, saying where", () => {
    const demo = loadCatalog(fileURLToPath(new URL('../../demo/catalog.yaml', import.meta.url)));
    expect(demo.sites.flatMap((s) => s.buildings).map((b) => b.meters?.map((m) => `${m.point}:${m.role}`))).toEqual([
      ['meters.elec-energy:main', 'bms.main-energy:sub'],
      ['meters.elec-energy:main', 'hvac.main-meter-energy:sub', 'meters.gas-volume:main'],
      // The library's only meter is its utility's, which the hub registers itself.
      undefined,
    ]);
    const bad = join(dir, 'meters.yaml');
    const meters = `meters: [{ point: m.a, role: main, submeterOf: m.b }, { point: m.a, role: sub }, { point: m.g, role: main, conversions: [{ from: 2025-01, kWhPerUnit: 11, source: a }, { from: 2025-01, kWhPerUnit: 11.2, source: b }] }]`;
    writeFileSync(bad, catalogYaml.replace('energyReferenceYear: 2019 }', `energyReferenceYear: 2019, ${meters} }`));
    expect(() => loadCatalog(bad)).toThrow(
      /meters\[0\]\.submeterOf: a main meter is a sub-meter of no other[\s\S]*meters\[1\]\.point: "m\.a" is declared twice[\s\S]*meters\[2\]\.conversions: two coefficients from the same month/,
    );
    writeFileSync(
      bad,
      catalogYaml.replace(
        'energyReferenceYear: 2019 }',
        'energyReferenceYear: 2019, meters: [{ point: m.g, role: main, conversions: [{ from: 2025-13, kWhPerUnit: 0, source: a }] }] }',
      ),
    );
    expect(() => loadCatalog(bad)).toThrow(/conversions\[0\]\.from: expected a local month YYYY-MM/);
  });
});

describe('catalog in the database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'catalog');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('imports buildings, links gateways by their announced building, and retires points a gateway stops listing', async () => {
    const file = join(dir, 'catalog.yaml');
    writeFileSync(file, catalogYaml);
    expect(await importCatalog(storage.pool, loadCatalog(file))).toEqual({ sites: 1, buildings: 2, notInFile: [], warnings: [] });
    // Importing again changes nothing and duplicates nothing.
    expect(await importCatalog(storage.pool, loadCatalog(file))).toEqual({ sites: 1, buildings: 2, notInFile: [], warnings: [] });

    await storage.writeBatches([
      announce('gw-school', 1, [point('meters.energy', 900_000), point('meters.temp', 300_000), point('boiler.flow', 60_000, 'boiler')], 'school'),
    ]);
    let buildings = await listBuildings(storage.pool);
    expect(buildings.find((b) => b.id === 'school')).toMatchObject({ usage: 'school', areaM2: 2850, site: 'centre', gateways: ['gw-school'], points: 3 });
    const equipment = await storage.pool.query(
      `SELECT e.key, count(p.id)::int AS n FROM equipment e JOIN points p ON p.equipment_id = e.id GROUP BY e.key ORDER BY 1`,
    );
    expect(equipment.rows).toEqual([
      { key: 'boiler', n: 1 },
      { key: 'meters', n: 2 },
    ]);

    // The gateway's configuration lost its boiler: the point is marked, not deleted.
    await storage.writeBatches([announce('gw-school', 2, [point('meters.energy', 900_000), point('meters.temp', 300_000)], 'school')]);
    const retired = await storage.pool.query(`SELECT point_key, retired_at IS NOT NULL AS retired FROM points ORDER BY 1`);
    expect(retired.rows).toEqual([
      { point_key: 'boiler.flow', retired: true },
      { point_key: 'meters.energy', retired: false },
      { point_key: 'meters.temp', retired: false },
    ]);
    buildings = await listBuildings(storage.pool);
    expect(buildings.find((b) => b.id === 'school')!.points).toBe(2);
    // Back in the configuration: active again.
    await storage.writeBatches([
      announce('gw-school', 3, [point('meters.energy', 900_000), point('meters.temp', 300_000), point('boiler.flow', 60_000, 'boiler')], 'school'),
    ]);
    expect((await storage.pool.query(`SELECT count(*)::int AS n FROM points WHERE retired_at IS NOT NULL`)).rows[0].n).toBe(0);
  });

  it('takes a long point list in parts, and retires only with the last part, which lists every id', async () => {
    await storage.writeBatches([announce('gw-parts', 1, [point('m.a', 60_000), point('m.old', 60_000)])]);
    const part = (seq: number, points: PointDefinition[], index: number, pointIds?: string[]): Batch => ({
      ...announce('gw-parts', seq, points),
      pointsPart: { index, count: 2 },
      ...(pointIds ? { pointIds } : {}),
    });
    const state = async () =>
      (await storage.pool.query(`SELECT point_key AS k, retired_at IS NOT NULL AS retired FROM points WHERE gateway_id = 'gw-parts' ORDER BY 1`)).rows;
    // The first part alone: its points registered, nothing retired (m.old may be in the next part).
    await storage.writeBatches([part(2, [point('m.a', 60_000), point('m.b', 60_000)], 1)]);
    expect(await state()).toEqual([
      { k: 'm.a', retired: false },
      { k: 'm.b', retired: false },
      { k: 'm.old', retired: false },
    ]);
    // The last part: its points, and the whole list's ids, which m.old is no longer in.
    await storage.writeBatches([part(3, [point('m.c', 60_000)], 2, ['m.a', 'm.b', 'm.c'])]);
    expect(await state()).toEqual([
      { k: 'm.a', retired: false },
      { k: 'm.b', retired: false },
      { k: 'm.c', retired: false },
      { k: 'm.old', retired: true },
    ]);
  });

  it("applies several announcements in one write as if one after the other, in each gateway's order", async () => {
    const renamed = { ...point('plant.b', 60_000, 'plant'), name: 'B, renamed' };
    await storage.writeBatches([
      // Out of order on purpose: seq 2 is the gateway's latest list, whatever the arrival.
      announce('gw-plant', 2, [renamed, point('plant.c', 60_000, 'plant-2')], 'library'),
      announce('gw-other', 1, [point('x.one', 60_000, 'x')]),
      announce('gw-plant', 1, [point('plant.a', 60_000, 'plant'), point('plant.b', 60_000, 'plant')], 'museum'),
    ]);
    const { rows } = await storage.pool.query(
      `SELECT p.gateway_id AS g, p.point_key AS k, p.name, e.key AS device, p.retired_at IS NOT NULL AS retired
         FROM points p LEFT JOIN equipment e ON e.id = p.equipment_id
        WHERE p.gateway_id IN ('gw-plant', 'gw-other') ORDER BY 1, 2`,
    );
    expect(rows).toEqual([
      { g: 'gw-other', k: 'x.one', name: 'x.one', device: 'x', retired: false },
      { g: 'gw-plant', k: 'plant.a', name: 'plant.a', device: 'plant', retired: true },
      { g: 'gw-plant', k: 'plant.b', name: 'B, renamed', device: 'plant', retired: false },
      { g: 'gw-plant', k: 'plant.c', name: 'plant.c', device: 'plant-2', retired: false },
    ]);
    const gateways = await storage.pool.query(`SELECT id, building_key FROM gateways WHERE id IN ('gw-plant', 'gw-other') ORDER BY id`);
    expect(gateways.rows).toEqual([
      { id: 'gw-other', building_key: null },
      { id: 'gw-plant', building_key: 'library' },
    ]);
  });

  it('reports completeness per point and per building, per hour and per day, across daylight-saving changes', async () => {
    // An hourly point on both change days of 2026 in Europe/Paris: every real hour has its sample.
    const hourly = point('meters.hourly', 3_600_000);
    const quarter = point('meters.quarter', 900_000);
    await storage.writeBatches([announce('gw-th', 1, [hourly, quarter], 'town-hall')]);
    const samples: Batch['samples'] = [];
    for (const [from, hours] of [
      [Date.UTC(2026, 2, 28, 23), 23],
      [Date.UTC(2026, 9, 24, 22), 25],
    ] as const) {
      for (let h = 0; h < hours; h++) samples.push({ point: 'meters.hourly', time: from + h * 3_600_000, value: h, quality: 'good' });
    }
    // The 15-minute point: 2 of the 4 samples of 10:00–11:00 local (08:00 UTC) on 2026-10-25.
    for (const m of [0, 30]) samples.push({ point: 'meters.quarter', time: Date.UTC(2026, 9, 25, 9) + m * 60_000, value: 1, quality: 'good' });
    await storage.writeBatches([{ v: BATCH_VERSION, gateway: 'gw-th', seq: 2, createdAt: Date.now(), samples }]);

    const days = await completeness(storage.pool, { by: 'point', step: 'day', from: new Date('2026-03-28T23:00:00Z'), to: new Date('2026-03-29T22:00:00Z') });
    expect(days.find((r) => r.key === 'gw-th/meters.hourly')).toEqual({
      key: 'gw-th/meters.hourly',
      bucket: '2026-03-29T00:00:00',
      received: 23,
      expected: 23,
      ratio: 1,
    });
    const autumn = await completeness(storage.pool, { by: 'point', step: 'day', from: new Date('2026-10-24T22:00:00Z'), to: new Date('2026-10-25T23:00:00Z') });
    expect(autumn.find((r) => r.key === 'gw-th/meters.hourly')).toEqual({
      key: 'gw-th/meters.hourly',
      bucket: '2026-10-25T00:00:00',
      received: 25,
      expected: 25,
      ratio: 1,
    });
    expect(autumn.find((r) => r.key === 'gw-th/meters.quarter')).toMatchObject({ received: 2, expected: 100 });

    const hours = await completeness(storage.pool, { by: 'point', step: 'hour', from: new Date('2026-10-25T09:00:00Z'), to: new Date('2026-10-25T10:00:00Z') });
    expect(hours.find((r) => r.key === 'gw-th/meters.quarter')).toEqual({
      key: 'gw-th/meters.quarter',
      bucket: '2026-10-25T10:00:00',
      received: 2,
      expected: 4,
      ratio: 0.5,
    });

    const building = await completeness(storage.pool, {
      by: 'building',
      step: 'hour',
      from: new Date('2026-10-25T09:00:00Z'),
      to: new Date('2026-10-25T10:00:00Z'),
    });
    // Town hall: the hourly point (1 of 1) and the quarter-hour one (2 of 4) → 3 of 5.
    expect(building.find((r) => r.key === 'town-hall')).toEqual({ key: 'town-hall', bucket: '2026-10-25T10:00:00', received: 3, expected: 5, ratio: 0.6 });
  });
});
