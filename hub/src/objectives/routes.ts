import type {} from '@fastify/swagger'; // the schema's description and tags, for the OpenAPI document
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Access } from '../auth/access.js';
import { ANONYMOUS, type Role } from '../auth/principal.js';
import { MONTH_PATTERN, parseInstant } from '../http/time.js';
import type { Rollups } from '../storage/rollups.js';
import { formatPath } from '@citypilot/sdk';
import { FormulaError, parseFormula, type FormulaDependencies } from './formula.js';
import { describeStatus, statusBasisOf, type Status } from './engine.js';
import { checkObjective, ObjectiveDefinitionError, THEMES, type ObjectiveDefinition, type Theme } from './model.js';
import type { Objectives } from './objectives.js';
import { operatExport } from './operat.js';
import { RESULT_CSV_DESCRIPTION, resultsCsv } from './results-csv.js';

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
  const cache = new Map<string, { generation: number; at: number; status: number; type: string; disposition?: string; body: unknown }>();
  const served = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !request.url.startsWith('/api/objectives')) return;
    const hit = cache.get(cacheKey(request));
    if (!hit || hit.generation !== objectives.generation || Date.now() - hit.at >= CACHE_MS) return;
    served.add(request);
    if (hit.disposition) reply.header('content-disposition', hit.disposition);
    await reply.code(hit.status).type(hit.type).send(hit.body);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (
      served.has(request) ||
      request.method !== 'GET' ||
      !request.url.startsWith('/api/objectives') ||
      request.url.startsWith('/api/objectives/operat') ||
      reply.statusCode >= 500
    ) {
      return payload;
    }
    if (cache.size >= CACHE_ENTRIES) cache.clear();
    const disposition = reply.getHeader('content-disposition');
    cache.set(cacheKey(request), {
      generation: objectives.generation,
      at: Date.now(),
      status: reply.statusCode,
      type: String(reply.getHeader('content-type') ?? 'application/json'),
      ...(disposition !== undefined && { disposition: String(disposition) }),
      body: payload,
    });
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

  /**
   * The last TREND_PERIODS periods begun of each objective's own-level scopes, oldest first: one
   * query for every objective of the list.
   */
  async function trends(ids: readonly number[]): Promise<{ objective: number; scope: string; points: TrendPoint[] }[]> {
    const { rows } = await pool.query<{ objective_id: string; scope: string; period: string; value: number | null; target: number | null; status: Status }>(
      `SELECT objective_id, scope, period, value, target, status FROM (
         SELECT r.objective_id, r.scope, r.period, r.value, r.target, r.status, r.period_start,
                row_number() OVER (PARTITION BY r.objective_id, r.scope ORDER BY r.period_start DESC) AS n
           FROM objective_results r
          WHERE r.objective_id = ANY ($1::bigint[]) AND r.parent IS NULL AND r.period_start <= now()) AS recent
        WHERE n <= $2
        ORDER BY objective_id, scope, period_start`,
      [ids, TREND_PERIODS],
    );
    const byScope = new Map<string, { objective: number; scope: string; points: TrendPoint[] }>();
    for (const r of rows) {
      const key = `${r.objective_id} ${r.scope}`;
      let entry = byScope.get(key);
      if (!entry) byScope.set(key, (entry = { objective: Number(r.objective_id), scope: r.scope, points: [] }));
      entry.points.push({ period: r.period, value: r.value, target: r.target, status: r.status });
    }
    return [...byScope.values()];
  }

  app.get<{ Querystring: { theme?: Theme } }>(
    '/api/objectives',
    {
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: {
        description:
          'Objectives (current versions) by theme, each with the results of its latest period with a value at its own level (`latest`, with `previous` and `lastYear`: the period before and the same period a year earlier) and `trend`: per scope of its own level, `{ scope, points }` with its last 13 periods begun, oldest first (`period`, `value`, `target`, `status`), for a sparkline; each result says what its status judges (statusBasis: value, or the forecast of a period in progress) and says it in words (statusText: on track; so far above target). Anyone sees the published ones; staff tokens see all, but a technician only the unpublished ones limited to its own sites.',
        tags: ['objectives'],
        querystring: { type: 'object', properties: { theme: { type: 'string', enum: [...THEMES] } }, additionalProperties: false },
      },
    },
    async (request) => {
      const list = [];
      for (const o of await objectives.list({ includeUnpublished: isStaff(request), theme: request.query.theme }))
        if (await maySee(request, o.definition)) list.push(o);
      if (!list.length) return [];
      const ids = list.map((o) => o.id);
      const [{ rows }, trendRows] = await Promise.all([
        pool.query(
          `SELECT DISTINCT ON (r.objective_id, r.scope) r.objective_id, r.scope, r.period, r.value, r.target, r.status, r.previous_value, r.last_year_value,
                  r.forecast, r.complete, r.missing_days, r.unbracketed_hours
             FROM objective_results r
            WHERE r.objective_id = ANY ($1::bigint[]) AND r.parent IS NULL AND r.period_start <= now()
            ORDER BY r.objective_id, r.scope, r.value IS NULL, r.period_start DESC -- the latest period with a value`,
          [ids],
        ),
        trends(ids),
      ]);
      const seen = await withinSites(request, rows);
      const seenTrends = await withinSites(request, trendRows);
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
        trend: seenTrends.filter((t) => t.objective === o.id).map(({ scope, points }) => ({ scope, points })),
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
        querystring: {
          type: 'object',
          required: ['year'],
          properties: { year: { type: 'integer', minimum: 2000, maximum: 2100 } },
          additionalProperties: false,
        },
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

  const resultsQuerystring = {
    type: 'object',
    properties: {
      scope: { type: 'string', pattern: SCOPE, description: "`city`, `site:<key>` or `building:<key>`; default the objective's own level" },
      from: { type: 'string', pattern: MONTH, description: 'First local month `YYYY-MM` of the periods (by their start), included' },
      to: { type: 'string', pattern: MONTH, description: 'Last local month `YYYY-MM` of the periods (by their start), included' },
    },
    additionalProperties: false,
  };

  /** One objective's stored results for one scope (default its own level) and a range of months, by scope then period. */
  async function resultRows(objectiveId: number, query: { scope?: string; from?: string; to?: string }) {
    const { scope, from, to } = query;
    const { rows } = await pool.query(
      `SELECT scope, period, value, target, status, previous_value, last_year_value, forecast, complete, missing_days, unbracketed_hours, period_start, period_end,
              to_char(period_start AT TIME ZONE $5, 'YYYY-MM-DD') AS first_day, to_char((period_end AT TIME ZONE $5) - INTERVAL '1 day', 'YYYY-MM-DD') AS last_day
         FROM objective_results
        WHERE objective_id = $1 AND (scope = $2 OR ($2 IS NULL AND parent IS NULL))
          AND ($3::text IS NULL OR period_start >= ($3 || '-01')::timestamp AT TIME ZONE $5)
          AND ($4::text IS NULL OR period_start < (($4 || '-01')::timestamp + INTERVAL '1 month') AT TIME ZONE $5)
        ORDER BY scope, period_start`,
      [objectiveId, scope ?? null, from ?? null, to ?? null, rollups.timezone],
    );
    return rows as (Record<string, unknown> & { scope: string })[];
  }

  app.get<{ Params: { key: string }; Querystring: { scope?: string; from?: string; to?: string } }>(
    '/api/objectives/:key/results',
    {
      config: { access: READ },
      schema: {
        description:
          "One KPI's history for one scope (default: the objective's own level): value, target, status, the previous period and the same period last year, the forecast of a period in progress; statusBasis (value or forecast) and statusText say what the status judges; and whether the data covers the period (dataComplete; gaps: local days without data, hours at the ends no meter reading brackets).",
        tags: ['objectives'],
        params: keyParams,
        querystring: resultsQuerystring,
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send({ error: `no objective ${JSON.stringify(request.params.key)}` });
      const rows = await resultRows(current.id, request.query);
      return {
        key: current.key,
        version: current.version,
        unit: current.definition.unit,
        results: (await withinSites(request, rows)).map((r) => result(r, current.definition)),
      };
    },
  );

  app.get<{ Params: { key: string }; Querystring: { scope?: string; from?: string; to?: string } }>(
    '/api/objectives/:key/results.csv',
    {
      config: { access: READ },
      schema: {
        description: `The same results as /api/objectives/{key}/results (same access, scope and months), as a CSV file to download (\`content-disposition: attachment; filename="<key>.csv"\`): UTF-8, comma-separated, a header row, one row per scope and period. ${RESULT_CSV_DESCRIPTION}`,
        tags: ['objectives'],
        params: keyParams,
        querystring: resultsQuerystring,
        response: { 200: { description: 'The results as CSV', content: { 'text/csv': { schema: { type: 'string' } } } } },
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send({ error: `no objective ${JSON.stringify(request.params.key)}` });
      const rows = await withinSites(request, await resultRows(current.id, request.query));
      const csv = resultsCsv(
        current.key,
        current.definition.unit,
        rows.map((r) => ({
          scope: r.scope,
          period: r.period as string,
          firstDay: r.first_day as string,
          lastDay: r.last_day as string,
          value: r.value as number | null,
          target: r.target as number | null,
          status: r.status as string,
          previous: r.previous_value as number | null,
          lastYear: r.last_year_value as number | null,
          forecast: r.forecast as number | null,
          complete: r.complete as boolean,
          missingDays: r.missing_days as number,
          unbracketedHours: r.unbracketed_hours as number,
        })),
      );
      // The key matches ^[a-z0-9][a-z0-9_-]*$: nothing to escape in the file name.
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${current.key}.csv"`).send(csv);
    },
  );

  app.get<{ Params: { key: string }; Querystring: { scope?: string; period: string } }>(
    '/api/objectives/:key/drilldown',
    {
      config: { access: READ },
      schema: {
        description:
          "One period of a KPI at one scope (default: the city or the objective's level) and the scopes one level down; at a building, the points its formula reads.",
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
      const children = (
        await withinSites(
          request,
          rows.filter((r) => r !== self),
        )
      ).map((r) => result(r, current.definition));
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
        description:
          "The series behind a chart: one point's hourly, daily or monthly buckets (count, sum, min, max, first and last readings) in the city's time zone.",
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
        description:
          'Defines an objective, or its new version when it differs from the current one (results of older versions are kept). 400 says what is wrong, field by field.',
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

  app.post<{ Body: { definition: Record<string, unknown> } }>(
    '/api/objectives/check',
    {
      config: { access: { roles: ['operator'] } },
      // A definition is a few kB at most (a formula and each text ≤ 2,000 characters).
      bodyLimit: CHECK_BODY_LIMIT,
      schema: {
        description:
          'Checks an objective definition as PUT /api/objectives/{key} would, without storing anything, for a form that checks as the operator types. ' +
          "200 `{ valid: true, dependencies }` (what the formula reads: points by tags, service metrics, the scope's attributes, degree-day bases, opening hours), " +
          'or 200 `{ valid: false, issues }`: each issue with its `path` in the definition (`formula`, `target.steps`, `label.fr` …), its `message`, and for the formula ' +
          'the `column` (1-based) where it goes wrong. The key may be left out. The formula is checked even when other fields are wrong. 400: the body is not `{ definition: {…} }`.',
        tags: ['objectives'],
        body: {
          type: 'object',
          required: ['definition'],
          properties: { definition: { type: 'object', description: 'The body PUT /api/objectives/{key} takes; `key` optional' } },
          additionalProperties: false,
        },
      },
    },
    async (request) => checkDefinition(request.body.definition),
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

/** Largest body POST /api/objectives/check reads, bytes. */
const CHECK_BODY_LIMIT = 64 * 1024;

interface DefinitionIssue {
  path: string;
  message: string;
  column?: number;
}

/** What POST /api/objectives/check answers for `input` (see the route). */
export function checkDefinition(
  input: Record<string, unknown>,
): { valid: true; dependencies: FormulaDependencies } | { valid: false; issues: DefinitionIssue[] } {
  // Checked as stored under some key when the form has none yet.
  const definition = input.key === undefined ? { ...input, key: 'draft' } : input;
  try {
    const { formula } = checkObjective(definition);
    return { valid: true, dependencies: formula.dependencies };
  } catch (error) {
    if (!(error instanceof ObjectiveDefinitionError)) throw error;
    const issues: DefinitionIssue[] = error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    // The schema's issues stop the check before the formula is parsed: parse it anyway, since
    // the operator is typing it. A formula issue says its column.
    const formulaIssue = issues.find((i) => i.path === 'formula');
    if (typeof definition.formula === 'string') {
      try {
        parseFormula(definition.formula);
      } catch (formulaError) {
        if (!(formulaError instanceof FormulaError)) throw formulaError;
        if (formulaIssue) formulaIssue.column = formulaError.column;
        else issues.push({ path: 'formula', message: formulaError.message, column: formulaError.column });
      }
    }
    return { valid: false, issues };
  }
}

/** Periods in an objective's trend on the objectives list: a year of months and the same month a year before. */
export const TREND_PERIODS = 13;

/** One period of an objective's trend. */
interface TrendPoint {
  period: string;
  value: number | null;
  target: number | null;
  status: Status;
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
