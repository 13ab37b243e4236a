/**
 * The shapes of the utility connectors, their delivery points and their runs, as the API and the
 * dashboard read them, and how their rows in the database become these shapes.
 * `connectors.ts` keeps and collects them.
 */
import { CityPilotError } from '@citypilot/sdk';
import type { ConsumptionReading, PowerReading } from './readings.js';
import type { DeliveryPoint, WriteCounts } from './store.js';

/** What a connector's client must do: the utility's API, read in local days (`to` excluded). */
export interface UtilityApiClient {
  dailyConsumption(id: string, fromDay: string, toDay: string): Promise<ConsumptionReading[]>;
  loadCurve?(id: string, fromDay: string, toDay: string): Promise<PowerReading[]>;
  /**
   * The most days one call may ask. A run asks window by window and stores each window's
   * readings before the next, so that a long catch-up that fails midway keeps what it got.
   */
  windowDays: { daily: number; loadCurve: number };
  /**
   * The first day the utility still gives on `today` (it keeps a few years): a run never asks
   * earlier (a delivery point whose first day is older would otherwise fail every run). Days
   * older than that stay missing unless a file brings them.
   */
  earliestDay(series: 'daily' | 'loadCurve', today: string): string;
}

export type ConnectorKind = 'enedis' | 'grdf';

/** A connector's settings, as the API takes them (the secret is never given back). */
export interface ConnectorSettings {
  kind: ConnectorKind;
  name: string;
  baseUrl: string;
  /**
   * The utility's consent page for customers, when not under baseUrl (Enedis:
   * https://mon-compte-particulier.enedis.fr); null: none. Left out when saving: the stored one is kept.
   */
  authorizeUrl?: string | null;
  clientId: string;
  enabled: boolean;
  collectHour: number;
  lookbackDays: number;
}

/** What builds a client for a connector; the hub passes the real utilities' clients. */
export type ClientFactory = (connector: ConnectorSettings & { key: string; clientSecret: string; timezone: string }) => UtilityApiClient;

export interface DeliveryPointSettings extends DeliveryPoint {
  connector: string | null;
  loadCurve: boolean;
  /** First local day to collect, `YYYY-MM-DD`. */
  since: string;
  consentUntil: string | null;
}

export interface DeliveryPointState extends DeliveryPointSettings {
  /** Latest local day with a reading, or null. */
  lastDay: string | null;
  /** Days from `since` to yesterday without a reading. */
  daysMissing: number;
  lastError: string | null;
  /** The source id its samples are stored under (the dashboard's point pages). */
  source: string;
}

export interface RunSummary extends WriteCounts {
  id: number;
  connector: string | null;
  via: 'api' | 'csv';
  format: string | null;
  fileName: string | null;
  submittedBy: string;
  startedAt: string;
  finishedAt: string | null;
  ok: boolean | null;
  errors: { deliveryPoint?: string; row?: number; column?: string; message: string }[];
  errorCount: number;
  daysMissing: number | null;
}

export interface ConnectorState extends ConnectorSettings {
  key: string;
  /** Whether a secret is stored (it is never shown). */
  hasSecret: boolean;
  running: boolean;
  lastRun: RunSummary | null;
  nextRun: string | null;
  daysMissing: number;
  deliveryPoints: DeliveryPointState[];
}

export class UtilityError extends CityPilotError {
  constructor(
    code: 'UTILITY_NOT_FOUND' | 'UTILITY_INVALID' | 'SECRET_KEY_MISSING' | 'UTILITY_RUNNING',
    message: string,
    readonly statusCode = code === 'UTILITY_NOT_FOUND' ? 404 : code === 'UTILITY_RUNNING' ? 409 : 400,
  ) {
    super(code, message);
  }
}

/** A `utility_connectors` row's settings. */
export function settingsOf(row: Record<string, unknown>): ConnectorSettings {
  return {
    kind: row.kind as ConnectorKind,
    name: row.name as string,
    baseUrl: row.base_url as string,
    authorizeUrl: (row.authorize_url as string | null) ?? null,
    clientId: row.client_id as string,
    enabled: row.enabled as boolean,
    collectHour: row.collect_hour as number,
    lookbackDays: row.lookback_days as number,
  };
}

/** A `utility_runs` row. */
export function runOf(r: Record<string, unknown>): RunSummary {
  return {
    id: Number(r.id),
    connector: r.connector_key as string | null,
    via: r.via as 'api' | 'csv',
    format: r.format as string | null,
    fileName: r.file_name as string | null,
    submittedBy: r.submitted_by as string,
    startedAt: (r.started_at as Date).toISOString(),
    finishedAt: (r.finished_at as Date | null)?.toISOString() ?? null,
    ok: r.ok as boolean | null,
    readings: Number(r.readings),
    inserted: Number(r.inserted),
    corrected: Number(r.corrected),
    unchanged: Number(r.unchanged),
    errors: r.errors as RunSummary['errors'],
    errorCount: r.error_count as number,
    daysMissing: r.days_missing as number | null,
  };
}
