import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, spawnCli } from '../testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('citypilot hub account', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const cli = spawnCli(['hub', 'account', ...args], { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn', CITYPILOT_PASSWORD: '', ...env });
    return { code: await cli.exited, output: cli.output() };
  };
  const signIn = (username: string, password: string) => app.inject({ method: 'POST', url: '/api/session', payload: { username, password } });

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'account_cli');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close();
    await db?.drop();
  });

  it('adds an account with the password of CITYPILOT_PASSWORD, or a made-up one printed once, lists and disables it', async () => {
    const given = await run(['add', 'claire', '--role', 'director', '--name', 'Claire Directrice', '--email', 'claire@ville.fr'], {
      CITYPILOT_PASSWORD: 'the director password',
    });
    expect(given.code, given.output).toBe(0);
    expect(given.output).toContain('Account claire created: role director, name "Claire Directrice", email claire@ville.fr.');
    expect(given.output).not.toContain('the director password');
    expect((await signIn('claire', 'the director password')).json()).toMatchObject({
      user: { username: 'claire', name: 'Claire Directrice', role: 'director' },
    });

    const made = await run(['add', 'tom', '--role', 'technician', '--sites', 'nord,centre']);
    expect(made.code, made.output).toBe(0);
    const password = made.output.split('\n')[0]!;
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect((await signIn('tom', password)).json()).toMatchObject({ user: { role: 'technician', sites: ['centre', 'nord'] } });

    const listed = await run(['list']);
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(/^claire +director +\* +Claire Directrice +claire@ville.fr +password +\S+Z +-$/m);
    expect(listed.output).toMatch(/^tom +technician +centre,nord +tom +- +password/m);
    expect(listed.output).not.toContain(password);

    expect((await run(['disable', 'tom'])).output).toContain('The account tom is disabled');
    expect((await signIn('tom', password)).statusCode).toBe(403);
  });

  it('refuses bad arguments before opening the database, saying what is expected', async () => {
    for (const [args, problem] of [
      [['add', 'Bad Name', '--role', 'agent'], /username "Bad Name" must be 1 to 64 lowercase/],
      [['add', 'sam'], /--role is required/],
      [['add', 'sam', '--role', 'technician'], /a technician needs the sites/],
      [['add', 'sam', '--role', 'chief'], /unknown role "chief"/],
      [['disable', 'nobody'], /no account has the username "nobody"/],
    ] as const) {
      const result = await run([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.output).toMatch(problem);
    }
    const short = await run(['add', 'sam', '--role', 'agent'], { CITYPILOT_PASSWORD: 'short' });
    expect(short.code).toBe(2);
    expect(short.output).toMatch(/at least 12 characters/);
  });
});
