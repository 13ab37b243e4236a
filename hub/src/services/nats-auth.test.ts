import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Gateway, PluginRegistry, createNatsUser, fetchPushedConfig, natsCredentialsOptions, parseGatewayConfig } from '@citypilot/gateway';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import { Kvm } from '@nats-io/kv';
import { decodeBatch, subjects } from '@citypilot/sdk';
import { DEFAULT_FLEET_BUCKET, directGetSubject, encodeInventory, fleetSubjects } from '@citypilot/wire';
import { gatewayConfig } from '../demo-gateway-config.js';
import { Fleet } from '../fleet/fleet.js';
import { getFleetGateway } from '../fleet/store.js';
import { ensureIngestStreams } from '../ingest/ingest.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, uniqueStreamNames, waitFor } from '../testing/index.js';
import { inventoryReport } from '../testing/inventory.js';
import { ensureNatsCredentials, type NatsCredentialFiles } from './nats-auth.js';
import { startNatsServer } from './local-services.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const encoder = new TextEncoder();

/**
 * Per-gateway NATS users against a real nats-server started for this file with the generated
 * authorization: each gateway publishes only into its own subject and reads only its own
 * configuration and replies; the hub's user runs JetStream.
 */
describe('NATS security per gateway', () => {
  const names = uniqueStreamNames('natsauth');
  const subj = subjects(names.prefix);
  const bucket = 'cp-config';
  const kvStream = `KV_${bucket}`;
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-natsauth-'));
  let creds: NatsCredentialFiles;
  let server: { url: string; stop: () => Promise<void> };
  const connections: NatsConnection[] = [];
  let hub: NatsConnection;
  let gatewayA: NatsConnection;

  const connectAs = async (file: string, inboxPrefix?: string) => {
    const nc = await connect({ servers: server.url, reconnect: false, ...natsCredentialsOptions(file), ...(inboxPrefix ? { inboxPrefix } : {}) });
    connections.push(nc);
    return nc;
  };
  const credentialsOf = (id: string) => creds.gateways.find((g) => g.id === id)!.file;
  /** The permission violations the server reports on a connection from now on. */
  const violations = (nc: NatsConnection) => {
    const seen: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) seen.push(s.error.message);
    })();
    return seen;
  };

  beforeAll(async () => {
    creds = ensureNatsCredentials(join(dir, 'credentials'), ['town-hall', 'school'], { prefix: names.prefix, configBucket: bucket });
    server = await startNatsServer({ dir: join(dir, 'nats'), auth: { authorization: creds.authorization, credentials: creds.hub.file }, log: () => undefined });
    hub = await connectAs(creds.hub.file);
    await ensureIngestStreams(hub, names);
    // The configuration bucket as a KV client makes it: one value per key, direct get allowed.
    const jsm = await jetstreamManager(hub);
    await jsm.streams.add({
      name: kvStream,
      subjects: [`$KV.${bucket}.>`],
      max_msgs_per_subject: 1,
      allow_direct: true,
      allow_rollup_hdrs: true,
      deny_delete: true,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
    const js = jetstream(hub);
    for (const id of ['town-hall', 'school']) await js.publish(`$KV.${bucket}.${id}`, encoder.encode(`config of ${id}`));
    gatewayA = await connectAs(credentialsOf('town-hall'), subj.inbox('town-hall'));
  });
  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the credentials it made and writes only public keys into the server configuration', () => {
    const again = ensureNatsCredentials(join(dir, 'credentials'), ['town-hall', 'school', 'library'], { prefix: names.prefix, configBucket: bucket });
    expect(again.hub).toEqual(creds.hub);
    expect(again.gateways.slice(0, 2)).toEqual(creds.gateways);
    expect(again.gateways[2]!.id).toBe('library');
    expect(creds.authorization).toContain(creds.gateways[0]!.publicKey);
    expect(creds.authorization).not.toMatch(/"SU[A-Z2-7]+/);
  });

  it('lets a gateway publish a batch to its own subject, acknowledged by JetStream, and the hub consume it', async () => {
    const ack = await jetstream(gatewayA).publish(subj.telemetry('town-hall'), encoder.encode('batch of town-hall'), { msgID: 'town-hall:1' });
    expect(ack.stream).toBe(names.stream);
    const consumer = await jetstream(hub).consumers.get(names.stream, names.durable);
    const msg = await consumer.next({ expires: 5000 });
    expect(msg?.subject).toBe(subj.telemetry('town-hall'));
    expect(msg?.string()).toBe('batch of town-hall');
    msg!.ack();
  });

  it("refuses a gateway's publish into another gateway's subject: no ack, nothing in the stream", async () => {
    const seen = violations(gatewayA);
    const jsm = await jetstreamManager(hub);
    const before = (await jsm.streams.info(names.stream)).state.messages;
    const attempt = jetstream(gatewayA).publish(subj.telemetry('school'), encoder.encode('forged batch'), { msgID: 'school:1', timeout: 3000 });
    await expect(attempt).rejects.toThrow(/permissions violation/i);
    // A plain publish too.
    gatewayA.publish(subj.telemetry('school'), encoder.encode('forged batch'));
    await gatewayA.flush();
    await waitFor(
      async () => seen.some((m) => m.includes(subj.telemetry('school'))) || undefined,
      5000,
      `no permission violation reported: ${seen.join('; ')}`,
    );
    expect((await jsm.streams.info(names.stream)).state.messages).toBe(before);
    expect(await jsm.streams.getMessage(names.stream, { last_by_subj: subj.telemetry('school') })).toBeNull();
  });

  it("lets a gateway read its own configuration and not another gateway's", async () => {
    // The KV key, through JetStream's direct get that names the key in the subject.
    const own = await gatewayA.request(`$JS.API.DIRECT.GET.${kvStream}.$KV.${bucket}.town-hall`, undefined, { timeout: 3000 });
    expect(own.string()).toBe('config of town-hall');
    await expect(gatewayA.request(`$JS.API.DIRECT.GET.${kvStream}.$KV.${bucket}.school`, undefined, { timeout: 3000 })).rejects.toThrow(
      /permissions violation/i,
    );
    // Nor the stream's message API, whose subject does not name the key.
    await expect(
      gatewayA.request(`$JS.API.STREAM.MSG.GET.${kvStream}`, JSON.stringify({ last_by_subj: `$KV.${bucket}.school` }), { timeout: 3000 }),
    ).rejects.toThrow(/permissions violation/i);
    // What the gateway itself uses (hub-config.ts): its own key with its revision, not another's.
    expect(await fetchPushedConfig(gatewayA, bucket, 'town-hall')).toEqual({ revision: expect.any(Number), text: 'config of town-hall' });
    await expect(fetchPushedConfig(gatewayA, bucket, 'school')).rejects.toThrow(/permissions violation/i);
    // Nor a consumer on the bucket (a key-value watch), which could deliver every key.
    await expect(
      gatewayA.request(
        `$JS.API.CONSUMER.CREATE.${kvStream}`,
        JSON.stringify({ stream_name: kvStream, config: { filter_subject: `$KV.${bucket}.school`, ack_policy: 'none' } }),
        {
          timeout: 3000,
        },
      ),
    ).rejects.toThrow(/permissions violation/i);

    // The configuration subject: its own arrives, the other's subscription is refused.
    const ownSub = gatewayA.subscribe(subj.config('town-hall'), { max: 1 });
    const otherSub = gatewayA.subscribe(subj.config('school'));
    // A refused subscription ends with the server's error.
    const otherClosed = otherSub.closed;
    await gatewayA.flush();
    hub.publish(subj.config('town-hall'), 'new config of town-hall');
    hub.publish(subj.config('school'), 'new config of school');
    for await (const m of ownSub) expect(m.string()).toBe('new config of town-hall');
    expect(String(await otherClosed)).toMatch(/permission/i);
    expect(otherSub.getReceived()).toBe(0);
  });

  it("keeps a gateway from reading another gateway's replies or the hub's", async () => {
    // …nor the bucket's subjects, on which every put of a key passes.
    for (const inbox of [`${subj.inbox('school')}.>`, '_INBOX.>', `${names.prefix}.telemetry.>`, `$KV.${bucket}.school`, `$KV.${bucket}.>`]) {
      const sub = gatewayA.subscribe(inbox);
      const closed = sub.closed;
      await gatewayA.flush();
      expect(String(await closed), inbox).toMatch(/permission/i);
    }
  });

  it("lets a gateway report its own inventory only: another gateway's subject is a violation, and the hub's fleet stores nothing for it", async () => {
    const db = await createTestDatabase(inject('adminDatabaseUrl'), 'natsauth_fleet');
    const storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    // The hub's user takes the reports in its queue group.
    const fleet = new Fleet({ nc: hub, pool: storage.pool, prefix: names.prefix, logger: quiet, metrics: createHubMetrics() });
    fleet.start();
    // The subscription is registered before the gateway's connection publishes.
    await hub.flush();
    try {
      const fleetSubj = fleetSubjects(names.prefix);
      const seen = violations(gatewayA);
      gatewayA.publish(fleetSubj.inventory('school'), encodeInventory(inventoryReport({ uptimeS: 1 })));
      gatewayA.publish(fleetSubj.inventory('town-hall'), encodeInventory(inventoryReport({ uptimeS: 2 })));
      await gatewayA.flush();
      await waitFor(() => getFleetGateway(storage.pool, 'town-hall'), 10_000, 'the own report was not stored');
      await waitFor(() => seen.some((m) => m.includes(fleetSubj.inventory('school'))) || undefined, 5000, `no permission violation: ${seen.join('; ')}`);
      expect(await getFleetGateway(storage.pool, 'school')).toBeUndefined();
      expect((await getFleetGateway(storage.pool, 'town-hall'))!.report.uptimeS).toBe(2);
    } finally {
      await fleet.stop();
      await storage.close();
      await db.drop();
    }
  });

  it("lets a gateway read its own plugin assignments and hear of their changes, not another gateway's", async () => {
    const kv = await new Kvm(hub).create(DEFAULT_FLEET_BUCKET, { allow_direct: true });
    for (const id of ['town-hall', 'school']) await kv.put(id, `assignments of ${id}`);
    const own = await gatewayA.request(directGetSubject(DEFAULT_FLEET_BUCKET, 'town-hall'), undefined, { timeout: 3000 });
    expect(own.string()).toBe('assignments of town-hall');
    await expect(gatewayA.request(directGetSubject(DEFAULT_FLEET_BUCKET, 'school'), undefined, { timeout: 3000 })).rejects.toThrow(/permissions violation/i);
    const fleetSubj = fleetSubjects(names.prefix);
    const ownSub = gatewayA.subscribe(fleetSubj.assign('town-hall'), { max: 1 });
    const otherSub = gatewayA.subscribe(fleetSubj.assign('school'));
    const otherClosed = otherSub.closed;
    await gatewayA.flush();
    hub.publish(fleetSubj.assign('town-hall'), '');
    hub.publish(fleetSubj.assign('school'), '');
    for await (const m of ownSub) expect(m.subject).toBe(fleetSubj.assign('town-hall'));
    expect(String(await otherClosed)).toMatch(/permission/i);
    expect(otherSub.getReceived()).toBe(0);
  });

  it('refuses a connection with credentials the server does not know, with an authorization error', async () => {
    const stranger = join(dir, 'stranger.nk');
    writeFileSync(stranger, `${createNatsUser().seed}\n`);
    await expect(connectAs(stranger)).rejects.toBeInstanceOf(errors.AuthorizationError);
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toBeInstanceOf(errors.AuthorizationError);
  });

  it('runs a gateway with its credentials file, and reports refused or unreadable credentials in its status without stopping', async () => {
    const building = demoBuildings[0]!;
    const simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim) });
    const { port: modbusPort } = await simulator.start();
    const gateways: Gateway[] = [];
    const start = async (id: string, credentials: string) => {
      const file = join(dir, `${id}.yaml`);
      const text = gatewayConfig(
        { ...building, id },
        { modbusPort, statusPort: 0, natsUrl: server.url, interval: '1s', subjectPrefix: names.prefix, dataDir: join(dir, `${id}-data`), credentials },
      );
      const gateway = await Gateway.start({ config: parseGatewayConfig(text, file, new PluginRegistry()), logger: quiet });
      gateways.push(gateway);
      return gateway;
    };
    try {
      await start('town-hall', credentialsOf('town-hall'));
      const consumer = await jetstream(hub).consumers.get(names.stream, names.durable);
      const msg = await consumer.next({ expires: 15_000 });
      expect(msg?.subject).toBe(subj.telemetry('town-hall'));
      expect(decodeBatch(msg!.data).gateway).toBe('town-hall');
      msg!.ack();

      // The school's gateway with the town hall's credentials: its publishes are refused.
      const impostor = await start('school', credentialsOf('town-hall'));
      // A gateway whose credentials file is missing, and one whose key the server does not know.
      const missing = await start('library', join(dir, 'no-such.nk'));
      const stranger = join(dir, 'stranger-gateway.nk');
      writeFileSync(stranger, `${createNatsUser().seed}\n`);
      const unknown = await start('museum', stranger);
      await waitFor(async () => (missing.status().natsError && unknown.status().natsError) || undefined, 10_000, 'no NATS error in the status');
      expect(missing.status()).toMatchObject({
        nats: 'connecting',
        natsError: expect.stringContaining('no-such.nk: cannot read the NATS credentials (ENOENT)'),
      });
      expect(unknown.status()).toMatchObject({ nats: 'connecting', natsError: expect.stringMatching(/refused the credentials in .*stranger-gateway\.nk/) });
      // Still polling its devices.
      await waitFor(async () => unknown.status().points.length || undefined, 10_000, 'the gateway stopped polling');

      // Connected, but its batches are refused: the status says so, naming the credentials.
      await waitFor(async () => impostor.status().natsError, 15_000, 'the refused publishes are not in the status');
      expect(gateways[0]!.status().natsError).toBeUndefined();
      expect(impostor.status()).toMatchObject({
        nats: 'connected',
        natsError: expect.stringMatching(/refused this gateway's messages .*Permissions Violation.*town-hall\.nk are not this gateway's/),
      });
      expect(await (await jetstreamManager(hub)).streams.getMessage(names.stream, { last_by_subj: subj.telemetry('school') })).toBeNull();
    } finally {
      await Promise.all(gateways.map((g) => g.stop(0)));
      await simulator.stop();
    }
  });
});
