import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@citypilot/sdk';
import {
  DEFAULT_CONFIG_BUCKET,
  DEFAULT_FLEET_BUCKET,
  DEFAULT_PLUGIN_BUCKET,
  natsCredentialsOptions,
  type GatewayConfigValidator,
  type PluginPackageDescription,
} from '@citypilot/wire';
import { buildApi, type ApiDependencies } from './api.js';
import { ensureIngestStreams, IngestWorker, defaultStreamNames, type StreamNames } from './ingest/ingest.js';
import { Fleet } from './fleet/index.js';
import { createHubMetrics, type HubMetrics } from './metrics.js';
import type { LifecycleOptions } from './storage/lifecycle.js';
import { Storage } from './storage/storage.js';
import { Objectives, type StatusChange } from './objectives/objectives.js';
import { ObjectiveSchedule } from './objectives/schedule.js';
import { EnergyPrices } from './projects/energy-prices.js';
import { Projects } from './projects/store.js';
import { refreshDerived } from './open-data/index.js';
import { serviceDataReader, type DegreeDayMethod } from './objectives/data.js';
import { ServiceData } from './service-data/index.js';
import type { ClientFactory } from './utility/connector-types.js';
import { UtilityConnectors } from './utility/connectors.js';
import { utilityClients } from './utility/clients.js';
import { SecretBox } from './utility/secrets.js';
import { UtilityStore } from './utility/store.js';
import { UtilityImports } from './utility/import-files.js';
import { PluginAssignmentStore } from './plugins/assignments.js';
import { packagesForGateway, PluginRepository } from './plugins/repository.js';
import { Rollouts } from './plugins/rollouts.js';

export interface HubOptions {
  databaseUrl: string;
  natsUrl: string;
  /** The hub's NATS credentials file (nkey seed, see services/nats-auth.ts); none for a server without authorization. */
  natsCredentials?: string;
  logger: Logger;
  /** JetStream names; tests give each file its own. */
  names?: StreamNames;
  /** HTTP API address. Default 127.0.0.1:8080; port 0 picks a free one. */
  http?: { host?: string; port?: number };
  /** Concurrent ingest loops in this process, all on the shared durable consumer. Default 1. */
  ingestWorkers?: number;
  timescale?: 'auto' | 'off';
  /** The city's time zone (IANA name), for rollups and calendars. Default Europe/Paris. */
  timezone?: string;
  /** Compression and retention of the stored data, (re)applied at start. Defaults in lifecycle.ts. */
  lifecycle?: LifecycleOptions;
  /** How often the objectives are evaluated again (ms). Default 5 minutes. */
  objectivesEveryMs?: number;
  /** Discount rate of projects' net present value, per year (0.04 for 4 %, the default). */
  discountRate?: number;
  /** How the objectives' degree-days are computed (see DegreeDayMethod). Default `mean`. */
  degreeDayMethod?: DegreeDayMethod;
  /**
   * Utility connectors (utility/): the hub's secret key for their secrets (default: from
   * CITYPILOT_SECRET_KEY or CITYPILOT_SECRET_KEY_FILE), the clients of the utilities' APIs
   * (default: utility/clients.ts), and whether they collect on their schedule (default true).
   */
  utility?: {
    secrets?: SecretBox;
    clients?: ClientFactory;
    schedule?: boolean;
    /** The hub's address as browsers reach it (HUB_PUBLIC_URL), for the utilities' consent pages to send customers back to; default: the request's. */
    publicUrl?: string;
  };
  /**
   * The fleet (fleet/): the gateway's validator of a configuration, loaded at the first check only
   * (without it, the API cannot check or push configurations), the plugin packages a gateway has
   * installed for that check (default: those the plugin repository assigns it), how often silence
   * is checked (ms, default 5,000), and the gateways'
   * configuration bucket (default CITYPILOT_CONFIG_BUCKET's default).
   */
  fleet?: {
    validator?: () => Promise<GatewayConfigValidator>;
    packages?: (gateway: string) => Promise<PluginPackageDescription[]>;
    silentCheckEveryMs?: number;
    configBucket?: string;
  };
  /**
   * Plugin packages and their rollouts (plugins/): the object store of the packages (default
   * citypilot-plugins, CITYPILOT_PLUGIN_BUCKET), the key-value bucket of the assignments (default
   * citypilot-fleet, CITYPILOT_FLEET_BUCKET), how often running rollouts are evaluated (ms,
   * default 5000). Rollouts follow the fleet's reports (fleet.onReport).
   */
  plugins?: { evaluateEveryMs?: number; bucket?: string; fleetBucket?: string };
  /** The API's rate limits, public cache, database pool and audit bounds; defaults in http/ and auth/audit-writer.ts. */
  api?: Pick<ApiDependencies, 'rateLimits' | 'publicCache' | 'pools' | 'audit' | 'trustProxy' | 'sessions' | 'openData'>;
}

/** Subject on which the hub publishes the objectives' status changes (JSON StatusChange). */
export function objectiveStatusSubject(prefix: string): string {
  return `${prefix}.objectives.status`;
}

/** A running hub: storage, ingest from JetStream, HTTP API. */
export class Hub {
  private constructor(
    readonly storage: Storage,
    readonly metrics: HubMetrics,
    private readonly nc: NatsConnection,
    private readonly workers: IngestWorker[],
    private readonly api: FastifyInstance,
    private readonly lagTimer: NodeJS.Timeout,
    /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080. */
    readonly url: string,
    readonly objectives: Objectives,
    private readonly schedule: ObjectiveSchedule,
    /** The utility connectors (utility/connectors.ts). */
    readonly utility: UtilityConnectors,
    /** The fleet's intake and silence check (fleet/fleet.ts): `fleet.onReport(…)` to follow reports. */
    readonly fleet: Fleet,
    /** The plugin repository and the rollouts (plugins/). */
    readonly plugins: { repository: PluginRepository; rollouts: Rollouts },
  ) {}

  static async start(options: HubOptions): Promise<Hub> {
    const names = options.names ?? defaultStreamNames;
    const metrics = createHubMetrics();
    const storage = await Storage.open({
      databaseUrl: options.databaseUrl,
      logger: options.logger,
      timescale: options.timescale,
      timezone: options.timezone,
      lifecycle: options.lifecycle ?? {},
    });
    let nc: NatsConnection | undefined;
    try {
      const auth = options.natsCredentials ? natsCredentialsOptions(options.natsCredentials) : {};
      nc = await connect({ servers: options.natsUrl, name: 'citypilot-hub', maxReconnectAttempts: -1, reconnectTimeWait: 1000, ...auth });
      await ensureIngestStreams(nc, names);
      const workers = Array.from({ length: options.ingestWorkers ?? 1 }, () => new IngestWorker({ nc: nc!, storage, names, logger: options.logger, metrics }));
      const connection = nc;
      const timezone = storage.rollups.timezone;
      const serviceData = await ServiceData.open(storage.pool);
      const objectives = new Objectives({
        pool: storage.pool,
        timezone,
        degreeDayMethod: options.degreeDayMethod,
        services: serviceDataReader(serviceData),
        onStatusChanges: (changes: StatusChange[]) => {
          for (const change of changes) connection.publish(objectiveStatusSubject(names.prefix), JSON.stringify(change));
        },
      });
      const projects = { projects: new Projects(storage.pool), prices: new EnergyPrices(storage.pool), discountRate: options.discountRate };
      // The open data's monthly building energy and project savings follow each evaluation.
      const afterEvaluation = () =>
        refreshDerived({ pool: storage.pool, timezone, degreeDayMethod: options.degreeDayMethod, projects, services: serviceDataReader(serviceData) });
      const schedule = new ObjectiveSchedule(objectives, { timezone, logger: options.logger, everyMs: options.objectivesEveryMs ?? 300_000, afterEvaluation });
      const utilityStore = new UtilityStore(storage);
      const utility = new UtilityConnectors({
        pool: storage.pool,
        store: utilityStore,
        timezone,
        logger: options.logger,
        clients: options.utility?.clients ?? utilityClients(),
        secrets: options.utility?.secrets ?? SecretBox.fromEnvironment(),
        // New readings move the objectives that read their meters.
        onCollected: () => schedule.poke(),
      });
      // An import's load curves have their rollups queued: rebuilt, then the objectives evaluated.
      const afterImport = () =>
        storage.rollups
          .settle()
          .catch((error: Error) => options.logger.warn({ err: error.message }, 'rollups of an import not rebuilt yet: the next drain retries'))
          .then(() => schedule.poke());
      const fleet = new Fleet({
        nc,
        pool: storage.pool,
        prefix: names.prefix,
        logger: options.logger,
        metrics,
        silentCheckEveryMs: options.fleet?.silentCheckEveryMs,
      });
      const repository = new PluginRepository({ pool: storage.pool, nc, bucket: options.plugins?.bucket ?? DEFAULT_PLUGIN_BUCKET });
      const assignments = new PluginAssignmentStore({
        pool: storage.pool,
        nc,
        prefix: names.prefix,
        bucket: options.plugins?.fleetBucket ?? DEFAULT_FLEET_BUCKET,
      });
      const rollouts = new Rollouts({
        pool: storage.pool,
        assignments,
        logger: options.logger,
        reports: fleet,
        evaluateEveryMs: options.plugins?.evaluateEveryMs,
      });
      const imports = new UtilityImports({ pool: storage.pool, store: utilityStore, connectors: utility, timezone, onImported: afterImport });
      const api = buildApi({
        storage,
        metrics,
        natsConnected: () => !connection.isClosed(),
        logger: options.logger,
        objectives,
        serviceData,
        projects,
        utility: { connectors: utility, imports, publicUrl: options.utility?.publicUrl },
        fleet: {
          nc,
          prefix: names.prefix,
          configBucket: options.fleet?.configBucket ?? DEFAULT_CONFIG_BUCKET,
          validator: options.fleet?.validator,
          packages: options.fleet?.packages ?? ((gateway) => packagesForGateway(storage.pool, gateway)),
        },
        ...options.api,
      });
      // New service data moves the objectives that read it: evaluate soon rather than at the next tick.
      api.addHook('onResponse', async (request, reply) => {
        if (request.method === 'POST' && request.url.startsWith('/api/service-data') && reply.statusCode < 300) schedule.poke();
      });
      const address = await api.listen({ host: options.http?.host ?? '127.0.0.1', port: options.http?.port ?? 8080 });
      const jsm = await jetstreamManager(nc);
      const lagTimer = setInterval(() => {
        jsm.consumers
          .info(names.stream, names.durable)
          .then((info) => metrics.consumerPending.set(info.num_pending + info.num_ack_pending))
          .catch(() => undefined);
        // Rollups queued by bulk loads on plain PostgreSQL (here, in another hub, or before a
        // restart); not settle(), which would also refresh TimescaleDB's every 5 s.
        storage.rollups.drainRebuilds().catch((error: Error) => options.logger.warn({ err: error.message }, 'queued rollups not rebuilt yet: retried in 5 s'));
      }, 5000);
      for (const w of workers) w.start();
      fleet.start();
      schedule.start();
      if (options.utility?.schedule !== false) utility.start();
      rollouts.start();
      options.logger.info({ url: address, workers: workers.length, stream: names.stream }, 'hub started');
      return new Hub(storage, metrics, nc, workers, api, lagTimer, address, objectives, schedule, utility, fleet, { repository, rollouts });
    } catch (error) {
      await nc?.close();
      await storage.close();
      throw error;
    }
  }

  /** Stops taking messages, finishes the writes in progress, and closes everything. */
  async stop(): Promise<void> {
    clearInterval(this.lagTimer);
    await this.plugins.rollouts.stop();
    await this.utility.stop();
    await this.fleet.stop();
    await this.schedule.stop();
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.api.close();
    // Every message taken has been acknowledged or left to redelivery: nothing to drain, and
    // drain() would wait for a server that may be gone (the demo stops NATS at the same time).
    await this.nc.close();
    await this.storage.close();
  }
}
