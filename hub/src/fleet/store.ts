/**
 * The fleet's tables (migration 17): `fleet_gateways`, each gateway's latest inventory report and
 * whether it reports on time, and `fleet_events`, the fleet's history and audit. Written by the
 * inventory intake (fleet.ts), the configuration routes (routes.ts) and the plugin rollouts
 * (hub/src/plugins/), read by the API.
 */
import type pg from 'pg';
import { MISSED_REPORTS_BEFORE_SILENT, type InventoryReport } from '@citypilot/wire';

/** Something that runs queries: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** One entry of the fleet's history. */
export interface FleetEvent {
  /** Null for an event of the whole fleet (a plugin published). */
  gateway: string | null;
  /**
   * What happened, such as `first-seen`, `silent`, `online`, `config-running`, `config-refused`,
   * `config-pushed`, `plugin-installed`, `plugin-refused`, `plugin-failed` (the plugin rollouts add theirs).
   */
  kind: string;
  /** `gateway:<id>`, `hub` (automatic), the token's or person's name, or `cli:<os user>`. */
  actor: string;
  /** Anything that explains it, as JSON; bounded by its writer. */
  detail?: Record<string, unknown>;
}

/** An event as read back, newest first. */
export interface FleetHistoryEntry {
  at: string;
  kind: string;
  actor: string;
  detail: Record<string, unknown>;
}

/** A gateway's row, as the API builds its FleetGateway from it. */
export interface FleetGatewayRow {
  id: string;
  state: 'online' | 'silent';
  stateSince: string;
  firstSeen: string;
  lastSeen: string;
  reportIntervalS: number;
  report: InventoryReport;
}

/** Appends events to the fleet's history (in one statement; nothing when `events` is empty). */
export async function recordFleetEvents(db: Queryable, events: readonly FleetEvent[]): Promise<void> {
  if (!events.length) return;
  await db.query(
    `INSERT INTO fleet_events (gateway, kind, actor, detail)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])`,
    [events.map((e) => e.gateway), events.map((e) => e.kind), events.map((e) => e.actor), events.map((e) => JSON.stringify(e.detail ?? {}))],
  );
}

/**
 * The gateways' states and reports before an intake changes them, their rows locked (in id order,
 * the same for every hub) until the transaction ends; gateways first seen are absent.
 */
export async function lockGateways(
  client: pg.PoolClient,
  ids: readonly string[],
): Promise<Map<string, { state: 'online' | 'silent'; report: InventoryReport }>> {
  const { rows } = await client.query<{ id: string; state: 'online' | 'silent'; report: InventoryReport }>(
    'SELECT id, state, report FROM fleet_gateways WHERE id = ANY($1) ORDER BY id FOR UPDATE',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, { state: r.state, report: r.report }]));
}

/**
 * Stores each report as its gateway's latest, received now: online, seen now; one statement for
 * them all (one report per gateway). Resolves with when, per gateway (ISO 8601).
 */
export async function upsertReports(client: pg.PoolClient, entries: readonly { gateway: string; report: InventoryReport }[]): Promise<Map<string, string>> {
  const { rows } = await client.query<{ id: string; last_seen: Date }>(
    `INSERT INTO fleet_gateways (id, state, state_since, first_seen, last_seen, report_interval_s, report)
     SELECT id, 'online', now(), now(), now(), interval_s, report
       FROM unnest($1::text[], $2::real[], $3::jsonb[]) AS r(id, interval_s, report)
     ON CONFLICT (id) DO UPDATE SET
       state_since = CASE WHEN fleet_gateways.state = 'online' THEN fleet_gateways.state_since ELSE now() END,
       state = 'online', last_seen = now(), report_interval_s = EXCLUDED.report_interval_s, report = EXCLUDED.report
     RETURNING id, last_seen`,
    [entries.map((e) => e.gateway), entries.map((e) => e.report.reportIntervalS), entries.map((e) => JSON.stringify(e.report))],
  );
  return new Map(rows.map((r) => [r.id, r.last_seen.toISOString()]));
}

/**
 * Marks silent every online gateway not heard for MISSED_REPORTS_BEFORE_SILENT of its report
 * intervals, and records the event, in one statement: of several hubs checking at once, one
 * only marks (and so alerts) each gateway; a report being stored meanwhile holds its row, and the
 * gateway, seen again, is left online.
 */
export async function markSilent(db: Queryable): Promise<{ id: string; lastSeen: string; at: string }[]> {
  const { rows } = await db.query<{ id: string; last_seen: Date; at: Date }>(
    `WITH silenced AS (
       UPDATE fleet_gateways SET state = 'silent', state_since = now()
        WHERE state = 'online' AND last_seen < now() - make_interval(secs => report_interval_s * $1)
       RETURNING id, last_seen, report_interval_s
     ), recorded AS (
       INSERT INTO fleet_events (gateway, kind, actor, detail)
       SELECT id, 'silent', 'hub', jsonb_build_object('lastSeen', last_seen, 'reportIntervalS', report_interval_s, 'missedReports', $1::int) FROM silenced
     )
     SELECT id, last_seen, now() AS at FROM silenced ORDER BY id`,
    [MISSED_REPORTS_BEFORE_SILENT],
  );
  return rows.map((r) => ({ id: r.id, lastSeen: r.last_seen.toISOString(), at: r.at.toISOString() }));
}

/** How many gateways are in each state. */
export async function countByState(db: Queryable): Promise<Record<'online' | 'silent', number>> {
  const { rows } = await db.query<{ state: 'online' | 'silent'; n: number }>('SELECT state, count(*)::int AS n FROM fleet_gateways GROUP BY state');
  const counts = { online: 0, silent: 0 };
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}

const GATEWAY_COLUMNS = `id, state, state_since AS "stateSince", first_seen AS "firstSeen", last_seen AS "lastSeen",
  report_interval_s AS "reportIntervalS", report`;

interface RawRow extends Omit<FleetGatewayRow, 'stateSince' | 'firstSeen' | 'lastSeen'> {
  stateSince: Date;
  firstSeen: Date;
  lastSeen: Date;
}

function fromRaw(r: RawRow): FleetGatewayRow {
  return { ...r, stateSince: r.stateSince.toISOString(), firstSeen: r.firstSeen.toISOString(), lastSeen: r.lastSeen.toISOString() };
}

/** Every gateway of the fleet, by id. */
export async function listFleetGateways(db: Queryable): Promise<FleetGatewayRow[]> {
  const { rows } = await db.query<RawRow>(`SELECT ${GATEWAY_COLUMNS} FROM fleet_gateways ORDER BY id`);
  return rows.map(fromRaw);
}

/** One gateway, or undefined when the fleet has never heard of it. */
export async function getFleetGateway(db: Queryable, id: string): Promise<FleetGatewayRow | undefined> {
  const { rows } = await db.query<RawRow>(`SELECT ${GATEWAY_COLUMNS} FROM fleet_gateways WHERE id = $1`, [id]);
  return rows[0] && fromRaw(rows[0]);
}

/** A gateway's latest `limit` events, newest first. */
export async function fleetHistory(db: Queryable, gateway: string, limit = 100): Promise<FleetHistoryEntry[]> {
  const { rows } = await db.query<{ at: Date; kind: string; actor: string; detail: Record<string, unknown> }>(
    'SELECT at, kind, actor, detail FROM fleet_events WHERE gateway = $1 ORDER BY at DESC, id DESC LIMIT $2',
    [gateway, limit],
  );
  return rows.map((r) => ({ at: r.at.toISOString(), kind: r.kind, actor: r.actor, detail: r.detail }));
}

/** An event of the whole fleet's journal, as read back. */
export interface FleetJournalEntry {
  /** The row's id: increasing with each event recorded, the journal's order and paging key. */
  id: number;
  at: string;
  /** Null for an event of the whole fleet (a package published, a rollout promoted…). */
  gateway: string | null;
  kind: string;
  actor: string;
  detail: Record<string, unknown>;
}

/**
 * The fleet's journal, newest (highest id) first: at most `limit` events with an id below `before`
 * (all when absent), of one gateway and of one kind when given. `more` says whether older events
 * match: the next page is the same query with `before` the last id returned.
 */
export async function fleetJournal(
  db: Queryable,
  query: { limit: number; before?: number; gateway?: string; kind?: string },
): Promise<{ events: FleetJournalEntry[]; more: boolean }> {
  const { rows } = await db.query<{ id: string; at: Date; gateway: string | null; kind: string; actor: string; detail: Record<string, unknown> }>(
    `SELECT id, at, gateway, kind, actor, detail FROM fleet_events
      WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR gateway = $2) AND ($3::text IS NULL OR kind = $3)
      ORDER BY id DESC LIMIT $4`,
    [query.before ?? null, query.gateway ?? null, query.kind ?? null, query.limit + 1],
  );
  return {
    events: rows
      .slice(0, query.limit)
      .map((r) => ({ id: Number(r.id), at: r.at.toISOString(), gateway: r.gateway, kind: r.kind, actor: r.actor, detail: r.detail })),
    more: rows.length > query.limit,
  };
}
