import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { freePort } from './services/local-services.js';
import {
  createTestDatabase,
  hubEnv,
  spawnCli,
  startSecuredTestNats,
  uniqueStreamNames,
  waitFor,
  type CliProcess,
  type SecuredTestNats,
  startHubProcess,
} from './testing/index.js';

const nodeRedPlugin = fileURLToPath(new URL('../../plugins/node-red/', import.meta.url));
const DERIVED_WANTED = 5;

/**
 * The "Done when": a Node-RED flow deployed through the gateway derives a point that
 * reaches the hub. Real everywhere: a Modbus simulator (the main meter's active power), a gateway
 * process with Node-RED enabled, JetStream secured as in production (the hub and the gateway
 * with their own credentials), a hub process, PostgreSQL. The flow is the plugin's
 * sample-flows.json, deployed through the gateway's Node-RED admin API: power in W, and a
 * boolean alarm above 5 kW, each derived sample at the time of the sample it comes from.
 */
describe('Node-RED flow in the gateway → derived points in the hub', () => {
  const names = uniqueStreamNames('nodered');
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-node-red-e2e-'));
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let simulator: ModbusSimulator;
  let hub: CliProcess | undefined;
  let gateway: CliProcess | undefined;
  let client: pg.Client;
  let nats: SecuredTestNats;

  beforeAll(async () => {
    nats = await startSecuredTestNats(join(dir, 'services'), ['nodered-e2e'], names);
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'nodered');
    client = new pg.Client({ connectionString: db.url });
    // Between a quarter and all of 10 kW through the day, with noise: both sides of 5 kW over a day.
    simulator = new ModbusSimulator({ points: [{ table: 'holding', address: 2, type: 'float32', order: 'CDAB', behaviour: { kind: 'load', peak: 10 } }] });
  });
  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await hub?.stop('SIGKILL');
    await simulator?.stop();
    await client?.end().catch(() => undefined);
    await nats?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the samples the deployed flow derives, consistent with their source', async () => {
    const natsUrl = nats.url;
    const { port: modbusPort } = await simulator.start();
    const hubPort = await freePort();
    const nodeRedPort = await freePort();
    const env = { ...hubEnv(db.url, natsUrl, names, hubPort), NATS_CREDENTIALS: nats.hubCredentials };
    hub = await startHubProcess(env, hubPort);
    await client.connect();

    // The plugin's sample section declares the two virtual points the sample flow publishes.
    const nodeRedSection = readFileSync(join(nodeRedPlugin, 'sample.yaml'), 'utf8').replace('port: 1880', `port: ${nodeRedPort}`);
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      `gateway:
  id: nodered-e2e
hub:
  natsUrl: ${natsUrl}
  credentials: ${JSON.stringify(nats.gatewayCredentials['nodered-e2e'])}
  subjectPrefix: ${names.prefix}
dataDir: data
status:
  port: 0
devices:
  - id: main-meter
    plugin: modbus
    interval: 1s
    connection: { host: 127.0.0.1, port: ${modbusPort}, unitId: 1 }
    points:
      - id: power
        unit: kW
        tags: [elec, meter, power]
        address: { table: holding, address: 2, type: float32, order: CDAB }
${nodeRedSection}`,
    );
    // Node-RED's messages go through the gateway's logger: warnings and errors only.
    gateway = spawnCli(['gateway', 'run', file], { ...env, LOG_LEVEL: 'warn' });
    const nodeRed = `http://127.0.0.1:${nodeRedPort}`;
    // Node-RED takes seconds to start on a busy machine.
    await waitFor(
      async () => (await fetch(`${nodeRed}/settings`).catch(() => undefined))?.ok === true,
      90_000,
      `the gateway's Node-RED did not start: ${gateway.output()}`,
    );

    const deployed = await fetch(`${nodeRed}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: readFileSync(join(nodeRedPlugin, 'sample-flows.json'), 'utf8'),
    });
    expect(deployed.status, await deployed.text()).toBeLessThan(300);
    // Stored with the gateway's configuration; Node-RED's own files in the data folder.
    expect(JSON.parse(readFileSync(join(dir, 'flows.json'), 'utf8'))).toHaveLength(6);
    expect(existsSync(join(dir, 'data', 'node-red'))).toBe(true);

    const derivedCount = async (point: string) =>
      Number((await client.query('SELECT count(*) FROM samples s JOIN points p ON p.id = s.point_id WHERE p.point_key = $1', [point])).rows[0].count);
    await waitFor(
      async () => (await derivedCount('node-red.power-w')) >= DERIVED_WANTED && (await derivedCount('node-red.power-high')) >= DERIVED_WANTED,
      120_000,
      `the derived points did not reach the hub: ${gateway.output()}`,
    );

    const { rows: points } = await client.query<{ point_key: string; kind: string; unit: string | null; source: { plugin: string } }>(
      `SELECT point_key, kind, unit, source FROM points WHERE point_key LIKE 'node-red.%' ORDER BY point_key`,
    );
    expect(points).toMatchObject([
      { point_key: 'node-red.power-high', kind: 'boolean', unit: null, source: { plugin: 'node-red' } },
      { point_key: 'node-red.power-w', kind: 'number', unit: 'W', source: { plugin: 'node-red' } },
    ]);

    // The gateway hands the hub everything it holds before it exits.
    expect(await gateway.stop('SIGTERM')).toBe(0);
    gateway = undefined;

    // Every derived sample has its source sample, at the same time, and the value the flow computes from it.
    const joined = async () =>
      (
        await client.query<{ point_key: string; value: number; quality: string; source: number | null }>(
          `SELECT d.point_key, s.value, s.quality::text, src.value AS source
             FROM samples s JOIN points d ON d.id = s.point_id
             LEFT JOIN points sp ON sp.point_key = 'main-meter.power' AND sp.gateway_id = d.gateway_id
             LEFT JOIN samples src ON src.point_id = sp.id AND src.time = s.time
            WHERE d.point_key LIKE 'node-red.%'`,
        )
      ).rows;
    // Batches may be stored by the hub's workers in any order: wait for the last sources.
    await waitFor(async () => (await joined()).every((r) => r.source !== null), 60_000, 'derived samples without their source sample');
    const rows = await joined();
    expect(rows.length).toBeGreaterThanOrEqual(2 * DERIVED_WANTED);
    for (const row of rows) {
      expect(row.quality).toBe('good');
      if (row.point_key === 'node-red.power-w') expect(row.value).toBeCloseTo(row.source! * 1000, 6);
      else expect(row.value).toBe(row.source! > 5 ? 1 : 0);
    }
    expect(await hub.stop('SIGTERM')).toBe(0);
    hub = undefined;
  });
});
