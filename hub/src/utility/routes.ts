import type {} from '@fastify/swagger'; // the schema's description and tags, for the OpenAPI document
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { formatPath, validate } from '@citypilot/sdk';
import type { FastifyPluginAsync } from 'fastify';
import { ID_PATTERN } from '@citypilot/wire';
import { isDay } from './local-time.js';
import type { UtilityConnectors } from './connectors.js';
import { UtilityError, type ConnectorState, type RunSummary } from './connector-types.js';
import { UTILITY_ENERGIES } from './readings.js';
import { IMPORT_FORMATS, type UtilityImports } from './import-files.js';
import { UtilityImportError } from './imports/index.js';

/**
 * The utility connectors' API, for hub operators (the dashboard's "Compteurs des distributeurs"
 * page): connectors (a utility's API and the city's credentials, the secret written only), the
 * delivery points they collect and the buildings they measure, a collection on demand, and each
 * connector's state (last run, next run, days missing, errors).
 */
export interface UtilityRoutesOptions {
  connectors: UtilityConnectors;
  imports: UtilityImports;
  /** Largest file an import takes, in bytes. Default 1 GiB (read as a stream: memory stays bounded). */
  importBodyLimit?: number;
  /**
   * The hub's address as browsers reach it (HUB_PUBLIC_URL): where the utility's consent page
   * sends customers back, and what must be registered with the utility. Default: the address the
   * operator's request came to (behind a proxy, only right with HUB_TRUST_PROXY).
   */
  publicUrl?: string;
}

const CSV_MEDIA_TYPES = ['text/csv', 'text/plain', 'application/vnd.ms-excel', 'application/octet-stream'];

const Key = Type.String({ pattern: ID_PATTERN, description: 'The connector key (such as enedis-city)' });
const KeyParams = Type.Object({ key: Key }, { additionalProperties: false });
const Utility = Type.Union([Type.Literal('enedis'), Type.Literal('grdf'), Type.Literal('other')]);
const DeliveryPointParams = Type.Object(
  {
    utility: Utility,
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$', description: 'PRM (Enedis, 14 digits), PCE (GRDF) or a meter reference' }),
  },
  { additionalProperties: false },
);
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'A local day, YYYY-MM-DD' });
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const ConnectorBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('enedis'), Type.Literal('grdf')], { description: "The utility's API: Enedis Data Connect, GRDF ADICT" }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    baseUrl: Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 500, description: "The API's base URL (https://gw.ext.prod.api.enedis.fr for Enedis)" }),
    authorizeUrl: Type.Optional(
      Type.Union([Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 500 }), Type.Null()], {
        description:
          "The utility's consent page for customers when not on baseUrl's host (Enedis: https://mon-compte-particulier.enedis.fr); left out: the stored one is kept; null: none",
      }),
    ),
    clientId: Type.String({ minLength: 1, maxLength: 500 }),
    clientSecret: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2000, description: 'Stored encrypted; never shown again. Left out: the stored one is kept' }),
    ),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    collectHour: Type.Optional(Type.Integer({ minimum: 0, maximum: 23, default: 7, description: 'Local hour of the daily collection' })),
    lookbackDays: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 60, default: 7, description: 'Days read again at each run, for the corrections utilities make' }),
    ),
  },
  { additionalProperties: false },
);

const DeliveryPointBody = Type.Object(
  {
    energy: Type.Union(UTILITY_ENERGIES.map((e) => Type.Literal(e))),
    building: Type.String({ pattern: ID_PATTERN, description: "The catalog's building it measures" }),
    connector: Type.Optional(Type.Union([Key, Type.Null()], { description: 'The connector that collects it; null or left out: fed by files only' })),
    loadCurve: Type.Optional(Type.Boolean({ default: false, description: 'Collect the 30-minute load curve too (electricity)' })),
    since: Day,
    consentUntil: Type.Optional(Type.Union([Day, Type.Null()], { description: "Until when the customer's consent runs, when known" })),
  },
  { additionalProperties: false },
);

const RunSchema = Type.Object({
  id: Type.Integer(),
  connector: Nullable(Type.String()),
  via: Type.String({ enum: ['api', 'csv'] }),
  format: Nullable(Type.String()),
  fileName: Nullable(Type.String()),
  submittedBy: Type.String(),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  ok: Type.Union([Type.Boolean(), Type.Null()]),
  readings: Type.Integer({ description: 'Readings received' }),
  inserted: Type.Integer({ description: 'Stored for the first time' }),
  corrected: Type.Integer({ description: 'Different from the stored ones: replaced, the previous version kept' }),
  unchanged: Type.Integer({ description: 'Already stored with the same value' }),
  errors: Type.Array(
    Type.Object({
      deliveryPoint: Type.Optional(Type.String()),
      row: Type.Optional(Type.Integer()),
      column: Type.Optional(Type.String()),
      message: Type.String(),
    }),
  ),
  errorCount: Type.Integer(),
  daysMissing: Type.Union([Type.Integer(), Type.Null()]),
});

const DeliveryPointSchema = Type.Object({
  utility: Type.String(),
  id: Type.String(),
  energy: Type.String(),
  building: Type.String(),
  connector: Nullable(Type.String()),
  loadCurve: Type.Boolean(),
  since: Type.String(),
  consentUntil: Nullable(Type.String()),
  lastDay: Nullable(Type.String({ description: 'Latest local day with a reading' })),
  daysMissing: Type.Integer({ description: 'Days from `since` to yesterday without a reading' }),
  lastError: Nullable(Type.String()),
  source: Type.String({ description: "The source id its samples are stored under (utility:<utility>:<id>), as the points' gateway" }),
});

const ConnectorSchema = Type.Object({
  key: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  baseUrl: Type.String(),
  authorizeUrl: Nullable(Type.String()),
  clientId: Type.String(),
  hasSecret: Type.Boolean({ description: 'Whether a client secret is stored (it is never shown)' }),
  enabled: Type.Boolean(),
  collectHour: Type.Integer(),
  lookbackDays: Type.Integer(),
  running: Type.Boolean(),
  lastRun: Type.Union([RunSchema, Type.Null()]),
  nextRun: Nullable(Type.String({ format: 'date-time' })),
  daysMissing: Type.Integer(),
  deliveryPoints: Type.Array(DeliveryPointSchema),
});

const ErrorSchema = Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
const OPERATORS = { access: { roles: ['operator'] as const } };

export const utilityRoutes: FastifyPluginAsync<UtilityRoutesOptions> = async (app, { connectors, imports, importBodyLimit = 1024 ** 3, publicUrl }) => {
  const answer = (c: ConnectorState) => c;
  const run = (r: RunSummary) => r;

  app.get(
    '/api/utility/connectors',
    {
      config: OPERATORS,
      schema: {
        description: 'The utility connectors with their state (last run, next run, days missing, errors) and delivery points; secrets are never shown.',
        tags: ['utility'],
        response: { 200: Type.Object({ connectors: Type.Array(ConnectorSchema) }), ...errors },
      },
    },
    async () => ({ connectors: (await connectors.list()).map(answer) }),
  );

  app.get<{ Params: Static<typeof KeyParams> }>(
    '/api/utility/connectors/:key',
    {
      config: OPERATORS,
      schema: { description: 'One utility connector and its state.', tags: ['utility'], params: KeyParams, response: { 200: ConnectorSchema, ...errors } },
    },
    async (request) => answer(await connectors.get(request.params.key)),
  );

  app.put<{ Params: Static<typeof KeyParams>; Body: Static<typeof ConnectorBody> }>(
    '/api/utility/connectors/:key',
    {
      config: OPERATORS,
      schema: {
        description:
          "Create or change a utility connector. The client secret is stored encrypted (AES-256-GCM under the hub's CITYPILOT_SECRET_KEY) and never shown again; without a secret key configured, a secret is refused (SECRET_KEY_MISSING).",
        tags: ['utility'],
        params: KeyParams,
        body: ConnectorBody,
        response: { 200: ConnectorSchema, ...errors },
      },
    },
    async (request) => {
      const b = request.body;
      const state = await connectors.save(
        request.params.key,
        {
          kind: b.kind,
          name: b.name,
          baseUrl: b.baseUrl,
          authorizeUrl: b.authorizeUrl,
          clientId: b.clientId,
          enabled: b.enabled ?? true,
          collectHour: b.collectHour ?? 7,
          lookbackDays: b.lookbackDays ?? 7,
        },
        b.clientSecret,
      );
      return answer(state);
    },
  );

  app.delete<{ Params: Static<typeof KeyParams> }>(
    '/api/utility/connectors/:key',
    {
      config: OPERATORS,
      schema: {
        description: 'Remove a connector; its delivery points and their readings stay (fed by files only until given another).',
        tags: ['utility'],
        params: KeyParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await connectors.remove(request.params.key);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Static<typeof KeyParams>; Querystring: { wait?: boolean } }>(
    '/api/utility/connectors/:key/run',
    {
      config: OPERATORS,
      schema: {
        description:
          'Collect now: every day missing since each delivery point’s first day, and the look-back days again. Answered 202 at once (the connector shows running: true until done), or with the run once done when wait=true.',
        tags: ['utility'],
        params: KeyParams,
        querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: RunSchema, 202: Type.Object({ running: Type.Boolean() }), ...errors, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      await connectors.get(request.params.key);
      const started = connectors.run(request.params.key, request.principal.id);
      if (request.query.wait) return run(await started);
      started.catch(() => undefined); // its failures are in the run's record
      return reply.code(202).send({ running: true });
    },
  );

  app.post<{ Params: Static<typeof KeyParams>; Body: { deliveryPoint: string; duration?: string } }>(
    '/api/utility/connectors/:key/consents',
    {
      config: OPERATORS,
      schema: {
        description:
          "Ask a delivery point's customer (a building's account holder, often the city itself) to consent on Enedis's page to the city reading its data: answers the page's address, valid an hour, to open or send. Enedis sends the customer back to /api/utility/consent/callback, which records the consent and its end.",
        tags: ['utility'],
        params: KeyParams,
        body: Type.Object(
          {
            deliveryPoint: Type.String({ pattern: '^\\d{14}$', description: 'The PRM, a delivery point of this connector' }),
            duration: Type.Optional(Type.String({ maxLength: 20, default: 'P1Y', description: 'How long the consent lasts, ISO 8601, at most 3 years' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ url: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }), ...errors },
      },
    },
    async (request) => {
      const callback = `${publicUrl ?? `${request.protocol}://${request.host}`}/api/utility/consent/callback`;
      return connectors.askConsent(request.params.key, request.body.deliveryPoint, request.body.duration ?? 'P1Y', callback, request.principal.id);
    },
  );

  app.get<{ Querystring: { state?: string; usage_point_id?: string; code?: string; error?: string } }>(
    '/api/utility/consent/callback',
    {
      config: { access: { roles: ['public'], sites: 'none' } },
      schema: {
        description:
          "Where Enedis's consent page sends the customer back (with state, usage_point_id and code, or error): records the consent asked with that state, then redirects to the utility meters page, which says how it went.",
        tags: ['utility'],
        querystring: Type.Object(
          {
            state: Type.Optional(Type.String({ maxLength: 200 })),
            usage_point_id: Type.Optional(Type.String({ maxLength: 50 })),
            code: Type.Optional(Type.String({ maxLength: 2000 })),
            error: Type.Optional(Type.String({ maxLength: 200 })),
            error_description: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: { 303: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const page = '/gestion/compteurs';
      const { state, usage_point_id: usagePoint, error } = request.query;
      if (error || !state) return reply.redirect(`${page}?consentement=refuse&raison=${encodeURIComponent(error ?? 'no state')}`, 303);
      try {
        const given = await connectors.consentGiven(state, usagePoint);
        return reply.redirect(`${page}?consentement=ok&pdl=${given.deliveryPoint}&jusqu-au=${given.until}`, 303);
      } catch (failure) {
        if (!(failure instanceof UtilityError)) throw failure;
        return reply.redirect(`${page}?consentement=refuse&raison=${encodeURIComponent(failure.message)}`, 303);
      }
    },
  );

  app.get<{ Params: Static<typeof KeyParams> }>(
    '/api/utility/connectors/:key/runs',
    {
      config: OPERATORS,
      schema: {
        description: "The connector's latest runs, newest first, with what each brought and its errors.",
        tags: ['utility'],
        params: KeyParams,
        response: { 200: Type.Object({ runs: Type.Array(RunSchema) }), ...errors },
      },
    },
    async (request) => {
      await connectors.get(request.params.key);
      return { runs: await connectors.runs(request.params.key) };
    },
  );

  // Files as the stream of their bytes, for the import alone: read and stored as they arrive.
  app.register(async (csv) => {
    csv.addContentTypeParser(CSV_MEDIA_TYPES, (_request, payload, done) => done(null, payload));
    csv.post<{ Querystring: { format: (typeof IMPORT_FORMATS)[number]; file?: string }; Body: AsyncIterable<Uint8Array> }>(
      '/api/utility/imports',
      {
        config: OPERATORS,
        bodyLimit: importBodyLimit,
        // The body is a stream, checked as it is read.
        validatorCompiler: ({ schema, httpPart }) => {
          if (httpPart === 'body') return (data: unknown) => ({ value: data });
          return (data: unknown) => {
            const result = validate(schema as TSchema, Value.Convert(schema as TSchema, data));
            if (result.ok) return { value: result.value };
            const detail = result.issues.map((i) => `${i.path.length ? formatPath(i.path) : httpPart}: ${i.message}`).join('; ');
            return { error: Object.assign(new Error(`${httpPart}: ${detail}`), { statusCode: 400 }) };
          };
        },
        schema: {
          description:
            "Import a file a utility gives its customers: format=enedis (Enedis's customer-space downloads and M023 measure files: daily consumption and load curves), grdf (GRDF's daily, weekly or monthly informative data; kWh from m³ × the conversion coefficient when GRDF gives only the volume), bills (bill lines: building or delivery point, energy, period, kWh, amount in euros, supplier, invoice). Read as a stream; a reading already stored is left, a corrected one replaced with its previous version kept; bad rows are listed by line and column (the first 1,000) and the good ones stored. The delivery points must be linked to buildings first. A file of another format is refused whole (IMPORT_FILE_REFUSED).",
          tags: ['utility'],
          consumes: CSV_MEDIA_TYPES,
          querystring: Type.Object(
            {
              format: Type.Union(
                IMPORT_FORMATS.map((f) => Type.Literal(f)),
                { description: 'enedis, grdf or bills' },
              ),
              file: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "The file's name, kept with the import" })),
            },
            { additionalProperties: false },
          ),
          body: Type.String({ description: `the file (text/csv; UTF-8 or Windows-1252), at most ${importBodyLimit} bytes` }),
          response: { 200: RunSchema, ...errors, 413: ErrorSchema, 415: ErrorSchema },
        },
      },
      async (request, reply) => {
        const body: unknown = request.body;
        if (typeof (body as Partial<AsyncIterable<Uint8Array>> | undefined)?.[Symbol.asyncIterator] !== 'function') {
          return reply.code(400).send({ error: `body: expected the file, sent with Content-Type ${CSV_MEDIA_TYPES[0]}`, code: 'IMPORT_FILE_REFUSED' });
        }
        try {
          return run(
            await imports.importFile(body as AsyncIterable<Uint8Array>, {
              format: request.query.format,
              fileName: request.query.file ?? `${request.query.format}.csv`,
              submittedBy: request.principal.id,
              contentType: request.headers['content-type'],
              maxBytes: importBodyLimit,
            }),
          );
        } catch (error) {
          if (error instanceof UtilityImportError) {
            return reply.code(error.code === 'IMPORT_FILE_TOO_LARGE' ? 413 : 400).send({ error: error.message, code: error.code });
          }
          throw error;
        }
      },
    );
  });

  app.get(
    '/api/utility/imports',
    {
      config: OPERATORS,
      schema: {
        description: 'The latest file imports, newest first: who sent which file, what it brought, the rows refused.',
        tags: ['utility'],
        response: { 200: Type.Object({ runs: Type.Array(RunSchema) }), ...errors },
      },
    },
    async () => ({ runs: await connectors.runs(null) }),
  );

  app.get(
    '/api/utility/delivery-points',
    {
      config: OPERATORS,
      schema: {
        description: 'Every delivery point (Enedis PRM, GRDF PCE, other meters fed by files) with its building, connector and state.',
        tags: ['utility'],
        response: { 200: Type.Object({ deliveryPoints: Type.Array(DeliveryPointSchema) }), ...errors },
      },
    },
    async () => ({ deliveryPoints: await connectors.deliveryPoints() }),
  );

  app.put<{ Params: Static<typeof DeliveryPointParams>; Body: Static<typeof DeliveryPointBody> }>(
    '/api/utility/delivery-points/:utility/:id',
    {
      config: OPERATORS,
      schema: {
        description:
          'Link a delivery point to the building it measures (and to the connector that collects it). Its energy cannot change once it has readings; an Enedis PRM is 14 digits.',
        tags: ['utility'],
        params: DeliveryPointParams,
        body: DeliveryPointBody,
        response: { 200: DeliveryPointSchema, ...errors },
      },
    },
    async (request) => {
      const { utility, id } = request.params;
      const b = request.body;
      if (utility === 'enedis' && !/^\d{14}$/.test(id))
        throw new UtilityError('UTILITY_INVALID', `id: an Enedis PRM is 14 digits, found ${JSON.stringify(id)}`);
      if (utility === 'enedis' && b.energy !== 'elec')
        throw new UtilityError('UTILITY_INVALID', 'energy: an Enedis delivery point measures electricity (elec)');
      if (utility === 'grdf' && b.energy !== 'gas') throw new UtilityError('UTILITY_INVALID', 'energy: a GRDF delivery point measures gas');
      for (const [name, day] of [
        ['since', b.since],
        ['consentUntil', b.consentUntil],
      ] as const) {
        if (day && !isDay(day)) throw new UtilityError('UTILITY_INVALID', `${name}: ${day} is not a day of the calendar`);
      }
      return connectors.saveDeliveryPoint({
        utility,
        id,
        energy: b.energy,
        building: b.building,
        connector: b.connector ?? null,
        loadCurve: b.loadCurve ?? false,
        since: b.since,
        consentUntil: b.consentUntil ?? null,
      });
    },
  );

  app.delete<{ Params: Static<typeof DeliveryPointParams> }>(
    '/api/utility/delivery-points/:utility/:id',
    {
      config: OPERATORS,
      schema: {
        description: 'Stop collecting a delivery point; its readings stay with its building.',
        tags: ['utility'],
        params: DeliveryPointParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await connectors.removeDeliveryPoint(request.params.utility, request.params.id);
      return reply.code(204).send();
    },
  );
};
