import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { silentLogger, type Logger } from '@citypilot/sdk';
import { registerAccess } from './auth/access.js';
import { auditRoutes, registerAudit } from './auth/audit.js';
import type { AuditWriterOptions } from './auth/audit-writer.js';
import { registerAuth, type AuthOptions } from './auth/authenticate.js';
import { accountRoutes } from './auth/account-routes.js';
import { OidcSignIn, type OidcOptions } from './auth/oidc.js';
import { registerOpenApi } from './auth/openapi.js';
import { sessionRoutes } from './auth/session-routes.js';
import { LoginThrottle, Sessions, type LoginLimit, type SessionSettings } from './auth/sessions.js';
import { buildingRoutes } from './building-page.js';
import { Costs, costRoutes } from './costs/index.js';
import { listBuildings } from './storage/catalog.js';
import { completeness, completenessKeys } from './storage/completeness.js';
import type { Storage } from './storage/storage.js';
import { recordTimescaleJobs, type HubMetrics } from './metrics.js';
import { jobsHealth } from './storage/jobs.js';
import type { Objectives } from './objectives/objectives.js';
import { objectiveRoutes } from './objectives/routes.js';
import { OpenData, openDataRoutes, registerOpenDataPreflight, type OpenDataRoutesOptions } from './open-data/index.js';
import { serviceDataRoutes, type ServiceData } from './service-data/index.js';
import { serviceDataReader } from './objectives/data.js';
import type { EnergyPrices } from './projects/energy-prices.js';
import { projectRoutes } from './projects/routes.js';
import type { Projects } from './projects/store.js';
import { fleetRoutes, type FleetRoutesOptions } from './fleet/index.js';
import { registerErrors } from './http/errors.js';
import { registerAuthFailureLimit, registerRateLimits, type AuthFailureLimit, type RateLimits } from './http/limits.js';
import { openApiPools, type ApiPoolOptions, type ApiPools } from './http/pools.js';
import { registerPublicCache, type PublicCacheOptions } from './http/public-cache.js';
import { parseInstant } from './http/time.js';
import type { UtilityConnectors } from './utility/connectors.js';
import type { UtilityImports } from './utility/import-files.js';
import { utilityRoutes } from './utility/routes.js';
import { pluginRoutes } from './plugins/routes.js';
import { registerWeb, type WebOptions } from './http/web.js';

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
  /** The projects API (projects/routes.ts), when given: projects, prices and factors, and the discount rate of their net present value (per year; default 4 %). */
  projects?: { projects: Projects; prices: EnergyPrices; discountRate?: number };
  /** The service data API (service-data/routes.ts), when given. */
  serviceData?: ServiceData;
  /** The utility connectors' and imports' API (utility/routes.ts), when given. */
  utility?: { connectors: UtilityConnectors; imports: UtilityImports; publicUrl?: string };
  /** The fleet's API (fleet/routes.ts), when given: the hub's NATS connection, prefix, configuration bucket, the gateway's validator. */
  fleet?: Omit<FleetRoutesOptions, 'pool' | 'writePool' | 'logger'>;
  /**
   * Addresses of reverse proxies (comma-separated addresses or CIDR ranges) whose
   * X-Forwarded-For names the client, for the rate limits. Default none: the peer is the client.
   */
  trustProxy?: string;
  /** Requests per client and window (http/limits.ts). */
  rateLimits?: RateLimits;
  /** Refused tokens per address and window before the address is refused outright (http/limits.ts). */
  authFailures?: AuthFailureLimit;
  /** The cache of costly public reads (http/public-cache.ts); its paths are the API's. */
  publicCache?: Omit<PublicCacheOptions, 'paths'>;
  /** The API's own database connections and their statement timeout (http/pools.ts). */
  pools?: ApiPoolOptions;
  /** The audit's queue bound and its sampling of refused anonymous attempts (auth/audit-writer.ts). */
  audit?: Pick<AuditWriterOptions, 'refusedSamplePerWindow' | 'windowMs' | 'maxPending'>;
  /**
   * Open data (open-data/routes.ts): the hub's public address for the DCAT-AP catalogue's IRIs
   * (default: the request's own), downloads per client, and the download connections.
   */
  openData?: Pick<OpenDataRoutesOptions, 'publicUrl' | 'downloadsPerClient' | 'describeCacheMs'> & { downloads?: number; downloadTimeoutMs?: number };
  /** Where the built dashboard is (http/web.ts); default hub/web/dist. */
  web?: Pick<WebOptions, 'root'>;
  /**
   * People's sessions (auth/sessions.ts): their cookies, expiry and failed sign-ins allowed, and
   * sign-in through the city's OpenID Connect provider when `oidc` is given.
   */
  sessions?: SessionSettings & { login?: LoginLimit; oidc?: OidcOptions };
}

/** Public routes whose anonymous answers are cached for a few seconds (objectives cache their own). */
const PUBLIC_CACHED = ['/api/status', '/api/buildings', '/api/completeness'];

/** Most rows one /api/completeness answer may have (keys × buckets), for a caller with a token. */
export const COMPLETENESS_MAX_ROWS = 100_000;
/**
 * The same without a token: about 1 MB of JSON, which the public cache keeps. A month of hours of
 * a hundred points (7 MB, half a second of the hub's own work to decode and encode) is an
 * operator's diagnosis, not a public read: asked by many anonymous clients at once, it held
 * /healthz for over a second.
 */
export const COMPLETENESS_PUBLIC_MAX_ROWS = 10_000;

/**
 * The hub's HTTP API: `/healthz`, Prometheus `/metrics`, `/api/status` (gateways, points and
 * their last values), `/api/buildings` (the catalog), `/api/completeness` (samples received
 * against expected, per point or building, per hour or day), `/api/audit` (the audited writes),
 * `/api/openapi.json` (the API's OpenAPI document), `/api/session` (people's sign-in, with a
 * password or through the city's OpenID Connect provider), `/api/accounts` (people's accounts,
 * for admins), `/api/costs` (the cost of services: costs/routes.ts), and the dashboard at `/` and every page address (http/web.ts).
 *
 * Every request gets its `principal` from its bearer token or its session cookie (registerAuth;
 * a write with a session cookie must carry the session's CSRF token), is counted against its
 * client's rate limit (registerRateLimits), is let through only if its route's declared access
 * allows it (registerAccess: roles, and what a technician's sites restrict), and every write is
 * audited (registerAudit). Every failure is answered by registerErrors: 4xx with the reason, or
 * 500 "internal error" with a request id. Costly public reads are cached briefly
 * (registerPublicCache). Routes query the database through the API's own pool, whose statement
 * timeout bounds every request; /healthz has a connection of its own. Routes are declared in
 * plugins registered after registerOpenApi:
 * a route declared directly on `app` would be missing from the OpenAPI document.
 */
export function buildApi(dependencies: ApiDependencies): FastifyInstance {
  const { storage, metrics, logger = silentLogger, auth } = dependencies;
  const app = Fastify({ logger: false, trustProxy: dependencies.trustProxy ?? false });
  const pools = openApiPools(storage.pool, dependencies.pools);
  app.addHook('onClose', () => pools.end());
  registerErrors(app, { logger });
  registerAuthFailureLimit(app, { refused: metrics.apiRateLimited, ...dependencies.authFailures });
  const sessions = new Sessions(storage.pool, dependencies.sessions, logger);
  const oidcOptions = dependencies.sessions?.oidc;
  const oidc = oidcOptions ? new OidcSignIn(storage.pool, oidcOptions, logger) : undefined;
  // request.cookies for the routes; the authentication hook reads the session cookie itself, as
  // it runs before this plugin's hook.
  app.register(cookie);
  registerAuth(app, { pool: storage.pool, logger, ...auth, sessions });
  registerRateLimits(app, { refused: metrics.apiRateLimited, ...dependencies.rateLimits });
  registerOpenDataPreflight(app);
  registerAccess(app, { pool: pools.api });
  registerPublicCache(app, { paths: PUBLIC_CACHED, ...dependencies.publicCache });
  registerAudit(app, { pool: storage.pool, logger, failures: metrics.auditFailures, writer: { sampledOut: metrics.auditSampledOut, ...dependencies.audit } });
  registerOpenApi(app);
  app.register(auditRoutes, { pool: pools.api });
  app.register(async (instance) =>
    sessionRoutes(instance, { pool: pools.api, sessions, throttle: new LoginThrottle(dependencies.sessions?.login), oidc, logger }),
  );
  app.register(accountRoutes, { pool: storage.pool });
  app.register(async (instance) => hubRoutes(instance, dependencies, pools));
  const { objectives, serviceData, utility } = dependencies;
  if (objectives) app.register(async (instance) => objectiveRoutes(instance, { objectives, pool: pools.api, rollups: storage.rollups }));
  if (serviceData) app.register(serviceDataRoutes, { serviceData });
  const { projects } = dependencies;
  if (projects) {
    app.register(async (instance) =>
      projectRoutes(instance, {
        ...projects,
        pool: pools.api,
        timezone: storage.rollups.timezone,
        degreeDayMethod: objectives?.degreeDayMethod,
        ...(serviceData ? { services: serviceDataReader(serviceData) } : {}),
      }),
    );
  }
  if (utility) app.register(utilityRoutes, utility);
  const { fleet } = dependencies;
  if (fleet) app.register(async (instance) => fleetRoutes(instance, { ...fleet, pool: pools.api, writePool: storage.pool, logger }));
  const openData = new OpenData({
    pool: storage.pool,
    readPool: pools.api,
    timezone: storage.rollups.timezone,
    downloads: dependencies.openData?.downloads,
    downloadTimeoutMs: dependencies.openData?.downloadTimeoutMs,
  });
  app.addHook('onClose', () => openData.close());
  app.register(async (instance) => openDataRoutes(instance, { openData, ...dependencies.openData }));
  app.register(async (instance) => pluginRoutes(instance, { pool: pools.api }));
  app.register(costRoutes, { costs: new Costs({ pool: storage.pool, readPool: pools.api, timezone: storage.rollups.timezone }) });
  app.register(async (instance) =>
    buildingRoutes(instance, { pool: pools.api, timezone: storage.rollups.timezone, degreeDayMethod: objectives?.degreeDayMethod }),
  );
  registerWeb(app, { timezone: storage.rollups.timezone, ...dependencies.web });
  return app;
}

/** Health, metrics, status and catalog: readable by anyone; a technician token sees its own sites only. */
function hubRoutes(app: FastifyInstance, { storage, metrics, natsConnected }: ApiDependencies, pools: ApiPools): void {
  // On its own connection: a monitor must get its answer while the API's queries are busy.
  app.get(
    '/healthz',
    { schema: { summary: 'Whether the hub, its database and NATS are up, and its TimescaleDB jobs', tags: ['hub'], response: { 200: Health, 503: Health } } },
    async (_request, reply) => {
      let database = 'ok';
      try {
        await pools.health.query('SELECT 1');
      } catch (error) {
        database = (error as Error).message;
      }
      const failed = database === 'ok' ? await jobsHealth(storage.mode, pools.health) : undefined;
      const nats = natsConnected() ? 'ok' : 'disconnected';
      const up = database === 'ok' && nats === 'ok';
      // A failed job degrades the hub but is no reason to restart it or take it out of service.
      const status = up && !failed?.length ? 'ok' : 'degraded';
      return reply.code(up ? 200 : 503).send({ status, database, nats, storage: storage.mode, ...(failed && { failedJobs: failed }) });
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['hub'], response: { 200: text('text/plain', 'Metrics in the Prometheus text format') } } },
    async (_request, reply) => {
      // Unreadable job statistics (database down) leave the last ones read; /healthz says why.
      const jobs = await storage.timescaleJobs().catch(() => undefined);
      if (jobs) recordTimescaleJobs(metrics, jobs);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );

  app.get(
    '/api/buildings',
    {
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: { summary: 'The buildings of the catalog', tags: ['catalog'], response: { 200: Type.Array(Building, { description: 'The buildings, by id' }) } },
    },
    async (request) => (await listBuildings(pools.api)).filter((b) => request.siteScope.hasSite(b.site)),
  );

  // The handler checks the query itself, to say what is wrong in its own words; the schema says
  // the same to the OpenAPI document, and its validation result is left unused.
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/api/completeness',
    { config: { access: { roles: ['public'], sites: { filter: true } } }, attachValidation: true, schema: CompletenessSchema },
    async (request, reply) => {
      const { by = 'building', step = 'day', timezone } = request.query;
      const from = parseInstant('from', request.query.from);
      const to = parseInstant('to', request.query.to);
      const days = step === 'hour' ? 31 : 366;
      const problem =
        (!['point', 'building'].includes(by) && `by must be "point" or "building", not ${JSON.stringify(by)}`) ||
        (!['hour', 'day'].includes(step) && `step must be "hour" or "day", not ${JSON.stringify(step)}`) ||
        (typeof from === 'string' && from) ||
        (typeof to === 'string' && to) ||
        (timezone !== undefined && !/^[A-Za-z0-9_+\-/]{1,64}$/.test(timezone) && `unknown time zone ${JSON.stringify(timezone.slice(0, 64))}`);
      if (problem) return reply.code(400).send({ error: problem });
      const range = { from: from as Date, to: to as Date };
      if (range.to <= range.from) return reply.code(400).send({ error: 'to must be after from' });
      if (range.to.getTime() - range.from.getTime() > days * 86_400_000)
        return reply.code(400).send({ error: `at most ${step === 'hour' ? '31 days of hours' : '366 days'} per request` });
      const keys = await completenessKeys(pools.api, by as 'point' | 'building');
      const rows = keys * Math.ceil((range.to.getTime() - range.from.getTime()) / (step === 'hour' ? 3_600_000 : 86_400_000));
      const anonymous = request.principal.role === 'public';
      const maxRows = anonymous ? COMPLETENESS_PUBLIC_MAX_ROWS : COMPLETENESS_MAX_ROWS;
      if (rows > maxRows) {
        return reply.code(400).send({
          error: `this would answer about ${rows} rows, more than ${maxRows}${anonymous ? ' without a token' : ''}: ask a shorter range, step=day or by=building`,
        });
      }
      try {
        const found = await completeness(pools.api, { by: by as 'point' | 'building', step: step as 'hour' | 'day', ...range, timezone });
        const scope = request.siteScope;
        if (scope.all) return found;
        const held = by === 'point' ? await scope.gateways() : await scope.buildings();
        return found.filter((r) => held.has(by === 'point' ? r.key.slice(0, r.key.indexOf('/')) : r.key));
      } catch (error) {
        if ((error as { code?: string }).code === '22023') return reply.code(400).send({ error: `unknown time zone ${JSON.stringify(timezone)}` });
        throw error;
      }
    },
  );

  app.get(
    '/api/status',
    {
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: { summary: 'Gateways, points and their latest values', tags: ['hub'], response: { 200: Status } },
    },
    async (request) => ({
      storage: { mode: storage.mode, detail: storage.modeDetail },
      gateways: await request.siteScope.byGateway(await storage.gateways(), (g) => g.id),
      points: await request.siteScope.byGateway(await storage.points(), (p) => p.gateway),
    }),
  );
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** A string among `values`, as one enum (TypeBox's union of literals reads poorly in OpenAPI). */
const oneOf = <const T extends string>(values: readonly T[], options: { description?: string; default?: T } = {}) =>
  Type.Unsafe<T>({ type: 'string', enum: values, ...options });

/** A response that is text of one media type, not JSON (left unserialised by fastify). */
function text(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: Type.String() } } };
}

const Health = Type.Object(
  {
    status: oneOf(['ok', 'degraded'], {
      description:
        '`degraded` when the database or NATS is down (HTTP 503), or when a TimescaleDB job of the hub failed its last run (HTTP 200: the hub still ingests and serves)',
    }),
    database: Type.String({ description: '`ok`, or the error of a trial query' }),
    nats: oneOf(['ok', 'disconnected']),
    storage: oneOf(['timescaledb', 'postgresql']),
    failedJobs: Type.Optional(
      Type.Array(
        Type.Object({
          job: Type.String({ description: 'The policy and what it acts on, e.g. `retention of samples`, `compression of samples`, `refresh of rollup_hour`' }),
          failedAt: nullable(Type.String({ format: 'date-time', description: 'When the failed run ended' })),
          reason: Type.String({
            description:
              "PostgreSQL's name for the failure and its SQLSTATE, e.g. `deadlock detected (SQLSTATE 40P01)`; the full message is in timescaledb_information.job_errors",
          }),
        }),
        {
          description:
            "With TimescaleDB and its database up: the hub's jobs whose last run failed, none when all is well. TimescaleDB retries them; each stays here until a run succeeds.",
        },
      ),
    ),
  },
  { description: 'The hub and its connections' },
);

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

const Status = Type.Object(
  {
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
  },
  { description: 'The gateways and the points they announced, with their latest sample' },
);

const CompletenessSchema = {
  summary: 'Samples received against samples expected',
  description:
    "Per point or building, per hour or day in the city's time zone (days of a daylight-saving change have 23 or 25 hours). " +
    "Expected counts come from each point's poll interval; retired points and points without an interval are left out. " +
    `Limits: at most 31 days of hours or 366 days, and at most ${COMPLETENESS_MAX_ROWS} rows (keys × buckets) per request with a token, ${COMPLETENESS_PUBLIC_MAX_ROWS} without (400 beyond, with the estimate); ` +
    'times between the years 1900 and 9999. Answers to callers without a token are cached for a few seconds (`x-cache: hit`).',
  tags: ['catalog'],
  querystring: Type.Object({
    by: Type.Optional(oneOf(['point', 'building'], { default: 'building', description: 'One row per point (`<gateway>/<point>`) or per building' })),
    step: Type.Optional(oneOf(['hour', 'day'], { default: 'day', description: 'Bucket width; at most 31 days of hours or 366 days per request' })),
    from: Type.String({ format: 'date-time', description: 'Start of the range (included), ISO 8601 with its offset, e.g. 2026-10-25T00:00:00+02:00' }),
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
    400: Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) }, { description: 'What is wrong with the query' }),
  },
};
