import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { BATCH_VERSION, decodeBatch, encodeBatch, type Sample } from '@citypilot/sdk';
import { createGatewayMetrics } from '../status/metrics.js';
import { announcementParts, Outbox, type OutboxOptions } from './outbox.js';
import { OUTBOX_FILE, OutboxStore } from './outbox-store.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** NATS server with JetStream for this test run. */
    natsUrl: string;
  }
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const suffix = `${process.pid}_${Date.now().toString(36)}`;

function samples(from: number, count: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    point: `dev.p${(from + i) % 7}`,
    time: 1_700_000_000_000 + (from + i) * 1000,
    value: from + i,
    quality: 'good' as const,
  }));
}

/** A TCP relay in front of NATS that can be cut and restored: a real outage, seen from the client. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(this.target.port || 4222), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const closed = new Promise((resolve) => this.server?.close(resolve));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

describe('the durable outbox against a real JetStream', () => {
  const natsUrl = new URL(inject('natsUrl').replace(/^nats:/, 'http:'));
  const dirs: string[] = [];
  const stream = `CPTEST_OUTBOX_${suffix}`;
  const prefix = `cptest.outbox.${suffix}`;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: inject('natsUrl') });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], duplicate_window: 120_000_000_000 });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'citypilot-outbox-'));
    dirs.push(d);
    return d;
  };
  // Each test's gateway has its own id: message ids are deduplicated across the whole stream.
  const outbox = (subject: string, dataDir: string, js: () => JetStreamClient | undefined, over: Partial<OutboxOptions> = {}) => {
    const o = new Outbox({
      js,
      gatewayId: subject.split('.').at(-1)!,
      subject,
      dataDir,
      logger: quiet,
      metrics: createGatewayMetrics(),
      maxSamples: 1_000_000,
      maxBytes: 1 << 30,
      maxSamplesPerSecond: 100_000,
      batchMaxSamples: 50,
      batchMaxDelayMs: 20,
      ...over,
    });
    cleanups.push(() => o.stop(0));
    return o;
  };
  /** The stream's messages on `subject`, in stream order, with their message ids. */
  const received = async (subject: string) => {
    const info = await jsm.streams.info(stream);
    const out: { id: string | undefined; seq: number; samples: Sample[] }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!msg || msg.subject !== subject) continue;
      const batch = decodeBatch(msg.data);
      out.push({ id: msg.header?.get('Nats-Msg-Id'), seq: batch.seq, samples: batch.samples });
    }
    return out;
  };

  it('holds samples while NATS is unreachable, then sends them all in order, once', async () => {
    const subject = `${prefix}.outage`;
    const relay = new Relay(natsUrl);
    await relay.up();
    cleanups.push(() => relay.down());
    const client = await connect({ servers: `nats://127.0.0.1:${relay.port}`, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    cleanups.push(() => client.close());
    const js = jetstream(client);
    const box = outbox(subject, tempDir(), () => js, { maxSamplesPerSecond: 2000 });
    box.start();
    const sent = samples(0, 40);
    expect(box.push(sent)).toBe(40);
    await expect.poll(() => box.depth(), { timeout: 10_000 }).toBe(0);

    await relay.down();
    for (let i = 1; i <= 10; i++) {
      const more = samples(i * 40, 40);
      expect(box.push(more)).toBe(40);
      sent.push(...more);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Publishes wait for the connection and time out: visible on the status page, nothing lost.
    await expect.poll(() => box.status().lastError, { timeout: 15_000 }).not.toBeNull();
    expect(box.depth()).toBe(400);
    await relay.up();
    await expect.poll(() => box.depth(), { timeout: 30_000 }).toBe(0);

    const messages = await received(subject);
    expect(messages.flatMap((m) => m.samples)).toEqual(sent);
    const seqs = messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    // `<gateway>:<key>:<seq>`, one key for the whole outbox.
    const key = messages[0]!.id!.split(':')[1];
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(messages.map((m) => m.id)).toEqual(messages.map((m) => `outage:${key}:${m.seq}`));
    expect(box.status()).toMatchObject({ depth: 0, dropped: 0, lastSeq: seqs.at(-1), lastError: null });
  });

  it('when full, refuses the newest samples and counts them, keeping what it accepted', async () => {
    const subject = `${prefix}.full`;
    const dir = tempDir();
    // NATS connected only once the outbox is full.
    const link: { js?: JetStreamClient } = {};
    const metrics = createGatewayMetrics();
    const box = outbox(subject, dir, () => link.js, { maxSamples: 10, metrics });
    box.start();
    expect(box.push(samples(0, 7))).toBe(7);
    expect(box.push(samples(7, 7))).toBe(3);
    expect(box.push(samples(14, 1))).toBe(0);
    expect(box.status()).toMatchObject({ depth: 10, dropped: 5 });
    expect((await metrics.samplesDropped.get()).values[0]?.value).toBe(5);

    link.js = jetstream(nc);
    await expect.poll(() => box.depth(), { timeout: 10_000 }).toBe(0);
    expect((await received(subject)).flatMap((m) => m.samples)).toEqual(samples(0, 10));
    // Room again once forwarded.
    expect(box.push(samples(20, 2))).toBe(2);

    // The byte bound refuses the same way.
    const small = outbox(`${prefix}.bytes`, tempDir(), () => undefined, { maxBytes: 2 * JSON.stringify(samples(0, 1)[0]).length + 5 });
    expect(small.push(samples(0, 5))).toBe(2);
    expect(small.status().dropped).toBe(3);
  });

  it('forwards no faster than its rate limit when it has a backlog', async () => {
    const box = outbox(`${prefix}.rate`, tempDir(), () => jetstream(nc), { maxSamplesPerSecond: 100 });
    expect(box.push(samples(0, 300))).toBe(300);
    box.start();
    await new Promise((r) => setTimeout(r, 1000));
    // 100 samples/s in batches of 50: three batches at most in the first second, however fast
    // the machine (a slower one only sends fewer).
    expect(box.depth()).toBeGreaterThanOrEqual(150);
  });

  it("sends the point list of a large gateway in parts that each fit the server's message limit", async () => {
    const subject = `${prefix}.telemetry.large`;
    const js = jetstream(nc);
    const big = outbox(subject, tempDir(), () => js);
    // 6,000 points: about 1.2 MB of definitions, beyond NATS's default max_payload (1 MiB).
    const points = Array.from({ length: 6000 }, (_, i) => ({
      id: `ahu-${Math.floor(i / 100)}.point-with-a-descriptive-id-${i}`,
      name: `Air handling unit ${Math.floor(i / 100)}, supply air temperature sensor ${i}`,
      unit: '°C',
      kind: 'number' as const,
      tags: ['air', 'temp', 'sensor', 'supply'],
      source: { plugin: 'modbus', device: `ahu-${Math.floor(i / 100)}`, address: { table: 'holding', address: i, type: 'float32', order: 'CDAB' } },
      intervalMs: 60_000,
    }));
    expect(Buffer.byteLength(JSON.stringify(points))).toBeGreaterThan(nc.info!.max_payload);
    big.announcePoints(points, 'town-hall');
    big.start();
    big.push(samples(0, 10));
    const sent = async () => {
      const info = await jsm.streams.info(stream);
      const found = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (msg?.subject === subject) found.push(decodeBatch(msg.data));
      }
      return found;
    };
    await expect.poll(async () => (await sent()).some((b) => b.pointIds), { timeout: 20_000 }).toBe(true);
    expect(big.depth()).toBe(0);
    expect(big.status().lastError).toBeNull();
    const batches = await sent();
    const parts = batches.filter((b) => b.points);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.flatMap((b) => b.points)).toEqual(points);
    expect(parts.at(-1)!.pointIds).toEqual(points.map((p) => p.id));
    expect(batches.flatMap((b) => b.samples)).toEqual(samples(0, 10));
  });

  it('after a restart, resends the batch it had built under the same message id, and numbering goes on', async () => {
    const subject = `${prefix}.restart`;
    const dir = tempDir();
    // No stream listens on this subject: the batch is built, stored and never acknowledged.
    const js = jetstream(nc, { timeout: 500 });
    const first = outbox(`${prefix}-unrouted.restart`, dir, () => js);
    first.start();
    first.push(samples(0, 30));
    await expect.poll(() => first.status().lastError, { timeout: 10_000 }).not.toBeNull();
    expect(await first.stop(0)).toBe(30);

    // What the file holds: the batch as it will be sent again.
    const store = new OutboxStore(dir);
    const pending = store.pendingBatch()!;
    const key = store.messageIdKey;
    store.close();
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(pending.samples).toBe(30);
    const before = decodeBatch(pending.payload);
    // As if the first process had reached the stream but died before recording the ack.
    await js.publish(subject, pending.payload, { msgID: `restart:${key}:${pending.seq}` });

    const metrics = createGatewayMetrics();
    const second = outbox(subject, dir, () => js, { metrics });
    expect(second.depth()).toBe(30);
    second.start();
    await expect.poll(() => second.depth(), { timeout: 10_000 }).toBe(0);
    expect((await metrics.batchesDuplicate.get()).values[0]?.value).toBe(1);
    second.push(samples(30, 5));
    await expect.poll(() => second.depth(), { timeout: 10_000 }).toBe(0);

    const messages = await received(subject);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toEqual({ id: `restart:${key}:${before.seq}`, seq: before.seq, samples: before.samples });
    expect(messages[1]!.seq).toBeGreaterThan(before.seq);
    expect(messages[1]!.id).toBe(`restart:${key}:${messages[1]!.seq}`);
    expect(messages.flatMap((m) => m.samples)).toEqual(samples(0, 35));
  });
});

describe('the message ids of an outbox', () => {
  const dirs = [
    mkdtempSync(join(tmpdir(), 'citypilot-outbox-key-')),
    mkdtempSync(join(tmpdir(), 'citypilot-outbox-key-')),
    mkdtempSync(join(tmpdir(), 'citypilot-outbox-key-')),
  ];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps its secret key across reopenings, and no two outboxes share one', () => {
    const keyOf = (dir: string) => {
      const store = new OutboxStore(dir);
      try {
        return store.messageIdKey;
      } finally {
        store.close();
      }
    };
    const first = keyOf(dirs[0]!);
    expect(keyOf(dirs[0]!)).toBe(first);
    expect(keyOf(dirs[1]!)).not.toBe(first);
  });

  it('gives a key to a file written before keys, keeping its batch and its numbering', () => {
    // The schema of outboxes before the key, with a batch built and not yet acknowledged.
    const old = new Database(join(dirs[2]!, OUTBOX_FILE));
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
      CREATE TABLE samples (id INTEGER PRIMARY KEY, sample TEXT NOT NULL) STRICT;
      CREATE TABLE batches (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, samples INTEGER NOT NULL) STRICT;
    `);
    const payload = encodeBatch({ v: BATCH_VERSION, gateway: 'upgraded', seq: 7, createdAt: 0, samples: samples(0, 2) });
    old.prepare('INSERT INTO batches (seq, payload, samples) VALUES (?, ?, ?)').run(7, payload, 2);
    old.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('seq', 7);
    old.close();

    const store = new OutboxStore(dirs[2]!);
    try {
      expect(store.messageIdKey).toMatch(/^[0-9a-f]{32}$/);
      expect(store.pendingBatch()).toEqual({ seq: 7, payload: new Uint8Array(payload), samples: 2 });
      store.append(samples(2, 1), { maxSamples: 100, maxBytes: 1 << 20 });
      expect(store.buildBatch(10, (seq, s) => ({ v: BATCH_VERSION, gateway: 'upgraded', seq, createdAt: 0, samples: s })).seq).toBe(8);
    } finally {
      store.close();
    }
  });
});

describe('one gateway per outbox file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-outbox-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second user of the same dataDir, in this process or another, until the first closes or dies', async () => {
    const first = new OutboxStore(dir);
    first.append([{ point: 'd.p', time: 1000, value: 1, quality: 'good' }], { maxSamples: 1000, maxBytes: 1 << 20 });
    expect(() => new OutboxStore(dir)).toThrow(/is in use by another process .*give each gateway its own dataDir/);
    // Another process, as a second gateway started by mistake with the same configuration.
    const script = `import('${new URL('./outbox-store.js', import.meta.url).href}').then(({ OutboxStore }) => {
      try { new OutboxStore(${JSON.stringify(dir)}); console.log('opened'); } catch (e) { console.log(e.code + ': ' + e.message); }
    })`;
    const other = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(other.stdout).toMatch(/^OUTBOX_STORAGE: .*in use by another process/);
    first.close();
    const again = new OutboxStore(dir);
    expect(again.depth()).toBe(1);
    again.close();
  });
});

describe('the point list in batches', () => {
  const definition = (i: number) => ({
    id: `device.point-${i}`,
    name: `Point ${i}`,
    kind: 'number' as const,
    tags: ['elec'],
    source: { plugin: 'modbus', device: 'device', address: { table: 'holding', address: i } },
  });

  it('goes whole when it fits, and in parts each within the bound otherwise, the last with every id', () => {
    const points = Array.from({ length: 5000 }, (_, i) => definition(i));
    expect(announcementParts(points.slice(0, 10), 256 * 1024)).toEqual([{ points: points.slice(0, 10) }]);
    const parts = announcementParts(points, 256 * 1024);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.flatMap((p) => p.points)).toEqual(points);
    parts.forEach((p, i) => {
      expect(p.pointsPart).toEqual({ index: i + 1, count: parts.length });
      expect(Buffer.byteLength(JSON.stringify(p.points))).toBeLessThanOrEqual(256 * 1024);
      expect(p.pointIds).toEqual(i === parts.length - 1 ? points.map((x) => x.id) : undefined);
    });
    // A single definition beyond the bound still goes, alone.
    expect(announcementParts(points.slice(0, 2), 10).map((p) => p.points!.length)).toEqual([1, 1]);
  });
});
