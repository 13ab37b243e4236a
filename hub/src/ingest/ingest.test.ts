import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BATCH_VERSION, batchMessageId, encodeBatch, subjects, type Batch } from '@citypilot/sdk';
import { Hub } from '../hub.js';
import { createTestDatabase, deleteStreams, natsConnection, uniqueStreamNames, waitFor } from '../testing/index.js';
import { deadLetterStream } from './ingest.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('hub ingest from JetStream into PostgreSQL', () => {
  const names = uniqueStreamNames('ingest');
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let hub: Hub;
  let nc: NatsConnection;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'ingest');
    hub = await Hub.start({ databaseUrl: db.url, natsUrl: inject('natsUrl'), logger: quiet, names, http: { port: 0 }, ingestWorkers: 2 });
    nc = await natsConnection(inject('natsUrl'));
  });
  afterAll(async () => {
    await hub?.stop();
    await nc?.close();
    await deleteStreams(inject('natsUrl'), names);
    await db?.drop();
  });

  const js = () => jetstream(nc);
  const subject = (gateway: string) => subjects(names.prefix).telemetry(gateway);
  const count = async (gateway: string) =>
    Number(
      (await hub.storage.pool.query(`SELECT count(*) FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1`, [gateway])).rows[0].count,
    );

  function makeBatch(gateway: string, seq: number, n: number, t0: number): Batch {
    return {
      v: BATCH_VERSION,
      gateway,
      seq,
      createdAt: Date.now(),
      samples: Array.from({ length: n }, (_, i) => ({ point: `dev.p${i % 10}`, time: t0 + Math.floor(i / 10) * 1000, value: i, quality: 'good' as const })),
    };
  }

  it('stores what two workers sharing the durable consumer receive, nothing lost or doubled', async () => {
    const t0 = Date.UTC(2026, 2, 1);
    for (let seq = 1; seq <= 200; seq++) {
      const b = makeBatch('gw-a', seq, 50, t0 + seq * 5000 * 1000);
      await js().publish(subject('gw-a'), encodeBatch(b), { msgID: batchMessageId(b) });
    }
    await waitFor(async () => (await count('gw-a')) === 200 * 50, 60_000, 'not every sample was stored');
    const dup = await hub.storage.pool.query(`SELECT count(*)::int AS n FROM (SELECT point_id, time FROM samples GROUP BY 1, 2 HAVING count(*) > 1) d`);
    expect(dup.rows[0].n).toBe(0);
    const info = await (await jetstreamManager(nc)).consumers.info(names.stream, names.durable);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('drops a batch published again with the same Nats-Msg-Id, and stores a resent batch once', async () => {
    const b = makeBatch('gw-b', 1, 20, Date.UTC(2026, 3, 1));
    const first = await js().publish(subject('gw-b'), encodeBatch(b), { msgID: batchMessageId(b) });
    const second = await js().publish(subject('gw-b'), encodeBatch(b), { msgID: batchMessageId(b) });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    // Outside JetStream's duplicate window the stream cannot tell; the database's key does.
    await js().publish(subject('gw-b'), encodeBatch({ ...b, seq: 2 }), { msgID: 'gw-b:2' });
    const marker = makeBatch('gw-b', 3, 1, Date.UTC(2026, 3, 2));
    await js().publish(subject('gw-b'), encodeBatch(marker), { msgID: batchMessageId(marker) });
    await waitFor(async () => (await count('gw-b')) === 21, 30_000, 'the marker batch was not stored');
    expect(await count('gw-b')).toBe(21);
  });

  it('moves an undecodable message to the dead-letter stream with the reason, and goes on', async () => {
    const poison = '{"v":1,"gateway":"gw-c","seq":"one","createdAt":0,"samples":[]}';
    await js().publish(subject('gw-c'), new TextEncoder().encode(poison), { msgID: 'poison-1' });
    const good = makeBatch('gw-c', 1, 5, Date.UTC(2026, 4, 1));
    await js().publish(subject('gw-c'), encodeBatch(good), { msgID: batchMessageId(good) });
    await waitFor(async () => (await count('gw-c')) === 5, 30_000, 'the good batch after the poison one was not stored');
    const jsm = await jetstreamManager(nc);
    const dead = await waitFor(
      async () => {
        const info = await jsm.streams.info(deadLetterStream(names));
        return info.state.messages === 1 ? info : undefined;
      },
      10_000,
      'nothing in the dead-letter stream',
    );
    const msg = await jsm.streams.getMessage(deadLetterStream(names), { seq: dead.state.first_seq });
    expect(msg?.header?.get('CityPilot-Reason')).toBe('batch is malformed at seq: Expected integer');
    expect(msg?.header?.get('CityPilot-Subject')).toBe(subject('gw-c'));
    expect(new TextDecoder().decode(msg?.data)).toBe(poison);
    // Settled: it leaves the stream, and nothing waits for it any more.
    await waitFor(async () => (await jsm.streams.info(names.stream)).state.messages === 0, 10_000, 'the dead-lettered message is still in the stream');
  });

  it('moves a batch without a message id, or on a subject that names no gateway, to the dead-letter stream with the reason', async () => {
    const jsm = await jetstreamManager(nc);
    const deadBefore = (await jsm.streams.info(deadLetterStream(names))).state.last_seq;
    const noId = makeBatch('gw-e', 1, 3, Date.UTC(2026, 6, 1));
    await js().publish(subject('gw-e'), encodeBatch(noId));
    const deeper = makeBatch('gw-e', 2, 3, Date.UTC(2026, 6, 2));
    await js().publish(`${subject('gw-e')}.extra`, encodeBatch(deeper), { msgID: batchMessageId(deeper) });
    const good = makeBatch('gw-e', 3, 4, Date.UTC(2026, 6, 3));
    await js().publish(subject('gw-e'), encodeBatch(good), { msgID: batchMessageId(good, 'k3y') });
    await waitFor(async () => (await count('gw-e')) === 4, 30_000, 'the good batch was not stored');
    const reasons = await waitFor(
      async () => {
        const info = await jsm.streams.info(deadLetterStream(names));
        if (info.state.last_seq < deadBefore + 2) return undefined;
        const out: string[] = [];
        for (let seq = deadBefore + 1; seq <= info.state.last_seq; seq++)
          out.push((await jsm.streams.getMessage(deadLetterStream(names), { seq }))!.header!.get('CityPilot-Reason'));
        return out;
      },
      10_000,
      'the refused batches are not in the dead-letter stream',
    );
    expect(reasons.sort()).toEqual([
      `the batch 1 of gateway "gw-e" has no message id (Nats-Msg-Id): expected gw-e:<key>:1`,
      `the subject ${subject('gw-e')}.extra is not a gateway's telemetry subject: expected ${subject('<gateway id>')}`,
    ]);
    expect(await count('gw-e')).toBe(4);
  });

  it('moves a batch the database refuses to the dead-letter stream, and stores the batches written with it', async () => {
    const jsm = await jetstreamManager(nc);
    const deadBefore = (await jsm.streams.info(deadLetterStream(names))).state.messages;
    const t0 = Date.UTC(2026, 5, 1);
    const refused = makeBatch('gw-d', 2, 3, t0 + 60_000);
    refused.samples[1]!.value = 'a NUL \u0000 PostgreSQL cannot store';
    const batches = [makeBatch('gw-d', 1, 10, t0), refused, makeBatch('gw-d', 3, 10, t0 + 120_000)];
    // Published together, they are likely to be written in one transaction first.
    await Promise.all(batches.map((b) => js().publish(subject('gw-d'), encodeBatch(b), { msgID: batchMessageId(b) })));
    await waitFor(async () => (await count('gw-d')) === 20, 30_000, 'the batches sent with the refused one were not stored');
    const dead = await waitFor(
      async () => {
        const info = await jsm.streams.info(deadLetterStream(names));
        return info.state.messages === deadBefore + 1 ? info : undefined;
      },
      10_000,
      'the refused batch is not in the dead-letter stream',
    );
    const msg = await jsm.streams.getMessage(deadLetterStream(names), { seq: dead.state.last_seq });
    expect(msg?.header?.get('CityPilot-Reason')).toMatch(/^the database refused the batch: .*0x00/);
    expect(JSON.parse(new TextDecoder().decode(msg?.data))).toMatchObject({ gateway: 'gw-d', seq: 2 });
    // Acknowledgements follow the commits: wait for them rather than for the rows.
    await waitFor(
      async () => {
        const info = await jsm.consumers.info(names.stream, names.durable);
        return info.num_pending + info.num_ack_pending === 0;
      },
      10_000,
      'some messages were never acknowledged',
    );
  });
});
