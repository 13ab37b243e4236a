import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ANONYMOUS } from '../auth/principal.js';
import { errorSchema } from './errors.js';

/** Requests a client may make per window, by kind; a token's holder gets the `authenticated` figures. */
export interface RateLimits {
  /** Length of a window, ms. Default 60,000. */
  windowMs?: number;
  /** Writes (any method but GET, HEAD, OPTIONS) per window without a token. Default 30. */
  anonymousWrites?: number;
  /** Reads per window without a token. Default 600. */
  anonymousReads?: number;
  /** Writes per window per token. Default 1,200. */
  authenticatedWrites?: number;
  /** Reads per window per token. Default 12,000. */
  authenticatedReads?: number;
  /**
   * Clients counted apart per window; beyond, the newcomers of the window share one count, so
   * that a flood from many addresses cannot grow the counts without bound. Default 20,000.
   */
  maxClients?: number;
  /** Counts the requests refused (the hub's citypilot_hub_api_rate_limited_total). */
  refused?: { inc(labels: { kind: 'read' | 'write' }): void };
}

export const DEFAULT_RATE_LIMITS: Required<Omit<RateLimits, 'refused'>> = {
  windowMs: 60_000,
  anonymousWrites: 30,
  anonymousReads: 600,
  authenticatedWrites: 1200,
  authenticatedReads: 12_000,
  maxClients: 20_000,
};

/** Routes never limited: monitoring must see the hub even while it refuses a flood. */
const UNLIMITED = new Set(['/healthz', '/metrics']);
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Limits each client's requests per fixed window, reads and writes counted apart: a client is its
 * token when it has one (its principal, set by registerAuth: register after it), else its IP
 * address. Beyond its limit a request is answered 429 with Retry-After (seconds to the next
 * window) and `code: RATE_LIMITED`, before its body is read; a write so refused still reaches the
 * audit (as a refused anonymous attempt, sampled there). Counts live in this process only.
 */
export function registerRateLimits(app: FastifyInstance, limits: RateLimits = {}): void {
  const settings = { ...DEFAULT_RATE_LIMITS, ...limits };
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response || UNLIMITED.has(route.url)) return;
    response[429] ??= errorSchema(
      `Too many requests from this client (RATE_LIMITED): per ${settings.windowMs / 1000} s, at most ${settings.anonymousReads} reads and ${settings.anonymousWrites} writes ` +
        `per address without a token, ${settings.authenticatedReads} reads and ${settings.authenticatedWrites} writes per token; Retry-After says when to try again`,
    );
  });
  let window = { start: 0, counts: new Map<string, number>() };
  app.addHook('onRequest', async (request, reply) => {
    if (UNLIMITED.has(request.url.split('?')[0]!)) return;
    const now = Date.now();
    if (now - window.start >= settings.windowMs) window = { start: now - (now % settings.windowMs), counts: new Map() };
    const write = !READ_METHODS.has(request.method);
    const principal = request.principal ?? ANONYMOUS;
    const anonymous = principal.id === ANONYMOUS.id;
    const limit = anonymous ? (write ? settings.anonymousWrites : settings.anonymousReads) : write ? settings.authenticatedWrites : settings.authenticatedReads;
    let key = `${write ? 'w' : 'r'} ${clientOf(request, anonymous)}`;
    if (!window.counts.has(key) && window.counts.size >= settings.maxClients) key = `${write ? 'w' : 'r'} overflow`;
    const count = (window.counts.get(key) ?? 0) + 1;
    window.counts.set(key, count);
    if (count <= limit) return;
    limits.refused?.inc({ kind: write ? 'write' : 'read' });
    const retryAfter = Math.max(1, Math.ceil((window.start + settings.windowMs - now) / 1000));
    return reply
      .code(429)
      .header('retry-after', String(retryAfter))
      .send({
        error: `too many ${write ? 'writes' : 'reads'}: at most ${limit} per ${settings.windowMs / 1000} s ${anonymous ? 'per address without a token' : 'per token'}; try again in ${retryAfter} s`,
        code: 'RATE_LIMITED',
      });
  });
}

function clientOf(request: FastifyRequest, anonymous: boolean): string {
  return anonymous ? `ip ${request.ip}` : `token ${request.principal.id}`;
}

export interface AuthFailureLimit {
  /** Requests refused 401 despite an Authorization header, per address and window, before the address is refused 429 outright. Default 60. */
  failures?: number;
  /** Length of a window, ms. Default 60,000. */
  windowMs?: number;
  /** Addresses counted apart per window; beyond, the newcomers share one count. Default 20,000. */
  maxClients?: number;
  /** Counts the requests refused (the hub's citypilot_hub_api_rate_limited_total, kind `token`). */
  refused?: { inc(labels: { kind: 'token' }): void };
}

/**
 * Refuses 429, before its token is looked up, every request with an Authorization header from an
 * address whose tokens were refused (401) `failures` times in the window: guessing tokens, or
 * sending random ones that each cost a database read, stops there. Register it before
 * registerAuth (its onRequest hook must run first).
 */
export function registerAuthFailureLimit(app: FastifyInstance, options: AuthFailureLimit = {}): void {
  const { failures = 60, windowMs = 60_000, maxClients = 20_000, refused } = options;
  let window = { start: 0, counts: new Map<string, number>() };
  const current = (now: number) => {
    if (now - window.start >= windowMs) window = { start: now - (now % windowMs), counts: new Map() };
    return window;
  };
  const keyOf = (request: FastifyRequest, counts: Map<string, number>) => (counts.has(request.ip) || counts.size < maxClients ? request.ip : 'overflow');
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization === undefined) return;
    const now = Date.now();
    const { start, counts } = current(now);
    if ((counts.get(keyOf(request, counts)) ?? 0) < failures) return;
    const retryAfter = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
    refused?.inc({ kind: 'token' });
    return reply
      .code(429)
      .header('retry-after', String(retryAfter))
      .send({
        error: `too many refused tokens from this address: at most ${failures} per ${windowMs / 1000} s; try again in ${retryAfter} s`,
        code: 'RATE_LIMITED',
      });
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 || request.headers.authorization === undefined) return;
    const { counts } = current(Date.now());
    const key = keyOf(request, counts);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
}
