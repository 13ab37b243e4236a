import type pg from 'pg';
import { parseFormula } from './formula.js';
import { loadObjectiveData, type DegreeDayMethod } from './data.js';
import { evaluateObjective, kWhDefinition } from './engine.js';
import { fitDegreeDayModel, normaliseToClimate, type BaselineObservation } from './baseline.js';

/**
 * The annual final energy of each building, by energy, as the OPERAT platform (the French
 * tertiary decree's declarations) asks for it: one row per building and year, in kWh.
 * Semicolon-separated, decimal point, UTF-8 with a header line.
 *
 * Measured, then climate-normalised: `dju_annee` the year's heating degree-days (base
 * `baseC`, 18 °C by default), `dju_reference` the reference climate (2,500 by default),
 * `total_kwh_corrige_climat` the total with only its weather-dependent share normalised
 * (baseline.ts: fitted by least squares on the building's 12 months of the year, then base load
 * × 365 days + kWh per degree-day × the reference), and the baseline itself with its quality:
 * `charge_de_base_kwh_par_jour`, `kwh_par_dju`, `r2`, `cv_rmse` (empty without a baseline: fewer
 * than 6 months of meter and degree-day data, or months all as cold per day).
 */
export const OPERAT_COLUMNS = [
  'identifiant_batiment',
  'nom',
  'usage',
  'surface_m2',
  'annee',
  'electricite_kwh',
  'gaz_naturel_kwh',
  'reseau_chaleur_kwh',
  'autres_kwh',
  'total_kwh',
  'dju_annee',
  'dju_reference',
  'total_kwh_corrige_climat',
  'charge_de_base_kwh_par_jour',
  'kwh_par_dju',
  'r2',
  'cv_rmse',
] as const;

/** Meters of each energy, by tags; `other` is every energy meter none of the others is. */
const ENERGIES = { electricity: 'elec meter energy', gas: 'gas meter energy', heat: 'heat meter energy', all: 'meter energy' } as const;

export async function operatExport(
  pool: pg.Pool,
  timezone: string,
  year: number,
  climate: { baseC?: number; referenceDegreeDays?: number; degreeDayMethod?: DegreeDayMethod } = {},
): Promise<string> {
  const baseC = climate.baseC ?? 18;
  const reference = climate.referenceDegreeDays ?? 2500;
  if (!Number.isInteger(year) || year < 2000 || year > 2100) throw new RangeError(`year must be an integer from 2000 to 2100, got ${year}`);
  if (!Number.isFinite(baseC)) throw new RangeError(`baseC must be a temperature in °C, got ${baseC}`);
  if (!Number.isFinite(reference) || reference < 0) throw new RangeError(`referenceDegreeDays must be a number of degree-days ≥ 0, got ${reference}`);
  const formulas = Object.fromEntries(Object.entries(ENERGIES).map(([k, tags]) => [k, parseFormula(`delta("${tags}")`)])) as Record<
    keyof typeof ENERGIES,
    ReturnType<typeof parseFormula>
  >;
  const data = await loadObjectiveData(pool, timezone, {
    firstMonth: `${year}-01`,
    lastMonth: `${year}-12`,
    tagSets: Object.values(ENERGIES).map((t) => t.split(' ')),
    serviceMetrics: [],
    degreeDayBases: [baseC],
    // The objectives' method, so that the export's DJU are theirs.
    degreeDayMethod: climate.degreeDayMethod ?? 'mean',
  });
  // The engine evaluates objectives; of this one only the scope (each building) and the period
  // (the year) matter: the export reads the values, never the target or the status.
  const definition = kWhDefinition('operat', { level: 'building' }, 'year');
  // The year is over when it is exported: evaluate as seen from its end.
  const now = data.months.at(-1)!.end;
  const byEnergy = Object.fromEntries(
    Object.entries(formulas).map(([energy, formula]) => [
      energy,
      new Map(evaluateObjective(definition, formula, data, { firstPeriodMonth: `${year}-01`, now }).map((r) => [r.scope, r.value])),
    ]),
  ) as Record<keyof typeof ENERGIES, Map<string, number | null>>;
  // Each building's months of the year (energy of all its meters, degree-days, days) for its baseline.
  const monthly = (source: string) => {
    const byScope = new Map<string, Map<string, number | null>>();
    for (const r of evaluateObjective({ ...definition, period: 'month' }, parseFormula(source), data, { firstPeriodMonth: `${year}-01`, now })) {
      (byScope.get(r.scope) ?? byScope.set(r.scope, new Map()).get(r.scope)!).set(r.period, r.value);
    }
    return byScope;
  };
  const monthEnergy = monthly(`delta("${ENERGIES.all}")`);
  const monthDegreeDays = monthly(`hdd(${baseC})`);
  const monthDays = monthly('days');
  const degreeDaysOfYear = new Map(
    evaluateObjective(definition, parseFormula(`hdd(${baseC})`), data, { firstPeriodMonth: `${year}-01`, now }).map((r) => [r.scope, r.value]),
  );
  const lines = [OPERAT_COLUMNS.join(';')];
  const names = new Map((await pool.query<{ key: string; name: string }>('SELECT key, name FROM buildings')).rows.map((r) => [r.key, r.name]));
  for (const b of [...data.buildings.values()].sort((x, y) => (x.key < y.key ? -1 : 1))) {
    const scope = `building:${b.key}`;
    const kwh = (energy: keyof typeof ENERGIES) => byEnergy[energy].get(scope) ?? null;
    const total = kwh('all');
    const known = (kwh('electricity') ?? 0) + (kwh('gas') ?? 0) + (kwh('heat') ?? 0);
    const cell = (v: number | null) => (v === null ? '' : String(Math.round(v)));
    const observations: BaselineObservation[] = [];
    for (const m of data.months) {
      const energy = monthEnergy.get(scope)?.get(m.key) ?? null;
      const degreeDays = monthDegreeDays.get(scope)?.get(m.key) ?? null;
      const days = monthDays.get(scope)?.get(m.key) ?? null;
      // A month whose meters do not start from a reading of the month before counts a few days as a month: left out.
      const before = hasPreviousReadings(data, b.key, m.key);
      if (energy !== null && degreeDays !== null && days !== null && energy >= 0 && before) observations.push({ energy, degreeDays, days });
    }
    const model = fitDegreeDayModel(observations);
    const degreeDays = degreeDaysOfYear.get(scope) ?? null;
    const daysOfYear = data.months.reduce((h, m) => h + m.hours, 0) / 24;
    const normalised =
      model && total !== null && degreeDays !== null ? normaliseToClimate(model, { energy: total, degreeDays, days: daysOfYear }, reference) : null;
    const decimals = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '' : v.toFixed(digits));
    lines.push(
      [
        b.key,
        csvText(names.get(b.key) ?? b.key),
        b.usage,
        b.areaM2 ?? '',
        year,
        cell(kwh('electricity')),
        cell(kwh('gas')),
        cell(kwh('heat')),
        cell(total === null ? null : total - known),
        cell(total),
        cell(degreeDays),
        reference,
        cell(normalised),
        decimals(model?.baseLoadPerDay, 1),
        decimals(model?.kWhPerDegreeDay, 2),
        decimals(model?.r2, 3),
        decimals(model?.cvRmse, 3),
      ].join(';'),
    );
  }
  return lines.join('\n') + '\n';
}

/** Whether every energy meter of `building` has a reading in the month before `month` (loaded with the year's data). */
function hasPreviousReadings(data: Awaited<ReturnType<typeof loadObjectiveData>>, building: string, month: string): boolean {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const before = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
  const meters = data.points.filter((p) => p.building === building && ENERGIES.all.split(' ').every((t) => p.tags.has(t)));
  return meters.length > 0 && meters.every((p) => !data.pointMonths.get(p.id)?.size || (data.pointMonths.get(p.id)?.get(before)?.n ?? 0) > 0);
}

function csvText(text: string): string {
  return /[;"\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
