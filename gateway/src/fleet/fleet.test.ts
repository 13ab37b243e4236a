import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { Kvm, type KV } from '@nats-io/kv';
import { create as createTar } from 'tar';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import {
  decodeInventory,
  encodeAssignments,
  fleetSubjects,
  pluginKeyId,
  pluginObjectName,
  signPluginPackage,
  type InventoryReport,
  type PluginInstall,
} from '@citypilot/wire';
import { loadGatewayConfig } from '../config/config.js';
import { builtinPlugins, PluginRegistry } from '../config/registry.js';
import { Gateway } from '../gateway.js';
import { HTTP_JSON_PLUGIN_DIR, packPluginPackage } from '../testing/index.js';
import { loadInstalledPackages, packageDir, readInstalled } from './packages.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const NATS = 'nats://127.0.0.1:4222';

describe('a gateway installing the plugin packages the hub assigns', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-fleet-'));
  const dataDir = join(dir, 'data');
  const tag = Math.random().toString(36).slice(2, 10);
  const prefix = `fleet${tag}`;
  const pluginBucket = `plugins-${tag}`;
  const fleetBucket = `fleet-${tag}`;
  const gatewayId = 'town-hall';
  const configFile = join(dir, 'gateway.yaml');
  const trusted = generateKeyPairSync('ed25519');
  const stranger = generateKeyPairSync('ed25519');
  const simulator = new ModbusSimulator({ points: [{ table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } }] });
  let modbusPort = 0;
  let meterUrl = '';
  let server: Server;
  let nc: NatsConnection;
  let objects: ObjectStore;
  let kv: KV;
  let gateway: Gateway | undefined;
  const samples: Sample[] = [];
  const reports: InventoryReport[] = [];

  const yaml = (withMeter: boolean) =>
    [
      `gateway: { id: ${gatewayId} }`,
      `hub: { natsUrl: "${NATS}", subjectPrefix: ${prefix}, pluginBucket: ${pluginBucket}, fleetBucket: ${fleetBucket}, reportInterval: 1h, configCheckInterval: 1h }`,
      `plugins: { trustedKeys: [trusted.pub] }`,
      `status: { port: 0 }`,
      `dataDir: data`,
      `devices:`,
      `  - { id: healthy, plugin: modbus, interval: 1s, timeout: 1s, connection: { host: 127.0.0.1, port: ${modbusPort} }, points: [{ id: value, address: { table: holding, address: 0 } }] }`,
      // Nothing listens on port 1: a device that fails, for the inventory.
      `  - { id: unplugged, plugin: modbus, interval: 1s, timeout: 1s, connection: { host: 127.0.0.1, port: 1 }, points: [{ id: value, address: { table: holding, address: 0 } }] }`,
      ...(withMeter
        ? [
            `  - { id: meter, plugin: http-json, interval: 1s, timeout: 1s, connection: { url: "${meterUrl}" }, points: [{ id: energy, address: { field: energy } }, { id: missing, address: { field: nothing } }] }`,
          ]
        : []),
      '',
    ].join('\n');

  async function startGateway(): Promise<Gateway> {
    // As `citypilot gateway run` does: the installed packages first, then the configuration.
    const installedPackages = await loadInstalledPackages(dataDir, quiet);
    const installed = installedPackages.flatMap(({ loaded }) => ('plugin' in loaded ? [loaded.plugin] : []));
    const config = loadGatewayConfig(configFile, new PluginRegistry([...builtinPlugins, ...installed]));
    const started = await Gateway.start({ config, configFile, installedPackages, logger: quiet });
    started.on('samples', (s) => samples.push(...s));
    return started;
  }

  /** Puts `bytes` in the object store as version `version` and assigns it, signed over `signed` (the genuine bytes by default). */
  async function assign(
    version: string,
    bytes: Buffer,
    options: { sdk?: string; key?: { privateKey: KeyObject; publicKey: KeyObject }; signed?: Buffer } = {},
  ): Promise<void> {
    const sdk = options.sdk ?? '^0.1.0';
    const signed = options.signed ?? bytes;
    const sha256 = createHash('sha256').update(signed).digest('hex');
    const key = options.key ?? trusted;
    const object = pluginObjectName('http-json', version);
    await objects.putBlob({ name: object }, bytes);
    const assignment = {
      id: 'http-json',
      version,
      sdk,
      object,
      sha256,
      size: signed.length,
      signature: signPluginPackage({ id: 'http-json', version, sdk, sha256 }, key.privateKey),
      keyId: pluginKeyId(key.publicKey),
    };
    await kv.put(gatewayId, encodeAssignments({ v: 1, plugins: [assignment] }));
    nc.publish(fleetSubjects(prefix).assign(gatewayId));
  }

  const install = (version: string) => () => gateway!.status().installs?.find((i) => i.version === version);
  const waitInstall = async (version: string): Promise<PluginInstall> => {
    await expect.poll(install(version), { timeout: 15_000 }).toBeDefined();
    return install(version)()!;
  };
  const meterSamplesAfter = (from: number) => samples.filter((s) => s.point === 'meter.energy' && s.time > from);

  beforeAll(async () => {
    modbusPort = (await simulator.start()).port;
    server = createServer((_request, response) => response.setHeader('content-type', 'application/json').end(JSON.stringify({ energy: 42.5, power: 3 })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    meterUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/meter.json`;
    writeFileSync(join(dir, 'trusted.pub'), trusted.publicKey.export({ type: 'spki', format: 'pem' }));
    nc = await connect({ servers: NATS });
    objects = await new Objm(nc).create(pluginBucket);
    kv = await new Kvm(nc).create(fleetBucket, { allow_direct: true });
    const sub = nc.subscribe(fleetSubjects(prefix).inventory(gatewayId), { callback: (_error, msg) => void reports.push(decodeInventory(msg.data)) });
    void sub;
    writeFileSync(configFile, yaml(false));
  });

  afterAll(async () => {
    await gateway?.stop(0);
    await objects?.destroy().catch(() => undefined);
    await kv?.destroy().catch(() => undefined);
    await nc?.close();
    await simulator.stop();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports its inventory at start: plugins, configuration revision, failing devices', async () => {
    gateway = await startGateway();
    await expect.poll(() => reports.length, { timeout: 10_000 }).toBeGreaterThan(0);
    // The first report may predate the first failed read: wait for one that has it.
    await expect.poll(() => gateway!.status().devices.find((d) => d.id === 'unplugged')?.state, { timeout: 10_000 }).toBe('failing');
    const revision = createHash('sha256').update(readFileSync(configFile)).digest('hex').slice(0, 12);
    const report = reports[0]!;
    expect(report.plugins).toContainEqual({ id: 'modbus', version: '0.1.0', source: 'builtin' });
    expect(report.config).toMatchObject({ source: 'file', revision, refused: null });
    expect(report.devices.total).toBe(2);
    expect(report.reportIntervalS).toBe(3600);
    expect(gateway.status().plugins).toContainEqual({ id: 'modbus', version: '0.1.0', source: 'builtin' });
  });

  it('installs a signed package, and a configuration using it reads its points', async () => {
    const before = reports.length;
    await assign('1.0.0', await packPluginPackage(HTTP_JSON_PLUGIN_DIR));
    expect(await waitInstall('1.0.0')).toMatchObject({ id: 'http-json', state: 'installed' });
    // An install is reported at once, with the failing device of the running configuration.
    await expect.poll(() => reports.slice(before).find((r) => r.installs.length), { timeout: 10_000 }).toBeDefined();
    const report = reports.slice(before).find((r) => r.installs.length)!;
    expect(report.plugins).toContainEqual({ id: 'http-json', version: '1.0.0', source: 'installed' });
    expect(report.devices).toMatchObject({ total: 2, failing: 1, failingDevices: [{ id: 'unplugged', plugin: 'modbus' }] });
    expect(readInstalled(dataDir)['http-json']).toMatchObject({ version: '1.0.0' });

    writeFileSync(configFile, yaml(true));
    await gateway!.reload();
    expect(gateway!.status().config.lastError).toBeNull();
    const from = Date.now();
    await expect.poll(() => meterSamplesAfter(from).length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(meterSamplesAfter(from)[0]).toMatchObject({ value: 42.5, quality: 'good' });
    await expect.poll(() => samples.find((s) => s.point === 'meter.missing' && s.time > from)?.quality, { timeout: 5000 }).toBe('bad');
  });

  it("restarts only that plugin's devices for a new version: the others keep their pace", async () => {
    const from = Date.now();
    await assign('1.0.1', await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.1' }));
    expect(await waitInstall('1.0.1')).toMatchObject({ state: 'installed' });
    const installedAt = Date.now();
    await expect.poll(() => meterSamplesAfter(installedAt).length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => samples.filter((s) => s.point === 'healthy.value' && s.time > installedAt).length, { timeout: 10_000 }).toBeGreaterThan(1);
    // One sample per second-slot from before the install to after it: no slot missed.
    const times = samples.filter((s) => s.point === 'healthy.value' && s.time >= from - 1000).map((s) => s.time);
    expect(times.length).toBeGreaterThan(2);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
    expect(gateway!.status().plugins).toContainEqual({ id: 'http-json', version: '1.0.1', source: 'installed' });
    expect(existsSync(packageDir(dataDir, 'http-json', '1.0.0'))).toBe(false);
  });

  it('keeps the previous version running when the new one cannot create its drivers', async () => {
    const broken = await packPluginPackage(HTTP_JSON_PLUGIN_DIR, {
      version: '1.0.2',
      indexJs: (text) => text.replace('create(device, context) {', "create(device, context) {\n    throw new Error('broken on purpose');"),
    });
    await assign('1.0.2', broken);
    const result = await waitInstall('1.0.2');
    expect(result).toMatchObject({ state: 'failed' });
    expect(result.reason).toMatch(/broken on purpose.*version 1\.0\.1 keeps running/);
    const from = Date.now();
    await expect.poll(() => meterSamplesAfter(from).length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(gateway!.status().plugins).toContainEqual({ id: 'http-json', version: '1.0.1', source: 'installed' });
    expect(readInstalled(dataDir)['http-json']).toMatchObject({ version: '1.0.1' });
  });

  it('refuses altered bytes, an unknown key and an incompatible SDK range, changing nothing', async () => {
    const genuine = await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.3' });
    const altered = Buffer.from(genuine);
    altered[altered.length >> 1] ^= 0xff;
    await assign('1.0.3', altered, { signed: genuine });
    expect((await waitInstall('1.0.3')).reason).toMatch(/does not match the signed one .*: it was altered/);

    await assign('1.0.4', await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.4' }), { key: stranger });
    expect(await waitInstall('1.0.4')).toMatchObject({
      state: 'refused',
      reason: expect.stringMatching(/^signed by key [0-9a-f]{16}, which this gateway does not trust/),
    });

    await assign('1.0.5', await packPluginPackage(HTTP_JSON_PLUGIN_DIR, { version: '1.0.5', sdk: '^9.0.0' }), { sdk: '^9.0.0' });
    expect(await waitInstall('1.0.5')).toMatchObject({ state: 'refused', reason: expect.stringMatching(/needs SDK \^9\.0\.0, this gateway has 0\.1\.0/) });

    for (const v of ['1.0.3', '1.0.4', '1.0.5']) expect(existsSync(packageDir(dataDir, 'http-json', v))).toBe(false);
    expect(readInstalled(dataDir)['http-json']).toMatchObject({ version: '1.0.1' });
  });

  it('refuses an archive with an entry leaving its folder or a link, writing nothing outside', async () => {
    const work = mkdtempSync(join(tmpdir(), 'citypilot-evil-'));
    try {
      // An entry ../x, beside a genuine package.
      writeFileSync(join(work, 'x'), 'escaped');
      const escape = join(work, 'escape.tgz');
      await createTar({ gzip: true, file: escape, cwd: join(HTTP_JSON_PLUGIN_DIR, '..'), preservePaths: true }, [
        'plugin-http-json/package.json',
        `../../../../../../..${work}/x`,
      ]);
      await assign('1.0.6', readFileSync(escape));
      expect(await waitInstall('1.0.6')).toMatchObject({ state: 'refused', reason: expect.stringMatching(/archive is refused/) });

      // A symbolic link under package/.
      const { symlinkSync, mkdirSync, cpSync } = await import('node:fs');
      mkdirSync(join(work, 'pkg'));
      cpSync(HTTP_JSON_PLUGIN_DIR, join(work, 'pkg', 'package'), { recursive: true });
      symlinkSync('/etc/passwd', join(work, 'pkg', 'package', 'passwd'));
      const linked = join(work, 'linked.tgz');
      await createTar({ gzip: true, file: linked, cwd: join(work, 'pkg') }, ['package']);
      await assign('1.0.7', readFileSync(linked));
      expect(await waitInstall('1.0.7')).toMatchObject({ state: 'refused', reason: expect.stringMatching(/"package\/passwd" is a SymbolicLink/) });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    expect(existsSync(join(dataDir, 'x'))).toBe(false);
    expect(existsSync(join(dataDir, 'plugins', 'x'))).toBe(false);
    for (const v of ['1.0.6', '1.0.7']) expect(existsSync(packageDir(dataDir, 'http-json', v))).toBe(false);
  });

  it('runs the installed version again after a restart', async () => {
    await gateway!.stop(0);
    gateway = undefined;
    gateway = await startGateway();
    expect(gateway.status().plugins).toContainEqual({ id: 'http-json', version: '1.0.1', source: 'installed' });
    const from = Date.now();
    await expect.poll(() => meterSamplesAfter(from).length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(meterSamplesAfter(from)[0]).toMatchObject({ value: 42.5, quality: 'good' });
  });
});
