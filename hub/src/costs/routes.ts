/**
 * The cost of services over HTTP, a fastify plugin registered by buildApi:
 * `app.register(costRoutes, { costs })`.
 *
 * - `GET /api/costs?year=YYYY[&scope=…][&service=…]` (director, elected, operator, agent): a
 *   year's spending by scope, service, nature and source, with € per m² and € per unit of each
 *   service (costs.ts says what counts);
 * - `POST /api/costs/import[?file=NAME]` (operator, director): a CSV file of spending lines as
 *   the body (csv.ts says its columns), read as a stream; answered with counts and the first
 *   1,000 row errors;
 * - `GET /api/costs/imports` (operator, director) and `DELETE /api/costs/imports/:id`
 *   (operator, director): the imports, and the withdrawal of one with its lines;
 * - `GET /api/costs/units` (staff) and `PUT /api/costs/units` (operator, director): the
 *   service-data metric each service is measured by (`accueil` → `visitors`).
 * Errors go through the API's handler (http/errors.ts): 4xx `{ error, code }`.
 */
import type {} from '@fastify/swagger'; // the schema's description and tags, for the OpenAPI document
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyPluginAsync } from 'fastify';
import { formatPath, validate } from '@citypilot/sdk';
import type { Role } from '../auth/principal.js';
import { METRIC_MAX_LENGTH, METRIC_PATTERN, SCOPE_PATTERN } from '../service-data/model.js';
import { ROW_ERRORS_LISTED, type Costs } from './costs.js';
import { CostsError, MAX_YEAR, MIN_YEAR, NATURES, SERVICE_PATTERN, SUGGESTED_SERVICES } from './model.js';

export interface CostRoutesOptions {
  costs: Costs;
  /** Largest CSV file an import takes, in bytes. Default 20 MiB (read as a stream). */
  importBodyLimit?: number;
}

/** Who reads costs: the city's staff. */
const READERS: readonly Role[] = ['director', 'elected', 'operator', 'agent'];
/** Who imports spending lines and names the services' units. */
const WRITERS: readonly Role[] = ['operator', 'director'];
const CSV_MEDIA_TYPES = ['text/csv', 'text/plain', 'application/vnd.ms-excel', 'application/octet-stream'];
const TAGS = ['costs'];

const ErrorSchema = Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };

const Service = Type.String({
  pattern: SERVICE_PATTERN,
  description: `A service key: lowercase letters, digits, - and _ (suggested: ${SUGGESTED_SERVICES.join(', ')})`,
});
const Nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options);

const CostsQuery = Type.Object(
  {
    year: Type.Integer({ minimum: MIN_YEAR, maximum: MAX_YEAR, description: 'The calendar year; lines and bills straddling it count for their days in it' }),
    scope: Type.Optional(
      Type.String({ pattern: SCOPE_PATTERN, default: 'city', description: "city, site:<key> or building:<key>: a site's spending holds its buildings'" }),
    ),
    service: Type.Optional(Service),
  },
  { additionalProperties: false },
);

const RowError = Type.Object({ row: Type.Integer(), column: Type.Optional(Type.String()), message: Type.String() });

const ImportSummary = Type.Object({
  id: Type.Integer({ description: 'The import, to withdraw it with DELETE /api/costs/imports/{id}' }),
  file: Type.String(),
  delimiter: Type.String(),
  rows: Type.Integer({ description: 'Data rows in the file (blank rows are not counted)' }),
  stored: Type.Integer({ description: 'Lines stored' }),
  rowsInError: Type.Integer({ description: 'Rows with a problem: each stored nothing' }),
  errorCount: Type.Integer({ description: 'Problems in all' }),
  errors: Type.Array(RowError, { maxItems: ROW_ERRORS_LISTED, description: `The first ${ROW_ERRORS_LISTED} problems, by row (the header is row 1)` }),
});

const ImportRun = Type.Object({
  id: Type.Integer(),
  file: Type.String(),
  sha256: Type.String({ description: "SHA-256 of the file's bytes: the same file imported twice has the same" }),
  submittedBy: Type.String(),
  submittedAt: Type.String({ format: 'date-time' }),
  rows: Type.Integer(),
  stored: Type.Integer(),
  errorCount: Type.Integer(),
  errors: Type.Array(RowError),
});

const Unit = Type.Object(
  {
    service: Service,
    metric: Type.String({ pattern: METRIC_PATTERN, maxLength: METRIC_MAX_LENGTH, description: 'A service-data metric that counts (visitors, calls.answered)' }),
    unit: Type.String({ minLength: 1, maxLength: 100, description: 'The unit in words, singular: visiteur reçu' }),
  },
  { additionalProperties: false },
);
const Units = Type.Object({ units: Type.Array(Unit, { maxItems: 500 }) }, { additionalProperties: false });

const Report = Type.Object({
  year: Type.Integer(),
  scope: Type.String(),
  service: Nullable(Type.String()),
  areaM2: Nullable(Type.Number({ description: "Heated floor area of the scope's buildings, m² (catalog)" })),
  buildingsWithoutArea: Type.Array(Type.String(), { description: 'Buildings of the scope the catalog gives no area: their spending counts, not their area' }),
  spending: Type.Array(
    Type.Object({
      scope: Type.String({ description: "The line's own scope" }),
      service: Type.String(),
      nature: Type.Union(NATURES.map((n) => Type.Literal(n))),
      source: Type.Union([Type.Literal('budget'), Type.Literal('bills')], {
        description: 'budget: imported lines; bills: the utility bills (nature energy, service energie)',
      }),
      amountEur: Type.Number({ description: '€ in the year, prorated by days, to the cent' }),
    }),
  ),
  services: Type.Array(
    Type.Object({
      service: Type.String(),
      amountEur: Type.Number({ description: '€ in the year for the whole scope' }),
      eurPerM2: Nullable(Type.Number({ description: '€ per m² of heated floor area' })),
      perUnit: Nullable(
        Type.Object({
          metric: Type.String(),
          unit: Type.String(),
          quantity: Type.Number({ description: "Sum of the metric's current values in the year, at the scope and what it holds" }),
          eurPerUnit: Nullable(Type.Number({ description: '€ per unit; null when the quantity is 0' })),
        }),
        { description: 'null when no unit is named for the service (PUT /api/costs/units)' },
      ),
    }),
  ),
  totalEur: Type.Number({ description: '€ in the year, every service' }),
  eurPerM2: Nullable(Type.Number({ description: '€ per m², every service' })),
});

export const costRoutes: FastifyPluginAsync<CostRoutesOptions> = async (app, { costs, importBodyLimit = 20 * 1024 * 1024 }) => {
  // Every part checked with the messages of the rest of CityPilot; query strings converted to
  // the schema's numbers first, bodies taken as sent.
  const compile =
    ({ schema, httpPart }: { schema: TSchema; httpPart?: string }) =>
    (data: unknown) => {
      if (httpPart === 'body' && !schema.type) return { value: data };
      const result = validate(schema, httpPart === 'body' ? data : Value.Convert(schema, data));
      if (result.ok) return { value: result.value };
      const detail = result.issues.map((i) => `${i.path.length ? formatPath(i.path) : httpPart}: ${i.message}`).join('; ');
      return { error: new CostsError('COSTS_REQUEST_INVALID', `${httpPart}: ${detail}`) };
    };
  app.setValidatorCompiler<TSchema>(compile);

  app.get<{ Querystring: Static<typeof CostsQuery> }>(
    '/api/costs',
    {
      config: { access: { roles: READERS } },
      schema: {
        summary: "A year's spending of a scope, with € per m² and € per unit of each service",
        description:
          "Spending lines (budget) and the utility bills (nature energy, service energie), each prorated by its days in the year; by the lines' own scope, service, nature and source, then per service for the whole scope: € per m² of the buildings' heated floor area and € per unit of the service's metric when one is named (PUT /api/costs/units).",
        tags: TAGS,
        querystring: CostsQuery,
        response: { 200: Report, ...errors },
      },
    },
    async (request) => costs.spending({ year: request.query.year, scope: request.query.scope, service: request.query.service }),
  );

  // CSV files as the stream of their bytes, for the import alone: read and stored as they arrive.
  app.register(async (csv) => {
    csv.addContentTypeParser(CSV_MEDIA_TYPES, (_request, payload, done) => done(null, payload));
    csv.post<{ Querystring: { file?: string }; Body: AsyncIterable<Uint8Array> }>(
      '/api/costs/import',
      {
        config: { access: { roles: WRITERS } },
        bodyLimit: importBodyLimit,
        schema: {
          summary: 'Import a CSV file of spending lines: its good rows are stored, the others counted and the first ones listed',
          description:
            'Columns (French or English headers): debut/from, fin/to (the day after the last, excluded), perimetre/scope (a building or site key, or ville), service, nature (energy, maintenance, staff, rent, other), montant/amount (€, decimal comma or point), libelle/label (optional). `;` or `,`; UTF-8 or Windows-1252; days as 2026-01-31 or 31/01/2026. A file refused whole (COSTS_FILE_REFUSED) stores nothing.',
          tags: TAGS,
          consumes: CSV_MEDIA_TYPES,
          querystring: Type.Object(
            { file: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "The file's name, kept with the import; default budget.csv" })) },
            { additionalProperties: false },
          ),
          body: { description: `the CSV file (text/csv), at most ${importBodyLimit} bytes` },
          response: { 200: ImportSummary, ...errors, 413: ErrorSchema, 415: ErrorSchema },
        },
      },
      async (request) => {
        const body: unknown = request.body;
        if (typeof (body as Partial<AsyncIterable<Uint8Array>> | undefined)?.[Symbol.asyncIterator] !== 'function') {
          throw new CostsError('COSTS_FILE_REFUSED', `body: expected the CSV file, sent with Content-Type ${CSV_MEDIA_TYPES[0]}`);
        }
        return costs.importCsv(body as AsyncIterable<Uint8Array>, {
          fileName: request.query.file ?? 'budget.csv',
          submittedBy: request.principal.id,
          contentType: request.headers['content-type'],
          maxBytes: importBodyLimit,
        });
      },
    );
  });

  app.get(
    '/api/costs/imports',
    {
      config: { access: { roles: WRITERS } },
      schema: {
        summary: 'The latest imports of spending lines, newest first',
        tags: TAGS,
        response: { 200: Type.Object({ imports: Type.Array(ImportRun) }), ...errors },
      },
    },
    async () => ({ imports: await costs.imports() }),
  );

  const ImportParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2 ** 53 - 1 }) }, { additionalProperties: false });
  app.delete<{ Params: Static<typeof ImportParams> }>(
    '/api/costs/imports/:id',
    {
      config: { access: { roles: WRITERS } },
      schema: {
        summary: 'Withdraw an import and its lines (a file imported twice, or by mistake)',
        tags: TAGS,
        params: ImportParams,
        response: { 200: Type.Object({ lines: Type.Integer({ description: 'Lines removed' }) }), ...errors, 404: ErrorSchema },
      },
    },
    async (request) => costs.removeImport(request.params.id),
  );

  app.get(
    '/api/costs/units',
    {
      config: { access: { roles: READERS } },
      schema: { summary: 'The service-data metric each service is measured by', tags: TAGS, response: { 200: Units, ...errors } },
    },
    async () => ({ units: await costs.units() }),
  );

  app.put<{ Body: Static<typeof Units> }>(
    '/api/costs/units',
    {
      config: { access: { roles: WRITERS } },
      schema: {
        summary: 'Name the metric each service is measured by (replaces the whole list)',
        description:
          'Such as accueil → visitors (visiteur reçu), standard → calls.answered (appel décroché). The metric is a service-data metric whose values are counts: the year’s sum divides the service’s spending.',
        tags: TAGS,
        body: Units,
        response: { 200: Units, ...errors },
      },
    },
    async (request) => ({ units: await costs.setUnits(request.body.units, request.principal.id) }),
  );
};
