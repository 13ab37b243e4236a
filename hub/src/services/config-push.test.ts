import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { CONFIG_STATE_FILE, Gateway, PluginRegistry, loadGatewayConfig, natsCredentialsOptions, type GatewayStatus } from '@citypilot/gateway';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { subjects, type Sample } from '@citypilot/sdk';
import { spawnCli, uniqueStreamNames, waitFor } from '../testing/index.js';
import { ensureNatsCredentials, type NatsCredentialFiles } from './nats-auth.js';
import { startNatsServer } from './local-services.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Configurations pushed by the hub (`citypilot hub push-config`) to a gateway that accepts them,
 * on a real nats-server secured with the per-gateway users of nats-auth.ts (so the gateway reads
 * its configuration with exactly the permissions it has in production), and the Modbus simulator.
 */
describe('configuration pushed by the hub', () => {
  const names = uniqueStreamNames('cfgpush');
  const bucket = 'cp-config';
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-cfgpush-'));
  const gatewayDir = join(dir, 'gateway');
  const localFile = join(gatewayDir, 'gateway.yaml');
  const simulator = new ModbusSimulator({
    points: [
      { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } },
      { table: 'holding', address: 1, type: 'uint16', behaviour: { kind: 'constant', value: 9 } },
    ],
  });
  let modbusPort = 0;
  let creds: NatsCredentialFiles;
  let server: { url: string; stop: () => Promise<void> };
  let hub: NatsConnection;
  let gateway: Gateway | undefined;
  const emitted: Sample[] = [];

  const point = (id: string, address: number) => `      - { id: ${id}, address: { table: holding, address: ${address} } }\n`;
  /** A configuration of gateway `id`; the credentials path is relative to the gateway's folder. */
  const yaml = (points: string, id = 'town-hall') =>
    `gateway:\n  id: ${id}\nhub:\n  natsUrl: ${server.url}\n  credentials: ../credentials/gateways/town-hall.nk\n  subjectPrefix: ${names.prefix}\n` +
    `  remoteConfig: true\n  configBucket: ${bucket}\nstatus: { port: 0 }\ndataDir: data\ndevices:\n` +
    `  - id: boiler\n    plugin: modbus\n    interval: 1s\n    connection: { host: 127.0.0.1, port: ${modbusPort} }\n    points:\n${points}`;
  const pushCli = (file: string) =>
    spawnCli(['hub', 'push-config', file], {
      ...process.env,
      NATS_URL: server.url,
      NATS_CREDENTIALS: creds.hub.file,
      CITYPILOT_SUBJECT_PREFIX: names.prefix,
      CITYPILOT_CONFIG_BUCKET: bucket,
    });
  /** Puts a value the hub's command would refuse, as another tool could, and notifies the gateway. */
  const pushRaw = async (text: string) => {
    const kv = await new Kvm(hub).open(bucket);
    const revision = await kv.put('town-hall', text);
    hub.publish(subjects(names.prefix).config('town-hall'), JSON.stringify({ revision }));
    return revision;
  };
  const startGateway = async () => {
    const started = await Gateway.start({ config: loadGatewayConfig(localFile, new PluginRegistry()), configFile: localFile, logger: quiet });
    started.on('samples', (s) => emitted.push(...s));
    gateway = started;
    return started;
  };
  const config = () => gateway!.status().config;

  beforeAll(async () => {
    creds = ensureNatsCredentials(join(dir, 'credentials'), ['town-hall', 'school'], { prefix: names.prefix, configBucket: bucket });
    server = await startNatsServer({ dir: join(dir, 'nats'), auth: { authorization: creds.authorization, credentials: creds.hub.file }, log: () => undefined });
    hub = await connect({ servers: server.url, ...natsCredentialsOptions(creds.hub.file) });
    modbusPort = (await simulator.start()).port;
    mkdirSync(gatewayDir, { recursive: true });
    writeFileSync(localFile, yaml(point('a', 0)));
  });
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.stop();
    await hub?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to push an invalid file, with file:line:column, and sends nothing', async () => {
    const file = join(dir, 'invalid.yaml');
    writeFileSync(file, yaml(point('a', 0)).replace('interval: 1s', 'interval: often'));
    const push = pushCli(file);
    expect(await push.exited).toBe(2);
    expect(push.output()).toContain(`${file}:14:5 devices[0].interval: expected a duration such as 500ms, 15s, 5m or 1h, got "often"`);
    expect(push.output()).toContain('nothing was pushed');
    expect(push.output()).not.toMatch(/\n\s+at /);
    // Nothing reached NATS: not even the bucket was made.
    await expect((await jetstreamManager(hub)).streams.info(`KV_${bucket}`)).rejects.toThrow(/not found/);
  });

  it('applies a valid pushed configuration and reports its revision', async () => {
    const g = await startGateway();
    expect(config()).toMatchObject({ source: 'file', lastError: null });
    await waitFor(() => g.status().nats === 'connected', 15_000, 'the gateway did not connect');

    const file = join(dir, 'pushed.yaml');
    writeFileSync(file, yaml(point('a', 0) + point('b', 1)));
    const push = pushCli(file);
    expect(await push.exited, push.output()).toBe(0);
    const revision = Number(/as revision (\d+)/.exec(push.output())?.[1]);
    expect(revision).toBeGreaterThan(0);

    await expect.poll(() => config().source, { timeout: 20_000 }).toBe('hub');
    expect(config()).toMatchObject({ source: 'hub', revision, lastError: null });
    await expect.poll(() => emitted.some((s) => s.point === 'boiler.b' && s.value === 9), { timeout: 15_000 }).toBe(true);
    const status = (await (await fetch(`${g.url}/api/status`)).json()) as GatewayStatus;
    expect(status.config).toMatchObject({ source: 'hub', revision });
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).toContain(`citypilot_gateway_config_hub_revision ${revision}`);
    expect(metrics).toContain(`citypilot_gateway_config_info{source="hub",revision="${revision}"} 1`);
    // Saved for a restart without the hub.
    const state = JSON.parse(readFileSync(join(gatewayDir, 'data', CONFIG_STATE_FILE), 'utf8'));
    expect(state).toMatchObject({ source: 'hub', hub: { revision, text: readFileSync(file, 'utf8') } });
  });

  it('refuses an invalid pushed configuration, reporting its revision and errors, and keeps running the last good one', async () => {
    const running = config();
    expect(running.source).toBe('hub');

    const bad = await pushRaw(yaml(point('a', 0) + point('b', 1)).replace('plugin: modbus', 'plugin: knx'));
    await expect.poll(() => config().lastError?.revision, { timeout: 20_000 }).toBe(bad);
    expect(config()).toMatchObject({ source: 'hub', revision: running.revision, appliedAt: running.appliedAt });
    expect(config().lastError!.message).toContain(`${bucket}/town-hall@${bad}:13:5 devices[0].plugin: unknown plugin "knx"`);
    expect(config().lastError!.message).toMatch(/not applied; the running configuration keeps running\.$/);

    // Another gateway's configuration under this gateway's key.
    const foreign = await pushRaw(yaml(point('a', 0), 'school'));
    await expect.poll(() => config().lastError?.revision, { timeout: 20_000 }).toBe(foreign);
    expect(config().lastError!.message).toContain('is the configuration of gateway school, not of this gateway (town-hall)');
    // A setting that needs a restart.
    const moved = await pushRaw(yaml(point('a', 0)).replace('dataDir: data', 'dataDir: elsewhere'));
    await expect.poll(() => config().lastError?.revision, { timeout: 20_000 }).toBe(moved);
    expect(config().lastError!.message).toMatch(/dataDir: ".*\/gateway\/data" → ".*\/gateway\/elsewhere"/);

    expect(config()).toMatchObject({ source: 'hub', revision: running.revision });
    const count = emitted.filter((s) => s.point === 'boiler.b').length;
    await expect.poll(() => emitted.filter((s) => s.point === 'boiler.b').length, { timeout: 15_000 }).toBeGreaterThan(count);
  });

  it('runs whichever came last: a change of the local file, then the next revision pushed', async () => {
    writeFileSync(localFile, yaml(point('b', 1)));
    await expect.poll(() => config().source, { timeout: 20_000 }).toBe('file');
    // The hub's latest revision, refused above, is still not running: its error stays until the next.
    expect(config().lastError).toMatchObject({ source: 'hub' });
    await expect.poll(() => gateway!.status().points.map((p) => p.point), { timeout: 15_000 }).toEqual(['boiler.b']);
    expect(JSON.parse(readFileSync(join(gatewayDir, 'data', CONFIG_STATE_FILE), 'utf8'))).toMatchObject({ source: 'file' });

    const file = join(dir, 'pushed-again.yaml');
    writeFileSync(file, yaml(point('a', 0) + point('b', 1)));
    const push = pushCli(file);
    expect(await push.exited, push.output()).toBe(0);
    const revision = Number(/as revision (\d+)/.exec(push.output())?.[1]);
    await expect.poll(() => config().revision, { timeout: 20_000 }).toBe(revision);
    expect(config()).toMatchObject({ source: 'hub', lastError: null });
  });

  it('finds a revision whose announcement it missed at its next periodic check', async () => {
    const schoolDir = join(dir, 'school');
    mkdirSync(schoolDir, { recursive: true });
    const schoolYaml = (points: string) =>
      yaml(points, 'school').replace('town-hall.nk', 'school.nk').replace(`configBucket: ${bucket}`, `configBucket: ${bucket}\n  configCheckInterval: 1s`);
    writeFileSync(join(schoolDir, 'gateway.yaml'), schoolYaml(point('a', 0)));
    const school = await Gateway.start({
      config: loadGatewayConfig(join(schoolDir, 'gateway.yaml'), new PluginRegistry()),
      configFile: join(schoolDir, 'gateway.yaml'),
      logger: quiet,
    });
    try {
      await waitFor(() => school.status().nats === 'connected', 15_000, 'the gateway did not connect');
      // Put without any announcement, as if the gateway had been disconnected when it was sent.
      const revision = await (await new Kvm(hub).open(bucket)).put('school', schoolYaml(point('a', 0) + point('b', 1)));
      await expect.poll(() => school.status().config, { timeout: 20_000 }).toMatchObject({ source: 'hub', revision });
    } finally {
      await school.stop(0);
    }
  });

  it('runs the last pushed configuration applied after a restart without the hub', async () => {
    const running = config();
    await gateway!.stop(0);
    gateway = undefined;
    await server.stop();

    emitted.length = 0;
    const g = await startGateway();
    // Straight from dataDir: the local file has only point a.
    expect(config()).toMatchObject({ source: 'hub', revision: running.revision });
    await expect.poll(() => emitted.some((s) => s.point === 'boiler.b' && s.value === 9), { timeout: 15_000 }).toBe(true);
    expect(g.status().nats).not.toBe('connected');
  });
});
