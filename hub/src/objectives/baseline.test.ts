import { describe, expect, it } from 'vitest';
import { BaselineInputError, fitDegreeDayModel, normaliseToClimate, type BaselineObservation } from './baseline.js';

/** A year of months on an exact model: 100 kWh a day of base load and 20 kWh per degree-day. */
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const DEGREE_DAYS = [400, 350, 300, 200, 100, 20, 0, 0, 50, 150, 300, 380];
const exactYear: BaselineObservation[] = DAYS.map((days, i) => ({ days, degreeDays: DEGREE_DAYS[i]!, energy: 100 * days + 20 * DEGREE_DAYS[i]! }));

describe('degree-day baseline', () => {
  it('finds the base load and the kWh per degree-day of consumption that follows them exactly', () => {
    const model = fitDegreeDayModel(exactYear)!;
    expect(model.baseLoadPerDay).toBeCloseTo(100, 9);
    expect(model.kWhPerDegreeDay).toBeCloseTo(20, 9);
    expect(model.r2).toBeCloseTo(1, 12);
    expect(model.cvRmse).toBeCloseTo(0, 9);
    expect(model.periods).toBe(12);
  });

  it('reports R² and CV(RMSE) of a fit with residuals, as computed by hand', () => {
    // Periods of one day: the model is energy = base + slope × degree-days. Three days without
    // heating (1, 3, 2 kWh: mean 2) and three at 10 degree-days (21, 23, 22: mean 22): base 2,
    // slope (22 − 2) / 10 = 2. Residuals −1, 1, 0, −1, 1, 0: Σ² = 4. Mean energy 12,
    // Σ (energy − 12)² = 2 × (11² + 9² + 10²) = 604. R² = 1 − 4 / 604; CV(RMSE) = √(4 / 4) / 12.
    const observations = [1, 3, 2, 21, 23, 22].map((energy, i) => ({ days: 1, degreeDays: i < 3 ? 0 : 10, energy }));
    const model = fitDegreeDayModel(observations)!;
    expect(model.baseLoadPerDay).toBeCloseTo(2, 12);
    expect(model.kWhPerDegreeDay).toBeCloseTo(2, 12);
    expect(model.r2).toBeCloseTo(1 - 4 / 604, 12);
    expect(model.cvRmse).toBeCloseTo(1 / 12, 12);
  });

  it('fits no model on fewer than 6 months or on months that are all as cold per day', () => {
    expect(fitDegreeDayModel(exactYear.slice(0, 5))).toBeNull();
    expect(fitDegreeDayModel(DAYS.map((days) => ({ days, degreeDays: 0, energy: 100 * days })))).toBeNull();
    expect(fitDegreeDayModel(DAYS.map((days) => ({ days, degreeDays: 10 * days, energy: 300 * days })))).toBeNull();
  });

  it('normalises only the weather-dependent share: June and January of the same building give the same year', () => {
    const model = fitDegreeDayModel(exactYear)!;
    // A year at 2,500 degree-days: 100 × 365 + 20 × 2,500 = 86,500 kWh, whichever month it is seen from.
    expect(normaliseToClimate(model, exactYear[0]!, 2500)).toBeCloseTo(86_500, 6);
    expect(normaliseToClimate(model, exactYear[5]!, 2500)).toBeCloseTo(86_500, 6);
    // Dividing the whole consumption by degree-days, as before, gives June 3.3 times January's.
    const perDegreeDay = (o: BaselineObservation) => o.energy / o.degreeDays;
    expect(perDegreeDay(exactYear[5]!) / perDegreeDay(exactYear[0]!)).toBeCloseTo(3400 / 20 / (11100 / 400), 9);
    // A year of 365 days: OPERAT's correction, energy + slope × (reference − degree-days).
    const year = { days: 365, degreeDays: 2250, energy: 100 * 365 + 20 * 2250 };
    expect(normaliseToClimate(model, year, 2500)).toBeCloseTo(year.energy + 20 * 250, 6);
  });

  it('says which observation is wrong', () => {
    expect(() => fitDegreeDayModel([...exactYear, { days: 0, degreeDays: 1, energy: 1 }])).toThrow(
      new BaselineInputError('baseline observation 12: days must be a finite number greater than 0, got 0'),
    );
    expect(() => fitDegreeDayModel([{ days: 30, degreeDays: -1, energy: 1 }])).toThrow(
      'baseline observation 0: degreeDays must be a finite number ≥ 0, got -1',
    );
    expect(() => fitDegreeDayModel([{ days: 30, degreeDays: 1, energy: NaN }])).toThrow(
      'baseline observation 0: energy must be a finite number of kWh ≥ 0, got NaN',
    );
    expect(() => normaliseToClimate({ kWhPerDegreeDay: 1 }, exactYear[0]!, -5)).toThrow(
      'the reference climate must be a finite number of degree-days ≥ 0, got -5',
    );
  });
});
