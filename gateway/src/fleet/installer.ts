import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { DriverPlugin, Logger } from '@citypilot/sdk';
import {
  decodeAssignments,
  fleetSubjects,
  MAX_PLUGIN_PACKAGE_BYTES,
  verifyPluginSignature,
  type PluginAssignment,
  type PluginAssignments,
  type PluginInstall,
} from '@citypilot/wire';
import { fetchKey } from '../config/hub-config.js';
import { downloadObject, ObjectDownloadError } from './download.js';
import { extractPackage, linkProvidedModules, loadPackage, packageDir, writeInstalled, type InstalledRecord, type StartupPackage } from './packages.js';
import type { TrustedKey } from './trusted-keys.js';

/**
 * Installs the plugin packages the hub assigns to this gateway (fleet.ts of @citypilot/wire):
 * reads the gateway's key of the fleet bucket at each connection, on each notice on
 * `<prefix>.fleet.assign.<gateway>`, and every `checkIntervalMs`; installs each assignment that
 * differs from the active version (download, checks, load), then has the gateway restart that
 * plugin's devices only. One check at a time; a version refused or failed is not tried again
 * until its assignment changes (a download that failed is: the network may come back).
 */

export interface PluginInstallerOptions {
  dataDir: string;
  gatewayId: string;
  subjectPrefix: string;
  pluginBucket: string;
  fleetBucket: string;
  /** Milliseconds between two reads of the fleet bucket besides the hub's notices. */
  checkIntervalMs: number;
  trustedKeys: readonly TrustedKey[];
  logger: Logger;
  /** The packages installed.json listed at start, loaded or not (loadInstalledPackages). */
  startup: readonly StartupPackage[];
  /**
   * Restarts the running configuration's devices of plugin `id` with `plugin`: new drivers are
   * created first, and when one `create()` throws it throws, nothing changed.
   */
  restartDevices(id: string, plugin: DriverPlugin): Promise<void>;
  /** The plugin ids the running configuration's devices use. */
  usedPluginIds(): ReadonlySet<string>;
  /** Called after each attempt at installing a package, and after a removal. */
  changed(): void;
}

/** An installed plugin that runs. */
export interface ActivePlugin {
  id: string;
  record: InstalledRecord;
  plugin: DriverPlugin;
}

/** How long a request for the assignments waits. */
const FETCH_TIMEOUT_MS = 5000;

export class PluginInstaller {
  private readonly active = new Map<string, ActivePlugin>();
  private readonly latest = new Map<string, PluginInstall>();
  /** Assignments (id, version, SHA-256) already tried, refused or failed: not tried again. */
  private readonly tried = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private nc: NatsConnection | undefined;
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastLogged = '';

  constructor(private readonly options: PluginInstallerOptions) {
    for (const { record, loaded } of options.startup) {
      const { id, ...rest } = record;
      if ('error' in loaded) this.latest.set(id, { id, version: record.version, state: 'failed', at: new Date().toISOString(), reason: bounded(loaded.error) });
      else this.active.set(id, { id, record: rest, plugin: loaded.plugin });
    }
  }

  /** The installed plugins that run, by id. */
  plugins(): ActivePlugin[] {
    return [...this.active.values()];
  }

  /** The latest attempt at each assigned package, for the inventory and the status. */
  installs(): PluginInstall[] {
    return [...this.latest.values()];
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.checkIntervalMs);
  }

  /** A new NATS connection (the first, or one after the server closed the previous): listens to the hub's notices and checks at once. */
  attach(nc: NatsConnection): void {
    this.nc = nc;
    this.unsubscribe();
    const { subjectPrefix, gatewayId } = this.options;
    this.subscription = nc.subscribe(fleetSubjects(subjectPrefix).assign(gatewayId), { callback: () => void this.check() });
    void this.check();
  }

  /** Stops the timer and the subscription, and waits for an install under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe();
    await this.queue;
  }

  /** Reads the assignments and applies them; resolves once done. Failures are recorded, never thrown. */
  check(): Promise<void> {
    const run = this.queue.then(() => (this.stopped ? undefined : this.checkNow()));
    this.queue = run.catch((error: Error) => this.options.logger.error({ err: error.message }, 'checking the assigned plugins failed'));
    return this.queue;
  }

  private unsubscribe(): void {
    try {
      this.subscription?.unsubscribe();
    } catch {
      // Its connection is closed already, and the subscription with it.
    }
    this.subscription = undefined;
  }

  private async checkNow(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const assignments = await this.fetch(nc);
    if (!assignments) return;
    for (const a of assignments.plugins) {
      if (this.stopped) return;
      const active = this.active.get(a.id);
      if (active && active.record.version === a.version && active.record.sha256 === a.sha256) continue;
      const key = `${a.id}\n${a.version}\n${a.sha256}`;
      if (this.tried.has(key)) continue;
      await this.install(nc, a, key);
    }
    this.removeUnassigned(new Set(assignments.plugins.map((a) => a.id)));
  }

  /** The gateway's assignments, or undefined when there are none to apply (no key, unreadable, malformed: logged once). */
  private async fetch(nc: NatsConnection): Promise<PluginAssignments | undefined> {
    const { fleetBucket, gatewayId, logger } = this.options;
    let value;
    try {
      value = await fetchKey(nc, fleetBucket, gatewayId, FETCH_TIMEOUT_MS);
    } catch (error) {
      this.logOnce(`fetch\n${(error as Error).message}`, () =>
        logger.warn({ bucket: fleetBucket, err: (error as Error).message }, 'cannot read the assigned plugins; will try again'),
      );
      return undefined;
    }
    if (!value) return undefined;
    try {
      return decodeAssignments(value.data);
    } catch (error) {
      this.logOnce(`malformed\n${value.revision}`, () =>
        logger.error({ bucket: fleetBucket, revision: value.revision, err: (error as Error).message }, 'the assigned plugins are malformed; ignored'),
      );
      return undefined;
    }
  }

  private async install(nc: NatsConnection, a: PluginAssignment, key: string): Promise<void> {
    const { logger } = this.options;
    const refuse = (reason: string, retry = false) => {
      if (!retry) this.tried.add(key);
      this.record(a, 'refused', reason);
      logger.error({ plugin: a.id, version: a.version, err: reason }, 'plugin package refused');
    };
    const trusted = this.options.trustedKeys;
    if (!trusted.length) return refuse('this gateway trusts no plugin key: set plugins.trustedKeys');
    const signer = trusted.find((k) => k.id === a.keyId);
    if (!signer) return refuse(`signed by key ${a.keyId}, which this gateway does not trust (it trusts ${trusted.map((k) => k.id).join(', ')})`);
    if (a.size > MAX_PLUGIN_PACKAGE_BYTES) return refuse(`the package is ${a.size} bytes, more than the ${MAX_PLUGIN_PACKAGE_BYTES} accepted`);
    let bytes: Buffer;
    try {
      bytes = await downloadObject(nc, this.options.pluginBucket, a.object, a.size);
    } catch (error) {
      // A transient failure is tried again at the next check; changed bytes are not.
      return refuse(`cannot download the package: ${(error as Error).message}`, !(error instanceof ObjectDownloadError && error.altered));
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== a.sha256) return refuse(`the package's SHA-256 ${sha256} does not match the signed one ${a.sha256}: it was altered`);
    if (!verifyPluginSignature(a, a.signature, signer.key)) return refuse(`the signature does not verify with key ${a.keyId} (${signer.file})`);
    const active = this.active.get(a.id);
    if (active?.record.version === a.version)
      return refuse(`version ${a.version} is installed already with other content: publish the change as a new version`);
    const dir = packageDir(this.options.dataDir, a.id, a.version);
    let plugin: DriverPlugin;
    try {
      await extractPackage(bytes, dir);
      linkProvidedModules(dir);
      const loaded = await loadPackage(dir, a);
      if (loaded.manifest.sdk !== a.sdk) throw new Error(`its manifest says SDK ${loaded.manifest.sdk}, the signed assignment ${a.sdk}`);
      plugin = loaded.plugin;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      return refuse((error as Error).message);
    }
    try {
      if (this.options.usedPluginIds().has(a.id)) await this.options.restartDevices(a.id, plugin);
    } catch (error) {
      this.tried.add(key);
      rmSync(dir, { recursive: true, force: true });
      const reason = `its drivers could not be created (${(error as Error).message}); ${active ? `version ${active.record.version} keeps running` : 'its devices do not run'}`;
      this.record(a, 'failed', reason);
      logger.error({ plugin: a.id, version: a.version, err: reason }, 'plugin package failed');
      return;
    }
    const record: InstalledRecord = { version: a.version, sha256: a.sha256, keyId: a.keyId, installedAt: new Date().toISOString() };
    this.active.set(a.id, { id: a.id, record, plugin });
    this.saveRecords();
    this.record(a, 'installed');
    logger.info({ plugin: a.id, version: a.version, previous: active?.record.version ?? null }, 'plugin package installed');
    // The previous version's module is loaded already, and its devices now run the new one.
    if (active) rmSync(packageDir(this.options.dataDir, a.id, active.record.version), { recursive: true, force: true });
  }

  /** Drops the installed plugins no longer assigned, unless the running configuration uses them. */
  private removeUnassigned(assigned: ReadonlySet<string>): void {
    const used = this.options.usedPluginIds();
    let removed = false;
    for (const id of [...this.active.keys()]) {
      if (assigned.has(id)) continue;
      if (used.has(id)) {
        this.logOnce(`remove\n${id}`, () =>
          this.options.logger.warn({ plugin: id }, 'the hub no longer assigns this plugin, but the running configuration uses it: it stays installed'),
        );
        continue;
      }
      this.active.delete(id);
      this.latest.delete(id);
      removed = true;
      this.options.logger.info({ plugin: id }, 'plugin no longer assigned: removed');
    }
    if (removed) {
      this.saveRecords();
      this.options.changed();
    }
  }

  private record(a: PluginAssignment, state: PluginInstall['state'], reason?: string): void {
    this.latest.set(a.id, { id: a.id, version: a.version, state, at: new Date().toISOString(), ...(reason ? { reason: bounded(reason) } : {}) });
    this.options.changed();
  }

  private saveRecords(): void {
    try {
      writeInstalled(this.options.dataDir, Object.fromEntries([...this.active].map(([id, p]) => [id, p.record])));
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'cannot save the installed plugins; after a restart the previous ones load');
    }
  }

  private logOnce(key: string, log: () => void): void {
    if (key === this.lastLogged) return;
    this.lastLogged = key;
    log();
  }
}

/** A reason as the inventory's schema bounds it. */
function bounded(text: string, max = 2000): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
