/**
 * Staged rollouts of plugin versions. `assign` gives a version to a first stage of gateways (the
 * canary); each gateway's report (ReportSource) and a timer then move the rollout on:
 *  - rolled back as soon as a gateway of it refuses or fails the version, or runs it with more
 *    failing devices of the plugin than before: every gateway it assigned gets its previous
 *    version back (or the plugin removed);
 *  - promoted to every gateway of the fleet once all canary gateways have run it in good health
 *    for `promoteAfterS` (a canary gateway silent or unhealthy starts that time again);
 *  - completed once every gateway it assigned runs it.
 * Every step is one `UPDATE … WHERE state = <expected> RETURNING`, so that of two hubs only one
 * acts, and one row of fleet_events. Reports are read from `fleet_gateways.report` (hub/src/fleet),
 * the one just received taking precedence.
 */
import type pg from 'pg';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CityPilotError, ID_PATTERN, InventoryReportSchema, type InventoryReport } from '@citypilot/wire';
import type { Logger } from '@citypilot/sdk';
import type { PluginAssignmentStore } from './assignments.js';

/** Where reports come from, in process (the fleet's intake): `onReport` returns the unsubscribe. */
export interface ReportSource {
  onReport(listener: (gateway: string, report: InventoryReport) => void): () => void;
}

/** A rollout that cannot be started, saying why. */
export class PluginRolloutError extends CityPilotError {
  constructor(message: string) {
    super('PLUGIN_ROLLOUT_INVALID', message);
  }
}

export type RolloutState = 'canary' | 'all' | 'completed' | 'rolled-back' | 'superseded';

export interface RolloutInfo {
  id: number;
  plugin: string;
  version: string;
  state: RolloutState;
  canary: string[];
  promoteAfterS: number | null;
  /** ISO 8601, while every canary gateway has been healthy. */
  healthySince: string | null;
  startedAt: string;
  updatedAt: string;
  startedBy: string;
  reason: string | null;
}

export interface AssignRequest {
  plugin: string;
  version: string;
  /** The first stage's gateways: these, or the members of `group` (one of the two). */
  gateways?: readonly string[];
  group?: string;
  /** Seconds of health before every gateway gets the version; none: the first stage only. */
  promoteAfterS?: number;
  actor: string;
}

export interface RolloutsOptions {
  pool: pg.Pool;
  assignments: PluginAssignmentStore;
  logger: Logger;
  /** Reports as they arrive; without one, the timer alone evaluates. */
  reports?: ReportSource;
  /** Time between two evaluations of the running rollouts, ms. Default 5000. */
  evaluateEveryMs?: number;
}

/** What a rollout recorded of a gateway when it assigned it the version. */
interface Baseline {
  /** The installed version it had before, or null (the plugin removed on rollback). */
  previous: string | null;
  /** Its failing devices of the plugin then. */
  failing: number;
  /** The `at` of its latest install entry of the plugin then: an entry with another one is newer. */
  install: string | null;
}

interface RolloutRow {
  id: string;
  plugin: string;
  version: string;
  state: RolloutState;
  canary: string[];
  promote_after_s: number | null;
  healthy_since: Date | null;
  started_at: Date;
  updated_at: Date;
  started_by: string;
  reason: string | null;
  baseline: Record<string, Baseline>;
}

interface GatewayView {
  state: 'online' | 'silent';
  report: InventoryReport | null;
}

const reportCheck = TypeCompiler.Compile(InventoryReportSchema);
const ROLLOUT_COLUMNS = 'id, plugin, version, state, canary, promote_after_s, healthy_since, started_at, updated_at, started_by, reason, baseline';
const MAX_GATEWAYS = 10_000;
/** Longest promotion delay: 30 days. */
export const MAX_PROMOTE_AFTER_S = 30 * 86_400;

export class Rollouts {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The evaluation in progress; reports received meanwhile wait for one more. */
  private running: Promise<void> | undefined;
  private pending: Map<string, InventoryReport> | undefined;
  /**
   * The gateways of the running rollouts, as of the last evaluation: only their reports start an
   * evaluation (the others cannot move a rollout), so that a thousand gateways reporting cost
   * nothing while no rollout runs. A rollout started elsewhere (the CLI) is seen at the next tick.
   */
  private watched = new Set<string>();

  constructor(private readonly options: RolloutsOptions) {}

  /** Evaluates on each report of a gateway of a running rollout, and every `evaluateEveryMs`, until stop(). */
  start(): void {
    this.unsubscribe = this.options.reports?.onReport((gateway, report) => {
      if (this.watched.has(gateway)) void this.evaluateSoon(new Map([[gateway, report]]));
    });
    this.timer = setInterval(() => void this.evaluateSoon(new Map()), this.options.evaluateEveryMs ?? 5000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe?.();
    while (this.running) await this.running;
  }

  /**
   * Starts a rollout; a running one of the same plugin is superseded. The first stage's gateways
   * get the version at once. Resolves with the rollout.
   * @throws PluginRolloutError when the package, a gateway or the group is unknown or malformed
   */
  async assign(request: AssignRequest): Promise<RolloutInfo> {
    const { plugin, version, actor } = request;
    const pkg = await this.options.pool.query('SELECT 1 FROM plugin_packages WHERE id = $1 AND version = $2', [plugin, version]);
    if (!pkg.rowCount) throw new PluginRolloutError(`${plugin} ${version} is not published: publish it first (citypilot hub plugin publish)`);
    const canary = await this.firstStage(request);
    const promoteAfterS = request.promoteAfterS ?? null;
    if (promoteAfterS !== null && !(Number.isInteger(promoteAfterS) && promoteAfterS >= 1 && promoteAfterS <= MAX_PROMOTE_AFTER_S))
      throw new PluginRolloutError(`promote after: expected a whole number of seconds from 1 to ${MAX_PROMOTE_AFTER_S}, not ${promoteAfterS}`);
    const baseline = await this.baselines(plugin, canary);
    const client = await this.options.pool.connect();
    let row: RolloutRow;
    try {
      await client.query('BEGIN');
      const superseded = await client.query<{ id: string }>(
        `UPDATE plugin_rollouts SET state = 'superseded', updated_at = now(), reason = $2 WHERE plugin = $1 AND state IN ('canary', 'all') RETURNING id`,
        [plugin, `superseded by ${version}, started by ${actor}`],
      );
      row = (
        await client.query<RolloutRow>(
          `INSERT INTO plugin_rollouts (plugin, version, state, canary, promote_after_s, started_by, baseline) VALUES ($1, $2, 'canary', $3, $4, $5, $6)
           RETURNING ${ROLLOUT_COLUMNS}`,
          [plugin, version, canary, promoteAfterS, actor, JSON.stringify(baseline)],
        )
      ).rows[0]!;
      for (const s of superseded.rows) await event(client, null, 'plugin-rollout-superseded', actor, { plugin, rollout: Number(s.id), by: Number(row.id) });
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    const id = Number(row.id);
    for (const gateway of canary) {
      await this.options.assignments.apply(gateway, [{ plugin, version }], id);
      await event(this.options.pool, gateway, 'plugin-assigned', actor, { plugin, version, rollout: id, previous: baseline[gateway]!.previous });
    }
    this.options.logger.info({ rollout: id, plugin, version, canary, promoteAfterS, actor }, 'plugin rollout started');
    return rolloutOf(row);
  }

  /** Sets group `name`'s gateways. */
  setGroup(name: string, gateways: readonly string[], actor: string): Promise<void> {
    return setPluginGroup(this.options.pool, name, gateways, actor);
  }

  /** The newest rollouts first. */
  list(limit = 50): Promise<RolloutInfo[]> {
    return listRollouts(this.options.pool, limit);
  }

  /**
   * Evaluates every running rollout once (`reports`: reports just received, newer than the
   * database's). Evaluations never overlap; reports received during one are evaluated after it.
   */
  evaluateSoon(reports: Map<string, InventoryReport>): Promise<void> {
    if (this.running) {
      this.pending ??= new Map();
      for (const [g, r] of reports) this.pending.set(g, r);
      return this.running;
    }
    this.running = (async () => {
      let next: Map<string, InventoryReport> | undefined = reports;
      while (next) {
        try {
          await this.evaluate(next);
        } catch (error) {
          this.options.logger.warn({ err: (error as Error).message }, 'plugin rollouts not evaluated: tried again at the next report or tick');
        }
        next = this.pending;
        this.pending = undefined;
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async evaluate(fresh: Map<string, InventoryReport>): Promise<void> {
    // Keys lost between a step and its write are rare: looked for at the ticks, not at each report.
    if (!fresh.size) await this.reconcile();
    const { rows } = await this.options.pool.query<RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM plugin_rollouts WHERE state IN ('canary', 'all') ORDER BY id`);
    this.watched = new Set(rows.flatMap((r) => Object.keys(r.baseline)));
    if (!rows.length) return;
    const fleet = await this.fleet(fresh, [...this.watched]);
    for (const rollout of rows) await this.step(rollout, fleet);
  }

  /**
   * Writes again the keys a step changed its state for but could not write (NATS or the database
   * gone between the two): a running rollout's gateways without its version, and a rolled-back
   * rollout's gateways still assigned its version by it.
   */
  private async reconcile(): Promise<void> {
    const { rows } = await this.options.pool.query<{ id: string; plugin: string; gateway: string; version: string | null }>(
      `SELECT r.id, r.plugin, b.gateway, r.version
         FROM plugin_rollouts r CROSS JOIN LATERAL jsonb_object_keys(r.baseline) AS b(gateway)
        WHERE r.state IN ('canary', 'all')
          AND NOT EXISTS (SELECT 1 FROM plugin_assignments a WHERE a.gateway = b.gateway AND a.plugin = r.plugin AND a.version = r.version)
       UNION ALL
       SELECT r.id, r.plugin, a.gateway, r.baseline -> a.gateway ->> 'previous'
         FROM plugin_rollouts r JOIN plugin_assignments a ON a.rollout = r.id AND a.plugin = r.plugin AND a.version = r.version
        WHERE r.state = 'rolled-back' AND (r.baseline -> a.gateway ->> 'previous') IS DISTINCT FROM r.version
        LIMIT 1000`,
    );
    for (const r of rows) {
      this.options.logger.warn({ rollout: Number(r.id), plugin: r.plugin, gateway: r.gateway, version: r.version }, 'plugin assignment written again');
      await this.options.assignments.apply(r.gateway, [{ plugin: r.plugin, version: r.version }], Number(r.id));
    }
  }

  /** One rollout's next step, if any. */
  private async step(rollout: RolloutRow, fleet: Map<string, GatewayView>): Promise<void> {
    const { plugin, version } = rollout;
    const id = Number(rollout.id);
    const assigned = Object.keys(rollout.baseline);
    let runningEverywhere = true;
    let canaryHealthy = true;
    for (const gateway of assigned) {
      const view = fleet.get(gateway);
      const report = view?.report;
      const base = rollout.baseline[gateway]!;
      const install = report?.installs.find((i) => i.id === plugin && i.version === version && i.at !== base.install);
      if (install && install.state !== 'installed')
        return this.rollBack(rollout, `gateway ${gateway}: ${install.state}: ${install.reason ?? 'no reason given'}`);
      const runs = !!report?.plugins.some((p) => p.id === plugin && p.version === version && p.source === 'installed');
      const failing = report?.devices.byPlugin[plugin]?.failing ?? 0;
      if (runs && failing > base.failing)
        return this.rollBack(rollout, `gateway ${gateway}: ${failing} failing devices of ${plugin} with ${version}, ${base.failing} before`);
      if (!runs) runningEverywhere = false;
      if (rollout.canary.includes(gateway) && (!runs || view?.state !== 'online')) canaryHealthy = false;
    }
    if (rollout.state === 'all' || rollout.promote_after_s === null) {
      if (runningEverywhere) await this.complete(rollout);
      return;
    }
    if (!canaryHealthy) {
      if (rollout.healthy_since) await this.transition(id, 'canary', 'healthy_since = NULL', 'plugin-unhealthy', { plugin, version });
      return;
    }
    if (!rollout.healthy_since) {
      await this.transition(id, 'canary', 'healthy_since = now()', 'plugin-healthy', { plugin, version }, 'AND healthy_since IS NULL');
      return;
    }
    await this.promote(rollout, fleet);
  }

  /** Every gateway of the fleet gets the version, once the canary has been healthy long enough. */
  private async promote(rollout: RolloutRow, fleet: Map<string, GatewayView>): Promise<void> {
    const { plugin, version } = rollout;
    const id = Number(rollout.id);
    // The whole fleet (evaluations read only the rollouts' gateways), with the reports just received.
    const everyone = await this.fleet(new Map());
    for (const [gateway, view] of fleet) everyone.set(gateway, view);
    const others = [...everyone.keys()].filter((g) => !(g in rollout.baseline));
    const added = await this.baselines(plugin, others, everyone);
    const { rows } = await this.options.pool.query(
      `UPDATE plugin_rollouts SET state = 'all', updated_at = now(), baseline = baseline || $2::jsonb
        WHERE id = $1 AND state = 'canary' AND healthy_since <= now() - make_interval(secs => promote_after_s) RETURNING id`,
      [id, JSON.stringify(added)],
    );
    if (!rows.length) return;
    this.options.logger.info({ rollout: id, plugin, version, gateways: others }, 'plugin rollout promoted to every gateway');
    await event(this.options.pool, null, 'plugin-promoted', 'hub', { plugin, version, rollout: id, gateways: others });
    for (const gateway of others) {
      await this.options.assignments.apply(gateway, [{ plugin, version }], id);
      await event(this.options.pool, gateway, 'plugin-assigned', 'hub', { plugin, version, rollout: id, previous: added[gateway]!.previous });
    }
  }

  private async complete(rollout: RolloutRow): Promise<void> {
    const { plugin, version } = rollout;
    if (await this.transition(Number(rollout.id), rollout.state, `state = 'completed'`, 'plugin-completed', { plugin, version }))
      this.options.logger.info({ rollout: Number(rollout.id), plugin, version }, 'plugin rollout completed');
  }

  /** Every gateway the rollout assigned gets its previous version back. */
  private async rollBack(rollout: RolloutRow, reason: string): Promise<void> {
    const { plugin, version } = rollout;
    const id = Number(rollout.id);
    const { rows } = await this.options.pool.query<{ baseline: Record<string, Baseline> }>(
      `UPDATE plugin_rollouts SET state = 'rolled-back', reason = $3, updated_at = now() WHERE id = $1 AND state = $2 RETURNING baseline`,
      [id, rollout.state, reason],
    );
    if (!rows.length) return;
    this.options.logger.warn({ rollout: id, plugin, version, reason }, 'plugin rollout rolled back');
    for (const [gateway, base] of Object.entries(rows[0]!.baseline)) {
      await this.options.assignments.apply(gateway, [{ plugin, version: base.previous }], id);
      await event(this.options.pool, gateway, 'plugin-rolled-back', 'hub', { plugin, version, rollout: id, to: base.previous, reason });
    }
  }

  /** One guarded UPDATE of a rollout and its event; whether it happened. */
  private async transition(id: number, from: RolloutState, set: string, kind: string, detail: Record<string, unknown>, guard = ''): Promise<boolean> {
    const { rowCount } = await this.options.pool.query(`UPDATE plugin_rollouts SET ${set}, updated_at = now() WHERE id = $1 AND state = $2 ${guard}`, [
      id,
      from,
    ]);
    if (rowCount) await event(this.options.pool, null, kind, 'hub', { ...detail, rollout: id });
    return !!rowCount;
  }

  /** The first stage's gateways, from the request's list or its group. */
  private async firstStage(request: AssignRequest): Promise<string[]> {
    if ((request.gateways === undefined) === (request.group === undefined))
      throw new PluginRolloutError('name the first stage: gateways or a group (one of the two)');
    let gateways: string[];
    if (request.group !== undefined) {
      const { rows } = await this.options.pool.query<{ gateway: string }>('SELECT gateway FROM plugin_groups WHERE name = $1 ORDER BY gateway', [
        request.group,
      ]);
      if (!rows.length) throw new PluginRolloutError(`group ${JSON.stringify(request.group)} has no gateways (citypilot hub plugin group NAME GATEWAY…)`);
      gateways = rows.map((r) => r.gateway);
    } else gateways = [...new Set(request.gateways)];
    if (!gateways.length) throw new PluginRolloutError('the first stage has no gateways');
    if (gateways.length > MAX_GATEWAYS) throw new PluginRolloutError(`at most ${MAX_GATEWAYS} gateways per rollout`);
    const bad = gateways.find((g) => !new RegExp(ID_PATTERN).test(g));
    if (bad !== undefined) throw new PluginRolloutError(`gateway ${JSON.stringify(bad.slice(0, 100))}: expected an id of lowercase letters, digits, - and _`);
    return gateways;
  }

  /** What each gateway has of `plugin` before the rollout assigns it. */
  private async baselines(plugin: string, gateways: readonly string[], known?: Map<string, GatewayView>): Promise<Record<string, Baseline>> {
    const fleet = known ?? (await this.fleet(new Map(), gateways));
    const assigned = await this.options.assignments.versions(plugin, gateways);
    const published = await this.options.pool.query<{ version: string }>('SELECT version FROM plugin_packages WHERE id = $1', [plugin]);
    const versions = new Set(published.rows.map((r) => r.version));
    const result: Record<string, Baseline> = {};
    for (const gateway of gateways) {
      const report = fleet.get(gateway)?.report;
      const running = report?.plugins.find((p) => p.id === plugin && p.source === 'installed')?.version;
      // What it runs can be given back only if it is a published package (not a builtin).
      const previous = running !== undefined && versions.has(running) ? running : (assigned.get(gateway) ?? null);
      result[gateway] = {
        previous,
        failing: report?.devices.byPlugin[plugin]?.failing ?? 0,
        install: report?.installs.find((i) => i.id === plugin)?.at ?? null,
      };
    }
    return result;
  }

  /** The fleet's gateways (or only `only`) with their latest report, `fresh` ones first. */
  private async fleet(fresh: Map<string, InventoryReport>, only?: readonly string[]): Promise<Map<string, GatewayView>> {
    const { rows } = await this.options.pool.query<{ id: string; state: 'online' | 'silent'; report: InventoryReport | null }>(
      `SELECT id, state, report FROM fleet_gateways ${only ? 'WHERE id = ANY($1)' : ''} ORDER BY id`,
      only ? [only] : [],
    );
    // A stored report that is not one (another version of the hub wrote it) counts as none.
    const fleet = new Map<string, GatewayView>(rows.map((r) => [r.id, { state: r.state, report: reportCheck.Check(r.report) ? r.report : null }]));
    for (const [gateway, report] of fresh) if (!only || only.includes(gateway)) fleet.set(gateway, { state: 'online', report });
    return fleet;
  }
}

/**
 * Sets group `name`'s gateways (the ones it had are replaced), as one event.
 * @throws PluginRolloutError when a name is not an id
 */
export async function setPluginGroup(pool: pg.Pool, name: string, gateways: readonly string[], actor: string): Promise<void> {
  for (const id of [name, ...gateways])
    if (!new RegExp(ID_PATTERN).test(id))
      throw new PluginRolloutError(`${JSON.stringify(id.slice(0, 100))}: expected an id of lowercase letters, digits, - and _`);
  const members = [...new Set(gateways)];
  if (!members.length || members.length > MAX_GATEWAYS) throw new PluginRolloutError(`a group has from 1 to ${MAX_GATEWAYS} gateways`);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('DELETE FROM plugin_groups WHERE name = $1', [name]);
    await client.query('INSERT INTO plugin_groups (name, gateway) SELECT $1, unnest($2::text[])', [name, members]);
    await event(client, null, 'plugin-group-set', actor, { group: name, gateways: members });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The newest rollouts first. */
export async function listRollouts(pool: pg.Pool, limit = 50): Promise<RolloutInfo[]> {
  const { rows } = await pool.query<RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM plugin_rollouts ORDER BY id DESC LIMIT $1`, [limit]);
  return rows.map(rolloutOf);
}

function rolloutOf(r: RolloutRow): RolloutInfo {
  return {
    id: Number(r.id),
    plugin: r.plugin,
    version: r.version,
    state: r.state,
    canary: r.canary,
    promoteAfterS: r.promote_after_s,
    healthySince: r.healthy_since?.toISOString() ?? null,
    startedAt: r.started_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    startedBy: r.started_by,
    reason: r.reason,
  };
}

async function event(client: pg.ClientBase | pg.Pool, gateway: string | null, kind: string, actor: string, detail: Record<string, unknown>): Promise<void> {
  await client.query('INSERT INTO fleet_events (gateway, kind, actor, detail) VALUES ($1, $2, $3, $4)', [gateway, kind, actor, JSON.stringify(detail)]);
}
