import { createHash, generateKeyPairSync } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeAssignments, fleetSubjects, type InventoryReport, MAX_PLUGIN_PACKAGE_BYTES, pluginObjectName, verifyPluginSignature } from '@citypilot/wire';
import { silentLogger, waitFor } from '@citypilot/sdk';
import { migrate } from '../storage/migrations.js';
import { createTestDatabase, natsConnection, uniqueStreamNames, uniqueSuffix } from '../testing/index.js';
import { PluginAssignmentStore } from './assignments.js';
import { PluginPackageError } from './package-file.js';
import { PluginRepository } from './repository.js';
import { Rollouts, type RolloutState } from './rollouts.js';
import { Fleet } from '../fleet/fleet.js';
import { createHubMetrics } from '../metrics.js';
import { buildPackage, inventory, sendReport } from './testing.js';

describe('plugin repository and rollouts', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let nc: NatsConnection;
  let repository: PluginRepository;
  let assignments: PluginAssignmentStore;
  let fleet: Fleet;
  let rollouts: Rollouts;
  const { prefix } = uniqueStreamNames('plugins');
  const bucket = `cptest-plugins-${uniqueSuffix()}`;
  const fleetBucket = `cptest-fleet-${uniqueSuffix()}`;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = async (gateway: string) => {
    const entry = await (await new Kvm(nc).open(fleetBucket)).get(gateway);
    return entry?.value.length ? decodeAssignments(entry.value) : undefined;
  };
  const state = async (id: number) =>
    (await pool.query<{ state: RolloutState; reason: string | null }>('SELECT state, reason FROM plugin_rollouts WHERE id = $1', [id])).rows[0]!;
  const events = async (kind: string) =>
    (await pool.query<{ gateway: string | null; actor: string }>('SELECT gateway, actor FROM fleet_events WHERE kind = $1 ORDER BY id', [kind])).rows;
  /** Waits for gateway `g`'s key to assign `version` of http-json (null: none): a step changes the state first, then the keys. */
  const keyHas = (g: string, version: string | null) =>
    waitFor(async () => ((await key(g))?.plugins[0]?.version ?? null) === version, 10_000, `${g}'s key does not assign ${version}`);
  const report = (gateway: string, r: InventoryReport) => sendReport(nc, fleet, prefix, gateway, r);
  const publish = async (version: string) => (await repository.publish(await buildPackage({ version }), privateKey, 'cli:ops')).package;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'plugins');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const client = await pool.connect();
    try {
      await migrate(client, { timescale: false, timezone: 'Europe/Paris' });
    } finally {
      client.release();
    }
    nc = await natsConnection(inject('natsUrl'));
    repository = new PluginRepository({ pool, nc, bucket });
    assignments = new PluginAssignmentStore({ pool, nc, prefix, bucket: fleetBucket });
    fleet = new Fleet({ nc, pool, prefix, logger: silentLogger, metrics: createHubMetrics() });
    fleet.start();
    rollouts = new Rollouts({ pool, assignments, logger: silentLogger, reports: fleet, evaluateEveryMs: 200 });
    rollouts.start();
  });
  afterAll(async () => {
    await rollouts?.stop();
    await fleet?.stop();
    if (nc) {
      const jsm = await jetstreamManager(nc);
      for (const stream of [`OBJ_${bucket}`, `KV_${fleetBucket}`]) await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
    await pool?.end();
    await db?.drop();
  });

  it('publishes a package: the same bytes in the object store, signed, described, and an event', async () => {
    const bytes = await buildPackage();
    const { package: p, created } = await repository.publish(bytes, privateKey, 'cli:ops');
    expect(created).toBe(true);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(p).toMatchObject({ id: 'http-json', version: '1.0.0', sdk: '^0.1.0', protocol: 'http', sha256, size: bytes.byteLength, publishedBy: 'cli:ops' });
    const stored = await (await new Objm(nc).open(bucket)).getBlob(pluginObjectName('http-json', '1.0.0'));
    expect(Buffer.from(stored!).equals(bytes)).toBe(true);
    expect(verifyPluginSignature({ id: p.id, version: p.version, sdk: p.sdk, sha256 }, p.signature, publicKey)).toBe(true);
    expect((await (await jetstreamManager(nc)).streams.info(`OBJ_${bucket}`)).config.allow_direct).toBe(true);
    expect(await events('plugin-published')).toEqual([{ gateway: null, actor: 'cli:ops' }]);
    // Again with the same bytes: nothing changes.
    expect((await repository.publish(bytes, privateKey, 'cli:other')).created).toBe(false);
    expect(await repository.list()).toHaveLength(1);
  });

  it.each([
    ['no manifest', () => buildPackage({ citypilot: undefined }), 'package.json: citypilot: expected the plugin manifest'],
    ['a bad semver version', () => buildPackage({ version: '1.0' }), 'package.json: version: expected a semver version'],
    ['a bad SDK range', () => buildPackage({ citypilot: { id: 'x', sdk: 'not a range!', protocol: 'p', description: '', schema: 's.json' } }), 'citypilot.sdk'],
    ['a bad plugin id', () => buildPackage({ citypilot: { id: 'Bad Id', sdk: '^0.1.0', protocol: 'p', description: '', schema: 's.json' } }), 'citypilot.id'],
    ['no main', () => buildPackage({ main: undefined }), 'package.json: main: expected a non-empty string'],
    [
      'a schema outside',
      () => buildPackage({ citypilot: { id: 'x', sdk: '^0.1.0', protocol: 'p', description: '', schema: '../s.json' } }),
      'citypilot.schema',
    ],
    [
      'a schema file missing',
      () => buildPackage({ citypilot: { id: 'x', sdk: '^0.1.0', protocol: 'p', description: '', schema: 'none.json' } }),
      'none.json: not found',
    ],
    ['a schema not JSON', () => buildPackage({}, { 'schema.json': '{' }), 'schema.json: not valid JSON'],
    ['a schema without address', () => buildPackage({}, { 'schema.json': '{"connection":{}}' }), 'schema.json: expected { "connection"'],
    ['a compression bomb', () => buildPackage({}, { 'zeros.bin': Buffer.alloc(30 * 1024 * 1024) }), 'the archive unpacks to more than 200 times its size'],
    ['not a tgz', async () => Buffer.from('hello, this is not an archive at all'.repeat(30)), 'not a readable npm .tgz'],
    ['an empty file', async () => Buffer.alloc(0), 'the package is empty'],
    ['an oversized file', async () => Buffer.alloc(MAX_PLUGIN_PACKAGE_BYTES + 1), `at most ${MAX_PLUGIN_PACKAGE_BYTES}`],
  ])('refuses %s, storing nothing', async (_name, make, message) => {
    const error = await repository.publish(await make(), privateKey, 'cli:ops').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginPackageError);
    expect((error as Error).message).toContain(message);
    expect(await repository.list()).toHaveLength(1);
  });

  it('refuses a version already published with other bytes', async () => {
    const other = await buildPackage({ description: 'other bytes' });
    await expect(repository.publish(other, privateKey, 'cli:ops')).rejects.toThrow(/http-json 1\.0\.0 is already published with other bytes/);
    const stored = await (await new Objm(nc).open(bucket)).getBlob(pluginObjectName('http-json', '1.0.0'));
    expect(createHash('sha256').update(stored!).digest('hex')).toBe((await repository.find('http-json', '1.0.0'))!.sha256);
  });

  it('assigns a version to one gateway: its key holds it and it is told on its subject', async () => {
    const notices: string[] = [];
    const sub = nc.subscribe(fleetSubjects(prefix).assign('gw-solo'), { callback: (_e, m) => void notices.push(m.string()) });
    await nc.flush();
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.0.0', gateways: ['gw-solo'], actor: 'cli:ops' });
    const p = (await repository.find('http-json', '1.0.0'))!;
    expect(await key('gw-solo')).toEqual({
      v: 1,
      plugins: [
        {
          id: 'http-json',
          version: '1.0.0',
          sdk: '^0.1.0',
          object: 'http-json@1.0.0.tgz',
          sha256: p.sha256,
          size: p.size,
          signature: p.signature,
          keyId: p.keyId,
        },
      ],
    });
    await waitFor(async () => notices.length === 1, 5000, 'no notice on the assign subject');
    sub.unsubscribe();
    expect(await repository.packagesForGateway('gw-solo')).toEqual([
      expect.objectContaining({ id: 'http-json', version: '1.0.0', schema: { connection: { type: 'object' }, address: { type: 'object' } } }),
    ]);
    // Without promotion, it completes once the gateway runs it.
    await report('gw-solo', inventory({ plugins: [{ id: 'http-json', version: '1.0.0' }] }));
    await waitFor(async () => (await state(rollout.id)).state === 'completed', 10_000, 'the rollout did not complete');
  });

  it('promotes a healthy canary to every gateway after its healthy time, then completes', async () => {
    await publish('1.1.0');
    for (const g of ['gw-a', 'gw-b', 'gw-c']) await report(g, inventory({ plugins: [{ id: 'http-json', version: '1.0.0' }] }));
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.1.0', gateways: ['gw-a'], promoteAfterS: 1, actor: 'cli:ops' });
    expect((await key('gw-a'))!.plugins[0]!.version).toBe('1.1.0');
    expect(await key('gw-b')).toBeUndefined();
    await report(
      'gw-a',
      inventory({ plugins: [{ id: 'http-json', version: '1.1.0' }], installs: [{ id: 'http-json', version: '1.1.0', state: 'installed', at: 'now' }] }),
    );
    await waitFor(async () => (await state(rollout.id)).state === 'all', 10_000, 'the canary was not promoted');
    expect(await events('plugin-healthy')).toHaveLength(1);
    // The state changes first (one hub claims the step), then each gateway's key.
    for (const g of ['gw-b', 'gw-c', 'gw-solo'])
      await waitFor(async () => (await key(g))?.plugins[0]?.version === '1.1.0', 10_000, `${g} did not get the version`);
    expect(await events('plugin-promoted')).toEqual([{ gateway: null, actor: 'hub' }]);
    for (const g of ['gw-b', 'gw-c', 'gw-solo']) await report(g, inventory({ plugins: [{ id: 'http-json', version: '1.1.0' }] }));
    await waitFor(async () => (await state(rollout.id)).state === 'completed', 10_000, 'the rollout did not complete');
  });

  it('rolls back every gateway it assigned when one fails the version', async () => {
    await publish('1.2.0');
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.2.0', gateways: ['gw-a', 'gw-b'], promoteAfterS: 3600, actor: 'cli:ops' });
    for (const g of ['gw-a', 'gw-b']) expect((await key(g))!.plugins[0]!.version).toBe('1.2.0');
    await report(
      'gw-b',
      inventory({
        plugins: [{ id: 'http-json', version: '1.1.0' }],
        installs: [{ id: 'http-json', version: '1.2.0', state: 'failed', at: 'x', reason: 'create() threw' }],
      }),
    );
    await waitFor(async () => (await state(rollout.id)).state === 'rolled-back', 10_000, 'the rollout was not rolled back');
    expect((await state(rollout.id)).reason).toBe('gateway gw-b: failed: create() threw');
    for (const g of ['gw-a', 'gw-b']) await keyHas(g, '1.1.0');
    expect((await events('plugin-rolled-back')).map((e) => e.gateway)).toEqual(['gw-a', 'gw-b']);
  });

  it('rolls back a refused version, removing the plugin from a gateway that had none', async () => {
    await publish('1.3.0');
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.3.0', gateways: ['gw-new'], actor: 'cli:ops' });
    await report('gw-new', inventory({ installs: [{ id: 'http-json', version: '1.3.0', state: 'refused', at: 'y', reason: 'signature' }] }));
    await waitFor(async () => (await state(rollout.id)).state === 'rolled-back', 10_000, 'the rollout was not rolled back');
    expect((await state(rollout.id)).reason).toBe('gateway gw-new: refused: signature');
    await keyHas('gw-new', null);
    expect(await key('gw-new')).toEqual({ v: 1, plugins: [] });
  });

  it('rolls back when a gateway runs the version with more failing devices than before, and a newer rollout supersedes a running one', async () => {
    await publish('1.4.0');
    await report('gw-c', inventory({ plugins: [{ id: 'http-json', version: '1.1.0' }], failing: { 'http-json': 1 } }));
    const first = await rollouts.assign({ plugin: 'http-json', version: '1.3.0', gateways: ['gw-c'], promoteAfterS: 3600, actor: 'cli:ops' });
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.4.0', gateways: ['gw-c'], promoteAfterS: 3600, actor: 'cli:ops' });
    expect(await state(first.id)).toMatchObject({ state: 'superseded' });
    await report('gw-c', inventory({ plugins: [{ id: 'http-json', version: '1.4.0' }], failing: { 'http-json': 1 } }));
    await waitFor(
      async () => (await pool.query('SELECT 1 FROM plugin_rollouts WHERE id = $1 AND healthy_since IS NOT NULL', [rollout.id])).rowCount === 1,
      10_000,
      'the canary was never healthy',
    );
    await report('gw-c', inventory({ plugins: [{ id: 'http-json', version: '1.4.0' }], failing: { 'http-json': 3 } }));
    await waitFor(async () => (await state(rollout.id)).state === 'rolled-back', 10_000, 'the rollout was not rolled back');
    expect((await state(rollout.id)).reason).toBe('gateway gw-c: 3 failing devices of http-json with 1.4.0, 1 before');
    await keyHas('gw-c', '1.1.0');
  });

  it('starts the healthy time again when a canary gateway falls silent, and reads past a stored report that is not one', async () => {
    await publish('1.5.0');
    await pool.query(
      `INSERT INTO fleet_gateways (id, state, state_since, first_seen, last_seen, report_interval_s, report)
       VALUES ('gw-odd', 'online', now(), now(), now(), 30, '{"v": 99}')`,
    );
    const rollout = await rollouts.assign({ plugin: 'http-json', version: '1.5.0', gateways: ['gw-d'], promoteAfterS: 3600, actor: 'cli:ops' });
    const healthy = async () => (await pool.query('SELECT healthy_since FROM plugin_rollouts WHERE id = $1', [rollout.id])).rows[0].healthy_since;
    await report('gw-d', inventory({ plugins: [{ id: 'http-json', version: '1.5.0' }] }));
    await waitFor(async () => (await healthy()) !== null, 10_000, 'the canary was never healthy');
    // As the fleet's silence check leaves a gateway that missed its reports.
    await pool.query(`UPDATE fleet_gateways SET state = 'silent' WHERE id = 'gw-d'`);
    await waitFor(async () => (await healthy()) === null, 10_000, 'a silent canary left its healthy time running');
    expect(await events('plugin-unhealthy')).toEqual([{ gateway: null, actor: 'hub' }]);
    expect((await state(rollout.id)).state).toBe('canary');
    // A key its step could not write (here: the row lost, the key emptied) is written again.
    await assignments.apply('gw-d', [{ plugin: 'http-json', version: null }]);
    await keyHas('gw-d', '1.5.0');
  });

  it('refuses a rollout of an unknown package, group or malformed gateway', async () => {
    await expect(rollouts.assign({ plugin: 'http-json', version: '9.9.9', gateways: ['gw-a'], actor: 'x' })).rejects.toThrow(/is not published/);
    await expect(rollouts.assign({ plugin: 'http-json', version: '1.0.0', group: 'nobody', actor: 'x' })).rejects.toThrow(/has no gateways/);
    await expect(rollouts.assign({ plugin: 'http-json', version: '1.0.0', gateways: ['Bad Gateway'], actor: 'x' })).rejects.toThrow(/expected an id/);
    await expect(rollouts.assign({ plugin: 'http-json', version: '1.0.0', gateways: ['gw-a'], promoteAfterS: 0, actor: 'x' })).rejects.toThrow(/promote after/);
  });
});
