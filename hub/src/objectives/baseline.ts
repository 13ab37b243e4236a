import { CityPilotError } from '@citypilot/sdk';

/**
 * A building's energy baseline against the weather: consumption split into a base load (kWh per
 * day, whatever the weather) and a weather-dependent part (kWh per heating degree-day), fitted by
 * ordinary least squares on periods (usually months) of known length, consumption and degree-days:
 *
 *     energy_i ≈ baseLoadPerDay × days_i + kWhPerDegreeDay × degreeDays_i
 *
 * Two regressors and no constant, so that months of 28 to 31 days, a DST month (30.96 days) and a
 * month in progress each weigh their own length. The same model serves the objectives' weather
 * normalisation (`normaliseToClimate`) and, later, the projects' savings (IPMVP option C:
 * avoided energy = the baseline's prediction in the reporting period's weather − consumption).
 *
 * The fit is reported with its quality, as ASHRAE Guideline 14 asks for a monthly baseline:
 * R² (of the energies, against their mean) and CV(RMSE) = √(Σ residual² / (n − 2)) / mean energy.
 * Guideline 14 accepts a monthly model with CV(RMSE) ≤ 15 %; this module reports, it does not judge.
 */

/** One period of the baseline: a month, usually. */
export interface BaselineObservation {
  /** Length of the period in days (hours / 24: 30.958… for a month with a DST change), > 0. */
  days: number;
  /** Heating degree-days of the period (°C·day), ≥ 0. */
  degreeDays: number;
  /** Energy consumed over the period, kWh (final energy), ≥ 0. */
  energy: number;
}

export interface DegreeDayModel {
  /** Base load, kWh per day: what the building uses whatever the weather. */
  baseLoadPerDay: number;
  /** Weather-dependent part, kWh per heating degree-day (°C·day). */
  kWhPerDegreeDay: number;
  /** Coefficient of determination of the energies, 0..1 (1: every period on the model); null when every energy is the same. */
  r2: number | null;
  /** CV(RMSE) of the energies, as a fraction (0.05 = 5 %); null with 2 periods (no degree of freedom left) or a mean energy of 0. */
  cvRmse: number | null;
  /** Periods the model was fitted on. */
  periods: number;
}

/** An observation that is not a number of days, degree-days and energy as above. */
export class BaselineInputError extends CityPilotError {
  declare readonly code: 'BASELINE_INPUT_INVALID';
  constructor(message: string) {
    super('BASELINE_INPUT_INVALID', message);
  }
}

/** Fewest periods a baseline is fitted on: fewer say nothing about the weather. */
export const MIN_BASELINE_PERIODS = 6;

/**
 * The least-squares model of `observations`, or null when they cannot separate the base load from
 * the weather: fewer than MIN_BASELINE_PERIODS periods, or degree-days proportional to the days
 * (every month as cold per day, e.g. all without heating). Throws BaselineInputError for a value
 * that is not a finite number in its range, naming the observation.
 */
export function fitDegreeDayModel(observations: readonly BaselineObservation[]): DegreeDayModel | null {
  observations.forEach((o, i) => {
    const where = `baseline observation ${i}`;
    if (!Number.isFinite(o.days) || o.days <= 0) throw new BaselineInputError(`${where}: days must be a finite number greater than 0, got ${o.days}`);
    if (!Number.isFinite(o.degreeDays) || o.degreeDays < 0)
      throw new BaselineInputError(`${where}: degreeDays must be a finite number ≥ 0, got ${o.degreeDays}`);
    if (!Number.isFinite(o.energy) || o.energy < 0) throw new BaselineInputError(`${where}: energy must be a finite number of kWh ≥ 0, got ${o.energy}`);
  });
  const n = observations.length;
  if (n < MIN_BASELINE_PERIODS) return null;
  let sdd = 0;
  let sdD = 0;
  let sDD = 0;
  let sdE = 0;
  let sDE = 0;
  for (const { days: d, degreeDays: D, energy: E } of observations) {
    sdd += d * d;
    sdD += d * D;
    sDD += D * D;
    sdE += d * E;
    sDE += D * E;
  }
  const determinant = sdd * sDD - sdD * sdD;
  // Degree-days (nearly) proportional to days: the two parts cannot be told apart.
  if (determinant <= 1e-9 * sdd * sDD || sDD === 0) return null;
  const baseLoadPerDay = (sDD * sdE - sdD * sDE) / determinant;
  const kWhPerDegreeDay = (sdd * sDE - sdD * sdE) / determinant;
  const mean = observations.reduce((s, o) => s + o.energy, 0) / n;
  let residuals = 0;
  let total = 0;
  for (const o of observations) {
    residuals += (o.energy - baseLoadPerDay * o.days - kWhPerDegreeDay * o.degreeDays) ** 2;
    total += (o.energy - mean) ** 2;
  }
  return {
    baseLoadPerDay,
    kWhPerDegreeDay,
    r2: total > 0 ? 1 - residuals / total : null,
    cvRmse: n > 2 && mean > 0 ? Math.sqrt(residuals / (n - 2)) / mean : null,
    periods: n,
  };
}

/** Days of the year the climate-normalised values are brought to. */
export const NORMALISED_YEAR_DAYS = 365;

/**
 * A period's consumption as a year at the reference climate, kWh: its base load (the energy
 * less the model's weather-dependent part for the period's degree-days), brought to a year of 365
 * days, plus the weather-dependent part of a year of `referenceDegreeDays`:
 *
 *     (energy − kWhPerDegreeDay × degreeDays) × 365 / days + kWhPerDegreeDay × referenceDegreeDays
 *
 * Only the weather-dependent share is normalised. For a year of 365 days this is OPERAT's
 * correction, energy + kWhPerDegreeDay × (reference − actual degree-days); for a month it is
 * the year the month's performance would make, so that June and January of a building that did
 * not change give the same value.
 */
export function normaliseToClimate(model: Pick<DegreeDayModel, 'kWhPerDegreeDay'>, period: BaselineObservation, referenceDegreeDays: number): number {
  if (!Number.isFinite(referenceDegreeDays) || referenceDegreeDays < 0) {
    throw new BaselineInputError(`the reference climate must be a finite number of degree-days ≥ 0, got ${referenceDegreeDays}`);
  }
  if (!Number.isFinite(period.days) || period.days <= 0)
    throw new BaselineInputError(`the period's days must be a finite number greater than 0, got ${period.days}`);
  const b = model.kWhPerDegreeDay;
  return ((period.energy - b * period.degreeDays) * NORMALISED_YEAR_DAYS) / period.days + b * referenceDegreeDays;
}
