import type {} from '@fastify/swagger'; // the schema's description and tags, for the OpenAPI document
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Access } from '../auth/access.js';
import { ANONYMOUS, type Role } from '../auth/principal.js';
import { MONTH_PATTERN, parseInstant } from '../http/time.js';
import type { Rollups } from '../storage/rollups.js';
import { parseFormula } from './formula.js';
import { describeStatus, statusBasisOf, type Status } from './engine.js';
import { ObjectiveDefinitionError, THEMES, type ObjectiveDefinition, type Theme } from './model.js';
import type { Objectives } from './objectives.js';
import { operatExport } from './operat.js';

/**
 * Roles that see unpublished objectives and every result; anyone sees the published ones. A
 * technician sees, besides the published ones, the unpublished objectives limited (scope.keys)
 * to sites or buildings of its own sites; of any objective, the results of the city and of its
 * own sites and buildings only.
 */
const STAFF: Role[] = ['operator', 'director', 'elected', 'agent', 'technician'];

/** A reading route of objectives: anyone, a technician within its sites (`scope`, when given, is checked). */
const READ: Access = { roles: ['public'], sites: { check: [{ in: 'query', name: 'scope', kind: 'scope' }], filter: true } };

const MONTH = MONTH_PATTERN;
const PERIOD = '^\\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$';
const SCOPE = '^(city|site:[a-z0-9_-]+|building:[a-z0-9_-]+)$';

export interface ObjectiveRoutesOptions {
  objectives: Objectives;
  pool: pg.Pool;
  rollups: Rollups;
}

/**
 * The objectives API: objectives by theme with their status, one KPI's history with its
 * comparisons, drill-down from the city to a site, a building and its points, the series behind
 * a chart, and the definitions (operators). Registered by buildApi.
 */
export function objectiveRoutes(app: FastifyInstance, { objectives, pool, rollups }: ObjectiveRoutesOptions): void {
  // Results change only when objectives are evaluated (every few minutes) or defined: the
  // answers of the reading routes are kept until then, or CACHE_MS at most (another hub process
  // may have evaluated meanwhile). Dashboards under load then cost no database query.
  const cache = new Map<string, { generation: number; at: number; status: number; type: string; body: unknown }>();
  const served = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !request.url.startsWith('/api/objectives')) return;
    const hit = cache.get(cacheKey(request));
    if (!hit || hit.generation !== objectives.generation || Date.now() - hit.at >= CACHE_MS) return;
    served.add(request);
    await reply.code(hit.status).type(hit.type).send(hit.body);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (served.has(request) || request.method !== 'GET' || !request.url.startsWith('/api/objectives') || request.url.startsWith('/api/objectives/operat') || reply.statusCode >= 500) {
      return payload;
    }
    if (cache.size >= CACHE_ENTRIES) cache.clear();
    cache.set(cacheKey(request), { generation: objectives.generation, at: Date.now(), status: reply.statusCode, type: String(reply.getHeader('content-type') ?? 'application/json'), body: payload });
    return payload;
  });
  // A technician's answers depend on its sites.
  const cacheKey = (request: FastifyRequest) => {
    const { sites } = request.principal ?? ANONYMOUS;
    return `${isStaff(request) ? 'staff' : 'public'} ${sites ? sites.join(',') : '*'} ${request.url}`;
  };
  const isStaff = (request: FastifyRequest) => {
    const { role } = request.principal ?? ANONYMOUS;
    return role === 'admin' || STAFF.includes(role);
  };

  /** Whether the caller may see an objective (see STAFF). */
  async function maySee(request: FastifyRequest, definition: ObjectiveDefinition): Promise<boolean> {
    if (definition.published) return true;
    if (!isStaff(request)) return false;
    const scope = request.siteScope;
    if (scope.all) return true;
    const { level, keys } = definition.scope;
    if (level === 'city' || !keys) return false;
    for (const key of keys) if (!(level === 'site' ? scope.hasSite(key) : await scope.hasBuilding(key))) return false;
    return true;
  }

  /** The current version of `key` if the caller may see it. */
  async function visible(request: FastifyRequest, key: string) {
    const [current] = await objectives.versions(key); // newest first: the current one
    if (!current || !(await maySee(request, current.definition))) return undefined;
    return current;
  }

  /** The result rows whose scope the caller may see. */
  async function withinSites<T extends { scope: string }>(request: FastifyRequest, rows: readonly T[]): Promise<T[]> {
    const kept: T[] = [];
    for (const row of rows) if (await request.siteScope.hasScope(row.scope)) kept.push(row);
    return kept;
  }

  app.get<{ Querystring: { theme?: Theme } }>(
    '/api/objectives',
    {
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: {
        description: 'Objectives (current versions) by theme, each with the results of its latest period with a value at its own level; each result says what its status judges (statusBasis: value, or the forecast of a period in progress) and says it in words (statusText: on track; so far above target). Anyone sees the published ones; staff tokens see all, but a technician only the unpublished ones limited to its own sites.',
        tags: ['objectives'],
        querystring: { type: 'object', properties: { theme: { type: 'string', enum: [...THEMES] } }, additionalProperties: false },
      },
    },
    async (request) => {
      const list = [];
      for (const o of await objectives.list({ includeUnpublished: isStaff(request), theme: request.query.theme })) if (await maySee(request, o.definition)) list.push(o);
      if (!list.length) return [];
      const { rows } = await pool.query(
        `SELECT DISTINCT ON (r.objective_id, r.scope) r.objective_id, r.scope, r.period, r.value, r.target, r.status, r.forecast, r.complete, r.missing_days, r.unbracketed_hours
           FROM objective_results r
          WHERE r.objective_id = ANY ($1::bigint[]) AND r.parent IS NULL AND r.period_start <= now()
          ORDER BY r.objective_id, r.scope, r.value IS NULL, r.period_start DESC -- the latest period with a value`,
        [list.map((o) => o.id)],
      );
      const seen = await withinSites(request, rows);
      return list.map((o) => ({
        key: o.key,
        version: o.version,
        theme: o.definition.theme,
        label: o.definition.label,
        unit: o.definition.unit,
        period: o.definition.period,
        level: o.definition.scope.level,
        direction: o.definition.direction,
        published: o.definition.published,
        latest: seen.filter((r) => Number(r.objective_id) === o.id).map((r) => result(r, o.definition)),
      }));
    },
  );

  app.get<{ Querystring: { year: number } }>(
    '/api/objectives/operat',
    {
      config: { access: { roles: ['operator', 'director', 'elected'] } },
      schema: {
        description:
          "Annual final energy of every building by energy (kWh), for the OPERAT platform's declarations of the tertiary decree, then the year's degree-days (base 18 °C), the reference climate (2,500 DJU), the total with only its weather-dependent share normalised, and the baseline it used (base load kWh/day, kWh per DJU, R², CV(RMSE)): CSV, semicolon-separated.",
        tags: ['objectives'],
        querystring: { type: 'object', required: ['year'], properties: { year: { type: 'integer', minimum: 2000, maximum: 2100 } }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      const csv = await operatExport(pool, rollups.timezone, request.query.year, { degreeDayMethod: objectives.degreeDayMethod });
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="operat-${request.query.year}.csv"`).send(csv);
    },
  );

  app.get<{ Params: { key: string } }>(
    '/api/objectives/:key',
    {
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: { description: 'An objective: its current definition (formula, target, methodology) and its versions.', tags: ['objectives'], params: keyParams },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send({ error: `no objective ${JSON.stringify(request.params.key)}` });
      const versions = await objectives.versions(current.key);
      return { ...current, versions: versions.map((v) => ({ version: v.version, createdAt: v.createdAt, createdBy: v.createdBy })) };
    },
  );

  app.get<{ Params: { key: string }; Querystring: { scope?: string; from?: string; to?: string } }>(
    '/api/objectives/:key/results',
    {
      config: { access: READ },
      schema: {
        description: "One KPI's history for one scope (default: the objective's own level): value, target, status, the previous period and the same period last year, the forecast of a period in progress; statusBasis (value or forecast) and statusText say what the status judges; and whether the data covers the period (dataComplete; gaps: local days without data, hours at the ends no meter reading brackets).",
        tags: ['objectives'],
        params: keyParams,
        querystring: {
          type: 'object',
          properties: { scope: { type: 'string', pattern: SCOPE }, from: { type: 'string', pattern: MONTH }, to: { type: 'string', pattern: MONTH } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send({ error: `no objective ${JSON.stringify(request.params.key)}` });
      const { scope, from, to } = request.query;
      const { rows } = await pool.query(
        `SELECT scope, period, value, target, status, previous_value, last_year_value, forecast, complete, missing_days, unbracketed_hours, period_start, period_end
           FROM objective_results
          WHERE objective_id = $1 AND (scope = $2 OR ($2 IS NULL AND parent IS NULL))
            AND ($3::text IS NULL OR period_start >= ($3 || '-01')::timestamp AT TIME ZONE $5)
            AND ($4::text IS NULL OR period_start < (($4 || '-01')::timestamp + INTERVAL '1 month') AT TIME ZONE $5)
          ORDER BY scope, period_start`,
        [current.id, scope ?? null, from ?? null, to ?? null, rollups.timezone],
      );
      return { key: current.key, version: current.version, unit: current.definition.unit, results: (await withinSites(request, rows)).map((r) => result(r, current.definition)) };
    },
  );

  app.get<{ Params: { key: string }; Querystring: { scope?: string; period: string } }>(
    '/api/objectives/:key/drilldown',
    {
      config: { access: READ },
      schema: {
        description: "One period of a KPI at one scope (default: the city or the objective's level) and the scopes one level down; at a building, the points its formula reads.",
        tags: ['objectives'],
        params: keyParams,
        querystring: {
          type: 'object',
          required: ['period'],
          properties: { scope: { type: 'string', pattern: SCOPE }, period: { type: 'string', pattern: PERIOD } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send({ error: `no objective ${JSON.stringify(request.params.key)}` });
      const { period } = request.query;
      const scope = request.query.scope ?? (current.definition.scope.level === 'city' ? 'city' : undefined);
      const { rows } = await pool.query(
        `SELECT scope, parent, level, period, value, target, status, previous_value, last_year_value, forecast, complete, missing_days, unbracketed_hours, period_start, period_end
           FROM objective_results WHERE objective_id = $1 AND period = $2 AND (scope = $3 OR parent = $3 OR ($3 IS NULL AND parent IS NULL))
          ORDER BY level = 'building', scope`,
        [current.id, period, scope ?? null],
      );
      const self = scope ? rows.find((r) => r.scope === scope) : undefined;
      if (scope && !self) return reply.code(404).send({ error: `no result for ${scope} in ${period}` });
      const children = (await withinSites(request, rows.filter((r) => r !== self))).map((r) => result(r, current.definition));
      let points: unknown[] | undefined;
      if (scope?.startsWith('building:')) {
        const tagSets = parseFormula(current.definition.formula).dependencies.points.map((p) => p.tags.join(' '));
        points = (
          await pool.query(
            `SELECT p.gateway_id AS gateway, p.point_key AS point, p.name, p.unit, p.tags FROM points p JOIN gateways g ON g.id = p.gateway_id
              WHERE g.building_key = $1 AND p.retired_at IS NULL AND EXISTS (SELECT 1 FROM unnest($2::text[]) t(s) WHERE p.tags @> string_to_array(t.s, ' '))
              ORDER BY 1, 2`,
            [scope.slice('building:'.length), tagSets],
          )
        ).rows;
      }
      return { key: current.key, version: current.version, period, scope: self ? result(self, current.definition) : undefined, children, points };
    },
  );

  app.get<{ Querystring: { gateway: string; point: string; step?: 'hour' | 'day' | 'month'; from: string; to: string } }>(
    '/api/series',
    {
      config: { access: { roles: STAFF, sites: { check: [{ in: 'query', name: 'gateway', kind: 'gateway' }] } } },
      schema: {
        description: "The series behind a chart: one point's hourly, daily or monthly buckets (count, sum, min, max, first and last readings) in the city's time zone.",
        tags: ['objectives'],
        querystring: {
          type: 'object',
          required: ['gateway', 'point', 'from', 'to'],
          properties: {
            gateway: { type: 'string', minLength: 1, maxLength: 200 },
            point: { type: 'string', minLength: 1, maxLength: 200 },
            step: { type: 'string', enum: ['hour', 'day', 'month'], default: 'day' },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { gateway, point, step = 'day' } = request.query;
      const from = parseInstant('from', request.query.from);
      const to = parseInstant('to', request.query.to);
      if (typeof from === 'string' || typeof to === 'string') return reply.code(400).send({ error: typeof from === 'string' ? from : to });
      const span = to.getTime() - from.getTime();
      if (!(span > 0)) return reply.code(400).send({ error: 'to must be after from' });
      const limit = { hour: 31, day: 3 * 366, month: 50 * 366 }[step];
      if (span > limit * 86_400_000) return reply.code(400).send({ error: `at most ${limit} days of ${step} buckets per request` });
      return rollups.series({ points: [{ gateway, point }], from, to, step });
    },
  );

  app.put<{ Params: { key: string }; Body: Record<string, unknown> }>(
    '/api/objectives/:key',
    {
      config: { access: { roles: ['operator'] } },
      schema: {
        description: 'Defines an objective, or its new version when it differs from the current one (results of older versions are kept). 400 says what is wrong, field by field.',
        tags: ['objectives'],
        params: keyParams,
        body: { type: 'object' },
      },
    },
    async (request, reply) => {
      if (request.body.key !== undefined && request.body.key !== request.params.key) {
        return reply.code(400).send({ error: `key: ${JSON.stringify(request.body.key)} differs from the URL's ${JSON.stringify(request.params.key)}` });
      }
      try {
        const { objective, created } = await objectives.define({ ...request.body, key: request.params.key }, request.principal.id);
        return reply.code(created ? 201 : 200).send(objective);
      } catch (error) {
        if (error instanceof ObjectiveDefinitionError) return reply.code(400).send({ error: error.message, issues: error.issues });
        throw error;
      }
    },
  );

  app.post<{ Body: { fromMonth?: string } }>(
    '/api/objectives/evaluate',
    {
      config: { access: { roles: ['operator'] } },
      schema: {
        description: 'Evaluates every objective again from a month on (default: the hub evaluates the last 13 months on its own schedule).',
        tags: ['objectives'],
        body: { type: 'object', properties: { fromMonth: { type: 'string', pattern: MONTH } }, additionalProperties: false },
      },
    },
    async (request) => {
      const summary = await objectives.evaluate({ fromMonth: request.body?.fromMonth ?? monthsAgo(12, rollups.timezone) });
      return { objectives: summary.objectives, results: summary.results, changes: summary.changes.length, timings: summary.timings };
    },
  );
}

/** How long a reading route's answer may be served again, at most (ms). */
const CACHE_MS = 5000;
/** Answers kept at most (distinct URLs × visibility); the cache is emptied when full. */
const CACHE_ENTRIES = 2000;

const keyParams = { type: 'object', required: ['key'], properties: { key: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' } } };

/**
 * A stored result as the API answers it. `statusBasis` says what the status judges (`value`, or
 * the `forecast` of a period in progress) and `statusText` says it in words, with where the value
 * so far stands when it says otherwise (`on track; so far above target`): see describeStatus.
 */
function result(r: Record<string, unknown>, definition: Pick<ObjectiveDefinition, 'direction' | 'tolerance'>) {
  const row = r as { status: Status; value: number | null; target: number | null; forecast: number | null; complete: boolean };
  return {
    scope: r.scope,
    period: r.period,
    value: r.value,
    target: r.target,
    status: r.status,
    statusBasis: statusBasisOf(row),
    statusText: describeStatus(row, definition),
    ...('previous_value' in r ? { previous: r.previous_value, lastYear: r.last_year_value } : {}),
    forecast: r.forecast,
    complete: r.complete,
    // Whether the data covers the period so far, and what it leaves out (see Gaps in engine.ts).
    dataComplete: r.missing_days === 0 && r.unbracketed_hours === 0,
    gaps: { missingDays: r.missing_days, unbracketedHours: r.unbracketed_hours },
  };
}

/** `YYYY-MM`, local, `n` months before now's month. */
export function monthsAgo(n: number, timezone: string, now = new Date()): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit' }).formatToParts(now);
  const year = Number(parts.find((p) => p.type === 'year')!.value);
  const month = Number(parts.find((p) => p.type === 'month')!.value) - 1 - n;
  const d = new Date(Date.UTC(year, month, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}
