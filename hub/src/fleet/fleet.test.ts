import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeInventory, fleetSubjects, type FleetAlert, type InventoryReport } from '@citypilot/wire';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, uniqueStreamNames, waitFor } from '../testing/index.js';
import { inventoryReport } from '../testing/inventory.js';
import { Fleet } from './fleet.js';
import { fleetHistory, getFleetGateway } from './store.js';

/**
 * The fleet's intake and silence check against real NATS and PostgreSQL: reports are published
 * by the test as a gateway would (encodeInventory on the gateway's own subject).
 */
describe('the fleet: inventory intake and silence', () => {
  const names = uniqueStreamNames('fleet');
  const subjects = fleetSubjects(names.prefix);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let nc: NatsConnection;
  let fleet: Fleet;
  let other: Fleet;
  const metrics = createHubMetrics();
  const warnings: { gateway?: string; err?: string }[] = [];
  const logger = { debug() {}, info() {}, warn: (o: object) => void warnings.push(o), error() {} };
  const heard: [string, InventoryReport][] = [];
  const alerts: FleetAlert[] = [];

  const publish = async (gateway: string, report: InventoryReport | Uint8Array) => {
    nc.publish(subjects.inventory(gateway), report instanceof Uint8Array ? report : encodeInventory(report));
    await nc.flush();
  };
  const counter = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values[0]?.value ?? 0;
  const kinds = async (gateway: string) => (await fleetHistory(storage.pool, gateway)).map((e) => e.kind);

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'fleet');
    storage = await Storage.open({ databaseUrl: db.url, logger, timescale: 'off' });
    nc = await connect({ servers: inject('natsUrl') });
    nc.subscribe(subjects.alerts, { callback: (_e, m) => void alerts.push(m.json<FleetAlert>()) });
    fleet = new Fleet({ nc, pool: storage.pool, prefix: names.prefix, logger, metrics, silentCheckEveryMs: 200 });
    fleet.onReport((gateway, report) => heard.push([gateway, report]));
    fleet.start();
    // A second hub on the same database, whose checks race with the first's.
    other = new Fleet({ nc, pool: storage.pool, prefix: names.prefix, logger, metrics: createHubMetrics() });
  });
  afterAll(async () => {
    await fleet?.stop();
    await other?.stop();
    await nc?.close();
    await storage?.close();
    await db?.drop();
  });

  it('stores a report under the gateway of its subject, records it first seen, and tells its listeners', async () => {
    // The report names no gateway; its host name says another one: the subject decides.
    const report = inventoryReport({ host: { hostname: 'school', platform: 'linux', arch: 'x64' } });
    await publish('town-hall', report);
    const row = await waitFor(() => getFleetGateway(storage.pool, 'town-hall'), 10_000, 'the report was not stored');
    expect(row).toMatchObject({ id: 'town-hall', state: 'online', reportIntervalS: 30, report });
    expect(row.firstSeen).toBe(row.lastSeen);
    expect(await getFleetGateway(storage.pool, 'school')).toBeUndefined();
    const history = await fleetHistory(storage.pool, 'town-hall');
    expect(history).toEqual([
      {
        at: expect.any(String),
        kind: 'first-seen',
        actor: 'gateway:town-hall',
        detail: { version: '0.1.0', hostname: 'school', config: { source: 'file', revision: 'a1b2c3d4e5f6' } },
      },
    ]);
    await waitFor(() => heard.length > 0, 5000, 'no listener called');
    expect(heard).toEqual([['town-hall', report]]);
    expect(await counter(metrics.fleetReports)).toBeGreaterThanOrEqual(1);
  });

  it('records what changed: the configuration running, a new refusal, each new install result; nothing for the same report again', async () => {
    const refused = {
      source: 'hub' as const,
      revision: 8,
      at: '2026-01-05T09:10:00.000Z',
      message: 'gateway.yaml:3:1 devices[0].plugin: unknown plugin http-json',
    };
    const changed = inventoryReport({
      uptimeS: 600,
      config: { source: 'hub', revision: 7, appliedAt: '2026-01-05T09:00:00.000Z', refused },
      installs: [
        { id: 'http-json', version: '1.0.0', state: 'installed', at: '2026-01-05T09:01:00.000Z' },
        { id: 'mqtt', version: '2.0.0', state: 'refused', at: '2026-01-05T09:02:00.000Z', reason: 'signature does not verify' },
      ],
    });
    await publish('town-hall', changed);
    await waitFor(async () => (await getFleetGateway(storage.pool, 'town-hall'))?.report.uptimeS === 600, 10_000, 'the second report was not stored');
    const history = await fleetHistory(storage.pool, 'town-hall');
    expect(history.map((e) => [e.kind, e.actor])).toEqual(
      expect.arrayContaining([
        ['config-running', 'gateway:town-hall'],
        ['config-refused', 'gateway:town-hall'],
        ['plugin-installed', 'gateway:town-hall'],
        ['plugin-refused', 'gateway:town-hall'],
      ]),
    );
    expect(history).toHaveLength(5);
    expect(history.find((e) => e.kind === 'config-running')!.detail).toEqual({
      source: 'hub',
      revision: 7,
      appliedAt: '2026-01-05T09:00:00.000Z',
      previous: { source: 'file', revision: 'a1b2c3d4e5f6' },
    });
    expect(history.find((e) => e.kind === 'config-refused')!.detail).toEqual(refused);
    expect(history.find((e) => e.kind === 'plugin-refused')!.detail).toMatchObject({ id: 'mqtt', version: '2.0.0', reason: 'signature does not verify' });

    await publish('town-hall', { ...changed, uptimeS: 630 } as InventoryReport);
    await waitFor(async () => (await getFleetGateway(storage.pool, 'town-hall'))?.report.uptimeS === 630, 10_000, 'the third report was not stored');
    expect(await kinds('town-hall')).toHaveLength(5);
  });

  it('counts malformed reports (not JSON, wrong types, too large, a subject naming no gateway), logs each problem once, and stores nothing', async () => {
    const before = await counter(metrics.fleetReportsMalformed);
    const good = inventoryReport();
    await publish('museum', new TextEncoder().encode('{"v": 1, "software": '));
    await publish('museum', new TextEncoder().encode('{"v": 1, "software": '));
    await publish('museum', encodeInventory({ ...good, uptimeS: 'long' } as unknown as InventoryReport));
    await publish('museum', encodeInventory({ ...good, host: { ...good.host, hostname: 'x'.repeat(100_000) } }));
    nc.publish(`${names.prefix}.fleet.inventory.Not-An-Id`, encodeInventory(good));
    await nc.flush();
    await waitFor(async () => (await counter(metrics.fleetReportsMalformed)) - before === 5, 10_000, 'the malformed reports were not all counted');
    expect(await getFleetGateway(storage.pool, 'museum')).toBeUndefined();
    expect(await getFleetGateway(storage.pool, 'not-an-id')).toBeUndefined();
    const museum = warnings.filter((w) => w.gateway === 'museum').map((w) => w.err);
    expect(museum).toHaveLength(3);
    expect(museum[0]).toMatch(/not valid JSON/);
    expect(museum[1]).toMatch(/malformed at uptimeS/);
    expect(museum[2]).toMatch(/bytes: at most 65536 are read/);
    expect(warnings.some((w) => /Not-An-Id: the subject names no valid gateway/.test(w.err ?? ''))).toBe(true);
  });

  it('keeps only the newest report waiting per gateway when they flood in, and stores the last', async () => {
    const droppedBefore = await counter(metrics.fleetReportsDropped);
    for (let i = 1; i <= 500; i++) nc.publish(subjects.inventory('flood'), encodeInventory(inventoryReport({ uptimeS: i })));
    await nc.flush();
    await waitFor(async () => (await getFleetGateway(storage.pool, 'flood'))?.report.uptimeS === 500, 20_000, 'the last report was not stored');
    expect(await counter(metrics.fleetReportsDropped)).toBeGreaterThan(droppedBefore);
    expect(await kinds('flood')).toEqual(['first-seen']);
  });

  it('calls a gateway silent after 3 missed reports, once for two hubs, alerts, and online again when it reports', async () => {
    await publish('library', inventoryReport({ reportIntervalS: 1 }));
    await waitFor(() => getFleetGateway(storage.pool, 'library'), 10_000, 'the report was not stored');
    // The second hub checks as often as the test can, racing the first one's timer.
    const otherAlerts: FleetAlert[] = [];
    await waitFor(
      async () => {
        otherAlerts.push(...(await other.checkSilence()));
        return (await getFleetGateway(storage.pool, 'library'))?.state === 'silent';
      },
      15_000,
      'the gateway was not called silent',
    );
    await nc.flush();
    const silent = alerts.filter((a) => a.gateway === 'library');
    expect(silent).toEqual([{ gateway: 'library', state: 'silent', lastSeen: expect.any(String), at: expect.any(String) }]);
    const row = (await getFleetGateway(storage.pool, 'library'))!;
    expect(silent[0]!.lastSeen).toBe(row.lastSeen);
    expect(await kinds('library')).toEqual(['silent', 'first-seen']);
    expect((await fleetHistory(storage.pool, 'library'))[0]).toMatchObject({ actor: 'hub', detail: { missedReports: 3, reportIntervalS: 1 } });
    // Others, reporting every 30 s, are still online.
    expect((await getFleetGateway(storage.pool, 'town-hall'))!.state).toBe('online');
    await waitFor(async () => ((await metrics.fleetGateways.get()).values.find((v) => v.labels.state === 'silent')?.value ?? 0) >= 1, 5000, 'no gauge');

    await publish('library', inventoryReport({ reportIntervalS: 1, uptimeS: 100 }));
    await waitFor(async () => (await getFleetGateway(storage.pool, 'library'))?.state === 'online', 10_000, 'the gateway did not come back online');
    await waitFor(() => alerts.some((a) => a.gateway === 'library' && a.state === 'online'), 5000, 'no online alert');
    expect(alerts.filter((a) => a.gateway === 'library').map((a) => a.state)).toEqual(['silent', 'online']);
    expect((await kinds('library')).slice(0, 2)).toEqual(['online', 'silent']);
  });
});
