import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DeviceProtocolError,
  DeviceUnreachableError,
  manifestProblem,
  parseConfig,
  pluginDeviceSchema,
  type Driver,
  type DriverPlugin,
  type Logger,
  type Reading,
} from '@citypilot/sdk';
import { listServerCertificates, type BuildingVariable } from '@citypilot/protocol-opcua';
import {
  DataType,
  OpcuaSimulator,
  StatusCodes,
  buildingNodeId,
  trustEachOther,
  waitUntil,
  type OpcuaSimulatorOptions,
} from '@citypilot/protocol-opcua/testing';
import { opcuaPlugin } from './plugin.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const users = [{ userName: 'technician', password: 'correct horse' }];

// Certificates take seconds to make: one server store and one gateway data folder for the file,
// trusting each other as a commissioning technician sets them up. Each test starts its own
// simulator, on its own free port.
let root: string;
let serverPki: string;
/** The gateway's `<dataDir>/plugins/opcua`, as the gateway hands it to the driver. */
let stateDir: string;
let userCertificate: { certificateFile: string; privateKeyFile: string };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'citypilot-opcua-plugin-'));
  serverPki = join(root, 'server-pki');
  stateDir = join(root, 'data', 'plugins', 'opcua');
  const simulator = new OpcuaSimulator({ pkiDir: serverPki });
  await simulator.start();
  try {
    userCertificate = await trustEachOther(simulator, join(stateDir, 'pki'));
  } finally {
    await simulator.stop();
  }
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

async function withSimulator<T>(run: (simulator: OpcuaSimulator) => Promise<T>, options: Partial<OpcuaSimulatorOptions> = {}): Promise<T> {
  const simulator = new OpcuaSimulator({ pkiDir: serverPki, users, tickMs: 100, ...options });
  await simulator.start();
  try {
    return await run(simulator);
  } finally {
    await simulator.stop();
  }
}

const plugin = opcuaPlugin as unknown as DriverPlugin;

/** A device block as the gateway hands it to the plugin: validated, defaults applied. */
function device(endpointUrl: string, points: unknown[], connection: object = {}, extra: object = {}) {
  return parseConfig(pluginDeviceSchema(plugin), {
    id: 'bms',
    plugin: 'opcua',
    interval: '1s',
    ...extra,
    connection: { endpointUrl, securityMode: 'None', ...connection },
    points,
  });
}

async function withDriver<T>(
  config: ReturnType<typeof device>,
  run: (driver: Driver) => Promise<T>,
  options: { logger?: Logger; stateDir?: string; timeoutMs?: number } = {},
): Promise<T> {
  const driver = plugin.create(config, { timeoutMs: options.timeoutMs ?? 5000, logger: options.logger ?? quiet, stateDir: options.stateDir ?? stateDir });
  try {
    return await run(driver);
  } finally {
    await driver.close();
  }
}

function createIssues(points: unknown[], connection: object = {}): ConfigError['issues'] {
  try {
    plugin.create(device('opc.tcp://127.0.0.1:4840', points, connection), { timeoutMs: 500, logger: quiet });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('create() accepted the configuration');
}

const byPoint = (readings: Reading[]) => Object.fromEntries(readings.map((r) => [r.point, r]));
const point = (id: string, path: string, more: object = {}, address: object = {}) => ({ id, ...more, address: { nodeId: buildingNodeId(path), ...address } });

/** Polls the driver every 100 ms until `condition` holds. */
async function pollUntil(driver: Driver, what: string, condition: (r: Record<string, Reading>) => boolean, ids?: string[]): Promise<Record<string, Reading>> {
  const deadline = Date.now() + 30_000;
  let last: Record<string, Reading> = {};
  for (;;) {
    last = byPoint(await driver.read(ids));
    if (condition(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; last readings: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('OPC UA plugin manifest and checks', () => {
  it('is loadable by this SDK and documents every setting', () => {
    expect(manifestProblem(opcuaPlugin.manifest)).toBeUndefined();
    expect(opcuaPlugin.manifest).toMatchObject({ id: 'opcua', protocol: 'opcua' });
    for (const part of [opcuaPlugin.schema.connection, opcuaPlugin.schema.address]) {
      for (const [key, property] of Object.entries(part.properties)) expect((property as { description?: string }).description, key).toBeTruthy();
    }
  });

  it('checks the cross-field rules without I/O, each with its path', () => {
    expect(createIssues([{ id: 'a', address: { nodeId: 'ns=1;s=A' } }], { identity: { type: 'userName', userName: 'u' } })).toEqual([
      { path: ['connection', 'identity', 'passwordEnv'], message: expect.stringMatching(/is required for a userName identity/) },
    ]);
    expect(
      createIssues([{ id: 'a', address: { nodeId: 'ns=1;s=A' } }], { identity: { type: 'userName', userName: 'u', password: 'p', passwordEnv: 'P' } }),
    ).toEqual([{ path: ['connection', 'identity', 'password'], message: expect.stringMatching(/not both/) }]);
    expect(createIssues([{ id: 'a', address: { nodeId: 'ns=1;s=A' } }], { securityMode: 'Sign', securityPolicy: 'None' })).toEqual([
      { path: ['connection', 'securityPolicy'], message: expect.stringMatching(/None cannot sign/) },
    ]);
    expect(createIssues([{ id: 'a', address: { nodeId: 'ns=1;s=A' } }], { securityMode: 'None', securityPolicy: 'Basic256Sha256' })).toEqual([
      { path: ['connection', 'securityPolicy'], message: expect.stringMatching(/with securityMode None, leave it out/) },
    ]);
    expect(
      createIssues([
        { id: 'a', address: { nodeId: 'ns=1;s=A', deadband: 1, deadbandPercent: 2 } },
        { id: 'b', kind: 'boolean', address: { nodeId: 'ns=1;s=B', deadband: 1 } },
        { id: 'c', address: { nodeId: 'ns=1;s=C', read: 'poll', samplingInterval: '1s' } },
        { id: 'd', writable: true, address: { nodeId: 'ns=1;s=D', index: 2 } },
        { id: 'e', address: { nodeId: 'not a node id;;' } },
        { id: 'a', address: { nodeId: 'ns=1;s=F' } },
      ]),
    ).toEqual([
      { path: ['points', 0, 'address', 'deadbandPercent'], message: 'give deadband (absolute) or deadbandPercent, not both' },
      { path: ['points', 1, 'address', 'deadband'], message: 'applies to numbers only, not to a point of kind boolean' },
      { path: ['points', 2, 'address', 'samplingInterval'], message: 'applies to monitored points, not to one with read: poll' },
      { path: ['points', 3, 'writable'], message: expect.stringMatching(/element of an array .* cannot be written/) },
      { path: ['points', 4, 'address', 'nodeId'], message: expect.stringMatching(/is not an OPC UA node id/) },
      { path: ['points', 5, 'id'], message: '"a" is already the id of points[0]' },
    ]);
  });

  it('opens nothing when created only to check a configuration', async () => {
    const driver = plugin.create(device('opc.tcp://127.0.0.1:1', [{ id: 'a', address: { nodeId: 'ns=1;s=A' } }]), { timeoutMs: 500, logger: quiet });
    await expect(driver.read()).rejects.toThrow(/created to check a configuration only/);
    await driver.close();
  });
});

describe('OPC UA plugin against the simulated building', () => {
  it.each([
    { securityMode: 'None', identity: 'anonymous' },
    { securityMode: 'Sign', identity: 'userName' },
    { securityMode: 'SignAndEncrypt', identity: 'certificate' },
    { securityMode: 'SignAndEncrypt', identity: 'userName', securityPolicy: 'Aes256_Sha256_RsaPss' },
  ] as const)('reads in mode $securityMode with a $identity identity', async ({ securityMode, identity, ...rest }) => {
    process.env.CITYPILOT_TEST_OPCUA_PASSWORD = 'correct horse';
    const identities = {
      anonymous: { type: 'anonymous' },
      userName: { type: 'userName', userName: 'technician', passwordEnv: 'CITYPILOT_TEST_OPCUA_PASSWORD' },
      // Relative to the plugin's folder of the data folder.
      certificate: { type: 'certificate', certificateFile: 'pki/own/certs/client_certificate.pem', privateKeyFile: userCertificate.privateKeyFile },
    };
    await withSimulator(
      async (simulator) => {
        const config = device(simulator.endpointUrl, [point('setpoint', 'AHU1.SupplyAirSetpoint'), point('status', 'Meters.Main.Status', { kind: 'string' })], {
          securityMode,
          identity: identities[identity],
          ...rest,
        });
        await withDriver(config, async (driver) => {
          const r = await pollUntil(driver, 'both values', (r) => r.setpoint?.quality === 'good' && r.status?.quality === 'good');
          // Read, or notified (then with the source time): the same value.
          expect(r.setpoint).toEqual({
            point: 'setpoint',
            value: 19,
            quality: 'good',
            ...(r.setpoint!.sourceTime !== undefined ? { sourceTime: expect.any(Number) } : {}),
          });
          expect(r.status).toEqual({
            point: 'status',
            value: 'OK',
            quality: 'good',
            ...(r.status!.sourceTime !== undefined ? { sourceTime: expect.any(Number) } : {}),
          });
        });
      },
      // Only the identity asked gets in.
      { allowAnonymous: identity === 'anonymous' },
    );
  });

  it('says clearly when the password is wrong or its variable missing: the read fails, the gateway marks the points bad', async () => {
    process.env.CITYPILOT_TEST_OPCUA_WRONG = 'wrong';
    delete process.env.CITYPILOT_TEST_OPCUA_UNSET;
    await withSimulator(async (simulator) => {
      const points = [point('setpoint', 'AHU1.SupplyAirSetpoint')];
      const wrong = device(simulator.endpointUrl, points, {
        securityMode: 'SignAndEncrypt',
        identity: { type: 'userName', userName: 'technician', passwordEnv: 'CITYPILOT_TEST_OPCUA_WRONG' },
      });
      await withDriver(wrong, async (driver) => {
        const error = await driver.read().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DeviceProtocolError);
        expect((error as Error).message).toMatch(/refused user "technician": wrong user name or password \(Bad\w+\)/);
      });
      const unset = device(simulator.endpointUrl, points, {
        identity: { type: 'userName', userName: 'technician', passwordEnv: 'CITYPILOT_TEST_OPCUA_UNSET' },
      });
      await withDriver(unset, async (driver) => {
        await expect(driver.read()).rejects.toThrow('connection.identity.passwordEnv: the environment variable CITYPILOT_TEST_OPCUA_UNSET is not set');
      });
    });
  });

  it('refuses a server whose certificate is not trusted, with its thumbprint and how to trust it, and keeps the certificate to trust', async () => {
    const freshState = join(root, 'fresh-data', 'plugins', 'opcua');
    await withSimulator(async (simulator) => {
      await withDriver(
        device(simulator.endpointUrl, [point('setpoint', 'AHU1.SupplyAirSetpoint')], { securityMode: 'SignAndEncrypt' }),
        async (driver) => {
          const error = await driver.read().catch((e: unknown) => e);
          expect(error).toBeInstanceOf(DeviceUnreachableError);
          const [seen] = listServerCertificates(join(freshState, 'pki'));
          expect(seen).toMatchObject({ state: 'rejected', subject: expect.stringMatching(/CityPilot OPC UA simulator/) });
          expect((error as Error).message).toContain(`thumbprint ${seen!.thumbprint}`);
          expect((error as Error).message).toContain(`citypilot gateway opcua-certificates trust CONFIG ${seen!.thumbprint}`);
          // Our own certificate is made in the store, for the server's administrator to trust.
          expect(existsSync(join(freshState, 'pki', 'own', 'certs', 'client_certificate.pem'))).toBe(true);
        },
        { stateDir: freshState },
      );
    });
  });

  it('subscribes: answers from the notified values, and an absolute deadband hides the changes under it', async () => {
    await withSimulator(async (simulator) => {
      const config = device(
        simulator.endpointUrl,
        [
          point('filtered', 'AHU1.SupplyAirSetpoint', {}, { deadband: 1, samplingInterval: '50ms' }),
          // The same node without deadband: shows when the server has seen each change.
          point('every', 'AHU1.SupplyAirSetpoint', {}, { samplingInterval: '50ms' }),
        ],
        { publishingInterval: '100ms' },
      );
      const debug: string[] = [];
      const logger: Logger = { ...quiet, debug: (_o, msg) => void debug.push(msg ?? '') };
      await withDriver(
        config,
        async (driver) => {
          await pollUntil(driver, 'the initial values', (r) => r.filtered?.value === 19 && r.every?.value === 19);
          // Until then the points were read from the server.
          await waitUntil('both items notified', () => debug.some((m) => /every monitored item has reported/.test(m)));
          expect(simulator.monitoredItems().get(buildingNodeId('AHU1.SupplyAirSetpoint'))).toBe(2);
          simulator.set('AHU1.SupplyAirSetpoint', 19.6);
          const under = await pollUntil(driver, 'the change notified without deadband', (r) => r.every?.value === 19.6);
          // Read from the server, it would be 19.6: the reading is the last value notified.
          expect(under.filtered).toEqual({ point: 'filtered', value: 19, quality: 'good', sourceTime: expect.any(Number) });
          simulator.set('AHU1.SupplyAirSetpoint', 20.5);
          const over = await pollUntil(driver, 'the change beyond the deadband', (r) => r.filtered?.value === 20.5);
          expect(over.every!.value).toBe(20.5);
        },
        { logger },
      );
    });
  });

  it("samples well under the point's interval, keeps the source time, and says when the server samples slower than the interval", async () => {
    await withSimulator(
      async (simulator) => {
        const config = device(simulator.endpointUrl, [
          point('setpoint', 'AHU1.SupplyAirSetpoint'),
          point('every-3s', 'AHU1.SupplyAirSetpoint', {}, { samplingInterval: '3s' }),
        ]);
        const warnings: { obj: object; msg: string }[] = [];
        const logger: Logger = { ...quiet, warn: (obj, msg) => void warnings.push({ obj, msg: msg ?? '' }) };
        await withDriver(
          config,
          async (driver) => {
            const r = await pollUntil(driver, 'the notified values', (r) => r.setpoint?.sourceTime !== undefined && r['every-3s']?.sourceTime !== undefined);
            // Asked 100 ms (a tenth of the 1 s interval), revised to the node's 2 s.
            expect(r.setpoint).toEqual({
              point: 'setpoint',
              value: 19,
              quality: 'uncertain',
              reason:
                "the server samples ns=1;s=Building.AHU1.SupplyAirSetpoint only every 2 s, not under the point's interval of 1 s: the value may be up to 2 s old",
              sourceTime: expect.any(Number),
            });
            expect(r['every-3s']).toMatchObject({
              quality: 'uncertain',
              reason: expect.stringMatching(/only every 3 s, not under the point's interval of 1 s/),
            });
            expect(Math.abs(r.setpoint!.sourceTime! - Date.now())).toBeLessThan(60_000);
            await driver.read();
            // The revision logged once; a samplingInterval of 3 s was asked, not revised.
            expect(warnings.map((w) => w.msg)).toEqual([
              "the OPC UA server samples 1 node(s) slower than asked; 1 not under their points' interval: those readings are uncertain",
            ]);
            expect(warnings[0]!.obj).toMatchObject({
              items: [{ nodeId: buildingNodeId('AHU1.SupplyAirSetpoint'), askedMs: 100, revisedMs: 2000, points: ['setpoint'] }],
            });
          },
          { logger },
        );
      },
      { minimumSamplingIntervalMs: 2000 },
    );
  });

  it('reads a node that goes bad as bad with its status, and good again when it recovers (subscribed and polled)', async () => {
    await withSimulator(async (simulator) => {
      for (const mode of ['subscribe', 'poll'] as const) {
        const config = device(
          simulator.endpointUrl,
          [point('supply', 'AHU1.SupplyAirSetpoint', {}, mode === 'subscribe' ? { samplingInterval: '50ms' } : {})],
          { mode, publishingInterval: '100ms' },
        );
        await withDriver(config, async (driver) => {
          await pollUntil(driver, 'a good value', (r) => r.supply?.quality === 'good');
          simulator.setStatus('AHU1.SupplyAirSetpoint', StatusCodes.BadSensorFailure);
          const bad = await pollUntil(driver, 'the bad status', (r) => r.supply?.quality === 'bad');
          expect(bad.supply).toEqual({ point: 'supply', value: null, quality: 'bad', reason: 'BadSensorFailure' });
          simulator.setStatus('AHU1.SupplyAirSetpoint', StatusCodes.UncertainLastUsableValue);
          const uncertain = await pollUntil(driver, 'the uncertain status', (r) => r.supply?.quality === 'uncertain');
          // Notified (with its source time) or read: the same reading.
          expect({ ...uncertain.supply, sourceTime: undefined }).toEqual({
            point: 'supply',
            value: 19,
            quality: 'uncertain',
            reason: 'UncertainLastUsableValue',
          });
          simulator.setStatus('AHU1.SupplyAirSetpoint', StatusCodes.Good);
          await pollUntil(driver, 'good again', (r) => r.supply?.quality === 'good' && r.supply.value === 19);
        });
      }
    });
  });

  it('reads a node the server refuses to monitor (unknown node id) from the server: that point bad, the others good, the refusal logged once', async () => {
    await withSimulator(async (simulator) => {
      const warnings: string[] = [];
      const logger: Logger = { ...quiet, warn: (_o, msg) => void warnings.push(msg ?? '') };
      const config = device(simulator.endpointUrl, [
        point('setpoint', 'AHU1.SupplyAirSetpoint'),
        { id: 'ghost', address: { nodeId: 'ns=1;s=Building.AHU9.Nothing' } },
        point('fan', 'AHU1.FanRunning', { kind: 'boolean' }),
      ]);
      await withDriver(
        config,
        async (driver) => {
          for (let i = 0; i < 3; i++) {
            const r = byPoint(await driver.read());
            expect(r.ghost).toEqual({ point: 'ghost', value: null, quality: 'bad', reason: 'BadNodeIdUnknown' });
            expect(r.setpoint!.quality).toBe('good');
            expect(r.fan!.quality).toBe('good');
          }
          expect(warnings.filter((w) => /refused to monitor 1 node/.test(w))).toHaveLength(1);
          expect(simulator.monitoredItems()).toEqual(
            new Map([
              [buildingNodeId('AHU1.SupplyAirSetpoint'), 1],
              [buildingNodeId('AHU1.FanRunning'), 1],
            ]),
          );
        },
        { logger },
      );
    });
  });

  it('answers a poll group with its points only, and polls every time in mode poll (and for read: poll points)', async () => {
    await withSimulator(async (simulator) => {
      for (const mode of ['poll', 'subscribe'] as const) {
        const config = device(
          simulator.endpointUrl,
          [
            point('setpoint', 'AHU2.SupplyAirSetpoint', {}, { read: 'poll' }),
            point('energy', 'Meters.Main.Energy'),
            point('fan', 'AHU2.FanRunning', { kind: 'boolean' }),
          ],
          { mode },
        );
        await withDriver(config, async (driver) => {
          const group = await driver.read(['energy', 'setpoint']);
          expect(group.map((r) => r.point)).toEqual(['setpoint', 'energy']);
          expect(group.every((r) => r.quality === 'good' && r.time === undefined)).toBe(true);
          // Polled: a change is seen at the next read, without waiting for a notification.
          simulator.set('AHU2.SupplyAirSetpoint', 23.5);
          expect(byPoint(await driver.read(['setpoint'])).setpoint!.value).toBe(23.5);
          simulator.set('AHU2.SupplyAirSetpoint', 19);
          expect([...simulator.monitoredItems().keys()]).toEqual(
            mode === 'poll' ? [] : [buildingNodeId('Meters.Main.Energy'), buildingNodeId('AHU2.FanRunning')],
          );
        });
      }
    });
  });

  it('fails reads while the connection is lost, and serves nothing from before the loss once it is back', async () => {
    await withSimulator(async (simulator) => {
      const config = device(simulator.endpointUrl, [point('setpoint', 'AHU1.SupplyAirSetpoint', {}, { samplingInterval: '100ms' })], {
        publishingInterval: '100ms',
      });
      const debug: string[] = [];
      const logger: Logger = { ...quiet, debug: (_o, msg) => void debug.push(msg ?? '') };
      await withDriver(
        config,
        async (driver) => {
          await driver.read();
          await waitUntil('the value notified', () => debug.some((m) => /every monitored item has reported/.test(m)));
          expect(byPoint(await driver.read()).setpoint!.value).toBe(19);
          await simulator.stop();
          let error: unknown;
          const deadline = Date.now() + 30_000;
          while (!error && Date.now() < deadline) {
            error = await driver.read().then(
              () => undefined,
              (e: unknown) => e,
            );
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          expect(error).toBeInstanceOf(DeviceUnreachableError);
          expect((error as Error).message).toMatch(/connection to opc\.tcp:\/\/127\.0\.0\.1:\d+ is lost; reconnecting/);
          // Changed while the server was away: the cached 19 must not come back as current.
          simulator.set('AHU1.SupplyAirSetpoint', 23);
          await simulator.start();
          const seen: unknown[] = [];
          const until = Date.now() + 60_000;
          while (seen.length < 5 && Date.now() < until) {
            try {
              const r = byPoint(await driver.read()).setpoint!;
              if (r.quality === 'good') seen.push(r.value);
            } catch (e) {
              // Until node-opcua has reconnected.
              if (!(e instanceof DeviceUnreachableError)) throw e;
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          expect(seen.length).toBeGreaterThanOrEqual(5);
          expect(seen.every((v) => v === 23)).toBe(true);
          expect(simulator.monitoredItems()).toEqual(new Map([[buildingNodeId('AHU1.SupplyAirSetpoint'), 1]]));
        },
        { logger },
      );
    });
  });

  it('discovers with a user name (password from the environment) over SignAndEncrypt, and drafts that identity, never the password', async () => {
    process.env.CITYPILOT_TEST_OPCUA_DISCOVER = 'correct horse';
    await withSimulator(
      async (simulator) => {
        const discovery = opcuaPlugin.discovery!;
        const options = {
          endpointUrl: simulator.endpointUrl,
          securityMode: 'SignAndEncrypt',
          userName: 'technician',
          passwordEnv: 'CITYPILOT_TEST_OPCUA_DISCOVER',
          dataDir: join(root, 'data'),
          from: 'ns=1;s=Building.AHU2',
        } as const;
        const [found] = await discovery.run(options, { timeoutMs: 5000, profiles: [], logger: quiet });
        expect(found!.device).toMatchObject({
          plugin: 'opcua',
          connection: {
            endpointUrl: simulator.endpointUrl,
            securityMode: 'SignAndEncrypt',
            identity: { type: 'userName', userName: 'technician', passwordEnv: 'CITYPILOT_TEST_OPCUA_DISCOVER' },
          },
        });
        expect(JSON.stringify(found)).not.toContain('correct horse');
        expect((found!.device as { points: { id: string }[] }).points.map((p) => p.id)).toEqual([
          'supply-air-setpoint',
          'supply-air-temperature',
          'return-air-temperature',
          'fan-speed',
          'fan-running',
        ]);
        await expect(
          discovery.run({ ...options, passwordEnv: 'CITYPILOT_TEST_OPCUA_UNSET_TOO' }, { timeoutMs: 5000, profiles: [], logger: quiet }),
        ).rejects.toThrow(/CITYPILOT_TEST_OPCUA_UNSET_TOO is not set/);
      },
      { allowAnonymous: false },
    );
  });

  it('converts every type to the point kind, arrays by index, and says why a value does not fit', async () => {
    const extraVariables: BuildingVariable[] = [
      { path: 'Test.Int64', dataType: DataType.Int64, initial: () => [0xffffffff, 0xfffffffe] }, // -2
      { path: 'Test.UInt64Big', dataType: DataType.UInt64, initial: () => [0x00400000, 1] }, // 2^54 + 1
      { path: 'Test.Float', dataType: DataType.Float, initial: () => 1.5 },
      // Stored as 21.299999237060547: a Float holds about 7 significant digits.
      { path: 'Test.FloatTenths', dataType: DataType.Float, initial: () => 21.3 },
      { path: 'Test.FloatArray', dataType: DataType.Float, arrayLength: 2, initial: () => [0.1, -40.7] },
      // A Double is given as it is, to its 17 digits.
      { path: 'Test.Double', dataType: DataType.Double, initial: () => 0.1 + 0.2 },
      { path: 'Test.Byte', dataType: DataType.Byte, initial: () => 200 },
      { path: 'Test.Text', dataType: DataType.LocalizedText, initial: () => ({ text: 'Marche', locale: 'fr' }) },
      { path: 'Test.Bytes', dataType: DataType.ByteString, initial: () => Buffer.from([1, 2]) },
      { path: 'Test.Int32Array', dataType: DataType.Int32, arrayLength: 4, initial: () => [5, -6, 7, 8] },
    ];
    await withSimulator(
      async (simulator) => {
        const config = device(
          simulator.endpointUrl,
          [
            point('int64', 'Test.Int64'),
            point('uint64-big', 'Test.UInt64Big'),
            point('float', 'Test.Float'),
            point('float-tenths', 'Test.FloatTenths'),
            point('float-element', 'Test.FloatArray', {}, { index: 1 }),
            point('double', 'Test.Double'),
            point('byte', 'Test.Byte'),
            point('text', 'Test.Text', { kind: 'string' }),
            point('bytes', 'Test.Bytes', { kind: 'string' }),
            point('reset-ms', 'Meters.Main.LastReset'),
            point('reset-iso', 'Meters.Main.LastReset', { kind: 'string' }),
            point('bool', 'AHU1.FanRunning', { kind: 'boolean' }),
            point('bool-as-number', 'AHU1.FanRunning'),
            point('element', 'Test.Int32Array', {}, { index: 1 }),
            point('whole-array', 'Test.Int32Array'),
            point('beyond', 'Test.Int32Array', {}, { index: 4 }),
            point('index-on-scalar', 'Test.Float', {}, { index: 0 }),
            point('current-l2', 'Meters.Main.PhaseCurrents', { unit: 'A' }, { index: 1 }),
          ],
          { mode: 'poll' },
        );
        await withDriver(config, async (driver) => {
          const r = byPoint(await driver.read());
          expect(r['int64']).toEqual({ point: 'int64', value: -2, quality: 'good' });
          expect(r['uint64-big']).toEqual({
            point: 'uint64-big',
            value: 2 ** 54,
            quality: 'uncertain',
            reason: '18014398509481985 is beyond 2^53: rounded to the nearest double',
          });
          expect(r['float']).toEqual({ point: 'float', value: 1.5, quality: 'good' });
          expect(r['float-tenths']).toEqual({ point: 'float-tenths', value: 21.3, quality: 'good' });
          expect(r['float-element']).toEqual({ point: 'float-element', value: -40.7, quality: 'good' });
          expect(r['double']).toEqual({ point: 'double', value: 0.30000000000000004, quality: 'good' });
          expect(r['byte']).toEqual({ point: 'byte', value: 200, quality: 'good' });
          expect(r['text']).toEqual({ point: 'text', value: 'Marche', quality: 'good' });
          expect(r['bytes']).toEqual({
            point: 'bytes',
            value: null,
            quality: 'bad',
            reason: 'the node holds a ByteString, which does not fit a point of kind string',
          });
          expect(r['reset-ms']).toEqual({ point: 'reset-ms', value: Date.UTC(2026, 0, 1), quality: 'good' });
          expect(r['reset-iso']).toEqual({ point: 'reset-iso', value: '2026-01-01T00:00:00.000Z', quality: 'good' });
          expect(r['bool']).toMatchObject({ value: expect.any(Boolean), quality: 'good' });
          expect(r['bool-as-number']).toEqual({
            point: 'bool-as-number',
            value: null,
            quality: 'bad',
            reason: 'the node holds a Boolean, which does not fit a point of kind number',
          });
          expect(r['element']).toEqual({ point: 'element', value: -6, quality: 'good' });
          expect(r['whole-array']).toEqual({
            point: 'whole-array',
            value: null,
            quality: 'bad',
            reason: 'the node holds an array of 4 values; give address.index',
          });
          expect(r['beyond']).toEqual({
            point: 'beyond',
            value: null,
            quality: 'bad',
            reason: 'address.index 4 is beyond the array of 4 values the node holds',
          });
          expect(r['index-on-scalar']).toEqual({
            point: 'index-on-scalar',
            value: null,
            quality: 'bad',
            reason: 'address.index is set but the node holds one Float, not an array',
          });
          expect(r['current-l2']).toMatchObject({ value: expect.any(Number), quality: 'good' });
        });
      },
      { extraVariables },
    );
  });

  it("writes a writable point with the node's type, and says clearly when it cannot", async () => {
    await withSimulator(async (simulator) => {
      const config = device(simulator.endpointUrl, [
        point('setpoint', 'AHU1.SupplyAirSetpoint', { writable: true }),
        point('fan-speed', 'AHU1.FanSpeed', { writable: true }),
        point('energy', 'Meters.Main.Energy'),
      ]);
      await withDriver(config, async (driver) => {
        await driver.write!('setpoint', 21.5);
        expect(simulator.get('AHU1.SupplyAirSetpoint')).toBe(21.5);
        await pollUntil(driver, 'the new setpoint notified', (r) => r.setpoint?.value === 21.5);
        // Writable in the configuration, read-only on the server: the server's refusal.
        await expect(driver.write!('fan-speed', 50)).rejects.toThrow(/the server refused to write ns=1;s=Building\.AHU1\.FanSpeed: Bad\w+/);
        await expect(driver.write!('energy', 1)).rejects.toMatchObject({
          issues: [{ path: ['points', 2, 'writable'], message: 'is false: the gateway may not write this point' }],
        });
      });
    });
  });
});
