import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseDuration, subjects, type Logger, type PointDefinition, type Sample } from '@citypilot/sdk';
import { virtualPointDefinitions, type NodeRedHost } from '@citypilot/plugin-node-red';
import type { GatewayConfig } from './config/config.js';
import { createGatewayMetrics, type GatewayMetrics } from './status/metrics.js';
import { Outbox } from './pipeline/outbox.js';
import { DevicePoller, WriteRefusedError } from './pipeline/poller.js';
import { NatsCredentialsError, natsCredentialsOptions } from '@citypilot/wire';
import { startNodeRed } from './node-red.js';
import { renderStatusPage } from './status/status-page.js';
import type { GatewayStatus } from './status/gateway-status.js';
import { installHostCheck, registerWriteRoute } from './write/write-api.js';
import { LiveConfig } from './config/live-config.js';
import { createBuiltinPlugins, PluginRegistry } from './config/registry.js';
import { LocalAggregation, announcedDefinitions } from './pipeline/aggregate.js';
import { ClockWatch } from './pipeline/clock.js';
import { loadCounters, saveCounters } from './pipeline/counter-store.js';
import { pointIntervalMs } from './config/point-settings.js';
import type { DriverPlugin } from '@citypilot/sdk';
import { GatewayFleet } from './fleet/gateway-fleet.js';
import { gatewaySoftwareVersion } from './fleet/inventory.js';
import { loadInstalledPackages, type StartupPackage } from './fleet/packages.js';

export interface GatewayOptions {
  config: GatewayConfig;
  logger: Logger;
  /** NATS URL used when the config names none. Default: NATS_URL, else nats://127.0.0.1:4222. */
  defaultNatsUrl?: string;
  /**
   * The file `config` was read from: watched, and re-read by {@link Gateway.reload}, to apply its
   * changes while running (live-config.ts). Without it the configuration changes only by the hub.
   */
  configFile?: string;
  /**
   * Makes the plugins a new configuration is validated and run with: new instances each time,
   * so that they share no link (serial line) with the running configuration's. Default: the
   * built-in plugins.
   */
  registry?: () => PluginRegistry;
  /**
   * The plugin packages installed from the hub, loaded before the configuration was parsed
   * (loadInstalledPackages): they join every registry. Default: loaded by {@link Gateway.start}.
   */
  installedPackages?: readonly StartupPackage[];
}

// The status types live apart so that the status page can read them without importing the gateway.
export type { GatewayStatus } from './status/gateway-status.js';

/** The plugin's own folder in the gateway's data folder (see `DriverContext.stateDir`). */
export function pluginStateDir(dataDir: string, pluginId: string): string {
  return join(dataDir, 'plugins', pluginId);
}

/** What the gateway builds from a configuration, and replaces whole when the configuration changes. */
interface ConfigParts {
  pollers: DevicePoller[];
}

export interface GatewayEvents {
  /** Samples accepted into the outbox, in the order they will be forwarded. */
  samples: [samples: Sample[]];
}

/**
 * A running edge gateway: one poller per device, an outbox forwarding batches to the hub's
 * JetStream stream, and a local status API. Devices are polled from the moment it starts, NATS
 * or not; samples wait in the outbox until the hub's stream can take them.
 */
export class Gateway extends EventEmitter<GatewayEvents> {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private natsState: GatewayStatus['nats'] = 'connecting';
  private natsError: string | undefined;
  /** The last publish or subscription the server's permissions refused, and when. */
  private refused: { message: string; at: number } | undefined;
  private readonly latest = new Map<string, Sample>();
  private parts: ConfigParts;
  private readonly outbox: Outbox;
  private readonly live: LiveConfig;
  private readonly metrics: GatewayMetrics;
  /** The configuration's windows and filters, replaced (after its windows are cut) when it changes. */
  private aggregation: LocalAggregation;
  /** Watches the wall clock against the monotonic one, for the life of the process. */
  private readonly clock: ClockWatch;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private api: FastifyInstance | undefined;
  private nodeRed: NodeRedHost | undefined;
  private nodeRedRefused = 0;
  private readonly fleet: GatewayFleet;
  /** Changes of the running pollers (a configuration, a plugin's new version), one at a time. */
  private changes: Promise<unknown> = Promise.resolve();
  /** Base URL of the status API once started. */
  url = '';

  private constructor(private readonly options: GatewayOptions) {
    super();
    const { logger } = options;
    this.metrics = createGatewayMetrics();
    // Before the configuration: a saved pushed one may use installed plugins.
    this.fleet = new GatewayFleet({
      config: options.config,
      logger,
      version: gatewaySoftwareVersion(),
      startup: options.installedPackages ?? [],
      registry: options.registry ?? (() => new PluginRegistry(createBuiltinPlugins())),
      status: () => this.status(),
      connected: () => this.natsState === 'connected',
      restartDevices: (id, plugin) => this.restartPluginDevices(id, plugin),
      usedPluginIds: () => new Set(this.options.config.devices.map((d) => d.plugin.manifest.id)),
    });
    this.live = new LiveConfig({
      file: options.configFile,
      fileConfig: options.config,
      registry: () => this.fleet.registry(),
      logger,
      metrics: this.metrics,
      apply: (config) => this.applyConfig(config),
      changed: () => this.fleet.reportNow(),
    });
    // The file's, or the hub's saved at the last run: the same restart-only settings.
    const config = (options.config = this.live.config);
    this.outbox = new Outbox({
      js: () => this.js,
      gatewayId: config.gateway.id,
      subject: subjects(config.hub.subjectPrefix).telemetry(config.gateway.id),
      dataDir: config.dataDir,
      logger,
      metrics: this.metrics,
      maxSamples: config.outbox.maxSamples,
      maxBytes: config.outbox.maxBytes,
      maxSamplesPerSecond: config.outbox.maxSamplesPerSecond,
      batchMaxSamples: config.hub.batchMaxSamples,
      batchMaxDelayMs: parseDuration(config.hub.batchMaxDelay),
      // The running configuration's, which may change live.
      stallAfterMs: () => parseDuration(this.options.config.outbox.stallAfter),
    });
    this.clock = new ClockWatch({
      thresholdMs: parseDuration(config.clock.jumpThreshold),
      onJump: (stepMs) => {
        this.metrics.clockJumps.inc({ direction: stepMs > 0 ? 'forward' : 'backward' });
        logger.warn({ stepMs }, 'the wall clock jumped: polling re-aligned on the new time; slots already read are not read again');
      },
    });
    this.aggregation = new LocalAggregation(config.devices, this.clock.now(), loadCounters(config.dataDir, logger));
    this.parts = this.build(config);
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    // A copy: `config` is replaced when the configuration changes.
    const installedPackages = options.installedPackages ?? (await loadInstalledPackages(options.config.dataDir, options.logger));
    const gateway = new Gateway({ ...options, installedPackages });
    const { config } = gateway.options;
    await gateway.startApi();
    gateway.outbox.announcePoints(gateway.pointDefinitions(), config.gateway.building);
    gateway.outbox.start();
    if (config.nodeRed.enabled) {
      // Before the first poll, so that the flows see every sample.
      try {
        gateway.nodeRed = await startNodeRed(config, gateway.nodeRedLink(), options.logger);
      } catch (error) {
        await gateway.stop(0);
        throw error;
      }
    }
    for (const p of gateway.parts.pollers) p.start();
    gateway.live.start();
    gateway.fleet.start();
    gateway.connecting = gateway.connectNats();
    const { source, revision } = gateway.live.status();
    options.logger.info(
      { gateway: config.gateway.id, devices: gateway.parts.pollers.length, status: gateway.url, config: { source, revision } },
      'gateway started',
    );
    return gateway;
  }

  /**
   * Reads the configuration file again and applies it if it is valid (SIGHUP). Resolves once
   * done; a refused file is logged and shown in the status, the running configuration kept.
   */
  reload(): Promise<void> {
    return this.live.reloadFile('signal');
  }

  /** The parts built from a configuration (not started): one poller per device. */
  private build(config: GatewayConfig): ConfigParts {
    const schedule = { pollGroups: config.pollGroups, clock: this.clock, deviceTimeToleranceMs: parseDuration(config.clock.deviceTimeTolerance) };
    const pollers = config.devices.map(({ config: device, plugin }) => {
      const points = new Map(device.points.map((p) => [p.id, p]));
      const driver = plugin.create(device, {
        timeoutMs: parseDuration(device.timeout),
        logger: this.options.logger,
        stateDir: pluginStateDir(config.dataDir, plugin.manifest.id),
        pointIntervalMs: (id) => {
          const point = points.get(id);
          return point ? pointIntervalMs(device, point, config.pollGroups) : parseDuration(device.interval);
        },
      });
      return new DevicePoller(device, plugin.manifest.id, driver, (samples) => this.accept(samples), this.options.logger, this.metrics, schedule);
    });
    return { pollers };
  }

  /**
   * Replaces the running configuration (live-config.ts has checked that its restart-only settings
   * are the same): stops the pollers, each after its cycle in progress, whose samples are then in
   * the outbox; starts those of `config`; announces the new point list with the next batch. The
   * outbox and what it holds are untouched, so nothing is lost or sent twice across the change.
   */
  private applyConfig(config: GatewayConfig): Promise<void> {
    return this.serial(() => this.replaceConfig(config));
  }

  private async replaceConfig(config: GatewayConfig): Promise<void> {
    if (this.closed) return;
    const next = this.build(config); // before stopping anything: a failure leaves the old ones running
    await Promise.all(this.parts.pollers.map((p) => p.stop()));
    // Open windows end here, sent as cut short; meter counters carry over to the new windows.
    this.accept(this.aggregation.cut(), true);
    this.aggregation = new LocalAggregation(config.devices, this.clock.now(), this.aggregation.counters());
    this.options.config = config;
    this.parts = next;
    const ids = new Set(this.pointDefinitions().map((p) => p.id));
    for (const id of this.latest.keys()) if (!ids.has(id)) this.latest.delete(id);
    this.outbox.announcePoints(this.pointDefinitions(), config.gateway.building);
    for (const p of next.pollers) p.start();
  }

  /**
   * Runs the running configuration's devices of plugin `id` with `plugin` (a new version
   * installed): their new pollers are built first (a create() that throws rejects, nothing
   * changed), then their old pollers stopped, each after its cycle in progress, and the new ones
   * started. The other devices' pollers are not touched.
   */
  private restartPluginDevices(id: string, plugin: DriverPlugin): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      const config = this.options.config;
      const devices = config.devices.map((d) => (d.plugin.manifest.id === id ? { config: d.config, plugin } : d));
      const moved = new Set(config.devices.filter((d) => d.plugin.manifest.id === id).map((d) => d.config.id));
      const fresh = this.build({ ...config, devices: devices.filter((d) => moved.has(d.config.id)) }).pollers;
      const byId = new Map(fresh.map((p) => [p.status().id, p]));
      await Promise.all(this.parts.pollers.filter((p) => moved.has(p.status().id)).map((p) => p.stop()));
      this.options.config = { ...config, devices };
      this.parts = { pollers: this.parts.pollers.map((p) => byId.get(p.status().id) ?? p) };
      for (const p of fresh) p.start();
    });
  }

  private serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changes.then(change);
    this.changes = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes `value`, in the point's engineering units, to the point with stable id
   * `<device>.<point>`, and reads it back (see DevicePoller.write). `null` relinquishes the
   * gateway's command, for plugins that command by priority (BACnet). Callers log the write with
   * who asked for it (write-api.ts).
   * @returns the point as read back after the write
   * @throws WriteRefusedError for an unknown or read-only point, a value of the wrong kind, or a
   *   number outside the point's range, before anything reaches the device
   */
  async write(pointId: string, value: number | boolean | string | null): Promise<Sample> {
    const dot = pointId.indexOf('.');
    const poller = this.parts.pollers.find((p) => p.status().id === pointId.slice(0, dot));
    if (dot < 0 || !poller) throw new WriteRefusedError(`no point ${pointId}`);
    return poller.write(pointId.slice(dot + 1), value);
  }

  status(): GatewayStatus {
    const outbox = this.outbox.status();
    const pollers = new Map(this.parts.pollers.map((p) => [p.status().id, p]));
    const natsError = this.natsError ?? this.refusedError(outbox.lastForwardAt);
    return {
      gateway: this.options.config.gateway.id,
      nats: this.natsState,
      ...(natsError ? { natsError } : {}),
      devices: this.parts.pollers.map((p) => p.status()),
      points: [...this.latest.values()].map((s) => {
        const sourceTime = pollers.get(s.point.slice(0, s.point.indexOf('.')))?.sourceTime(s.point);
        return sourceTime === undefined ? s : { ...s, sourceTime };
      }),
      outbox,
      config: this.live.status(),
      plugins: this.fleet.plugins(),
      installs: this.fleet.installs(),
      ...(this.nodeRed ? { nodeRed: { url: this.nodeRed.url, refused: this.nodeRedRefused } } : {}),
    };
  }

  /**
   * Stops polling, gives the outbox `flushMs` to hand what it holds to the hub, then closes.
   * Resolves with the number of samples not forwarded yet: they stay in the outbox file and are
   * sent after the next start.
   */
  async stop(flushMs = 5000): Promise<number> {
    // Neither a configuration nor a plugin changes while stopping; both end together, adding no wait.
    await Promise.all([this.live.stop(), this.fleet.stop()]);
    this.closed = true;
    const nodeRed = this.nodeRed?.stop().catch((error) => this.options.logger.error({ err: (error as Error).message }, 'Node-RED did not stop cleanly'));
    await Promise.all([...this.parts.pollers.map((p) => p.stop()), nodeRed]);
    this.accept(this.aggregation.cut(), true);
    saveCounters(this.options.config.dataDir, this.aggregation.counters(), this.options.logger);
    const unsent = await this.outbox.stop(flushMs);
    if (unsent) this.options.logger.warn({ unsent }, 'stopped with samples not forwarded yet; they stay in the outbox');
    await this.api?.close();
    await this.connecting;
    // The outbox has had its chance to flush; drain() would wait for a server that may be gone.
    await this.nc?.close();
    return unsent;
  }

  /**
   * Why `/healthz` says degraded (HTTP 503), none when healthy: not connected to NATS (with the
   * reason when known), and forwarding stalled — samples waiting longer than `outbox.stallAfter`
   * with nothing forwarded, connected or not (no stream for the subject, a hub that does not
   * acknowledge, permissions refused).
   */
  private degradedReasons(): string[] {
    const outbox = this.outbox.status();
    const reasons: string[] = [];
    if (this.natsState !== 'connected') reasons.push(`NATS ${this.natsState}${this.natsError ? `: ${this.natsError}` : ''}`);
    if (outbox.stalled) reasons.push(`forwarding stalled: ${outbox.stalled}`);
    return reasons;
  }

  /**
   * A refusal by the server's permissions, while nothing was forwarded since: connected, but
   * publishing with credentials that do not allow this gateway's subjects (another gateway's
   * credentials, or a server set up for another subject prefix).
   */
  private refusedError(lastForward: string | null): string | undefined {
    if (!this.refused) return undefined;
    if (lastForward && Date.parse(lastForward) > this.refused.at) return undefined;
    const { credentials } = this.options.config.hub;
    return `the NATS server refused this gateway's messages (${this.refused.message}): ${credentials ? `the credentials in ${credentials} are not this gateway's, or` : 'no credentials are set, or'} the hub uses another subject prefix than hub.subjectPrefix`;
  }

  /**
   * Readings of the pollers (the status shows them as they are), sent once aggregated and
   * filtered; or, `aggregated`, samples the aggregation made already (windows cut short).
   */
  private accept(readings: Sample[], aggregated = false): void {
    if (!aggregated) for (const s of readings) this.latest.set(s.point, s);
    const samples = aggregated ? readings : this.aggregation.process(readings);
    const accepted = this.outbox.push(samples);
    const kept = accepted === samples.length ? samples : samples.slice(0, accepted);
    this.metrics.samplesAccepted.inc(kept.length);
    if (kept.length) this.emit('samples', kept);
  }

  /** What the hosted Node-RED reaches: the points, the accepted samples, and accept() for derived ones. */
  private nodeRedLink() {
    return {
      points: () => this.pointDefinitions(),
      subscribe: (listener: (samples: Sample[]) => void) => {
        this.on('samples', listener);
        return () => void this.off('samples', listener);
      },
      accept: (samples: Sample[]) => this.accept(samples),
      refused: () => {
        this.nodeRedRefused++;
        this.metrics.nodeRedRefused.inc();
      },
    };
  }

  private pointDefinitions(): PointDefinition[] {
    const { nodeRed } = this.options.config;
    return this.devicePointDefinitions().concat(nodeRed.enabled ? virtualPointDefinitions(nodeRed) : []);
  }

  private devicePointDefinitions(): PointDefinition[] {
    return this.options.config.devices.flatMap(({ config: device, plugin }) =>
      device.points.flatMap((p) => {
        const def: PointDefinition = {
          id: `${device.id}.${p.id}`,
          name: p.name ?? p.id,
          kind: p.kind,
          tags: p.tags,
          source: { plugin: plugin.manifest.id, device: device.id, address: p.address },
          intervalMs: pointIntervalMs(device, p, this.options.config.pollGroups),
        };
        if (p.unit) def.unit = p.unit;
        return announcedDefinitions(def, p);
      }),
    );
  }

  /**
   * Connects to NATS, trying again every second until it succeeds or the gateway stops; a
   * connection the server closes for good (credentials revoked) starts this again. The
   * credentials file is read at each attempt, so that fixing it is enough. A failure is logged
   * once until it changes, and shown in the status as `natsError`.
   */
  private async connectNats(): Promise<void> {
    const { config, logger } = this.options;
    const servers = config.hub.natsUrl ?? this.options.defaultNatsUrl ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
    const credentials = config.hub.credentials;
    let lastError = '';
    while (!this.closed) {
      try {
        const auth = credentials ? natsCredentialsOptions(credentials) : {};
        const nc = await connect({
          servers,
          name: `citypilot-gateway ${config.gateway.id}`,
          // The only inbox this gateway's NATS user may read: JetStream acks arrive there.
          inboxPrefix: subjects(config.hub.subjectPrefix).inbox(config.gateway.id),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          ...auth,
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.js = jetstream(nc);
        this.natsState = 'connected';
        this.natsError = undefined;
        logger.info({ servers }, 'connected to NATS');
        this.live.attach(nc);
        this.fleet.attach(nc);
        void (async () => {
          let lastReported = '';
          for await (const s of nc.status()) {
            if (s.type === 'disconnect') this.natsState = 'disconnected';
            if (s.type === 'reconnect') {
              this.natsState = 'connected';
              // A configuration announced while disconnected was missed.
              void this.live.checkHub();
              this.fleet.attach(nc, true);
            }
            // A publish or subscription the server's permissions refuse (credentials of another
            // gateway, or a server configured for other subjects): once until it changes.
            if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) this.refused = { message: s.error.message, at: Date.now() };
            if (s.type === 'error' && s.error.message !== lastReported) {
              lastReported = s.error.message;
              logger.error({ servers, err: s.error.message }, 'NATS reported an error');
            }
          }
        })();
        void nc.closed().then((error) => {
          if (this.closed || this.nc !== nc) return;
          this.js = undefined;
          this.natsState = 'disconnected';
          this.natsError = error ? natsFailure(error, credentials) : 'the NATS connection was closed';
          logger.error({ servers, err: this.natsError }, 'NATS connection closed; connecting again');
          this.connecting = this.connectNats();
        });
        return;
      } catch (error) {
        const message = natsFailure(error, credentials);
        this.natsError = message;
        if (message !== lastError) logger.warn({ servers, err: message }, 'cannot connect to NATS yet; retrying');
        lastError = message;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async startApi(): Promise<void> {
    const app = Fastify({ logger: false });
    installHostCheck(
      app,
      () => this.options.config.status,
      () => (app.server.address() as AddressInfo).port,
    );
    app.get('/healthz', async (_request, reply) => {
      const reasons = this.degradedReasons();
      const ok = reasons.length === 0;
      return reply
        .code(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'degraded', nats: this.natsState, outbox: this.outbox.depth(), ...(ok ? {} : { reason: reasons.join('; ') }) });
    });
    app.get('/metrics', async (_request, reply) => reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()));
    app.get('/api/status', async () => this.status());
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(renderStatusPage(this.status(), Date.now())));
    registerWriteRoute(app, { config: () => this.options.config, write: (id, value) => this.write(id, value), logger: this.options.logger });
    const { host, port } = this.options.config.status;
    this.url = await app.listen({ host, port });
    this.api = app;
  }
}

/** What to tell the technician about a failed connection: refused credentials name their file. */
function natsFailure(error: unknown, credentials: string | undefined): string {
  if (error instanceof NatsCredentialsError) return error.message;
  const message = (error as Error).message;
  if (error instanceof errors.AuthorizationError || /authorization/i.test(message)) {
    return credentials
      ? `the NATS server refused the credentials in ${credentials} (${message}): ask the hub operator for this gateway's credentials`
      : `the NATS server requires credentials (${message}): set hub.credentials to this gateway's credentials file`;
  }
  return message;
}
