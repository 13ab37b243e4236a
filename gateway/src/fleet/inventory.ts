import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { SDK_VERSION, type Logger } from '@citypilot/sdk';
import { encodeInventory, fleetSubjects, INVENTORY_VERSION, type InventoryReport, type PluginInstall } from '@citypilot/wire';
import type { GatewayStatus } from '../status/gateway-status.js';

/**
 * The gateway's inventory for the hub's fleet page (fleet.ts of @citypilot/wire): built from its
 * status, published with core NATS on `<prefix>.fleet.inventory.<gateway>` at each connection
 * and every `hub.reportInterval`. Nothing is queued while disconnected: the next report is fresh.
 */

/** The gateway's version: its package.json's (read when called; the gateway reads it once at start). */
export function gatewaySoftwareVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** A plugin as the inventory lists it. */
export interface InventoryPlugin {
  id: string;
  version: string;
  source: 'builtin' | 'installed';
}

export interface InventoryInputs {
  status: GatewayStatus;
  /** The gateway's version (gatewaySoftwareVersion). */
  version: string;
  startedAt: Date;
  reportIntervalS: number;
  plugins: readonly InventoryPlugin[];
  installs: readonly PluginInstall[];
  now: Date;
}

/** Bounds of the report's schema (InventoryReportSchema), which the hub checks. */
const MAX_LIST = 100;
const MAX_FAILING = 50;

/**
 * The report of a gateway in the state `status` says. Every string and list is cut to the
 * schema's bounds, so that the hub's decodeInventory accepts it whatever the gateway's state.
 */
export function buildInventory(inputs: InventoryInputs): InventoryReport {
  const { status, now } = inputs;
  const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
  const revision = (r: number | string | null) => (typeof r === 'string' ? cut(r, 64) : r);
  const byPlugin: Record<string, { total: number; failing: number }> = {};
  const failingDevices: InventoryReport['devices']['failingDevices'] = [];
  let failing = 0;
  let deviceError: string | undefined;
  for (const d of status.devices) {
    const isFailing = d.state === 'failing' || (d.lastError !== null && d.state !== 'ok');
    const entry = byPlugin[d.plugin] ?? (Object.keys(byPlugin).length < MAX_LIST ? (byPlugin[d.plugin] = { total: 0, failing: 0 }) : undefined);
    if (entry) entry.total++;
    if (!isFailing) continue;
    failing++;
    if (entry) entry.failing++;
    const error = d.lastError ?? 'failing';
    deviceError ??= `${d.id}: ${error}`;
    if (failingDevices.length < MAX_FAILING) failingDevices.push({ id: cut(d.id, 100), plugin: cut(d.plugin, 100), error: cut(error, 500) });
  }
  const config = status.config;
  const refused = config.lastError;
  // Device and connection errors are current; a refused configuration carries its own time.
  const candidates: { at: string; message: string }[] = [];
  if (refused) candidates.push({ at: refused.at, message: `configuration refused: ${refused.message}` });
  if (status.natsError) candidates.push({ at: now.toISOString(), message: status.natsError });
  if (deviceError) candidates.push({ at: now.toISOString(), message: deviceError });
  const newest = candidates.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))[0];
  return {
    v: INVENTORY_VERSION,
    software: { version: cut(inputs.version, 100), sdk: cut(SDK_VERSION, 100), node: cut(process.version, 100) },
    host: { hostname: cut(hostname(), 255), platform: cut(process.platform, 50), arch: cut(process.arch, 50) },
    startedAt: inputs.startedAt.toISOString(),
    uptimeS: Math.max(0, Math.min(1e10, (now.getTime() - inputs.startedAt.getTime()) / 1000)),
    reportIntervalS: Math.max(1, Math.min(86_400, inputs.reportIntervalS)),
    plugins: inputs.plugins.slice(0, MAX_LIST).map((p) => ({ id: p.id, version: cut(p.version, 100), source: p.source })),
    config: {
      source: config.source,
      revision: revision(config.revision),
      appliedAt: config.appliedAt,
      refused: refused ? { source: refused.source, revision: revision(refused.revision), at: refused.at, message: cut(refused.message, 8000) } : null,
    },
    outbox: { depth: status.outbox.depth },
    devices: { total: status.devices.length, failing, byPlugin, failingDevices },
    lastError: newest ? { at: newest.at, message: cut(newest.message, 2000) } : null,
    installs: inputs.installs.slice(0, MAX_LIST).map((i) => ({ ...i, version: cut(i.version, 100), ...(i.reason ? { reason: cut(i.reason, 2000) } : {}) })),
  };
}

export interface InventoryReporterOptions {
  gatewayId: string;
  subjectPrefix: string;
  intervalMs: number;
  /** The report to send now. */
  report: () => InventoryReport;
  /** Whether the connection is up now (between a disconnect and its reconnect it is not). */
  connected: () => boolean;
  logger: Logger;
}

/** Publishes the gateway's report at each connection, every `intervalMs`, and when asked ({@link InventoryReporter.reportNow}). */
export class InventoryReporter {
  private nc: NatsConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError = '';

  constructor(private readonly options: InventoryReporterOptions) {}

  start(): void {
    this.timer = setInterval(() => this.reportNow(), this.options.intervalMs);
  }

  /** A new connection, or one that came back: the hub hears of the gateway at once. */
  attach(nc: NatsConnection): void {
    this.nc = nc;
    this.reportNow();
  }

  stop(): void {
    clearInterval(this.timer);
    this.nc = undefined;
  }

  /** Publishes a report now, unless disconnected (nothing is queued). */
  reportNow(): void {
    const nc = this.nc;
    if (!nc || nc.isClosed() || nc.isDraining()) return;
    // A disconnected client would buffer the message: a stale report is worth nothing.
    if (!this.options.connected()) return;
    try {
      nc.publish(fleetSubjects(this.options.subjectPrefix).inventory(this.options.gatewayId), encodeInventory(this.options.report()));
      this.lastError = '';
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError) this.options.logger.warn({ err: message }, 'cannot publish the inventory report');
      this.lastError = message;
    }
  }
}
