import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyPluginAsync, FastifyRequest, FastifySchema } from 'fastify';
import { formatPath, StringEnum, validate } from '@citypilot/sdk';
import { decodeCsvBytes, IMPORT_ERRORS_REPORTED, notInCatalog, UNKNOWN_SCOPES } from './csv-import.js';
import { allowedRoles } from '../auth/access.js';
import { ANONYMOUS, type Role } from '../auth/principal.js';
import { CsvMappingSchema } from './csv.js';
import { METRIC_MAX_LENGTH, METRIC_PATTERN, PERIOD_PATTERN, SCOPE_PATTERN, SOURCE_KEY_PATTERN, ServiceDataError, show } from './model.js';
import type { ServiceData } from './service-data.js';

/**
 * The service-data API, a fastify plugin: `app.register(serviceDataRoutes, { serviceData })`.
 * It relies on an `onRequest` hook of the application that sets `request.principal` (without it,
 * every caller is anonymous). Roles are checked before the body is read.
 *
 * - `POST /api/service-data[?unknownScopes=keep]` (agent, operator): `{ values: [...] }`, stored all
 *   or none; scopes the catalog lacks refused unless unknownScopes=keep;
 * - `POST /api/service-data/import?source=KEY[&file=NAME][&mapping=JSON&saveMapping=true][&unknownScopes=keep]`
 *   (agent, operator; saveMapping: operator): a CSV file as the body (`text/csv`, UTF-8 or
 *   Windows-1252), read as a stream; answered with counts and the first errors;
 * - `GET /api/service-data?metric=…&scope=…&source=…&from=…&to=…&limit=…` (director, elected,
 *   operator, agent): current values;
 * - `GET /api/service-data/history?source=…&metric=…&scope=…&period=…` (operator, director, and
 *   agent, who corrects values and is shown what each correction replaced);
 * - `GET /api/service-data/sources` (agent, operator), `PUT /api/service-data/sources/:key`
 *   (operator): sources and their CSV mappings.
 * A bad request is answered 4xx with `{ error, code?, issues? }` and changes nothing.
 */
export interface ServiceDataRoutesOptions {
  serviceData: ServiceData;
  /** Largest CSV file or JSON submission accepted, in bytes. Default 10 MiB. */
  csvBodyLimit?: number;
}

/** Values per POST /api/service-data. */
export const MAX_VALUES_PER_REQUEST = 10_000;
/** Values per GET /api/service-data; `truncated` says when there were more. */
const MAX_VALUES_PER_READ = 10_000;
const CSV_MEDIA_TYPES = ['text/csv', 'text/plain', 'application/vnd.ms-excel'];
/**
 * Roles that define sources and their CSV mappings (PUT /api/service-data/sources/:key); an
 * import saves its mapping (saveMapping=true) for these roles only, so that an agent cannot
 * replace a mapping through an import.
 */
const MAPPING_ROLES: readonly Role[] = ['operator'];

const SourceKey = Type.String({ pattern: SOURCE_KEY_PATTERN, expected: 'a source key of lowercase letters, digits, - and _ (such as reception-town-hall)' });
const Metric = Type.String({
  pattern: METRIC_PATTERN,
  maxLength: METRIC_MAX_LENGTH,
  expected: 'a metric of lowercase letters, digits and _, in parts separated by dots (such as calls.answered)',
});
const Scope = Type.String({ pattern: SCOPE_PATTERN, expected: 'city, site:<site id> or building:<building id> (such as building:town-hall)' });
const PeriodOf = (description: string) =>
  Type.String({ pattern: PERIOD_PATTERN, expected: 'a month 2026-10, a day 2026-10-25, or a time with its UTC offset 2026-10-25T14:30:00+01:00', description });
const Period = PeriodOf('a local month or day of the city, or a time with its UTC offset');
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ServiceValueInputSchema = Type.Object(
  { source: SourceKey, metric: Metric, scope: Scope, period: Period, value: Type.Number({ expected: 'a finite number' }) },
  { additionalProperties: false },
);

export const ServiceValueSchema = Type.Object({
  source: Type.String(),
  metric: Type.String(),
  scope: Type.String(),
  period: Type.String(),
  granularity: Type.Union([Type.Literal('instant'), Type.Literal('day'), Type.Literal('month')]),
  start: Type.String({ format: 'date-time' }),
  value: Type.Number(),
  submittedBy: Type.String(),
  submittedAt: Type.String({ format: 'date-time' }),
  via: Type.Union([Type.Literal('api'), Type.Literal('csv')]),
  file: Nullable(Type.String()),
  row: Nullable(Type.Integer()),
  supersededAt: Nullable(Type.String({ format: 'date-time' })),
});

const SubmitResultSchema = Type.Object({
  stored: Type.Array(ServiceValueSchema),
  superseded: Type.Array(ServiceValueSchema),
  unchanged: Type.Array(ServiceValueSchema),
});

const ImportSummarySchema = Type.Object(
  {
    source: Type.String(),
    file: Type.String(),
    delimiter: Type.String(),
    rows: Type.Integer({ description: 'data rows in the file (blank rows are not counted)' }),
    stored: Type.Integer({ description: 'values written as new current versions' }),
    superseded: Type.Integer({ description: 'current versions those replaced (kept as history: GET /api/service-data/history)' }),
    unchanged: Type.Integer({ description: 'values given again with the value they had: nothing written' }),
    rowsInError: Type.Integer({ description: 'rows with a problem: each wrote nothing' }),
    errorCount: Type.Integer({ description: 'problems in all' }),
    errors: Type.Array(Type.Object({ row: Type.Integer(), column: Type.Optional(Type.String()), message: Type.String() }), {
      maxItems: IMPORT_ERRORS_REPORTED,
      description: `the first ${IMPORT_ERRORS_REPORTED} problems, by row (the header is row 1); fix them and import the file again (values already stored are then unchanged)`,
    }),
    mappingSaved: Type.Boolean(),
  },
  { description: "What the import did, in counts: the answer's size does not grow with the file's" },
);

const SourceSchema = Type.Object({
  key: Type.String(),
  name: Type.String(),
  mapping: Nullable(CsvMappingSchema),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ErrorSchema = Type.Object({
  error: Type.String(),
  code: Type.Optional(Type.String()),
  issues: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
});

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };

const SubmitBody = Type.Object(
  { values: Type.Array(ServiceValueInputSchema, { minItems: 1, maxItems: MAX_VALUES_PER_REQUEST }) },
  { additionalProperties: false },
);

const UnknownScopesOption = (what: string) =>
  Type.Optional(
    StringEnum(UNKNOWN_SCOPES, {
      default: 'refuse',
      description: `${what} whose scope is a site or building the catalog does not have: \`refuse\` them (400 for values sent as JSON, an error per row in a file), or \`keep\` them, for a site or building the catalog will have later`,
    }),
  );

const SubmitQuery = Type.Object({ unknownScopes: UnknownScopesOption('values') }, { additionalProperties: false });

const ImportQuery = Type.Object(
  {
    source: SourceKey,
    file: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'name of the file, recorded with each value; default upload.csv' })),
    mapping: Type.Optional(Type.String({ description: "the file's column mapping as JSON; default the source's saved one" })),
    unknownScopes: UnknownScopesOption('rows'),
    saveMapping: Type.Optional(
      Type.Boolean({
        description: `save \`mapping\` as the source's; for the roles ${MAPPING_ROLES.join(', ')} and admin only (403 otherwise), as PUT /api/service-data/sources/{key}`,
        default: false,
      }),
    ),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    metric: Type.Optional(Type.Array(Metric)),
    scope: Type.Optional(Type.Array(Scope)),
    source: Type.Optional(Type.Array(SourceKey)),
    from: Type.Optional(PeriodOf('values whose period starts at or after this (a month or a day: its local start)')),
    to: Type.Optional(PeriodOf('values whose period starts before this')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_VALUES_PER_READ, default: 1000 })),
  },
  { additionalProperties: false },
);

const HistoryQuery = Type.Object({ source: SourceKey, metric: Metric, scope: Scope, period: Period }, { additionalProperties: false });

const SourceParams = Type.Object({ key: SourceKey });
const SourceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    mapping: Type.Optional(Nullable(CsvMappingSchema)),
  },
  { additionalProperties: false, description: 'mapping: left out keeps the saved one, null removes it' },
);

/** A route schema with the summary an OpenAPI document shows for it. */
function described<T extends FastifySchema>(summary: string, schema: T): T & { summary: string } {
  return { summary, ...schema };
}

export const serviceDataRoutes: FastifyPluginAsync<ServiceDataRoutesOptions> = async (app, { serviceData, csvBodyLimit = 10 * 1024 * 1024 }) => {
  // Every part is checked against its route schema with the messages of the rest of CityPilot.
  // Bodies are JSON as sent, never coerced (null is not 0); query strings are text, converted
  // to the schema's numbers, booleans and lists first.
  const compile =
    ({ schema, httpPart }: { schema: TSchema; httpPart?: string }) =>
    (data: unknown) => {
      const input = httpPart === 'body' ? data : Value.Convert(schema, data);
      const result = validate(schema, input);
      if (result.ok) return { value: result.value };
      const issues = result.issues.map((i) => ({ path: i.path.length ? formatPath(i.path) : (httpPart ?? ''), message: i.message }));
      return { error: ServiceDataError.of('SERVICE_REQUEST_INVALID', issues) };
    };
  app.setValidatorCompiler<TSchema>(compile);

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ServiceDataError)
      return reply.code(error.code === 'CSV_FILE_TOO_LARGE' ? 413 : 400).send({ error: error.message, code: error.code, issues: [...error.issues] });
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const wanted = request.routeOptions.url?.endsWith('/import') ? `a CSV file (${CSV_MEDIA_TYPES.join(', ')})` : 'JSON (application/json)';
      return reply.code(415).send({ error: `Content-Type ${show(request.headers['content-type'] ?? '')} is not accepted here: send ${wanted}` });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: error.message });
    throw error;
  });

  const principalOf = (request: FastifyRequest) => request.principal ?? ANONYMOUS;

  app.post<{ Body: Static<typeof SubmitBody>; Querystring: Static<typeof SubmitQuery> }>(
    '/api/service-data',
    {
      config: { access: { roles: ['agent', 'operator'] } },
      bodyLimit: csvBodyLimit,
      schema: described('Submit service values: all are stored, or none', {
        querystring: SubmitQuery,
        body: SubmitBody,
        response: { 200: SubmitResultSchema, ...errors },
      }),
    },
    async (request) => {
      const { values } = request.body;
      if (request.query.unknownScopes !== 'keep') {
        const unknown = await serviceData.scopesNotInCatalog(values.map((v) => v.scope));
        const issues = values.flatMap((v, i) => (unknown.has(v.scope) ? [{ path: `values[${i}].scope`, message: notInCatalog(v.scope, 'send them') }] : []));
        if (issues.length) throw ServiceDataError.of('SERVICE_VALUES_INVALID', issues);
      }
      return serviceData.submit(principalOf(request), values);
    },
  );

  // CSV files as the stream of their bytes, for the import alone (the other routes answer 415 to
  // them): it reads and decodes them as they arrive (csv-import.ts), so that a large file is
  // never whole in memory, and enforces csvBodyLimit.
  app.register(async (csv) => {
    csv.addContentTypeParser(CSV_MEDIA_TYPES, (_request, payload, done) => done(null, payload));
    csv.post<{ Querystring: Static<typeof ImportQuery>; Body: AsyncIterable<Uint8Array> }>(
      '/api/service-data/import',
      {
        config: { access: { roles: ['agent', 'operator'] } },
        bodyLimit: csvBodyLimit,
        // The body is a stream, checked as it is read.
        validatorCompiler: (route) =>
          route.httpPart === 'body' ? (data: unknown) => ({ value: data }) : compile(route as unknown as { schema: TSchema; httpPart?: string }),
        schema: described('Import a CSV file of a source: its good rows are stored, the others counted and the first ones reported', {
          consumes: CSV_MEDIA_TYPES,
          querystring: ImportQuery,
          body: Type.String({
            description: `the CSV file (text/csv; UTF-8 or Windows-1252, or the charset given), at most ${csvBodyLimit} bytes`,
            expected: 'the CSV file, sent with Content-Type text/csv',
          }),
          response: {
            200: ImportSummarySchema,
            ...errors,
            403: {
              ...ErrorSchema,
              description: `The token's role is not agent, operator or admin; or saveMapping=true with a role other than ${[...MAPPING_ROLES, 'admin'].join(', ')} (code MAPPING_SAVE_FORBIDDEN)`,
            },
            413: { ...ErrorSchema, description: 'The file is larger than the hub takes (code CSV_FILE_TOO_LARGE)' },
          },
        }),
      },
      async (request, reply) => {
        const { source, file = 'upload.csv', mapping, saveMapping, unknownScopes } = request.query;
        const mappers = allowedRoles({ roles: MAPPING_ROLES });
        if (saveMapping && mappers !== 'public' && !mappers.includes(principalOf(request).role)) {
          return reply.code(403).send({
            error: `saveMapping: ${/^[aeiou]/.test(principalOf(request).role) ? 'an' : 'a'} ${principalOf(request).role} token may not save a source's mapping (the role ${MAPPING_ROLES.join(' or ')} may, through PUT /api/service-data/sources/${source}); import without saveMapping to use this mapping once`,
            code: 'MAPPING_SAVE_FORBIDDEN',
          });
        }
        let parsedMapping: unknown;
        if (mapping !== undefined) {
          try {
            parsedMapping = JSON.parse(mapping);
          } catch {
            throw ServiceDataError.of('SERVICE_REQUEST_INVALID', [{ path: 'mapping', message: `is not JSON: ${show(mapping)}` }]);
          }
        }
        const body: unknown = request.body;
        if (typeof (body as Partial<AsyncIterable<Uint8Array>> | undefined)?.[Symbol.asyncIterator] !== 'function') {
          throw ServiceDataError.of('CSV_FILE_REFUSED', [
            { path: 'body', message: `expected the CSV file as the body, with Content-Type ${CSV_MEDIA_TYPES[0]}` },
          ]);
        }
        const text = decodeCsvBytes(body as AsyncIterable<Uint8Array>, { contentType: request.headers['content-type'], maxBytes: csvBodyLimit });
        return serviceData.importCsv(principalOf(request), source, file, text, { mapping: parsedMapping, saveMapping, unknownScopes });
      },
    );
  });

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/service-data',
    {
      config: { access: { roles: ['director', 'elected', 'operator', 'agent'] } },
      schema: described('Current service values, by metric, scope and period start', {
        querystring: ListQuery,
        response: { 200: Type.Object({ values: Type.Array(ServiceValueSchema), truncated: Type.Boolean() }), ...errors },
      }),
    },
    async (request) => {
      const { metric, scope, source, from, to, limit = 1000 } = request.query;
      const values = await serviceData.current({ metrics: metric, scopes: scope, sources: source, from, to, limit: limit + 1 });
      return { values: values.slice(0, limit), truncated: values.length > limit };
    },
  );

  app.get<{ Querystring: Static<typeof HistoryQuery> }>(
    '/api/service-data/history',
    {
      config: { access: { roles: ['operator', 'director', 'agent'] } },
      schema: described('Every version of one value, oldest first, with who submitted it, when and how', {
        querystring: HistoryQuery,
        response: { 200: Type.Object({ versions: Type.Array(ServiceValueSchema) }), ...errors },
      }),
    },
    async (request) => {
      const { source, metric, scope, period } = request.query;
      return { versions: await serviceData.history(source, metric, scope, period) };
    },
  );

  app.get(
    '/api/service-data/sources',
    {
      config: { access: { roles: ['agent', 'operator'] } },
      schema: described('Sources of service data and their CSV mappings', { response: { 200: Type.Object({ sources: Type.Array(SourceSchema) }), ...errors } }),
    },
    async () => ({ sources: await serviceData.sources() }),
  );

  app.put<{ Params: Static<typeof SourceParams>; Body: Static<typeof SourceBody> }>(
    '/api/service-data/sources/:key',
    {
      config: { access: { roles: MAPPING_ROLES } },
      schema: described('Define a source of service data, or rename it or change its CSV mapping', {
        params: SourceParams,
        body: SourceBody,
        response: { 200: Type.Object({ source: SourceSchema }), 201: Type.Object({ source: SourceSchema }), ...errors },
      }),
    },
    async (request, reply) => {
      const { source, created } = await serviceData.defineSource(request.params.key, request.body.name, request.body.mapping);
      return reply.code(created ? 201 : 200).send({ source });
    },
  );
};
