import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { readOutboxFile } from '@citypilot/gateway/testing';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import type { Quality, Sample } from '@citypilot/sdk';
import { gatewayConfig } from './demo-gateway-config.js';
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

const KILLS = 5;

interface Accepted {
  value: Sample['value'];
  quality: Quality;
}

/**
 * The durable outbox, real everywhere: a Modbus simulator, a hub process, and a gateway process
 * killed with SIGKILL five times at random moments while it polls and forwards. What the
 * gateway accepted is known from two sources that do not depend on the hub: the samples it
 * logs once they are committed (debug level), and its outbox file read after each kill (which
 * also holds any sample committed just before a kill and not yet logged). Every one of them
 * must be in the hub's database once, with the same value and quality, and nothing else.
 */
describe('gateway killed repeatedly while forwarding → hub', () => {
  const names = uniqueStreamNames('crash');
  const building = [...demoBuildings].sort((a, b) => b.points.length - a.points.length)[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-crash-'));
  const dataDir = join(dir, 'data');
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let simulator: ModbusSimulator;
  let hub: CliProcess | undefined;
  let gateway: CliProcess | undefined;
  let client: pg.Client;
  // NATS secured as in production: the gateway process runs with its own credentials.
  let nats: SecuredTestNats;

  beforeAll(async () => {
    nats = await startSecuredTestNats(join(dir, 'services'), [building.id], names);
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'crash');
    client = new pg.Client({ connectionString: db.url });
    simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim) });
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

  it('stores every sample the outbox accepted exactly once, through 5 SIGKILLs', async () => {
    const natsUrl = nats.url;
    const { port: modbusPort } = await simulator.start();
    const hubPort = await freePort();
    const env = { ...hubEnv(db.url, natsUrl, names, hubPort), NATS_CREDENTIALS: nats.hubCredentials };
    hub = await startHubProcess(env, hubPort);
    await client.connect();

    const file = join(dir, 'gateway.yaml');
    const yaml = gatewayConfig(building, {
      modbusPort,
      statusPort: 0,
      natsUrl,
      interval: '500ms',
      subjectPrefix: names.prefix,
      dataDir: 'data',
      credentials: nats.gatewayCredentials[building.id],
    });
    // Small batches, and during the killed runs a rate limit half the polling rate: a backlog
    // builds, and the next batch is built and stored while the limit holds it back, so kills
    // find batches not yet acknowledged in the file, which the next run must send again under
    // their first id. The last run has no such limit and drains the backlog.
    const writeConfig = (maxSamplesPerSecond: number) =>
      writeFileSync(
        file,
        yaml.replace(/^hub:\n/m, 'hub:\n  batchMaxDelay: 100ms\n  batchMaxSamples: 10\n') + `outbox:\n  maxSamplesPerSecond: ${maxSamplesPerSecond}\n`,
      );
    writeConfig(building.points.length);
    const gatewayEnv = { ...env, LOG_LEVEL: 'debug' };

    const accepted = new Map<string, Accepted>();
    const key = (point: string, time: number) => `${point}@${time}`;
    const accept = (point: string, time: number, value: Sample['value'], quality: Quality, from: string) => {
      const k = key(point, time);
      const earlier = accepted.get(k);
      // The same sample may be both logged and found in the file; never two different ones.
      if (earlier) expect(earlier, `${k} accepted twice with different content (${from})`).toEqual({ value, quality });
      accepted.set(k, { value, quality });
    };
    const fromLog = (output: string) => {
      let found = 0;
      const lines = output.split('\n');
      for (const [index, line] of lines.entries()) {
        if (!line.includes('samples stored in the outbox')) continue;
        let entry: { stored: [string, number, Sample['value'], Quality][] };
        try {
          entry = JSON.parse(line);
        } catch (error) {
          // Cut by the kill: the process died in that write, before it could forward those
          // samples, so they are in the file. Anywhere else, a broken line is a real problem.
          if (index === lines.length - 1) continue;
          throw error;
        }
        for (const [point, time, value, quality] of entry.stored) accept(point, time, value, quality, 'log');
        found += entry.stored.length;
      }
      return found;
    };
    const fromFile = () => {
      const contents = readOutboxFile(dataDir);
      const held = [...contents.batches.flatMap((b) => b.samples), ...contents.queued];
      for (const s of held) accept(s.point, s.time, s.value, s.quality, 'file');
      return { held: held.length, batches: contents.batches.map((b) => b.seq) };
    };
    const startGateway = async () => {
      const process = spawnCli(['gateway', 'run', file], gatewayEnv);
      await waitFor(async () => process.output().includes('"msg":"gateway started"'), 30_000, `gateway did not start: ${process.output()}`);
      return process;
    };

    const runs: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      gateway = await startGateway();
      const lifeMs = 1500 + Math.floor(Math.random() * 2500);
      await new Promise((r) => setTimeout(r, lifeMs));
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      const logged = fromLog(gateway.output());
      const held = fromFile();
      runs.push(`run ${i + 1}: killed after ${lifeMs} ms, ${logged} samples logged, ${held.held} held on disk (batches ${held.batches.join(',') || 'none'})`);
      gateway = undefined;
    }
    console.log(runs.join('\n'));
    // The kills must have hit a gateway at work, or the test proves nothing.
    expect(accepted.size, runs.join('\n')).toBeGreaterThan(KILLS * building.points.length);

    // The kills must have found unacknowledged batches on disk, or the resend path went untested.
    expect(runs.filter((r) => !r.includes('batches none')).length, runs.join('\n')).toBeGreaterThanOrEqual(KILLS - 1);

    // A last run forwards the backlog and stops cleanly, with nothing left.
    writeConfig(5000);
    gateway = await startGateway();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await gateway.stop('SIGTERM')).toBe(0);
    fromLog(gateway.output());
    expect(fromFile().held, `samples left in the outbox after a clean stop\n${runs.join('\n')}`).toBe(0);
    gateway = undefined;

    const stored = async () => Number((await client.query('SELECT count(*) FROM samples')).rows[0].count);
    await waitFor(async () => (await stored()) >= accepted.size, 30_000, `the hub did not store all ${accepted.size} samples\n${runs.join('\n')}`);
    // Let any straggler (a sample that should not exist) arrive before comparing.
    await new Promise((r) => setTimeout(r, 1000));

    const { rows } = await client.query<{ point_key: string; t: string; value: number | null; quality: string }>(
      `SELECT p.point_key, (extract(epoch FROM s.time) * 1000)::bigint AS t, s.value, s.quality::text
         FROM samples s JOIN points p ON p.id = s.point_id`,
    );
    const inDb = new Map(rows.map((r) => [key(r.point_key, Number(r.t)), r]));
    const missing = [...accepted.keys()].filter((k) => !inDb.has(k));
    const unexpected = [...inDb.keys()].filter((k) => !accepted.has(k));
    expect({ missing: missing.slice(0, 10), unexpected: unexpected.slice(0, 10) }, runs.join('\n')).toEqual({ missing: [], unexpected: [] });
    expect(rows.length).toBe(accepted.size);
    for (const [k, s] of accepted) {
      const row = inDb.get(k)!;
      expect(row.quality, k).toBe(s.quality);
      if (typeof s.value === 'number') expect(row.value, k).toBeCloseTo(s.value, 6);
      else if (s.value === null) expect(row.value, k).toBeNull();
    }
    // A batch sent again after a kill carried its first message id: JetStream dropped it, so
    // the hub never received a sample twice.
    const metrics = await (await fetch(`http://127.0.0.1:${hubPort}/metrics`)).text();
    const counter = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    expect(counter('citypilot_hub_samples_duplicate_total')).toBe(0);
    expect(counter('citypilot_hub_samples_inserted_total')).toBe(accepted.size);

    expect(await hub.stop('SIGTERM')).toBe(0);
    hub = undefined;
  });
});
