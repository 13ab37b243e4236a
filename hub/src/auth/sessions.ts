import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { fastifyCookie, type SerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { silentLogger, type Logger } from '@citypilot/sdk';
import type { AccountRole } from './accounts.js';
import { BackgroundWrites } from './background-writes.js';
import type { Principal } from './principal.js';

/**
 * Sessions of people signed in to the dashboard: a cookie `cp_session` holding 32 random bytes,
 * of which the database keeps only the SHA-256 (a stolen database opens no session). Each
 * session has a CSRF token that every write made with the cookie must send back in
 * `x-csrf-token`. A session ends after `idleMs` without use, and at the latest `absoluteMs`
 * after sign-in.
 */

export const SESSION_COOKIE = 'cp_session';
export const CSRF_HEADER = 'x-csrf-token';
/** Default idle expiry: a working day. */
export const SESSION_IDLE_MS = 8 * 3_600_000;
/** Default absolute expiry: a week after sign-in, however busy. */
export const SESSION_ABSOLUTE_MS = 7 * 86_400_000;
/** Least time between two renewals of a session's idle expiry. */
const RENEW_INTERVAL_MS = 60_000;
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionSettings {
  /**
   * `auto` (default): the cookies are Secure when the request came over HTTPS (request.protocol,
   * which honours the hub's trustProxy); `always`: Secure whatever the request (a hub behind a
   * TLS proxy it does not trust for X-Forwarded-Proto).
   */
  secureCookies?: 'auto' | 'always';
  /** Idle expiry, ms, renewed on use (at most once a minute). Default 8 hours. */
  idleMs?: number;
  /** Absolute expiry after sign-in, ms. Default 7 days. */
  absoluteMs?: number;
}

/** The session a request came with, as the authentication hook found it. */
export interface SessionInfo {
  idHash: Buffer;
  username: string;
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The session whose cookie the request carried; null without one (or with a bearer token). */
    session: SessionInfo | null;
  }
  interface FastifyContextConfig {
    /** The route accepts writes with a session cookie and no CSRF header (the login itself). */
    csrfExempt?: boolean;
  }
}

/** SHA-256 of a cookie's random id: what the database stores. */
export function hashSessionId(id: string): Buffer {
  return createHash('sha256').update(id, 'utf8').digest();
}

/** A fresh random id for a cookie: 32 bytes in base64url. */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of cookie `name` in the request, or undefined. */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  try {
    return fastifyCookie.parse(header)[name];
  } catch {
    return undefined;
  }
}

/** Sessions in the hub's database: created at sign-in, read by the authentication hook. */
export class Sessions {
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly renewals = new BackgroundWrites();

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: SessionSettings = {},
    private readonly logger: Logger = silentLogger,
  ) {
    this.idleMs = settings.idleMs ?? SESSION_IDLE_MS;
    this.absoluteMs = settings.absoluteMs ?? SESSION_ABSOLUTE_MS;
  }

  /** Opens a session for `username`; returns the cookie's value (its only copy) and the CSRF token. */
  async create(username: string, method: 'password' | 'oidc'): Promise<{ id: string; csrfToken: string }> {
    const id = randomId();
    const csrfToken = randomId();
    // Expired sessions are dropped as new ones come: the table holds the living ones only.
    await this.pool.query('DELETE FROM sessions WHERE expires_at < now()');
    await this.pool.query(
      `INSERT INTO sessions (id_hash, username, csrf_token, method, expires_at, absolute_expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), now() + make_interval(secs => $6))`,
      [hashSessionId(id), username, csrfToken, method, Math.min(this.idleMs, this.absoluteMs) / 1000, this.absoluteMs / 1000],
    );
    return { id, csrfToken };
  }

  /**
   * The session and principal of a cookie's value, or undefined when it is unknown, expired or
   * its account disabled. Read from the database at each request (one primary-key lookup joined
   * with the account), so that a sign-out, a disabled account or a changed role counts at once;
   * the idle expiry is pushed back in the background, at most once a minute.
   */
  async find(id: string): Promise<{ session: SessionInfo; principal: Principal } | undefined> {
    if (!COOKIE_VALUE.test(id)) return undefined;
    const idHash = hashSessionId(id);
    const { rows } = await this.pool.query<{ username: string; csrf_token: string; stale: boolean; name: string; role: AccountRole; sites: string[] | null }>(
      `SELECT s.username, s.csrf_token, s.last_seen_at < now() - make_interval(secs => $2) AS stale, a.name, a.role, a.sites
         FROM sessions s JOIN accounts a ON a.username = s.username
        WHERE s.id_hash = $1 AND s.expires_at > now() AND s.absolute_expires_at > now() AND a.disabled_at IS NULL`,
      [idHash, RENEW_INTERVAL_MS / 1000],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (row.stale) {
      this.renewals.add(
        this.pool.query(
          `UPDATE sessions SET last_seen_at = now(), expires_at = least(now() + make_interval(secs => $2), absolute_expires_at) WHERE id_hash = $1`,
          [idHash, this.idleMs / 1000],
        ),
        (error) => this.logger.warn({ user: row.username, err: (error as Error).message }, 'could not renew a session'),
      );
    }
    return {
      session: { idHash, username: row.username, csrfToken: row.csrf_token },
      principal: { id: `account:${row.username}`, role: row.role, sites: row.sites, name: row.name },
    };
  }

  /** Ends a session (sign-out). */
  async end(idHash: Buffer): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  }

  /** The Set-Cookie header of a session's cookie: HttpOnly, SameSite=Lax, Path=/, Secure over HTTPS. */
  cookie(request: FastifyRequest, name: string, value: string, options: Pick<SerializeOptions, 'maxAge' | 'path'> = {}): string {
    return fastifyCookie.serialize(name, value, { httpOnly: true, sameSite: 'lax', path: '/', secure: this.secure(request), ...options });
  }

  /** The Set-Cookie header that makes the browser forget cookie `name`. */
  clearCookie(request: FastifyRequest, name: string, path = '/'): string {
    return fastifyCookie.serialize(name, '', { httpOnly: true, sameSite: 'lax', path, secure: this.secure(request), maxAge: 0, expires: new Date(0) });
  }

  private secure(request: FastifyRequest): boolean {
    return this.settings.secureCookies === 'always' || request.protocol === 'https';
  }

  /**
   * For a request without an Authorization header: the principal of its session cookie, if any.
   * An unknown or expired cookie leaves the request anonymous and is cleared in the answer,
   * never refused. A write with the cookie must carry the session's CSRF token in
   * `x-csrf-token` (unless its route is csrfExempt), else it is answered 403 before anything is
   * done. Called by registerAuth's onRequest hook.
   */
  async authenticate(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const id = cookieOf(request, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const found = await this.find(id);
    if (!found) {
      reply.header('set-cookie', this.clearCookie(request, SESSION_COOKIE));
      return undefined;
    }
    request.principal = found.principal;
    request.session = found.session;
    if (READ_METHODS.has(request.method) || request.routeOptions.config?.csrfExempt) return undefined;
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || sent === '') {
      request.auditSummary = { refused: 'CSRF_TOKEN_MISSING' };
      return reply.code(403).send({
        error: `a write made with a session cookie must send the session's CSRF token in the ${CSRF_HEADER} header (GET /api/session gives it)`,
        code: 'CSRF_TOKEN_MISSING',
      });
    }
    const expected = Buffer.from(found.session.csrfToken);
    const candidate = Buffer.from(sent);
    if (candidate.length !== expected.length || !timingSafeEqual(candidate, expected)) {
      request.auditSummary = { refused: 'CSRF_TOKEN_MISMATCH' };
      return reply
        .code(403)
        .send({ error: `the ${CSRF_HEADER} header is not this session's CSRF token: read it again from GET /api/session`, code: 'CSRF_TOKEN_MISMATCH' });
    }
    return undefined;
  }

  /** Waits for the renewals under way (on close). */
  settled(): Promise<void> {
    return this.renewals.settled();
  }
}

export interface LoginLimit {
  /** Failed sign-ins per client address, and per username, in a window; beyond, 429. Default 10. */
  failures?: number;
  /** Length of a window, ms. Default 15 minutes. */
  windowMs?: number;
  /** Addresses and usernames counted apart per window; beyond, the newcomers share one count. Default 20,000. */
  maxKeys?: number;
}

/**
 * Counts failed sign-ins per client address and per username in fixed windows (as the API's
 * rate limits do, http/limits.ts): beyond `failures` for either, every sign-in is refused until
 * the window ends, even with the right password, so that a password cannot be guessed from
 * one address, nor one person's from many. Counts live in this process only.
 */
export class LoginThrottle {
  private window = { start: 0, counts: new Map<string, number>() };
  private readonly failures: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(limit: LoginLimit = {}) {
    this.failures = limit.failures ?? 10;
    this.windowMs = limit.windowMs ?? 15 * 60_000;
    this.maxKeys = limit.maxKeys ?? 20_000;
  }

  /** Seconds until a sign-in from `ip` as `username` may be tried again, or undefined when it may now. */
  retryAfter(ip: string, username: string, now = Date.now()): number | undefined {
    const { start, counts } = this.current(now);
    const blocked = [`ip ${ip}`, `user ${username}`].some((key) => (counts.get(this.keyOf(key, counts)) ?? 0) >= this.failures);
    return blocked ? Math.max(1, Math.ceil((start + this.windowMs - now) / 1000)) : undefined;
  }

  /** Counts a failed sign-in. */
  failed(ip: string, username: string, now = Date.now()): void {
    const { counts } = this.current(now);
    for (const name of [`ip ${ip}`, `user ${username}`]) {
      const key = this.keyOf(name, counts);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }

  describe(): string {
    return `at most ${this.failures} failed sign-ins per ${Math.round(this.windowMs / 60_000)} min per address and per username`;
  }

  private keyOf(key: string, counts: Map<string, number>): string {
    return counts.has(key) || counts.size < this.maxKeys ? key : 'overflow';
  }

  private current(now: number) {
    if (now - this.window.start >= this.windowMs) this.window = { start: now - (now % this.windowMs), counts: new Map() };
    return this.window;
  }
}
