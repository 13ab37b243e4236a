import type { FastifyInstance, FastifyReply } from 'fastify';
import type pg from 'pg';
import { CityPilotError, silentLogger, type Logger } from '@citypilot/sdk';
import { BackgroundWrites } from './background-writes.js';
import { ANONYMOUS, type Principal } from './principal.js';
import type { Sessions } from './sessions.js';
import { findTokenRecord, parseToken, secretMatches, touchToken, type TokenRecord } from './tokens.js';

/** Why a request's credentials were refused (HTTP 401). */
export type AuthenticationFailure = 'AUTH_HEADER_MALFORMED' | 'TOKEN_MALFORMED' | 'TOKEN_UNKNOWN' | 'TOKEN_SECRET_MISMATCH' | 'TOKEN_REVOKED';

/** The credentials of a request are not valid; `code` says how, the message says it to the caller. */
export class AuthenticationError extends CityPilotError {
  constructor(
    code: AuthenticationFailure,
    message: string,
    /** The id the token claimed, when it could be read (never the secret). */
    readonly tokenId?: string,
  ) {
    super(code, message);
  }
}

export interface AuthOptions {
  /** The hub's database, where the tokens are. */
  pool: pg.Pool;
  /** Where failures to record a token's last use go. Default: nowhere. */
  logger?: Logger;
  /**
   * How long a token's row, once read, answers for it without reading the database again, in ms.
   * A revocation takes effect within this time. Default 5000.
   */
  cacheTtlMs?: number;
  /** Least time between two updates of a token's last_used_at, in ms. Default 60000. */
  lastUsedIntervalMs?: number;
  /** Most token rows kept in memory; beyond, the oldest are dropped. Default 1000. */
  cacheMaxEntries?: number;
  /** People's sessions: a request without an Authorization header may come with a session cookie. */
  sessions?: Sessions;
}

/** A token's row as cached: `record` undefined when the database has no such token. */
interface CacheEntry {
  record: TokenRecord | undefined;
  expiresAt: number;
  /** When this process last recorded a use of the token (or the database's value), ms since epoch. */
  touchedAt: number;
}

/**
 * Sets `request.principal` on every request, in an onRequest hook (before the body is read):
 * `Authorization: Bearer <token>` gives the token's principal; no Authorization header gives
 * the principal of its session cookie when it has a valid one (sessions.ts: the account's, and a
 * write must carry the session's CSRF token), else ANONYMOUS; a bearer token always wins over a
 * cookie; a malformed header, or an unknown, wrong or revoked token, is answered 401 with the
 * reason and a stable `code`, never treated as anonymous. Token rows are cached per token for
 * `cacheTtlMs`, and concurrent requests with one token wait for the same read, so that a busy
 * API does not query the database per request. Declare it before the routes; call it once per
 * instance.
 */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const { pool, logger = silentLogger, cacheTtlMs = 5000, lastUsedIntervalMs = 60_000, cacheMaxEntries = 1000, sessions } = options;
  const cache = new Map<string, CacheEntry>();
  const reads = new Map<string, Promise<CacheEntry>>();
  const touches = new BackgroundWrites();

  const read = (id: string, now: number): Promise<CacheEntry> => {
    let pending = reads.get(id);
    if (!pending) {
      const previous = cache.get(id);
      pending = findTokenRecord(pool, id)
        .then((record) => {
          const entry: CacheEntry = {
            record,
            expiresAt: now + cacheTtlMs,
            touchedAt: Math.max(previous?.touchedAt ?? 0, record?.lastUsedAt?.getTime() ?? 0),
          };
          cache.delete(id); // re-inserted last: the Map's order is the age order eviction uses
          cache.set(id, entry);
          if (cache.size > cacheMaxEntries) evict(cache, cacheMaxEntries, now);
          return entry;
        })
        .finally(() => reads.delete(id));
      reads.set(id, pending);
    }
    return pending;
  };

  const authenticate = async (header: string, now: number): Promise<Principal> => {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) throw new AuthenticationError('AUTH_HEADER_MALFORMED', 'the Authorization header must be "Bearer <token>"');
    const parsed = parseToken(match[1]!);
    if (!parsed)
      throw new AuthenticationError('TOKEN_MALFORMED', 'this is not a CityPilot token (cp_<id>_<secret>, as printed by `citypilot hub token create`)');
    const cached = cache.get(parsed.id);
    const entry = cached && cached.expiresAt > now ? cached : await read(parsed.id, now);
    const record = entry.record;
    if (!record) throw new AuthenticationError('TOKEN_UNKNOWN', `no token has the id ${parsed.id} on this hub`, parsed.id);
    if (!secretMatches(parsed.secret, record.secretHash))
      throw new AuthenticationError('TOKEN_SECRET_MISMATCH', `the secret of token ${parsed.id} is wrong`, parsed.id);
    // Said only to the holder of the secret.
    if (record.revokedAt) throw new AuthenticationError('TOKEN_REVOKED', `token ${parsed.id} was revoked on ${record.revokedAt.toISOString()}`, parsed.id);
    if (now - entry.touchedAt >= lastUsedIntervalMs) {
      entry.touchedAt = now;
      touches.add(touchToken(pool, record.id, lastUsedIntervalMs), (error) =>
        logger.warn({ token: record.id, err: (error as Error).message }, 'could not record the last use of an API token'),
      );
    }
    return { id: record.id, role: record.role, sites: record.sites };
  };

  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('session', null);
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    if (header === undefined) {
      request.principal = ANONYMOUS;
      if (!sessions) return;
      try {
        return await sessions.authenticate(request, reply);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'could not read the sessions');
        return refuse(reply, 503, 'AUTH_UNAVAILABLE', 'the hub cannot check sessions right now (its database is unavailable); try again');
      }
    }
    try {
      request.principal = await authenticate(header, Date.now());
    } catch (error) {
      request.principal = ANONYMOUS;
      if (error instanceof AuthenticationError) {
        // For the audit of a refused write: which token was tried, never its secret.
        request.auditSummary = { refused: error.code, ...(error.tokenId ? { tokenId: error.tokenId } : {}) };
        return refuse(reply, 401, error.code, error.message);
      }
      logger.error({ err: (error as Error).message }, 'could not read the API tokens');
      return refuse(reply, 503, 'AUTH_UNAVAILABLE', 'the hub cannot check tokens right now (its database is unavailable); try again');
    }
  });
  app.addHook('onClose', async () => {
    await Promise.all([touches.settled(), sessions?.settled()]);
  });
}

function refuse(reply: FastifyReply, status: 401 | 503, code: string, message: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', `Bearer error="invalid_token", error_description=${JSON.stringify(message.replace(/"/g, "'"))}`);
  return reply.code(status).send({ error: message, code });
}

/** Drops the expired entries, then the oldest ones, until `max` are left. */
function evict(cache: Map<string, CacheEntry>, max: number, now: number): void {
  for (const [id, entry] of cache) if (entry.expiresAt <= now) cache.delete(id);
  for (const id of cache.keys()) {
    if (cache.size <= max) break;
    cache.delete(id);
  }
}
