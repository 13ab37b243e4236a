import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type pg from 'pg';
import { silentLogger, type Logger } from '@citypilot/sdk';
import type { Access } from './access.js';
import { findLoginRecord, usernameProblem } from './accounts.js';
import { OIDC_FLOW_COOKIE, OIDC_FLOW_MS, OIDC_FLOW_PATH, OidcFlowError, safeReturnTo, type OidcSignIn } from './oidc.js';
import { PASSWORD_MAX_CHARS, verifyPassword } from './passwords.js';
import { cookieOf, CSRF_HEADER, SESSION_COOKIE, type LoginThrottle, type Sessions } from './sessions.js';

/** The dashboard's sign-in page, where failed sign-ins through the provider land with `?error=<code>`. */
export const SIGN_IN_PAGE = '/connexion';

export interface SessionRouteOptions {
  pool: pg.Pool;
  sessions: Sessions;
  throttle: LoginThrottle;
  /** Sign-in through the city's identity provider; undefined when not configured. */
  oidc?: OidcSignIn;
  logger?: Logger;
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const ErrorAnswer = (description: string) => Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) }, { description });

const SessionAnswer = Type.Object(
  {
    user: nullable(
      Type.Object({
        username: Type.String(),
        name: Type.String({ description: "The person's display name" }),
        role: Type.String(),
        sites: Type.Union([Type.Array(Type.String()), Type.Null()], { description: "A technician's site keys; null for every site" }),
      }),
    ),
    csrfToken: nullable(Type.String({ description: `Send it in the ${CSRF_HEADER} header with every write made with the session` })),
    oidc: Type.Object({
      enabled: Type.Boolean({ description: 'Whether the hub signs people in through an OpenID Connect provider' }),
      label: nullable(Type.String({ description: 'The words of its sign-in button' })),
    }),
  },
  { description: 'Who is signed in (user null when nobody is), the CSRF token of the session, and the sign-in through the provider' },
);

const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 200, description: "The account's username (compared in lowercase)" }),
    password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_CHARS }),
  },
  { additionalProperties: false },
);

const redirect = (description: string) => ({ description, type: 'null' });
const PUBLIC: Access = { roles: ['public'], sites: 'none' };

/**
 * People's sign-in: `GET/POST/DELETE /api/session` (who is signed in, sign in with a password,
 * sign out) and `GET /api/session/oidc/start|callback` (sign in through the city's provider).
 */
export async function sessionRoutes(app: FastifyInstance, options: SessionRouteOptions): Promise<void> {
  const { pool, sessions, throttle, oidc, logger = silentLogger } = options;
  const answer = (user: { username: string; name: string; role: string; sites: readonly string[] | null } | null, csrfToken: string | null) => ({
    user,
    csrfToken,
    oidc: { enabled: oidc !== undefined, label: oidc?.label ?? null },
  });
  const signedIn = (reply: FastifyReply, cookies: string[]) => {
    reply.removeHeader('set-cookie');
    reply.header('set-cookie', cookies);
  };

  app.get(
    '/api/session',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'Who is signed in',
        tags: ['session'],
        description: `The person signed in with the ${SESSION_COOKIE} cookie and the session's CSRF token, or user null.`,
        response: { 200: SessionAnswer },
      },
    },
    async (request) => {
      const { session, principal } = request;
      if (!session) return answer(null, null);
      return answer({ username: session.username, name: principal.name ?? session.username, role: principal.role, sites: principal.sites }, session.csrfToken);
    },
  );

  app.post<{ Body: Static<typeof LoginBody> }>(
    '/api/session',
    {
      config: { access: PUBLIC, csrfExempt: true },
      // A cross-site HTML form cannot send application/json: a sign-in cannot be forged from another site.
      onRequest: async (request, reply) => {
        if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
          return reply
            .code(415)
            .send({ error: 'the body must be JSON (content-type: application/json): { "username", "password" }', code: 'CONTENT_TYPE_JSON_REQUIRED' });
        }
      },
      schema: {
        summary: 'Sign in with a password',
        tags: ['session'],
        description:
          `Opens a session: the answer sets the ${SESSION_COOKIE} cookie (HttpOnly, SameSite=Lax, Secure over HTTPS; ends after 8 h without use, 7 days at most) and gives the CSRF token. ` +
          `A wrong username or password is answered 401 LOGIN_REFUSED, the same whether the account exists or not; after ${throttle.describe()} every sign-in is refused 429 LOGIN_RATE_LIMITED until Retry-After, the right password too. The password is never recorded.`,
        body: LoginBody,
        response: {
          200: SessionAnswer,
          401: ErrorAnswer('Wrong username or password (LOGIN_REFUSED)'),
          403: ErrorAnswer('The password is right but the account is disabled (ACCOUNT_DISABLED)'),
          415: ErrorAnswer('The body is not application/json (CONTENT_TYPE_JSON_REQUIRED)'),
          429: ErrorAnswer('Too many failed sign-ins from this address or for this username (LOGIN_RATE_LIMITED); see Retry-After'),
        },
      },
    },
    async (request, reply) => {
      const username = request.body.username.trim().toLowerCase().slice(0, 64);
      request.auditSummary = { username };
      const wait = throttle.retryAfter(request.ip, username);
      if (wait !== undefined) {
        return reply
          .code(429)
          .header('retry-after', String(wait))
          .send({ error: `too many failed sign-ins: ${throttle.describe()}; try again in ${wait} s`, code: 'LOGIN_RATE_LIMITED' });
      }
      const record = usernameProblem(username) ? undefined : await findLoginRecord(pool, username);
      // Checked even without an account (against a decoy), so that the time does not tell.
      const right = await verifyPassword(request.body.password, record?.passwordHash ?? null);
      if (!record || !right) {
        throttle.failed(request.ip, username);
        return reply.code(401).send({ error: 'wrong username or password', code: 'LOGIN_REFUSED' });
      }
      const { account } = record;
      if (account.disabledAt) return reply.code(403).send({ error: 'this account is disabled: ask an administrator of the hub', code: 'ACCOUNT_DISABLED' });
      const { id, csrfToken } = await sessions.create(account.username, 'password');
      request.principal = { id: `account:${account.username}`, role: account.role, sites: account.sites, name: account.name };
      signedIn(reply, [sessions.cookie(request, SESSION_COOKIE, id)]);
      return answer({ username: account.username, name: account.name, role: account.role, sites: account.sites }, csrfToken);
    },
  );

  app.delete(
    '/api/session',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'Sign out',
        tags: ['session'],
        description: `Ends the session and clears its cookie; with the session, needs its ${CSRF_HEADER} header like every write. Signed out already: 204 all the same.`,
        response: { 204: { description: 'Signed out', type: 'null' } },
      },
    },
    async (request, reply) => {
      if (request.session) await sessions.end(request.session.idHash);
      reply.removeHeader('set-cookie');
      return reply.header('set-cookie', sessions.clearCookie(request, SESSION_COOKIE)).code(204).send();
    },
  );

  const notConfigured = (reply: FastifyReply) =>
    reply.code(404).send({ error: 'this hub signs no one in through an OpenID Connect provider (OIDC_ISSUER is not set)', code: 'OIDC_NOT_CONFIGURED' });
  const failed = (reply: FastifyReply, code: string) => reply.redirect(`${SIGN_IN_PAGE}?error=${encodeURIComponent(code)}`, 302);

  app.get<{ Querystring: { returnTo?: string } }>(
    `${OIDC_FLOW_PATH}/start`,
    {
      config: { access: PUBLIC },
      schema: {
        summary: "Sign in through the city's identity provider",
        tags: ['session'],
        description: `Redirects to the OpenID Connect provider (authorization code with PKCE, state and nonce, bound to this browser by the ${OIDC_FLOW_COOKIE} cookie for ${OIDC_FLOW_MS / 60_000} minutes). The provider unreachable: redirects to ${SIGN_IN_PAGE}?error=provider-unavailable.`,
        querystring: Type.Object({
          returnTo: Type.Optional(
            Type.String({ description: 'Where to land once signed in: a path of this site beginning with a single /; anything else lands on /' }),
          ),
        }),
        response: {
          302: redirect('To the provider, or to the sign-in page with ?error='),
          404: ErrorAnswer('No provider is configured (OIDC_NOT_CONFIGURED)'),
        },
      },
    },
    async (request, reply) => {
      if (!oidc) return notConfigured(reply);
      try {
        const { url, flowId } = await oidc.start(safeReturnTo(request.query.returnTo));
        reply.header('set-cookie', sessions.cookie(request, OIDC_FLOW_COOKIE, flowId, { path: OIDC_FLOW_PATH, maxAge: OIDC_FLOW_MS / 1000 }));
        return reply.redirect(url, 302);
      } catch (error) {
        if (!(error instanceof OidcFlowError)) throw error;
        logger.warn({ err: error.message }, 'OpenID Connect sign-in could not start');
        return failed(reply, error.failure);
      }
    },
  );

  app.get(
    `${OIDC_FLOW_PATH}/callback`,
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'Where the identity provider sends the person back',
        tags: ['session'],
        description:
          `Exchanges the code, checks state and nonce, finds the account by the provider's subject or by email, else creates it when the role claim names a role; then sets the ${SESSION_COOKIE} cookie and redirects to returnTo. ` +
          `A failure redirects to ${SIGN_IN_PAGE}?error= with provider-unavailable, login-expired, state-mismatch, denied, no-role, no-sites, account-disabled or failed.`,
        querystring: Type.Object({ code: Type.Optional(Type.String()), state: Type.Optional(Type.String()), error: Type.Optional(Type.String()) }),
        response: {
          302: redirect('To returnTo once signed in, or to the sign-in page with ?error='),
          404: ErrorAnswer('No provider is configured (OIDC_NOT_CONFIGURED)'),
        },
      },
    },
    async (request, reply) => {
      if (!oidc) return notConfigured(reply);
      const result = await oidc.finish(cookieOf(request, OIDC_FLOW_COOKIE), request.url.split('?')[1] ?? '');
      const clearFlow = sessions.clearCookie(request, OIDC_FLOW_COOKIE, OIDC_FLOW_PATH);
      if ('error' in result) {
        reply.header('set-cookie', clearFlow);
        return failed(reply, result.error);
      }
      const { id } = await sessions.create(result.account.username, 'oidc');
      signedIn(reply, [clearFlow, sessions.cookie(request, SESSION_COOKIE, id)]);
      return reply.redirect(result.returnTo, 302);
    },
  );
}
