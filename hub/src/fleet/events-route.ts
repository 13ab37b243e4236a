/**
 * `GET /api/fleet/events`: the journal of the whole fleet (the rows of `fleet_events`), for
 * operators (admin too): every step, a gateway's (first seen, silent, configurations running,
 * refused, pushed, plugins installed…) and the fleet's own (packages published, rollouts promoted,
 * completed, rolled back, groups set), newest first, a page at a time. Registered by fleetRoutes
 * (routes.ts), inside its context, whose validator compiler leaves query strings to their routes:
 * this one checks its own.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { CityPilotError, ID_PATTERN } from '@citypilot/sdk';
import type { Role } from '../auth/principal.js';
import { errorSchema } from '../http/errors.js';
import { fleetJournal } from './store.js';

/** Events of a page when `limit` is not given, and the most a page may have. */
export const JOURNAL_LIMIT_DEFAULT = 100;
export const JOURNAL_LIMIT_MAX = 500;
/** What a `kind` may look like: the kinds are lowercase words joined by hyphens (`plugin-rolled-back`). */
const KIND_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
const PATH = '/api/fleet/events';

const JournalQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: JOURNAL_LIMIT_MAX, default: JOURNAL_LIMIT_DEFAULT, description: 'Most events returned, newest first' }),
  ),
  before: Type.Optional(
    Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Only events with an id below this one: the next page (see `next`)' }),
  ),
  gateway: Type.Optional(Type.String({ pattern: ID_PATTERN, description: 'Only the events of this gateway, such as town-hall' })),
  kind: Type.Optional(Type.String({ pattern: KIND_PATTERN, description: 'Only the events of this kind, such as config-pushed or plugin-rolled-back' })),
});
type JournalQuery = Static<typeof JournalQuery>;
const PARAMETERS = Object.keys(JournalQuery.properties);

const JournalSchema = Type.Object({
  events: Type.Array(
    Type.Object({
      id: Type.Integer({ description: 'Increases with each event recorded' }),
      at: Type.String({ format: 'date-time' }),
      gateway: Type.Union([Type.String(), Type.Null()], { description: 'Null for an event of the whole fleet (a package published, a rollout promoted…)' }),
      kind: Type.String({
        description:
          'first-seen, silent, online, config-running, config-refused, config-pushed, plugin-installed, plugin-refused, plugin-failed, plugin-published, plugin-assigned, plugin-healthy, plugin-unhealthy, plugin-promoted, plugin-completed, plugin-rolled-back, plugin-rollout-superseded, plugin-group-set',
      }),
      actor: Type.String({ description: '`gateway:<id>`, `hub` (automatic), the person’s or token’s name, or `cli:<os user>`' }),
      detail: Type.Object({}, { additionalProperties: true, description: 'What explains it: plugin, version, revision, reason…, as its writer recorded it' }),
    }),
    { description: 'Newest first' },
  ),
  next: Type.Union([Type.String(), Type.Null()], { description: 'The URL of the next (older) page, with the same filters; null on the last page' }),
});
export type FleetJournal = Static<typeof JournalSchema>;

const OPERATORS: readonly Role[] = ['operator'];

/** Registers `GET /api/fleet/events` on `app` (the fleet's context: see the file's comment). */
export function fleetEventsRoute(app: FastifyInstance, options: { pool: pg.Pool }): void {
  app.get(
    PATH,
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'The journal of the whole fleet: every step of its gateways, configurations, plugin packages and rollouts, newest first',
        description: `At most \`limit\` events per page; \`next\` is the URL of the following page (keyset on the id), null on the last. A parameter not listed, given twice, or not as described is answered 400 saying which and what was expected.`,
        tags: ['fleet'],
        querystring: JournalQuery,
        response: { 200: JournalSchema, 400: errorSchema('A parameter is unknown, given twice, or not as described: which one, and what was expected') },
      },
    },
    async (request, reply) => {
      let query: JournalQuery;
      try {
        query = journalQuery(request.query);
      } catch (error) {
        if (!(error instanceof FleetJournalQueryError)) throw error;
        return reply.code(400).send({ error: error.message, code: error.code });
      }
      const { events, more } = await fleetJournal(options.pool, { ...query, limit: query.limit ?? JOURNAL_LIMIT_DEFAULT });
      return { events, next: more ? nextPage(query, events[events.length - 1]!.id) : null };
    },
  );
}

/** The URL of the page after one whose last event is `lastId`, with the same parameters. */
function nextPage(query: JournalQuery, lastId: number): string {
  const params = new URLSearchParams();
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  params.set('before', String(lastId));
  if (query.gateway !== undefined) params.set('gateway', query.gateway);
  if (query.kind !== undefined) params.set('kind', query.kind);
  return `${PATH}?${params}`;
}

/** A query string the journal refuses: the message says which parameter and what was expected. */
export class FleetJournalQueryError extends CityPilotError {
  constructor(message: string) {
    super('REQUEST_INVALID', message);
  }
}

/** The query string checked: only the parameters above, each once, each as described; else throws FleetJournalQueryError. */
export function journalQuery(raw: unknown): JournalQuery {
  const entries = Object.entries(raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {});
  const query: JournalQuery = {};
  for (const [name, value] of entries) {
    if (!PARAMETERS.includes(name)) invalid(`query: unknown parameter ${shown(name)}: expected only ${PARAMETERS.join(', ')}`);
    if (typeof value !== 'string') invalid(`query.${name}: given more than once: expected it once`);
    if (name === 'limit') query.limit = whole(name, value, 1, JOURNAL_LIMIT_MAX);
    else if (name === 'before') query.before = whole(name, value, 1, Number.MAX_SAFE_INTEGER);
    else if (name === 'gateway') query.gateway = matching(name, value, ID_PATTERN, 'a gateway id (lowercase letters, digits, - and _, at most 63)');
    else query.kind = matching(name, value, KIND_PATTERN, 'a kind of event, such as config-pushed (lowercase letters, digits and -, at most 63)');
  }
  return query;
}

function whole(name: string, value: string, min: number, max: number): number {
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) invalid(`query.${name}: ${shown(value)}: expected a whole number from ${min} to ${max}`);
  return n;
}

function matching(name: string, value: string, pattern: string, expected: string): string {
  if (!new RegExp(pattern).test(value)) invalid(`query.${name}: ${shown(value)}: expected ${expected}`);
  return value;
}

/** A caller's text, quoted and cut short, as an error message may repeat it. */
function shown(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

function invalid(message: string): never {
  throw new FleetJournalQueryError(message);
}
