import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { gatewayConfigValidator } from '@citypilot/gateway';
import { configBucketStream, encodeInventory, fleetSubjects, subjects, type InventoryReport } from '@citypilot/wire';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, uniqueStreamNames, uniqueSuffix, waitFor } from '../testing/index.js';
import { inventoryReport } from '../testing/inventory.js';
import { Fleet } from './fleet.js';
import { fleetHistory, getFleetGateway } from './store.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The fleet's API (routes.ts) through the whole API (buildApi), on real NATS and PostgreSQL: the
 * gateway's own validator (@citypilot/gateway) checks the configurations, pushes go to a
 * configuration bucket of the test's own, reports come through the Fleet's intake.
 */
describe('the fleet API', () => {
  const names = uniqueStreamNames('fleetapi');
  const bucket = `cptest-fleet-${uniqueSuffix()}`;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let nc: NatsConnection;
  let fleet: Fleet;
  let app: FastifyInstance;
  /** The same API on a hub started without the gateway's validator. */
  let blind: FastifyInstance;
  const tokens: Record<string, { token: string; id: string }> = {};
  const as = (who: string) => ({ authorization: `Bearer ${tokens[who]!.token}` });

  /** A configuration of gateway `id` that the gateway's validator accepts (unless `plugin` is unknown). */
  const yaml = (id: string, interval = '1s', plugin = 'modbus') =>
    `gateway:\n  id: ${id}\nhub:\n  natsUrl: nats://127.0.0.1:4222\n  subjectPrefix: ${names.prefix}\n  remoteConfig: true\n  configBucket: ${bucket}\n` +
    `status: { port: 0 }\ndataDir: data\ndevices:\n  - id: boiler\n    plugin: ${plugin}\n    interval: ${interval}\n` +
    `    connection: { host: 127.0.0.1, port: 5020 }\n    points:\n      - { id: a, address: { table: holding, address: 0 } }\n`;
  const put = (id: string, text: unknown, who = 'operator', on = () => app) =>
    on().inject({ method: 'PUT', url: `/api/fleet/gateways/${id}/config`, headers: as(who), payload: { text } });
  const check = (id: string, text: unknown, on = () => app) =>
    on().inject({ method: 'POST', url: `/api/fleet/gateways/${id}/config/check`, headers: as('operator'), payload: { text } });
  const report = async (gateway: string, r: InventoryReport) => {
    nc.publish(fleetSubjects(names.prefix).inventory(gateway), encodeInventory(r));
    await nc.flush();
    await waitFor(async () => (await getFleetGateway(storage.pool, gateway))?.report.uptimeS === r.uptimeS, 10_000, `report of ${gateway} not stored`);
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'fleet_api');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    nc = await connect({ servers: inject('natsUrl') });
    fleet = new Fleet({ nc, pool: storage.pool, prefix: names.prefix, logger: quiet, metrics: createHubMetrics() });
    fleet.start();
    const fleetApi = { nc, prefix: names.prefix, configBucket: bucket };
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      fleet: { ...fleetApi, validator: async () => gatewayConfigValidator() },
    });
    blind = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, fleet: fleetApi });
    for (const role of ['operator', 'director', 'admin'] as const) {
      const created = await createToken(storage.pool, { role, label: `${role} of the test` }, 'test');
      tokens[role] = { token: created.token, id: String(created.info.id) };
    }
  });
  afterAll(async () => {
    await app?.close();
    await blind?.close();
    await fleet?.stop();
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(configBucketStream(bucket)).catch(() => undefined);
      await nc.close();
    }
    await storage?.close();
    await db?.drop();
  });

  it('is for operators and admins: refused without a token (401) and to a director (403)', async () => {
    expect((await app.inject({ url: '/api/fleet' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/fleet', headers: as('director') })).statusCode).toBe(403);
    expect((await app.inject({ url: '/api/fleet/gateways/town-hall', headers: as('director') })).statusCode).toBe(403);
    expect((await put('town-hall', yaml('town-hall'), 'director')).statusCode).toBe(403);
    expect((await app.inject({ method: 'PUT', url: '/api/fleet/gateways/town-hall/config', payload: { text: yaml('town-hall') } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/fleet', headers: as('admin') })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/fleet', headers: as('operator') })).json()).toEqual({ gateways: [], generatedAt: expect.any(String) });
  });

  it("checks a configuration with the gateway's own rules, for this gateway only", async () => {
    expect((await check('town-hall', yaml('town-hall'))).json()).toEqual({ ok: true, gateway: 'town-hall' });
    const invalid = await check('town-hall', yaml('town-hall', '1s', 'no-such-plugin'));
    expect(invalid.statusCode).toBe(200);
    expect(invalid.json()).toEqual({ ok: false, problems: [expect.stringMatching(/^town-hall\.yaml:\d+:\d+ devices\[0\]\.plugin: .*no-such-plugin/)] });
    expect((await check('town-hall', yaml('school'))).json()).toEqual({
      ok: false,
      problems: ['town-hall.yaml: gateway.id is "school": this configuration is for another gateway than town-hall'],
    });
    expect((await check('town-hall', 'gateway: [')).json()).toMatchObject({ ok: false, problems: [expect.stringMatching(/^town-hall\.yaml/)] });
    // A hostile body or id: 4xx saying what was wrong.
    const noText = await app.inject({ method: 'POST', url: '/api/fleet/gateways/town-hall/config/check', headers: as('operator'), payload: {} });
    expect([noText.statusCode, noText.json().error]).toEqual([400, expect.stringMatching(/^body: .*text/)]);
    expect((await check('town-hall', 42)).statusCode).toBe(400);
    expect((await check('town-hall', 'x'.repeat(1_000_001))).statusCode).toBe(400);
    expect((await check('Town%20Hall', yaml('town-hall'))).statusCode).toBe(404);
    // A hub without the validator says it cannot check.
    const cannot = await check('town-hall', yaml('town-hall'), () => blind);
    expect([cannot.statusCode, cannot.json()]).toEqual([
      409,
      { error: expect.stringMatching(/cannot check gateway configurations/), code: 'NO_CONFIG_VALIDATOR' },
    ]);
    expect((await put('town-hall', yaml('town-hall'), 'operator', () => blind)).statusCode).toBe(409);
  });

  it('pushes a valid configuration, records who pushed it, and refuses an invalid one without pushing', async () => {
    const seen: string[] = [];
    const sub = nc.subscribe(subjects(names.prefix).config('school'), { callback: (_e, m) => void seen.push(m.string()) });
    // A gateway the fleet has never heard of may be configured.
    const pushed = await put('school', yaml('school'));
    expect(pushed.statusCode).toBe(200);
    const { revision } = pushed.json();
    expect(revision).toEqual(expect.any(Number));
    await waitFor(() => seen.length > 0, 5000, 'the gateway was not told');
    expect(JSON.parse(seen[0]!)).toEqual({ revision });
    sub.unsubscribe();
    expect(await fleetHistory(storage.pool, 'school')).toEqual([
      { at: expect.any(String), kind: 'config-pushed', actor: `token:${tokens.operator!.id}`, detail: { revision } },
    ]);
    // Audited with a summary, not the configuration's text.
    const audited = await waitFor(
      async () => (await storage.pool.query(`SELECT summary FROM api_audit WHERE route = '/api/fleet/gateways/:id/config' AND status_code = 200`)).rows[0],
      5000,
      'the push was not audited',
    );
    expect(audited.summary).toEqual({ gateway: 'school', bytes: Buffer.byteLength(yaml('school')), revision });

    const refused = await put('school', yaml('school', '1s', 'no-such-plugin'));
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      error: 'the configuration is not valid for gateway school: nothing was pushed',
      code: 'CONFIG_INVALID',
      problems: [expect.stringMatching(/no-such-plugin/)],
    });
    expect((await put('school', yaml('town-hall'))).statusCode).toBe(400);
    expect(await fleetHistory(storage.pool, 'school')).toHaveLength(1);
  });

  it('lists the fleet and details a gateway: history newest first, running and pushed texts and their diff, whether it is up to date', async () => {
    const first = (await put('town-hall', yaml('town-hall', '1s'))).json().revision as number;
    await report(
      'town-hall',
      inventoryReport({ uptimeS: 10, config: { source: 'hub', revision: first, appliedAt: '2026-01-05T09:00:00.000Z', refused: null } }),
    );
    let list = (await app.inject({ url: '/api/fleet', headers: as('operator') })).json();
    expect(list.gateways.map((g: { id: string }) => g.id)).toEqual(['town-hall']);
    expect(list.gateways[0].config).toEqual({
      running: { source: 'hub', revision: first, appliedAt: '2026-01-05T09:00:00.000Z' },
      refused: null,
      pushed: { revision: first, at: expect.any(String) },
      upToDate: true,
    });

    const second = (await put('town-hall', yaml('town-hall', '5s'))).json().revision as number;
    expect(second).toBeGreaterThan(first);
    list = (await app.inject({ url: '/api/fleet', headers: as('operator') })).json();
    const gateway = list.gateways[0];
    expect(gateway).toMatchObject({
      id: 'town-hall',
      state: 'online',
      reportIntervalS: 30,
      software: { version: '0.1.0', sdk: '0.1.0', node: 'v20.20.2' },
      host: { hostname: 'gw-host', platform: 'linux', arch: 'arm64' },
      uptimeS: 10,
      plugins: [{ id: 'modbus', version: '0.1.0', source: 'builtin' }],
      outbox: { depth: 0 },
      devices: { total: 2, failing: 1, byPlugin: { modbus: { total: 2, failing: 1 } }, failingDevices: [{ id: 'boiler', plugin: 'modbus', error: 'timeout' }] },
      lastError: null,
      installs: [],
    });
    expect(gateway.config).toMatchObject({ pushed: { revision: second }, upToDate: false });

    const detail = await app.inject({ url: '/api/fleet/gateways/town-hall', headers: as('operator') });
    expect(detail.statusCode).toBe(200);
    const body = detail.json();
    expect(body).toMatchObject({ ...gateway, config: { ...gateway.config, pushed: { revision: second } } });
    expect(body.history.map((e: { kind: string }) => e.kind)).toEqual(['config-pushed', 'first-seen', 'config-pushed']);
    expect(body.history[0]).toMatchObject({ actor: `token:${tokens.operator!.id}`, detail: { revision: second } });
    expect(body.configText.running).toBe(yaml('town-hall', '1s'));
    expect(body.configText.pushed).toBe(yaml('town-hall', '5s'));
    expect(body.configText.diff).toContain('--- town-hall (running)');
    expect(body.configText.diff).toContain('-    interval: 1s\n+    interval: 5s');

    // Once it runs the latest revision: up to date, nothing to diff.
    await report(
      'town-hall',
      inventoryReport({ uptimeS: 20, config: { source: 'hub', revision: second, appliedAt: '2026-01-05T09:05:00.000Z', refused: null } }),
    );
    const now = (await app.inject({ url: '/api/fleet/gateways/town-hall', headers: as('operator') })).json();
    expect(now.config.upToDate).toBe(true);
    expect(now.configText).toEqual({ pushed: yaml('town-hall', '5s'), running: yaml('town-hall', '5s'), diff: null });
    expect(now.history[0]).toMatchObject({ kind: 'config-running', actor: 'gateway:town-hall' });
  });

  it('answers 404 for a gateway the fleet has never heard of, or an id that is none', async () => {
    for (const url of ['/api/fleet/gateways/nowhere', '/api/fleet/gateways/Not%20An%20Id', `/api/fleet/gateways/${'a'.repeat(99)}`]) {
      const answer = await app.inject({ url, headers: as('operator') });
      expect([answer.statusCode, answer.json().code], url).toEqual([404, 'NO_SUCH_GATEWAY']);
    }
    // Pushed but never heard of: still not in the fleet.
    expect((await app.inject({ url: '/api/fleet/gateways/school', headers: as('operator') })).statusCode).toBe(404);
  });
});
