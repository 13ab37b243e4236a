import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeAssignments, pluginKeyId } from '@citypilot/wire';
import { buildApi } from '../api.js';
import { createToken } from '../auth/tokens.js';
import { runHubCli } from '../commands.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, natsConnection, uniqueStreamNames, uniqueSuffix } from '../testing/index.js';
import { buildPackage } from './testing.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** `citypilot hub plugin …` through runHubCli on a real database and NATS, and GET /api/fleet/plugins. */
describe('citypilot hub plugin, and the API of the plugins', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let dir: string;
  const saved: Record<string, string | undefined> = {};
  const env = {
    CITYPILOT_SUBJECT_PREFIX: uniqueStreamNames('plugincli').prefix,
    CITYPILOT_PLUGIN_BUCKET: `cptest-plugins-${uniqueSuffix()}`,
    CITYPILOT_FLEET_BUCKET: `cptest-fleet-${uniqueSuffix()}`,
    CITYPILOT_PLUGIN_KEY: undefined as string | undefined,
  };
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runHubCli(['plugin', ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'plugin_cli');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'citypilot-plugin-cli-'));
    for (const [name, value] of Object.entries({ ...env, DATABASE_URL: db.url, NATS_URL: inject('natsUrl') })) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    const nc = await natsConnection(inject('natsUrl'));
    const jsm = await jetstreamManager(nc);
    for (const stream of [`OBJ_${env.CITYPILOT_PLUGIN_BUCKET}`, `KV_${env.CITYPILOT_FLEET_BUCKET}`]) await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
    await storage?.close();
    await db?.drop();
  });

  it('makes a signing key once, publishes, groups, assigns and lists', async () => {
    const keys = join(dir, 'keys');
    const made = await run('keygen', keys);
    expect(made.code, made.err).toBe(0);
    const keyFile = join(keys, 'plugin-signing.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const keyId = pluginKeyId(createPublicKey(readFileSync(join(keys, 'plugin-signing.pub'))));
    expect(pluginKeyId(createPublicKey(createPrivateKey(readFileSync(keyFile))))).toBe(keyId);
    expect(made.out).toContain(`key ${keyId}`);
    expect(await run('keygen', keys)).toMatchObject({ code: 1, err: expect.stringContaining('plugin-signing.key exists') });

    const file = join(dir, 'http-json-1.0.0.tgz');
    writeFileSync(file, await buildPackage());
    const published = await run('publish', file, '--key', keyFile);
    expect(published.code, published.err).toBe(0);
    expect(published.out).toMatch(new RegExp(`^published http-json 1\\.0\\.0 \\(sha256 [0-9a-f]{64}, key ${keyId}\\)$`));
    process.env.CITYPILOT_PLUGIN_KEY = keyFile;
    expect((await run('publish', file)).out).toMatch(/^already published http-json 1\.0\.0/);
    delete process.env.CITYPILOT_PLUGIN_KEY;

    expect(await run('group', 'pilots', 'gw-a', 'gw-b')).toMatchObject({ code: 0, out: 'group pilots: gw-a, gw-b' });
    const assigned = await run('assign', 'http-json', '1.0.0', '--group', 'pilots', '--promote-after', '10m');
    expect(assigned.code, assigned.err).toBe(0);
    expect(assigned.out).toMatch(/^rollout \d+: http-json 1\.0\.0 assigned to gw-a, gw-b; every gateway after 600 s/);
    const nc = await natsConnection(inject('natsUrl'));
    const entry = await (await new Kvm(nc).open(env.CITYPILOT_FLEET_BUCKET)).get('gw-b');
    await nc.close();
    expect(decodeAssignments(entry!.value).plugins.map((p) => `${p.id}@${p.version}`)).toEqual(['http-json@1.0.0']);

    const listed = await run('list');
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`^http-json +1\\.0\\.0 +\\^0\\.1\\.0 +\\d+ +[0-9a-f]{12} +${keyId} `, 'm'));
    expect(listed.out).toMatch(/^\d+ +http-json +1\.0\.0 +canary +gw-a,gw-b +600s /m);
  });

  it('says what is wrong in one line: usage errors exit 2, refusals 1', async () => {
    expect((await run()).code).toBe(2);
    expect(await run('frobnicate')).toMatchObject({ code: 2, err: expect.stringContaining('unknown plugin command "frobnicate"') });
    expect(await run('publish', 'x.tgz')).toMatchObject({ code: 2, err: expect.stringContaining('the signing key is missing') });
    expect(await run('assign', 'http-json', '1.0.0')).toMatchObject({ code: 2, err: expect.stringContaining('--gateways G,G… or --group NAME') });
    expect(await run('assign', 'http-json', '1.0.0', '--gateways', 'a', '--promote-after', 'soon')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--promote-after: expected a duration'),
    });
    expect((await run('group', 'pilots')).code).toBe(2);
    expect((await run('list', 'extra')).code).toBe(2);
    const keyFile = join(dir, 'keys', 'plugin-signing.key');
    expect(await run('publish', join(dir, 'none.tgz'), '--key', keyFile)).toEqual({
      code: 1,
      out: '',
      err: expect.stringMatching(/none\.tgz: cannot read the file \(ENOENT\)$/),
    });
    writeFileSync(join(dir, 'junk.tgz'), 'junk');
    const junk = await run('publish', join(dir, 'junk.tgz'), '--key', keyFile);
    expect(junk).toMatchObject({ code: 1, err: expect.stringMatching(/^citypilot hub plugin: not a readable npm \.tgz/) });
    expect(junk.err.split('\n')).toHaveLength(1);
    expect(await run('publish', join(dir, 'junk.tgz'), '--key', join(dir, 'junk.tgz'))).toMatchObject({
      code: 1,
      err: expect.stringContaining('not a private key'),
    });
    expect(await run('assign', 'http-json', '7.0.0', '--gateways', 'gw-a')).toMatchObject({
      code: 1,
      err: expect.stringContaining('http-json 7.0.0 is not published'),
    });
    expect(await run('group', 'Pilots', 'gw-a')).toMatchObject({ code: 1, err: expect.stringContaining('expected an id') });
  });

  it('lists packages, rollouts and assignments at GET /api/fleet/plugins, for operators only', async () => {
    const app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
    try {
      const operator = (await createToken(storage.pool, { role: 'operator', label: 'ops' }, 'test')).token;
      const director = (await createToken(storage.pool, { role: 'director', label: 'dir' }, 'test')).token;
      expect((await app.inject({ url: '/api/fleet/plugins' })).statusCode).toBe(401);
      expect((await app.inject({ url: '/api/fleet/plugins', headers: { authorization: `Bearer ${director}` } })).statusCode).toBe(403);
      const response = await app.inject({ url: '/api/fleet/plugins', headers: { authorization: `Bearer ${operator}` } });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.packages).toEqual([
        expect.objectContaining({ id: 'http-json', version: '1.0.0', sdk: '^0.1.0', publishedBy: expect.stringMatching(/^cli:/) }),
      ]);
      expect(body.packages[0]).not.toHaveProperty('signature');
      expect(body.rollouts).toEqual([
        expect.objectContaining({
          plugin: 'http-json',
          version: '1.0.0',
          state: 'canary',
          canary: ['gw-a', 'gw-b'],
          promoteAfterS: 600,
          healthySince: null,
          reason: null,
        }),
      ]);
      expect(body.assignments).toEqual([
        { gateway: 'gw-a', plugin: 'http-json', version: '1.0.0' },
        { gateway: 'gw-b', plugin: 'http-json', version: '1.0.0' },
      ]);
    } finally {
      await app.close();
    }
  });
});
