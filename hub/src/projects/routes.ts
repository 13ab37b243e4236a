import type {} from '@fastify/swagger'; // the schema's description and tags, for the OpenAPI document
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { formatPath, StringEnum, validate } from '@citypilot/sdk';
import type { Access } from '../auth/access.js';
import { ANONYMOUS, type Role } from '../auth/principal.js';
import { THEMES, type Theme } from '../objectives/model.js';
import type { DegreeDayMethod, ServiceDataReader } from '../objectives/data.js';
import { decodeCsvBytes } from '../service-data/csv-import.js';
import { ServiceDataError } from '../service-data/model.js';
import { BillFileError, EnergyPrices, EnergyPricesError, FactorsBody, TariffsBody } from './energy-prices.js';
import { DEFAULT_DISCOUNT_RATE, evaluateProjects, type ProjectEvaluation } from './evaluate.js';
import { SavingsSchema, SummarySchema } from './api-schemas.js';
import { ProjectDefinitionError, ProjectSchema } from './model.js';
import type { Projects, StoredProject } from './store.js';

/**
 * The projects API: projects and their versions, what each saved (kWh, €, tCO2e, month by month,
 * with its baseline model and uncertainty) and its return, the city's totals, and the energy
 * prices and emission factors that turn kWh into € and tCO2e. Anyone reads published projects
 * and their savings; staff read them all; operators and directors write. Registered by buildApi.
 */

/** Roles that see unpublished projects (a technician sees the published ones, as the public). */
const STAFF: Role[] = ['operator', 'director', 'elected', 'agent'];
/** Roles that define projects, prices and factors (and admin). */
const WRITERS: Role[] = ['operator', 'director'];
const READ: Access = { roles: ['public'], sites: { filter: true } };
const WRITE: Access = { roles: WRITERS };

export interface ProjectRoutesOptions {
  projects: Projects;
  prices: EnergyPrices;
  pool: pg.Pool;
  timezone: string;
  services?: ServiceDataReader;
  /** Discount rate of the net present value, per year; default DEFAULT_DISCOUNT_RATE (4 %). */
  discountRate?: number;
  degreeDayMethod?: DegreeDayMethod;
  /** Largest bill file taken, bytes; default 10 MB. */
  csvBodyLimit?: number;
}

/** How long an evaluation of every project is served again when nothing was defined meanwhile, ms. */
const EVALUATION_CACHE_MS = 60_000;
const CSV_MEDIA_TYPES = ['text/csv', 'text/plain', 'application/vnd.ms-excel'];

const KeyParams = Type.Object({ key: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 100 }) });
const VersionQuery = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'A version number; default the current one' })) },
  { additionalProperties: false },
);
const ExpectedVersionQuery = Type.Object(
  {
    version: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'The current version the change was made from: 409 when another one is current now' }),
    ),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ theme: Type.Optional(StringEnum(THEMES)) }, { additionalProperties: false });
const { key: projectKey, ...projectFields } = ProjectSchema.properties;
/** A project's definition as PUT takes it: the key comes from the URL. */
const ProjectBody = Type.Object({ ...projectFields, key: Type.Optional(projectKey) }, { additionalProperties: false });
const ImportQuery = Type.Object({ file: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The file name kept as provenance' })) });
const Error400 = Type.Object({ error: Type.String(), issues: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))) });

export async function projectRoutes(app: FastifyInstance, options: ProjectRoutesOptions): Promise<void> {
  const { projects, prices } = options;
  const discountRate = options.discountRate ?? DEFAULT_DISCOUNT_RATE;
  const csvBodyLimit = options.csvBodyLimit ?? 10 * 1024 * 1024;

  // Every part is checked against its TypeBox schema with CityPilot's messages (where, what was
  // expected); query strings are text, converted to the schema's numbers first.
  app.setValidatorCompiler<TSchema>(({ schema, httpPart }) => (data: unknown) => {
    const result = validate(schema, httpPart === 'body' ? data : Value.Convert(schema, data));
    if (result.ok) return { value: result.value };
    return { error: new EnergyPricesError(result.issues.map((i) => ({ ...i, path: i.path.length ? i.path : [httpPart ?? ''] }))) };
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const issues = (list: readonly { path: readonly (string | number)[]; message: string }[]) =>
      list.map((i) => ({ path: formatPath(i.path), message: i.message }));
    if (error instanceof ProjectDefinitionError || error instanceof EnergyPricesError)
      return reply.code(400).send({ error: error.message, issues: issues(error.issues) });
    if (error instanceof BillFileError) return reply.code(400).send({ error: `${error.message}; nothing was imported`, code: error.code });
    if (error instanceof ServiceDataError) return reply.code(error.code === 'CSV_FILE_TOO_LARGE' ? 413 : 400).send({ error: error.message, code: error.code });
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: `send ${CSV_MEDIA_TYPES[0]} here, or JSON to the other routes` });
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: error.message });
    throw error;
  });

  const isStaff = (request: FastifyRequest) => {
    const { role } = request.principal ?? ANONYMOUS;
    return role === 'admin' || STAFF.includes(role);
  };
  const who = (request: FastifyRequest) => request.principal.id;
  /** The project if the caller may see it: published for anyone, any for staff (a deleted one too, by its last version). */
  async function visible(request: FastifyRequest, key: string): Promise<StoredProject | undefined> {
    const [latest] = await projects.versions(key);
    if (!latest) return undefined;
    if (isStaff(request)) return latest;
    return latest.supersededAt === null && latest.definition.published ? latest : undefined;
  }
  const notFound = (key: string) => ({ error: `no project ${JSON.stringify(key)}` });

  // Every project evaluated at once (one load of the city's data), kept until a definition, a
  // price or a factor changes in this process, or EVALUATION_CACHE_MS (new readings).
  let cached: { at: number; generation: string; result: Promise<Awaited<ReturnType<typeof evaluateProjects>>> } | undefined;
  function evaluation() {
    const generation = `${projects.generation} ${prices.generation}`;
    if (cached && cached.generation === generation && Date.now() - cached.at < EVALUATION_CACHE_MS) return cached.result;
    const result = (async () => {
      const [list, tariffs, factors] = await Promise.all([projects.list({ includeUnpublished: true }), prices.tariffs(), prices.factors()]);
      return evaluateProjects(
        options.pool,
        list,
        { tariffs, factors },
        { timezone: options.timezone, discountRate, degreeDayMethod: options.degreeDayMethod },
        options.services,
      );
    })();
    cached = { at: Date.now(), generation, result };
    result.catch(() => {
      if (cached?.result === result) cached = undefined;
    });
    return result;
  }

  app.get<{ Querystring: { theme?: Theme } }>(
    '/api/projects',
    {
      config: { access: READ },
      schema: {
        description:
          'Projects (current versions), by key: `{ key, version, createdAt, createdBy, definition }` (definition: title, theme, scope, dates, costs, energy or metric, expectedSavings, lifetimeYears, owner, published). Anyone sees the published ones; staff (operator, director, elected, agent) all.',
        tags: ['projects'],
        querystring: ListQuery,
      },
    },
    async (request) => (await projects.list({ includeUnpublished: isStaff(request), theme: request.query.theme })).map(shown),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/projects',
    {
      config: { access: WRITE },
      schema: {
        description:
          'Creates a project (version 1). 400 says what is wrong, field by field (`issues`: path and what was expected); 409 when the key is taken (PUT /api/projects/{key} makes a new version).',
        tags: ['projects'],
        body: ProjectSchema,
        response: { 400: Error400 },
      },
    },
    async (request, reply) => {
      const key = String(request.body.key);
      if ((await projects.versions(key)).some((v) => v.supersededAt === null)) {
        return reply.code(409).send({ error: `key: ${JSON.stringify(key)} is already a project's: PUT /api/projects/${key} to change it` });
      }
      const { project } = await projects.define(request.body, who(request));
      return reply.code(201).send(shown(project));
    },
  );

  app.get<{ Params: { key: string }; Querystring: { version?: number } }>(
    '/api/projects/:key',
    {
      config: { access: READ },
      schema: {
        description: 'A project: its current version (or `?version=`), and its versions (number, when, by whom).',
        tags: ['projects'],
        params: KeyParams,
        querystring: VersionQuery,
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send(notFound(request.params.key));
      const versions = await projects.versions(current.key);
      const asked = request.query.version === undefined ? current : versions.find((v) => v.version === request.query.version);
      if (!asked) return reply.code(404).send({ error: `project ${current.key} has no version ${request.query.version}` });
      return { ...shown(asked), deleted: current.supersededAt !== null, versions: versions.map(versionLine) };
    },
  );

  app.put<{ Params: { key: string }; Querystring: { version?: number }; Body: Record<string, unknown> }>(
    '/api/projects/:key',
    {
      config: { access: WRITE },
      schema: {
        description:
          'Defines a project, or its new version when it differs from the current one (201 new version, 200 unchanged). `?version=` guards against a concurrent change: 409 when the current version is another. 400 says what is wrong, field by field.',
        tags: ['projects'],
        params: KeyParams,
        querystring: ExpectedVersionQuery,
        body: ProjectBody,
        response: { 400: Error400 },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      if (request.body.key !== undefined && request.body.key !== key) {
        return reply.code(400).send({ error: `key: ${JSON.stringify(request.body.key)} differs from the URL's ${JSON.stringify(key)}` });
      }
      const conflict = await versionConflict(key, request.query.version);
      if (conflict) return reply.code(409).send({ error: conflict });
      const { project, created } = await projects.define({ ...request.body, key }, who(request));
      return reply.code(created ? 201 : 200).send(shown(project));
    },
  );

  app.delete<{ Params: { key: string }; Querystring: { version?: number } }>(
    '/api/projects/:key',
    {
      config: { access: WRITE },
      schema: {
        description:
          'Deletes a project: it has no current version any more; its versions stay readable by staff (GET /api/projects/{key}/versions). 204; 404 when there is none; 409 as PUT.',
        tags: ['projects'],
        params: KeyParams,
        querystring: ExpectedVersionQuery,
      },
    },
    async (request, reply) => {
      const conflict = await versionConflict(request.params.key, request.query.version);
      if (conflict) return reply.code(409).send({ error: conflict });
      if (!(await projects.remove(request.params.key, who(request)))) return reply.code(404).send(notFound(request.params.key));
      return reply.code(204).send();
    },
  );

  async function versionConflict(key: string, expected: number | undefined): Promise<string | undefined> {
    if (expected === undefined) return undefined;
    const current = await projects.get(key);
    if (current?.version === expected) return undefined;
    return `version ${expected} is not the current version of ${key} (${current ? `version ${current.version} is` : 'none is'}): read it again and redo the change`;
  }

  app.get<{ Params: { key: string } }>(
    '/api/projects/:key/versions',
    {
      config: { access: READ },
      schema: { description: 'Every version of a project, newest first, whole, with who made it and when.', tags: ['projects'], params: KeyParams },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current) return reply.code(404).send(notFound(request.params.key));
      const versions = await projects.versions(current.key);
      // Anyone sees the versions of a published project that were published.
      return versions
        .filter((v) => isStaff(request) || v.definition.published)
        .map((v) => ({ ...shown(v), supersededAt: v.supersededAt, deletedBy: v.deletedBy }));
    },
  );

  app.get<{ Params: { key: string } }>(
    '/api/projects/:key/savings',
    {
      config: { access: READ },
      schema: {
        description: [
          "What a project saved, measured. `baselinePeriod` (the 12 local months before the works' first month) and `reportingPeriod` (the months after the works' last month up to the last whole month; the works' own months are left out).",
          'For an energy project, per energy (`energies[]`): `method` (`ipmvp-c`: a regression of monthly kWh on days, heating and cooling degree-days (°C·day, bases 18 °C) and, when asked, open days (weekdays), IPMVP option C; `same-months-before` when the baseline is too short for one), `model` (coefficients, fit statistics and ASHRAE Guideline 14 verdict), `uncertainty` (`absolute` kWh, `fraction` of the savings, `confidence`), the `buildings` metered, the `baseline` months fitted on, and `months[]`:',
          '`period` (YYYY-MM), `adjustedBaseline` and `measured` (kWh), `avoidedKWh`, `euros` (€, at the month’s tariff, weighted by days when it changes within the month; null without one), `tCO2e`, and their cumulations (`cumulatedKWh`, `cumulatedEuros`, `cumulatedTCO2e`).',
          '`months[]` adds up every energy; `totals` { kWh, euros, tCO2e }.',
          "`finance`: `netInvestment` (€, investment less subsidies), `yearlyNetSavings` (€/year; `basis` says how: the last 12 reporting months, or fewer scaled to a year, less the running cost), `simplePayback` (years), `returnOnInvestment` and `netPresentValue` (€) over `lifetimeYears` at `discountRate` (the hub's setting), `paybackDate` (YYYY-MM).",
          'For a metric project: `metric` { key, better, comparison (before, after: monthly means; change) }. `warnings`: what could not be evaluated as asked.',
          'Published projects for anyone, all for staff. Evaluated on the hub for every project at once and kept a minute at most.',
        ].join(' '),
        tags: ['projects'],
        params: KeyParams,
        response: { 200: SavingsSchema },
      },
    },
    async (request, reply) => {
      const current = await visible(request, request.params.key);
      if (!current || current.supersededAt !== null) return reply.code(404).send(notFound(request.params.key));
      const found = (await evaluation()).projects.find((p) => p.key === current.key);
      if (!found) return reply.code(404).send(notFound(request.params.key));
      return found;
    },
  );

  app.get(
    '/api/projects-summary',
    {
      config: { access: READ },
      schema: {
        description:
          "The city's totals over its projects (published ones for anyone, all for staff): `totals` { projects, kWh, euros, tCO2e avoided so far, netInvestment €, yearlyNetSavings €/year }, and per project { key, title, theme, kind, totals, finance } for a table.",
        tags: ['projects'],
        response: { 200: SummarySchema },
      },
    },
    async (request) => {
      const { projects: all } = await evaluation();
      const listed = await projects.list({ includeUnpublished: isStaff(request) });
      const keys = new Map(listed.map((p) => [p.key, p]));
      const seen = all.filter((e) => keys.has(e.key));
      return {
        totals: summaryTotals(seen),
        projects: seen.map((e) => ({
          key: e.key,
          title: keys.get(e.key)!.definition.title,
          theme: keys.get(e.key)!.definition.theme,
          kind: e.kind,
          totals: e.totals,
          finance: e.finance,
        })),
      };
    },
  );

  app.get(
    '/api/energy-prices',
    {
      config: { access: READ },
      schema: {
        description:
          'The tariffs projects are priced with: `{ tariffs: [{ energy, from, to (local days YYYY-MM-DD, included; to null: in force), eurosPerKWh, source, importId, createdBy, createdAt }] }`, by energy then first day. Readable by anyone: they are the sources of the published €; `createdBy` (who entered it) is given to staff only, null to others.',
        tags: ['projects'],
      },
    },
    // Who entered a tariff is for staff: the public sees the price and its source.
    async (request) => ({
      tariffs: (await prices.tariffs()).map((t) => (isStaff(request) ? t : { ...t, createdBy: null })),
    }),
  );

  app.put<{ Body: unknown }>(
    '/api/energy-prices',
    {
      config: { access: WRITE },
      schema: {
        description:
          'Replaces every tariff. One price per energy and day: ranges of one energy must not overlap (400 names the entries). A month whose tariff changes within it is priced by its days at each price.',
        tags: ['projects'],
        body: TariffsBody,
        response: { 400: Error400 },
      },
    },
    async (request) => ({ tariffs: await prices.setTariffs(request.body, who(request)) }),
  );

  app.get(
    '/api/emission-factors',
    {
      config: { access: READ },
      schema: {
        description:
          "The emission factors projects are weighed with: `{ factors: [{ energy, year, kgCO2ePerKWh, source, origin }] }`; `origin` is `city` for the city's own, `default` (ADEME) for an energy the city gives none for. A year without a factor takes the latest earlier one.",
        tags: ['projects'],
      },
    },
    async () => ({ factors: await prices.factors() }),
  );

  app.put<{ Body: unknown }>(
    '/api/emission-factors',
    {
      config: { access: WRITE },
      schema: {
        description: "Replaces the city's emission factors (one per energy and year); the energies it gives none for keep ADEME's defaults.",
        tags: ['projects'],
        body: FactorsBody,
        response: { 400: Error400 },
      },
    },
    async (request) => ({ factors: await prices.setFactors(request.body, who(request)) }),
  );

  // Bill files as the stream of their bytes: read and checked as they arrive, never whole in memory.
  app.register(async (csv) => {
    csv.addContentTypeParser(CSV_MEDIA_TYPES, (_request, payload, done) => done(null, payload));
    csv.post<{ Querystring: { file?: string }; Body: AsyncIterable<Uint8Array> }>(
      '/api/energy-prices/import',
      {
        config: { access: WRITE },
        bodyLimit: csvBodyLimit,
        validatorCompiler: ({ schema, httpPart }) =>
          httpPart === 'body'
            ? (data: unknown) => ({ value: data })
            : (data: unknown) => {
                const result = validate(schema as TSchema, Value.Convert(schema as TSchema, data));
                return result.ok ? { value: result.value } : { error: new EnergyPricesError(result.issues) };
              },
        schema: {
          description:
            `Imports a CSV file of supplier bill lines (text/csv, UTF-8 or Windows-1252, at most ${csvBodyLimit} bytes): columns period_start, period_end (YYYY-MM-DD or DD/MM/YYYY, both included), energy (elec, gas, heat, chilled, oil, wood), kwh, amount_eur; separated by ; , or tab; decimal point or comma. ` +
            'Each good row becomes the tariff amount_eur / kwh of its energy and period, with the file and row as its source; a row with the energy and first day of a stored tariff replaces it; a row overlapping another tariff of its energy is refused. ' +
            'Bad rows are reported by row (the header is row 1) and column — the first 100, `errorCount` says how many — and the good ones stored. The import (file, who, when, counts) is kept.',
          tags: ['projects'],
          consumes: CSV_MEDIA_TYPES,
          querystring: ImportQuery,
          body: Type.String({ description: 'the CSV file' }),
        },
      },
      async (request, reply) => {
        const body: unknown = request.body;
        if (typeof (body as Partial<AsyncIterable<Uint8Array>> | undefined)?.[Symbol.asyncIterator] !== 'function') {
          return reply.code(400).send({ error: `body: expected the CSV file, sent with Content-Type ${CSV_MEDIA_TYPES[0]}` });
        }
        const text = decodeCsvBytes(request.body, { contentType: request.headers['content-type'], maxBytes: csvBodyLimit });
        return prices.importBills(text, request.query.file ?? 'upload.csv', who(request));
      },
    );
  });
}

/** A stored project as the API answers it. */
function shown(p: StoredProject) {
  return { key: p.key, version: p.version, createdAt: p.createdAt, createdBy: p.createdBy, definition: p.definition };
}

function versionLine(v: StoredProject) {
  return { version: v.version, createdAt: v.createdAt, createdBy: v.createdBy, supersededAt: v.supersededAt, deletedBy: v.deletedBy };
}

function summaryTotals(evaluations: readonly ProjectEvaluation[]) {
  return {
    projects: evaluations.length,
    kWh: evaluations.reduce((s, e) => s + e.totals.kWh, 0),
    euros: evaluations.reduce((s, e) => s + e.totals.euros, 0),
    tCO2e: evaluations.reduce((s, e) => s + e.totals.tCO2e, 0),
    netInvestment: evaluations.reduce((s, e) => s + e.finance.netInvestment, 0),
    yearlyNetSavings: evaluations.reduce((s, e) => s + (e.finance.yearlyNetSavings ?? 0), 0),
  };
}
