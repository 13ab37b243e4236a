import { describe, expect, it } from 'vitest';
import { avoidedEnergy, fitBaselineModel, SavingsInputError, type PeriodObservation } from './savings-model.js';
import { studentTQuantile } from './student-t.js';

/** mulberry32: a tiny seeded generator, so that the synthetic building is the same at every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MEAN_HDD = [420, 360, 300, 190, 90, 20, 0, 0, 40, 160, 310, 400];

/**
 * A school heated by gas: 300 kWh a day of base load and 12 kWh per heating degree-day, no
 * cooling; each month's degree-days vary around the mean by ±15 %, and the energy carries a
 * normal noise of `noise` kWh. `factor` scales the true energy (0.85: a 15 % saving).
 */
function school(seed: number, firstYear: number, years: number, noise: number, factor = 1): { months: PeriodObservation[]; truth: number[] } {
  const random = mulberry32(seed);
  const months: PeriodObservation[] = [];
  const truth: number[] = [];
  for (let k = 0; k < years * 12; k++) {
    const m = k % 12;
    const hdd = MEAN_HDD[m]! * (0.85 + 0.3 * random());
    const days = m === 2 ? 30.958 : MONTH_DAYS[m]!;
    const exact = factor * (300 * days + 12 * hdd);
    truth.push(exact);
    const period = `${firstYear + Math.floor(k / 12)}-${String(m + 1).padStart(2, '0')}`;
    months.push({ period, days, hdd, cdd: 0, energy: Math.max(0, exact + noise * gaussian(random)) });
  }
  return { months, truth };
}

/**
 * Nine periods of one day each: three without heating (1, 3, 2 kWh), three at 10 °C·day
 * (21, 23, 22), three at 20 °C·day (41, 43, 42). The group means 2, 22, 42 lie on a line, so the
 * fit is 2 kWh/day + 2 kWh/°C·day; residuals −1, 1, 0 in each group: Σres² = 6, Σres = 0.
 * n = 9, p = 2 (cdd is all zero and dropped). Mean energy 22; Σ(E − 22)² = 1202 + 2 + 1202 = 2406.
 *   R² = 1 − 6 / 2406; CV(RMSE) = √(6 / 7) / 22; NMBE = 0.
 * XᵀX = [[9, 90], [90, 1500]], det 5,400, (XᵀX)⁻¹ diagonal 1500 / 5400 and 9 / 5400, σ² = 6 / 7:
 *   SE(days) = √(6/7 · 1500/5400), SE(hdd) = √(6/7 · 9/5400).
 */
const HAND: PeriodObservation[] = [1, 3, 2, 21, 23, 22, 41, 43, 42].map((energy, i) => ({
  period: `2024-${String(i + 1).padStart(2, '0')}`,
  days: 1,
  hdd: 10 * Math.floor(i / 3),
  cdd: 0,
  energy,
}));

describe('savings baseline model', () => {
  it('gives R², CV(RMSE), NMBE and standard errors computed by hand', () => {
    const model = fitBaselineModel(HAND)!;
    expect(model.regressors).toEqual(['days', 'hdd']);
    expect(model.coefficients).toEqual({ days: expect.closeTo(2, 12), hdd: expect.closeTo(2, 12), cdd: 0, occupancyDays: 0 });
    expect(model.r2).toBeCloseTo(1 - 6 / 2406, 9);
    expect(model.cvRmse).toBeCloseTo(Math.sqrt(6 / 7) / 22, 9);
    expect(model.nmbe).toBeCloseTo(0, 9);
    expect(model.standardErrors.days).toBeCloseTo(Math.sqrt(((6 / 7) * 1500) / 5400), 9);
    expect(model.standardErrors.hdd).toBeCloseTo(Math.sqrt(((6 / 7) * 9) / 5400), 9);
    expect([model.n, model.p]).toEqual([9, 2]);
    expect(model.ashrae14).toEqual({ passes: true, reasons: [] });
  });

  it('computes a biased model without a constant and says which limits it fails', () => {
    // Only days (hdd and cdd all zero): six 1-day periods of 1 kWh, three 2-day periods of 4 kWh.
    // a = Σ d·E / Σ d² = (6 + 24) / (6 + 12) = 5/3. Residuals −2/3 (×6) and +2/3 (×3): Σres = −2,
    // Σres² = 9 · 4/9 = 4. n = 9, p = 1, mean 18 / 9 = 2, Σ(E − 2)² = 6 + 12 = 18.
    //   R² = 1 − 4/18 = 7/9; CV(RMSE) = √(4/8) / 2 = 0.35355…; NMBE = −2 / (8 · 2) = −0.125;
    //   SE(a) = √(σ² / Σd²) = √(0.5 / 18) = 1/6.
    const months = [1, 1, 1, 1, 1, 1, 2, 2, 2].map((days, i) => ({ period: `p${i}`, days, hdd: 0, cdd: 0, energy: days === 1 ? 1 : 4 }));
    const model = fitBaselineModel(months)!;
    expect(model.regressors).toEqual(['days']);
    expect(model.coefficients.days).toBeCloseTo(5 / 3, 12);
    expect(model.r2).toBeCloseTo(7 / 9, 9);
    expect(model.cvRmse).toBeCloseTo(Math.sqrt(0.5) / 2, 9);
    expect(model.nmbe).toBeCloseTo(-0.125, 9);
    expect(model.standardErrors.days).toBeCloseTo(1 / 6, 9);
    expect(model.ashrae14).toEqual({
      passes: false,
      reasons: ["CV(RMSE) 35.4 % is above ASHRAE Guideline 14's 15 % for monthly data", "NMBE -12.5 % is outside ASHRAE Guideline 14's ±5 % for monthly data"],
    });
  });

  it('finds the synthetic school within 3 standard errors of its true coefficients', () => {
    const { months } = school(42, 2021, 3, 250);
    const model = fitBaselineModel(months)!;
    expect(model.regressors).toEqual(['days', 'hdd']);
    expect(Math.abs(model.coefficients.days - 300)).toBeLessThan(3 * model.standardErrors.days);
    expect(Math.abs(model.coefficients.hdd - 12)).toBeLessThan(3 * model.standardErrors.hdd);
    // The standard errors are of the size expected: a few kWh/day, a few hundredths of kWh/°C·day.
    expect(model.standardErrors.days).toBeGreaterThan(0.5);
    expect(model.standardErrors.days).toBeLessThan(10);
    expect(model.ashrae14.passes).toBe(true);
  });

  it('drops a cooling column that is all zero or proportional to the heating one, and adds occupancy only when asked and given', () => {
    const { months } = school(7, 2022, 1, 100);
    expect(fitBaselineModel(months)!.regressors).toEqual(['days', 'hdd']);
    const collinear = months.map((o) => ({ ...o, cdd: o.hdd / 2 }));
    const model = fitBaselineModel(collinear)!;
    expect(model.regressors).toEqual(['days', 'hdd']);
    expect(model.coefficients.cdd).toBe(0);
    const open = months.map((o, i) => ({ ...o, occupancyDays: i === 7 ? 0 : Math.floor(o.days) - 8 }));
    expect(fitBaselineModel(open)!.regressors).toEqual(['days', 'hdd']);
    expect(fitBaselineModel(open, { occupancy: true })!.regressors).toEqual(['days', 'hdd', 'occupancyDays']);
    const partly = open.map((o, i) => (i === 3 ? { ...o, occupancyDays: undefined } : o));
    expect(fitBaselineModel(partly, { occupancy: true })!.regressors).toEqual(['days', 'hdd']);
  });

  it('fits on the measured months only, and on no fewer than 9', () => {
    const { months } = school(3, 2022, 1, 100);
    const threeUnknown = months.map((o, i) => (i < 3 ? { ...o, energy: null } : o));
    expect(fitBaselineModel(threeUnknown)!.n).toBe(9);
    expect(fitBaselineModel(months.map((o, i) => (i < 4 ? { ...o, energy: null } : o)))).toBeNull();
  });

  it('says which month is wrong, with a coded error', () => {
    const bad = HAND.map((o, i) => (i === 4 ? { ...o, hdd: NaN } : o));
    expect(() => fitBaselineModel(bad)).toThrow(new SavingsInputError("baseline month '2024-05': hdd (°C·day) must be a finite number ≥ 0, got NaN"));
    try {
      fitBaselineModel(bad);
    } catch (error) {
      expect((error as SavingsInputError).code).toBe('SAVINGS_INPUT_INVALID');
    }
    expect(() => fitBaselineModel([{ ...HAND[0]!, days: 0 }])).toThrow("baseline month '2024-01': days must be a finite number > 0, got 0");
    expect(() => fitBaselineModel([{ ...HAND[0]!, energy: -1 }])).toThrow("baseline month '2024-01': energy (kWh) must be a finite number ≥ 0, got -1");
    expect(() => fitBaselineModel([{ ...HAND[0]!, occupancyDays: 2 }])).toThrow("baseline month '2024-01': occupancyDays must be at most days (1), got 2");
    expect(() => fitBaselineModel('x' as never)).toThrow('baseline months must be a list of periods, got "x"');
    expect(() => fitBaselineModel(new Array(1201).fill(HAND[0]))).toThrow('baseline months: at most 1200 periods are accepted, got 1201');
    const reporting = [{ ...HAND[0]!, period: '2025-01', cdd: Infinity }];
    expect(() => avoidedEnergy(HAND, reporting)).toThrow("reporting month '2025-01': cdd (°C·day) must be a finite number ≥ 0, got Infinity");
  });
});

describe('avoided energy', () => {
  it('inverts Student t as the tables give it', () => {
    expect(studentTQuantile(0.95, 10)).toBeCloseTo(1.812461123, 8);
    expect(studentTQuantile(0.95, 1)).toBeCloseTo(6.313751515, 8);
    expect(studentTQuantile(0.95, 7)).toBeCloseTo(1.894578605, 8);
    expect(studentTQuantile(0.975, 5)).toBeCloseTo(2.570581836, 8);
    expect(studentTQuantile(0.95, 30)).toBeCloseTo(1.697260887, 8);
  });

  it('adjusts the baseline to the reporting weather, cumulates, and states the uncertainty by Guideline 14', () => {
    // Model 2 + 2·hdd per 1-day period; three reporting periods at 10 °C·day: baseline 22 each.
    // Measured 18, unknown, 17, 20 → avoided 4, null, 5, 2; total 11 over m = 3 measured months.
    // ΔE = t(0.95; 7) · 1.26 · CV · √((1 + 2/9) / 3) · (3 · 22), CV = √(6/7) / 22.
    const reporting = [18, null, 17, 20].map((energy, i) => ({ period: `2025-0${i + 1}`, days: 1, hdd: 10, cdd: 0, energy }));
    const result = avoidedEnergy(HAND, reporting);
    expect(result.method).toBe('ipmvp-c');
    expect(result.months.map((m) => [m.adjustedBaseline, m.avoided, m.cumulated])).toEqual([
      [expect.closeTo(22, 9), expect.closeTo(4, 9), expect.closeTo(4, 9)],
      [expect.closeTo(22, 9), null, expect.closeTo(4, 9)],
      [expect.closeTo(22, 9), expect.closeTo(5, 9), expect.closeTo(9, 9)],
      [expect.closeTo(22, 9), expect.closeTo(2, 9), expect.closeTo(11, 9)],
    ]);
    expect(result.totalAvoided).toBeCloseTo(11, 9);
    const expected = 1.894578605 * 1.26 * (Math.sqrt(6 / 7) / 22) * Math.sqrt((1 + 2 / 9) / 3) * 66;
    expect(result.uncertainty!.absolute).toBeCloseTo(expected, 6);
    expect(result.uncertainty!.fraction).toBeCloseTo(expected / 11, 6);
    expect(result.uncertainty!.confidence).toBe(0.9);
    expect(result.note).toMatch(/^IPMVP option C: a baseline of 9 months/);
  });

  it('recovers a 15 % saving after the works within the stated uncertainty', () => {
    const before = school(11, 2022, 2, 250);
    const after = school(12, 2024, 1, 250, 0.85);
    const result = avoidedEnergy(before.months, after.months);
    expect(result.method).toBe('ipmvp-c');
    // The true saving: 0.15 / 0.85 of what the building used after the works, without noise.
    const trueSaving = (after.truth.reduce((s, e) => s + e, 0) * 0.15) / 0.85;
    expect(Math.abs(result.totalAvoided - trueSaving)).toBeLessThan(result.uncertainty!.absolute);
    // And the uncertainty is not so wide as to say nothing: under a fifth of the saving.
    expect(result.uncertainty!.fraction!).toBeLessThan(0.2);
  });

  it('falls back to the same months before when the model is too noisy, and says why', () => {
    const before = school(5, 2023, 1, 4000);
    const after = school(6, 2024, 1, 100, 0.85);
    const result = avoidedEnergy(before.months, after.months);
    expect(result.method).toBe('same-months-before');
    expect(result.uncertainty).toBeNull();
    expect(result.model!.ashrae14.passes).toBe(false);
    expect(result.note).toContain("is above ASHRAE Guideline 14's 15 % for monthly data");
    expect(result.note).toMatch(/^Compared with the same months before the works, without weather correction, because the baseline model does not meet/);
    // March 2024 against March 2023, as measured.
    expect(result.months[2]!.adjustedBaseline).toBe(before.months[2]!.energy);
    expect(result.months[2]!.avoided).toBeCloseTo(before.months[2]!.energy! - after.months[2]!.energy!, 9);
    const total = before.months.reduce((s, o, i) => s + o.energy! - after.months[i]!.energy!, 0);
    expect(result.totalAvoided).toBeCloseTo(total, 6);
  });

  it('falls back with too few baseline months, and counts no month it cannot compare', () => {
    const before = school(8, 2023, 1, 100).months.slice(0, 8);
    const after = school(9, 2024, 1, 100, 0.85).months.slice(6, 10);
    const result = avoidedEnergy(before, after);
    expect(result.method).toBe('same-months-before');
    expect(result.model).toBeNull();
    expect(result.note).toBe(
      'Compared with the same months before the works, without weather correction, because only 8 measured baseline months, IPMVP option C needs at least 9.' +
        ' No measured month before the works to compare with for 2024-09, 2024-10: not counted.',
    );
    expect(result.months.map((m) => m.avoided === null)).toEqual([false, false, true, true]);
    expect(result.totalAvoided).toBeCloseTo(before[6]!.energy! - after[0]!.energy! + before[7]!.energy! - after[1]!.energy!, 9);
  });

  it('needs the occupancy of every reporting month when the model uses it', () => {
    const { months } = school(7, 2022, 1, 100);
    const open = months.map((o, i) => ({ ...o, occupancyDays: i === 7 ? 0 : Math.floor(o.days) - 8 }));
    const reporting = [{ period: '2023-01', days: 31, hdd: 400, cdd: 0, energy: 10_000 }];
    expect(() => avoidedEnergy(open, reporting, { occupancy: true })).toThrow("reporting month '2023-01': occupancyDays is needed, the baseline model uses it");
  });
});
