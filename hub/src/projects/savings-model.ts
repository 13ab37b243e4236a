import { checkNumber, checkSeries, describe, parseMonth, SavingsInputError } from './input-error.js';
import { leastSquares } from './least-squares.js';
import { studentTQuantile } from './student-t.js';

export { SavingsInputError } from './input-error.js';

/**
 * Measured savings of a project on a whole building, as energy auditors measure them (IPMVP
 * option C, "whole facility"): a baseline model of the building's monthly energy before the
 * works, fitted on the weather (and optionally the occupancy) of those months, predicts what the
 * building would have used in each month after the works; the avoided energy is that adjusted
 * baseline less what was measured.
 *
 *     energy ≈ a·days + b·hdd + c·cdd (+ d·occupancyDays)      (kWh; no constant term)
 *
 * No constant, as in objectives/baseline.ts: `days` carries the base load (kWh per day), so a
 * February and a month with a DST change (30.958 days) each weigh their own length. A regressor
 * that is all zero or adds nothing (e.g. no cooling in a French school, or a cooling column
 * proportional to another) is dropped rather than given a meaningless coefficient.
 *
 * The model is judged as ASHRAE Guideline 14-2014 judges a monthly regression baseline, and when
 * it is too poor (or there are too few months) the savings fall back to comparing each month
 * with the same month of the year before, without weather correction, and say so.
 */

/** One month (or period) of a building: its length, weather, occupancy and energy. */
export interface PeriodObservation {
  /** Label, e.g. '2025-01' (kept in outputs; 'YYYY-MM' is needed for the same-months fallback). */
  period: string;
  /** Length of the period in days (hours / 24: 30.958 for a month with a DST change), > 0. */
  days: number;
  /** Heating degree-days, °C·day, ≥ 0. */
  hdd: number;
  /** Cooling degree-days, °C·day, ≥ 0. */
  cdd: number;
  /** Days the building was open, 0..days (optional regressor). */
  occupancyDays?: number;
  /** Energy of the period, kWh ≥ 0; null = unknown (month not measured). */
  energy: number | null;
}

export type Regressor = 'days' | 'hdd' | 'cdd' | 'occupancyDays';

export interface BaselineModel {
  /** Regressors used, in this order: 'days', then those of 'hdd', 'cdd', 'occupancyDays' that add something. */
  regressors: Regressor[];
  /** kWh per day / per °C·day / per °C·day / per occupied day; 0 for a regressor not used. */
  coefficients: Record<Regressor, number>;
  /** Standard error of each coefficient, same unit; 0 for a regressor not used. */
  standardErrors: Record<Regressor, number>;
  /** R² against the mean energy (fraction); null when every month has the same energy. */
  r2: number | null;
  /** CV(RMSE) = √(Σres² / (n − p)) / mean energy, fraction (0.05 = 5 %); null when the mean energy is 0. */
  cvRmse: number | null;
  /** NMBE = Σres / ((n − p) · mean energy), fraction; null when the mean energy is 0. */
  nmbe: number | null;
  /** Months the model was fitted on (energy known). */
  n: number;
  /** Parameters fitted (regressors used). */
  p: number;
  /** Mean monthly energy of the months fitted, kWh. */
  meanEnergy: number;
  /** Whether the model meets the limits below; one plain-English reason per failed limit. */
  ashrae14: { passes: boolean; reasons: string[] };
}

/**
 * Fewest measured baseline months a model is fitted on. IPMVP asks the baseline to span a full
 * cycle of operation, a year for a building heated in winter; twelve months before the works is
 * the norm. We accept nine of them measured (a meter down for a quarter is common) — fewer leave
 * whole seasons out, and n − p would leave the statistics with almost no degree of freedom.
 */
export const MIN_MODEL_MONTHS = 9;

/**
 * Limits for a monthly model. CV(RMSE) ≤ 15 % and |NMBE| ≤ 5 % are ASHRAE Guideline 14-2014's
 * limits for a model calibrated on monthly data (its whole-building calibrated-simulation path,
 * §5.3.2.4), the monthly pair the city's auditors apply to regression baselines too; G14's own
 * limit for a regression baseline alone is looser (a CV(RMSE) of 20 % to 30 % by the length of
 * the reporting period, as we recall §5.2.2.4 of the 2002 edition: check before quoting it).
 * R² ≥ 0.75 is the usual IPMVP practice for a baseline regression (EVO's statistics guidance).
 */
export const ASHRAE14_MONTHLY = { maxCvRmse: 0.15, maxAbsNmbe: 0.05, minR2: 0.75 } as const;

const REGRESSORS: readonly Regressor[] = ['days', 'hdd', 'cdd', 'occupancyDays'];

/** Checks one month, naming it; returns it unchanged. */
function checkObservation(o: PeriodObservation, i: number, side: string): PeriodObservation {
  if (o === null || typeof o !== 'object') throw new SavingsInputError(`${side} month ${i}: an object with period, days, hdd, cdd and energy expected`);
  if (typeof o.period !== 'string' || o.period.length === 0 || o.period.length > 40) {
    throw new SavingsInputError(`${side} month ${i}: period must be a label of 1 to 40 characters such as '2025-01', got ${describe(o.period)}`);
  }
  const where = `${side} month '${o.period}'`;
  checkNumber(o.days, where, 'days', 0, true);
  checkNumber(o.hdd, where, 'hdd (°C·day)', 0);
  checkNumber(o.cdd, where, 'cdd (°C·day)', 0);
  if (o.occupancyDays !== undefined) {
    checkNumber(o.occupancyDays, where, 'occupancyDays', 0);
    if (o.occupancyDays > o.days) throw new SavingsInputError(`${where}: occupancyDays must be at most days (${o.days}), got ${o.occupancyDays}`);
  }
  if (o.energy !== null) checkNumber(o.energy, where, 'energy (kWh)', 0);
  return o;
}

function checkObservations(months: unknown, side: string): readonly PeriodObservation[] {
  return checkSeries<PeriodObservation>(months, `${side} months`).map((o, i) => checkObservation(o, i, side));
}

function regressorValue(o: PeriodObservation, r: Regressor): number {
  return r === 'occupancyDays' ? (o.occupancyDays ?? 0) : o[r];
}

/** The model's prediction for a month, kWh. */
export function predict(model: BaselineModel, o: PeriodObservation): number {
  return model.regressors.reduce((s, r) => s + model.coefficients[r] * regressorValue(o, r), 0);
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)} %`;
}

/**
 * The baseline model of the measured months (energy not null), or null with fewer than
 * MIN_MODEL_MONTHS of them. `options.occupancy` adds occupancyDays as a regressor when every
 * measured month gives it. Throws SavingsInputError for a value out of its range, naming the month.
 */
export function fitBaselineModel(months: readonly PeriodObservation[], options: { occupancy?: boolean } = {}): BaselineModel | null {
  const measured = checkObservations(months, 'baseline').filter((o) => o.energy !== null);
  const n = measured.length;
  if (n < MIN_MODEL_MONTHS) return null;
  const candidates: Regressor[] = ['days', 'hdd', 'cdd'];
  if (options.occupancy === true && measured.every((o) => o.occupancyDays !== undefined)) candidates.push('occupancyDays');
  const y = measured.map((o) => o.energy!);
  const fit = leastSquares(
    candidates.map((r) => measured.map((o) => regressorValue(o, r))),
    y,
  );
  const regressors = fit.kept.map((i) => candidates[i]!);
  const p = regressors.length;
  const coefficients = Object.fromEntries(REGRESSORS.map((r) => [r, 0])) as Record<Regressor, number>;
  regressors.forEach((r, i) => (coefficients[r] = fit.coefficients[i]!));
  const mean = y.reduce((s, e) => s + e, 0) / n;
  let sumResiduals = 0;
  let sse = 0;
  let sst = 0;
  measured.forEach((o, i) => {
    const residual = y[i]! - regressors.reduce((s, r) => s + coefficients[r] * regressorValue(o, r), 0);
    sumResiduals += residual;
    sse += residual * residual;
    sst += (y[i]! - mean) ** 2;
  });
  const dof = n - p;
  const variance = sse / dof;
  const standardErrors = Object.fromEntries(REGRESSORS.map((r) => [r, 0])) as Record<Regressor, number>;
  regressors.forEach((r, i) => (standardErrors[r] = Math.sqrt(variance * fit.inverseDiagonal[i]!)));
  const r2 = sst > 0 ? 1 - sse / sst : null;
  const cvRmse = mean > 0 ? Math.sqrt(variance) / mean : null;
  const nmbe = mean > 0 ? sumResiduals / (dof * mean) : null;
  return { regressors, coefficients, standardErrors, r2, cvRmse, nmbe, n, p, meanEnergy: mean, ashrae14: judge(r2, cvRmse, nmbe) };
}

function judge(r2: number | null, cvRmse: number | null, nmbe: number | null): BaselineModel['ashrae14'] {
  const reasons: string[] = [];
  const { maxCvRmse, maxAbsNmbe, minR2 } = ASHRAE14_MONTHLY;
  if (cvRmse === null || nmbe === null) reasons.push('the mean baseline energy is 0 kWh, so CV(RMSE) and NMBE are undefined');
  else {
    if (cvRmse > maxCvRmse) reasons.push(`CV(RMSE) ${percent(cvRmse)} is above ASHRAE Guideline 14's ${maxCvRmse * 100} % for monthly data`);
    if (Math.abs(nmbe) > maxAbsNmbe) reasons.push(`NMBE ${percent(nmbe)} is outside ASHRAE Guideline 14's ±${maxAbsNmbe * 100} % for monthly data`);
  }
  if (r2 === null) reasons.push('R² is undefined: every baseline month has the same energy');
  else if (r2 < minR2) reasons.push(`R² ${r2.toFixed(3)} is below the ${minR2} IPMVP practice recommends`);
  return { passes: reasons.length === 0, reasons };
}

export interface MonthlySaving {
  period: string;
  /** What the building would have used without the project, kWh. */
  adjustedBaseline: number;
  /** What it used, kWh; null when the month was not measured. */
  measured: number | null;
  /** adjustedBaseline − measured, kWh; null when either is unknown. */
  avoided: number | null;
  /** kWh, avoided summed over the measured months so far. */
  cumulated: number;
}

export interface SavingsResult {
  /** 'ipmvp-c' with a model that meets ASHRAE 14; 'same-months-before' otherwise (the note says why). */
  method: 'ipmvp-c' | 'same-months-before';
  model: BaselineModel | null;
  months: MonthlySaving[];
  /** kWh over the measured reporting months. */
  totalAvoided: number;
  /** ± kWh on totalAvoided at 90 % confidence, and as a fraction of it (null when totalAvoided is 0); null without a model. */
  uncertainty: { absolute: number; fraction: number | null; confidence: 0.9 } | null;
  /** Plain English: the method, and why it fell back when it did. */
  note: string;
}

/** Empirical factor of Reddy & Claridge for monthly models, as in ASHRAE Guideline 14-2014 Annex B. */
const REDDY_CLARIDGE_MONTHLY = 1.26;

/**
 * The savings of a project over the reporting months (after the works), from the baseline
 * months (before). Throws SavingsInputError for a value out of range, naming the month, and
 * when the model uses occupancyDays and a reporting month lacks it.
 *
 * Uncertainty of the savings at 90 % confidence, ASHRAE Guideline 14-2014 Annex B (Reddy &
 * Claridge 2000), for m reporting months predicted by a model fitted on n baseline months with
 * p parameters:
 *
 *     ΔE_save = t(0.95; n − p) · 1.26 · CV(RMSE) · √((n / n′) · (1 + 2/n) / m) · E_baseline,m
 *
 * where t(0.95; n − p) is Student's t quantile whose two-sided interval holds 90 %, 1.26 the
 * correction for monthly data, n′ = n (monthly residuals taken as not autocorrelated, as G14 does
 * for monthly models), E_baseline,m the adjusted baseline summed over the m measured reporting
 * months (kWh). The fractional uncertainty is ΔE_save / E_save (G14 writes it divided by
 * F = E_save / E_baseline,m, which is the same).
 */
export function avoidedEnergy(
  baseline: readonly PeriodObservation[],
  reporting: readonly PeriodObservation[],
  options: { occupancy?: boolean } = {},
): SavingsResult {
  const model = fitBaselineModel(baseline, options);
  const after = checkObservations(reporting, 'reporting');
  if (model === null || !model.ashrae14.passes) {
    const measuredBaseline = baseline.filter((o) => o.energy !== null).length;
    const why =
      model === null
        ? `only ${measuredBaseline} measured baseline month${measuredBaseline === 1 ? '' : 's'}, IPMVP option C needs at least ${MIN_MODEL_MONTHS}`
        : `the baseline model does not meet the limits: ${model.ashrae14.reasons.join('; ')}`;
    return sameMonthsBefore(baseline, after, model, why);
  }
  if (model.regressors.includes('occupancyDays')) {
    const missing = after.find((o) => o.occupancyDays === undefined);
    if (missing) throw new SavingsInputError(`reporting month '${missing.period}': occupancyDays is needed, the baseline model uses it`);
  }
  let cumulated = 0;
  let baselineTotal = 0;
  let m = 0;
  const months = after.map((o): MonthlySaving => {
    const adjustedBaseline = predict(model, o);
    const avoided = o.energy === null ? null : adjustedBaseline - o.energy;
    if (avoided !== null) {
      cumulated += avoided;
      baselineTotal += adjustedBaseline;
      m++;
    }
    return { period: o.period, adjustedBaseline, measured: o.energy, avoided, cumulated };
  });
  let uncertainty: SavingsResult['uncertainty'] = null;
  if (m > 0 && model.cvRmse !== null) {
    const t = studentTQuantile(0.95, model.n - model.p);
    const absolute = t * REDDY_CLARIDGE_MONTHLY * model.cvRmse * Math.sqrt((1 + 2 / model.n) / m) * Math.abs(baselineTotal);
    uncertainty = { absolute, fraction: cumulated !== 0 ? absolute / Math.abs(cumulated) : null, confidence: 0.9 };
  }
  const note =
    `IPMVP option C: a baseline of ${model.n} months (${model.regressors.join(', ')}; CV(RMSE) ${percent(model.cvRmse!)}, ` +
    `R² ${model.r2!.toFixed(3)}) adjusted to the weather of ${m} measured reporting month${m === 1 ? '' : 's'}.`;
  return { method: 'ipmvp-c', model, months, totalAvoided: cumulated, uncertainty, note };
}

/**
 * The fallback: each reporting month against the same calendar month of the baseline (the latest
 * measured one when the baseline spans several years), without weather correction. A month whose
 * calendar month was not measured before (or whose label is not 'YYYY-MM') has no comparison: its
 * adjusted baseline is the baseline's mean energy per day times its days, shown only to draw it,
 * and its avoided energy is null so that it counts in no total.
 */
function sameMonthsBefore(
  baseline: readonly PeriodObservation[],
  reporting: readonly PeriodObservation[],
  model: BaselineModel | null,
  why: string,
): SavingsResult {
  const byCalendarMonth = new Map<number, PeriodObservation>();
  for (const o of baseline) {
    const month = parseMonth(o.period);
    if (month === null || o.energy === null) continue;
    const previous = byCalendarMonth.get(month[1]);
    if (previous === undefined || previous.period < o.period) byCalendarMonth.set(month[1], o);
  }
  const known = baseline.filter((o) => o.energy !== null);
  const knownDays = known.reduce((s, o) => s + o.days, 0);
  const perDay = knownDays > 0 ? known.reduce((s, o) => s + o.energy!, 0) / knownDays : 0;
  const unmatched: string[] = [];
  let cumulated = 0;
  const months = reporting.map((o): MonthlySaving => {
    const month = parseMonth(o.period);
    const before = month === null ? undefined : byCalendarMonth.get(month[1]);
    if (before === undefined) {
      unmatched.push(o.period);
      return { period: o.period, adjustedBaseline: perDay * o.days, measured: o.energy, avoided: null, cumulated };
    }
    const avoided = o.energy === null ? null : before.energy! - o.energy;
    if (avoided !== null) cumulated += avoided;
    return { period: o.period, adjustedBaseline: before.energy!, measured: o.energy, avoided, cumulated };
  });
  const note =
    `Compared with the same months before the works, without weather correction, because ${why}.` +
    (unmatched.length > 0 ? ` No measured month before the works to compare with for ${unmatched.join(', ')}: not counted.` : '');
  return { method: 'same-months-before', model, months, totalAvoided: cumulated, uncertainty: null, note };
}
