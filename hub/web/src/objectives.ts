/** The objectives API's shapes, as the pages read them (see hub/src/objectives/routes.ts). */
import type { StatusName } from './ui/status.js';

export interface Result {
  scope: string;
  period: string;
  value: number | null;
  target: number | null;
  status: StatusName;
  statusBasis: 'value' | 'forecast';
  statusText: string;
  previous?: number | null;
  lastYear?: number | null;
  forecast: number | null;
  complete: boolean;
  dataComplete: boolean;
  gaps: { missingDays: number; unbracketedHours: number };
}

export interface TrendPoint {
  period: string;
  value: number | null;
  target: number | null;
  status: StatusName;
}

export interface ObjectiveSummary {
  key: string;
  version: number;
  theme: string;
  label: { fr: string; en: string };
  unit: string;
  period: 'month' | 'quarter' | 'year';
  level: 'city' | 'site' | 'building';
  direction: 'down' | 'up';
  published: boolean;
  latest: Result[];
  /** The last periods at the objective's own level, oldest first, per scope, when the hub gives them. */
  trend?: TrendPoint[] | { scope: string; points?: TrendPoint[]; periods?: TrendPoint[] }[];
}

/** How the target of a period is set (hub/src/objectives/model.ts). */
export type Target =
  | { kind: 'value'; value: number }
  | { kind: 'change'; change: number; baseline: number | 'reference-year' }
  | { kind: 'trajectory'; baseline: number | 'reference-year'; steps: { year: number; change: number }[] };

/** An objective's definition, as GET /api/objectives/:key gives it. */
export interface Definition {
  key: string;
  theme: string;
  label: { fr: string; en: string };
  unit: string;
  formula: string;
  scope: { level: 'city' | 'site' | 'building'; keys?: string[]; usages?: string[]; tags?: string[] };
  period: 'month' | 'quarter' | 'year';
  target: Target;
  direction: 'down' | 'up';
  /** Relative distance to the target still counted amber, e.g. 0.05. */
  tolerance: number;
  owner: string;
  methodology: string;
  published: boolean;
}

export interface ObjectiveDetail {
  key: string;
  version: number;
  definition: Definition;
  createdAt: string;
  versions: { version: number; createdAt: string; createdBy: string }[];
}

export interface ResultsAnswer {
  key: string;
  version: number;
  unit: string;
  /** By scope, then period, oldest first. */
  results: Result[];
}

/** A point an objective's formula reads in a building (GET /api/objectives/:key/drilldown). */
export interface FormulaPoint {
  gateway: string;
  point: string;
  name: string;
  unit: string | null;
  tags: string[];
}

export interface DrilldownAnswer {
  key: string;
  version: number;
  period: string;
  /** The scope drilled into (none at the top of an objective judged below the city). */
  scope?: Result;
  /** The scopes one level down. */
  children: Result[];
  /** At a building: the points its formula reads. */
  points?: FormulaPoint[];
}

/** The scope a summary card shows: the city when there, else the first one. */
export function headline(objective: ObjectiveSummary): Result | undefined {
  return objective.latest.find((r) => r.scope === 'city') ?? objective.latest[0];
}

/** The trend points of a card (whatever shape the hub gives, the headline scope's). */
export function trendOf(objective: ObjectiveSummary, scope: string | undefined): TrendPoint[] {
  const trend = objective.trend;
  if (!trend?.length) return [];
  if (!('scope' in trend[0]!)) return trend as TrendPoint[];
  const byScope = trend as { scope: string; points?: TrendPoint[]; periods?: TrendPoint[] }[];
  const chosen = byScope.find((t) => t.scope === scope) ?? byScope[0]!;
  return chosen.periods ?? chosen.points ?? [];
}

/** Relative change of `value` against `before`, or undefined. */
export function relativeChange(value: number | null | undefined, before: number | null | undefined): number | undefined {
  if (value === null || value === undefined || before === null || before === undefined || before === 0) return undefined;
  return (value - before) / Math.abs(before);
}

/** The latest result with a value (else the latest), of results ordered oldest first. */
export function latestOf(results: readonly Result[]): Result | undefined {
  for (let i = results.length - 1; i >= 0; i--) if (results[i]!.value !== null) return results[i];
  return results[results.length - 1];
}

/**
 * How far a result is from its target on the wrong side, relative to the target: positive when
 * worse than the target (above it for `down`, below it for `up`), negative when better; undefined
 * without a value or a target.
 */
export function gapToTarget(result: Pick<Result, 'value' | 'target'>, direction: 'down' | 'up'): number | undefined {
  const { value, target } = result;
  if (value === null || target === null || value === undefined || target === undefined) return undefined;
  const gap = (value - target) / (Math.abs(target) || 1);
  return direction === 'down' ? gap : -gap;
}

/** Worst first: red, amber, green, then those without a status; within a status, the farthest from its target first. */
const STATUS_RANK: Record<string, number> = { red: 0, amber: 1, green: 2, unknown: 3 };

export function rankWorstFirst<T extends Pick<Result, 'status' | 'value' | 'target' | 'scope'>>(results: readonly T[], direction: 'down' | 'up'): T[] {
  return [...results].sort((a, b) => {
    const byStatus = (STATUS_RANK[a.status] ?? 3) - (STATUS_RANK[b.status] ?? 3);
    if (byStatus) return byStatus;
    const ga = gapToTarget(a, direction) ?? -Infinity;
    const gb = gapToTarget(b, direction) ?? -Infinity;
    return gb - ga || a.scope.localeCompare(b.scope);
  });
}

/** `city`, `site:<key>` or `building:<key>` split into its level and key. */
export function parseScope(scope: string): { level: 'city' | 'site' | 'building'; key?: string } {
  if (scope.startsWith('site:')) return { level: 'site', key: scope.slice(5) };
  if (scope.startsWith('building:')) return { level: 'building', key: scope.slice(9) };
  return { level: 'city' };
}
