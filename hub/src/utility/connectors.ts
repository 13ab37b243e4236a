/**
 * The city's utility connectors and their delivery points: configured by operators (API and
 * dashboard), collected on a schedule with catch-up, and their state for the operators' page.
 *
 * Each connector collects once a day at its local hour (utilities publish yesterday's data in
 * the morning). A run asks, for each of its delivery points, every day since the point's `since`
 * that has no reading yet (a missed run, an outage of the hub or of the utility, a day the
 * utility had not published: all caught up at the next run) and the last `lookback` days again
 * (utilities correct readings after the fact: a changed reading replaces the stored one, its
 * previous version kept). A run that failed is tried again an hour later; days a utility has not
 * published yet (a late day, the month in progress of a meter read monthly) wait for the next day's run.
 */
import type pg from 'pg';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '@citypilot/sdk';
import { planDayWindows } from './api/http-client.js';
import { addConsentDuration, consentUrl, ENEDIS_PATHS, parseConsentDuration } from './enedis/index.js';
import { addDays, dayStart, daysBetween, localDay, localToEpoch } from './local-time.js';
import {
  runOf,
  settingsOf,
  UtilityError,
  type ClientFactory,
  type ConnectorSettings,
  type ConnectorState,
  type DeliveryPointSettings,
  type DeliveryPointState,
  type RunSummary,
  type UtilityApiClient,
} from './connector-types.js';
import { SecretBox } from './secrets.js';
import { periodEnd, utilityGatewayId, type DeliveryPoint, type Utility, type UtilityStore, type WriteCounts } from './store.js';

/** Ranges of days to ask closer than this are asked as one (a few days more rather than many calls). */
const MERGE_GAP_DAYS = 7;
/** How long a connector's lease holds without renewal: longer than one window's calls with their retries. */
const LEASE_MS = 10 * 60_000;
/** After a failed run: tried again this much later (if before the daily hour). */
const RETRY_MS = 60 * 60_000;

export interface UtilityConnectorsOptions {
  pool: pg.Pool;
  store: UtilityStore;
  timezone: string;
  logger: Logger;
  clients: ClientFactory;
  /** The hub's secret key; without one, secrets cannot be saved. */
  secrets?: SecretBox;
  now?: () => number;
  /** How often due connectors are looked for (ms). Default one minute. */
  checkEveryMs?: number;
  /** Called after a run or an import that stored or changed readings. */
  onCollected?: () => void;
}

export class UtilityConnectors {
  private readonly now: () => number;
  private readonly running = new Map<string, Promise<RunSummary>>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(private readonly options: UtilityConnectorsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts collecting on schedule: due connectors are run now, then checked every minute. */
  start(): void {
    const tick = () => {
      this.checking = this.runDue().catch((error: Error) => this.options.logger.warn({ err: error.message }, 'utility connectors: schedule check failed'));
    };
    tick();
    this.timer = setInterval(tick, this.options.checkEveryMs ?? 60_000);
    this.timer.unref();
  }

  /** Set by stop(): runs end after the window they are reading (the rest is caught up at the next start). */
  private stopping = false;

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.checking;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Runs every enabled connector whose next run is due. */
  async runDue(): Promise<void> {
    // Each minute: the connectors' settings and last runs only, not their delivery points' days.
    const { rows } = await this.options.pool.query(`SELECT * FROM utility_connectors WHERE enabled ORDER BY key`);
    for (const row of rows) {
      const key = row.key as string;
      const [lastRun] = await this.runs(key, 1);
      const elsewhere = row.lease_until instanceof Date && row.lease_until.getTime() > Date.now();
      if (this.running.has(key) || elsewhere || this.nextRun(row.collect_hour as number, lastRun) > this.now()) continue;
      await this.run(key, 'schedule').catch((error: Error) => this.options.logger.warn({ connector: key, err: error.message }, 'utility collection failed'));
    }
  }

  async list(): Promise<ConnectorState[]> {
    const { rows } = await this.options.pool.query(`SELECT * FROM utility_connectors ORDER BY key`);
    const points = await this.deliveryPoints();
    return Promise.all(rows.map((r) => this.stateOf(r, points)));
  }

  async get(key: string): Promise<ConnectorState> {
    const { rows } = await this.options.pool.query(`SELECT * FROM utility_connectors WHERE key = $1`, [key]);
    if (!rows[0]) throw new UtilityError('UTILITY_NOT_FOUND', `no utility connector ${key}`);
    return this.stateOf(rows[0], await this.deliveryPoints(key));
  }

  /** Creates or updates a connector; `clientSecret` replaces the stored one when given. */
  async save(key: string, settings: ConnectorSettings, clientSecret: string | undefined): Promise<ConnectorState> {
    let sealed: Buffer | null = null;
    if (clientSecret !== undefined) {
      if (!this.options.secrets) {
        throw new UtilityError(
          'SECRET_KEY_MISSING',
          'this hub has no secret key to store connector secrets with: set CITYPILOT_SECRET_KEY (openssl rand -base64 32) and restart it',
        );
      }
      sealed = this.options.secrets.seal(clientSecret, `utility connector ${key}`);
    }
    // A connector's delivery points are of its utility: it cannot become another utility's under them.
    const { rows: others } = await this.options.pool.query<{ id: string }>(
      `SELECT id FROM utility_delivery_points WHERE connector_key = $1 AND utility <> $2 LIMIT 1`,
      [key, settings.kind],
    );
    if (others[0]) {
      throw new UtilityError(
        'UTILITY_INVALID',
        `kind: connector ${key} collects delivery points of another utility (${others[0].id}): link them elsewhere first`,
      );
    }
    await this.options.pool.query(
      `INSERT INTO utility_connectors (key, kind, name, base_url, client_id, client_secret, enabled, collect_hour, lookback_days, authorize_url)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, name = excluded.name, base_url = excluded.base_url, client_id = excluded.client_id,
         authorize_url = CASE WHEN $11 THEN excluded.authorize_url ELSE utility_connectors.authorize_url END,
         client_secret = COALESCE(excluded.client_secret, utility_connectors.client_secret), enabled = excluded.enabled,
         collect_hour = excluded.collect_hour, lookback_days = excluded.lookback_days, updated_at = now()`,
      [
        key,
        settings.kind,
        settings.name,
        settings.baseUrl,
        settings.clientId,
        sealed,
        settings.enabled,
        settings.collectHour,
        settings.lookbackDays,
        settings.authorizeUrl ?? null,
        settings.authorizeUrl !== undefined,
      ],
    );
    return this.get(key);
  }

  async remove(key: string): Promise<void> {
    const { rowCount } = await this.options.pool.query(`DELETE FROM utility_connectors WHERE key = $1`, [key]);
    if (!rowCount) throw new UtilityError('UTILITY_NOT_FOUND', `no utility connector ${key}`);
  }

  /** Creates or updates a delivery point (its readings stay when it moves to another connector). */
  async saveDeliveryPoint(point: DeliveryPointSettings): Promise<DeliveryPointState> {
    const { rows } = await this.options.pool.query<{ kind: string }>(`SELECT kind FROM utility_connectors WHERE key = $1`, [point.connector]);
    if (point.connector !== null && !rows[0]) throw new UtilityError('UTILITY_INVALID', `connector: no utility connector ${point.connector}`);
    if (rows[0] && rows[0].kind !== point.utility) {
      throw new UtilityError('UTILITY_INVALID', `connector: ${point.connector} reads ${rows[0].kind}, not ${point.utility} delivery points`);
    }
    const building = await this.options.pool.query(`SELECT 1 FROM buildings WHERE key = $1`, [point.building]);
    if (!building.rowCount) throw new UtilityError('UTILITY_INVALID', `building: the catalog has no building ${point.building}`);
    const existing = await this.options.pool.query<{ energy: string }>(`SELECT energy FROM utility_delivery_points WHERE utility = $1 AND id = $2`, [
      point.utility,
      point.id,
    ]);
    if (existing.rows[0] && existing.rows[0].energy !== point.energy) {
      throw new UtilityError(
        'UTILITY_INVALID',
        `energy: delivery point ${point.id} measures ${existing.rows[0].energy}; its readings cannot become ${point.energy}`,
      );
    }
    await this.options.pool.query(
      `INSERT INTO utility_delivery_points (utility, id, energy, building_key, connector_key, load_curve, since, consent_until)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (utility, id) DO UPDATE SET building_key = excluded.building_key, connector_key = excluded.connector_key,
         load_curve = excluded.load_curve, since = excluded.since, consent_until = COALESCE(excluded.consent_until, utility_delivery_points.consent_until)`,
      [point.utility, point.id, point.energy, point.building, point.connector, point.loadCurve, point.since, point.consentUntil],
    );
    // Registered now, so that its building's page shows the meter before its first reading.
    await this.options.store.register(point);
    await this.options.pool.query(`UPDATE gateways SET building_key = $2 WHERE id = $1`, [utilityGatewayId(point), point.building]);
    return (await this.deliveryPoints()).find((p) => p.utility === point.utility && p.id === point.id)!;
  }

  async removeDeliveryPoint(utility: Utility, id: string): Promise<void> {
    const { rowCount } = await this.options.pool.query(`DELETE FROM utility_delivery_points WHERE utility = $1 AND id = $2`, [utility, id]);
    if (!rowCount) throw new UtilityError('UTILITY_NOT_FOUND', `no ${utility} delivery point ${id}`);
  }

  /**
   * The address of the utility's consent page for the customer of delivery point `id` (a
   * building's account holder: often the city itself), asking for `duration` (ISO 8601, such as
   * P1Y), and the state the callback will find again (valid an hour, used once).
   */
  async askConsent(key: string, id: string, duration: string, redirectUri: string, askedBy: string): Promise<{ url: string; expiresAt: string }> {
    const connector = await this.get(key);
    if (connector.kind !== 'enedis')
      throw new UtilityError('UTILITY_INVALID', `${connector.kind} connectors take the customers' access rights on the utility's own site`);
    if (!connector.deliveryPoints.some((p) => p.id === id))
      throw new UtilityError('UTILITY_INVALID', `deliveryPoint: ${id} is not a delivery point of connector ${key}`);
    if (!parseConsentDuration(duration))
      throw new UtilityError(
        'UTILITY_INVALID',
        `duration: expected an ISO 8601 period of at most 3 years (P1Y, P6M), found ${JSON.stringify(duration.slice(0, 20))}`,
      );
    const state = randomBytes(24).toString('base64url');
    const expiresAt = new Date(this.now() + 3_600_000);
    await this.options.pool.query(
      `INSERT INTO utility_consents (state, connector_key, delivery_point, duration, asked_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [state, key, id, duration, askedBy, expiresAt],
    );
    await this.options.pool.query(`DELETE FROM utility_consents WHERE expires_at < $1`, [new Date(this.now())]);
    const authorizeUrl = new URL(ENEDIS_PATHS.authorize.slice(1), `${(connector.authorizeUrl ?? connector.baseUrl).replace(/\/+$/, '')}/`).toString();
    return { url: consentUrl({ authorizeUrl, clientId: connector.clientId, state, redirectUri, duration }), expiresAt: expiresAt.toISOString() };
  }

  /**
   * The utility's consent page sent the customer back: the consent asked with `state` was given
   * for `usagePoint` (Enedis names the delivery point the customer chose). Records it until the
   * end of its duration; says what went wrong otherwise.
   */
  async consentGiven(state: string, usagePoint: string | undefined): Promise<{ deliveryPoint: string; until: string }> {
    const { rows } = await this.options.pool.query<{ connector_key: string; delivery_point: string; duration: string }>(
      `DELETE FROM utility_consents WHERE state = $1 AND expires_at >= $2 RETURNING connector_key, delivery_point, duration`,
      [state, new Date(this.now())],
    );
    const asked = rows[0];
    if (!asked)
      throw new UtilityError('UTILITY_INVALID', 'this consent link was not asked by this hub, was used already, or is more than an hour old: ask for it again');
    if (usagePoint !== undefined && usagePoint !== asked.delivery_point) {
      throw new UtilityError(
        'UTILITY_INVALID',
        `the customer consented for ${usagePoint}, not for ${asked.delivery_point} as asked: ask again and choose ${asked.delivery_point}`,
      );
    }
    const until = addConsentDuration(localDay(this.now(), this.options.timezone), parseConsentDuration(asked.duration)!);
    const connector = await this.get(asked.connector_key);
    await this.recordConsent(connector.kind, asked.delivery_point, until);
    return { deliveryPoint: asked.delivery_point, until };
  }

  /** Records a customer's consent for a delivery point, until `until` (local day). */
  async recordConsent(utility: Utility, id: string, until: string): Promise<void> {
    const { rowCount } = await this.options.pool.query(`UPDATE utility_delivery_points SET consent_until = $3 WHERE utility = $1 AND id = $2`, [
      utility,
      id,
      until,
    ]);
    if (!rowCount) throw new UtilityError('UTILITY_NOT_FOUND', `no ${utility} delivery point ${id}`);
  }

  /** Every delivery point with its state (those of `connector` only, when given). */
  async deliveryPoints(connector?: string): Promise<DeliveryPointState[]> {
    const timezone = this.options.timezone;
    const today = localDay(this.now(), timezone);
    const { rows } = await this.options.pool.query(
      `SELECT d.*, to_char(d.since, 'YYYY-MM-DD') AS since_day, to_char(d.consent_until, 'YYYY-MM-DD') AS consent_day
         FROM utility_delivery_points d WHERE $1::text IS NULL OR d.connector_key = $1 ORDER BY d.building_key, d.utility, d.id`,
      [connector ?? null],
    );
    const states: DeliveryPointState[] = [];
    for (const r of rows) {
      const point = { utility: r.utility as Utility, id: r.id as string };
      // A day is missing when its consumption is not stored (one sample at its start).
      const stored = await this.daysWithReadings(point, 'consumption', r.since_day, today);
      const days = daysBetween(r.since_day, today);
      states.push({
        utility: point.utility,
        id: point.id,
        energy: r.energy,
        building: r.building_key,
        connector: r.connector_key,
        loadCurve: r.load_curve,
        since: r.since_day,
        consentUntil: r.consent_day,
        lastDay: days.findLast((d) => stored.has(d)) ?? null,
        daysMissing: days.filter((d) => !stored.has(d)).length,
        lastError: r.last_error,
        source: utilityGatewayId(point),
      });
    }
    return states;
  }

  /**
   * The local days of [from, to) with a sample of the delivery point's `series`. One query per
   * series with the point's id bound, so that the database reads only the months of the range
   * (a join on the point per day reads every month's partition for every day: seconds).
   */
  private async daysWithReadings(
    point: Pick<DeliveryPoint, 'utility' | 'id'>,
    series: 'consumption' | 'power',
    from: string,
    to: string,
  ): Promise<Set<string>> {
    if (from >= to) return new Set();
    const { rows: ids } = await this.options.pool.query<{ id: string }>(`SELECT id FROM points WHERE gateway_id = $1 AND point_key = $2`, [
      utilityGatewayId(point),
      series,
    ]);
    if (!ids[0]) return new Set();
    const { timezone } = this.options;
    if (series === 'power') {
      const { rows } = await this.options.pool.query<{ day: string }>(
        `SELECT DISTINCT to_char(time AT TIME ZONE $4, 'YYYY-MM-DD') AS day FROM samples WHERE point_id = $1 AND time >= $2 AND time < $3`,
        [Number(ids[0].id), new Date(dayStart(from, timezone)), new Date(dayStart(to, timezone)), timezone],
      );
      return new Set(rows.map((r) => r.day));
    }
    // A consumption covers its day, or the days to its end when longer (a month of a meter read
    // monthly: `until …` in its reason, store.ts); one may start up to a year before `from`.
    const { rows } = await this.options.pool.query<{ t: Date; reason: string | null }>(
      `SELECT time AS t, reason FROM samples WHERE point_id = $1 AND time >= $2 AND time < $3`,
      [Number(ids[0].id), new Date(dayStart(addDays(from, -366), timezone)), new Date(dayStart(to, timezone))],
    );
    const days = new Set<string>();
    for (const r of rows) {
      const first = localDay(r.t.getTime(), timezone);
      const end = localDay(periodEnd(r.t.getTime(), r.reason, timezone), timezone);
      for (let d = first > from ? first : from; d < end && d < to; d = addDays(d, 1)) days.add(d);
    }
    return days;
  }

  /** The runs of a connector (or of imports, with null), newest first. */
  async runs(connector: string | null, limit = 20): Promise<RunSummary[]> {
    const { rows } = await this.options.pool.query(
      `SELECT * FROM utility_runs WHERE connector_key IS NOT DISTINCT FROM $1 ORDER BY started_at DESC, id DESC LIMIT $2`,
      [connector, limit],
    );
    return rows.map(runOf);
  }

  /** Begins a run (a collection or an import) and returns its id. */
  async beginRun(run: {
    connector: string | null;
    via: 'api' | 'csv';
    format?: string;
    fileName?: string;
    fileSha256?: string;
    submittedBy: string;
  }): Promise<number> {
    const { rows } = await this.options.pool.query<{ id: string }>(
      `INSERT INTO utility_runs (connector_key, via, format, file_name, file_sha256, submitted_by, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [run.connector, run.via, run.format ?? null, run.fileName ?? null, run.fileSha256 ?? null, run.submittedBy, new Date(this.now())],
    );
    return Number(rows[0]!.id);
  }

  async finishRun(
    id: number,
    outcome: WriteCounts & { ok: boolean; errors: RunSummary['errors']; errorCount: number; daysMissing?: number },
  ): Promise<RunSummary> {
    const { rows } = await this.options.pool.query(
      `UPDATE utility_runs SET finished_at = greatest(started_at, $10), ok = $2, readings = $3, inserted = $4, corrected = $5, unchanged = $6, errors = $7, error_count = $8, days_missing = $9
        WHERE id = $1 RETURNING *`,
      [
        id,
        outcome.ok,
        outcome.readings,
        outcome.inserted,
        outcome.corrected,
        outcome.unchanged,
        JSON.stringify(outcome.errors),
        outcome.errorCount,
        outcome.daysMissing ?? null,
        new Date(this.now()),
      ],
    );
    return runOf(rows[0]);
  }

  /** Collects a connector now (`by`: who asked, or `schedule`); refused while it is running. */
  run(key: string, by: string): Promise<RunSummary> {
    if (this.running.has(key)) return Promise.reject(new UtilityError('UTILITY_RUNNING', `utility connector ${key} is collecting already`));
    const run = this.collect(key, by).finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }

  /** This process, as connectors' leases name it. */
  private readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  /**
   * Takes the connector's lease for LEASE_MS (or renews it): false when another hub holds it. A
   * hub that dies leaves it to expire.
   */
  private async lease(key: string): Promise<boolean> {
    const { rowCount } = await this.options.pool.query(
      `UPDATE utility_connectors SET lease_holder = $2, lease_until = $3
        WHERE key = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until < now())`,
      [key, this.holder, new Date(Date.now() + LEASE_MS)],
    );
    return (rowCount ?? 0) > 0;
  }

  private async collect(key: string, by: string): Promise<RunSummary> {
    const { rows } = await this.options.pool.query(`SELECT * FROM utility_connectors WHERE key = $1`, [key]);
    const row = rows[0];
    if (!row) throw new UtilityError('UTILITY_NOT_FOUND', `no utility connector ${key}`);
    if (!(await this.lease(key))) throw new UtilityError('UTILITY_RUNNING', `utility connector ${key} is being collected by another hub`);
    try {
      return await this.collectLeased(key, by, row);
    } finally {
      await this.options.pool.query(`UPDATE utility_connectors SET lease_holder = NULL, lease_until = NULL WHERE key = $1 AND lease_holder = $2`, [
        key,
        this.holder,
      ]);
    }
  }

  private async collectLeased(key: string, by: string, row: Record<string, unknown>): Promise<RunSummary> {
    const timezone = this.options.timezone;
    const runId = await this.beginRun({ connector: key, via: 'api', submittedBy: by });
    const totals: WriteCounts = { readings: 0, inserted: 0, corrected: 0, unchanged: 0 };
    const errors: RunSummary['errors'] = [];
    let client: UtilityApiClient | undefined;
    try {
      if (!row.client_secret) throw new Error('no client secret is stored: enter it in the connector’s settings');
      if (!this.options.secrets) throw new Error('this hub has no secret key (CITYPILOT_SECRET_KEY) to open the stored client secret');
      const clientSecret = this.options.secrets.open(row.client_secret as Buffer, `utility connector ${key}`);
      client = this.options.clients({ key, ...settingsOf(row), clientSecret, timezone });
    } catch (error) {
      errors.push({ message: (error as Error).message });
    }
    const today = localDay(this.now(), timezone);
    const points = await this.deliveryPoints(key);
    for (const point of client ? points : []) {
      if (this.stopping) {
        errors.push({ deliveryPoint: point.id, message: 'not collected: the hub stopped; collected at its next run' });
        continue;
      }
      try {
        await this.collectPoint(client!, point, row.lookback_days as number, today, runId, totals);
        await this.options.pool.query(`UPDATE utility_delivery_points SET last_error = NULL WHERE utility = $1 AND id = $2`, [point.utility, point.id]);
      } catch (error) {
        const message = (error as Error).message;
        errors.push({ deliveryPoint: point.id, message });
        await this.options.pool.query(`UPDATE utility_delivery_points SET last_error = $3 WHERE utility = $1 AND id = $2`, [point.utility, point.id, message]);
        this.options.logger.warn({ connector: key, deliveryPoint: point.id, err: message }, 'utility collection failed for a delivery point');
      }
    }
    const missing = (await this.deliveryPoints(key)).reduce((n, p) => n + p.daysMissing, 0);
    const summary = await this.finishRun(runId, { ...totals, ok: errors.length === 0, errors, errorCount: errors.length, daysMissing: missing });
    if (totals.inserted || totals.corrected) this.options.onCollected?.();
    this.options.logger.info({ connector: key, ...totals, errors: errors.length, daysMissing: missing }, 'utility collection done');
    return summary;
  }

  /** One delivery point's days to ask (missing ones and the look-back), its readings stored. */
  private async collectPoint(
    client: UtilityApiClient,
    point: DeliveryPointState,
    lookback: number,
    today: string,
    run: number,
    totals: WriteCounts,
  ): Promise<void> {
    const first = maxDay(point.since, client.earliestDay('daily', today));
    const missing = await this.missingDays(point, 'consumption', first, today);
    const recent = lookback > 0 ? daysBetween(maxDay(first, addDays(today, -lookback)), today) : [];
    const going = async () => {
      if (this.stopping) throw new Error('the hub stopped during this collection: the days left are collected at its next run');
      if (!(await this.lease(point.connector!))) throw new Error('another hub took over this collection');
    };
    for (const [from, to] of windows(dayRanges([...missing, ...recent]), client.windowDays.daily)) {
      await going();
      add(totals, await this.options.store.writeConsumption(point, await client.dailyConsumption(point.id, from, to), run));
    }
    if (point.loadCurve && point.energy === 'elec' && client.loadCurve) {
      const since = maxDay(point.since, client.earliestDay('loadCurve', today));
      const missingCurve = await this.missingDays(point, 'power', since, today);
      const recentCurve = lookback > 0 ? daysBetween(maxDay(since, addDays(today, -lookback)), today) : [];
      for (const [from, to] of windows(dayRanges([...missingCurve, ...recentCurve]), client.windowDays.loadCurve)) {
        await going();
        add(totals, await this.options.store.writePower(point, await client.loadCurve(point.id, from, to), run));
      }
    }
  }

  /** Local days of [from, to) without a sample of the delivery point's `series` (consumption: at the day's start; power: in the day). */
  /** Local days of [from, to) without a sample of the delivery point's `series` (consumption: at the day's start; power: in the day). */
  private async missingDays(point: DeliveryPointState, series: 'consumption' | 'power', from: string, to: string): Promise<string[]> {
    const stored = await this.daysWithReadings(point, series, from, to);
    return daysBetween(from, to).filter((d) => !stored.has(d));
  }

  private async stateOf(row: Record<string, unknown>, points: readonly DeliveryPointState[]): Promise<ConnectorState> {
    const key = row.key as string;
    const [lastRun] = await this.runs(key, 1);
    const own = points.filter((p) => p.connector === key);
    const daysMissing = own.reduce((n, p) => n + p.daysMissing, 0);
    const settings = settingsOf(row);
    return {
      key,
      ...settings,
      hasSecret: row.client_secret !== null,
      // Here, or in another hub whose lease still holds.
      running: this.running.has(key) || (row.lease_until instanceof Date && row.lease_until.getTime() > Date.now()),
      lastRun: lastRun ?? null,
      nextRun: settings.enabled ? new Date(this.nextRun(settings.collectHour, lastRun)).toISOString() : null,
      daysMissing,
      deliveryPoints: own,
    };
  }

  /**
   * When a connector runs next: now when it never ran; the next daily hour after its last run;
   * sooner (an hour after) when that run failed.
   */
  private nextRun(collectHour: number, lastRun: RunSummary | undefined): number {
    if (!lastRun) return this.now();
    const last = Date.parse(lastRun.startedAt);
    const timezone = this.options.timezone;
    let day = localDay(last, timezone);
    let next = atHour(day, collectHour, timezone);
    while (next <= last) next = atHour((day = addDays(day, 1)), collectHour, timezone);
    return lastRun.ok === false ? Math.min(next, last + RETRY_MS) : next;
  }
}

function atHour(day: string, hour: number, timezone: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return localToEpoch({ year: y, month: m, day: d, hour }, timezone);
}

function add(totals: WriteCounts, counts: WriteCounts): void {
  totals.readings += counts.readings;
  totals.inserted += counts.inserted;
  totals.corrected += counts.corrected;
  totals.unchanged += counts.unchanged;
}

const maxDay = (a: string, b: string) => (a > b ? a : b);

/** Sorted day ranges `[from, to)` covering `days`, ranges closer than MERGE_GAP_DAYS merged. */
export function dayRanges(days: readonly string[]): [string, string][] {
  const sorted = [...new Set(days)].sort();
  const ranges: [string, string][] = [];
  for (const day of sorted) {
    const last = ranges.at(-1);
    if (last && addDays(last[1], MERGE_GAP_DAYS) > day) last[1] = addDays(day, 1);
    else ranges.push([day, addDays(day, 1)]);
  }
  return ranges;
}

/** `ranges` cut into windows of at most `days` days, as the utilities' clients ask them. */
function windows(ranges: readonly [string, string][], days: number): [string, string][] {
  return ranges.flatMap(([from, to]) => planDayWindows(from, to, days).map((w): [string, string] => [w.from, w.to]));
}
