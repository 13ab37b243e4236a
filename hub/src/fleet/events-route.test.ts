import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { gatewayConfigValidator } from '@citypilot/gateway';
import { configBucketStream } from '@citypilot/wire';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, uniqueStreamNames, uniqueSuffix } from '../testing/index.js';
import type { FleetJournal } from './events-route.js';
import { recordFleetEvents, type FleetEvent } from './store.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The fleet's journal (events-route.ts) through the whole API (buildApi), on real PostgreSQL and
 * NATS: events recorded as the fleet's writers record them, and a configuration pushed through the
 * API, read back newest first, page by page, filtered; hostile query strings answered 400.
 */
describe('the fleet journal API', () => {
  const names = uniqueStreamNames('fleetjournal');
  const bucket = `cptest-journal-${uniqueSuffix()}`;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let nc: NatsConnection;
  let app: FastifyInstance;
  const tokens: Record<string, { token: string; id: string }> = {};
  const as = (who: string) => ({ authorization: `Bearer ${tokens[who]!.token}` });
  const get = (url: string, who = 'operator') => app.inject({ url, headers: as(who) });
  const page = async (url: string): Promise<FleetJournal> => {
    const answer = await get(url);
    expect(answer.statusCode, `${url}: ${answer.body}`).toBe(200);
    return answer.json();
  };
  /** Every event from `url` on, following `next`, and the number of pages. */
  const all = async (url: string) => {
    const events: FleetJournal['events'] = [];
    let pages = 0;
    for (let next: string | null = url; next; pages++) {
      const body: FleetJournal = await page(next);
      events.push(...body.events);
      next = body.next;
    }
    return { events, pages };
  };

  /** The steps of a rollout, in the order its writers record them, oldest first. */
  const steps: FleetEvent[] = [
    { gateway: 'school', kind: 'first-seen', actor: 'gateway:school', detail: { version: '0.1.0' } },
    { gateway: 'town-hall', kind: 'first-seen', actor: 'gateway:town-hall', detail: { version: '0.1.0' } },
    { gateway: null, kind: 'plugin-published', actor: 'cli:marie', detail: { plugin: 'http-json', version: '1.0.0' } },
    { gateway: null, kind: 'plugin-group-set', actor: 'cli:marie', detail: { group: 'canary', gateways: ['school'] } },
    { gateway: 'school', kind: 'plugin-assigned', actor: 'cli:marie', detail: { plugin: 'http-json', version: '1.0.0', rollout: 1, previous: null } },
    { gateway: 'school', kind: 'plugin-failed', actor: 'gateway:school', detail: { id: 'http-json', version: '1.0.0', reason: 'create() failed' } },
    { gateway: 'school', kind: 'plugin-rolled-back', actor: 'hub', detail: { plugin: 'http-json', version: '1.0.0', rollout: 1, to: null, reason: 'failed' } },
    { gateway: 'town-hall', kind: 'silent', actor: 'hub', detail: { missedReports: 3 } },
  ];

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'fleet_journal');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    nc = await connect({ servers: inject('natsUrl') });
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      fleet: { nc, prefix: names.prefix, configBucket: bucket, validator: async () => gatewayConfigValidator() },
    });
    for (const role of ['operator', 'director', 'admin'] as const) {
      const created = await createToken(storage.pool, { role, label: `${role} of the test` }, 'test');
      tokens[role] = { token: created.token, id: String(created.info.id) };
    }
    // One statement per event, as the writers do: the ids follow the order of the steps.
    for (const step of steps) await recordFleetEvents(storage.pool, [step]);
  });
  afterAll(async () => {
    await app?.close();
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(configBucketStream(bucket)).catch(() => undefined);
      await nc.close();
    }
    await storage?.close();
    await db?.drop();
  });

  it('is for operators and admins: refused without a token (401) and to a director (403)', async () => {
    expect((await app.inject({ url: '/api/fleet/events' })).statusCode).toBe(401);
    expect((await get('/api/fleet/events', 'director')).statusCode).toBe(403);
    expect((await get('/api/fleet/events', 'admin')).statusCode).toBe(200);
  });

  it('answers every event, newest first, with the rows without a gateway', async () => {
    const body = await page('/api/fleet/events');
    expect(body.next).toBeNull();
    expect(body.events.map((e) => [e.gateway, e.kind])).toEqual([...steps].reverse().map((s) => [s.gateway, s.kind]));
    const ids = body.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(body.events.find((e) => e.kind === 'plugin-rolled-back')).toEqual({
      id: expect.any(Number),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      gateway: 'school',
      kind: 'plugin-rolled-back',
      actor: 'hub',
      detail: { plugin: 'http-json', version: '1.0.0', rollout: 1, to: null, reason: 'failed' },
    });
  });

  it('pages by id without repeating or losing an event, even when events are recorded between two pages', async () => {
    const first = await page('/api/fleet/events?limit=3');
    expect(first.events).toHaveLength(3);
    expect(first.next).toBe(`/api/fleet/events?limit=3&before=${first.events[2]!.id}`);
    // Recorded meanwhile: newer than the first page, so on none of the next ones.
    await recordFleetEvents(storage.pool, [{ gateway: 'school', kind: 'online', actor: 'hub' }]);
    const rest = await all(first.next!);
    expect(rest.pages).toBe(2);
    const seen = [...first.events, ...rest.events].map((e) => e.kind);
    expect(seen).toEqual([...steps].reverse().map((s) => s.kind));
    const latest = await page('/api/fleet/events?limit=1');
    expect(latest.events.map((e) => e.kind)).toEqual(['online']);
    // A page that ends exactly at the oldest event has no next.
    const whole = await all('/api/fleet/events?limit=9');
    expect([whole.pages, whole.events.length]).toEqual([1, 9]);
    expect(new Set(whole.events.map((e) => e.id)).size).toBe(9);
  });

  it('filters by gateway and by kind, and keeps the filters in the next page', async () => {
    const school = await all('/api/fleet/events?gateway=school&limit=2');
    expect(school.events.map((e) => e.kind)).toEqual(['online', 'plugin-rolled-back', 'plugin-failed', 'plugin-assigned', 'first-seen']);
    expect(school.pages).toBe(3);
    const published = await page('/api/fleet/events?kind=plugin-published');
    expect(published.events.map((e) => [e.gateway, e.actor, e.detail])).toEqual([[null, 'cli:marie', { plugin: 'http-json', version: '1.0.0' }]]);
    const both = await page('/api/fleet/events?gateway=town-hall&kind=first-seen&limit=1');
    expect(both.events.map((e) => [e.gateway, e.kind])).toEqual([['town-hall', 'first-seen']]);
    expect(both.next).toBeNull();
    const firstSeen = await page('/api/fleet/events?kind=first-seen&limit=1');
    expect(firstSeen.next).toBe(`/api/fleet/events?limit=1&before=${firstSeen.events[0]!.id}&kind=first-seen`);
    expect((await page(firstSeen.next!)).events.map((e) => e.gateway)).toEqual(['school']);
    expect(await page('/api/fleet/events?gateway=nowhere')).toEqual({ events: [], next: null });
    expect(await page('/api/fleet/events?before=1')).toEqual({ events: [], next: null });
  });

  it('shows a configuration pushed through the API, with who pushed it', async () => {
    const text =
      `gateway:\n  id: library\nhub:\n  natsUrl: nats://127.0.0.1:4222\n  subjectPrefix: ${names.prefix}\n  remoteConfig: true\n  configBucket: ${bucket}\n` +
      `status: { port: 0 }\ndataDir: data\ndevices:\n  - id: boiler\n    plugin: modbus\n    interval: 1s\n` +
      `    connection: { host: 127.0.0.1, port: 5020 }\n    points:\n      - { id: a, address: { table: holding, address: 0 } }\n`;
    const pushed = await app.inject({ method: 'PUT', url: '/api/fleet/gateways/library/config', headers: as('operator'), payload: { text } });
    expect(pushed.statusCode).toBe(200);
    // Its id (10) is newer than 9: ordered as numbers, not as text.
    const body = await page('/api/fleet/events?limit=1');
    expect(body.events[0]).toMatchObject({ gateway: 'library', kind: 'config-pushed', actor: `token:${tokens.operator!.id}`, detail: pushed.json() });
  });

  it('answers 400 saying which parameter and what was expected, for any other query', async () => {
    const cases: [string, RegExp][] = [
      ['limit=0', /^query\.limit: "0": expected a whole number from 1 to 500$/],
      ['limit=501', /^query\.limit: "501": expected a whole number from 1 to 500$/],
      ['limit=1.5', /^query\.limit: .*whole number/],
      ['limit=', /^query\.limit: "": expected a whole number/],
      ['limit=1e2', /^query\.limit: /],
      ['limit=99999999999999999999', /^query\.limit: /],
      ['before=-1', /^query\.before: "-1": expected a whole number from 1 to 9007199254740991$/],
      ['before=abc', /^query\.before: /],
      ['before=9007199254740992', /^query\.before: /],
      ['gateway=Town%20Hall', /^query\.gateway: "Town Hall": expected a gateway id/],
      [`gateway=${'a'.repeat(300)}`, /^query\.gateway: "a{100}…": expected a gateway id/],
      ['kind=Config_Pushed', /^query\.kind: "Config_Pushed": expected a kind of event/],
      ['kind=%00', /./],
      ['limit=2&limit=3', /^query\.limit: given more than once: expected it once$/],
      ['gatway=school', /^query: unknown parameter "gatway": expected only limit, before, gateway, kind$/],
    ];
    for (const [query, error] of cases) {
      const answer = await get(`/api/fleet/events?${query}`);
      expect(answer.statusCode, query).toBe(400);
      expect(answer.json(), query).toEqual({ error: expect.stringMatching(error), code: 'REQUEST_INVALID' });
    }
  });
});
