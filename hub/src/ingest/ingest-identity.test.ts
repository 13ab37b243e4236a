import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Gateway, PluginRegistry, natsCredentialsOptions, parseGatewayConfig } from '@citypilot/gateway';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import { BATCH_VERSION, encodeBatch, subjects, type Batch, type Sample } from '@citypilot/sdk';
import { gatewayConfig } from '../demo-gateway-config.js';
import { Hub } from '../hub.js';
import { importCatalog } from '../storage/catalog.js';
import { createTestDatabase, startSecuredTestNats, uniqueStreamNames, waitFor, type SecuredTestNats } from '../testing/index.js';
import { deadLetterStream } from './ingest.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * "The subject is the identity", against a NATS server secured as in production: the town
 * hall's real gateway polls its simulated devices and sends its batches while the school's
 * credentials try every forgery the hardening issue reproduced against the demo. None changes
 * anything of the town hall's; each lands in the dead-letter stream with its reason.
 */
describe('ingest takes the gateway from the subject, never from the batch', () => {
  const names = uniqueStreamNames('identity');
  const subj = subjects(names.prefix);
  const victim = demoBuildings.find((b) => b.id === 'town-hall')!;
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-identity-'));
  let nats: SecuredTestNats;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let hub: Hub;
  let simulator: ModbusSimulator;
  let gateway: Gateway | undefined;
  let school: NatsConnection;

  beforeAll(async () => {
    nats = await startSecuredTestNats(join(dir, 'services'), ['town-hall', 'school'], names);
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'identity');
    hub = await Hub.start({ databaseUrl: db.url, natsUrl: nats.url, natsCredentials: nats.hubCredentials, logger: quiet, names, http: { port: 0 } });
    await importCatalog(hub.storage.pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [
        {
          id: 'centre',
          name: 'Centre',
          buildings: [
            { id: 'town-hall', name: 'Hôtel de ville', usage: 'town-hall', area: 4200, gateways: ['town-hall'] },
            { id: 'school', name: 'École', usage: 'school', area: 2850, gateways: ['school'] },
          ],
        },
      ],
    });
    simulator = new ModbusSimulator({ points: victim.points.map((p) => p.sim) });
    // The school's own credentials, as its gateway connects: only its own subject and inbox.
    school = await connect({
      servers: nats.url,
      reconnect: false,
      inboxPrefix: subj.inbox('school'),
      ...natsCredentialsOptions(nats.gatewayCredentials.school!),
    });
  });
  afterAll(async () => {
    await gateway?.stop(0);
    await school?.close();
    await simulator?.stop();
    await hub?.stop();
    await nats?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = async <R extends object>(sql: string, params: unknown[] = []) => (await hub.storage.pool.query<R>(sql, params)).rows;
  /** The school publishes on its own subject, with its own credentials: NATS lets every one through. */
  const forge = async (batch: Batch, msgID: string) => {
    const ack = await jetstream(school).publish(subj.telemetry('school'), encodeBatch(batch), { msgID });
    expect(ack.duplicate).toBe(false);
  };
  const batch = (over: Partial<Batch>): Batch => ({ v: BATCH_VERSION, gateway: 'school', seq: 1, createdAt: Date.now(), samples: [], ...over });

  it("stores all the town hall's samples, and none of the four forgeries changes anything of its data", async () => {
    const { port: modbusPort } = await simulator.start();
    const config = parseGatewayConfig(
      gatewayConfig(victim, {
        modbusPort,
        statusPort: 0,
        natsUrl: nats.url,
        interval: '1s',
        subjectPrefix: names.prefix,
        dataDir: join(dir, 'town-hall'),
        credentials: nats.gatewayCredentials['town-hall'],
      }),
      join(dir, 'town-hall.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const accepted: Sample[] = [];
    gateway.on('samples', (samples) => accepted.push(...samples));

    // The town hall has announced its points and building, and its samples arrive.
    await waitFor(
      async () =>
        (await query<{ n: number }>(`SELECT count(*)::int AS n FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'town-hall'`))[0]!.n > 0,
      30_000,
      'no sample of the town hall reached the database',
    );
    const pointsBefore = await query<{ point_key: string; name: string; retired_at: Date | null }>(
      `SELECT point_key, name, retired_at FROM points WHERE gateway_id = 'town-hall' ORDER BY point_key`,
    );
    const pointKeys = pointsBefore.map((p) => p.point_key);
    expect(pointKeys).toHaveLength(victim.points.length);
    expect(pointsBefore.every((p) => p.retired_at === null)).toBe(true);
    expect(await query(`SELECT building_key FROM gateways WHERE id = 'town-hall'`)).toEqual([{ building_key: 'town-hall' }]);

    const lastSeq = gateway.status().outbox.lastSeq ?? 0;
    const now = Math.ceil(Date.now() / 1000) * 1000;
    const futureSlots = Array.from({ length: 8 }, (_, i) => now + (i + 2) * 1000);
    const forged = (times: number[]) => pointKeys.flatMap((point) => times.map((time) => ({ point, time, value: -999, quality: 'good' as const })));

    // 1. Another gateway's id in the batch: samples, sequence and all, as the town hall's.
    await forge(batch({ gateway: 'town-hall', seq: 1_000_000, samples: forged([now - 3_600_000]) }), 'school:1');
    // 2. The town hall's next slots, so that its real readings would be dropped as duplicates.
    await forge(batch({ gateway: 'town-hall', seq: 2, samples: forged(futureSlots) }), 'school:2');
    // 3. The town hall's next message ids, so that its real batches would be dropped by the stream.
    const takenIds = Array.from({ length: 20 }, (_, i) => `town-hall:${lastSeq + 1 + i}`);
    for (const [i, id] of takenIds.entries()) await forge(batch({ seq: 3 + i, samples: forged([now - 7_200_000 + i * 1000]) }), id);
    // 4. A point list that retires all the town hall's points and moves it to another building.
    const bogus = { id: 'x.retire-them-all', name: 'Forged', kind: 'number' as const, tags: [], source: { plugin: 'modbus', device: 'x', address: 0 } };
    await forge(batch({ gateway: 'town-hall', seq: 23, points: [bogus], building: 'school' }), 'school:23');
    // And the school's own point list naming a building the catalog does not know, or the town
    // hall's, which the catalog lets only the town hall's gateway serve.
    await forge(batch({ seq: 24, points: [bogus], building: 'elsewhere' }), 'school:24');
    await forge(batch({ seq: 25, points: [bogus], building: 'town-hall' }), 'school:25');
    // The school's own batch and point list still go through: the hub refuses forgeries, not the school.
    const ownPoint = { ...bogus, id: 'own.meter', name: 'Own meter', source: { ...bogus.source, device: 'own' } };
    await forge(
      batch({ seq: 26, points: [ownPoint], building: 'school', samples: [{ point: 'own.meter', time: now, value: 1, quality: 'good' }] }),
      'school:26',
    );

    // The town hall goes on past the forged slots, then stops with everything sent.
    await waitFor(async () => accepted.some((s) => s.time > futureSlots.at(-1)!) || undefined, 30_000, 'the town hall did not poll past the forged slots');
    expect(await gateway.stop()).toBe(0);
    gateway = undefined;

    const hubNats = await connect({ servers: nats.url, reconnect: false, ...natsCredentialsOptions(nats.hubCredentials) });
    const jsm = await jetstreamManager(hubNats);
    await waitFor(
      async () => {
        const info = await jsm.consumers.info(names.stream, names.durable);
        return info.num_pending + info.num_ack_pending === 0;
      },
      30_000,
      'the hub did not take every message',
    );

    // Every sample the town hall accepted is stored, with its own value, and nothing else of it.
    const rows = await query<{ point_key: string; t: string; value: number | null; quality: string }>(
      `SELECT p.point_key, (extract(epoch FROM s.time) * 1000)::bigint AS t, s.value, s.quality::text
         FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'town-hall'`,
    );
    const key = (point: string, time: number) => `${point}@${time}`;
    const inDb = new Map(rows.map((r) => [key(r.point_key, Number(r.t)), r]));
    expect(rows.length).toBe(accepted.length);
    for (const s of accepted) {
      const row = inDb.get(key(s.point, s.time));
      expect(row, `missing ${key(s.point, s.time)}`).toBeDefined();
      expect(row!.quality).toBe(s.quality);
      if (typeof s.value === 'number') expect(row!.value).toBeCloseTo(s.value, 6);
    }
    expect(accepted.filter((s) => futureSlots.includes(s.time)).length).toBe(futureSlots.length * pointKeys.length);
    expect(rows.some((r) => r.value === -999)).toBe(false);

    // Its points, building and sequence are its own.
    expect(await query(`SELECT point_key, name, retired_at FROM points WHERE gateway_id = 'town-hall' ORDER BY point_key`)).toEqual(pointsBefore);
    const [own] = await query<{ building_key: string; last_seq: number }>(
      `SELECT building_key, last_seq::int AS last_seq FROM gateways WHERE id = 'town-hall'`,
    );
    expect(own!.building_key).toBe('town-hall');
    expect(own!.last_seq).toBeGreaterThan(lastSeq);
    expect(own!.last_seq).toBeLessThan(1_000_000);
    // The school's own batch was stored as the school's, and its forged point list changed nothing.
    expect(await query(`SELECT p.point_key, s.value FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = 'school'`)).toEqual([
      { point_key: 'own.meter', value: 1 },
    ]);
    expect(await query(`SELECT building_key FROM gateways WHERE id = 'school'`)).toEqual([{ building_key: 'school' }]);
    expect(await query(`SELECT point_key FROM points WHERE gateway_id = 'school'`)).toEqual([{ point_key: 'own.meter' }]);

    // Each forgery is in the dead-letter stream, with its reason and the subject it came on.
    const info = await jsm.streams.info(deadLetterStream(names));
    const dead: { reason: string; subject: string; batch: Batch }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(deadLetterStream(names), { seq });
      dead.push({
        reason: msg!.header!.get('CityPilot-Reason'),
        subject: msg!.header!.get('CityPilot-Subject'),
        batch: JSON.parse(new TextDecoder().decode(msg!.data)),
      });
    }
    expect(dead.every((d) => d.subject === subj.telemetry('school'))).toBe(true);
    const reasonOf = (seq: number) => dead.filter((d) => d.batch.seq === seq).map((d) => d.reason);
    const otherGateway = 'the batch names gateway "town-hall" but came on the subject of gateway "school": a gateway may send only its own batches';
    expect(reasonOf(1_000_000)).toEqual([otherGateway]);
    expect(reasonOf(2)).toEqual([otherGateway]);
    for (const [i, id] of takenIds.entries())
      expect(reasonOf(3 + i)).toEqual([`the batch ${3 + i} of gateway "school" has the message id "${id}": expected school:<key>:${3 + i}`]);
    expect(reasonOf(23)).toEqual([otherGateway]);
    expect(reasonOf(24)).toEqual([
      'the batch 24 of gateway "school" names building "elsewhere", which the catalog does not know: expected the id of a building of the catalog (citypilot hub catalog import)',
    ]);
    expect(reasonOf(25)).toEqual([
      'the batch 25 of gateway "school" names building "town-hall", which the catalog lets only gateway "town-hall" serve: expected a building whose catalog entry lists gateway "school"',
    ]);
    expect(dead).toHaveLength(5 + takenIds.length);
    await hubNats.close();
  });
});
