import type { FormulaContext, PointAggregate, ServiceAggregate, Attribute } from './formula.js';
import { fitDegreeDayModel, MIN_BASELINE_PERIODS, normaliseToClimate, type BaselineObservation, type DegreeDayModel } from './baseline.js';
import type { CatalogBuilding, CatalogPoint, Month, ObjectiveData, PointMonth } from './data.js';
import type { Level } from './model.js';
import { kWhPerUnit, matchesQuery } from './meters.js';

/**
 * The data of one unit of an objective (a set of buildings) answering a formula's questions
 * for a set of months: sums, meter advances, degree-days, forecasts, and the gaps it meets.
 * engine.ts evaluates objectives with it; nothing here knows of objectives' targets or statuses.
 */
/** Where a result applies: `city`, `site:<key>` or `building:<key>`. */
export type ScopeKey = string;

/** What the objective is measured on at one level: a set of buildings. */
export interface Unit {
  scope: ScopeKey;
  level: Level;
  /** The unit one level up (none for the objective's own level). */
  parent: ScopeKey | undefined;
  buildings: CatalogBuilding[];
}

/** What the data leaves uncovered in a period so far. */
export interface Gaps {
  /**
   * Local days gone by in the period on which a point the formula reads by sum, avg, min, max
   * or integral, or the outdoor temperature of its degree-days, has no sample. A meter's
   * advance (delta) needs readings around the period's ends only (see unbracketedHours): it
   * is interpolated across days without readings.
   */
  missingDays: number;
  /** Hours between a period's boundary and the nearest meter reading when no reading lies on the boundary's other side. */
  unbracketedHours: number;
}

/** Gaps as a formula's evaluation collects them: per month, the days every source read has data (bit d − 1 for day d). */
export interface GapCollector {
  unbracketedHours: number;
  covered: Map<string, number>;
}

function cover(gaps: GapCollector | undefined, month: string, days: number): void {
  if (gaps) gaps.covered.set(month, (gaps.covered.get(month) ?? ALL_DAYS) & days);
}

const ALL_DAYS = 0x7fffffff;

/** Days of `months` gone by at `now` that a source read lacks. */
export function missingDays(gaps: GapCollector, months: readonly Month[], now: number): number {
  let missing = 0;
  for (const m of months) {
    const covered = gaps.covered.get(m.key);
    if (covered === undefined) continue;
    m.dayStarts.forEach((start, i) => {
      const end = m.dayStarts[i + 1] ?? m.end.getTime();
      if (end <= now && !(covered & (1 << i))) missing++;
    });
  }
  return missing;
}

export function hoursElapsed(month: Month, now: number): number {
  if (now >= month.end.getTime()) return month.hours;
  if (now <= month.start.getTime()) return 0;
  return (now - month.start.getTime()) / 3_600_000;
}

/** The data of one unit, answering a formula's questions for a set of months. */
export class UnitData {
  private readonly pointsByTags = new Map<string, CatalogPoint[]>();
  private readonly models = new Map<string, DegreeDayModel | null>();
  private readonly monthIndex: ReadonlyMap<string, number>;

  constructor(
    private readonly unit: Unit,
    private readonly data: ObjectiveData,
    private readonly pointsByBuilding: ReadonlyMap<string, CatalogPoint[]>,
  ) {
    this.monthIndex = new Map(data.months.map((m, i) => [m.key, i]));
  }

  private matching(tags: readonly string[]): CatalogPoint[] {
    const key = tags.join(' ');
    let points = this.pointsByTags.get(key);
    if (!points) {
      points = this.unit.buildings.flatMap((b) => this.pointsByBuilding.get(b.key) ?? []).filter((p) => matchesQuery(tags, p.tags, p.meter));
      this.pointsByTags.set(key, points);
    }
    return points;
  }

  /** The context of `months` so far: the value of a period, in progress or not. */
  context(months: readonly Month[], now: number, gaps?: GapCollector): FormulaContext {
    const hours = months.reduce((h, m) => h + hoursElapsed(m, now), 0);
    return {
      points: (fn, tags) => this.points(fn, tags, months, now, gaps),
      service: (fn, metric) => this.service(fn, metric, months),
      attribute: (name) => this.attribute(name),
      degreeDays: (base) => this.degreeDays(base, months, gaps),
      openingHours: () => this.service('sum', 'opening.hours', months),
      periodHours: () => hours,
      normalised: (tags, base, reference) =>
        this.normalised(tags, base, reference, months, now, this.points('delta', tags, months, now), this.degreeDays(base, months), hours / 24),
    };
  }

  /**
   * The context of a period in progress as it is expected to end: each extensive quantity
   * (sums, meter advances, integrals, degree-days, hours) is its value so far, plus the rest of
   * the current month at its pace so far, plus the months still to come as they were a year
   * before (seasons repeat: December's heating is not October's) or, without last year's data,
   * at the pace so far. Averages, extremes and counts are those so far.
   */
  forecastContext(months: readonly Month[], now: number, monthsByKey: ReadonlyMap<string, Month>): FormulaContext | undefined {
    const elapsed = months.filter((m) => m.start.getTime() < now);
    const current = elapsed.at(-1);
    if (!current) return undefined;
    const remaining = months.filter((m) => m.start.getTime() >= now);
    const lastYear = remaining.map((m) => monthsByKey.get(`${Number(m.key.slice(0, 4)) - 1}${m.key.slice(4)}`));
    const fraction = hoursElapsed(current, now) / current.hours;
    const elapsedHours = elapsed.reduce((h, m) => h + hoursElapsed(m, now), 0);
    const remainingHours = remaining.reduce((h, m) => h + m.hours, 0);
    const extend = (of: (ms: readonly Month[]) => number | null): number | null => {
      const soFar = of(elapsed);
      if (soFar === null) return null;
      const currentSoFar = fraction > 0 ? (of([current]) ?? 0) : 0;
      const restOfCurrent = fraction > 0 ? currentSoFar * (1 / fraction - 1) : 0;
      const seasonal = remaining.length && lastYear.every((m) => m !== undefined) ? of(lastYear as Month[]) : null;
      const rest = !remaining.length ? 0 : (seasonal ?? (elapsedHours > 0 ? (soFar / elapsedHours) * remainingHours : null));
      return rest === null ? null : soFar + restOfCurrent + rest;
    };
    const so = this.context(months, now);
    return {
      points: (fn, tags) => (fn === 'sum' || fn === 'delta' || fn === 'integral' ? extend((ms) => this.points(fn, tags, ms, now)) : so.points(fn, tags)),
      service: (fn, metric) => (fn === 'sum' || fn === 'count' ? extend((ms) => this.service(fn, metric, ms)) : so.service(fn, metric)),
      attribute: (name) => this.attribute(name),
      degreeDays: (base) => extend((ms) => this.degreeDays(base, ms)),
      openingHours: () => extend((ms) => this.service('sum', 'opening.hours', ms)),
      periodHours: () => months.reduce((h, m) => h + m.hours, 0),
      // The whole period's energy and degree-days as forecast, with the same baseline as the value so far.
      normalised: (tags, base, reference) =>
        this.normalised(
          tags,
          base,
          reference,
          months,
          now,
          extend((ms) => this.points('delta', tags, ms, now)),
          extend((ms) => this.degreeDays(base, ms)),
          months.reduce((h, m) => h + m.hours, 0) / 24,
        ),
    };
  }

  /** `energy` (kWh over `days`, with `degreeDays`) as a year at the reference climate, with the unit's baseline for `months`. */
  private normalised(
    tags: readonly string[],
    base: number,
    reference: number,
    months: readonly Month[],
    now: number,
    energy: number | null,
    degreeDays: number | null,
    days: number,
  ): number | null {
    if (energy === null || degreeDays === null || days <= 0) return null;
    const model = this.baseline(tags, base, months, now);
    return model ? normaliseToClimate(model, { days, degreeDays, energy }, reference) : null;
  }

  /**
   * The unit's degree-day model for a period: fitted on the 12 months ending with the period's
   * last month, or, when fewer than MIN_BASELINE_PERIODS of them have data, on the 12 months
   * starting with its first (a reference year at the start of the history). A month counts with
   * the hours elapsed of it, its meter advance and its degree-days; one whose advance is negative
   * (a meter replaced) or does not start from a reading of the month before (the first month of
   * a meter's history, which would count a few days as a whole month) is left out.
   */
  baseline(tags: readonly string[], base: number, months: readonly Month[], now: number): DegreeDayModel | null {
    const first = this.monthIndex.get(months[0]!.key)!;
    const last = this.monthIndex.get(months.at(-1)!.key)!;
    const key = `${tags.join(' ')}|${base}|${first}|${last}|${now}`;
    if (this.models.has(key)) return this.models.get(key)!;
    const observe = (from: number, to: number): BaselineObservation[] => {
      const observations: BaselineObservation[] = [];
      for (const m of this.data.months.slice(Math.max(0, from), to + 1)) {
        const days = hoursElapsed(m, now) / 24;
        if (days <= 0) continue;
        if (!this.metersRead(tags, m)) continue;
        const energy = this.points('delta', tags, [m], now);
        const degreeDays = this.degreeDays(base, [m]);
        if (energy === null || degreeDays === null || energy < 0) continue;
        observations.push({ days, degreeDays, energy });
      }
      return observations;
    };
    let observations = observe(last - 11, last);
    if (observations.length < MIN_BASELINE_PERIODS) observations = observe(first, first + 11);
    const model = fitDegreeDayModel(observations);
    this.models.set(key, model);
    return model;
  }

  /** Whether every meter of `tags` that has readings has one in `month` and one in the month before. */
  private metersRead(tags: readonly string[], month: Month): boolean {
    const before = previousMonthKey(month.key);
    let any = false;
    for (const p of this.matching(tags)) {
      const byMonth = this.data.pointMonths.get(p.id);
      if (!byMonth) continue;
      if (!(byMonth.get(month.key)?.n && byMonth.get(before)?.n)) return false;
      any = true;
    }
    return any;
  }

  /** Month keys in which each point has samples, in order. */
  private readonly monthKeys = new Map<number, string[]>();

  /**
   * A meter's advance over `months` (consecutive), so far: its reading at each end of the
   * period, interpolated linearly to the boundary (local midnight, wherever daylight saving
   * puts it) between the last reading before it and the first at or after it, even when both
   * lie outside the period. An end with readings on one side only is taken at the nearest
   * reading, and the hours between that reading and the boundary (at most the period's) are
   * added to `gaps.unbracketedHours`; a period in progress ends at its last reading.
   * Undefined when the meter has no reading at or after the period's start.
   */
  private advance(id: number, byMonth: ReadonlyMap<string, PointMonth>, months: readonly Month[], now: number, gaps?: GapCollector): number | undefined {
    let keys = this.monthKeys.get(id);
    if (!keys)
      this.monthKeys.set(
        id,
        (keys = [...byMonth]
          .filter(([, pm]) => pm.n > 0)
          .map(([k]) => k)
          .sort()),
      );
    const first = months[0]!;
    const last = months.at(-1)!;
    const periodHours = months.reduce((h, m) => h + hoursElapsed(m, now), 0);
    let unbracketed = 0;
    /** The reading at `at` from the months before (`beforeKey`) and at or after it (`afterKey`). */
    const readingAt = (beforeKey: string | undefined, afterKey: string | undefined, at: number): number | undefined => {
      const before = beforeKey === undefined ? undefined : byMonth.get(beforeKey)!;
      const after = afterKey === undefined ? undefined : byMonth.get(afterKey)!;
      if (before && after) return interpolate(before, after, at);
      if (after) unbracketed += (after.firstTime - at) / 3_600_000;
      if (before) unbracketed += (at - before.lastTime) / 3_600_000;
      return after?.firstValue ?? before?.lastValue;
    };
    const since = keys.find((k) => k >= first.key);
    // No reading since the period began: nothing is known of it.
    if (since === undefined) return undefined;
    const previous = keys.findLast((k) => k < first.key);
    // Nor when the meter was first read after the period (a meter installed, or a utility's
    // history beginning, later): its readings say nothing of the period, not that it used 0.
    if (previous === undefined && since > last.key) return undefined;
    const start = readingAt(previous, since, first.start.getTime());
    let end: number | undefined;
    if (last.end.getTime() > now) {
      const latest = keys.findLast((k) => k <= last.key);
      end = latest === undefined ? undefined : byMonth.get(latest)!.lastValue;
    } else {
      end = readingAt(
        keys.findLast((k) => k <= last.key),
        keys.find((k) => k > last.key),
        last.end.getTime(),
      );
    }
    if (gaps) gaps.unbracketedHours += Math.min(unbracketed, periodHours);
    return start === undefined || end === undefined ? undefined : end - start;
  }

  private points(fn: PointAggregate, tags: readonly string[], months: readonly Month[], now: number, gaps?: GapCollector): number | null {
    const points = this.matching(tags);
    if (fn === 'count') return points.length;
    let n = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    let integral = 0;
    let advance = 0;
    let any = false;
    for (const p of points) {
      const byMonth = this.data.pointMonths.get(p.id);
      if (!byMonth) {
        if (fn !== 'delta') for (const m of months) cover(gaps, m.key, 0);
        continue;
      }
      for (const m of months) {
        const pm = byMonth.get(m.key);
        if (fn !== 'delta') cover(gaps, m.key, pm?.days ?? 0);
        if (!pm || pm.n === 0) continue;
        any = true;
        n += pm.n;
        sum += pm.sum;
        if (pm.min < min) min = pm.min;
        if (pm.max > max) max = pm.max;
        integral += (pm.sum / pm.n) * hoursElapsed(m, now);
      }
      if (fn === 'delta') {
        // Month by month, each month's advance interpolated to its boundaries (the months' advances
        // add up to the period's) and counted in kWh with that month's conversion coefficient (gas
        // m³ → kWh). A meter read before and after a month but not in it still advanced over it.
        for (const m of months) {
          const advanced = this.advance(p.id, byMonth, [m], now, gaps);
          if (advanced !== undefined) {
            any = true;
            advance += advanced * kWhPerUnit(p.meter, m.key);
          }
        }
      }
    }
    if (!any) return null;
    switch (fn) {
      case 'sum':
        return sum;
      case 'avg':
        return sum / n;
      case 'min':
        return min;
      case 'max':
        return max;
      case 'integral':
        return integral;
      case 'delta':
        return advance;
    }
  }

  private service(fn: ServiceAggregate, metric: string, months: readonly Month[]): number | null {
    const byScope = this.data.services.get(metric);
    if (!byScope) return null;
    // A unit's values: those submitted for it and for every unit inside it.
    const { level, buildings } = this.unit;
    const sites = level === 'city' ? [...new Set(buildings.map((b) => `site:${b.site}`))] : level === 'site' ? [this.unit.scope] : [];
    const scopes = [...(level === 'city' ? ['city'] : []), ...sites, ...buildings.map((b) => `building:${b.key}`)];
    let sum = 0;
    let count = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const scope of scopes) {
      const byMonth = byScope.get(scope);
      if (!byMonth) continue;
      for (const m of months) {
        const v = byMonth.get(m.key);
        if (!v) continue;
        sum += v.sum;
        count += v.count;
        if (v.min < min) min = v.min;
        if (v.max > max) max = v.max;
      }
    }
    if (!count) return null;
    return fn === 'sum' ? sum : fn === 'count' ? count : fn === 'avg' ? sum / count : fn === 'min' ? min : max;
  }

  private attribute(name: Attribute): number | null {
    const { buildings } = this.unit;
    if (name === 'buildings') return buildings.length;
    const values = buildings.map((b) => (name === 'area' ? b.areaM2 : b.lightPoints)).filter((v): v is number => v !== null);
    return values.length ? values.reduce((a, b) => a + b, 0) : null;
  }

  /** Heating degree-days of the unit's own sensor (a building's), else the city's. */
  private degreeDays(base: number, months: readonly Month[], gaps?: GapCollector): number | null {
    const own = this.unit.level === 'building' ? this.data.degreeDays.get(this.unit.scope)?.get(base) : undefined;
    const byMonth = own ?? this.data.degreeDays.get('city')?.get(base);
    const days = this.data.degreeDayDays.get(own ? this.unit.scope : 'city');
    for (const m of months) cover(gaps, m.key, days?.get(m.key) ?? 0);
    if (!byMonth) return null;
    let total = 0;
    let any = false;
    for (const m of months) {
      const dd = byMonth.get(m.key);
      if (dd === undefined) continue;
      any = true;
      total += dd;
    }
    return any ? total : null;
  }
}

/** A meter's reading at `at`, on the straight line from the last reading of `before` to the first of `after`. */
function interpolate(before: PointMonth, after: PointMonth, at: number): number {
  if (after.firstTime <= at) return after.firstValue;
  return before.lastValue + ((after.firstValue - before.lastValue) * (at - before.lastTime)) / (after.firstTime - before.lastTime);
}

function previousMonthKey(key: string): string {
  const [y, m] = key.split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}
