import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import jsonld from 'jsonld';
import { Parser, type Quad } from 'n3';
import { Schema, Table } from 'tableschema';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { Objectives } from '../objectives/objectives.js';
import { monthsAgo } from '../objectives/routes.js';
import { EnergyPrices } from '../projects/energy-prices.js';
import { Projects } from '../projects/store.js';
import { ServiceData } from '../service-data/index.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, objectiveDefinition, storageEngines, waitFor } from '../testing/index.js';
import { DATASETS } from './datasets.js';
import { refreshDerived } from './derived.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TZ = 'Europe/Paris';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const titles = { postgresql: 'Open data on plain PostgreSQL', timescaledb: 'Open data on TimescaleDB' };
const engines = (await storageEngines(inject('adminDatabaseUrl'), inject('timescaleDatabaseUrl'))).map((e) => ({
  ...e,
  title: e.skip ? `${titles[e.mode]} (skipped: ${e.skip})` : titles[e.mode],
}));

/** What must never be published: an unpublished objective, a point not marked public, an unpublished project. */
const SECRETS = ['internal-kpi', 'm.secret', 'secret-project', 'Secret sub-meter', 'Projet secret'];
const DCAT = 'http://www.w3.org/ns/dcat#';
const DCT = 'http://purl.org/dc/terms/';
const RDF_TYPE = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#type';

/**
 * Open data on a small city, through the whole API (buildApi): the town hall (RNB id known) with
 * a public electricity meter, a secret sub-meter and an outdoor sensor, read daily for two years
 * and hourly for the last 20 days, with every fifth hour left out for the paging test to fill; a
 * published and an unpublished objective; service data; a published and an unpublished project.
 */
for (const engine of engines) {
  describe.skipIf(engine.skip !== undefined)(engine.title, () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let storage: Storage;
    let app: FastifyInstance;
    let dir: string;
    let seq = 1;
    const tokens: Record<string, string> = {};
    const as = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });
    const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
    const now = Date.now();
    const end = now - (now % HOUR);
    /** Hours of the last 20 days left without a sample at first. */
    const gaps: number[] = [];

    const point = (id: string, name: string, unit: string, tags: string[]) => ({
      id,
      name,
      unit,
      kind: 'number' as const,
      tags,
      source: { plugin: 'test', device: 'm', address: 0 },
      intervalMs: HOUR,
    });
    const POINTS = [
      point('m.elec', 'Main electricity meter', 'kWh', ['elec', 'meter', 'energy']),
      point('m.secret', 'Secret sub-meter', 'kWh', ['elec', 'submeter', 'energy']),
      point('m.out', 'Outdoor temperature', '°C', ['air', 'temp', 'outside', 'sensor']),
    ];
    const T0 = end - 730 * DAY;
    const elecAt = (t: number) => ((t - T0) / HOUR) * 12;
    async function write(times: readonly number[]): Promise<void> {
      const samples: Sample[] = times.flatMap((t) => [
        { point: 'm.elec', time: t, value: elecAt(t), quality: 'good' as const },
        { point: 'm.secret', time: t, value: elecAt(t) / 3, quality: 'good' as const },
        { point: 'm.out', time: t, value: 11 - 8 * Math.cos((2 * Math.PI * (t / DAY)) / 365), quality: 'good' as const },
      ]);
      const batch: Batch = { v: BATCH_VERSION, gateway: 'gw-hall', seq: seq++, createdAt: Date.now(), building: 'hall', points: POINTS, samples };
      await storage.writeBatches([batch]);
      await storage.rollups.settle();
    }

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'citypilot-open-data-'));
      db = await createTestDatabase(engine.adminUrl, `open_data_${engine.mode}`);
      storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: engine.mode === 'postgresql' ? 'off' : 'auto' });
      await importCatalog(storage.pool, {
        organisation: { id: 'city', name: 'Ville d’Essai' },
        sites: [
          {
            id: 'centre',
            name: 'Centre',
            buildings: [
              { id: 'hall', name: 'Hôtel de ville', usage: 'town-hall', area: 1000, rnbId: 'PG46YY6YWCX8', latitude: 48.9, longitude: 2.25 },
              { id: 'gym', name: 'Gymnase, "Nord"', usage: 'gymnasium', area: 500 },
            ],
          },
        ],
      });
      const times: number[] = [];
      for (let t = T0; t < end - 20 * DAY; t += DAY) times.push(t);
      for (let t = end - 20 * DAY, i = 0; t <= end; t += HOUR, i++) (i % 5 === 3 ? gaps : times).push(t);
      await write(times);

      const objectives = new Objectives({ pool: storage.pool, timezone: TZ });
      await objectives.define(objectiveDefinition({ key: 'hall-elec', formula: 'delta("elec meter energy")', scope: { level: 'city' } }), 'test');
      await objectives.define(
        objectiveDefinition({ key: 'internal-kpi', formula: 'delta("elec meter energy")', scope: { level: 'city' }, published: false }),
        'test',
      );
      await objectives.evaluate({ fromMonth: monthsAgo(12, TZ) });

      const services = await ServiceData.open(storage.pool);
      await services.defineSource('accueil', 'Accueil de la mairie');
      await services.submit({ id: 'test' }, [
        { source: 'accueil', metric: 'reception.waiting_time', scope: 'building:hall', period: monthsAgo(2, TZ), value: 7.5 },
        { source: 'accueil', metric: 'reception.waiting_time', scope: 'building:hall', period: `${monthsAgo(1, TZ)}-03`, value: 4 },
        { source: 'accueil', metric: 'reception.waiting_time', scope: 'building:hall', period: `${monthsAgo(1, TZ)}-04`, value: 6 },
      ]);

      const projects = new Projects(storage.pool);
      const works = `${monthsAgo(8, TZ)}-01`;
      const project = (key: string, title: string, published: boolean) => ({
        key,
        title: { fr: title, en: title },
        theme: 'energy',
        scope: 'building:hall',
        dates: { worksStart: works, worksEnd: works },
        costs: { investment: 10_000 },
        energy: { energies: ['elec'] },
        owner: 'Energy manager',
        published,
      });
      await projects.define(project('led-hall', 'Éclairage LED', true), 'test');
      await projects.define(project('secret-project', 'Projet secret', false), 'test');
      const summary = await refreshDerived({ pool: storage.pool, timezone: TZ, projects: { projects, prices: new EnergyPrices(storage.pool) } });
      expect(summary.buildingRows).toBeGreaterThan(20);
      expect(summary.projectRows).toBeGreaterThan(0);

      app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, logger: { ...quiet, error: (o: object) => console.error(o) } });
      for (const role of ['operator', 'director']) tokens[role] = (await createToken(storage.pool, { role, label: `${role} of the test` }, 'test')).token;
      for (const dataset of DATASETS) {
        const response = await app.inject({ method: 'PUT', url: `/api/open-data/datasets/${dataset.id}`, headers: as('operator'), payload: { enabled: true } });
        expect(response.statusCode, dataset.id).toBe(200);
      }
      const published = await app.inject({
        method: 'PUT',
        url: '/api/open-data/points',
        headers: as('operator'),
        payload: { gateway: 'gw-hall', point: 'm.elec', published: true },
      });
      expect(published.json()).toEqual({ changed: true });
    });
    afterAll(async () => {
      await app?.close();
      await storage?.close();
      await db?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("serves every dataset as CSV and JSON that its own Table Schema validates (tableschema, Frictionless' library)", async () => {
      for (const dataset of DATASETS) {
        const descriptor = (await get(`/api/open-data/datasets/${dataset.id}/schema.json`)).json();
        const schema = await Schema.load(descriptor);
        expect(schema.valid, `${dataset.id}: ${JSON.stringify(schema.errors)}`).toBe(true);

        const csv = await get(`/api/open-data/datasets/${dataset.id}/data.csv`);
        expect(csv.statusCode, dataset.id).toBe(200);
        expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
        const file = join(dir, `${dataset.id}.csv`);
        await writeFile(file, csv.rawPayload);
        const table = await Table.load(file, { schema: descriptor });
        const rows = (await table.read({ keyed: true })) as Record<string, unknown>[];
        expect(table.headers, dataset.id).toEqual(dataset.fields.map((f) => f.name));
        expect(rows.length, `${dataset.id} has rows`).toBeGreaterThan(0);

        const json = await get(`/api/open-data/datasets/${dataset.id}/data.json`);
        expect(json.statusCode, dataset.id).toBe(200);
        const objects = json.json() as Record<string, unknown>[];
        expect(objects).toHaveLength(rows.length);
        for (const object of objects) {
          expect(Object.keys(object), dataset.id).toEqual(dataset.fields.map((f) => f.name));
          schema.castRow(dataset.fields.map((f) => (object[f.name] === null ? '' : object[f.name])));
        }
      }
    });

    it('publishes the building energy as the dashboard computes it, with the RNB identifier, kWh per m² and filters', async () => {
      const month = monthsAgo(3, TZ);
      const response = await get(`/api/open-data/datasets/building-energy-monthly/rows?building=hall&month=${month}`);
      expect(response.statusCode).toBe(200);
      const [row] = response.json().rows;
      expect(row).toMatchObject({ building: 'hall', rnb_id: 'PG46YY6YWCX8', usage: 'town-hall', area_m2: 1000, month, energy: 'elec', complete: true });
      // 12 kWh an hour, every hour of the local month.
      const [y, m] = month.split('-').map(Number) as [number, number];
      const hours = (Date.UTC(y, m, 1) - Date.UTC(y, m - 1, 1)) / HOUR + (m === 3 ? -1 : m === 10 ? 1 : 0);
      expect(row.kwh).toBeCloseTo(hours * 12, 0);
      expect(row.kwh_per_m2).toBeCloseTo(row.kwh / 1000, 3);
      // Coverage: the first and last day of the rows (UTC days for the hourly readings).
      const hourly = (await get('/api/open-data/datasets/point-hourly')).json();
      expect(hourly.coverage.from).toBe(new Date(T0).toISOString().slice(0, 10));
      expect(hourly.coverage.to >= new Date(end).toISOString().slice(0, 10)).toBe(true);
      const energy = (await get('/api/open-data/datasets/building-energy-monthly')).json();
      // A month counts to its last day; a period (here a month) too.
      const [year, current] = monthsAgo(0, TZ).split('-').map(Number) as [number, number];
      const lastDay = new Date(Date.UTC(year, current, 0)).toISOString().slice(0, 10);
      expect(energy.coverage.to).toBe(lastDay);
      expect((await get('/api/open-data/datasets/objective-results')).json().coverage.to).toBe(lastDay);
    });

    it('never lets an unpublished objective, a point not marked public or an unpublished project out, in any dataset, download, page or catalogue', async () => {
      const urls = ['/api/open-data', '/api/open-data/catalog.jsonld', '/api/open-data/catalog.ttl'];
      for (const dataset of DATASETS) {
        const base = `/api/open-data/datasets/${dataset.id}`;
        urls.push(base, `${base}/schema.json`, `${base}/data.csv`, `${base}/data.json`, `${base}/rows?limit=1000`);
      }
      for (const url of urls) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(200);
        for (const secret of SECRETS) expect(response.body, `${url} shows ${secret}`).not.toContain(secret);
      }
      const hourly = (await get('/api/open-data/datasets/point-hourly/data.json')).json() as { point: string }[];
      expect(new Set(hourly.map((r) => r.point))).toEqual(new Set(['m.elec']));
      const results = (await get('/api/open-data/datasets/objective-results/data.json')).json() as { objective: string }[];
      expect(new Set(results.map((r) => r.objective))).toEqual(new Set(['hall-elec']));

      // A dataset switched off is gone everywhere; a point withdrawn is gone from the hourly values.
      await app.inject({ method: 'PUT', url: '/api/open-data/datasets/buildings', headers: as('operator'), payload: { enabled: false } });
      for (const url of ['/api/open-data/datasets/buildings', '/api/open-data/datasets/buildings/data.csv', '/api/open-data/datasets/buildings/rows']) {
        expect((await get(url)).statusCode, url).toBe(404);
      }
      expect((await get('/api/open-data/catalog.ttl')).body).not.toContain('/datasets/buildings>');
      expect((await get('/api/open-data')).json().datasets.map((d: { id: string }) => d.id)).not.toContain('buildings');
      await app.inject({ method: 'PUT', url: '/api/open-data/datasets/buildings', headers: as('operator'), payload: { enabled: true, licence: 'odbl-1.0' } });
      expect((await get('/api/open-data/datasets/buildings')).json().licence.id).toBe('odbl-1.0');

      await app.inject({
        method: 'PUT',
        url: '/api/open-data/points',
        headers: as('operator'),
        payload: { gateway: 'gw-hall', point: 'm.elec', published: false },
      });
      expect((await get('/api/open-data/datasets/point-hourly/rows')).json().rows).toEqual([]);
      await app.inject({
        method: 'PUT',
        url: '/api/open-data/points',
        headers: as('operator'),
        payload: { gateway: 'gw-hall', point: 'm.elec', published: true },
      });

      // Every one of these changes is in the audit (written in the background), with who made it.
      const audited = async () =>
        (await storage.pool.query(`SELECT route, principal_id, status_code, summary FROM api_audit WHERE route LIKE '/api/open-data/%' ORDER BY id`)).rows;
      const rows = await waitFor(
        async () => ((await audited()).length >= DATASETS.length + 5 ? audited() : undefined),
        10_000,
        'the audit of the open data changes',
      );
      expect(rows).toHaveLength(DATASETS.length + 5);
      expect(rows.every((r) => r.status_code === 200 && r.principal_id !== 'anonymous')).toBe(true);
      expect(rows.find((r) => r.summary?.licence === 'odbl-1.0')).toMatchObject({
        route: '/api/open-data/datasets/:id',
        summary: { dataset: 'buildings', enabled: true },
      });
      // Only operators publish.
      expect((await app.inject({ method: 'PUT', url: '/api/open-data/datasets/buildings', payload: { enabled: false } })).statusCode).toBe(401);
      expect(
        (await app.inject({ method: 'PUT', url: '/api/open-data/datasets/buildings', headers: as('director'), payload: { enabled: false } })).statusCode,
      ).toBe(403);
    });

    it('describes every dataset and distribution in a DCAT-AP catalogue that parses as RDF, in JSON-LD and in Turtle', async () => {
      const turtle = await get('/api/open-data/catalog.ttl');
      expect(turtle.headers['content-type']).toBe('text/turtle; charset=utf-8');
      const fromTurtle = new Parser({ format: 'Turtle' }).parse(turtle.body);
      const document = (await get('/api/open-data/catalog.jsonld')).json();
      const fromJsonLd = new Parser({ format: 'N-Quads' }).parse((await jsonld.toRDF(document, { format: 'application/n-quads' })) as unknown as string);
      expect(fromJsonLd.length).toBe(fromTurtle.length);

      for (const quads of [fromTurtle, fromJsonLd]) {
        const about = (subject: string, predicate: string) => quads.filter((q: Quad) => q.subject.value === subject && q.predicate.value === predicate);
        const ofType = (type: string) => quads.filter((q) => q.predicate.value === RDF_TYPE && q.object.value === DCAT + type).map((q) => q.subject.value);
        const has = (subject: string, properties: readonly string[]) => {
          for (const p of properties) expect(about(subject, p).length, `${subject} ${p}`).toBeGreaterThan(0);
        };
        const [catalogue] = ofType('Catalog');
        has(catalogue!, [
          `${DCT}title`,
          `${DCT}description`,
          `${DCT}publisher`,
          `${DCAT}dataset`,
          `${DCT}language`,
          `${DCT}license`,
          `${DCT}modified`,
          'http://xmlns.com/foaf/0.1/homepage',
        ]);
        const datasets = ofType('Dataset');
        expect(datasets.sort()).toEqual(DATASETS.map((d) => `http://localhost:80/api/open-data/datasets/${d.id}`).sort());
        for (const dataset of datasets) {
          // Mandatory, then recommended by DCAT-AP.
          has(dataset, [`${DCT}title`, `${DCT}description`]);
          has(dataset, [
            `${DCAT}contactPoint`,
            `${DCAT}distribution`,
            `${DCAT}keyword`,
            `${DCT}publisher`,
            `${DCT}spatial`,
            `${DCAT}theme`,
            `${DCT}accrualPeriodicity`,
          ]);
          if (!dataset.endsWith('/buildings')) has(dataset, [`${DCT}temporal`]);
          expect(
            about(dataset, `${DCT}title`)
              .map((q) => (q.object as { language: string }).language)
              .sort(),
          ).toEqual(['en', 'fr']);
        }
        const distributions = ofType('Distribution');
        expect(distributions).toHaveLength(2 * DATASETS.length);
        for (const distribution of distributions) {
          has(distribution, [`${DCAT}accessURL`]);
          has(distribution, [`${DCT}description`, `${DCT}format`, `${DCT}license`, 'http://data.europa.eu/r5r/availability']);
        }
        for (const service of ofType('DataService')) has(service, [`${DCAT}endpointURL`, `${DCT}title`]);
      }
    });

    it('pages through a dataset with each row exactly once while rows are being added, in either order', async () => {
      for (const sort of ['', '-hour']) {
        const before = ((await get(`/api/open-data/datasets/point-hourly/data.json`)).json() as { hour: string }[]).map((r) => r.hour);
        const seen: string[] = [];
        let url: string | null =
          `/api/open-data/datasets/point-hourly/rows?limit=40${sort ? `&sort=${sort}` : ''}&hour.gte=${new Date(end - 20 * DAY).toISOString()}`;
        let added = 0;
        while (url) {
          const page = (await get(url)).json() as { rows: { hour: string }[]; next: string | null };
          seen.push(...page.rows.map((r) => r.hour));
          url = page.next;
          // Fill two of the gaps, one on each side of where the pages have got to.
          const [earliest, latest] = [gaps.shift(), gaps.pop()];
          const fill = [earliest, latest].filter((t): t is number => t !== undefined);
          if (fill.length) await write(fill);
          added += fill.length;
        }
        expect(added).toBeGreaterThan(10);
        expect(new Set(seen).size, 'no row twice').toBe(seen.length);
        const recent = before.filter((h) => Date.parse(h) >= end - 20 * DAY);
        for (const hour of recent) expect(seen, `row ${hour} seen`).toContain(hour);
        expect([...seen].sort((a, b) => (sort ? b.localeCompare(a) : a.localeCompare(b)))).toEqual(seen);
      }
    });

    it('answers 304 to a client holding the current version, and a new version once the data changes', async () => {
      const url = '/api/open-data/datasets/point-hourly/data.csv';
      const first = await get(url);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^W\/"/);
      expect(first.headers['last-modified']).toBeDefined();
      expect(first.headers['access-control-allow-origin']).toBe('*');
      const head = await app.inject({ method: 'HEAD', url });
      expect(head.statusCode).toBe(200);
      expect(head.headers.etag).toBe(etag);
      expect(head.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(head.body).toBe('');
      const again = await get(url, { 'if-none-match': etag });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
      expect((await get(url, { 'if-modified-since': first.headers['last-modified'] as string })).statusCode).toBe(304);
      // Another representation, another tag.
      expect((await get(`${url}?hour.gte=2026-01-01T00:00:00Z`, { 'if-none-match': etag })).statusCode).toBe(200);
      await write([end + HOUR]);
      const changed = await get(url, { 'if-none-match': etag });
      expect(changed.statusCode).toBe(200);
      expect(changed.headers.etag).not.toBe(etag);
      for (const page of ['/api/open-data', '/api/open-data/catalog.ttl', '/api/open-data/datasets/buildings/rows']) {
        const response = await get(page);
        expect((await get(page, { 'if-none-match': response.headers.etag as string })).statusCode, page).toBe(304);
      }
      const preflight = await app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin: 'https://reuser.example', 'access-control-request-headers': 'if-none-match' },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(preflight.headers['access-control-allow-headers']).toContain('If-None-Match');
    });

    it("counts a client's reads and downloads against its rate limit, and bounds its downloads at once", async () => {
      const limited = buildApi({
        storage,
        metrics: createHubMetrics(),
        natsConnected: () => true,
        rateLimits: { anonymousReads: 3, windowMs: 60_000 },
        openData: { downloadsPerClient: 1 },
      });
      try {
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await limited.inject({ method: 'GET', url: '/api/open-data/datasets/buildings/data.csv' })).statusCode);
        expect(statuses).toEqual([200, 200, 200, 429]);
        if (engine.mode === 'postgresql') {
          // A second download while the first one is running: its COPY held by a lock on the rollups
          // (a plain table here), the second is refused until the first ends.
          const blocker = await storage.pool.connect();
          try {
            await blocker.query('BEGIN');
            await blocker.query('LOCK TABLE rollup_hour IN ACCESS EXCLUSIVE MODE');
            const first = limited.inject({ method: 'GET', url: '/api/open-data/datasets/point-hourly/data.csv', headers: as('director') });
            await waitFor(
              async () => (await storage.pool.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%' AND wait_event_type = 'Lock'`)).rowCount,
              10_000,
              'the first download waiting for the lock',
            );
            const second = await limited.inject({ method: 'GET', url: '/api/open-data/datasets/point-hourly/data.csv', headers: as('director') });
            expect(second.statusCode).toBe(429);
            expect(second.json().error).toContain('at most 1 download');
            await blocker.query('COMMIT');
            expect((await first).statusCode).toBe(200);
            expect((await limited.inject({ method: 'GET', url: '/api/open-data/datasets/point-hourly/data.csv', headers: as('director') })).statusCode).toBe(
              200,
            );
          } finally {
            await blocker.query('ROLLBACK').catch(() => undefined);
            blocker.release();
          }
        }
      } finally {
        await limited.close();
      }
    });

    it('refuses a bad filter, sort, limit or cursor with 400 naming the column or parameter', async () => {
      const base = '/api/open-data/datasets/building-energy-monthly';
      const cases: [string, string][] = [
        [`${base}/rows?nope=1`, 'nope'],
        [`${base}/rows?month.gte=2026-13`, 'month'],
        [`${base}/rows?kwh.lt=lots`, 'kwh'],
        [`${base}/rows?complete=yes`, 'complete'],
        [`${base}/rows?kwh.like=1`, 'kwh.like'],
        [`${base}/rows?sort=rnb_id`, 'rnb_id'],
        [`${base}/rows?sort=-nothing`, 'nothing'],
        [`${base}/rows?limit=5000`, 'limit'],
        [`${base}/rows?after=not-a-cursor!`, 'after'],
        [`${base}/data.csv?limit=10`, 'limit'],
        [`${base}/data.json?month=2026-1`, 'month'],
        ['/api/open-data/datasets/point-hourly/rows?hour.gte=yesterday', 'hour'],
      ];
      for (const [url, name] of cases) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(400);
        expect(response.json().error, url).toContain(name);
      }
      // A cursor of another order.
      const page = (await get(`${base}/rows?limit=1`)).json();
      const cursor = new URL(page.next, 'http://x').searchParams.get('after');
      const other = await get(`${base}/rows?sort=-month&after=${cursor}`);
      expect(other.statusCode).toBe(400);
      expect(other.json().error).toContain('after');
      expect((await get('/api/open-data/datasets/nothing/rows')).statusCode).toBe(404);
    });
  });
}
