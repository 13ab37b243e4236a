import type pg from 'pg';
import {
  COOLING_DEGREE_DAY_BASE,
  loadObjectiveData,
  type CatalogPoint,
  type DegreeDayMethod,
  type Month,
  type ObjectiveData,
  type ServiceDataReader,
} from '../objectives/data.js';
import { UnitData, type Unit } from '../objectives/unit-data.js';
import { localMonth } from '../objectives/objectives.js';
import { compareBeforeAfter } from './before-after.js';
import { netInvestment, netPresentValue, paybackDate, returnOnInvestment, simplePayback } from './finance.js';
import { factorFor, priceMonth, type EmissionFactor, type Tariff } from './prices.js';
import { avoidedEnergy, type PeriodObservation, type SavingsResult } from './savings-model.js';
import type { ProjectDefinition } from './model.js';
import type { StoredProject } from './store.js';

/**
 * What projects saved, measured: for each project, the months from 12 before its works began
 * (the baseline) to the last whole month gone by (the reporting period: the months after the
 * works ended; the works' own months are left out). An energy project's scope gives, per energy,
 * the monthly kWh of its buildings' main meters (read as objectives read them: objectives/
 * meters.ts, unit-data.ts), with the month's days, heating and cooling degree-days (°C·day) and
 * open days; savings-model.ts fits the baseline and gives the avoided kWh, priced month by month
 * (€, prices.ts priceMonth) and weighed in tCO2e (factorFor); finance.ts gives the return. A
 * metric project compares its service metric before and after (before-after.ts).
 *
 * Every project is evaluated from ONE load of the city's data (loadObjectiveData: a handful of
 * queries for every building and month), and each building's monthly kWh is computed once
 * whatever the number of projects that include it.
 */

export interface EvaluationSettings {
  /** The city's time zone: months are its local months. */
  timezone: string;
  /** Discount rate of the net present value, per year (0.04 for 4 %). */
  discountRate: number;
  /** Base of heating degree-days, °C. Default 18 (Météo-France's DJU). */
  heatingBase?: number;
  /** Base of cooling degree-days, °C. Default COOLING_DEGREE_DAY_BASE. */
  coolingBase?: number;
  degreeDayMethod?: DegreeDayMethod;
  /** The evaluation's time: the reporting period ends with the last whole local month before it. Default now. */
  now?: Date;
}

/** Default discount rate of the net present value, per year. */
export const DEFAULT_DISCOUNT_RATE = 0.04;
/** Default base of heating degree-days, °C. */
export const HEATING_DEGREE_DAY_BASE = 18;
/** Months of the baseline, before the month the works start in. */
export const BASELINE_MONTHS = 12;

/** One reporting month of one energy, or of all a project's energies (`adjustedBaseline` and `measured` then summed). */
export interface SavingsMonth {
  /** Local month `YYYY-MM`. */
  period: string;
  /** kWh the scope would have used without the project, in this month's weather (and open days). */
  adjustedBaseline: number | null;
  /** kWh measured. */
  measured: number | null;
  /** kWh avoided: adjustedBaseline − measured; null when either is unknown. */
  avoidedKWh: number | null;
  /** € avoided at the month's tariff; null without a tariff for the whole month. */
  euros: number | null;
  /** tCO2e avoided. */
  tCO2e: number | null;
  cumulatedKWh: number;
  cumulatedEuros: number;
  cumulatedTCO2e: number;
}

export interface EnergySavings {
  energy: string;
  method: SavingsResult['method'];
  /** The baseline model with its statistics and verdict, as savings-model.ts gives them. */
  model: SavingsResult['model'];
  uncertainty: SavingsResult['uncertainty'];
  note: string;
  /** Buildings of the scope with a main meter of this energy. */
  buildings: string[];
  /** The baseline's months: kWh, days, degree-days and open days as the model was fitted on. */
  baseline: PeriodObservation[];
  months: SavingsMonth[];
  totalKWh: number;
  totalEuros: number;
  totalTCO2e: number;
}

export interface Finance {
  /** €: investment less subsidies. */
  netInvestment: number;
  /** €/year: the savings in € of the last 12 reporting months (or of fewer, scaled to a year: see basis), less the yearly running cost. */
  yearlyNetSavings: number | null;
  /** How yearlyNetSavings was obtained, in words. */
  basis: string;
  /** Years. */
  simplePayback: number | null;
  /** Return over lifetimeYears: (savings − net investment) / net investment. */
  returnOnInvestment: number | null;
  /** € at the hub's discount rate over lifetimeYears. */
  netPresentValue: number | null;
  discountRate: number;
  lifetimeYears: number;
  /**
   * The month the cumulated net savings reach the net investment (`paidBack` true), or the month
   * they will at the pace of the last 12 reporting months (`paidBack` false); null when that pace
   * does not pay back (≤ 0 € a month, or over a century) or the project saves no energy.
   */
  paybackDate: string | null;
  paidBack: boolean;
}

export interface ProjectEvaluation {
  key: string;
  version: number;
  kind: 'energy' | 'metric';
  /** The baseline's local months, first and last included, and the reporting period's (null before the works have ended a whole month). */
  baselinePeriod: { from: string; to: string };
  reportingPeriod: { from: string; to: string } | null;
  energies: EnergySavings[];
  /** Every energy together, month by month. */
  months: SavingsMonth[];
  totals: { kWh: number; euros: number; tCO2e: number };
  /** A metric project's mean before and after. */
  metric?: { key: string; better: 'lower' | 'higher'; comparison: ReturnType<typeof compareBeforeAfter> };
  finance: Finance;
  /** What the evaluation could not do as asked: a building not in the catalog, an energy without a meter, a month without a tariff. */
  warnings: string[];
}

export interface CityTotals {
  projects: number;
  kWh: number;
  euros: number;
  tCO2e: number;
  netInvestment: number;
  yearlyNetSavings: number;
}

export interface Prices {
  tariffs: readonly Tariff[];
  factors: readonly EmissionFactor[];
}

/** `YYYY-MM` `n` months after `month` (before when negative). */
export function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Weekdays (Monday to Friday) of a local month: the open days, the city's calendar having no closures yet. */
export function weekdays(month: string): number {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  let n = 0;
  for (let d = 1; d <= days; d++) {
    const w = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
    if (w !== 0 && w !== 6) n++;
  }
  return n;
}

/** Evaluates `projects` (current versions) on the city's data, loaded once for all. */
export async function evaluateProjects(
  pool: pg.Pool,
  projects: readonly StoredProject[],
  prices: Prices,
  settings: EvaluationSettings,
  services?: ServiceDataReader,
): Promise<{ projects: ProjectEvaluation[]; totals: CityTotals }> {
  const now = settings.now ?? new Date();
  const heatingBase = settings.heatingBase ?? HEATING_DEGREE_DAY_BASE;
  const coolingBase = settings.coolingBase ?? COOLING_DEGREE_DAY_BASE;
  const currentMonth = localMonth(now, settings.timezone);
  const lastWhole = addMonths(currentMonth, -1);
  if (!projects.length) return { projects: [], totals: cityTotals([]) };
  const starts = projects.map((p) => addMonths(p.definition.dates.worksStart.slice(0, 7), -BASELINE_MONTHS));
  const firstMonth = starts.reduce((a, b) => (a < b ? a : b));
  const energies = [...new Set(projects.flatMap((p) => p.definition.energy?.energies ?? []))];
  const metrics = [...new Set(projects.flatMap((p) => (p.definition.metric ? [p.definition.metric.key] : [])))];
  // One snapshot for every query of the load, and no JIT compilation: the load's few large
  // aggregates over daily rollups run faster than PostgreSQL takes to compile them (measured
  // on 200 buildings × 5 years: 900 ms with JIT, 450 without).
  const client = await pool.connect();
  let data: ObjectiveData;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query('SET LOCAL jit = off');
    data = await loadObjectiveData(
      client,
      settings.timezone,
      {
        firstMonth: firstMonth < lastWhole ? firstMonth : lastWhole,
        lastMonth: lastWhole,
        tagSets: energies.map(meterTags),
        serviceMetrics: metrics,
        degreeDayBases: energies.length ? [heatingBase] : [],
        coolingDegreeDayBases: energies.length ? [coolingBase] : [],
        degreeDayMethod: settings.degreeDayMethod ?? 'mean',
        dayCoverage: false,
        now,
      },
      services,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  const city = new CityData(data, now.getTime(), heatingBase, coolingBase);
  const evaluations = projects.map((p) => evaluateOne(p, city, prices, settings.discountRate, lastWhole));
  return { projects: evaluations, totals: cityTotals(evaluations) };
}

/** The main meters of one energy, in kWh (objectives' effective tags: see meters.ts). */
function meterTags(energy: string): string[] {
  return [energy, 'meter', 'energy'];
}

/** The loaded data as projects read it, with each building's monthly kWh per energy computed once. */
class CityData {
  readonly monthIndex: Map<string, number>;
  private readonly pointsByBuilding = new Map<string, CatalogPoint[]>();
  private readonly kWh = new Map<string, (number | null)[] | undefined>();
  private readonly units = new Map<string, UnitData>();
  private readonly sums = new Map<string, (number | null)[]>();

  constructor(
    readonly data: ObjectiveData,
    private readonly now: number,
    private readonly heatingBase: number,
    private readonly coolingBase: number,
  ) {
    this.monthIndex = new Map(data.months.map((m, i) => [m.key, i]));
    for (const p of data.points) (this.pointsByBuilding.get(p.building) ?? this.pointsByBuilding.set(p.building, []).get(p.building)!).push(p);
  }

  unit(unit: Unit): UnitData {
    let u = this.units.get(unit.scope);
    if (!u) this.units.set(unit.scope, (u = new UnitData(unit, this.data, this.pointsByBuilding)));
    return u;
  }

  /** A building's kWh of `energy` per month of the load; undefined when it has no main meter of it. */
  buildingKWh(building: string, energy: string): (number | null)[] | undefined {
    const key = `${building}\0${energy}`;
    if (this.kWh.has(key)) return this.kWh.get(key);
    const tags = meterTags(energy);
    const hasMeter = (this.pointsByBuilding.get(building) ?? []).some((p) => p.meter && tags.every((t) => p.tags.has(t)) && (p.meter.read || false));
    let values: (number | null)[] | undefined;
    if (hasMeter) {
      const b = this.data.buildings.get(building)!;
      const unit = this.unit({ scope: `building:${building}`, level: 'building', parent: undefined, buildings: [b] });
      values = this.data.months.map((m) => unit.context([m], this.now).points('delta', tags));
    }
    this.kWh.set(key, values);
    return values;
  }

  /**
   * The kWh of a set of buildings' meters per month of the load: null in a month when one of
   * them is unknown. Projects on the same buildings (often the whole city) share one sum.
   */
  scopeKWh(energy: string, metered: readonly (readonly [string, (number | null)[]])[]): (number | null)[] {
    const key = `${energy}\0${metered.map(([b]) => b).join('\0')}`;
    let totals = this.sums.get(key);
    if (totals) return totals;
    totals = this.data.months.map((_, i) => {
      let sum: number | null = 0;
      for (const [, values] of metered) {
        const v = values[i] ?? null;
        sum = v === null || sum === null ? null : sum + v;
      }
      return sum;
    });
    this.sums.set(key, totals);
    return totals;
  }

  /** Heating and cooling degree-days of a month: a single building's own sensors, else the city's. */
  degreeDays(building: string | undefined, month: string): { hdd: number | null; cdd: number | null } {
    const pick = (map: Map<string, Map<number, Map<string, number>>> | undefined, base: number) => {
      const own = building ? map?.get(`building:${building}`)?.get(base) : undefined;
      return (own ?? map?.get('city')?.get(base))?.get(month) ?? null;
    };
    return { hdd: pick(this.data.degreeDays, this.heatingBase), cdd: pick(this.data.coolingDegreeDays, this.coolingBase) };
  }

  month(key: string): Month | undefined {
    const i = this.monthIndex.get(key);
    return i === undefined ? undefined : this.data.months[i];
  }
}

function evaluateOne(stored: StoredProject, city: CityData, prices: Prices, discountRate: number, lastWhole: string): ProjectEvaluation {
  const d = stored.definition;
  const warnings: string[] = [];
  const worksStartMonth = d.dates.worksStart.slice(0, 7);
  const baselinePeriod = { from: addMonths(worksStartMonth, -BASELINE_MONTHS), to: addMonths(worksStartMonth, -1) };
  const reportingFrom = addMonths(d.dates.worksEnd.slice(0, 7), 1);
  const reportingPeriod = reportingFrom <= lastWhole ? { from: reportingFrom, to: lastWhole } : null;
  const baselineKeys = monthRange(baselinePeriod.from, baselinePeriod.to).filter((m) => city.monthIndex.has(m));
  const reportingKeys = reportingPeriod ? monthRange(reportingPeriod.from, reportingPeriod.to) : [];
  const buildings = scopeBuildingsOf(d, city.data, warnings);
  const energies: EnergySavings[] = [];
  let metric: ProjectEvaluation['metric'];
  if (d.energy) {
    const single = buildings.length === 1 ? buildings[0] : undefined;
    for (const energy of d.energy.energies) {
      const metered = buildings
        .map((b) => [b, city.buildingKWh(b, energy)] as const)
        .filter((x): x is readonly [string, (number | null)[]] => x[1] !== undefined);
      if (!metered.length) {
        warnings.push(`no building of the scope has a main ${energy} meter: ${energy} is not evaluated`);
        continue;
      }
      // Without any outdoor temperature the months cannot be weather-adjusted: the model then
      // reads days (and open days) only, and says so; a month lacking degree-days among others
      // that have them is left out (as a month without energy), lest it bias the fit.
      const weatherless = [...baselineKeys, ...reportingKeys].every((k) => city.degreeDays(single, k).hdd === null);
      if (weatherless) warnings.push(`no outdoor temperature for any month of the project: ${energy} is compared without weather adjustment`);
      const unadjusted: string[] = [];
      const totals = city.scopeKWh(energy, metered);
      const observe = (month: string): PeriodObservation => {
        const i = city.monthIndex.get(month)!;
        const m = city.month(month)!;
        const energyKWh = totals[i] ?? null;
        const { hdd, cdd } = city.degreeDays(single, month);
        if (hdd === null && !weatherless) unadjusted.push(month);
        return {
          period: month,
          days: m.hours / 24,
          hdd: hdd ?? 0,
          cdd: cdd ?? 0,
          ...(d.energy!.occupancy ? { occupancyDays: weekdays(month) } : {}),
          energy: hdd === null && !weatherless ? null : energyKWh,
        };
      };
      const baseline = baselineKeys.map(observe);
      const reporting = reportingKeys.map(observe);
      if (unadjusted.length) warnings.push(`no degree-days for ${unadjusted.join(', ')}: left out of the ${energy} evaluation`);
      const result = avoidedEnergy(baseline, reporting, { occupancy: d.energy.occupancy });
      energies.push(
        priced(
          energy,
          result,
          baseline,
          metered.map(([b]) => b),
          prices,
          warnings,
        ),
      );
    }
  } else if (d.metric) {
    const unit = metricUnit(d, buildings, city.data);
    const values = (keys: string[]) =>
      keys.map((k) => {
        const m = city.month(k);
        return { period: k, value: m ? unit.context([m], Number.MAX_SAFE_INTEGER).service('avg', d.metric!.key) : null };
      });
    metric = { key: d.metric.key, better: d.metric.better, comparison: compareBeforeAfter(values(baselineKeys), values(reportingKeys), d.metric.better) };
  }
  const months = combine(reportingKeys, energies);
  const totals = {
    kWh: energies.reduce((s, e) => s + e.totalKWh, 0),
    euros: energies.reduce((s, e) => s + e.totalEuros, 0),
    tCO2e: energies.reduce((s, e) => s + e.totalTCO2e, 0),
  };
  return {
    key: stored.key,
    version: stored.version,
    kind: d.energy ? 'energy' : 'metric',
    baselinePeriod,
    reportingPeriod,
    energies,
    months,
    totals,
    ...(metric ? { metric } : {}),
    finance: finance(d, months, discountRate),
    warnings,
  };
}

/** The avoided kWh of one energy in € and tCO2e, month by month, cumulated. */
function priced(energy: string, result: SavingsResult, baseline: PeriodObservation[], buildings: string[], prices: Prices, warnings: string[]): EnergySavings {
  let kWh = 0;
  let euros = 0;
  let tCO2e = 0;
  const unpriced: string[] = [];
  let unweighed = false;
  const months = result.months.map((m) => {
    const price = priceMonth(energy, m.period, prices.tariffs);
    const factor = factorFor(energy, Number(m.period.slice(0, 4)), prices.factors);
    if (price === null && m.avoided !== null) unpriced.push(m.period);
    if (!factor) unweighed = true;
    const e = m.avoided === null || price === null ? null : m.avoided * price.eurosPerKWh;
    const t = m.avoided === null || !factor ? null : (m.avoided * factor.kgCO2ePerKWh) / 1000;
    kWh += m.avoided ?? 0;
    euros += e ?? 0;
    tCO2e += t ?? 0;
    return {
      period: m.period,
      adjustedBaseline: m.adjustedBaseline,
      measured: m.measured,
      avoidedKWh: m.avoided,
      euros: e,
      tCO2e: t,
      cumulatedKWh: kWh,
      cumulatedEuros: euros,
      cumulatedTCO2e: tCO2e,
    };
  });
  if (unpriced.length) warnings.push(`no ${energy} tariff for the whole of ${unpriced.join(', ')}: those months count no € (PUT /api/energy-prices)`);
  if (unweighed) warnings.push(`no emission factor for ${energy}: no tCO2e counted`);
  return {
    energy,
    method: result.method,
    model: result.model,
    uncertainty: result.uncertainty,
    note: result.note,
    buildings,
    baseline,
    months,
    totalKWh: kWh,
    totalEuros: euros,
    totalTCO2e: tCO2e,
  };
}

/** The energies' months added up: a month's value is null when an energy's is. */
function combine(keys: readonly string[], energies: readonly EnergySavings[]): SavingsMonth[] {
  let kWh = 0;
  let euros = 0;
  let tCO2e = 0;
  return keys.map((period, i) => {
    const sum = (f: (m: SavingsMonth) => number | null) =>
      energies.length ? energies.reduce<number | null>((s, e) => (s === null || f(e.months[i]!) === null ? null : s + f(e.months[i]!)!), 0) : null;
    const month = {
      period,
      adjustedBaseline: sum((m) => m.adjustedBaseline),
      measured: sum((m) => m.measured),
      avoidedKWh: sum((m) => m.avoidedKWh),
      euros: sum((m) => m.euros),
      tCO2e: sum((m) => m.tCO2e),
    };
    kWh += energies.reduce((s, e) => s + (e.months[i]!.avoidedKWh ?? 0), 0);
    euros += energies.reduce((s, e) => s + (e.months[i]!.euros ?? 0), 0);
    tCO2e += energies.reduce((s, e) => s + (e.months[i]!.tCO2e ?? 0), 0);
    return { ...month, cumulatedKWh: kWh, cumulatedEuros: euros, cumulatedTCO2e: tCO2e };
  });
}

/** The return of a project from its measured € (none for a metric project: its savings are not in €). */
function finance(d: ProjectDefinition, months: readonly SavingsMonth[], discountRate: number): Finance {
  const net = netInvestment(d.costs);
  const running = d.costs.yearlyRunningCost ?? 0;
  const lifetimeYears = d.lifetimeYears ?? 20;
  const priced = months.filter((m) => m.euros !== null);
  const last = priced.slice(-12);
  let yearly: number | null = null;
  let basis: string;
  if (!d.energy) basis = 'a metric project: its savings are not measured in €';
  else if (!last.length) basis = 'no reporting month with a price yet: the works ended less than a whole month ago, or no tariff covers the months after';
  else {
    const sum = last.reduce((s, m) => s + m.euros!, 0);
    yearly = (sum * 12) / last.length - running;
    basis =
      last.length === 12
        ? `the € avoided in the last 12 reporting months (${last[0]!.period} to ${last.at(-1)!.period}) less the yearly running cost`
        : `the € avoided in ${last.length} reporting month${last.length > 1 ? 's' : ''} (${last[0]!.period} to ${last.at(-1)!.period}) scaled to 12, less the yearly running cost: an estimate until a year of reporting`;
  }
  const monthly = priced.map((m) => ({ period: m.period, euros: m.euros! - running / 12 }));
  const payback = d.energy ? paybackDate(net, d.dates.worksEnd, monthly) : null;
  return {
    netInvestment: net,
    yearlyNetSavings: yearly,
    basis,
    simplePayback: yearly === null ? null : simplePayback(net, yearly),
    returnOnInvestment: yearly === null ? null : returnOnInvestment(net, yearly, lifetimeYears),
    netPresentValue: yearly === null ? null : netPresentValue(net, yearly, lifetimeYears, discountRate),
    discountRate,
    lifetimeYears,
    paybackDate: payback?.date ?? null,
    paidBack: payback?.reached ?? false,
  };
}

function cityTotals(evaluations: readonly ProjectEvaluation[]): CityTotals {
  return {
    projects: evaluations.length,
    kWh: evaluations.reduce((s, e) => s + e.totals.kWh, 0),
    euros: evaluations.reduce((s, e) => s + e.totals.euros, 0),
    tCO2e: evaluations.reduce((s, e) => s + e.totals.tCO2e, 0),
    netInvestment: evaluations.reduce((s, e) => s + e.finance.netInvestment, 0),
    yearlyNetSavings: evaluations.reduce((s, e) => s + (e.finance.yearlyNetSavings ?? 0), 0),
  };
}

/** The catalog buildings of a project's scope; keys the catalog lacks are warned of. */
function scopeBuildingsOf(d: ProjectDefinition, data: ObjectiveData, warnings: string[]): string[] {
  const { scope } = d;
  if (scope === 'city') return [...data.buildings.keys()].sort();
  if (typeof scope === 'string' && scope.startsWith('site:')) {
    const site = scope.slice('site:'.length);
    const keys = [...data.buildings.values()].filter((b) => b.site === site).map((b) => b.key);
    if (!keys.length) warnings.push(`site ${site} has no building in the catalog`);
    return keys.sort();
  }
  const keys = typeof scope === 'string' ? [scope.slice('building:'.length)] : scope;
  const missing = keys.filter((k) => !data.buildings.has(k));
  if (missing.length) warnings.push(`not in the catalog: building${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  return keys.filter((k) => data.buildings.has(k));
}

/** The unit whose service data a metric project reads: its scope and every scope inside it. */
function metricUnit(d: ProjectDefinition, buildings: string[], data: ObjectiveData): UnitData {
  const list = buildings.map((b) => data.buildings.get(b)!);
  const scope = d.scope;
  const unit: Unit =
    scope === 'city'
      ? { scope: 'city', level: 'city', parent: undefined, buildings: list }
      : typeof scope === 'string' && scope.startsWith('site:')
        ? { scope, level: 'site', parent: undefined, buildings: list }
        : { scope: typeof scope === 'string' ? scope : `buildings:${scope.join(',')}`, level: 'building', parent: undefined, buildings: list };
  return new UnitData(unit, data, new Map());
}

function monthRange(from: string, to: string): string[] {
  const out: string[] = [];
  for (let m = from; m <= to && out.length < 2400; m = addMonths(m, 1)) out.push(m);
  return out;
}
