/**
 * Open data over HTTP, a fastify plugin registered by buildApi.
 *
 * Read-only, for anyone (`Access-Control-Allow-Origin: *`, ETag and Last-Modified with 304):
 * - `GET /api/open-data`: the published datasets with their description and links;
 * - `GET /api/open-data/catalog.jsonld` and `/catalog.ttl`: the DCAT-AP catalogue;
 * - `GET /api/open-data/datasets/{id}`: one dataset's description, columns and coverage;
 * - `GET /api/open-data/datasets/{id}/schema.json[?lang=en]`: its Table Schema;
 * - `GET /api/open-data/datasets/{id}/rows`: a page of rows (filters, sort, keyset cursor);
 * - `GET /api/open-data/datasets/{id}/data.csv` and `/data.json`: the whole of it, streamed.
 * For operators (each write audited): `GET /api/open-data/settings`, `PUT
 * /api/open-data/datasets/{id}` (switch on or off, licence), `PUT /api/open-data/publisher`,
 * `GET` and `PUT /api/open-data/points` (the points whose hourly values are published).
 * A dataset switched off answers 404, as one that does not exist.
 */
import type {} from '@fastify/swagger';
import { createHash } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { bodyAndParamsValidator } from '../http/validation.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ID_PATTERN, StringEnum } from '@citypilot/sdk';
import type { Access } from '../auth/access.js';
import type { Role } from '../auth/principal.js';
import { errorSchema } from '../http/errors.js';
import { DATASETS } from './datasets.js';
import { datasetUrls, dcatCatalogue, dcatTurtle, tableSchema, type DescribedDataset } from './describe.js';
import { LICENCES, OpenDataError, type DatasetSwitch, type Licence, type OpenData } from './open-data.js';
import { PAGE_DEFAULT, PAGE_MAX, parseDatasetQuery } from './query.js';

export interface OpenDataRoutesOptions {
  openData: OpenData;
  /** The hub's public address (https://donnees.ville.fr), for the catalogue's IRIs. Default: the request's own. */
  publicUrl?: string;
  /** Downloads one client may run at once. Default 2. */
  downloadsPerClient?: number;
  /** How long the described datasets (coverage, modification) are reused for the catalogue and the list, ms. Default 30,000. */
  describeCacheMs?: number;
}

const PUBLIC: Access = { roles: ['public'], sites: 'none' };
const OPERATORS: readonly Role[] = ['operator'];
const TAGS = ['open data'];
const Error400 = errorSchema('A filter, sort, limit or cursor that the dataset does not take: the message names the parameter');
const Error404 = errorSchema('No such dataset, or it is not published');
const LicenceId = StringEnum(Object.keys(LICENCES) as Licence[], { description: 'etalab-2.0 (Licence Ouverte 2.0, the default) or odbl-1.0' });

const QUERY_DESCRIPTION =
  'Filters: `<column>=value` (equal), `<column>.gte=`, `.gt=`, `.lte=`, `.lt=`, compared as the column’s type (dates 2026-01-31, months 2026-01, times 2026-01-31T23:00:00Z, numbers, true/false); an unknown column, comparison or value is answered 400 naming it. ' +
  '`sort=-month,building`: columns never empty, `-` for descending; the dataset’s key follows.';
const DatasetQuery = Type.Object(
  { sort: Type.Optional(Type.String({ description: 'Columns to sort on, comma-separated, `-` for descending' })) },
  { additionalProperties: Type.String({ description: 'A filter: `<column>` or `<column>.gte|gt|lte|lt`' }) },
);
const PageQuery = Type.Object(
  {
    sort: Type.Optional(Type.String({ description: 'Columns to sort on, comma-separated, `-` for descending' })),
    limit: Type.Optional(Type.String({ description: `Rows per page, 1 to ${PAGE_MAX}; default ${PAGE_DEFAULT}` })),
    after: Type.Optional(Type.String({ description: 'The cursor of the previous page’s `next`, unchanged' })),
  },
  { additionalProperties: Type.String({ description: 'A filter: `<column>` or `<column>.gte|gt|lte|lt`' }) },
);
const Params = Type.Object({ id: Type.String({ description: 'The dataset, such as building-energy-monthly', maxLength: 100 }) });
const Words = Type.Object({ fr: Type.String(), en: Type.String() });
const FieldSchema = Type.Object({
  name: Type.String(),
  type: Type.String({ description: 'Table Schema type: string, integer, number, boolean, date, datetime, yearmonth' }),
  title: Words,
  description: Words,
  unit: Type.Optional(Type.String()),
  required: Type.Boolean(),
  enum: Type.Optional(Type.Array(Type.String())),
});
const DatasetSchema = Type.Object({
  id: Type.String(),
  title: Words,
  description: Words,
  keywords: Type.Object({ fr: Type.Array(Type.String()), en: Type.Array(Type.String()) }),
  theme: Type.String({ description: 'EU data theme (ENER, GOVE, REGI, SOCI)' }),
  frequency: Type.String({ description: 'EU frequency (HOURLY, DAILY, MONTHLY, IRREG)' }),
  licence: Type.Object({ id: Type.String(), uri: Type.String(), title: Type.String() }),
  modified: Type.Union([Type.String(), Type.Null()], { description: 'When the data last changed (ISO 8601)' }),
  coverage: Type.Union([Type.Object({ from: Type.String(), to: Type.String() }), Type.Null()], { description: 'First and last day the rows cover' }),
  fields: Type.Array(FieldSchema),
  key: Type.Array(Type.String(), { description: 'Columns identifying a row: the default order' }),
  urls: Type.Object({ schema: Type.String(), csv: Type.String(), json: Type.String(), rows: Type.String(), page: Type.String() }),
});
const SwitchSchema = Type.Object({
  id: Type.String(),
  enabled: Type.Boolean(),
  licence: Type.String(),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
});
/** A switch as the operators' page lists it: with the dataset's title, which the public list gives only while it is published. */
const SettingsDatasetSchema = Type.Object({ ...SwitchSchema.properties, title: Words });
const PublisherBody = Type.Object(
  {
    publisher: Type.String({ minLength: 1, maxLength: 200, description: 'The publishing body, such as "Ville d’Exemple"' }),
    homepage: Type.Union([Type.String({ pattern: '^https?://[^\\s]{1,500}$', expected: 'an http(s) address' }), Type.Null()]),
    contactEmail: Type.String({ pattern: '^[^@\\s]{1,64}@[^@\\s]{1,190}$', expected: 'an e-mail address such as donnees@ville.fr' }),
    inseeCode: Type.Union([Type.String({ pattern: '^[0-9][0-9AB][0-9]{3}$', expected: "the commune's INSEE code, such as 92040" }), Type.Null()]),
  },
  { additionalProperties: false },
);
const PublisherSchema = Type.Object({
  publisher: Type.String(),
  homepage: Type.Union([Type.String(), Type.Null()]),
  contactEmail: Type.Union([Type.String(), Type.Null()]),
  inseeCode: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
});
const SwitchBody = Type.Object({ enabled: Type.Boolean(), licence: Type.Optional(LicenceId) }, { additionalProperties: false });
const PointBody = Type.Object(
  {
    gateway: Type.String({ pattern: ID_PATTERN, description: 'The gateway that announces the point' }),
    point: Type.String({ minLength: 1, maxLength: 200, description: 'The point as the gateway announces it (meters.elec-energy)' }),
    published: Type.Boolean({ description: 'true: its hourly values go to the point-hourly dataset; false: withdrawn' }),
  },
  { additionalProperties: false },
);
const PointSchema = Type.Object({
  pointId: Type.Integer(),
  gateway: Type.String(),
  point: Type.String(),
  name: Type.String(),
  unit: Type.Union([Type.String(), Type.Null()]),
  building: Type.Union([Type.String(), Type.Null()]),
  publishedBy: Type.String(),
  publishedAt: Type.String(),
});
const NotModified = { 'x-response-description': 'The copy the client holds is current (If-None-Match, If-Modified-Since): no body', type: 'null' };
const text = (type: string, description: string) => ({ 'x-response-description': description, content: { [type]: { schema: { type: 'string' } } } });

/**
 * CORS preflights of the open-data routes (a reuser's page sending If-None-Match): answered 204
 * before routing, as a hook of the whole API rather than a wildcard OPTIONS route, which the
 * OpenAPI document could not describe. Register on the root instance, after the rate limits.
 */
export function registerOpenDataPreflight(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'OPTIONS' || !request.url.startsWith('/api/open-data')) return;
    return reply
      .code(204)
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', 'GET, HEAD, OPTIONS')
      .header('access-control-allow-headers', 'If-None-Match, If-Modified-Since')
      .header('access-control-max-age', '86400')
      .send();
  });
}

export async function openDataRoutes(app: FastifyInstance, options: OpenDataRoutesOptions): Promise<void> {
  const { openData, downloadsPerClient = 2, describeCacheMs = 30_000 } = options;

  // Bodies checked with CityPilot's messages; query strings are read by parseDatasetQuery.
  app.setValidatorCompiler<TSchema>(bodyAndParamsValidator);

  // Anyone's page or script may read the open data; the writes stay same-origin.
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-expose-headers', 'ETag, Last-Modified, Link, Content-Disposition');
    }
    return payload;
  });

  const baseOf = (request: FastifyRequest) => (options.publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
  const notPublished = (id: string) => new OpenDataError('NO_SUCH_DATASET', `no published dataset ${JSON.stringify(id.slice(0, 100))}`);
  async function published(id: string) {
    const found = await openData.published(id);
    if (!found) throw notPublished(id);
    return found;
  }

  /** Answers 304 when the client holds this version; otherwise sets the validators. */
  function fresh(request: FastifyRequest, reply: FastifyReply, tag: string, modified: Date | null): boolean {
    const etag = `W/"${tag}-${createHash('sha256').update(request.url).digest('base64url').slice(0, 16)}"`;
    reply.header('etag', etag).header('cache-control', 'public, max-age=60');
    if (modified) reply.header('last-modified', modified.toUTCString());
    const match = request.headers['if-none-match'];
    if (match !== undefined) {
      const tags = match.split(',').map((t) => t.trim().replace(/^W\//, ''));
      return tags.includes('*') || tags.includes(etag.replace(/^W\//, ''));
    }
    const since = request.headers['if-modified-since'];
    if (since && modified) {
      const t = Date.parse(since);
      return Number.isFinite(t) && Math.floor(modified.getTime() / 1000) * 1000 <= t;
    }
    return false;
  }

  // The described datasets (modification, coverage), reused for a while: the coverage of a
  // large dataset is a scan.
  let described: { at: number; value: Promise<DescribedDataset[]> } | undefined;
  function describeAll(): Promise<DescribedDataset[]> {
    if (described && Date.now() - described.at < describeCacheMs) return described.value;
    const value = (async () => {
      const switches = (await openData.switches()).filter((s) => s.enabled);
      return Promise.all(
        switches.map(async (state) => {
          const dataset = DATASETS.find((d) => d.id === state.id)!;
          const [version, coverage] = await Promise.all([openData.version(dataset, state), openData.coverage(dataset)]);
          return { dataset, switch: state, modified: version.modified, coverage, tag: version.tag };
        }),
      );
    })();
    described = { at: Date.now(), value };
    value.catch(() => {
      if (described?.value === value) described = undefined;
    });
    return value;
  }

  const describe = (base: string, d: DescribedDataset) => ({
    id: d.dataset.id,
    title: d.dataset.title,
    description: d.dataset.description,
    keywords: { fr: [...d.dataset.keywords.fr], en: [...d.dataset.keywords.en] },
    theme: d.dataset.theme,
    frequency: d.dataset.frequency,
    licence: { id: d.switch.licence, uri: LICENCES[d.switch.licence].uri, title: LICENCES[d.switch.licence].title.fr },
    modified: d.modified?.toISOString() ?? null,
    coverage: d.coverage,
    fields: d.dataset.fields.map((f) => ({
      name: f.name,
      type: f.type,
      title: f.title,
      description: f.description,
      ...(f.unit ? { unit: f.unit } : {}),
      required: f.required ?? false,
      ...(f.enum ? { enum: [...f.enum] } : {}),
    })),
    key: [...d.dataset.key],
    urls: datasetUrls(base, d.dataset.id),
  });

  app.get(
    '/api/open-data',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'The published datasets, described, with the addresses of their schema, downloads, rows and catalogue',
        tags: TAGS,
        response: {
          200: Type.Object({ catalog: Type.Object({ jsonld: Type.String(), turtle: Type.String() }), datasets: Type.Array(DatasetSchema) }),
          304: NotModified,
        },
      },
    },
    async (request, reply) => {
      const all = await describeAll();
      if (fresh(request, reply, tagOf(all.map((d) => d.tag)), latest(all))) return reply.code(304).send();
      const base = baseOf(request);
      return {
        catalog: { jsonld: `${base}/api/open-data/catalog.jsonld`, turtle: `${base}/api/open-data/catalog.ttl` },
        datasets: all.map((d) => describe(base, d)),
      };
    },
  );

  for (const [suffix, type, summary] of [
    ['jsonld', 'application/ld+json', 'The DCAT-AP catalogue of the published datasets, as JSON-LD'],
    ['ttl', 'text/turtle', 'The DCAT-AP catalogue of the published datasets, as Turtle'],
  ] as const) {
    app.get(
      `/api/open-data/catalog.${suffix}`,
      { config: { access: PUBLIC }, schema: { summary, tags: TAGS, response: { 200: text(type, 'The catalogue'), 304: NotModified } } },
      async (request, reply) => {
        const all = await describeAll();
        if (fresh(request, reply, tagOf(all.map((d) => d.tag)), latest(all))) return reply.code(304).send();
        const document = dcatCatalogue(baseOf(request), await openData.publisher(), all);
        reply.type(`${type}; charset=utf-8`);
        return suffix === 'jsonld' ? JSON.stringify(document, null, 2) : dcatTurtle(document);
      },
    );
  }

  app.get<{ Params: Static<typeof Params> }>(
    '/api/open-data/datasets/:id',
    {
      config: { access: PUBLIC },
      schema: {
        summary: "A published dataset's description, columns and coverage",
        tags: TAGS,
        params: Params,
        response: { 200: DatasetSchema, 304: NotModified, 404: Error404 },
      },
    },
    async (request, reply) => {
      await published(request.params.id);
      const found = (await describeAll()).find((d) => d.dataset.id === request.params.id);
      if (!found) throw notPublished(request.params.id);
      if (fresh(request, reply, found.tag, found.modified)) return reply.code(304).send();
      return describe(baseOf(request), found);
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: { lang?: string } }>(
    '/api/open-data/datasets/:id/schema.json',
    {
      config: { access: PUBLIC },
      schema: {
        summary: "A published dataset's Table Schema (Frictionless): its columns with types, units and descriptions",
        tags: TAGS,
        params: Params,
        querystring: Type.Object({
          lang: Type.Optional(StringEnum(['fr', 'en'] as const, { description: 'Language of titles and descriptions; default fr' })),
        }),
        response: { 200: Type.Object({}, { additionalProperties: true }), 400: Error400, 404: Error404 },
      },
    },
    async (request, reply) => {
      const { dataset } = await published(request.params.id);
      const lang = request.query.lang ?? 'fr';
      if (lang !== 'fr' && lang !== 'en') throw Object.assign(new Error('lang: expected fr or en'), { statusCode: 400, code: 'REQUEST_INVALID' });
      reply.header('access-control-allow-origin', '*');
      return tableSchema(dataset, lang);
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Record<string, unknown> }>(
    '/api/open-data/datasets/:id/rows',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'A page of a published dataset’s rows, filtered and sorted; `next` (and the Link header) gives the following page',
        description: `${QUERY_DESCRIPTION} Pages follow a cursor on the order’s columns (keyset): a row added while paging never makes another one appear twice or be skipped.`,
        tags: TAGS,
        params: Params,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            dataset: Type.String(),
            rows: Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'The rows: the dataset’s columns, as its schema describes' }),
            next: Type.Union([Type.String(), Type.Null()], { description: 'The address of the next page; null after the last' }),
          }),
          304: NotModified,
          400: Error400,
          404: Error404,
        },
      },
    },
    async (request, reply) => {
      const { dataset, switch: state } = await published(request.params.id);
      const query = parseDatasetQuery(dataset, request.query, true);
      const version = await openData.version(dataset, state);
      if (fresh(request, reply, version.tag, version.modified)) return reply.code(304).send();
      const page = await openData.page(dataset, query);
      let next: string | null = null;
      if (page.next) {
        const params = new URLSearchParams(Object.entries(request.query).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'after'));
        params.set('after', page.next);
        next = `/api/open-data/datasets/${dataset.id}/rows?${params.toString()}`;
        reply.header('link', `<${next}>; rel="next"`);
      }
      return { dataset: dataset.id, rows: page.rows, next };
    },
  );

  const downloading = new Map<string, number>();
  for (const format of ['csv', 'json'] as const) {
    app.get<{ Params: Static<typeof Params>; Querystring: Record<string, unknown> }>(
      `/api/open-data/datasets/:id/data.${format}`,
      {
        config: { access: PUBLIC },
        schema: {
          summary:
            format === 'csv'
              ? 'A published dataset as CSV (UTF-8, comma, header row, ISO 8601 dates), streamed'
              : 'A published dataset as a JSON array of objects, streamed',
          description: `${QUERY_DESCRIPTION} The whole result is sent, streamed from the database. At most ${downloadsPerClient} downloads per client at once (429 TOO_MANY_DOWNLOADS).`,
          tags: TAGS,
          params: Params,
          querystring: DatasetQuery,
          response: {
            200: text(format === 'csv' ? 'text/csv' : 'application/json', 'The rows'),
            304: NotModified,
            400: Error400,
            404: Error404,
            429: errorSchema('Too many downloads from this client, or from everyone, at once'),
          },
        },
      },
      async (request, reply) => {
        const { dataset, switch: state } = await published(request.params.id);
        const query = parseDatasetQuery(dataset, request.query, false);
        const version = await openData.version(dataset, state);
        if (fresh(request, reply, version.tag, version.modified)) return reply.code(304).send();
        const type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8';
        // HEAD: the headers alone, without running (and throwing away) the whole COPY.
        if (request.method === 'HEAD') return reply.type(type).send();
        const client = request.ip;
        const running = downloading.get(client) ?? 0;
        if (running >= downloadsPerClient) {
          reply.header('retry-after', '10');
          throw new OpenDataError('TOO_MANY_DOWNLOADS', `at most ${downloadsPerClient} downloads at once per client: wait for one to end`);
        }
        downloading.set(client, running + 1);
        let counted = true;
        const done = () => {
          if (!counted) return;
          counted = false;
          const n = (downloading.get(client) ?? 1) - 1;
          if (n > 0) downloading.set(client, n);
          else downloading.delete(client);
        };
        reply.raw.once('close', done);
        try {
          const stream = await openData.download(dataset, query, format);
          return reply.type(type).header('content-disposition', `attachment; filename="${dataset.id}.${format}"`).send(stream);
        } catch (error) {
          done();
          throw error;
        }
      },
    );
  }

  // Operators: what is published, by whom, under which licence.
  app.get(
    '/api/open-data/settings',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'Every dataset with its title, switch and licence, and the publisher the catalogue names',
        tags: TAGS,
        response: { 200: Type.Object({ datasets: Type.Array(SettingsDatasetSchema), publisher: PublisherSchema }) },
      },
    },
    async () => ({
      datasets: (await openData.switches()).map((s) => ({ ...s, title: DATASETS.find((d) => d.id === s.id)!.title })),
      publisher: await openData.publisher(),
    }),
  );

  app.put<{ Params: Static<typeof Params>; Body: Static<typeof SwitchBody> }>(
    '/api/open-data/datasets/:id',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'Publish a dataset or withdraw it, and choose its licence (audited)',
        tags: TAGS,
        params: Params,
        body: SwitchBody,
        response: { 200: SwitchSchema, 400: Error400, 404: Error404 },
      },
    },
    async (request) => {
      request.auditSummary = { dataset: request.params.id, enabled: request.body.enabled, ...(request.body.licence ? { licence: request.body.licence } : {}) };
      const result: DatasetSwitch = await openData.setDataset(request.params.id, request.body, request.principal.id);
      described = undefined;
      return result;
    },
  );

  app.put<{ Body: Static<typeof PublisherBody> }>(
    '/api/open-data/publisher',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'Name the publisher, its contact and its commune, as the catalogue says them (audited)',
        tags: TAGS,
        body: PublisherBody,
        response: { 200: PublisherSchema, 400: Error400 },
      },
    },
    async (request) => {
      const result = await openData.setPublisher(request.body, request.principal.id);
      described = undefined;
      return result;
    },
  );

  app.get(
    '/api/open-data/points',
    {
      config: { access: { roles: OPERATORS } },
      schema: { summary: 'The points whose hourly values are published', tags: TAGS, response: { 200: Type.Array(PointSchema) } },
    },
    async () => openData.points(),
  );

  app.put<{ Body: Static<typeof PointBody> }>(
    '/api/open-data/points',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'Publish a point’s hourly values, or withdraw them (audited)',
        tags: TAGS,
        body: PointBody,
        response: { 200: Type.Object({ changed: Type.Boolean() }), 400: Error400, 404: errorSchema('The gateway has announced no such point') },
      },
    },
    async (request) => {
      const changed = await openData.setPoint(request.body.gateway, request.body.point, request.body.published, request.principal.id);
      described = undefined;
      return { changed };
    },
  );
}

function tagOf(tags: readonly string[]): string {
  return createHash('sha256').update(tags.join('|')).digest('base64url').slice(0, 27);
}

function latest(all: readonly DescribedDataset[]): Date | null {
  const times = all.map((d) => d.modified).filter((m): m is Date => m !== null);
  return times.length ? new Date(Math.max(...times.map((t) => t.getTime()))) : null;
}
