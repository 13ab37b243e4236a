import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatusCodes } from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listServerCertificates, trustServerCertificate } from './certificates.js';
import { OpcuaConnection } from './client.js';
import type { OpcuaConnectOptions, OpcuaValue } from './client-types.js';
import { discoverEndpoints } from './session.js';
import {
  OpcuaBadCredentialsError,
  OpcuaClientCertificateRejectedError,
  OpcuaConnectionError,
  OpcuaRequestError,
  OpcuaServerCertificateUntrustedError,
} from './errors.js';
import { buildingNodeId, OpcuaSimulator, type OpcuaSimulatorOptions } from './simulator.js';
import { trustEachOther, waitUntil } from './testing/pki.js';

// Certificates take seconds to create: one server store and one client store for the whole
// file, trusting each other; each test starts its own simulator (own port) on them.
let root: string;
let serverPki: string;
let clientPki: string;
let clientCertificate: { certificateFile: string; privateKeyFile: string };
const users = [{ userName: 'technician', password: 'correct horse' }];

async function withSimulator<T>(run: (simulator: OpcuaSimulator) => Promise<T>, options: Partial<OpcuaSimulatorOptions> = {}): Promise<T> {
  const simulator = new OpcuaSimulator({ pkiDir: serverPki, users, tickMs: 100, ...options });
  await simulator.start();
  try {
    return await run(simulator);
  } finally {
    await simulator.stop();
  }
}

async function withConnection<T>(url: string, options: Partial<OpcuaConnectOptions>, run: (connection: OpcuaConnection) => Promise<T>): Promise<T> {
  const connection = await OpcuaConnection.connect(url, { pkiDir: clientPki, ...options });
  try {
    return await run(connection);
  } finally {
    await connection.close();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'citypilot-opcua-'));
  serverPki = join(root, 'server-pki');
  clientPki = join(root, 'client-pki');
  // The first start creates the server's certificate.
  const simulator = new OpcuaSimulator({ pkiDir: serverPki });
  await simulator.start();
  try {
    clientCertificate = await trustEachOther(simulator, clientPki);
  } finally {
    await simulator.stop();
  }
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('OPC UA client against the simulated building', () => {
  it('discovers endpoints: None, Sign and SignAndEncrypt with the current policies, and three identities', async () => {
    await withSimulator(async (simulator) => {
      const endpoints = await discoverEndpoints(simulator.endpointUrl, { pkiDir: clientPki });
      const offered = endpoints.map((e) => `${e.securityMode}/${e.securityPolicy}`);
      expect(offered).toContain('None/None');
      for (const mode of ['Sign', 'SignAndEncrypt']) {
        for (const policy of ['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']) expect(offered).toContain(`${mode}/${policy}`);
      }
      const secure = endpoints.find((e) => e.securityMode === 'SignAndEncrypt')!;
      expect(secure.userTokenTypes).toEqual(expect.arrayContaining(['anonymous', 'userName', 'certificate']));
      expect(secure.serverCertificateThumbprint).toMatch(/^[0-9a-f]{40}$/);
    });
  });

  it.each([
    ['None', 'None'],
    ['Sign', 'Basic256Sha256'],
    ['SignAndEncrypt', 'Basic256Sha256'],
    ['SignAndEncrypt', 'Aes128_Sha256_RsaOaep'],
    ['SignAndEncrypt', 'Aes256_Sha256_RsaPss'],
  ] as const)('reads anonymously in mode %s with policy %s', async (securityMode, securityPolicy) => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, { securityMode, securityPolicy }, async (connection) => {
        const [setpoint, status] = await connection.read([buildingNodeId('AHU1.SupplyAirSetpoint'), buildingNodeId('Meters.Main.Status')]);
        expect(setpoint).toMatchObject({ value: 19, statusCode: 'Good', quality: 'good' });
        expect(setpoint!.sourceTimestamp).toBeInstanceOf(Date);
        expect(status).toMatchObject({ value: 'OK', quality: 'good' });
      });
    });
  });

  it('opens a session with a user name and password, and says so clearly when the password is wrong', async () => {
    await withSimulator(
      async (simulator) => {
        const url = simulator.endpointUrl;
        await withConnection(url, { securityMode: 'SignAndEncrypt', identity: { userName: 'technician', password: 'correct horse' } }, async (connection) => {
          expect((await connection.read([buildingNodeId('Boiler1.Running')]))[0]!.quality).toBe('good');
        });
        const refused = OpcuaConnection.connect(url, {
          pkiDir: clientPki,
          securityMode: 'SignAndEncrypt',
          identity: { userName: 'technician', password: 'wrong' },
        });
        await expect(refused).rejects.toBeInstanceOf(OpcuaBadCredentialsError);
        await expect(refused).rejects.toThrow(/refused user "technician": wrong user name or password/);
        // Anonymous is off: only the named user gets in.
        await expect(OpcuaConnection.connect(url, { pkiDir: clientPki, securityMode: 'SignAndEncrypt' })).rejects.toThrow(/refused an anonymous session/);
      },
      { allowAnonymous: false },
    );
  });

  it('says which securities the server offers when the one asked is not, and when nothing answers', async () => {
    const url = await withSimulator(async (simulator) => {
      await expect(
        OpcuaConnection.connect(simulator.endpointUrl, { pkiDir: clientPki, securityMode: 'Sign', securityPolicy: 'Basic128Rsa15' }),
      ).rejects.toThrow(/offers no endpoint with security Sign\/Basic128Rsa15; it offers None\/None, Sign\/Basic256Sha256/);
      return simulator.endpointUrl;
    });
    // The simulator is stopped: its port is closed.
    await expect(OpcuaConnection.connect(url, { pkiDir: clientPki })).rejects.toBeInstanceOf(OpcuaConnectionError);
    await expect(OpcuaConnection.connect(url, { pkiDir: clientPki, securityMode: 'SignAndEncrypt' })).rejects.toThrow(
      /cannot reach the OPC UA server at opc\.tcp:\/\/127\.0\.0\.1:\d+/,
    );
  });

  it('opens a session with an X.509 certificate identity', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, { securityMode: 'SignAndEncrypt', identity: clientCertificate }, async (connection) => {
        expect((await connection.read([buildingNodeId('Boiler1.FlowTemperature')]))[0]!.quality).toBe('good');
      });
    });
  });

  it('refuses an untrusted server certificate with its thumbprint, trusts it by thumbprint, then says the server must trust ours', async () => {
    const freshPki = join(root, 'fresh-client-pki');
    await withSimulator(async (simulator) => {
      const url = simulator.endpointUrl;
      const options = { pkiDir: freshPki, securityMode: 'Sign' } as const;
      const untrusted = await OpcuaConnection.connect(url, options).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(untrusted).toBeInstanceOf(OpcuaServerCertificateUntrustedError);
      const error = untrusted as OpcuaServerCertificateUntrustedError;
      expect(error.message).toMatch(/not trusted by us .*CityPilot OPC UA simulator.*thumbprint [0-9a-f]{40}.*it was put in .*rejected/);
      expect(existsSync(error.file)).toBe(true);
      expect(listServerCertificates(freshPki)).toEqual([expect.objectContaining({ thumbprint: error.thumbprint, state: 'rejected' })]);

      await trustServerCertificate(freshPki, error.thumbprint.toUpperCase());
      expect(listServerCertificates(freshPki)).toEqual([expect.objectContaining({ thumbprint: error.thumbprint, state: 'trusted' })]);

      // We trust the server now; the server does not know our (new) certificate.
      const rejected = await OpcuaConnection.connect(url, options).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(rejected).toBeInstanceOf(OpcuaClientCertificateRejectedError);
      const ours = (rejected as OpcuaClientCertificateRejectedError).certificateFile;
      expect((rejected as Error).message).toMatch(/the server refused our certificate .*must trust our certificate, which is .*client_certificate\.pem/);

      await simulator.trustClientCertificate(ours);
      await withConnection(url, options, async (connection) => {
        expect((await connection.read([buildingNodeId('AHU2.FanRunning')]))[0]!.quality).toBe('good');
      });
    });
  });

  it('browses the building: data types, engineering units, ranges and access', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        const variables = await connection.browse();
        const byPath = new Map(variables.map((v) => [v.browsePath, v]));
        expect(byPath.get('Building/AHU1/FanSpeed')).toMatchObject({
          nodeId: buildingNodeId('AHU1.FanSpeed'),
          dataType: 'Double',
          valueRank: -1,
          writable: false,
          engineeringUnits: { displayName: '%', unitId: 20529 }, // UNECE "P1"
          euRange: { low: 0, high: 100 },
        });
        expect(byPath.get('Building/AHU1/SupplyAirSetpoint')).toMatchObject({
          writable: true,
          engineeringUnits: { displayName: '°C', description: 'degree Celsius' },
        });
        expect(byPath.get('Building/Meters/Main/Energy')).toMatchObject({ dataType: 'Double', engineeringUnits: { displayName: 'kWh' } });
        expect(byPath.get('Building/Meters/Main/WaterVolume')).toMatchObject({ dataType: 'UInt32', engineeringUnits: { displayName: 'l' } });
        expect(byPath.get('Building/Meters/Main/ReactivePower')).toMatchObject({ dataType: 'Int16' });
        expect(byPath.get('Building/Meters/Main/Status')).toMatchObject({ dataType: 'String' });
        expect(byPath.get('Building/Meters/Main/LastReset')).toMatchObject({ dataType: 'DateTime' });
        expect(byPath.get('Building/AHU2/FanRunning')).toMatchObject({ dataType: 'Boolean' });
        expect(byPath.get('Building/AHU1/FanRunning')!.engineeringUnits).toBeUndefined();
        // Only the building's variables, not their properties nor the server's own nodes.
        expect(variables).toHaveLength(simulator.paths.length);
      });
    });
  });

  it('writes a writable node and refuses a read-only one', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, { securityMode: 'SignAndEncrypt' }, async (connection) => {
        await connection.write(buildingNodeId('AHU1.SupplyAirSetpoint'), 21.5);
        expect(simulator.get('AHU1.SupplyAirSetpoint')).toBe(21.5);
        expect((await connection.read([buildingNodeId('AHU1.SupplyAirSetpoint')]))[0]!.value).toBe(21.5);
        await expect(connection.write(buildingNodeId('AHU1.FanSpeed'), 50)).rejects.toThrow(OpcuaRequestError);
      });
    });
  });

  it('values move: the energy counter grows', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        const energy = buildingNodeId('Meters.Main.Energy');
        const volume = buildingNodeId('Meters.Main.WaterVolume');
        const [e0, v0] = await connection.read([energy, volume]);
        let e1 = e0!;
        let v1 = v0!;
        const deadline = Date.now() + 30_000;
        while ((e1.value as number) <= (e0!.value as number) || (v1.value as number) <= (v0!.value as number)) {
          if (Date.now() > deadline) throw new Error('the counters did not grow');
          await new Promise((resolve) => setTimeout(resolve, 100));
          [e1, v1] = (await connection.read([energy, volume])) as [OpcuaValue, OpcuaValue];
        }
        expect(Number.isInteger(v1.value)).toBe(true);
      });
    });
  });

  it('reports a node that goes bad with its StatusCode, in reads and notifications, and when it recovers', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        const nodeId = buildingNodeId('AHU1.SupplyAirSetpoint');
        const notified: OpcuaValue[] = [];
        const subscription = await connection.subscribe([{ nodeId, samplingIntervalMs: 100 }], (v) => notified.push(v));
        await waitUntil('the first value', () => notified.length > 0);
        simulator.setStatus('AHU1.SupplyAirSetpoint', StatusCodes.BadSensorFailure);
        expect((await connection.read([nodeId]))[0]).toMatchObject({ statusCode: 'BadSensorFailure', quality: 'bad' });
        await waitUntil('a bad notification', () => notified.some((v) => v.statusCode === 'BadSensorFailure'));
        simulator.setStatus('AHU1.SupplyAirSetpoint', StatusCodes.Good);
        expect((await connection.read([nodeId]))[0]).toMatchObject({ statusCode: 'Good', value: 19 });
        await waitUntil('a good notification after the bad one', () => notified.at(-1)!.statusCode === 'Good');
        await subscription.close();
      });
    });
  });

  // The setpoint's EURange is 10..30 °C: 10 % of it is 2 °C.
  it.each([
    { type: 'absolute', value: 1, small: [19.3, 19.9, 18.5], large: 21 },
    { type: 'percent', value: 10, small: [20, 20.9, 17.5], large: 21.5 },
  ] as const)('notifies changes beyond a $type deadband of $value only', async ({ type, value, small, large }) => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        const nodeId = buildingNodeId('AHU1.SupplyAirSetpoint');
        const withDeadband: number[] = [];
        const everyChange: number[] = [];
        const filtered = await connection.subscribe([{ nodeId, samplingIntervalMs: 50, queueSize: 10, deadband: { type, value } }], (v) =>
          withDeadband.push(v.value as number),
        );
        // A second subscription without deadband shows when the server has seen each change.
        const all = await connection.subscribe([{ nodeId, samplingIntervalMs: 50, queueSize: 10 }], (v) => everyChange.push(v.value as number));
        expect([...filtered.refused, ...all.refused]).toEqual([]);
        await waitUntil('the initial values', () => withDeadband.length === 1 && everyChange.length === 1);
        for (const change of small) {
          simulator.set('AHU1.SupplyAirSetpoint', change);
          await waitUntil(`the server has notified ${change}`, () => everyChange.includes(change));
        }
        simulator.set('AHU1.SupplyAirSetpoint', large);
        await waitUntil('the large change', () => withDeadband.includes(large));
        expect(withDeadband).toEqual([19, large]);
        await filtered.close();
        await all.close();
      });
    });
  });

  it('refuses a percent deadband on a node without EURange, accepts it on one with', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        const subscription = await connection.subscribe(
          [
            { nodeId: buildingNodeId('AHU1.FanSpeed'), samplingIntervalMs: 100, deadband: { type: 'percent', value: 5 } },
            { nodeId: buildingNodeId('Meters.Main.Status'), samplingIntervalMs: 100, deadband: { type: 'percent', value: 5 } },
          ],
          () => undefined,
        );
        expect(subscription.refused).toEqual([{ nodeId: buildingNodeId('Meters.Main.Status'), reason: expect.stringMatching(/^Bad/), index: 1 }]);
        await subscription.close();
      });
    });
  });

  it('monitors more items than one request holds, in batches, each notified once with its index', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, {}, async (connection) => {
        // 1,200 items over the building's nodes, in two parameter sets: three requests of up
        // to 500 for the first set, one for the second.
        const nodes = simulator.paths.map(buildingNodeId);
        const items = Array.from({ length: 1200 }, (_, i) => ({ nodeId: nodes[i % nodes.length]!, samplingIntervalMs: i < 1100 ? 1000 : 500 }));
        const notified = new Set<number>();
        const wrong: number[] = [];
        const subscription = await connection.subscribe(items, (v, index) => {
          notified.add(index);
          if (v.nodeId !== items[index]!.nodeId) wrong.push(index);
        });
        expect(subscription.refused).toEqual([]);
        await waitUntil('an initial value for every item', () => notified.size === items.length, 60_000);
        expect(wrong).toEqual([]);
        expect([...simulator.monitoredItems().values()].reduce((a, b) => a + b, 0)).toBe(1200);
        await subscription.close();
      });
    });
  });

  it("keeps within the server's operation limits: reads and monitored items split into as many requests as needed", async () => {
    await withSimulator(
      async (simulator) => {
        await withConnection(simulator.endpointUrl, {}, async (connection) => {
          const nodes = simulator.paths.map(buildingNodeId);
          const many = Array.from({ length: 45 }, (_, i) => nodes[i % nodes.length]!);
          const values = await connection.read(many);
          expect(values.map((v) => v.nodeId)).toEqual(many);
          expect(values.every((v) => v.quality === 'good')).toBe(true);
          const notified = new Set<number>();
          const subscription = await connection.subscribe(
            many.map((nodeId) => ({ nodeId, samplingIntervalMs: 500 })),
            (_, index) => void notified.add(index),
          );
          expect(subscription.refused).toEqual([]);
          await waitUntil('every item notified', () => notified.size === many.length);
          await subscription.close();
          // Browsing reads four attributes of each variable: more than 10 too.
          expect(await connection.browse()).toHaveLength(simulator.paths.length);
        });
        // Two references per answer: every folder is read through BrowseNext.
        await withConnection(simulator.endpointUrl, { maxReferencesPerNode: 2 }, async (connection) => {
          const variables = await connection.browse();
          expect(variables.map((v) => v.browsePath).sort()).toEqual(simulator.paths.map((p) => `Building/${p.replace(/\./g, '/')}`).sort());
          expect(variables.find((v) => v.browsePath === 'Building/AHU1/SupplyAirSetpoint')).toMatchObject({
            engineeringUnits: { displayName: '°C' },
            euRange: { low: 10, high: 30 },
          });
        });
      },
      { operationLimits: { maxNodesPerRead: 10, maxMonitoredItemsPerCall: 10, maxNodesPerBrowse: 3 } },
    );
  });

  it('resumes a subscription after the server restarts, with each monitored item once', async () => {
    await withSimulator(async (simulator) => {
      await withConnection(simulator.endpointUrl, { securityMode: 'SignAndEncrypt', reconnectDelayMs: { initial: 100, max: 1000 } }, async (connection) => {
        const setpoint = buildingNodeId('AHU1.SupplyAirSetpoint');
        const energy = buildingNodeId('Meters.Main.Energy');
        const notified: OpcuaValue[] = [];
        const states: string[] = [];
        connection.onConnectionState((state) => states.push(state));
        const subscription = await connection.subscribe(
          [
            { nodeId: setpoint, samplingIntervalMs: 100 },
            { nodeId: energy, samplingIntervalMs: 100 },
          ],
          (v) => notified.push(v),
        );
        await waitUntil('values of both nodes', () => notified.some((v) => v.nodeId === setpoint) && notified.some((v) => v.nodeId === energy));
        expect(simulator.monitoredItems()).toEqual(
          new Map([
            [setpoint, 1],
            [energy, 1],
          ]),
        );

        await simulator.stop();
        const before = notified.length;
        await simulator.start();
        simulator.set('AHU1.SupplyAirSetpoint', 23);
        await waitUntil('the setpoint after the restart', () => notified.slice(before).some((v) => v.nodeId === setpoint && v.value === 23), 60_000);
        await waitUntil('energy after the restart', () => notified.slice(before).some((v) => v.nodeId === energy), 60_000);
        expect(simulator.monitoredItems()).toEqual(
          new Map([
            [setpoint, 1],
            [energy, 1],
          ]),
        );
        expect(states).toEqual(['reconnecting', 'connected']);
        await subscription.close();
      });
    });
  });
});
