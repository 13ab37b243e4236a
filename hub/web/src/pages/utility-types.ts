/**
 * What the hub's utility API answers (hub/src/utility/routes.ts): connectors with their state,
 * delivery points, and runs (a collection or a file's import) with what each brought.
 */

export type ConnectorKind = 'enedis' | 'grdf';
/** Who reads a delivery point: `other` for a meter known only from files. */
export type Utility = ConnectorKind | 'other';

/** A collection from a utility's API, or the import of a file. */
export interface RunSummary {
  id: number;
  /** The connector that collected; null for an import. */
  connector: string | null;
  via: 'api' | 'csv';
  /** An import's format: enedis, grdf or bills. */
  format: string | null;
  fileName: string | null;
  submittedBy: string;
  startedAt: string;
  /** Null while it runs (or when the hub stopped during it). */
  finishedAt: string | null;
  ok: boolean | null;
  /** Readings received. */
  readings: number;
  /** Stored for the first time. */
  inserted: number;
  /** Different from the stored ones: replaced, the previous version kept. */
  corrected: number;
  /** Already stored with the same value. */
  unchanged: number;
  /** The first errors (an import's rows by row and column); `errorCount` counts them all. */
  errors: { deliveryPoint?: string; row?: number; column?: string; message: string }[];
  errorCount: number;
  /** Days without a reading left after a collection, across its delivery points. */
  daysMissing: number | null;
}

export interface DeliveryPointState {
  utility: Utility;
  /** PRM (Enedis, 14 digits), PCE (GRDF) or the meter's reference. */
  id: string;
  energy: string;
  /** The catalog's building key. */
  building: string;
  connector: string | null;
  loadCurve: boolean;
  /** First local day to collect, YYYY-MM-DD. */
  since: string;
  consentUntil: string | null;
  /** Latest local day with a reading. */
  lastDay: string | null;
  /** Days from `since` to yesterday without a reading. */
  daysMissing: number;
  lastError: string | null;
  /** The source id its samples are stored under (utility:<utility>:<id>). */
  source: string;
}

export interface ConnectorState {
  key: string;
  kind: ConnectorKind;
  name: string;
  baseUrl: string;
  clientId: string;
  /** Whether a client secret is stored: the secret itself is never given back. */
  hasSecret: boolean;
  enabled: boolean;
  /** Local hour of the daily collection, 0–23. */
  collectHour: number;
  /** Days read again at each run, 0–60. */
  lookbackDays: number;
  running: boolean;
  lastRun: RunSummary | null;
  nextRun: string | null;
  daysMissing: number;
  deliveryPoints: DeliveryPointState[];
}

/** A connector's state in one word, as the page says it (with an icon and a colour). */
export type ConnectorCondition = 'collecting' | 'disabled' | 'never' | 'failed' | 'interrupted' | 'missing' | 'ok';

export function connectorCondition(c: ConnectorState): ConnectorCondition {
  if (c.running) return 'collecting';
  if (!c.enabled) return 'disabled';
  if (!c.lastRun) return 'never';
  if (c.lastRun.ok === false) return 'failed';
  if (c.lastRun.ok === null) return 'interrupted';
  return c.daysMissing > 0 ? 'missing' : 'ok';
}

/** The formats of files the hub imports (POST /api/utility/imports?format=…). */
export const IMPORT_FORMATS = ['enedis', 'grdf', 'bills'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Energies a delivery point can measure (hub/src/utility/readings.ts). */
export const UTILITY_ENERGIES = ['elec', 'gas', 'heat', 'chilled', 'oil', 'wood'] as const;

/** The energy a utility's delivery points measure; any for a meter known from files. */
export function energyOfUtility(utility: Utility): string | undefined {
  return utility === 'enedis' ? 'elec' : utility === 'grdf' ? 'gas' : undefined;
}

/** The pattern of keys chosen by people (connectors, buildings): as the hub's ID_PATTERN. */
export const KEY_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A delivery point's id as the hub takes it in its address. */
export const DELIVERY_POINT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
