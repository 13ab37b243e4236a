import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, waitFor } from '../testing/index.js';
import { createAccount, disableAccount } from './accounts.js';
import { createToken } from './tokens.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const PASSWORD = 'correct horse battery';

/** One answer of the hub over real HTTP, with its Set-Cookie headers. */
interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
  cookies: string[];
}

/** Calls the hub at `base`, as a browser would: the session cookie and CSRF header when given. */
async function call(
  base: string,
  path: string,
  options: { method?: string; json?: unknown; cookie?: string; csrf?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers['content-type'] ??= 'application/json';
  if (options.cookie) headers.cookie = options.cookie;
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  const response = await fetch(base + path, {
    method: options.method ?? 'GET',
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
    redirect: 'manual',
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers, cookies: response.headers.getSetCookie() };
}

/** `cp_session=<value>` of a Set-Cookie header, as a Cookie header. */
function sessionCookie(answer: Answer): string {
  const header = answer.cookies.find((c) => c.startsWith('cp_session='));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(answer.cookies)}`);
  return header.split(';')[0]!;
}

describe('hub API: people sign in to sessions', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: ReturnType<typeof buildApi>;
  let strict: ReturnType<typeof buildApi>;
  let base: string;
  let strictBase: string;

  const signIn = async (username: string, password = PASSWORD, at = base) => call(at, '/api/session', { method: 'POST', json: { username, password } });
  const session = async (username: string) => {
    const answer = await signIn(username);
    expect(answer.status).toBe(200);
    return { cookie: sessionCookie(answer), csrf: (answer.body as { csrfToken: string }).csrfToken };
  };
  const auditRows = async () =>
    (
      await storage.pool.query<{ principal_id: string; principal_name: string | null; route: string; method: string; status_code: number; summary: unknown }>(
        'SELECT * FROM api_audit ORDER BY id',
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'sessions');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    await importCatalog(storage.pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [
        { id: 'nord', name: 'Quartier nord', buildings: [{ id: 'school-nord', name: 'École nord', usage: 'school', area: 1200 }] },
        { id: 'centre', name: 'Centre-ville', buildings: [{ id: 'town-hall', name: 'Hôtel de ville', usage: 'town-hall', area: 3000 }] },
      ],
    });
    await createAccount(storage.pool, { username: 'admin', name: 'Alice Admin', role: 'admin', password: PASSWORD });
    await createAccount(storage.pool, { username: 'director', name: 'Denis Directeur', role: 'director', password: PASSWORD });
    await createAccount(storage.pool, { username: 'tech', name: 'Théo Technicien', role: 'technician', sites: ['nord'], password: PASSWORD });
    await createAccount(storage.pool, { username: 'gone', name: 'Gaston Parti', role: 'operator', password: PASSWORD });
    await disableAccount(storage.pool, 'gone');
    // The proxy on loopback is trusted: X-Forwarded-Proto says HTTPS, X-Forwarded-For the client.
    app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, trustProxy: '127.0.0.1', audit: { windowMs: 60_000 } });
    strict = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true, trustProxy: '127.0.0.1', sessions: { login: { failures: 3 } } });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    strictBase = await strict.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await strict?.close();
    await storage?.close();
    await db?.drop();
  });

  it('signs in with the right password: the user, a CSRF token and an HttpOnly, SameSite=Lax cookie whose hash alone is stored', async () => {
    const answer = await signIn('director');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      user: { username: 'director', name: 'Denis Directeur', role: 'director', sites: null },
      csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      oidc: { enabled: false, label: null },
    });
    const header = answer.cookies.find((c) => c.startsWith('cp_session='))!;
    expect(header.split(/; */).slice(1).sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Lax']);
    const value = sessionCookie(answer).slice('cp_session='.length);
    const { rows } = await storage.pool.query<{ id_hash: Buffer }>(`SELECT * FROM sessions WHERE username = 'director'`);
    expect(rows.map((r) => r.id_hash.toString('hex'))).toContain(createHash('sha256').update(value).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(value);

    const again = await call(base, '/api/session', { cookie: sessionCookie(answer) });
    expect(again.body).toEqual(answer.body);
    expect((await call(base, '/api/session')).body).toEqual({ user: null, csrfToken: null, oidc: { enabled: false, label: null } });
  });

  it('marks the cookie Secure when the request came over HTTPS (through a trusted proxy)', async () => {
    const answer = await call(base, '/api/session', {
      method: 'POST',
      json: { username: 'director', password: PASSWORD },
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(answer.status).toBe(200);
    expect(answer.cookies.find((c) => c.startsWith('cp_session='))).toMatch(/; Secure/);
  });

  it('answers a wrong password and an unknown user the same, and a disabled account only to its right password', async () => {
    const wrong = await signIn('director', 'not the password at all');
    const unknown = await signIn('nobody-here', PASSWORD);
    for (const answer of [wrong, unknown]) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'wrong username or password', code: 'LOGIN_REFUSED' });
      expect(answer.cookies).toEqual([]);
    }
    expect((await signIn('gone', 'not the password at all')).body).toEqual({ error: 'wrong username or password', code: 'LOGIN_REFUSED' });
    const disabled = await signIn('gone');
    expect(disabled.status).toBe(403);
    expect(disabled.body).toMatchObject({ code: 'ACCOUNT_DISABLED' });
    expect(disabled.cookies).toEqual([]);
  });

  it('takes a sign-in only as JSON, which a form of another site cannot send', async () => {
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `username=director&password=${PASSWORD}`],
      ['text/plain', JSON.stringify({ username: 'director', password: PASSWORD })],
    ]) {
      const response = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': type! }, body });
      expect(response.status, type).toBe(415);
      expect(await response.json()).toMatchObject({ code: 'CONTENT_TYPE_JSON_REQUIRED' });
    }
    const extra = await call(base, '/api/session', { method: 'POST', json: { username: 'director', password: PASSWORD, role: 'admin' } });
    // Properties other than username and password are dropped, never read.
    expect(extra.body).toMatchObject({ user: { username: 'director', role: 'director' } });
  });

  it('treats an unknown or expired cookie as anonymous and clears it, never 401', async () => {
    for (const cookie of ['cp_session=garbage', `cp_session=${'A'.repeat(43)}`]) {
      const answer = await call(base, '/api/buildings', { cookie });
      expect(answer.status).toBe(200);
      expect(answer.cookies.some((c) => /^cp_session=;.*Max-Age=0/.test(c))).toBe(true);
    }
    const { cookie } = await session('director');
    await storage.pool.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE username = 'director'`);
    const stale = await call(base, '/api/session', { cookie });
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ user: null });
  });

  it('pushes the idle expiry back on use, never past the absolute one', async () => {
    await createAccount(storage.pool, { username: 'busy', name: 'Bea Busy', role: 'elected', password: PASSWORD });
    const { cookie } = await session('busy');
    const expiry = async () =>
      (
        await storage.pool.query<{ idle: number; absolute: number }>(
          `SELECT extract(epoch FROM expires_at - now()) AS idle, extract(epoch FROM absolute_expires_at - now()) AS absolute FROM sessions WHERE username = 'busy'`,
        )
      ).rows[0]!;
    await storage.pool.query(
      `UPDATE sessions SET last_seen_at = now() - interval '2 minutes', expires_at = now() + interval '1 minute' WHERE username = 'busy'`,
    );
    expect((await call(base, '/api/session', { cookie })).body).toMatchObject({ user: { username: 'busy' } });
    await waitFor(async () => (await expiry()).idle > 7 * 3600, 5000, 'the idle expiry was not pushed back');
    await storage.pool.query(
      `UPDATE sessions SET last_seen_at = now() - interval '2 minutes', absolute_expires_at = now() + interval '1 hour' WHERE username = 'busy'`,
    );
    await call(base, '/api/session', { cookie });
    await waitFor(
      async () => {
        const { idle, absolute } = await expiry();
        return idle <= absolute && idle < 3600;
      },
      5000,
      'the idle expiry went past the absolute one',
    );
  });

  it('refuses a write made with the session but without its CSRF token, with nothing done; accepts and audits it with the name', async () => {
    const { cookie, csrf } = await session('admin');
    const account = { name: 'Agnès Agent', role: 'agent', password: 'a long enough password' };
    const missing = await call(base, '/api/accounts/agnes', { method: 'PUT', json: account, cookie });
    expect(missing.status).toBe(403);
    expect(missing.body).toMatchObject({ code: 'CSRF_TOKEN_MISSING' });
    const wrong = await call(base, '/api/accounts/agnes', { method: 'PUT', json: account, cookie, csrf: 'B'.repeat(43) });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ code: 'CSRF_TOKEN_MISMATCH' });
    expect((await storage.pool.query(`SELECT 1 FROM accounts WHERE username = 'agnes'`)).rowCount).toBe(0);

    const done = await call(base, '/api/accounts/agnes', { method: 'PUT', json: account, cookie, csrf });
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ username: 'agnes', name: 'Agnès Agent', role: 'agent', hasPassword: true });
    const rows = await waitFor(
      async () => {
        const found = (await auditRows()).filter((r) => r.route === '/api/accounts/:username');
        return found.length >= 3 && found;
      },
      5000,
      'the account writes were not audited',
    );
    expect(rows.map((r) => [r.principal_id, r.principal_name, r.status_code])).toEqual([
      ['account:admin', 'Alice Admin', 403],
      ['account:admin', 'Alice Admin', 403],
      ['account:admin', 'Alice Admin', 201],
    ]);
    const audit = await call(base, '/api/audit?principal=account:admin', { cookie });
    expect((audit.body as { entries: { status: number }[] }).entries.find((e) => e.status === 201)).toMatchObject({
      principal: 'account:admin',
      name: 'Alice Admin',
      method: 'PUT',
      status: 201,
      summary: { account: 'agnes', changed: ['password'] },
    });
  });

  it('lets a bearer token win over a cookie, and exempts it from the CSRF token', async () => {
    const { cookie } = await session('director');
    const { token } = await createToken(storage.pool, { role: 'admin', label: 'script' }, 'test');
    const put = await call(base, '/api/accounts/script-made', {
      method: 'PUT',
      json: { name: 'Made by a script', role: 'elected' },
      cookie,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(put.status).toBe(201);
    expect((await call(base, '/api/session', { cookie, headers: { authorization: `Bearer ${token}` } })).body).toMatchObject({ user: null });
  });

  it('ends the session on sign-out (a write: the CSRF token is needed) and clears the cookie', async () => {
    const { cookie, csrf } = await session('director');
    expect((await call(base, '/api/session', { method: 'DELETE', cookie })).status).toBe(403);
    const out = await call(base, '/api/session', { method: 'DELETE', cookie, csrf });
    expect(out.status).toBe(204);
    expect(out.cookies.some((c) => /^cp_session=;.*Max-Age=0/.test(c))).toBe(true);
    expect((await call(base, '/api/session', { cookie })).body).toMatchObject({ user: null });
  });

  it('ends the sessions of an account that is disabled', async () => {
    await createAccount(storage.pool, { username: 'leaving', name: 'Léa Départ', role: 'elected', password: PASSWORD });
    const { cookie } = await session('leaving');
    const admin = await session('admin');
    expect((await call(base, '/api/accounts/leaving', { method: 'DELETE', cookie: admin.cookie, csrf: admin.csrf })).status).toBe(204);
    expect((await call(base, '/api/session', { cookie })).body).toMatchObject({ user: null });
    expect((await call(base, '/api/accounts/nobody', { method: 'DELETE', cookie: admin.cookie, csrf: admin.csrf })).status).toBe(404);
  });

  it("gives a technician's session only its sites", async () => {
    const { cookie } = await session('tech');
    const buildings = await call(base, '/api/buildings', { cookie });
    expect((buildings.body as { id: string }[]).map((b) => b.id)).toEqual(['school-nord']);
    expect(((await call(base, '/api/buildings')).body as unknown[]).length).toBe(2);
  });

  it('keeps the accounts API to admins, and never answers nor records a password', async () => {
    const director = await session('director');
    expect((await call(base, '/api/accounts', { cookie: director.cookie })).status).toBe(403);
    expect((await call(base, '/api/accounts')).status).toBe(401);
    const admin = await session('admin');
    const secret = 'a very secret new password';
    const changed = await call(base, '/api/accounts/tech', {
      method: 'PUT',
      json: { name: 'Théo Technicien', role: 'technician', sites: ['nord'], password: secret },
      cookie: admin.cookie,
      csrf: admin.csrf,
    });
    expect(changed.status).toBe(200);
    for (const [json, problem] of [
      [{ name: 'X', role: 'agent', password: 'short' }, /password/],
      [{ name: 'X', role: 'technician' }, /sites/],
      [{ name: 'X', role: 'public' }, /role/],
      [{ name: 'X', role: 'agent', email: 'not an email' }, /email/],
    ] as const) {
      const refused = await call(base, '/api/accounts/someone', { method: 'PUT', json, cookie: admin.cookie, csrf: admin.csrf });
      expect(refused.status, JSON.stringify(json)).toBe(400);
      expect((refused.body as { error: string }).error).toMatch(problem);
    }
    expect(
      (await call(base, '/api/accounts/Not%20A%20Name', { method: 'PUT', json: { name: 'X', role: 'agent' }, cookie: admin.cookie, csrf: admin.csrf })).status,
    ).toBe(400);
    const list = await call(base, '/api/accounts', { cookie: admin.cookie });
    expect(list.status).toBe(200);
    expect((list.body as { accounts: { username: string }[] }).accounts.map((a) => a.username)).toEqual(
      expect.arrayContaining(['admin', 'director', 'tech', 'gone']),
    );
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt|password"|correct horse/);
    await waitFor(
      async () => (await auditRows()).some((r) => r.route === '/api/accounts/:username' && r.status_code === 200),
      5000,
      'the change was not audited',
    );
    const dump = JSON.stringify(await auditRows());
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(PASSWORD);
    expect((await auditRows()).filter((r) => r.route === '/api/session' && r.method === 'POST')[0]).toMatchObject({ summary: { username: 'director' } });
    // The technician's new password ended their sessions; the new one opens a session.
    expect((await signIn('tech', secret)).status).toBe(200);
  });

  it('refuses every sign-in beyond the failures allowed per address, and per username from many addresses, the right password too', async () => {
    await createAccount(storage.pool, { username: 'target', name: 'Tara Cible', role: 'agent', password: PASSWORD });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const attempt = (username: string, password: string, address: string) =>
      call(strictBase, '/api/session', { method: 'POST', json: { username, password }, headers: from(address) });
    for (let i = 0; i < 3; i++) expect((await attempt(`guess-${i}`, 'wrong password!', '10.0.0.1')).status).toBe(401);
    const limited = await attempt('director', PASSWORD, '10.0.0.1');
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: 'LOGIN_RATE_LIMITED' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await attempt('director', PASSWORD, '10.0.0.2')).status).toBe(200);

    for (let i = 0; i < 3; i++) expect((await attempt('target', 'wrong password!', `10.0.1.${i}`)).status).toBe(401);
    expect((await attempt('target', PASSWORD, '10.0.2.1')).status).toBe(429);
  });
});
