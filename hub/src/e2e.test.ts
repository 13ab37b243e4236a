import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Gateway, PluginRegistry, parseGatewayConfig } from '@citypilot/gateway';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { gatewayConfig } from './demo-gateway-config.js';
import { freePort } from './services/local-services.js';
import {
  createTestDatabase,
  hubEnv,
  startSecuredTestNats,
  uniqueStreamNames,
  waitFor,
  type CliProcess,
  type SecuredTestNats,
  startHubProcess,
} from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const HUB_DOWN_MS = 20_000;

/**
 * The first end-to-end path, real everywhere: a Modbus TCP simulator, a gateway running the
 * Modbus plugin, JetStream on a NATS server secured as in production (the hub and the gateway
 * each with their own credentials and permissions), and a hub running as its own process,
 * stopped for 20 s and started again while the gateway keeps polling.
 */
describe('device → gateway → JetStream → hub process → PostgreSQL', () => {
  const names = uniqueStreamNames('e2e');
  const building = demoBuildings[0]!;
  const dataDir = mkdtempSync(join(tmpdir(), 'citypilot-e2e-'));
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let simulator: ModbusSimulator;
  let gateway: Gateway | undefined;
  let hub: CliProcess | undefined;
  let client: pg.Client;
  let nats: SecuredTestNats;

  beforeAll(async () => {
    nats = await startSecuredTestNats(join(dataDir, 'services'), [building.id], names);
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'e2e');
    client = new pg.Client({ connectionString: db.url });
    simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim) });
  });
  afterAll(async () => {
    await gateway?.stop(0);
    await hub?.stop('SIGKILL');
    await simulator?.stop();
    await client?.end().catch(() => undefined);
    await nats?.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every sample exactly once although the hub was down for 20 s', async () => {
    const natsUrl = nats.url;
    const { port: modbusPort } = await simulator.start();
    const hubPort = await freePort();
    const env = { ...hubEnv(db.url, natsUrl, names, hubPort), NATS_CREDENTIALS: nats.hubCredentials };
    const startHub = () => startHubProcess(env, hubPort);
    hub = await startHub();
    await client.connect();

    const config = parseGatewayConfig(
      gatewayConfig(building, {
        modbusPort,
        statusPort: 0,
        natsUrl,
        interval: '1s',
        subjectPrefix: names.prefix,
        dataDir,
        credentials: nats.gatewayCredentials[building.id],
      }),
      join(dataDir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const accepted: Sample[] = [];
    gateway.on('samples', (samples) => accepted.push(...samples));

    const stored = async () => Number((await client.query('SELECT count(*) FROM samples')).rows[0].count);
    await waitFor(async () => (await stored()) > 0, 30_000, 'no sample reached the database');

    // The hub goes away; the gateway keeps polling and publishing into the stream.
    expect(await hub.stop('SIGTERM')).toBe(0);
    const downFrom = Date.now();
    const acceptedBefore = accepted.length;
    const storedWhileDown = await stored();
    await new Promise((r) => setTimeout(r, HUB_DOWN_MS));
    expect(await stored()).toBe(storedWhileDown);
    const pointsPerCycle = building.points.length;
    // About one cycle a second went on while the hub was down.
    expect(accepted.length - acceptedBefore).toBeGreaterThanOrEqual(pointsPerCycle * (HUB_DOWN_MS / 1000 - 2));
    expect(accepted.filter((s) => s.time >= downFrom && s.quality === 'good').length).toBeGreaterThan(0);

    hub = await startHub();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await gateway.stop()).toBe(0);
    gateway = undefined;

    await waitFor(async () => (await stored()) >= accepted.length, 60_000, 'the samples held in the stream did not all reach the database');
    const { rows } = await client.query<{ point_key: string; t: string; value: number | null; quality: string }>(
      `SELECT p.point_key, (extract(epoch FROM s.time) * 1000)::bigint AS t, s.value, s.quality::text
         FROM samples s JOIN points p ON p.id = s.point_id ORDER BY 1, 2`,
    );
    const key = (point: string, time: number) => `${point}@${time}`;
    const inDb = new Map(rows.map((r) => [key(r.point_key, Number(r.t)), r]));
    // Exactly once: as many rows as samples accepted, and each accepted sample is there, same value.
    expect(rows.length).toBe(accepted.length);
    expect(inDb.size).toBe(accepted.length);
    for (const s of accepted) {
      const row = inDb.get(key(s.point, s.time));
      expect(row, `missing ${key(s.point, s.time)}`).toBeDefined();
      expect(row!.quality).toBe(s.quality);
      if (typeof s.value === 'number') expect(row!.value).toBeCloseTo(s.value, 6);
    }
    expect(await hub.stop('SIGTERM')).toBe(0);
    hub = undefined;
  });
});
