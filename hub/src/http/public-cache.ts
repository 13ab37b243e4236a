import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ANONYMOUS } from '../auth/principal.js';

export interface PublicCacheOptions {
  /** Paths (without query) whose anonymous GETs are cached, e.g. `/api/completeness`. */
  paths: readonly string[];
  /** How long an answer is served again, ms. Default 2,000. */
  ttlMs?: number;
  /** Most answers kept. Default 500. */
  maxEntries?: number;
  /** Most bytes of answers kept; an answer larger than a tenth of it is not kept. Default 32 MiB. */
  maxBytes?: number;
}

interface Entry {
  at: number;
  status: number;
  type: string;
  body: string | Buffer;
}

/**
 * A short cache of the answers of costly public routes to anonymous GETs, keyed by the path and
 * its query parameters in sorted order, so that many anonymous clients asking the same thing cost
 * one query per `ttlMs`: an answer is kept for `ttlMs`, and requests arriving while the first one
 * is being answered wait for it instead of querying too. Only 200 answers are kept (an error is
 * cheap and answered each time). Callers with a token are never served from it. Answers carry
 * `x-cache: hit` or `miss`. Needs the principal set by registerAuth: register after it.
 */
export function registerPublicCache(app: FastifyInstance, options: PublicCacheOptions): void {
  const { paths, ttlMs = 2000, maxEntries = 500, maxBytes = 32 * 1024 * 1024 } = options;
  const entries = new Map<string, Entry>();
  let bytes = 0;
  /** Keys being answered, with how the waiting requests learn the answer (undefined: answer yourselves). */
  const filling = new Map<string, Promise<Entry | undefined>>();
  const fillers = new WeakMap<FastifyRequest, { key: string; done: (entry: Entry | undefined) => void }>();
  const served = new WeakSet<FastifyRequest>();

  const keyOf = (request: FastifyRequest): string | undefined => {
    if (request.method !== 'GET' || (request.principal ?? ANONYMOUS).id !== ANONYMOUS.id) return undefined;
    const [path = '', query = ''] = request.url.split('?', 2);
    if (!paths.includes(path)) return undefined;
    const params = new URLSearchParams(query);
    params.sort();
    return `${path}?${params.toString()}`;
  };
  const evict = (now: number) => {
    for (const [key, entry] of entries) {
      if (entries.size <= maxEntries && bytes <= maxBytes && now - entry.at < ttlMs) break;
      entries.delete(key);
      bytes -= entry.body.length;
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    const key = keyOf(request);
    if (key === undefined) return;
    const now = Date.now();
    let entry = entries.get(key);
    if (entry && now - entry.at >= ttlMs) entry = undefined;
    if (!entry && filling.has(key)) entry = await filling.get(key);
    if (entry) {
      served.add(request);
      return reply.code(entry.status).type(entry.type).header('x-cache', 'hit').send(entry.body);
    }
    let done!: (entry: Entry | undefined) => void;
    filling.set(key, new Promise((resolve) => (done = resolve)));
    fillers.set(request, { key, done });
    reply.header('x-cache', 'miss');
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const filler = fillers.get(request);
    if (!filler || served.has(request)) return payload;
    fillers.delete(request);
    filling.delete(filler.key);
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : undefined;
    if (reply.statusCode !== 200 || body === undefined || body.length > maxBytes / 10) {
      filler.done(undefined);
      return payload;
    }
    const entry: Entry = { at: Date.now(), status: 200, type: String(reply.getHeader('content-type') ?? 'application/json'), body };
    const previous = entries.get(filler.key);
    if (previous) bytes -= previous.body.length;
    entries.delete(filler.key);
    entries.set(filler.key, entry); // last: the Map's order is the age order eviction uses
    bytes += body.length;
    evict(entry.at);
    filler.done(entry);
    return payload;
  });

  // A request that ends without sending (aborted, failed before onSend) must not leave others waiting.
  const release = async (request: FastifyRequest) => {
    const filler = fillers.get(request);
    if (!filler) return;
    fillers.delete(request);
    filling.delete(filler.key);
    filler.done(undefined);
  };
  app.addHook('onResponse', release);
  app.addHook('onRequestAbort', release);
}
