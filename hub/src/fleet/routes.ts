/**
 * The fleet over HTTP, a fastify plugin registered by buildApi, for operators (admin too):
 * - `GET /api/fleet`: every gateway the fleet has heard of, with its latest report, whether it
 *   reports on time and whether it runs the configuration last pushed to it;
 * - `GET /api/fleet/gateways/{id}`: one gateway, with its history and the texts of its running
 *   and pushed configurations and their diff;
 * - `POST /api/fleet/gateways/{id}/config/check`: the gateway's own validation of a configuration;
 * - `PUT /api/fleet/gateways/{id}/config`: the same, then the push (audited, and in the history);
 * - `GET /api/fleet/events`: the journal of the whole fleet (events-route.ts).
 */
import type {} from '@fastify/swagger';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { bodyAndParamsValidator } from '../http/validation.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { CityPilotError, ID_PATTERN, silentLogger, type Logger } from '@citypilot/sdk';
import type { GatewayConfigCheck, GatewayConfigValidator, PluginPackageDescription } from '@citypilot/wire';
import type { Role } from '../auth/principal.js';
import { errorSchema } from '../http/errors.js';
import { pushGatewayConfig } from '../services/config-push.js';
import { ConfigTexts, configDiff, PushedRevisions } from './config-texts.js';
import { fleetEventsRoute } from './events-route.js';
import { fleetHistory, getFleetGateway, listFleetGateways, recordFleetEvents, type FleetGatewayRow } from './store.js';

/** Largest configuration the API checks or pushes, in bytes of UTF-8. */
export const MAX_CONFIG_BYTES = 1_000_000;
/** Events of a gateway's history in its detail. */
const HISTORY_LIMIT = 100;

export interface FleetRoutesOptions {
  /** Where the fleet is read (the API's pool). */
  pool: pg.Pool;
  /** Where pushes are recorded in the history. */
  writePool: pg.Pool;
  /** The hub's NATS connection: the configuration bucket is read and written through it. */
  nc: NatsConnection;
  /** Subject prefix of the deployment. */
  prefix: string;
  /** The gateways' configuration bucket (CITYPILOT_CONFIG_BUCKET). */
  configBucket: string;
  /** Loads the gateway's validator, at the first check only; without it, checks and pushes are answered 409. */
  validator?: () => Promise<GatewayConfigValidator>;
  /** The plugin packages gateway `id` has installed, for the validator to accept their devices (plugins/). */
  packages?: (gateway: string) => Promise<PluginPackageDescription[]>;
  /** Where a validator's own failure goes. Default: nowhere. */
  logger?: Logger;
}

/** A failure the fleet's routes answer themselves: the status and a reason in words. */
export class FleetRequestError extends CityPilotError {
  constructor(
    code: string,
    message: string,
    readonly statusCode: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const OPERATORS: readonly Role[] = ['operator'];
const TAGS = ['fleet'];
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = Type.String({ description: 'ISO 8601' });
const ConfigSource = Type.Union([Type.Literal('file'), Type.Literal('hub')]);

const FleetGatewaySchema = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('online'), Type.Literal('silent')], { description: 'silent after 3 missed reports' }),
  stateSince: Time,
  firstSeen: Time,
  lastSeen: Time,
  reportIntervalS: Type.Number({ description: 'Seconds between two reports, as the gateway says' }),
  software: Type.Object({ version: Type.String(), sdk: Type.String(), node: Type.String() }),
  host: Type.Object({ hostname: Type.String(), platform: Type.String(), arch: Type.String() }),
  startedAt: Time,
  uptimeS: Type.Number(),
  plugins: Type.Array(Type.Object({ id: Type.String(), version: Type.String(), source: Type.Union([Type.Literal('builtin'), Type.Literal('installed')]) })),
  config: Type.Object({
    running: Type.Object({
      source: ConfigSource,
      revision: Type.Union([Type.Integer(), Type.String(), Type.Null()], { description: "The bucket's revision (hub) or the file's digest" }),
      appliedAt: Time,
    }),
    refused: nullable(
      Type.Object({ source: ConfigSource, revision: Type.Union([Type.Integer(), Type.String(), Type.Null()]), at: Time, message: Type.String() }),
    ),
    pushed: nullable(
      Type.Object({ revision: Type.Integer(), at: Time }, { description: "The latest revision of the gateway's key in the configuration bucket" }),
    ),
    upToDate: Type.Boolean({ description: "No configuration pushed, or the gateway runs the hub's latest revision" }),
  }),
  outbox: Type.Object({ depth: Type.Integer() }),
  devices: Type.Object({
    total: Type.Integer(),
    failing: Type.Integer(),
    byPlugin: Type.Record(Type.String(), Type.Object({ total: Type.Integer(), failing: Type.Integer() })),
    failingDevices: Type.Array(Type.Object({ id: Type.String(), plugin: Type.String(), error: Type.String() })),
  }),
  lastError: nullable(Type.Object({ at: Time, message: Type.String() })),
  installs: Type.Array(
    Type.Object({
      id: Type.String(),
      version: Type.String(),
      state: Type.Union([Type.Literal('installed'), Type.Literal('refused'), Type.Literal('failed')]),
      at: Time,
      reason: Type.Optional(Type.String()),
    }),
  ),
});
export type FleetGateway = Static<typeof FleetGatewaySchema>;

const FleetGatewayDetailSchema = Type.Composite([
  FleetGatewaySchema,
  Type.Object({
    history: Type.Array(Type.Object({ at: Time, kind: Type.String(), actor: Type.String(), detail: Type.Object({}, { additionalProperties: true }) }), {
      description: `Newest first, ${HISTORY_LIMIT} at most`,
    }),
    configText: Type.Object({
      pushed: nullable(Type.String({ description: 'The YAML of the latest revision pushed' })),
      running: nullable(Type.String({ description: "The YAML the gateway runs, when it is a hub revision still in the bucket's history" })),
      diff: nullable(Type.String({ description: 'Unified diff from running to pushed, when both are known and differ' })),
    }),
  }),
]);
export type FleetGatewayDetail = Static<typeof FleetGatewayDetailSchema>;

const Params = Type.Object({ id: Type.String({ maxLength: 100, description: 'The gateway, such as town-hall' }) });
const ConfigBody = Type.Object(
  { text: Type.String({ maxLength: MAX_CONFIG_BYTES, description: `The YAML of the gateway's configuration, at most ${MAX_CONFIG_BYTES} bytes` }) },
  { additionalProperties: false },
);
const CheckAnswer = Type.Union([
  Type.Object({ ok: Type.Literal(true), gateway: Type.String({ description: 'The gateway it configures' }) }),
  Type.Object({ ok: Type.Literal(false), problems: Type.Array(Type.String(), { description: 'Each as file:line:column path: what was expected' }) }),
]);
const Error404 = errorSchema('No such gateway (an id that is not a gateway id, or one the fleet has never heard of)');
const Error409 = errorSchema('This hub was started without the gateway’s validator: it cannot check configurations');
const Invalid = {
  'x-response-description': 'The body is not `{ text }`, or the configuration is not valid for the gateway: nothing was pushed',
  type: 'object',
  properties: {
    error: { type: 'string', description: 'What was wrong, in words.' },
    code: { type: 'string', description: 'Stable code of the failure.' },
    problems: { type: 'array', items: { type: 'string' }, description: 'Each problem of the configuration, as file:line:column path: what was expected' },
  },
  required: ['error'],
};

export async function fleetRoutes(app: FastifyInstance, options: FleetRoutesOptions): Promise<void> {
  const texts = new ConfigTexts(options.nc, options.configBucket);
  // The list's pushed revisions, from a watch of the bucket rather than a read per gateway.
  const revisions = new PushedRevisions(options.nc, options.configBucket, options.logger ?? silentLogger);
  revisions.start();
  app.addHook('onClose', () => revisions.stop());
  const idPattern = new RegExp(ID_PATTERN);
  let validator: Promise<GatewayConfigValidator> | undefined;

  // Bodies and parameters checked with CityPilot's messages; the journal reads its own query.
  app.setValidatorCompiler<TSchema>(bodyAndParamsValidator);
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (!(error instanceof FleetRequestError)) throw error;
    if (error.statusCode === 503) reply.header('retry-after', '30');
    return reply.code(error.statusCode).send({ error: error.message, code: error.code });
  });

  /** `id` when it is a gateway id; 404 otherwise. */
  const gatewayId = (id: string) => {
    if (!idPattern.test(id))
      throw new FleetRequestError('NO_SUCH_GATEWAY', `no gateway ${JSON.stringify(id.slice(0, 100))}: a gateway id is lowercase letters, digits, - and _`, 404);
    return id;
  };
  /** Runs a read or write of the configuration bucket, answering 503 when NATS does not answer. */
  const bucket = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw new FleetRequestError('NATS_UNAVAILABLE', 'the hub cannot reach the configuration bucket on NATS right now; try again', 503, { cause: error });
    }
  };

  /** The gateway's own validation of `text`, which must configure gateway `id`. */
  async function check(id: string, text: string): Promise<GatewayConfigCheck> {
    if (!options.validator)
      throw new FleetRequestError('NO_CONFIG_VALIDATOR', 'this hub cannot check gateway configurations: it was started without the gateway’s validator', 409);
    const max = Math.min(MAX_CONFIG_BYTES, (options.nc.info?.max_payload ?? MAX_CONFIG_BYTES + 4096) - 4096);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > max) return { ok: false, problems: [`${id}.yaml: ${bytes} bytes, more than the ${max} a configuration may have`] };
    validator ??= options.validator().catch((error: unknown) => {
      validator = undefined;
      throw error;
    });
    const validate = await validator;
    const packages = options.packages ? await options.packages(id) : undefined;
    let result: GatewayConfigCheck;
    try {
      result = validate(text, `${id}.yaml`, packages);
    } catch (error) {
      (options.logger ?? silentLogger).error({ gateway: id, err: (error as Error).message }, 'the gateway validator failed on a configuration');
      return { ok: false, problems: [`${id}.yaml: the configuration could not be checked (the validator failed on it); nothing was pushed`] };
    }
    if (result.ok && result.gateway !== id) {
      return { ok: false, problems: [`${id}.yaml: gateway.id is ${JSON.stringify(result.gateway)}: this configuration is for another gateway than ${id}`] };
    }
    return result;
  }

  fleetEventsRoute(app, { pool: options.pool });

  app.get(
    '/api/fleet',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'The gateways of the fleet, by id: their latest inventory report, whether they report on time, and their configuration',
        tags: TAGS,
        response: { 200: Type.Object({ gateways: Type.Array(FleetGatewaySchema), generatedAt: Time }) },
      },
    },
    async () => {
      const rows = await listFleetGateways(options.pool);
      return { gateways: rows.map((r) => fleetGateway(r, revisions.get(r.id))), generatedAt: new Date().toISOString() };
    },
  );

  app.get<{ Params: Static<typeof Params> }>(
    '/api/fleet/gateways/:id',
    {
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: 'A gateway of the fleet, with its history and its running and pushed configurations',
        tags: TAGS,
        params: Params,
        response: { 200: FleetGatewayDetailSchema, 404: Error404 },
      },
    },
    async (request) => {
      const id = gatewayId(request.params.id);
      const row = await getFleetGateway(options.pool, id);
      if (!row) throw new FleetRequestError('NO_SUCH_GATEWAY', `the fleet has never heard of gateway ${id}`, 404);
      const running = row.report.config;
      const [pushed, runningText] = await bucket(() =>
        Promise.all([
          texts.latest(id),
          running.source === 'hub' && typeof running.revision === 'number' ? texts.at(id, running.revision) : Promise.resolve(null),
        ]),
      );
      const history = await fleetHistory(options.pool, id, HISTORY_LIMIT);
      const diff = pushed && runningText ? configDiff(id, runningText.text, pushed.text) : null;
      return { ...fleetGateway(row, pushed), history, configText: { pushed: pushed?.text ?? null, running: runningText?.text ?? null, diff } };
    },
  );

  app.post<{ Params: Static<typeof Params>; Body: Static<typeof ConfigBody> }>(
    '/api/fleet/gateways/:id/config/check',
    {
      bodyLimit: 8 * MAX_CONFIG_BYTES,
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: "Check a configuration with the gateway's own rules, as a push would, without pushing it",
        description: 'The configuration must configure this gateway (its gateway.id). A gateway the fleet has never heard of may be checked.',
        tags: TAGS,
        params: Params,
        body: ConfigBody,
        response: { 200: CheckAnswer, 400: Invalid, 404: Error404, 409: Error409 },
      },
    },
    async (request) => check(gatewayId(request.params.id), request.body.text),
  );

  app.put<{ Params: Static<typeof Params>; Body: Static<typeof ConfigBody> }>(
    '/api/fleet/gateways/:id/config',
    {
      bodyLimit: 8 * MAX_CONFIG_BYTES,
      config: { access: { roles: OPERATORS } },
      schema: {
        summary: "Push a configuration to a gateway, once the gateway's own rules accept it (audited)",
        description:
          "Checked as by …/config/check, then put in the configuration bucket as the gateway's latest revision; the gateway is told and applies it if it accepts pushed configurations. A gateway the fleet has never heard of may be configured.",
        tags: TAGS,
        params: Params,
        body: ConfigBody,
        response: {
          200: Type.Object({ revision: Type.Integer({ description: 'The revision the gateway reports once it runs it' }) }),
          400: Invalid,
          404: Error404,
          409: Error409,
        },
      },
    },
    async (request, reply) => {
      const id = gatewayId(request.params.id);
      request.auditSummary = { gateway: id, bytes: Buffer.byteLength(request.body.text, 'utf8') };
      const result = await check(id, request.body.text);
      if (!result.ok) {
        request.auditSummary = { ...request.auditSummary, refused: 'CONFIG_INVALID' };
        return reply
          .code(400)
          .send({ error: `the configuration is not valid for gateway ${id}: nothing was pushed`, code: 'CONFIG_INVALID', problems: result.problems });
      }
      const revision = await bucket(() => pushGatewayConfig(options.nc, id, request.body.text, { prefix: options.prefix, bucket: options.configBucket }));
      revisions.put(id, revision, new Date().toISOString());
      request.auditSummary = { ...request.auditSummary, revision };
      await recordFleetEvents(options.writePool, [{ gateway: id, kind: 'config-pushed', actor: actorOf(request), detail: { revision } }]);
      return { revision };
    },
  );
}

/** Who a request's change is recorded as: the person's name, else `account:<username>` or `token:<id>`. */
function actorOf(request: FastifyRequest): string {
  const { name, id } = request.principal;
  return name ?? (id.startsWith('account:') ? id : `token:${id}`);
}

/** The API's view of a gateway's row, with the latest revision pushed to it. */
export function fleetGateway(row: FleetGatewayRow, pushed: { revision: number; at: string } | null): FleetGateway {
  const r = row.report;
  const running = { source: r.config.source, revision: r.config.revision, appliedAt: r.config.appliedAt };
  return {
    id: row.id,
    state: row.state,
    stateSince: row.stateSince,
    firstSeen: row.firstSeen,
    lastSeen: row.lastSeen,
    reportIntervalS: row.reportIntervalS,
    software: r.software,
    host: r.host,
    startedAt: r.startedAt,
    uptimeS: r.uptimeS,
    plugins: r.plugins,
    config: {
      running,
      refused: r.config.refused,
      pushed: pushed && { revision: pushed.revision, at: pushed.at },
      upToDate: !pushed || (running.source === 'hub' && running.revision === pushed.revision),
    },
    outbox: r.outbox,
    devices: r.devices,
    lastError: r.lastError,
    installs: r.installs,
  };
}
