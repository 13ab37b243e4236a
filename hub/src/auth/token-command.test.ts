import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { runHubCli } from '../commands.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, spawnCli, waitFor } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('citypilot hub token', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  const run = async (...args: string[]) => {
    const cli = spawnCli(['hub', 'token', ...args], { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
    return { code: await cli.exited, output: cli.output() };
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'token_cli');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, auth: { cacheTtlMs: 300 } });
    app.register(async (api) => api.get('/test/whoami', async (request) => request.principal));
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('creates a token that works, lists tokens without their secrets, revokes a token', async () => {
    const created = await run('create', '--role', 'operator', '--label', 'hub operator laptop');
    expect(created.code).toBe(0);
    expect(created.output).toContain('it will not be shown again');
    const token = created.output.match(/^cp_\d+_[A-Za-z0-9_-]{43}$/m)?.[0];
    expect(token, created.output).toBeDefined();
    const id = token!.split('_')[1]!;
    const audit = () => app.inject({ url: '/api/audit', headers: { authorization: `Bearer ${token}` } });
    expect((await audit()).statusCode).toBe(200);

    const listed = await run('list');
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(new RegExp(`^${id} +operator +\\* +hub operator laptop +\\S+Z +cli:\\S+ +\\S+ +-$`, 'm'));
    expect(listed.output).not.toContain(token!.slice(-43));

    const revoked = await run('revoke', id);
    expect(revoked.code).toBe(0);
    expect(revoked.output).toContain(`Token ${id} (role operator, label "hub operator laptop") revoked`);
    await waitFor(async () => (await audit()).statusCode === 401, 5000, 'the revoked token is still accepted');
    expect((await audit()).json()).toMatchObject({ code: 'TOKEN_REVOKED' });
    expect((await run('list')).output).toMatch(new RegExp(`^${id} .* \\d{4}-\\d\\d-\\d\\dT\\S+Z$`, 'm'));
  });

  it('gives a technician token its sites', async () => {
    const created = await run('create', '--role', 'technician', '--label', 'boiler room', '--sites', 'centre-ville,quartier-nord');
    expect(created.code).toBe(0);
    const token = created.output.match(/^cp_\d+_\S+$/m)![0];
    expect(created.output).toContain('Note: not in the catalog yet: centre-ville, quartier-nord');
    expect((await app.inject({ url: '/test/whoami', headers: { authorization: `Bearer ${token}` } })).json()).toMatchObject({
      role: 'technician',
      sites: ['centre-ville', 'quartier-nord'],
    });
  });

  it.each([
    [
      ['create', '--role', 'mayor', '--label', 'x'],
      'citypilot hub token: unknown role "mayor": the roles are admin, operator, technician, director, elected, agent',
    ],
    [
      ['create', '--role', 'public', '--label', 'x'],
      'citypilot hub token: public is the role of calls without a token; a token has one of the roles admin, operator, technician, director, elected, agent',
    ],
    [
      ['create', '--role', 'technician', '--label', 'x'],
      'citypilot hub token: a technician token needs the sites it may act on (site keys of the catalog, e.g. centre-ville,quartier-nord)',
    ],
    [
      ['create', '--role', 'director', '--label', 'x', '--sites', 'centre-ville'],
      'citypilot hub token: sites apply to technician tokens only: a director token covers every site',
    ],
    [
      ['create', '--role', 'technician', '--label', 'x', '--sites', 'Centre Ville'],
      'citypilot hub token: not a site key: "Centre Ville" (lowercase letters, digits, - and _)',
    ],
    [['create', '--role', 'operator', '--label', '  '], 'citypilot hub token: the label must not be empty: say who or what the token is for'],
    [['create', '--label', 'x'], 'citypilot hub token: --role is required: one of admin, operator, technician, director, elected, agent'],
    [['create', '--role', 'operator'], 'citypilot hub token: --label is required'],
    [['create', '--role', 'operator', '--label', 'x', '--expires', '1d'], "citypilot hub token: Unknown option '--expires'"],
    [['revoke', 'cp_1'], 'citypilot hub token: a token id is a number as `citypilot hub token list` shows it, not "cp_1"'],
    [['revoke'], 'citypilot hub token: hub token revoke takes one token id'],
    [['rotate'], 'citypilot hub token: unknown token command "rotate"'],
  ])('exits 2 on %j, saying why before opening the database', async (args, message) => {
    const err: string[] = [];
    const code = await runHubCli(['token', ...args], { out: () => undefined, err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err.join('\n').startsWith(message), err.join('\n')).toBe(true);
  });

  it('exits 2 for an id that no token has', async () => {
    expect(await run('revoke', '999999')).toEqual({ code: 2, output: 'citypilot hub token: no token has the id 999999\n' });
  });
});
