/**
 * The fleet as the hub serves it to operators (hub/src/fleet/routes.ts, hub/src/plugins/routes.ts):
 * the gateways with their latest inventory report, one gateway with its history and configuration
 * texts, the plugin packages and their rollouts, the journal of the whole fleet; and the checks
 * and pushes of a gateway's configuration. `usePolled` reloads a view's data on a period, keeping what it shows meanwhile.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';

/** The refresh period of the fleet's pages, in milliseconds. */
export const FLEET_REFRESH_MS = 10_000;

export type ConfigSource = 'file' | 'hub';
/** A hub revision (the configuration bucket's sequence), a file's digest (12 hex digits), or none. */
export type Revision = number | string | null;

export interface FleetGateway {
  id: string;
  state: 'online' | 'silent';
  /** ISO 8601 instants. */
  stateSince: string;
  firstSeen: string;
  lastSeen: string;
  /** Seconds between two reports of the gateway. */
  reportIntervalS: number;
  software: { version: string; sdk: string; node: string };
  host: { hostname: string; platform: string; arch: string };
  startedAt: string;
  uptimeS: number;
  plugins: { id: string; version: string; source: 'builtin' | 'installed' }[];
  config: {
    running: { source: ConfigSource; revision: Revision; appliedAt: string };
    refused: { source: ConfigSource; revision: Revision; at: string; message: string } | null;
    pushed: { revision: number; at: string } | null;
    /** No pushed revision, or the gateway runs the hub's latest one. */
    upToDate: boolean;
  };
  outbox: { depth: number };
  devices: {
    total: number;
    failing: number;
    byPlugin: Record<string, { total: number; failing: number }>;
    failingDevices: { id: string; plugin: string; error: string }[];
  };
  lastError: { at: string; message: string } | null;
  installs: { id: string; version: string; state: 'installed' | 'refused' | 'failed'; at: string; reason?: string }[];
}

export interface FleetEvent {
  at: string;
  kind: string;
  /** `gateway:<id>`, `hub`, or the person or token that acted. */
  actor: string;
  detail: Record<string, unknown>;
}

/** An event of the whole fleet's journal (GET /api/fleet/events). */
export interface FleetJournalEvent extends FleetEvent {
  /** Increases with each event recorded: the journal's order. */
  id: number;
  /** Null for an event of the whole fleet (a package published, a rollout promoted…). */
  gateway: string | null;
}

export interface FleetJournal {
  /** Newest first. */
  events: FleetJournalEvent[];
  /** The path of the next (older) page, with the same filters; null on the last page. */
  next: string | null;
}

export interface FleetGatewayDetail extends FleetGateway {
  /** Newest first. */
  history: FleetEvent[];
  configText: { pushed: string | null; running: string | null; diff: string | null };
}

export interface PluginPackage {
  id: string;
  version: string;
  sdk: string;
  protocol: string;
  description: string;
  sha256: string;
  size: number;
  keyId: string;
  publishedAt: string;
  publishedBy: string;
}

/** `superseded`: a newer rollout of the same plugin replaced it before it completed. */
export type RolloutState = 'canary' | 'all' | 'completed' | 'rolled-back' | 'superseded';

export interface PluginRollout {
  id: number;
  plugin: string;
  version: string;
  state: RolloutState;
  canary: string[];
  promoteAfterS: number | null;
  healthySince: string | null;
  startedAt: string;
  updatedAt: string;
  startedBy: string;
  reason: string | null;
}

export interface FleetPlugins {
  packages: PluginPackage[];
  /** Newest first. */
  rollouts: PluginRollout[];
  assignments: { gateway: string; plugin: string; version: string }[];
}

export type ConfigCheck = { ok: true; gateway: string } | { ok: false; problems: string[] };

const gatewayPath = (id: string) => `/api/fleet/gateways/${encodeURIComponent(id)}`;

export const fleetApi = {
  list: () => api.get<{ gateways: FleetGateway[]; generatedAt: string }>('/api/fleet'),
  gateway: (id: string) => api.get<FleetGatewayDetail>(gatewayPath(id)),
  plugins: () => api.get<FleetPlugins>('/api/fleet/plugins'),
  /** The journal's latest `limit` events, or the page at `next` (a path the API gave). */
  journal: (page: { limit: number } | { next: string }) => api.get<FleetJournal>('next' in page ? page.next : `/api/fleet/events?limit=${page.limit}`),
  checkConfig: (id: string, text: string) => api.post<ConfigCheck>(`${gatewayPath(id)}/config/check`, { text }),
  pushConfig: (id: string, text: string) => api.put<{ revision: number }>(`${gatewayPath(id)}/config`, { text }),
};

/** The problems a refused push lists (400 `{ error, problems }`), else none. */
export function refusalProblems(error: unknown): string[] {
  const body = error instanceof ApiError ? (error.body as { problems?: unknown } | undefined) : undefined;
  return Array.isArray(body?.problems) ? body.problems.filter((p): p is string => typeof p === 'string') : [];
}

/** The first line of a (refusal) message. */
export function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}

export interface Polled<T> {
  /** The latest data received; kept while a reload fails. */
  data: T | undefined;
  /** The latest load's failure, cleared by the next success. */
  error: ApiError | undefined;
  /** Until the first answer (data or error). */
  loading: boolean;
  /** When the data shown was received (ms since the epoch). */
  receivedAt: number | undefined;
  reload(): void;
}

/**
 * Loads `load()` when enabled and whenever `deps` change, then again every `everyMs`. The data
 * shown stays until new data replaces it (a failed reload keeps it, with the error), so that a
 * refresh neither empties the page nor moves the reader's focus or position. A late answer to an
 * older request is dropped; no two loads of one view run at once.
 */
export function usePolled<T>(load: () => Promise<T>, deps: unknown[], enabled: boolean, everyMs = FLEET_REFRESH_MS): Polled<T> {
  const [state, setState] = useState<Omit<Polled<T>, 'reload'>>({ data: undefined, error: undefined, loading: enabled, receivedAt: undefined });
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // A change of deps starts afresh (another gateway, another person).
  useEffect(() => {
    setState({ data: undefined, error: undefined, loading: enabled, receivedAt: undefined });
  }, [...deps, enabled]);
  useEffect(() => {
    if (!enabled) return;
    const mine = ++generation.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    loadRef
      .current()
      .then(
        (data) => mine === generation.current && setState({ data, error: undefined, loading: false, receivedAt: Date.now() }),
        (error: unknown) =>
          mine === generation.current && setState((s) => ({ ...s, error: error instanceof ApiError ? error : new ApiError(0, String(error)), loading: false })),
      )
      .finally(() => {
        if (mine === generation.current) timer = setTimeout(() => setTick((n) => n + 1), everyMs);
      });
    return () => {
      clearTimeout(timer);
      generation.current++;
    };
  }, [...deps, tick, enabled, everyMs]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}
