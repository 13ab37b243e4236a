/**
 * The hub's side of the gateways' inventory (protocols/wire/src/fleet.ts): reports taken from
 * `<prefix>.fleet.inventory.*` in the queue group `hub-fleet` (several hubs share the work), kept
 * in `fleet_gateways` with their history in `fleet_events` (store.ts), and the silence check that
 * calls a gateway silent after MISSED_REPORTS_BEFORE_SILENT missed reports and alerts on
 * `<prefix>.fleet.alerts`.
 *
 * The gateway of a report is its subject's, never the report's content: NATS permissions let a
 * gateway publish only its own subject (services/nats-auth.ts).
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Logger } from '@citypilot/sdk';
import { decodeInventory, fleetSubjects, type FleetAlert, type InventoryReport, type PluginInstall } from '@citypilot/wire';
import type { HubMetrics } from '../metrics.js';
import { countByState, lockGateways, markSilent, recordFleetEvents, upsertReports, type FleetEvent } from './store.js';

/** The queue group of the hubs' inventory subscriptions. */
export const FLEET_QUEUE = 'hub-fleet';

/** Gateways whose latest report may wait to be stored; beyond, reports of further gateways are dropped (and counted). */
const MAX_WAITING_GATEWAYS = 10_000;
/** Gateways whose malformed reports are remembered, so as to log each problem once. */
const MAX_REMEMBERED_PROBLEMS = 10_000;

export interface FleetOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  /** Subject prefix of the deployment. */
  prefix: string;
  logger: Logger;
  metrics: Pick<HubMetrics, 'fleetReports' | 'fleetReportsMalformed' | 'fleetReportsDropped' | 'fleetGateways'>;
  /** How often the silence check runs, ms. Default 5,000. */
  silentCheckEveryMs?: number;
  /** Most reports stored in one transaction. Default 200. */
  batchMax?: number;
  /**
   * How long the first report waiting is held for others to join its batch, ms. Default 100: at a
   * thousand gateways (33 reports/s) batches of a few reports, a tenth of a second late.
   */
  batchDelayMs?: number;
}

/**
 * Called after a gateway's report is stored (and its events recorded), in the order of storage
 * for one gateway, never concurrently for the same gateway. A listener's exception is logged and
 * changes nothing; a listener must not block (start its own work and return).
 */
export type ReportListener = (gateway: string, report: InventoryReport) => void;

/**
 * The fleet's intake and silence check. Bounded: a report is decoded as it arrives (a malformed
 * one is counted, logged once per gateway and problem, never stored), then waits as its
 * gateway's newest (a newer one replaces it); the waiting reports are stored together, one
 * transaction per batch, one batch at a time.
 */
export class Fleet {
  private readonly subjects: ReturnType<typeof fleetSubjects>;
  private readonly listeners = new Set<ReportListener>();
  /** The newest report of each gateway waiting to be stored, in arrival order. */
  private readonly waiting = new Map<string, InventoryReport>();
  /** The batch being stored, if any. */
  private storing: Promise<void> | undefined;
  /** The timer that starts the next batch. */
  private flushTimer: NodeJS.Timeout | undefined;
  /** The last problem logged per gateway (or subject), so that a repeated one is logged once. */
  private readonly problems = new Map<string, string>();
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: FleetOptions) {
    this.subjects = fleetSubjects(options.prefix);
  }

  /** Subscribes to the inventory and starts the silence check. */
  start(): void {
    this.subscription = this.options.nc.subscribe(this.subjects.inventoryAll, {
      queue: FLEET_QUEUE,
      callback: (error, msg) => {
        if (!error) this.receive(msg);
      },
    });
    this.timer = setInterval(() => {
      this.checking ??= this.checkSilence()
        .catch((error: Error) => this.say('silence-check', error.message, 'fleet silence check failed: retried at the next one'))
        .finally(() => (this.checking = undefined));
    }, this.options.silentCheckEveryMs ?? 5000);
  }

  /** Stops taking reports and checking silence, and waits for the reports being stored. Waiting reports are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.subscription?.unsubscribe();
    clearTimeout(this.flushTimer);
    this.waiting.clear();
    await Promise.allSettled([this.storing, this.checking]);
  }

  /** Calls `listener` after each report stored; resolves nothing. Returns the function that removes it. */
  onReport(listener: ReportListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Marks silent the gateways that missed their reports, records it and publishes an alert for
   * each; resolves with those alerts. Run by the timer; tests may call it.
   */
  async checkSilence(): Promise<FleetAlert[]> {
    const silenced = await markSilent(this.options.pool);
    const alerts = silenced.map((s): FleetAlert => ({ gateway: s.id, state: 'silent', lastSeen: s.lastSeen, at: s.at }));
    for (const alert of alerts) this.publishAlert(alert);
    const counts = await countByState(this.options.pool);
    for (const state of ['online', 'silent'] as const) this.options.metrics.fleetGateways.set({ state }, counts[state]);
    return alerts;
  }

  private receive(msg: Msg): void {
    if (this.stopped) return;
    this.options.metrics.fleetReports.inc();
    const gateway = this.subjects.inventoryGateway(msg.subject);
    if (gateway === undefined) {
      this.refuse(msg.subject.slice(0, 200), `${msg.subject.slice(0, 200)}: the subject names no valid gateway`);
      return;
    }
    let report: InventoryReport;
    try {
      report = decodeInventory(msg.data);
    } catch (error) {
      this.refuse(gateway, (error as Error).message);
      return;
    }
    this.problems.delete(gateway);
    if (!this.waiting.has(gateway) && this.waiting.size >= MAX_WAITING_GATEWAYS) {
      this.options.metrics.fleetReportsDropped.inc();
      return;
    }
    if (this.waiting.has(gateway)) this.options.metrics.fleetReportsDropped.inc();
    this.waiting.set(gateway, report);
    this.pump();
  }

  private refuse(key: string, problem: string): void {
    this.options.metrics.fleetReportsMalformed.inc();
    this.say(key, problem, 'inventory report refused: nothing stored');
  }

  /** Logs `problem` of `key` unless it is the one last logged for it. */
  private say(key: string, problem: string, message: string): void {
    if (this.problems.get(key) === problem) return;
    if (this.problems.size >= MAX_REMEMBERED_PROBLEMS) this.problems.clear();
    this.problems.set(key, problem);
    this.options.logger.warn({ gateway: key, err: problem }, message);
  }

  /** Starts the next batch after the batch delay, unless one is being stored or is due. */
  private pump(): void {
    if (this.stopped || this.storing || this.flushTimer || !this.waiting.size) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.options.batchDelayMs ?? 100);
  }

  /** Stores the waiting reports (up to the batch's bound) in one transaction, then the next ones. */
  private flush(): void {
    if (this.stopped || this.storing) return;
    const batch: { gateway: string; report: InventoryReport }[] = [];
    for (const [gateway, report] of this.waiting) {
      if (batch.length >= (this.options.batchMax ?? 200)) break;
      batch.push({ gateway, report });
    }
    for (const { gateway } of batch) this.waiting.delete(gateway);
    if (!batch.length) return;
    this.storing = this.store(batch)
      .then(
        () => {
          for (const { gateway } of batch) this.problems.delete(`store:${gateway}`);
        },
        (error: Error) => {
          for (const { gateway } of batch) this.say(`store:${gateway}`, error.message, 'inventory report not stored: the next one will be');
        },
      )
      .finally(() => {
        this.storing = undefined;
        this.pump();
      });
  }

  private async store(batch: readonly { gateway: string; report: InventoryReport }[]): Promise<void> {
    const client = await this.options.pool.connect();
    let previous: Awaited<ReturnType<typeof lockGateways>>;
    let seen: Map<string, string>;
    try {
      await client.query('BEGIN');
      previous = await lockGateways(
        client,
        batch.map((b) => b.gateway),
      );
      seen = await upsertReports(client, batch);
      await recordFleetEvents(
        client,
        batch.flatMap(({ gateway, report }) => reportEvents(gateway, previous.get(gateway), report)),
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    for (const { gateway, report } of batch) {
      const at = seen.get(gateway);
      if (previous.get(gateway)?.state === 'silent' && at) this.publishAlert({ gateway, state: 'online', lastSeen: at, at });
      for (const listener of this.listeners) {
        try {
          listener(gateway, report);
        } catch (error) {
          this.options.logger.warn({ gateway, err: (error as Error).message }, 'a listener of the fleet failed on a report');
        }
      }
    }
  }

  private publishAlert(alert: FleetAlert): void {
    if (this.options.nc.isClosed()) return;
    this.options.nc.publish(this.subjects.alerts, JSON.stringify(alert));
    this.options.logger.info({ gateway: alert.gateway, lastSeen: alert.lastSeen }, alert.state === 'silent' ? 'gateway silent' : 'gateway online again');
  }
}

/**
 * What a report changes in the fleet's history, against the gateway's previous state and report
 * (undefined when first seen): first seen, back online, the configuration it runs, a new
 * refusal, each new install result.
 */
export function reportEvents(
  gateway: string,
  previous: { state: 'online' | 'silent'; report: InventoryReport } | undefined,
  report: InventoryReport,
): FleetEvent[] {
  const actor = `gateway:${gateway}`;
  const config = report.config;
  const events: FleetEvent[] = [];
  if (!previous) {
    events.push({
      gateway,
      kind: 'first-seen',
      actor,
      detail: { version: report.software.version, hostname: report.host.hostname, config: { source: config.source, revision: config.revision } },
    });
  } else {
    if (previous.state === 'silent') events.push({ gateway, kind: 'online', actor: 'hub', detail: {} });
    const before = previous.report.config;
    if (before.source !== config.source || before.revision !== config.revision) {
      events.push({
        gateway,
        kind: 'config-running',
        actor,
        detail: {
          source: config.source,
          revision: config.revision,
          appliedAt: config.appliedAt,
          previous: { source: before.source, revision: before.revision },
        },
      });
    }
  }
  const refused = config.refused;
  const earlier = previous?.report.config.refused;
  if (refused && !(earlier && earlier.source === refused.source && earlier.revision === refused.revision && earlier.at === refused.at)) {
    events.push({ gateway, kind: 'config-refused', actor, detail: { ...refused } });
  }
  const known = new Set((previous?.report.installs ?? []).map(installKey));
  for (const install of report.installs) {
    if (!known.has(installKey(install))) events.push({ gateway, kind: `plugin-${install.state}`, actor, detail: { ...install } });
  }
  return events;
}

function installKey(i: PluginInstall): string {
  return JSON.stringify([i.id, i.version, i.state, i.at]);
}
