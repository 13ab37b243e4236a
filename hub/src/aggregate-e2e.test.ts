import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { Gateway, PluginRegistry, parseGatewayConfig } from '@citypilot/gateway';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { freePort } from './services/local-services.js';
import { createTestDatabase, deleteStreams, hubEnv, uniqueStreamNames, waitFor, type CliProcess, startHubProcess } from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A gateway that aggregates locally: the hub stores the windows as ordinary points, one per
 * function, announced with the window as their interval, and no raw reading of them.
 */
describe('gateway aggregates → hub', () => {
  const names = uniqueStreamNames('agg');
  const dataDir = mkdtempSync(join(tmpdir(), 'citypilot-agg-e2e-'));
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const simulator = new ModbusSimulator({
    points: [
      { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 40 } },
      { table: 'holding', address: 1, type: 'uint16', behaviour: { kind: 'constant', value: 5 } },
    ],
  });
  let gateway: Gateway | undefined;
  let hub: CliProcess | undefined;
  let client: pg.Client | undefined;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'agg');
  });
  afterAll(async () => {
    await gateway?.stop(0);
    await hub?.stop('SIGKILL');
    await simulator.stop();
    await client?.end().catch(() => undefined);
    await deleteStreams(inject('natsUrl'), names);
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores each function of a window as a point of its own, with the window as interval', async () => {
    const natsUrl = inject('natsUrl');
    const { port: modbusPort } = await simulator.start();
    const hubPort = await freePort();
    hub = await startHubProcess(hubEnv(db.url, natsUrl, names, hubPort), hubPort);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();

    const config = parseGatewayConfig(
      `gateway: { id: agg-test }
hub: { natsUrl: "${natsUrl}", subjectPrefix: ${names.prefix}, batchMaxDelay: 100ms }
dataDir: ${dataDir}
status: { port: 0 }
pollGroups:
  fast: { interval: 1s, jitter: 300ms }
devices:
  - id: ahu
    plugin: modbus
    interval: 2s
    connection: { host: 127.0.0.1, port: ${modbusPort} }
    points:
      - id: fan
        unit: "%"
        group: fast
        address: { table: holding, address: 0 }
        aggregate: { window: 2s, functions: [avg, max, count] }
      - id: mode
        address: { table: holding, address: 1 }
`,
      join(dataDir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });

    type Row = { point_key: string; t: string; value: number | null; quality: string; interval_ms: number | null; unit: string | null };
    const rows = async () =>
      (
        await client!.query<Row>(
          `SELECT p.point_key, (extract(epoch FROM s.time) * 1000)::bigint AS t, s.value, s.quality::text, p.interval_ms, p.unit
             FROM samples s JOIN points p ON p.id = s.point_id ORDER BY 1, 2`,
        )
      ).rows;
    const good = (all: Row[], key: string) => all.filter((r) => r.point_key === key && r.quality === 'good');
    await waitFor(async () => good(await rows(), 'ahu.fan.count').length >= 2, 60_000, 'no complete window reached the database');

    const all = await rows();
    const fan = good(all, 'ahu.fan');
    expect(fan.length).toBeGreaterThanOrEqual(2);
    expect(fan.every((r) => Number(r.t) % 2000 === 0 && r.value === 40 && r.interval_ms === 2000 && r.unit === '%')).toBe(true);
    expect(good(all, 'ahu.fan.max').every((r) => r.value === 40 && r.interval_ms === 2000)).toBe(true);
    const counts = good(all, 'ahu.fan.count');
    expect(counts.every((r) => r.value! >= 1 && r.value! <= 2 && r.unit === null)).toBe(true);
    // A plain point next to it keeps every reading at its device's interval.
    expect(good(all, 'ahu.mode').every((r) => Number(r.t) % 2000 === 0 && r.value === 5 && r.interval_ms === 2000)).toBe(true);
    // Only windows of ahu.fan: at its window times (its first, partial, window at its first reading).
    expect(all.filter((r) => r.point_key === 'ahu.fan' && r.quality === 'good' && Number(r.t) % 2000 !== 0)).toEqual([]);
    const { rows: announced } = await client.query<{ point_key: string; source: { aggregate?: { function: string; windowMs: number } } }>(
      `SELECT point_key, source FROM points ORDER BY 1`,
    );
    expect(announced.map((p) => [p.point_key, p.source.aggregate?.function ?? null])).toEqual([
      ['ahu.fan', 'avg'],
      ['ahu.fan.count', 'count'],
      ['ahu.fan.max', 'max'],
      ['ahu.mode', null],
    ]);
  });
});
