import type { NatsConnection } from '@nats-io/transport-node';
import { parseDuration, type DriverPlugin, type Logger, type PluginManifest } from '@citypilot/sdk';
import type { InventoryReport, PluginInstall } from '@citypilot/wire';
import type { GatewayConfig } from '../config/config.js';
import type { GatewayStatus } from '../status/gateway-status.js';
import { PluginRegistry } from '../config/registry.js';
import { PluginInstaller } from './installer.js';
import { buildInventory, InventoryReporter, type InventoryPlugin } from './inventory.js';
import type { StartupPackage } from './packages.js';
import { readTrustedKeys } from './trusted-keys.js';

export interface GatewayFleetOptions {
  /** The configuration the gateway started with (the fleet's settings are restart-only). */
  config: GatewayConfig;
  logger: Logger;
  /** The gateway's version (gatewaySoftwareVersion). */
  version: string;
  /** The installed packages loaded at start (loadInstalledPackages). */
  startup: readonly StartupPackage[];
  /** The built-in plugins' registry factory. */
  registry: () => PluginRegistry;
  /** The gateway's status, without the fleet's parts. */
  status: () => GatewayStatus;
  /** Whether the NATS connection is up. */
  connected: () => boolean;
  /** See PluginInstallerOptions.restartDevices. */
  restartDevices: (id: string, plugin: DriverPlugin) => Promise<void>;
  /** The plugin ids the running configuration's devices use. */
  usedPluginIds: () => ReadonlySet<string>;
}

/**
 * The gateway's side of the fleet: the inventory it reports and the plugin packages it installs.
 * The gateway hands it each NATS connection ({@link GatewayFleet.attach}) and builds its
 * registries with {@link GatewayFleet.registry}.
 */
export class GatewayFleet {
  private readonly installer: PluginInstaller;
  private readonly reporter: InventoryReporter;
  private readonly builtin: readonly PluginManifest[];
  private readonly startedAt = new Date();

  constructor(private readonly options: GatewayFleetOptions) {
    const { config, logger } = options;
    const base = options.registry();
    this.builtin = base.ids().map((id) => base.get(id)!.manifest);
    this.installer = new PluginInstaller({
      dataDir: config.dataDir,
      gatewayId: config.gateway.id,
      subjectPrefix: config.hub.subjectPrefix,
      pluginBucket: config.hub.pluginBucket,
      fleetBucket: config.hub.fleetBucket,
      checkIntervalMs: parseDuration(config.hub.configCheckInterval),
      trustedKeys: readTrustedKeys(config.plugins.trustedKeys),
      logger,
      startup: options.startup,
      restartDevices: options.restartDevices,
      usedPluginIds: options.usedPluginIds,
      changed: () => this.reporter.reportNow(),
    });
    this.reporter = new InventoryReporter({
      gatewayId: config.gateway.id,
      subjectPrefix: config.hub.subjectPrefix,
      intervalMs: parseDuration(config.hub.reportInterval),
      report: () => this.report(),
      connected: options.connected,
      logger,
    });
  }

  /** New instances of the built-in plugins, plus the installed ones that run (a built-in id wins). */
  registry(): PluginRegistry {
    const registry = this.options.registry();
    for (const { id, plugin } of this.installer.plugins()) if (!registry.get(id)) registry.register(plugin);
    return registry;
  }

  /** Every plugin the gateway can run, as the inventory and the status list them. */
  plugins(): InventoryPlugin[] {
    const builtin = this.builtin.map((m) => ({ id: m.id, version: m.version, source: 'builtin' as const }));
    const installed = this.installer.plugins().map((p) => ({ id: p.id, version: p.record.version, source: 'installed' as const }));
    return [...builtin, ...installed.filter((p) => !builtin.some((b) => b.id === p.id))];
  }

  /** The latest attempt at each assigned package. */
  installs(): PluginInstall[] {
    return this.installer.installs();
  }

  /** The report the gateway would send now. */
  report(): InventoryReport {
    const { config } = this.options;
    return buildInventory({
      status: this.options.status(),
      version: this.options.version,
      startedAt: this.startedAt,
      reportIntervalS: parseDuration(config.hub.reportInterval) / 1000,
      plugins: this.plugins(),
      installs: this.installs(),
      now: new Date(),
    });
  }

  start(): void {
    this.installer.start();
    this.reporter.start();
  }

  /** A connection made, or back after a disconnection (`reconnect`: the subscription is still there). */
  attach(nc: NatsConnection, reconnect = false): void {
    this.reporter.attach(nc);
    if (reconnect) void this.installer.check();
    else this.installer.attach(nc);
  }

  /** Checks the assignments now (tests, and the hub's notices). */
  check(): Promise<void> {
    return this.installer.check();
  }

  async stop(): Promise<void> {
    this.reporter.stop();
    await this.installer.stop();
  }
}
