/**
 * A real OpenID Connect provider (oidc-provider) for tests of the sign-in through a city's
 * identity provider, on 127.0.0.1: one confidential client, the accounts a test gives, and a
 * one-page sign-in (login and password, consent granted at once) that a browser test fills in
 * Chromium and a node test posts with signInAtProvider.
 */
import type Provider from 'oidc-provider';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** A person known to the test provider. */
export interface TestOidcAccount {
  /** What is typed in the provider's login field; also the subject (`sub`). */
  login: string;
  /** Default `secret`. */
  password?: string;
  /** Claims given with the `email` and `profile` scopes: email, email_verified, name, given_name, usual_name, citypilot_role, citypilot_sites … */
  claims: Record<string, unknown>;
}

export interface TestOidcProvider {
  /** The issuer URL, e.g. http://127.0.0.1:40123 (OIDC_ISSUER). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Adds or replaces an account. */
  setAccount(account: TestOidcAccount): void;
  stop(): Promise<void>;
}

/** Names of the fields of the provider's sign-in page, for a browser test. */
export const TEST_OIDC_FORM = { login: 'login', password: 'password', submit: 'button[type=submit]' } as const;

/**
 * Starts the provider on a free loopback port. `redirectUri` is the hub's callback
 * (http://127.0.0.1:<port>/api/session/oidc/callback): pick the hub's port first (freePort).
 */
export async function startOidcProvider(options: { redirectUri: string; accounts?: readonly TestOidcAccount[] }): Promise<TestOidcProvider> {
  // Loaded here, not at the top: it warns about Node 20 when loaded, and only its own tests need it.
  const { default: Provider } = await import('oidc-provider');
  const accounts = new Map<string, TestOidcAccount>((options.accounts ?? []).map((a) => [a.login, a]));
  const clientId = 'citypilot-hub';
  const clientSecret = randomBytes(24).toString('base64url');
  // Listening first: the issuer is the provider's URL, with the port the system picks.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    findAccount: async (_ctx: unknown, id: string) => {
      const account = accounts.get(id);
      return account && { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'usual_name', 'family_name', 'preferred_username', 'citypilot_role', 'citypilot_sites'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'RS256', use: 'sig' }] },
    pkce: { required: () => true },
  });
  // The provider reports refused requests (a wrong code, a bad client) as events: the test sees the answer.
  provider.on('server_error', () => undefined);
  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return handle(req, res);
    interaction(provider, accounts, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end(`interaction failed: ${(error as Error).message}`);
    });
  });
  return {
    issuer,
    clientId,
    clientSecret,
    setAccount: (account) => accounts.set(account.login, account),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined),
  };
}

/** The sign-in page (GET), and its answer (POST): a known login and password finish login and consent at once. */
async function interaction(provider: Provider, accounts: Map<string, TestOidcAccount>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Fournisseur d'identité de test</title></head>
<body><main><h1>Fournisseur d'identité de test</h1><form method="post" action="/interaction/${details.uid}">
<label>Identifiant <input name="${TEST_OIDC_FORM.login}" autocomplete="username"></label>
<label>Mot de passe <input type="password" name="${TEST_OIDC_FORM.password}" autocomplete="current-password"></label>
<button type="submit">Se connecter</button></form></main></body></html>`);
    return;
  }
  let body = '';
  for await (const chunk of req) body += String(chunk);
  const form = new URLSearchParams(body);
  const login = form.get(TEST_OIDC_FORM.login) ?? '';
  const account = accounts.get(login);
  if (!account || (account.password ?? 'secret') !== form.get(TEST_OIDC_FORM.password)) {
    res
      .writeHead(401, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><html lang="fr"><title>Refusé</title><p>Identifiant ou mot de passe incorrect.</p></html>');
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: String(details.params.client_id) });
  grant.addOIDCScope(String(details.params.scope));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

/**
 * Signs `login` in at the provider as a browser would, following its redirects by hand with its
 * cookies: from the hub's `/api/session/oidc/start` (with the hub's cookies in `hubCookies`) to
 * the URL the provider sends the browser back to. Returns that URL (the hub's callback with
 * `code` and `state`) and the hub's flow cookie to send with it.
 */
export async function signInAtProvider(startUrl: string, login: string, password = 'secret'): Promise<{ callbackUrl: string; hubCookie: string }> {
  const start = await fetch(startUrl, { redirect: 'manual' });
  const hubCookie = start.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ');
  let location = start.headers.get('location');
  if (start.status !== 302 || !location) throw new Error(`the hub did not redirect to the provider: ${start.status} ${await start.text()}`);
  const providerOrigin = new URL(location).origin;
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (response: Response) => {
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair!.indexOf('=');
      jar.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
  };
  for (let hop = 0; hop < 10; hop++) {
    const url = new URL(location, providerOrigin);
    if (url.origin !== providerOrigin) return { callbackUrl: url.href, hubCookie };
    const posting = url.pathname.startsWith('/interaction/');
    const response = await fetch(url, {
      redirect: 'manual',
      method: posting ? 'POST' : 'GET',
      headers: { cookie: cookieHeader(), ...(posting ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: posting ? new URLSearchParams({ [TEST_OIDC_FORM.login]: login, [TEST_OIDC_FORM.password]: password }).toString() : undefined,
    });
    keep(response);
    const next = response.headers.get('location');
    if (!next) throw new Error(`the provider stopped at ${url.pathname} with ${response.status}: ${(await response.text()).slice(0, 300)}`);
    location = next;
  }
  throw new Error('the provider redirected more than 10 times');
}
