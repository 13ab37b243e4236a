import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseDuration, subjects, type Logger } from '@citypilot/sdk';
import { GatewayConfigError, parseGatewayConfig, type GatewayConfig } from './config.js';
import { fetchPushedConfig, readConfigState, writeConfigState, type ConfigState, type PushedConfig } from './hub-config.js';
import type { GatewayMetrics } from '../status/metrics.js';
import type { PluginRegistry } from './registry.js';

/**
 * Which configuration a gateway runs, and changing it while it runs.
 *
 * Sources: the gateway's YAML file, re-read on SIGHUP ({@link LiveConfig.reloadFile}) and when it
 * changes on disk; and, when the file sets `hub.remoteConfig: true`, the configuration the hub
 * pushes (hub-config.ts), fetched at each connection, on each notification of the hub, and every
 * `hub.configCheckInterval`. The newest valid one of the two runs: a change of the file applies
 * the file even over a pushed configuration, and the hub's next revision applies the hub's.
 * A pushed configuration applied is saved in dataDir and runs again after a restart, hub or not
 * (unless the file was applied after it).
 *
 * A configuration is applied only when it is valid and changes no {@link RESTART_ONLY} setting;
 * otherwise the running one keeps running and the refusal is logged once and shown in the status
 * (`config.lastError`). Changes are applied one at a time, never concurrently.
 */

/**
 * Settings fixed for the life of the process: the outbox (its file and limits), the status API's
 * address, the NATS connection and its subjects, and Node-RED. A configuration that changes one is refused
 * with the list of such changes: the gateway must be restarted for them.
 */
export const RESTART_ONLY: readonly string[] = [
  'gateway.id',
  'dataDir',
  'status.host',
  'status.port',
  'hub.natsUrl',
  'hub.credentials',
  'hub.subjectPrefix',
  'hub.remoteConfig',
  'hub.configBucket',
  'hub.configCheckInterval',
  // The fleet's: the inventory timer, the buckets it reads, and the keys it trusts.
  'hub.reportInterval',
  'hub.pluginBucket',
  'hub.fleetBucket',
  'plugins.trustedKeys',
  'hub.batchMaxSamples',
  'hub.batchMaxDelay',
  'outbox.maxSamples',
  'outbox.maxBytes',
  'outbox.maxSamplesPerSecond',
  // The clock watch runs for the whole process.
  'clock.jumpThreshold',
  // Node-RED keeps state for the whole process (a new runtime in the same process costs memory
  // it never gives back): its section, virtual points included, changes with a restart.
  'nodeRed',
];

/** A configuration refused, as the status shows it. */
export interface ConfigRefusal {
  source: 'file' | 'hub';
  /** The refused configuration's revision (see {@link ConfigStatus.revision}); null for a file that cannot be read. */
  revision: number | string | null;
  /** When it was refused (ISO 8601). */
  at: string;
  /** Every problem, one per line, as file:line:column path: what was expected. */
  message: string;
}

/** What `/api/status` shows under `config`. */
export interface ConfigStatus {
  /** Where the running configuration came from. */
  source: 'file' | 'hub';
  /**
   * The running configuration's revision: the hub bucket's revision (a number) for a pushed one,
   * the first 12 hexadecimal digits of the file's SHA-256 for the file (null when the gateway was
   * started without a file).
   */
  revision: number | string | null;
  /** When it was applied (ISO 8601): the gateway's start for the first one. */
  appliedAt: string;
  /** The latest configuration refused, while its source has not given a valid one since. */
  lastError: ConfigRefusal | null;
}

export interface LiveConfigOptions {
  /** The configuration file; without it the configuration never changes. */
  file?: string;
  /** The file's configuration, as loaded at start: it says whether the hub's is accepted. */
  fileConfig: GatewayConfig;
  /** Plugins for each configuration validated: new instances, whose links are not the running configuration's. */
  registry: () => PluginRegistry;
  logger: Logger;
  metrics: GatewayMetrics;
  /**
   * Replaces the running configuration by `config` (same {@link RESTART_ONLY} settings). Never
   * called concurrently. Throws when it could not, the previous configuration still running.
   */
  apply: (config: GatewayConfig) => Promise<void>;
}

/** Debounce of file events: editors write a file in several steps (truncate, write, rename). */
const FILE_SETTLE_MS = 300;

export class LiveConfig {
  private current: { config: GatewayConfig; source: 'file' | 'hub'; revision: number | string | null; appliedAt: Date };
  /** The file's text last read, to ignore events that change nothing. */
  private fileText: string | undefined;
  private hubApplied: ConfigState['hub'];
  private seenRevision: number | undefined;
  private readonly refusals: { file?: ConfigRefusal; hub?: ConfigRefusal } = {};
  private lastLogged = '';
  private lastFetchError = '';
  private queue: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private settle: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private nc: NatsConnection | undefined;
  private subscription: Subscription | undefined;
  private stopped = false;

  constructor(private readonly options: LiveConfigOptions) {
    const { file, fileConfig } = options;
    if (file) {
      try {
        this.fileText = readFileSync(file, 'utf8');
      } catch {
        // Read again at the next change; the revision stays unknown meanwhile.
      }
    }
    this.current = { config: fileConfig, source: 'file', revision: this.fileText === undefined ? null : fileRevision(this.fileText), appliedAt: new Date() };
    if (fileConfig.hub.remoteConfig) this.restoreSaved();
    this.recordApplied();
  }

  /** The configuration to start with: the file's, or the hub's saved in dataDir when it ran last. */
  get config(): GatewayConfig {
    return this.current.config;
  }

  status(): ConfigStatus {
    const { source, revision, appliedAt } = this.current;
    const { file, hub } = this.refusals;
    const lastError = file && hub ? (file.at > hub.at ? file : hub) : (file ?? hub ?? null);
    return { source, revision, appliedAt: appliedAt.toISOString(), lastError };
  }

  /** Watches the file and, when the file accepts it, checks the hub's bucket periodically. */
  start(): void {
    const { file, fileConfig, logger } = this.options;
    if (file) {
      // The folder, not the file: editors and configuration tools replace the file by renaming a
      // new one over it, which ends a watch on the file itself.
      try {
        this.watcher = watch(dirname(resolve(file)), (_event, name) => {
          if (name !== null && name !== basename(file)) return;
          clearTimeout(this.settle);
          this.settle = setTimeout(() => void this.reloadFile('change'), FILE_SETTLE_MS);
        });
        this.watcher.on('error', (error) => logger.warn({ file, err: error.message }, 'cannot watch the configuration file; send SIGHUP to reload it'));
      } catch (error) {
        logger.warn({ file, err: (error as Error).message }, 'cannot watch the configuration file; send SIGHUP to reload it');
      }
    }
    if (fileConfig.hub.remoteConfig) {
      const every = parseDuration(fileConfig.hub.configCheckInterval);
      this.checkTimer = setInterval(() => void this.checkHub(), every);
    }
  }

  /** Stops watching, and waits for a change being applied. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearTimeout(this.settle);
    clearInterval(this.checkTimer);
    this.unsubscribe();
    await this.queue;
  }

  private unsubscribe(): void {
    try {
      this.subscription?.unsubscribe();
    } catch {
      // Its connection is closed already, and the subscription with it.
    }
    this.subscription = undefined;
  }

  /**
   * A new connection to NATS (the first, or one after the server closed the previous): listens
   * to the hub's notifications on it and checks the bucket at once.
   */
  attach(nc: NatsConnection): void {
    const { fileConfig } = this.options;
    if (!fileConfig.hub.remoteConfig) return;
    this.nc = nc;
    this.unsubscribe();
    this.subscription = nc.subscribe(subjects(fileConfig.hub.subjectPrefix).config(fileConfig.gateway.id), { callback: () => void this.checkHub() });
    void this.checkHub();
  }

  /**
   * Reads the file again and applies it when it is valid (on a `change`, only if its text
   * changed). Resolves once done; refusals are recorded, never thrown.
   */
  reloadFile(trigger: 'signal' | 'change'): Promise<void> {
    return this.serial(async () => {
      const file = this.options.file;
      if (!file) return;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        const message = `${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
        return this.refuse('file', null, `${message}\n${file}: ${KEPT}.`);
      }
      if (trigger === 'change' && text === this.fileText) return;
      this.fileText = text;
      const revision = fileRevision(text);
      if (this.current.source === 'file' && this.current.revision === revision) {
        delete this.refusals.file;
        this.options.logger.info({ file, revision }, 'configuration file unchanged');
        return;
      }
      let config: GatewayConfig;
      try {
        config = parseGatewayConfig(text, file, this.options.registry());
      } catch (error) {
        if (!(error instanceof GatewayConfigError)) throw error;
        return this.refuse('file', revision, new GatewayConfigError(file, error.problems, KEPT).message);
      }
      await this.applyIfCompatible(config, 'file', revision, file);
    });
  }

  /** Fetches this gateway's key from the hub's bucket and applies a new valid revision. */
  checkHub(): Promise<void> {
    return this.serial(async () => {
      const nc = this.nc;
      const { fileConfig, logger } = this.options;
      if (!nc || nc.isClosed()) return;
      const { configBucket: bucket } = fileConfig.hub;
      const gateway = fileConfig.gateway.id;
      let pushed: PushedConfig | null;
      try {
        pushed = await fetchPushedConfig(nc, bucket, gateway);
        this.lastFetchError = '';
      } catch (error) {
        const message = (error as Error).message;
        if (message !== this.lastFetchError) logger.warn({ bucket, gateway, err: message }, "cannot fetch the hub's configuration; will try again");
        this.lastFetchError = message;
        return;
      }
      if (!pushed || pushed.revision === this.seenRevision || this.stopped) return;
      this.seenRevision = pushed.revision;
      const name = `${bucket}/${gateway}@${pushed.revision}`;
      try {
        const config = this.parsePushed(pushed, name);
        if (await this.applyIfCompatible(config, 'hub', pushed.revision, name)) {
          this.hubApplied = { ...pushed, appliedAt: this.current.appliedAt.toISOString() };
        }
      } catch (error) {
        if (!(error instanceof GatewayConfigError)) throw error;
        this.refuse('hub', pushed.revision, new GatewayConfigError(name, error.problems, KEPT).message);
      }
      this.save();
    });
  }

  /** A pushed configuration, its relative paths anchored at the file's folder. @throws GatewayConfigError */
  private parsePushed(pushed: PushedConfig, name: string): GatewayConfig {
    const { file, registry, fileConfig } = this.options;
    const config = parseGatewayConfig(pushed.text, name, registry(), file ? dirname(resolve(file)) : process.cwd());
    if (config.gateway.id !== fileConfig.gateway.id) {
      throw new GatewayConfigError(name, [`${name}: is the configuration of gateway ${config.gateway.id}, not of this gateway (${fileConfig.gateway.id})`]);
    }
    return config;
  }

  /** At start: the hub's configuration saved in dataDir, when it was the one running last. */
  private restoreSaved(): void {
    const state = readConfigState(this.options.fileConfig.dataDir);
    this.seenRevision = state?.seenRevision;
    this.hubApplied = state?.hub;
    if (state?.source !== 'hub' || !state.hub) return;
    const name = `${this.options.fileConfig.hub.configBucket}/${this.options.fileConfig.gateway.id}@${state.hub.revision}`;
    try {
      const config = this.parsePushed(state.hub, name);
      const changes = restartOnlyChanges(this.current.config, config);
      if (changes.length) throw new GatewayConfigError(name, [restartOnlyMessage(name, changes)]);
      this.current = { config, source: 'hub', revision: state.hub.revision, appliedAt: new Date() };
      this.options.logger.info({ revision: state.hub.revision }, "running the hub's configuration saved at the last run");
    } catch (error) {
      if (!(error instanceof GatewayConfigError)) throw error;
      this.refuse('hub', state.hub.revision, new GatewayConfigError(name, error.problems, 'not applied; the configuration file runs instead').message);
    }
  }

  /** Applies `config` unless it changes a restart-only setting; true when applied. */
  private async applyIfCompatible(config: GatewayConfig, source: 'file' | 'hub', revision: number | string, name: string): Promise<boolean> {
    const changes = restartOnlyChanges(this.current.config, config);
    if (changes.length) {
      this.refuse(source, revision, `${restartOnlyMessage(name, changes)}\n${name}: ${KEPT}.`);
      return false;
    }
    try {
      await this.options.apply(config);
    } catch (error) {
      this.refuse(source, revision, `${name}: could not be applied (${(error as Error).message}); ${KEPT}.`);
      return false;
    }
    const from = { source: this.current.source, revision: this.current.revision };
    this.current = { config, source, revision, appliedAt: new Date() };
    delete this.refusals[source];
    this.recordApplied();
    this.save();
    const devices = config.devices.length;
    const points = config.devices.reduce((n, d) => n + d.config.points.length, 0);
    this.options.logger.info({ source, revision, from, devices, points }, 'configuration applied');
    return true;
  }

  private refuse(source: 'file' | 'hub', revision: number | string | null, message: string): void {
    const key = `${source}\n${revision}\n${message}`;
    if (key !== this.lastLogged) {
      this.options.logger.error(
        { source, revision, err: message, running: { source: this.current.source, revision: this.current.revision } },
        'configuration refused; the running one is kept',
      );
      this.options.metrics.configRefused.inc({ source });
    }
    this.lastLogged = key;
    this.refusals[source] = { source, revision, at: new Date().toISOString(), message };
  }

  private recordApplied(): void {
    const { metrics } = this.options;
    const { source, revision } = this.current;
    metrics.configInfo.reset();
    metrics.configInfo.set({ source, revision: String(revision ?? '') }, 1);
    metrics.configHubRevision.set(source === 'hub' ? Number(revision) : 0);
  }

  /** Saves which configuration runs, for the next start (only for gateways that accept the hub's). */
  private save(): void {
    const { fileConfig, logger } = this.options;
    if (!fileConfig.hub.remoteConfig) return;
    const state: ConfigState = { source: this.current.source };
    if (this.hubApplied) state.hub = this.hubApplied;
    if (this.seenRevision !== undefined) state.seenRevision = this.seenRevision;
    try {
      writeConfigState(fileConfig.dataDir, state);
    } catch (error) {
      logger.warn({ dataDir: fileConfig.dataDir, err: (error as Error).message }, 'cannot save which configuration runs; after a restart the file will run');
    }
  }

  private serial(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => (this.stopped ? undefined : step()));
    this.queue = run.catch((error: Error) => this.options.logger.error({ err: error.message }, 'configuration change failed'));
    return this.queue;
  }
}

const KEPT = 'not applied; the running configuration keeps running';

function fileRevision(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The restart-only settings whose value differs, as `path: old → new`. */
export function restartOnlyChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const at = (config: GatewayConfig, path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], config);
  const show = (v: unknown) => (v === undefined ? '(not set)' : JSON.stringify(v));
  return RESTART_ONLY.filter((p) => show(at(running, p)) !== show(at(next, p))).map((p) => {
    const [before, after] = [at(running, p), at(next, p)];
    // A whole section (nodeRed) is named, not printed.
    return typeof before === 'object' && before !== null ? `${p}: changed` : `${p}: ${show(before)} → ${show(after)}`;
  });
}

function restartOnlyMessage(name: string, changes: string[]): string {
  return `${name}: changes settings that take effect only when the gateway restarts (restart it to apply them, or put the running values back):\n${changes.map((c) => `  ${c}`).join('\n')}`;
}
