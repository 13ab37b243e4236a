/**
 * The fleet, real everywhere: a NATS server secured as in production (a user per gateway), a hub
 * process (`citypilot hub run`), three gateway processes (`citypilot gateway run`) each reading
 * a Modbus simulator, and a plugin written only for this test (gateway/testcases/plugin-http-json,
 * an HTTP-JSON meter reader) packed as an npm package. The operator's steps are the `citypilot
 * hub plugin …` commands and the fleet API, as in a city:
 *  - a gateway cannot publish another's inventory (its credentials refuse it, the hub's view of
 *    the other does not change);
 *  - the package is published (signed with the operator's key), rolled out to the canary group
 *    (one gateway), promoted to all after it ran healthy, configured on the gateways from the
 *    hub, and its points reach the hub;
 *  - a tampered package, one signed by a key the gateways do not trust, and one needing another
 *    SDK are refused by the gateway, each saying why in the fleet view, and rolled back;
 *  - a version whose `create()` throws is rolled back automatically to the previous one, and
 *    every gateway keeps reading;
 *  - a gateway killed (SIGKILL) is silent in the fleet within 100 s with the default report
 *    interval (30 s), and online again once restarted, when it installs what it was assigned
 *    meanwhile.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { HTTP_JSON_PLUGIN_DIR, packPluginPackage } from '@citypilot/gateway/testing';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import { DEFAULT_PLUGIN_BUCKET, encodeInventory, fleetSubjects, natsCredentialsOptions, pluginObjectName, type InventoryReport } from '@citypilot/wire';
import { createToken } from '../auth/tokens.js';
import { freePort } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import {
  createTestDatabase,
  hubEnv,
  spawnCli,
  startHubProcess,
  startSecuredTestNats,
  uniqueStreamNames,
  waitFor,
  type CliProcess,
  type SecuredTestNats,
} from '../testing/index.js';

const GATEWAYS = ['gw-a', 'gw-b', 'gw-c'] as const;
type GatewayId = (typeof GATEWAYS)[number];
const SILENT_WITHIN_MS = 100_000;

interface FleetGateway {
  id: string;
  state: 'online' | 'silent';
  uptimeS: number;
  plugins: { id: string; version: string; source: string }[];
  config: { running: { revision: number | string | null }; refused: { message: string } | null };
  installs: { id: string; version: string; state: string; reason?: string }[];
}
interface Rollout {
  id: number;
  plugin: string;
  version: string;
  state: string;
  reason: string | null;
}

describe('fleet: three gateway processes, a signed plugin rolled out, refused, rolled back; a gateway silent and back', () => {
  const names = uniqueStreamNames('fleet');
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-fleet-'));
  const building = demoBuildings[0]!;
  const meterPoints = building.points.slice(0, 2);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let nats: SecuredTestNats;
  let hub: CliProcess | undefined;
  const gateways = new Map<GatewayId, CliProcess>();
  let simulator: ModbusSimulator;
  let meterServer: Server;
  let meterUrl = '';
  let client: pg.Client;
  let token = '';
  let base = '';
  let env: NodeJS.ProcessEnv = {};
  let modbusPort = 0;
  // What the HTTP meters answer, per gateway: the values the hub must receive.
  const readings: Record<GatewayId, { energy: number; power: number }> = {
    'gw-a': { energy: 1001.5, power: 11 },
    'gw-b': { energy: 2002.5, power: 22 },
    'gw-c': { energy: 3003.5, power: 33 },
  };

  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const response = await fetch(base + path, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
  // The last view read, for the message of a wait that ends without what it waited for.
  let last = '';
  const seen = <T>(value: T): T => {
    last = JSON.stringify(value).slice(0, 4000);
    return value;
  };
  const until = (probe: () => Promise<boolean>, ms: number, what: string) => waitFor(probe, ms, () => `${what}; last seen: ${last}`);
  const gatewayView = async (id: GatewayId) => seen(await api<FleetGateway>(`/api/fleet/gateways/${id}`));
  const cli = async (...args: string[]) => {
    const p = spawnCli(['hub', ...args], env);
    const code = await p.exited;
    return { code, output: p.output() };
  };
  const configYaml = (id: GatewayId, withMeter: boolean) => `gateway:
  id: ${id}
hub:
  natsUrl: ${nats.url}
  credentials: ${JSON.stringify(nats.gatewayCredentials[id])}
  subjectPrefix: ${names.prefix}
  remoteConfig: true
dataDir: ${JSON.stringify(join(dir, id, 'data'))}
status:
  port: 0
plugins:
  trustedKeys: [${JSON.stringify(join(dir, 'keys', 'plugin-signing.pub'))}]
devices:
  - id: meters
    plugin: modbus
    interval: 1s
    connection: { host: 127.0.0.1, port: ${modbusPort}, unitId: 1 }
    points:
${meterPoints
  .map(
    (p) =>
      `      - { id: ${p.id}, address: { table: ${p.sim.table}, address: ${p.sim.address}, type: ${p.sim.type}${p.sim.order ? `, order: ${p.sim.order}` : ''} } }`,
  )
  .join('\n')}
${
  withMeter
    ? `  - id: http-meter
    plugin: http-json
    interval: 1s
    connection: { url: ${JSON.stringify(`${meterUrl}/${id}`)} }
    points:
      - { id: energy, unit: kWh, address: { field: energy } }
      - { id: power, unit: kW, address: { field: power } }
`
    : ''
}`;
  const startGateway = async (id: GatewayId) => {
    const file = join(dir, id, 'gateway.yaml');
    const process = spawnCli(['gateway', 'run', file], { ...env, LOG_LEVEL: 'info' });
    gateways.set(id, process);
    await waitFor(
      async () => process.output().includes('"msg":"gateway started"'),
      30_000,
      () => `${id} did not start: ${process.output()}`,
    );
    return process;
  };
  const publish = async (tgz: Buffer, name: string, key = join(dir, 'keys', 'plugin-signing.key')) => {
    const file = join(dir, name);
    writeFileSync(file, tgz);
    const r = await cli('plugin', 'publish', file, '--key', key);
    expect(r.code, r.output).toBe(0);
  };
  const rolloutOf = async (version: string) => seen((await api<{ rollouts: Rollout[] }>('/api/fleet/plugins')).rollouts.find((r) => r.version === version));
  const hubReads = async (gateway: GatewayId, point: string) =>
    (
      await client.query<{ value: number }>(
        `SELECT s.value FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND p.point_key = $2 ORDER BY s.time DESC LIMIT 1`,
        [gateway, point],
      )
    ).rows[0]?.value;

  beforeAll(async () => {
    nats = await startSecuredTestNats(join(dir, 'services'), GATEWAYS, names);
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'fleet');
    const storage = await Storage.open({ databaseUrl: db.url, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    token = (await createToken(storage.pool, { role: 'operator', label: 'fleet test' }, 'test')).token;
    await storage.close();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    simulator = new ModbusSimulator({ points: meterPoints.map((p) => p.sim) });
    modbusPort = (await simulator.start()).port;
    meterServer = createServer((request, response) => {
      const reading = readings[request.url?.slice(1) as GatewayId];
      response.writeHead(reading ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(reading ?? {}));
    });
    await new Promise<void>((resolve) => meterServer.listen(0, '127.0.0.1', resolve));
    meterUrl = `http://127.0.0.1:${(meterServer.address() as AddressInfo).port}`;
    const hubPort = await freePort();
    base = `http://127.0.0.1:${hubPort}`;
    env = { ...hubEnv(db.url, nats.url, names, hubPort), NATS_CREDENTIALS: nats.hubCredentials };
    hub = await startHubProcess(env, hubPort);
    for (const id of GATEWAYS) {
      mkdirSync(join(dir, id), { recursive: true });
      writeFileSync(join(dir, id, 'gateway.yaml'), configYaml(id, false));
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...gateways.values()].map((g) => g.stop('SIGKILL')));
    await hub?.stop('SIGKILL');
    await simulator?.stop();
    await new Promise((resolve) => meterServer?.close(resolve));
    await client?.end().catch(() => undefined);
    await nats?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rolls a signed plugin out, refuses what it must, rolls back a broken version, and sees a killed gateway go silent and come back', async () => {
    // The operator's signing key, and a key no gateway trusts.
    expect((await cli('plugin', 'keygen', join(dir, 'keys'))).code).toBe(0);
    expect((await cli('plugin', 'keygen', join(dir, 'rogue-keys'))).code).toBe(0);
    await Promise.all(GATEWAYS.map(startGateway));
    await until(
      async () => seen((await api<{ gateways: FleetGateway[] }>('/api/fleet')).gateways).filter((g) => g.state === 'online').length === 3,
      30_000,
      'the three gateways were not online in the fleet',
    );

    // Gateway C killed now: with reports every 30 s it must be silent within 100 s.
    const killedAt = Date.now();
    await gateways.get('gw-c')!.stop('SIGKILL');

    // A gateway speaks only for itself: gw-a's credentials cannot publish gw-b's inventory.
    const before = await gatewayView('gw-b');
    const impostor = await connect({ servers: nats.url, ...natsCredentialsOptions(nats.gatewayCredentials['gw-a']!), inboxPrefix: '_INBOX_gw-a' });
    const violations: string[] = [];
    void (async () => {
      for await (const s of impostor.status()) if (s.type === 'error') violations.push(s.error.message);
    })();
    const forged: InventoryReport = { ...(before as unknown as InventoryReport), uptimeS: 424242 };
    impostor.publish(fleetSubjects(names.prefix).inventory('gw-b'), encodeInventory(forged));
    await impostor.flush();
    await waitFor(
      async () => violations.some((m) => /permissions violation/i.test(m)),
      10_000,
      () => `no violation: ${violations.join('; ')}`,
    );
    await impostor.close();
    expect((await gatewayView('gw-b')).uptimeS).not.toBe(424242);

    // Version 1.0.0: published, rolled out to the canary (gw-a), promoted to all after 5 s healthy.
    await publish(await packPluginPackage(HTTP_JSON_PLUGIN_DIR), 'http-json-1.0.0.tgz');
    expect((await cli('plugin', 'group', 'canary', 'gw-a')).code).toBe(0);
    const assign = await cli('plugin', 'assign', 'http-json', '1.0.0', '--group', 'canary', '--promote-after', '5s');
    expect(assign.code, assign.output).toBe(0);
    const installed = async (id: GatewayId, version: string) =>
      (await gatewayView(id)).plugins.some((p) => p.id === 'http-json' && p.version === version && p.source === 'installed');
    await until(() => installed('gw-a', '1.0.0'), 30_000, 'gw-a did not install 1.0.0');
    expect(await installed('gw-b', '1.0.0')).toBe(false);
    await until(async () => (await rolloutOf('1.0.0'))?.state === 'all', 60_000, '1.0.0 was not promoted to all');
    await until(() => installed('gw-b', '1.0.0'), 30_000, 'gw-b did not install 1.0.0');

    // Configured from the hub (checked with the gateway's own rules and the package's schema): its points reach the hub.
    for (const id of ['gw-a', 'gw-b'] as const) {
      const check = await api<{ ok: boolean; problems?: string[] }>(`/api/fleet/gateways/${id}/config/check`, {
        method: 'POST',
        body: JSON.stringify({ text: configYaml(id, true) }),
      });
      expect(check, JSON.stringify(check)).toMatchObject({ ok: true });
      const { revision } = await api<{ revision: number }>(`/api/fleet/gateways/${id}/config`, {
        method: 'PUT',
        body: JSON.stringify({ text: configYaml(id, true) }),
      });
      await until(async () => (await gatewayView(id)).config.running.revision === revision, 30_000, `${id} did not run revision ${revision}`);
    }
    for (const id of ['gw-a', 'gw-b'] as const) {
      await waitFor(async () => (await hubReads(id, 'http-meter.energy')) === readings[id].energy, 30_000, `${id}'s meter did not reach the hub`);
      expect(await hubReads(id, 'http-meter.power')).toBe(readings[id].power);
    }

    // Refused by the gateway, each saying why, and rolled back: bytes altered in the store after signing…
    const signed = await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.1' });
    await publish(signed, 'http-json-1.0.1.tgz');
    const operatorNats = await connect({ servers: nats.url, ...natsCredentialsOptions(nats.hubCredentials) });
    const store = await new Objm(operatorNats).open(DEFAULT_PLUGIN_BUCKET);
    const altered = Buffer.from(signed);
    altered[altered.length >> 1] ^= 0xff;
    await store.putBlob({ name: pluginObjectName('http-json', '1.0.1') }, altered);
    await operatorNats.close();
    // …signed by a key the gateways do not trust, and written for another SDK.
    await publish(await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.2' }), 'http-json-1.0.2.tgz', join(dir, 'rogue-keys', 'plugin-signing.key'));
    await publish(await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.3', sdk: '^9.0.0' }), 'http-json-1.0.3.tgz');
    const refusals: [string, RegExp][] = [
      ['1.0.1', /altered|does not match/i],
      ['1.0.2', /does not trust/i],
      ['1.0.3', /SDK|\^9\.0\.0/],
    ];
    for (const [version, why] of refusals) {
      expect((await cli('plugin', 'assign', 'http-json', version, '--gateways', 'gw-b')).code).toBe(0);
      await until(async () => (await rolloutOf(version))?.state === 'rolled-back', 30_000, `${version} was not rolled back`);
      const view = await gatewayView('gw-b');
      const attempt = view.installs.find((i) => i.id === 'http-json');
      expect(attempt, JSON.stringify(view.installs)).toMatchObject({ version, state: 'refused' });
      expect(attempt!.reason).toMatch(why);
      expect(view.plugins).toContainEqual({ id: 'http-json', version: '1.0.0', source: 'installed' });
    }

    // A version whose create() throws: failed on the canary, rolled back automatically; everyone keeps reading.
    await publish(
      await packPluginPackage(HTTP_JSON_PLUGIN_DIR, {
        version: '1.1.0',
        indexJs: (t) => t.replace(/create\(device, context\) \{/, "create(device, context) {\n    throw new Error('this version cannot plan its requests');"),
      }),
      'http-json-1.1.0.tgz',
    );
    expect((await cli('plugin', 'assign', 'http-json', '1.1.0', '--group', 'canary', '--promote-after', '5s')).code).toBe(0);
    await until(async () => (await rolloutOf('1.1.0'))?.state === 'rolled-back', 30_000, '1.1.0 was not rolled back');
    expect((await rolloutOf('1.1.0'))!.reason).toMatch(/gw-a/);
    const a = await gatewayView('gw-a');
    expect(a.installs.find((i) => i.id === 'http-json')).toMatchObject({ version: '1.1.0', state: 'failed' });
    expect(a.plugins).toContainEqual({ id: 'http-json', version: '1.0.0', source: 'installed' });
    for (const id of ['gw-a', 'gw-b'] as const) {
      readings[id].energy += 1;
      await waitFor(async () => (await hubReads(id, 'http-meter.energy')) === readings[id].energy, 30_000, `${id} stopped reading its meter`);
    }

    // The killed gateway: silent within 100 s of its kill, then back, with 1.0.0 installed.
    // The bound is the fleet's contract (3 missed reports of 30 s, checked every 5 s), counted from the kill.
    await waitFor(
      async () => (await gatewayView('gw-c')).state === 'silent',
      Math.max(0, killedAt + SILENT_WITHIN_MS - Date.now()),
      'gw-c was not silent in the fleet within 100 s of its kill',
    );
    console.log(`gw-c silent in the fleet ${Math.round((Date.now() - killedAt) / 1000)} s after its kill (reports every 30 s)`);
    await startGateway('gw-c');
    await until(async () => (await gatewayView('gw-c')).state === 'online', 30_000, 'gw-c was not online again');
    await until(() => installed('gw-c', '1.0.0'), 30_000, 'gw-c did not install 1.0.0 after its restart');
  }, 300_000);
});
