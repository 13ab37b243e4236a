/** TEMPORARY stand-in for projects-math's savings-model.ts: the lead replaces it with the real file. */

/** One month of a project's scope: its days, degree-days (°C·day), open days and energy (kWh). */
export interface PeriodObservation {
  period: string;
  days: number;
  hdd: number;
  cdd: number;
  occupancyDays?: number;
  energy: number | null;
}

export interface BaselineModel {
  /** kWh per day, per heating degree-day, per cooling degree-day, per open day. */
  coefficients: { perDay: number; perHdd: number; perCdd: number; perOpenDay: number };
  n: number;
  r2: number;
  cvRmse: number;
  nmbe: number;
  /** ASHRAE Guideline 14 monthly criteria: CV(RMSE) ≤ 15 %, |NMBE| ≤ 5 %. */
  ashrae14: boolean;
}

export interface SavingsResult {
  method: 'ipmvp-c' | 'same-months-before';
  model: BaselineModel | null;
  months: { period: string; adjustedBaseline: number | null; measured: number | null; avoided: number | null; cumulated: number }[];
  totalAvoided: number;
  uncertainty: { absolute: number; fraction: number; confidence: number } | null;
  note: string;
}

function solve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-12) return null;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

export function fitBaselineModel(observations: readonly PeriodObservation[], options: { occupancy?: boolean } = {}): BaselineModel | null {
  const obs = observations.filter((o) => o.energy !== null);
  const columns = [
    (o: PeriodObservation) => o.days,
    (o: PeriodObservation) => o.hdd,
    (o: PeriodObservation) => o.cdd,
    (o: PeriodObservation) => o.occupancyDays ?? 0,
  ];
  const used = columns.map((f, i) => (i === 3 && !options.occupancy ? false : obs.some((o) => f(o) !== 0)));
  const idx = used.flatMap((u, i) => (u ? [i] : []));
  if (obs.length < idx.length + 2 || obs.length < 9) return null;
  const x = obs.map((o) => idx.map((i) => columns[i]!(o)));
  const y = obs.map((o) => o.energy!);
  const xtx = idx.map((_, i) => idx.map((_, j) => x.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const xty = idx.map((_, i) => x.reduce((s, r, k) => s + r[i]! * y[k]!, 0));
  const beta = solve(xtx, xty);
  if (!beta) return null;
  const c = [0, 0, 0, 0];
  idx.forEach((i, k) => (c[i] = beta[k]!));
  const coefficients = { perDay: c[0]!, perHdd: c[1]!, perCdd: c[2]!, perOpenDay: c[3]! };
  const predicted = obs.map((o) => predict(coefficients, o));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const sse = y.reduce((s, v, i) => s + (v - predicted[i]!) ** 2, 0);
  const sst = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  const dof = Math.max(1, obs.length - idx.length);
  const cvRmse = mean ? Math.sqrt(sse / dof) / mean : Infinity;
  const nmbe = mean ? y.reduce((s, v, i) => s + v - predicted[i]!, 0) / dof / mean : Infinity;
  return { coefficients, n: obs.length, r2: sst ? 1 - sse / sst : 0, cvRmse, nmbe, ashrae14: cvRmse <= 0.15 && Math.abs(nmbe) <= 0.05 };
}

function predict(c: BaselineModel['coefficients'], o: PeriodObservation): number {
  return c.perDay * o.days + c.perHdd * o.hdd + c.perCdd * o.cdd + c.perOpenDay * (o.occupancyDays ?? 0);
}

export function avoidedEnergy(
  baseline: readonly PeriodObservation[],
  reporting: readonly PeriodObservation[],
  options: { occupancy?: boolean } = {},
): SavingsResult {
  const model = fitBaselineModel(baseline, options);
  let cumulated = 0;
  const sameMonth = (period: string) => baseline.find((b) => b.period.slice(5) === period.slice(5) && b.energy !== null)?.energy ?? null;
  const months = reporting.map((o) => {
    const adjustedBaseline = model ? predict(model.coefficients, o) : sameMonth(o.period);
    const avoided = adjustedBaseline !== null && o.energy !== null ? adjustedBaseline - o.energy : null;
    cumulated += avoided ?? 0;
    return { period: o.period, adjustedBaseline, measured: o.energy, avoided, cumulated };
  });
  const counted = months.filter((m) => m.avoided !== null);
  const baselineTotal = counted.reduce((s, m) => s + m.adjustedBaseline!, 0);
  let uncertainty: SavingsResult['uncertainty'] = null;
  if (model && counted.length) {
    const mean = baseline.filter((b) => b.energy !== null).reduce((s, b) => s + b.energy!, 0) / model.n;
    const absolute = 2 * model.cvRmse * mean * Math.sqrt(counted.length * (1 + 2 / model.n));
    uncertainty = { absolute, fraction: cumulated ? Math.abs(absolute / cumulated) : Infinity, confidence: 0.95 };
  }
  return {
    method: model ? 'ipmvp-c' : 'same-months-before',
    model,
    months,
    totalAvoided: cumulated,
    uncertainty,
    note: model
      ? `regression on ${model.n} baseline months; ${baselineTotal.toFixed(0)} kWh expected`
      : 'too few baseline months for a regression: same months before',
  };
}
