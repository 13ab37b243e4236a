import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { freePort } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, signInAtProvider, startOidcProvider, type TestOidcProvider } from '../testing/index.js';
import { createAccount, findAccount } from './accounts.js';
import { safeReturnTo } from './oidc.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('hub API: sign-in through an OpenID Connect provider', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let provider: TestOidcProvider;
  let app: ReturnType<typeof buildApi>;
  let base: string;

  /** Completes the flow at the provider and calls the hub's callback: its answer's location and Set-Cookie headers. */
  const signIn = async (login: string, returnTo?: string, tamper: (url: URL) => void = () => undefined) => {
    const { callbackUrl, hubCookie } = await signInAtProvider(
      `${base}/api/session/oidc/start${returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`}`,
      login,
    );
    const url = new URL(callbackUrl);
    tamper(url);
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: hubCookie } });
    expect(response.status).toBe(302);
    const cookies = response.headers.getSetCookie();
    const session = cookies.find((c) => c.startsWith('cp_session='))?.split(';')[0];
    return { location: response.headers.get('location'), session, cookies };
  };
  const whoIs = async (cookie: string) =>
    (await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()) as { user: Record<string, unknown> | null };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'oidc');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/api/session/oidc/callback`;
    provider = await startOidcProvider({
      redirectUri,
      accounts: [
        {
          login: 'marie',
          claims: { email: 'marie.curie@ville.fr', email_verified: true, given_name: 'Marie', usual_name: 'Curie', citypilot_role: 'director' },
        },
        { login: 'tech', claims: { email: 'tech@ville.fr', email_verified: true, name: 'Théo Tech', citypilot_role: 'technician', citypilot_sites: ['nord'] } },
        { login: 'nobody', claims: { email: 'nobody@ville.fr', email_verified: true, name: 'Sans Rôle' } },
        { login: 'known', claims: { email: 'Known.Agent@ville.fr', email_verified: true, name: 'Agent Connu' } },
      ],
    });
    await createAccount(storage.pool, { username: 'k.agent', name: 'Karim Agent', role: 'agent', email: 'known.agent@ville.fr' });
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      sessions: {
        oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, redirectUri, sitesClaim: 'citypilot_sites' },
      },
    });
    base = await app.listen({ host: '127.0.0.1', port });
  });
  afterAll(async () => {
    await app?.close();
    await provider?.stop();
    await storage?.close();
    await db?.drop();
  });

  it('says that sign-in through the provider is offered, and under which label', async () => {
    expect(await (await fetch(`${base}/api/session`)).json()).toMatchObject({ user: null, oidc: { enabled: true, label: 'ProConnect' } });
  });

  it('signs a person in with the role their claim names, creating their account, and lands on returnTo', async () => {
    const { location, session, cookies } = await signIn('marie', '/objectifs/energie?annee=2026');
    expect(location).toBe('/objectifs/energie?annee=2026');
    expect(session).toBeDefined();
    expect(cookies.find((c) => c.startsWith('cp_session='))).toMatch(/HttpOnly/);
    expect(cookies.some((c) => /^cp_oidc=;.*Max-Age=0/.test(c))).toBe(true);
    expect((await whoIs(session!)).user).toEqual({ username: 'marie.curie', name: 'Marie Curie', role: 'director', sites: null });
    expect(await findAccount(storage.pool, 'marie.curie')).toMatchObject({
      email: 'marie.curie@ville.fr',
      hasPassword: false,
      oidc: { issuer: provider.issuer, subject: 'marie' },
    });
    // The second time, the same account, found by the provider's subject.
    const again = await signIn('marie');
    expect(again.location).toBe('/');
    expect((await whoIs(again.session!)).user).toMatchObject({ username: 'marie.curie' });
    expect((await storage.pool.query(`SELECT 1 FROM accounts WHERE oidc_subject = 'marie'`)).rowCount).toBe(1);
  });

  it('gives a technician the sites of its sites claim', async () => {
    const { session } = await signIn('tech');
    expect((await whoIs(session!)).user).toEqual({ username: 'tech', name: 'Théo Tech', role: 'technician', sites: ['nord'] });
  });

  it('finds an account an admin created with the email, and keeps its role', async () => {
    const { session } = await signIn('known');
    expect((await whoIs(session!)).user).toEqual({ username: 'k.agent', name: 'Karim Agent', role: 'agent', sites: null });
    expect(await findAccount(storage.pool, 'k.agent')).toMatchObject({ oidc: { issuer: provider.issuer, subject: 'known' } });
  });

  it('creates nothing for a person without a role, and says so to the sign-in page', async () => {
    const { location, session } = await signIn('nobody');
    expect(location).toBe('/connexion?error=no-role');
    expect(session).toBeUndefined();
    expect((await storage.pool.query(`SELECT 1 FROM accounts WHERE email = 'nobody@ville.fr' OR oidc_subject = 'nobody'`)).rowCount).toBe(0);
  });

  it('refuses a callback whose state is not the one of the sign-in under way, or without its cookie', async () => {
    const { location, session } = await signIn('marie', '/', (url) => url.searchParams.set('state', 'forged-state'));
    expect(location).toBe('/connexion?error=state-mismatch');
    expect(session).toBeUndefined();
    const { callbackUrl } = await signInAtProvider(`${base}/api/session/oidc/start`, 'marie');
    const withoutCookie = await fetch(callbackUrl, { redirect: 'manual' });
    expect(withoutCookie.status).toBe(302);
    expect(withoutCookie.headers.get('location')).toBe('/connexion?error=login-expired');
  });

  it('lands only on a path of this site', async () => {
    for (const returnTo of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      expect(safeReturnTo(returnTo), returnTo).toBe('/');
    }
    expect((await signIn('marie', '//evil.example/phish')).location).toBe('/');
  });

  it('sends the person to the sign-in page when the provider is unreachable, and answers 404 when none is configured', async () => {
    const closed = await freePort();
    const down = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      sessions: {
        oidc: {
          issuer: `http://127.0.0.1:${closed}`,
          clientId: 'x',
          clientSecret: 'y',
          redirectUri: 'http://127.0.0.1/api/session/oidc/callback',
          timeoutMs: 2000,
        },
      },
    });
    const none = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
    try {
      const start = await down.inject({ url: '/api/session/oidc/start' });
      expect(start.statusCode).toBe(302);
      expect(start.headers.location).toBe('/connexion?error=provider-unavailable');
      for (const url of ['/api/session/oidc/start', '/api/session/oidc/callback?code=x&state=y']) {
        const answer = await none.inject({ url });
        expect(answer.statusCode).toBe(404);
        expect(answer.json()).toMatchObject({ code: 'OIDC_NOT_CONFIGURED' });
      }
      expect((await none.inject({ url: '/api/session' })).json()).toMatchObject({ oidc: { enabled: false } });
    } finally {
      await down.close();
      await none.close();
    }
  });
});
