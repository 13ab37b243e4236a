import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { BATCH_VERSION } from '@citypilot/sdk';
import { createToken } from '../auth/tokens.js';
import { importCatalog } from '../storage/catalog.js';
import { Hub, objectiveStatusSubject } from '../hub.js';
import { createTestDatabase, deleteStreams, natsConnection, objectiveDefinition, uniqueStreamNames, waitFor } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('a hub publishing the objectives', () => {
  const names = uniqueStreamNames('objectives');
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let hub: Hub;
  let nc: NatsConnection;
  let sub: Subscription;
  const received: { objective: string; scope: string; period: string; from: string | null; to: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'objectives_hub');
    nc = await natsConnection(inject('natsUrl'));
    sub = nc.subscribe(objectiveStatusSubject(names.prefix));
    void (async () => {
      for await (const m of sub) received.push(m.json());
    })();
    hub = await Hub.start({ databaseUrl: db.url, natsUrl: inject('natsUrl'), logger: quiet, names, http: { port: 0 }, timescale: 'off' });
  });
  afterAll(async () => {
    await hub?.stop();
    sub?.unsubscribe();
    await nc?.close();
    await deleteStreams(inject('natsUrl'), names);
    await db?.drop();
  });

  it('publishes the status changes an evaluation finds on NATS, and serves its OpenAPI document with the objectives routes', async () => {
    const operator = (await createToken(hub.storage.pool, { role: 'operator', label: 'test' }, 'test')).token;
    const headers = { authorization: `Bearer ${operator}`, 'content-type': 'application/json' };
    const defined = await fetch(`${hub.url}/api/objectives/buildings-known`, {
      method: 'PUT',
      headers,
      body: JSON.stringify(
        objectiveDefinition({
          key: 'buildings-known',
          theme: 'other',
          formula: 'buildings',
          scope: { level: 'city' },
          target: { kind: 'value', value: 1 },
          direction: 'up',
          tolerance: 0,
        }),
      ),
    });
    expect(defined.status).toBe(201);
    const evaluated = await fetch(`${hub.url}/api/objectives/evaluate`, { method: 'POST', headers, body: '{}' });
    expect(evaluated.status).toBe(200);
    // A catalog without buildings: 0 buildings against a target of 1, red, for every month evaluated.
    await waitFor(async () => received.some((r) => r.objective === 'buildings-known'), 10_000, 'no status change was published');
    expect(received.find((r) => r.objective === 'buildings-known')).toMatchObject({ scope: 'city', from: null, to: 'red' });

    const doc = (await (await fetch(`${hub.url}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { 'x-roles'?: string[] }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/api/objectives',
      '/api/objectives/{key}',
      '/api/objectives/{key}/results',
      '/api/objectives/{key}/drilldown',
      '/api/series',
      '/api/service-data',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(doc.paths['/api/objectives/{key}']!.put!['x-roles']).toEqual(['operator', 'admin']);
  });

  it("evaluates again as soon as service data arrives, without waiting for its schedule, and refreshes the open data's building energy after it", async () => {
    // A building with a meter, whose monthly energy the open data computes after each evaluation.
    await importCatalog(hub.storage.pool, {
      organisation: { id: 'city', name: 'City' },
      sites: [{ id: 'centre', name: 'Centre', buildings: [{ id: 'hall', name: 'Hall', usage: 'town-hall', area: 100 }] }],
    });
    const hour = 3_600_000;
    const start = Date.now() - (Date.now() % hour) - 48 * hour;
    await hub.storage.writeBatches([
      {
        v: BATCH_VERSION,
        gateway: 'gw-hall',
        seq: 1,
        createdAt: Date.now(),
        building: 'hall',
        points: [
          {
            id: 'm.elec',
            name: 'Meter',
            unit: 'kWh',
            kind: 'number',
            tags: ['elec', 'meter', 'energy'],
            source: { plugin: 'test', device: 'm', address: 0 },
            intervalMs: hour,
          },
        ],
        samples: Array.from({ length: 49 }, (_, i) => ({ point: 'm.elec', time: start + i * hour, value: 10 * i, quality: 'good' as const })),
      },
    ]);
    const operator = (await createToken(hub.storage.pool, { role: 'operator', label: 'test' }, 'test')).token;
    const agent = (await createToken(hub.storage.pool, { role: 'agent', label: 'desk' }, 'test')).token;
    const json = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const defined = await fetch(`${hub.url}/api/objectives/waiting`, {
      method: 'PUT',
      headers: json(operator),
      body: JSON.stringify(
        objectiveDefinition({
          key: 'waiting',
          theme: 'reception',
          formula: 'service_avg("reception.wait_minutes")',
          scope: { level: 'city' },
          target: { kind: 'value', value: 10 },
          tolerance: 0,
        }),
      ),
    });
    expect(defined.status).toBe(201);
    await fetch(`${hub.url}/api/service-data/sources/desk`, { method: 'PUT', headers: json(operator), body: JSON.stringify({ name: 'Desk' }) });
    // Yesterday, in the city's calendar: its month is among those the hub evaluates.
    const day = new Date(Date.now() - 86_400_000).toLocaleDateString('en-CA', { timeZone: 'Europe/Paris' });
    const submitted = await fetch(`${hub.url}/api/service-data`, {
      method: 'POST',
      headers: json(agent),
      body: JSON.stringify({ values: [{ source: 'desk', metric: 'reception.wait_minutes', scope: 'city', period: day, value: 25 }] }),
    });
    expect(submitted.status).toBe(200);
    // The hub's own schedule runs every 5 minutes: only the submission can have caused this.
    await waitFor(async () => received.some((r) => r.objective === 'waiting' && r.to === 'red'), 15_000, 'the submission did not lead to an evaluation');
    const energy = await waitFor(
      async () => {
        const { rows } = await hub.storage.pool.query<{ kwh: number }>(
          `SELECT sum(kwh) AS kwh FROM open_data_building_energy WHERE building_key = 'hall' AND energy = 'elec'`,
        );
        return rows[0]?.kwh ?? undefined;
      },
      15_000,
      "the open data's building energy was not refreshed after the evaluation",
    );
    expect(energy).toBeCloseTo(480, 6);
  });
});
