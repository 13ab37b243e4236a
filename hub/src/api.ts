import Fastify, { type FastifyInstance } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { silentLogger, type Logger } from '@citypilot/sdk';
import { registerAccess } from './auth/access.js';
import { auditRoutes, registerAudit } from './auth/audit.js';
import { registerAuth, type AuthOptions } from './auth/authenticate.js';
import { registerOpenApi } from './auth/openapi.js';
import { listBuildings } from './storage/catalog.js';
import { completeness } from './storage/completeness.js';
import type { Storage } from './storage/storage.js';
import { recordTimescaleJobs, type HubMetrics } from './metrics.js';
import { jobsHealth } from './storage/jobs.js';
import type { Objectives } from './objectives/objectives.js';
import { objectiveRoutes } from './objectives/routes.js';
import { serviceDataRoutes, type ServiceData } from './service-data/index.js';

export interface ApiDependencies {
  storage: Storage;
  metrics: HubMetrics;
  /** Whether the hub's NATS connection is up, for /healthz. */
  natsConnected: () => boolean;
  /** Where failures of the API's background writes (audit, last use of tokens) go. Default: nowhere. */
  logger?: Logger;
  /** Token cache settings; the tokens are in storage's database. */
  auth?: Pick<AuthOptions, 'cacheTtlMs' | 'lastUsedIntervalMs' | 'cacheMaxEntries'>;
  /** The objectives API (objectives/routes.ts), when given. */
  objectives?: Objectives;
  /** The service data API (service-data/routes.ts), when given. */
  serviceData?: ServiceData;
}

/**
 * The hub's HTTP API: `/healthz`, Prometheus `/metrics`, `/api/status` (gateways, points and
 * their last values), `/api/buildings` (the catalog), `/api/completeness` (samples received
 * against expected, per point or building, per hour or day), `/api/audit` (the audited writes),
 * `/api/openapi.json` (the API's OpenAPI document), and `/`, the status as a page.
 *
 * Every request gets its `principal` from its bearer token (registerAuth), every route under
 * /api declares who may call it and what a technician's sites restrict (registerAccess), and
 * every write is audited (registerAudit). Routes are declared in plugins registered after registerOpenApi:
 * a route declared directly on `app` would be missing from the OpenAPI document.
 */
export function buildApi(dependencies: ApiDependencies): FastifyInstance {
  const { storage, metrics, logger = silentLogger, auth } = dependencies;
  const app = Fastify({ logger: false });
  registerAuth(app, { pool: storage.pool, logger, ...auth });
  registerAccess(app, { pool: storage.pool });
  registerAudit(app, { pool: storage.pool, logger, failures: metrics.auditFailures });
  registerOpenApi(app);
  app.register(auditRoutes, { pool: storage.pool });
  app.register(async (instance) => hubRoutes(instance, dependencies));
  const { objectives, serviceData } = dependencies;
  if (objectives) app.register(async (instance) => objectiveRoutes(instance, { objectives, pool: storage.pool, rollups: storage.rollups }));
  if (serviceData) app.register(serviceDataRoutes, { serviceData });
  return app;
}

/** Health, metrics, status and catalog: readable by anyone; a technician token sees its own sites only. */
function hubRoutes(app: FastifyInstance, { storage, metrics, natsConnected }: ApiDependencies): void {
  app.get('/healthz', { schema: { summary: 'Whether the hub, its database and NATS are up, and its TimescaleDB jobs', tags: ['hub'], response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    let database = 'ok';
    try {
      await storage.pool.query('SELECT 1');
    } catch (error) {
      database = (error as Error).message;
    }
    const failed = database === 'ok' ? await jobsHealth(storage) : undefined;
    const nats = natsConnected() ? 'ok' : 'disconnected';
    const up = database === 'ok' && nats === 'ok';
    // A failed job degrades the hub but is no reason to restart it or take it out of service.
    const status = up && !failed?.length ? 'ok' : 'degraded';
    return reply.code(up ? 200 : 503).send({ status, database, nats, storage: storage.mode, ...(failed && { failedJobs: failed }) });
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['hub'], response: { 200: text('text/plain', 'Metrics in the Prometheus text format') } } }, async (_request, reply) => {
    // Unreadable job statistics (database down) leave the last ones read; /healthz says why.
    const jobs = await storage.timescaleJobs().catch(() => undefined);
    if (jobs) recordTimescaleJobs(metrics, jobs);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get(
    '/api/buildings',
    { config: { access: { roles: ['public'], sites: { filter: true } } }, schema: { summary: 'The buildings of the catalog', tags: ['catalog'], response: { 200: Type.Array(Building, { description: 'The buildings, by id' }) } } },
    async (request) => (await listBuildings(storage.pool)).filter((b) => request.siteScope.hasSite(b.site)),
  );

  // The handler checks the query itself, to say what is wrong in its own words; the schema says
  // the same to the OpenAPI document, and its validation result is left unused.
  app.get<{ Querystring: Record<string, string | undefined> }>('/api/completeness', { config: { access: { roles: ['public'], sites: { filter: true } } }, attachValidation: true, schema: CompletenessSchema }, async (request, reply) => {
    const { by = 'building', step = 'day', from, to, timezone } = request.query;
    const problem =
      (!['point', 'building'].includes(by) && `by must be "point" or "building", not ${JSON.stringify(by)}`) ||
      (!['hour', 'day'].includes(step) && `step must be "hour" or "day", not ${JSON.stringify(step)}`) ||
      ((!from || Number.isNaN(Date.parse(from))) && 'from must be an ISO 8601 date-time, e.g. 2026-10-25T00:00:00+02:00') ||
      ((!to || Number.isNaN(Date.parse(to))) && 'to must be an ISO 8601 date-time') ||
      (Date.parse(to!) <= Date.parse(from!) && 'to must be after from') ||
      ((Date.parse(to!) - Date.parse(from!)) / 3_600_000 > (step === 'hour' ? 24 * 31 : 24 * 366) && `at most ${step === 'hour' ? '31 days of hours' : '366 days'} per request`);
    if (problem) return reply.code(400).send({ error: problem });
    try {
      const rows = await completeness(storage.pool, { by: by as 'point' | 'building', step: step as 'hour' | 'day', from: new Date(from!), to: new Date(to!), timezone });
      const scope = request.siteScope;
      if (scope.all) return rows;
      const held = by === 'point' ? await scope.gateways() : await scope.buildings();
      return rows.filter((r) => held.has(by === 'point' ? r.key.slice(0, r.key.indexOf('/')) : r.key));
    } catch (error) {
      if ((error as { code?: string }).code === '22023') return reply.code(400).send({ error: `unknown time zone ${JSON.stringify(timezone)}` });
      throw error;
    }
  });

  app.get(
    '/api/status',
    { config: { access: { roles: ['public'], sites: { filter: true } } }, schema: { summary: 'Gateways, points and their latest values', tags: ['hub'], response: { 200: Status } } },
    async (request) => ({
      storage: { mode: storage.mode, detail: storage.modeDetail },
      gateways: await request.siteScope.byGateway(await storage.gateways(), (g) => g.id),
      points: await request.siteScope.byGateway(await storage.points(), (p) => p.gateway),
    }),
  );

  app.get('/', { schema: { summary: 'The status as a web page', tags: ['hub'], response: { 200: text('text/html', 'A page that refreshes itself every 5 s') } } }, async (_request, reply) => {
    const [gateways, points] = await Promise.all([storage.gateways(), storage.points()]);
    const rows = points
      .map(
        (p) =>
          `<tr><td>${esc(p.gateway)}</td><td>${esc(p.id)}</td><td>${esc(p.name)}</td><td class="n">${esc(formatValue(p.lastValue))}</td>` +
          `<td>${esc(p.unit ?? '')}</td><td>${esc(p.lastQuality ?? '')}</td><td>${esc(p.lastTime ?? '')}</td></tr>`,
      )
      .join('');
    const gws = gateways
      .map((g) => `<tr><td>${esc(g.id)}</td><td class="n">${g.points}</td><td class="n">${g.lastSeq}</td><td>${esc(g.lastSeen ?? '')}</td></tr>`)
      .join('');
    return reply.type('text/html; charset=utf-8').send(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>CityPilot hub</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem;text-align:left}.n{text-align:right}</style></head><body>
<h1>CityPilot hub</h1><p>Storage: ${esc(storage.mode)} (${esc(storage.modeDetail)}). JSON: <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></p>
<h2>Gateways</h2><table><tr><th>Gateway</th><th>Points</th><th>Last batch</th><th>Last seen</th></tr>${gws}</table>
<h2>Points</h2><table><tr><th>Gateway</th><th>Point</th><th>Name</th><th>Last value</th><th>Unit</th><th>Quality</th><th>Time</th></tr>${rows}</table>
</body></html>`);
  });
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return value === null || value === undefined ? '' : String(value);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** A string among `values`, as one enum (TypeBox's union of literals reads poorly in OpenAPI). */
const oneOf = <const T extends string>(values: readonly T[], options: { description?: string; default?: T } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: values, ...options });

/** A response that is text of one media type, not JSON (left unserialised by fastify). */
function text(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: Type.String() } } };
}

const Health = Type.Object({
  status: oneOf(['ok', 'degraded'], { description: '`degraded` when the database or NATS is down (HTTP 503), or when a TimescaleDB job of the hub failed its last run (HTTP 200: the hub still ingests and serves)' }),
  database: Type.String({ description: '`ok`, or the error of a trial query' }),
  nats: oneOf(['ok', 'disconnected']),
  storage: oneOf(['timescaledb', 'postgresql']),
  failedJobs: Type.Optional(
    Type.Array(
      Type.Object({
        job: Type.String({ description: 'The policy and what it acts on, e.g. `retention of samples`, `compression of samples`, `refresh of rollup_hour`' }),
        failedAt: nullable(Type.String({ format: 'date-time', description: 'When the failed run ended' })),
        reason: Type.String({ description: "PostgreSQL's name for the failure and its SQLSTATE, e.g. `deadlock detected (SQLSTATE 40P01)`; the full message is in timescaledb_information.job_errors" }),
      }),
      { description: "With TimescaleDB and its database up: the hub's jobs whose last run failed, none when all is well. TimescaleDB retries them; each stays here until a run succeeds." },
    ),
  ),
}, { description: 'The hub and its connections' });

const Building = Type.Object({
  id: Type.String(),
  name: Type.String(),
  site: Type.String({ description: "The site's key" }),
  usage: Type.String({ description: 'school, town-hall, gymnasium …' }),
  areaM2: nullable(Type.Number({ description: 'Heated floor area, m²' })),
  energyReferenceYear: nullable(Type.Integer()),
  gateways: Type.Array(Type.String(), { description: 'Gateways that serve the building' }),
  points: Type.Integer({ description: 'Active (not retired) points' }),
});

const Status = Type.Object({
  storage: Type.Object({ mode: oneOf(['timescaledb', 'postgresql']), detail: Type.String({ description: "TimescaleDB's version, or why it is not used" }) }),
  gateways: Type.Array(
    Type.Object({
      id: Type.String(),
      firstSeen: Type.String({ format: 'date-time' }),
      lastSeen: nullable(Type.String({ format: 'date-time' })),
      lastSeq: Type.Integer({ description: 'Highest batch sequence number received' }),
      points: Type.Integer(),
    }),
  ),
  points: Type.Array(
    Type.Object({
      gateway: Type.String(),
      id: Type.String({ description: '<device>.<point>' }),
      name: Type.String(),
      unit: nullable(Type.String()),
      kind: Type.String({ description: 'number, boolean or string' }),
      tags: Type.Array(Type.String()),
      lastTime: nullable(Type.String({ format: 'date-time' })),
      lastValue: Type.Union([Type.Number(), Type.String(), Type.Boolean(), Type.Null()]),
      lastQuality: nullable(oneOf(['good', 'uncertain', 'bad', 'stale'])),
    }),
  ),
}, { description: 'The gateways and the points they announced, with their latest sample' });

const CompletenessSchema = {
  summary: 'Samples received against samples expected',
  description:
    "Per point or building, per hour or day in the city's time zone (days of a daylight-saving change have 23 or 25 hours). " +
    'Expected counts come from each point\'s poll interval; retired points and points without an interval are left out.',
  tags: ['catalog'],
  querystring: Type.Object({
    by: Type.Optional(oneOf(['point', 'building'], { default: 'building', description: 'One row per point (`<gateway>/<point>`) or per building' })),
    step: Type.Optional(oneOf(['hour', 'day'], { default: 'day', description: 'Bucket width; at most 31 days of hours or 366 days per request' })),
    from: Type.String({ format: 'date-time', description: 'Start of the range (included), e.g. 2026-10-25T00:00:00+02:00' }),
    to: Type.String({ format: 'date-time', description: 'End of the range (excluded), after from' }),
    timezone: Type.Optional(Type.String({ description: "IANA time zone of the buckets; default the city's (Europe/Paris)" })),
  }),
  response: {
    200: Type.Array(
      Type.Object({
        key: Type.String({ description: '`<gateway>/<point>` or the building id' }),
        bucket: Type.String({ description: 'Local start of the bucket, without offset, e.g. 2026-10-25T00:00:00' }),
        received: Type.Number(),
        expected: Type.Number(),
        ratio: Type.Number({ minimum: 0, maximum: 1, description: 'received / expected, at most 1' }),
      }),
      { description: 'One row per key and bucket, by key then time' },
    ),
    400: Type.Object({ error: Type.String() }, { description: 'What is wrong with the query' }),
  },
};
