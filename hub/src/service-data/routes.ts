import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyPluginAsync, FastifyRequest, FastifySchema } from 'fastify';
import { formatPath, validate } from '@citypilot/sdk';
import { ANONYMOUS } from '../auth/principal.js';
import { CsvMappingSchema } from './csv.js';
import { METRIC_MAX_LENGTH, METRIC_PATTERN, PERIOD_PATTERN, SCOPE_PATTERN, SOURCE_KEY_PATTERN, ServiceDataError, show } from './model.js';
import type { ServiceData } from './service-data.js';

/**
 * The service-data API, a fastify plugin: `app.register(serviceDataRoutes, { serviceData })`.
 * It relies on an `onRequest` hook of the application that sets `request.principal` (without it,
 * every caller is anonymous). Roles are checked before the body is read.
 *
 * - `POST /api/service-data` (agent, operator): `{ values: [...] }`, stored all or none;
 * - `POST /api/service-data/import?source=KEY[&file=NAME][&mapping=JSON&saveMapping=true]`
 *   (agent, operator): a CSV file as the body (`text/csv`, UTF-8 or Windows-1252);
 * - `GET /api/service-data?metric=…&scope=…&source=…&from=…&to=…&limit=…` (director, elected,
 *   operator, agent): current values;
 * - `GET /api/service-data/history?source=…&metric=…&scope=…&period=…` (operator, director);
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

const SourceKey = Type.String({ pattern: SOURCE_KEY_PATTERN, expected: 'a source key of lowercase letters, digits, - and _ (such as reception-town-hall)' });
const Metric = Type.String({ pattern: METRIC_PATTERN, maxLength: METRIC_MAX_LENGTH, expected: 'a metric of lowercase letters, digits and _, in parts separated by dots (such as calls.answered)' });
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

const ImportResultSchema = Type.Composite([
  SubmitResultSchema,
  Type.Object({
    source: Type.String(),
    file: Type.String(),
    delimiter: Type.String(),
    rows: Type.Integer(),
    errors: Type.Array(Type.Object({ row: Type.Integer(), column: Type.Optional(Type.String()), message: Type.String() })),
    mappingSaved: Type.Boolean(),
  }),
]);

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

const ImportQuery = Type.Object(
  {
    source: SourceKey,
    file: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'name of the file, recorded with each value; default upload.csv' })),
    mapping: Type.Optional(Type.String({ description: "the file's column mapping as JSON; default the source's saved one" })),
    saveMapping: Type.Optional(Type.Boolean({ description: "save `mapping` as the source's", default: false })),
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
  app.setValidatorCompiler<TSchema>(({ schema, httpPart }) => (data: unknown) => {
    const input = httpPart === 'body' ? data : Value.Convert(schema, data);
    const result = validate(schema, input);
    if (result.ok) return { value: result.value };
    const issues = result.issues.map((i) => ({ path: i.path.length ? formatPath(i.path) : (httpPart ?? ''), message: i.message }));
    return { error: ServiceDataError.of('SERVICE_REQUEST_INVALID', issues) };
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ServiceDataError) return reply.code(400).send({ error: error.message, code: error.code, issues: [...error.issues] });
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const wanted = request.routeOptions.url?.endsWith('/import') ? `a CSV file (${CSV_MEDIA_TYPES.join(', ')})` : 'JSON (application/json)';
      return reply.code(415).send({ error: `Content-Type ${show(request.headers['content-type'] ?? '')} is not accepted here: send ${wanted}` });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return reply.code(status).send({ error: error.message });
    throw error;
  });

  // CSV files as bytes: decoded here, UTF-8 or else Windows-1252 (what Excel saves in France).
  app.addContentTypeParser(CSV_MEDIA_TYPES, { parseAs: 'buffer', bodyLimit: csvBodyLimit }, (request, body, done) => {
    done(null, decodeCsv(body as Buffer, request.headers['content-type']));
  });

  const principalOf = (request: FastifyRequest) => request.principal ?? ANONYMOUS;

  app.post<{ Body: Static<typeof SubmitBody> }>(
    '/api/service-data',
    {
      config: { access: { roles: ['agent', 'operator'] } },
      bodyLimit: csvBodyLimit,
      schema: described('Submit service values: all are stored, or none', {
        body: SubmitBody,
        response: { 200: SubmitResultSchema, ...errors },
      }),
    },
    async (request) => serviceData.submit(principalOf(request), request.body.values),
  );

  app.post<{ Querystring: Static<typeof ImportQuery>; Body: string }>(
    '/api/service-data/import',
    {
      config: { access: { roles: ['agent', 'operator'] } },
      bodyLimit: csvBodyLimit,
      schema: described('Import a CSV file of a source: its good rows are stored, the others reported', {
        querystring: ImportQuery,
        body: Type.String({ description: 'the CSV file (text/csv)', expected: 'the CSV file as text, sent with Content-Type text/csv' }),
        response: { 200: ImportResultSchema, ...errors },
      }),
    },
    async (request) => {
      const { source, file = 'upload.csv', mapping, saveMapping } = request.query;
      let parsedMapping: unknown;
      if (mapping !== undefined) {
        try {
          parsedMapping = JSON.parse(mapping);
        } catch {
          throw ServiceDataError.of('SERVICE_REQUEST_INVALID', [{ path: 'mapping', message: `is not JSON: ${show(mapping)}` }]);
        }
      }
      if (typeof request.body !== 'string') {
        throw ServiceDataError.of('CSV_FILE_REFUSED', [{ path: 'body', message: `expected the CSV file as the body, with Content-Type ${CSV_MEDIA_TYPES[0]}` }]);
      }
      return serviceData.importCsv(principalOf(request), source, file, request.body, { mapping: parsedMapping, saveMapping });
    },
  );

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
      config: { access: { roles: ['operator', 'director'] } },
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
      config: { access: { roles: ['operator'] } },
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

/** A CSV body as text: the charset of its Content-Type, else UTF-8, else Windows-1252. */
function decodeCsv(body: Buffer, contentType: string | undefined): string {
  const charset = /charset=("?)([^";]+)\1/i.exec(contentType ?? '')?.[2]?.trim().toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    try {
      return new TextDecoder(charset).decode(body);
    } catch {
      // An unknown charset: read the bytes as if none was given.
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return new TextDecoder('windows-1252').decode(body);
  }
}
