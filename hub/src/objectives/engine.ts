import type { Formula } from './formula.js';
import type { CatalogBuilding, CatalogPoint, Month, ObjectiveData } from './data.js';
import type { Level, ObjectiveDefinition, Target } from './model.js';
import { missingDays, UnitData, type GapCollector, type Gaps, type ScopeKey, type Unit } from './unit-data.js';

export type { Gaps, ScopeKey, Unit } from './unit-data.js';

/**
 * Evaluation of objectives on data already loaded (data.ts): synchronous, so that every
 * objective for every building and month of a city takes well under a second.
 */

export type Status = 'green' | 'amber' | 'red' | 'unknown';

/**
 * What a status judges: `value`, the period's value (final once the period is over, so far while
 * it is in progress and nothing forecasts it), or `forecast`, the value expected at the end of a
 * period in progress.
 */
export type StatusBasis = 'value' | 'forecast';

/** A calendar period: consecutive local months. */
export interface PeriodSpan {
  /** `2026-10`, `2026-Q4` or `2026`. */
  key: string;
  year: number;
  months: Month[];
}

export interface Result {
  scope: ScopeKey;
  level: Level;
  parent: ScopeKey | undefined;
  period: string;
  start: Date;
  end: Date;
  /** The value so far when the period is in progress. */
  value: number | null;
  target: number | null;
  status: Status;
  /** Whether `status` judges the value or the forecast (statusBasisOf). */
  statusBasis: StatusBasis;
  previous: number | null;
  lastYear: number | null;
  /** Value expected at the end of a period in progress (see UnitData.forecastContext). Null once the period is over. */
  forecast: number | null;
  /** Whether the period is over. */
  complete: boolean;
  /** What the data leaves uncovered in the period so far (see Gaps); `dataComplete` when nothing. */
  gaps: Gaps;
  dataComplete: boolean;
}

/** The units of an objective, its own level first, then each level below (for drill-down). */
export function unitsOf(
  definition: ObjectiveDefinition,
  buildings: Iterable<CatalogBuilding>,
  pointsByBuilding: ReadonlyMap<string, readonly CatalogPoint[]>,
): Unit[] {
  const { level, keys, usages, tags } = definition.scope;
  let chosen = [...buildings].filter((b) => !usages || usages.includes(b.usage));
  if (tags) chosen = chosen.filter((b) => (pointsByBuilding.get(b.key) ?? []).some((p) => tags.every((t) => p.tags.has(t))));
  if (keys && level === 'building') chosen = chosen.filter((b) => keys.includes(b.key));
  if (keys && level === 'site') chosen = chosen.filter((b) => keys.includes(b.site));
  chosen.sort((a, b) => (a.key < b.key ? -1 : 1));
  const units: Unit[] = [];
  if (level === 'city') units.push({ scope: 'city', level: 'city', parent: undefined, buildings: chosen });
  if (level !== 'building') {
    for (const site of [...new Set(chosen.map((b) => b.site))].sort()) {
      units.push({ scope: `site:${site}`, level: 'site', parent: level === 'city' ? 'city' : undefined, buildings: chosen.filter((b) => b.site === site) });
    }
  }
  for (const b of chosen)
    units.push({ scope: `building:${b.key}`, level: 'building', parent: level === 'building' ? undefined : `site:${b.site}`, buildings: [b] });
  return units;
}

/** The periods of `kind` made of whole groups of `months` (which must be consecutive). */
export function periodsOf(kind: ObjectiveDefinition['period'], months: readonly Month[]): PeriodSpan[] {
  const groups = new Map<string, Month[]>();
  for (const m of months) {
    const [year, month] = m.key.split('-').map(Number) as [number, number];
    const key = kind === 'month' ? m.key : kind === 'quarter' ? `${year}-Q${Math.ceil(month / 3)}` : String(year);
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(m);
  }
  const size = kind === 'month' ? 1 : kind === 'quarter' ? 3 : 12;
  return [...groups.entries()].filter(([, ms]) => ms.length === size).map(([key, ms]) => ({ key, year: Number(key.slice(0, 4)), months: ms }));
}

/** The same period `years` earlier or later, when the data holds it. */
function shifted(period: PeriodSpan, years: number, monthsByKey: ReadonlyMap<string, Month>): PeriodSpan | undefined {
  const months: Month[] = [];
  for (const m of period.months) {
    const shiftedMonth = monthsByKey.get(`${Number(m.key.slice(0, 4)) + years}${m.key.slice(4)}`);
    if (!shiftedMonth) return undefined;
    months.push(shiftedMonth);
  }
  return { key: `${period.year + years}${period.key.slice(4)}`, year: period.year + years, months };
}

/** The relative change a trajectory asks for in `year`: 0 at the baseline, linear between steps, the last step's after it. */
export function trajectoryChange(target: Extract<Target, { kind: 'trajectory' }>, baselineYear: number, year: number): number {
  const points = [{ year: baselineYear, change: 0 }, ...target.steps.filter((s) => s.year > baselineYear)];
  if (year <= baselineYear) return 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (year <= b.year) return a.change + ((b.change - a.change) * (year - a.year)) / (b.year - a.year);
  }
  return points.at(-1)!.change;
}

/** What the status of a result judges: the forecast of a period in progress when there is one, else the value. */
export function statusBasisOf(result: { complete: boolean; forecast: number | null }): StatusBasis {
  return !result.complete && result.forecast !== null ? 'forecast' : 'value';
}

/**
 * A result's status in words, with its basis: `target met` / `within tolerance of the target` /
 * `target missed` once the period is over; `on track` / `near target` / `off track` by the
 * forecast of a period in progress, followed by where the value so far stands when it says
 * otherwise (`so far above target` for an objective whose value should go down, `so far within
 * target`); `so far …`
 * when a period in progress has no forecast. Energy objectives whose values are climate-
 * normalised years (normalised()) compare the value so far with the target as a year at the pace
 * so far: a forecast below the value so far then means the rest of the period is expected to do
 * better, not that energy is given back.
 */
export function describeStatus(
  result: { status: Status; value: number | null; target: number | null; forecast: number | null; complete: boolean },
  definition: { direction: 'down' | 'up'; tolerance: number },
): string {
  const { status } = result;
  if (status === 'unknown') return result.target === null ? 'no target' : 'no value';
  if (result.complete) return status === 'green' ? 'target met' : status === 'amber' ? 'within tolerance of the target' : 'target missed';
  const { value, target } = result;
  if (value === null || target === null) return 'no value so far';
  const beyond = definition.direction === 'down' ? value > target : value < target;
  const soFar = beyond ? `so far ${definition.direction === 'down' ? 'above' : 'below'} target` : 'so far within target';
  if (statusBasisOf(result) === 'value') return soFar;
  const heading = status === 'green' ? 'on track' : status === 'amber' ? 'near target' : 'off track';
  // The value so far is told only when it says otherwise than the forecast.
  return beyond === (status === 'green') ? `${heading}; ${soFar}` : heading;
}

/** Green when the target is met, amber within `tolerance` of it (relative), red beyond. */
export function statusOf(value: number | null, target: number | null, direction: 'down' | 'up', tolerance: number): Status {
  if (value === null || target === null) return 'unknown';
  const gap = direction === 'down' ? value - target : target - value;
  if (gap <= 0) return 'green';
  return gap <= Math.abs(target) * tolerance ? 'amber' : 'red';
}

/**
 * A definition that only asks for kWh of each building of `scope` per `period`, for the places
 * that compute energy with the engine without judging it (building page, OPERAT export, open
 * data): its target, status and labels mean nothing and are never shown. `purpose` names it.
 */
export function kWhDefinition(purpose: string, scope: ObjectiveDefinition['scope'], period: ObjectiveDefinition['period']): ObjectiveDefinition {
  return {
    key: purpose,
    theme: 'energy',
    label: { fr: purpose, en: purpose },
    unit: 'kWh',
    formula: '',
    scope,
    period,
    target: { kind: 'value', value: 0 },
    direction: 'down',
    tolerance: 0,
    owner: purpose,
    methodology: purpose,
    published: false,
  };
}

/**
 * Evaluates one objective for every unit and every whole period of `data` from `first` on
 * (earlier months serve as baselines and last year's values). `now` decides which period is
 * still in progress.
 */
export function evaluateObjective(
  definition: ObjectiveDefinition,
  formula: Formula,
  data: ObjectiveData,
  options: { firstPeriodMonth: string; now: Date },
): Result[] {
  const monthsByKey = new Map(data.months.map((m) => [m.key, m]));
  const pointsByBuilding = new Map<string, CatalogPoint[]>();
  for (const p of data.points) (pointsByBuilding.get(p.building) ?? pointsByBuilding.set(p.building, []).get(p.building)!).push(p);
  const periods = periodsOf(definition.period, data.months);
  const now = options.now.getTime();
  const results: Result[] = [];
  const valueCache = new Map<string, { value: number | null; gaps: Gaps }>();
  for (const unit of unitsOf(definition, data.buildings.values(), pointsByBuilding)) {
    const source = new UnitData(unit, data, pointsByBuilding);
    const evaluated = (period: PeriodSpan): { value: number | null; gaps: Gaps } => {
      const key = `${unit.scope}|${period.key}`;
      let cached = valueCache.get(key);
      if (!cached) {
        const collector: GapCollector = { unbracketedHours: 0, covered: new Map() };
        const value = formula.evaluate(source.context(period.months, now, collector));
        cached = { value, gaps: { missingDays: missingDays(collector, period.months, now), unbracketedHours: collector.unbracketedHours } };
        valueCache.set(key, cached);
      }
      return cached;
    };
    const valueOf = (period: PeriodSpan | undefined): number | null => (period ? evaluated(period).value : null);
    for (let i = 0; i < periods.length; i++) {
      const period = periods[i]!;
      // Every period that ends at or after the first month asked: a year in progress, and the last one.
      if (period.months.at(-1)!.key < options.firstPeriodMonth) continue;
      const start = period.months[0]!.start;
      const end = period.months.at(-1)!.end;
      if (start.getTime() > now) break;
      const complete = end.getTime() <= now;
      const { value, gaps } = evaluated(period);
      let forecast: number | null = null;
      if (!complete) {
        const context = source.forecastContext(period.months, now, monthsByKey);
        forecast = context ? formula.evaluate(context) : null;
      }
      const target = targetFor(definition.target, unit, period, (p) => valueOf(p), monthsByKey);
      results.push({
        scope: unit.scope,
        level: unit.level,
        parent: unit.parent,
        period: period.key,
        start,
        end,
        value,
        target,
        // A period in progress is judged on where it is heading.
        status: statusOf(complete ? value : (forecast ?? value), target, definition.direction, definition.tolerance),
        statusBasis: statusBasisOf({ complete, forecast }),
        previous: i > 0 ? valueOf(periods[i - 1]) : null,
        lastYear: valueOf(shifted(period, -1, monthsByKey)),
        forecast,
        complete,
        gaps,
        dataComplete: gaps.missingDays === 0 && gaps.unbracketedHours === 0,
      });
    }
  }
  return results;
}

function targetFor(
  target: Target,
  unit: Unit,
  period: PeriodSpan,
  valueOf: (p: PeriodSpan | undefined) => number | null,
  monthsByKey: ReadonlyMap<string, Month>,
): number | null {
  if (target.kind === 'value') return target.value;
  const baselineYear = target.baseline === 'reference-year' ? referenceYear(unit) : target.baseline;
  if (baselineYear === null) return null;
  const baseline = valueOf(shifted(period, baselineYear - period.year, monthsByKey));
  if (baseline === null) return null;
  const change = target.kind === 'change' ? target.change : trajectoryChange(target, baselineYear, period.year);
  return baseline * (1 + change);
}

/** A building's energy reference year; for several, the earliest (the whole scope is then compared with that year). */
function referenceYear(unit: Unit): number | null {
  const years = unit.buildings.map((b) => b.referenceYear).filter((y): y is number => y !== null);
  return years.length ? Math.min(...years) : null;
}
