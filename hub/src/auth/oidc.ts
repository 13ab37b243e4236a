import * as client from 'openid-client';
import type pg from 'pg';
import { CityPilotError, ID_PATTERN, silentLogger, type Logger } from '@citypilot/sdk';
import { ACCOUNT_COLUMNS, ACCOUNT_ROLES, accountOf, type Account, type AccountRole, type AccountRow } from './accounts.js';
import { hashSessionId, randomId } from './sessions.js';

/**
 * Sign-in through the city's identity provider with OpenID Connect (ProConnect for French public
 * agents, or any provider): the authorization code flow with PKCE, state and nonce, the flow's
 * secrets kept in the database (oidc_logins) for ten minutes and bound to the browser by a
 * cookie. The person's account is found by the provider's (issuer, subject), else by their email
 * (an admin created it with that email and a role), else created when the role claim names a
 * role.
 */

export interface OidcOptions {
  /** The provider's issuer URL; its /.well-known/openid-configuration is read at the first sign-in. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The hub's callback as the provider knows it: https://<hub>/api/session/oidc/callback. */
  redirectUri: string;
  /** The words on the sign-in button. Default `ProConnect`. */
  label?: string;
  /** The claim (ID token or userinfo) that carries the person's role. Default `citypilot_role`. */
  roleClaim?: string;
  /** The claim that carries a technician's site keys (an array, or comma-separated); none by default. */
  sitesClaim?: string;
  /** Scopes asked. Default `openid email profile`. */
  scope?: string;
  /** Longest wait for the provider, ms. Default 10,000. */
  timeoutMs?: number;
}

/** Why a sign-in through the provider failed, as given to the sign-in page in `?error=`. */
export type OidcFailure = 'provider-unavailable' | 'login-expired' | 'state-mismatch' | 'denied' | 'no-role' | 'no-sites' | 'account-disabled' | 'failed';

/** The cookie that binds a sign-in under way to the browser that started it. */
export const OIDC_FLOW_COOKIE = 'cp_oidc';
export const OIDC_FLOW_PATH = '/api/session/oidc';
/** How long a sign-in at the provider may take, ms. */
export const OIDC_FLOW_MS = 10 * 60_000;
const FLOW_ID = /^[A-Za-z0-9_-]{43}$/;

/** A sign-in through the provider that cannot go on; `failure` is what the sign-in page is told. */
export class OidcFlowError extends CityPilotError {
  constructor(
    readonly failure: OidcFailure,
    message: string,
  ) {
    super('OIDC_SIGN_IN_FAILED', message);
  }
}

/** `returnTo` when it is a path of this origin (one leading `/`), else `/`. */
export function safeReturnTo(returnTo: unknown): string {
  if (typeof returnTo !== 'string' || returnTo.length > 2000) return '/';
  if (!/^\/(?![/\\])/.test(returnTo) || returnTo.includes('\\') || [...returnTo].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return '/';
  return returnTo;
}

/** Sign-ins through one OpenID Connect provider. */
export class OidcSignIn {
  readonly label: string;
  private configuration: Promise<client.Configuration> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: OidcOptions,
    private readonly logger: Logger = silentLogger,
  ) {
    this.label = options.label ?? 'ProConnect';
  }

  /**
   * Starts a sign-in: records the flow's secrets and returns the provider's authorization URL and
   * the id for the flow cookie.
   * @throws OidcFlowError `provider-unavailable` when the provider's metadata cannot be read
   */
  async start(returnTo: string): Promise<{ url: string; flowId: string }> {
    const config = await this.config();
    const flowId = randomId();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    await this.pool.query('DELETE FROM oidc_logins WHERE expires_at < now()');
    await this.pool.query(
      `INSERT INTO oidc_logins (id_hash, state, nonce, code_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [hashSessionId(flowId), state, nonce, codeVerifier, safeReturnTo(returnTo), OIDC_FLOW_MS / 1000],
    );
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.options.redirectUri,
      scope: this.options.scope ?? 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, flowId };
  }

  /**
   * Ends a sign-in at the callback: the flow found by its cookie (used once), the code exchanged
   * and checked (state, nonce, PKCE), the account found or created. Never throws: a failure is
   * logged and returned as its code.
   * @param query the callback's query string, without `?`
   */
  async finish(flowId: string | undefined, query: string): Promise<{ account: Account; returnTo: string } | { error: OidcFailure; returnTo: string }> {
    let returnTo = '/';
    try {
      if (flowId === undefined || !FLOW_ID.test(flowId))
        throw new OidcFlowError('login-expired', 'the callback came without the cookie of a sign-in under way');
      const { rows } = await this.pool.query<{ state: string; nonce: string; code_verifier: string; return_to: string }>(
        'DELETE FROM oidc_logins WHERE id_hash = $1 AND expires_at > now() RETURNING state, nonce, code_verifier, return_to',
        [hashSessionId(flowId)],
      );
      const flow = rows[0];
      if (!flow) throw new OidcFlowError('login-expired', 'no sign-in under way for this cookie (expired, or already ended)');
      returnTo = flow.return_to;
      const params = new URLSearchParams(query);
      if (params.has('error'))
        throw new OidcFlowError(
          'denied',
          `the provider answered ${String(params.get('error')).slice(0, 100)}: ${String(params.get('error_description') ?? '').slice(0, 200)}`,
        );
      if (params.get('state') !== flow.state) throw new OidcFlowError('state-mismatch', "the callback's state is not the one of the sign-in under way");
      const config = await this.config();
      const current = new URL(this.options.redirectUri);
      current.search = params.toString();
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: flow.code_verifier,
          expectedState: flow.state,
          expectedNonce: flow.nonce,
          idTokenExpected: true,
        });
      } catch (error) {
        throw unreachable(error)
          ? new OidcFlowError('provider-unavailable', `the provider's token endpoint did not answer: ${(error as Error).message}`)
          : new OidcFlowError('failed', `the code exchange was refused: ${(error as Error).message}`);
      }
      const claims: Record<string, unknown> = { ...tokens.claims() };
      if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
        try {
          Object.assign(claims, await client.fetchUserInfo(config, tokens.access_token, String(claims.sub)), { sub: claims.sub });
        } catch (error) {
          this.logger.warn({ err: (error as Error).message }, "OpenID Connect: could not read the userinfo; the ID token's claims are used alone");
        }
      }
      const account = await this.accountFor(config.serverMetadata().issuer, claims);
      this.logger.info({ user: account.username, issuer: config.serverMetadata().issuer }, 'signed in through OpenID Connect');
      return { account, returnTo };
    } catch (error) {
      const failure = error instanceof OidcFlowError ? error.failure : unreachable(error) ? 'provider-unavailable' : 'failed';
      this.logger.warn({ failure, err: (error as Error).message }, 'OpenID Connect sign-in failed');
      return { error: failure, returnTo };
    }
  }

  /** The provider's metadata, read once (a failed read is tried again at the next sign-in). */
  private config(): Promise<client.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.options.issuer);
      // Plain HTTP only for a provider on this machine (tests, a local development provider).
      const local = issuer.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
      this.configuration = client
        .discovery(issuer, this.options.clientId, undefined, client.ClientSecretPost(this.options.clientSecret), {
          timeout: Math.ceil((this.options.timeoutMs ?? 10_000) / 1000),
          ...(local ? { execute: [client.allowInsecureRequests] } : {}),
        })
        .catch((error: unknown) => {
          this.configuration = undefined;
          throw new OidcFlowError('provider-unavailable', `could not read the provider's metadata at ${issuer.href}: ${(error as Error).message}`);
        });
    }
    return this.configuration;
  }

  /** The account of the person the claims describe: found, linked, updated from the role claim, or created. */
  private async accountFor(issuer: string, claims: Record<string, unknown>): Promise<Account> {
    const subject = String(claims.sub);
    const claimed = roleOf(claims[this.options.roleClaim ?? 'citypilot_role']);
    const sites = this.options.sitesClaim ? sitesOf(claims[this.options.sitesClaim]) : undefined;
    const email = typeof claims.email === 'string' && claims.email_verified !== false ? claims.email.trim() : undefined;
    let row = (await this.pool.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE oidc_issuer = $1 AND oidc_subject = $2`, [issuer, subject]))
      .rows[0];
    if (!row && email) {
      row = (
        await this.pool.query<AccountRow>(
          `UPDATE accounts SET oidc_issuer = $1, oidc_subject = $2, updated_at = now() WHERE lower(email) = lower($3) AND oidc_subject IS NULL RETURNING ${ACCOUNT_COLUMNS}`,
          [issuer, subject, email],
        )
      ).rows[0];
    }
    if (row?.disabled_at) throw new OidcFlowError('account-disabled', `the account ${row.username} is disabled`);
    if (row) {
      // The provider's role claim, when it names one, is the person's role; otherwise the admin's stands.
      if (!claimed || (claimed === row.role && (claimed !== 'technician' || sites === undefined))) return accountOf(row);
      const newSites = claimed === 'technician' ? (sites ?? (row.role === 'technician' ? row.sites : null)) : null;
      if (claimed === 'technician' && !newSites?.length)
        throw new OidcFlowError('no-sites', `the provider names ${row.username} a technician but gives no sites`);
      const updated = await this.pool.query<AccountRow>(
        `UPDATE accounts SET role = $2, sites = $3, updated_at = now() WHERE username = $1 RETURNING ${ACCOUNT_COLUMNS}`,
        [row.username, claimed, newSites],
      );
      return accountOf(updated.rows[0]!);
    }
    if (!claimed)
      throw new OidcFlowError('no-role', `no account for ${email ?? subject}, and the provider gives no role in ${this.options.roleClaim ?? 'citypilot_role'}`);
    if (claimed === 'technician' && !sites?.length)
      throw new OidcFlowError('no-sites', `the provider names ${email ?? subject} a technician but gives no sites`);
    const name = displayName(claims) ?? email ?? subject;
    const base = usernameBase(claims, email);
    for (let attempt = 0; attempt < 20; attempt++) {
      const username =
        attempt === 0
          ? base
          : `${base.slice(0, 56)}-${
              attempt < 10
                ? attempt + 1
                : randomId()
                    .slice(0, 6)
                    .toLowerCase()
                    .replace(/[^a-z0-9]/g, 'x')
            }`;
      const { rows } = await this.pool.query<AccountRow>(
        `INSERT INTO accounts (username, name, email, role, sites, oidc_issuer, oidc_subject, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (username) DO NOTHING RETURNING ${ACCOUNT_COLUMNS}`,
        [username, name.slice(0, 200), email ?? null, claimed, claimed === 'technician' ? sites : null, issuer, subject, `oidc:${issuer}`.slice(0, 300)],
      );
      if (rows[0]) return accountOf(rows[0]);
    }
    throw new OidcFlowError('failed', `no free username for ${base}`);
  }
}

function roleOf(claim: unknown): AccountRole | undefined {
  const values = Array.isArray(claim) ? claim : [claim];
  return ACCOUNT_ROLES.find((r) => values.includes(r));
}

function sitesOf(claim: unknown): string[] | undefined {
  const values = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(',') : [];
  const pattern = new RegExp(ID_PATTERN);
  const sites = [
    ...new Set(
      values
        .filter((v): v is string => typeof v === 'string')
        .map((v) => v.trim())
        .filter((v) => pattern.test(v)),
    ),
  ].sort();
  return sites.length ? sites : undefined;
}

/** The person's name from standard claims, and ProConnect's given_name + usual_name. */
function displayName(claims: Record<string, unknown>): string | undefined {
  if (typeof claims.name === 'string' && claims.name.trim()) return claims.name.trim();
  const parts = [claims.given_name, claims.usual_name ?? claims.family_name].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return parts.length ? parts.join(' ') : undefined;
}

function usernameBase(claims: Record<string, unknown>, email: string | undefined): string {
  const source = typeof claims.preferred_username === 'string' ? claims.preferred_username : (email?.split('@')[0] ?? 'user');
  const base = source
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .slice(0, 56);
  return base.replace(/^-+|-+$/g, '') || 'user';
}

/** Whether a failure is the provider being unreachable rather than refusing. */
function unreachable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; cause?: { code?: string } };
  return (
    e?.name === 'AbortError' ||
    e?.name === 'TimeoutError' ||
    (error instanceof TypeError && /fetch failed/i.test(error.message)) ||
    /^E(CONNREFUSED|CONNRESET|TIMEDOUT|NOTFOUND|HOSTUNREACH)$/.test(e?.cause?.code ?? e?.code ?? '')
  );
}
