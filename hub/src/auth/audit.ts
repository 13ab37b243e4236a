import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { silentLogger, type Logger } from '@citypilot/sdk';
import { parseInstant } from '../http/time.js';
import { AuditWriter, type AuditWriterOptions } from './audit-writer.js';
import { ANONYMOUS } from './principal.js';
import { redactTokens } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * What a write changed, in short, for the audit: a route sets it (e.g. `{ objective:
     * 'energy-2030', target: 120 }`); left null, the audit keeps the top level of the request's
     * body. Secrets are redacted either way.
     */
    auditSummary: Record<string, unknown> | null;
  }
}

/** Methods that change nothing, and are not audited. */
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Keys whose values never reach the audit (but `tokenId` and the like, which name a secret without being one). */
const SECRET_KEY = /token|secret|passw|authori[sz]ation|credential|api[-_]?key|cookie/i;
const ID_KEY = /id$/i;
const SUMMARY_MAX_CHARS = 2000;
const STRING_MAX_CHARS = 200;
const KEYS_MAX = 30;
const ITEMS_MAX = 10;
/** Most entries one `GET /api/audit` returns. */
const AUDIT_LIMIT_MAX = 1000;

export interface AuditOptions {
  /** The hub's database: rows go to api_audit. */
  pool: pg.Pool;
  /** Where failures to record an entry go. Default: nowhere. */
  logger?: Logger;
  /** Counts the entries that could not be recorded (the hub's citypilot_hub_audit_failures_total). */
  failures?: { inc(n?: number): void };
  /** Batching, queue bound and sampling of refused anonymous attempts: see AuditWriter. */
  writer?: Omit<AuditWriterOptions, 'pool' | 'logger' | 'failures'>;
}

/** One audited request, as stored and as `GET /api/audit` returns it. */
export interface AuditEntry {
  id: string;
  /** When the response was sent (ISO 8601). */
  at: string;
  /** The token's id, `account:<username>` for a person's session, or `anonymous`. */
  principal: string;
  /** The person's display name when the write was made in a session; null otherwise. */
  name: string | null;
  role: string;
  method: string;
  /** The route as declared, e.g. `/api/objectives/:id`. */
  route: string;
  /** The path requested, without its query string. */
  target: string;
  status: number;
  summary: unknown;
}

/**
 * Records every request that reached a route with a method other than GET, HEAD or OPTIONS,
 * whatever its outcome (401, 403, 400 and 500 too), in an onResponse hook: after the response,
 * so that the audit never delays a reply; a failure to record is logged and counted, never
 * reported to the client. Requests that matched no route (404) are not recorded. Rows are
 * written in batches by an AuditWriter, which bounds its queue and stores only a sample of a
 * flood of refused anonymous attempts (counting the rest). NUL characters of a body are stored
 * escaped (`\u0000` as text), so that no body can make its own audit fail. Needs the principal
 * set by registerAuth; declare it before the routes.
 */
export function registerAudit(app: FastifyInstance, options: AuditOptions): void {
  const { pool, logger = silentLogger, failures } = options;
  const writer = new AuditWriter({ pool, logger, failures, ...options.writer });
  app.decorateRequest('auditSummary', null);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (READ_METHODS.has(request.method) || route === undefined) return;
    const principal = request.principal ?? ANONYMOUS;
    const summary = request.auditSummary ? summarize(request.auditSummary, 3) : bodySummary(request.body);
    writer.record({
      at: new Date(),
      principal: principal.id,
      principalName: principal.name ?? null,
      role: principal.role,
      method: request.method,
      route,
      target: escapeNul(request.url.split('?')[0]!),
      status: reply.statusCode,
      summary: summary === null ? null : JSON.stringify(summary),
    });
  });
  app.addHook('onClose', async () => {
    await writer.close();
  });
}

/** The audit's summary of a request body: its top level, nested values abridged, secrets redacted. */
export function bodySummary(body: unknown): Record<string, unknown> | null {
  if (body === undefined || body === null) return null;
  if (Buffer.isBuffer(body)) return { body: `${body.length} bytes` };
  // A body read as a stream (a CSV import) that was refused before its route summarised it:
  // the request's own object, which is nothing to record.
  if (body instanceof Readable) return { body: 'streamed, not read' };
  if (typeof body === 'string') return { body: `${body.length} characters` };
  if (typeof body !== 'object') return { body: redact(body, 0, 1) };
  return summarize(body as Record<string, unknown>, 1);
}

/** A summary at most `depth` levels deep, secrets redacted, and at most SUMMARY_MAX_CHARS of JSON. */
function summarize(value: Record<string, unknown> | unknown[], depth: number): Record<string, unknown> {
  const summary = Array.isArray(value) ? { items: redact(value, 0, depth) } : (redact(value, 0, depth) as Record<string, unknown>);
  if (JSON.stringify(summary).length <= SUMMARY_MAX_CHARS) return summary;
  return { truncated: true, keys: Object.keys(summary).slice(0, KEYS_MAX) };
}

/** `text` with each NUL character as the six characters `\u0000`: PostgreSQL stores no NUL. */
function escapeNul(text: string): string {
  return text.replaceAll('\u0000', '\\u0000');
}

function redact(value: unknown, level: number, depth: number): unknown {
  if (typeof value === 'string') {
    const text = redactTokens(escapeNul(value));
    return text.length > STRING_MAX_CHARS ? `${text.slice(0, STRING_MAX_CHARS)}…` : text;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) {
    if (level >= depth) return `[${value.length} items]`;
    const items = value.slice(0, ITEMS_MAX).map((v) => redact(v, level + 1, depth));
    return value.length > ITEMS_MAX ? [...items, `… ${value.length - ITEMS_MAX} more`] : items;
  }
  if (typeof value === 'object' && value !== undefined) {
    const keys = Object.keys(value);
    if (level >= depth) return `[object of ${keys.length} keys]`;
    const out: Record<string, unknown> = {};
    for (const key of keys.slice(0, KEYS_MAX)) {
      out[escapeNul(key)] = SECRET_KEY.test(key) && !ID_KEY.test(key) ? '[redacted]' : redact((value as Record<string, unknown>)[key], level + 1, depth);
    }
    if (keys.length > KEYS_MAX) out['…'] = `${keys.length - KEYS_MAX} more keys`;
    return out;
  }
  return value === undefined ? null : typeof value;
}

const AuditQuerySchema = Type.Object({
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Entries at or after this instant (ISO 8601 with an offset, years 1900 to 9999).' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Entries before this instant.' })),
  principal: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: "Entries of one principal: a token's id, account:<username>, or anonymous." }),
  ),
  before: Type.Optional(
    Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Entries with an id below this one: for the next page, the last id received.' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_LIMIT_MAX, default: 100, description: 'Most entries returned, newest first.' })),
});
type AuditQuery = Static<typeof AuditQuerySchema>;
const AUDIT_PARAMETERS = Object.keys(AuditQuerySchema.properties);

const AuditEntrySchema = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  principal: Type.String({ description: "The token's id, account:<username> for a person signed in, or anonymous." }),
  name: Type.Union([Type.String(), Type.Null()], { description: "The person's display name for a write made in a session; null for a token or anonymous." }),
  role: Type.String(),
  method: Type.String(),
  route: Type.String({ description: 'The route as declared, e.g. /api/objectives/:id.' }),
  target: Type.String({ description: 'The path requested, without its query string.' }),
  status: Type.Integer({ description: 'HTTP status of the response.' }),
  summary: Type.Unknown({ description: 'What was changed, in short, secrets redacted; null when the request had no body.' }),
});

/** `GET /api/audit`: the audited writes, newest first, for admins and operators. */
export const auditRoutes: FastifyPluginAsync<{ pool: pg.Pool }> = async (app, { pool }) => {
  app.get<{ Querystring: AuditQuery }>(
    '/api/audit',
    {
      config: { access: { roles: ['operator'] } },
      // The handler answers a bad query itself, as { error } like the other routes.
      attachValidation: true,
      schema: {
        summary: 'Audited API writes',
        description:
          'Every request that could change something (any method but GET, HEAD, OPTIONS) and reached a route, whatever its outcome: who, when, what, and the status of the response. Newest first, at most `limit` per request; `truncated` says there are more (ask again with `before` set to the last id).',
        tags: ['audit'],
        querystring: AuditQuerySchema,
        response: {
          200: Type.Object({ entries: Type.Array(AuditEntrySchema), truncated: Type.Boolean() }),
          400: Type.Object({ error: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      const unknown = [...new URLSearchParams(request.url.split('?')[1] ?? '').keys()].filter((k) => !AUDIT_PARAMETERS.includes(k));
      if (unknown.length) return reply.code(400).send({ error: `unknown parameter ${unknown.join(', ')}: the parameters are ${AUDIT_PARAMETERS.join(', ')}` });
      if (request.validationError) return reply.code(400).send({ error: request.validationError.message });
      const { principal, before, limit } = request.query;
      const from = request.query.from === undefined ? undefined : parseInstant('from', request.query.from);
      const to = request.query.to === undefined ? undefined : parseInstant('to', request.query.to);
      if (typeof from === 'string' || typeof to === 'string') return reply.code(400).send({ error: typeof from === 'string' ? from : to });
      if (from && to && to <= from) return reply.code(400).send({ error: 'to must be after from' });
      return queryAudit(pool, { from, to, principal, before, limit: limit ?? 100 });
    },
  );
};

/** Audit entries, newest first; `truncated` when more than `limit` matched. */
export async function queryAudit(
  pool: pg.Pool,
  query: { from?: Date; to?: Date; principal?: string; before?: number; limit: number },
): Promise<{ entries: AuditEntry[]; truncated: boolean }> {
  const { rows } = await pool.query<{
    id: string;
    at: Date;
    principal_id: string;
    principal_name: string | null;
    role: string;
    method: string;
    route: string;
    target: string;
    status_code: number;
    summary: unknown;
  }>(
    `SELECT id::text AS id, at, principal_id, principal_name, role, method, route, target, status_code, summary FROM api_audit
      WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2)
        AND ($3::text IS NULL OR principal_id = $3) AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [query.from ?? null, query.to ?? null, query.principal ?? null, query.before ?? null, query.limit + 1],
  );
  return {
    entries: rows.slice(0, query.limit).map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      principal: r.principal_id,
      name: r.principal_name,
      role: r.role,
      method: r.method,
      route: r.route,
      target: r.target,
      status: r.status_code,
      summary: r.summary,
    })),
    truncated: rows.length > query.limit,
  };
}
