import type pg from 'pg';
import { parseFormula } from './formula.js';
import { loadObjectiveData } from './data.js';
import { evaluateObjective } from './engine.js';
import type { ObjectiveDefinition } from './model.js';

/**
 * The annual final energy of each building, by energy, as the OPERAT platform (the French
 * tertiary decree's declarations) asks for it: one row per building and year, in kWh.
 * Semicolon-separated, decimal point, UTF-8 with a header line.
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
] as const;

/** Meters of each energy, by tags; `other` is every energy meter none of the others is. */
const ENERGIES = { electricity: 'elec meter energy', gas: 'gas meter energy', heat: 'heat meter energy', all: 'meter energy' } as const;

export async function operatExport(pool: pg.Pool, timezone: string, year: number): Promise<string> {
  const formulas = Object.fromEntries(Object.entries(ENERGIES).map(([k, tags]) => [k, parseFormula(`delta("${tags}")`)])) as Record<keyof typeof ENERGIES, ReturnType<typeof parseFormula>>;
  const data = await loadObjectiveData(pool, timezone, {
    firstMonth: `${year}-01`,
    lastMonth: `${year}-12`,
    tagSets: Object.values(ENERGIES).map((t) => t.split(' ')),
    serviceMetrics: [],
    degreeDayBases: [],
  });
  // The engine evaluates objectives; of this one only the scope (each building) and the period
  // (the year) matter: the export reads the values, never the target or the status.
  const definition: ObjectiveDefinition = {
    key: 'operat',
    theme: 'energy',
    label: { fr: 'OPERAT', en: 'OPERAT' },
    unit: 'kWh',
    formula: '',
    scope: { level: 'building' },
    period: 'year',
    target: { kind: 'value', value: 0 },
    direction: 'down',
    tolerance: 0,
    owner: 'export',
    methodology: 'export',
    published: false,
  };
  // The year is over when it is exported: evaluate as seen from its end.
  const now = data.months.at(-1)!.end;
  const byEnergy = Object.fromEntries(
    Object.entries(formulas).map(([energy, formula]) => [
      energy,
      new Map(evaluateObjective(definition, formula, data, { firstPeriodMonth: `${year}-01`, now }).map((r) => [r.scope, r.value])),
    ]),
  ) as Record<keyof typeof ENERGIES, Map<string, number | null>>;
  const lines = [OPERAT_COLUMNS.join(';')];
  const names = new Map((await pool.query<{ key: string; name: string }>('SELECT key, name FROM buildings')).rows.map((r) => [r.key, r.name]));
  for (const b of [...data.buildings.values()].sort((x, y) => (x.key < y.key ? -1 : 1))) {
    const scope = `building:${b.key}`;
    const kwh = (energy: keyof typeof ENERGIES) => byEnergy[energy].get(scope) ?? null;
    const total = kwh('all');
    const known = (kwh('electricity') ?? 0) + (kwh('gas') ?? 0) + (kwh('heat') ?? 0);
    const cell = (v: number | null) => (v === null ? '' : String(Math.round(v)));
    lines.push(
      [b.key, csvText(names.get(b.key) ?? b.key), b.usage, b.areaM2 ?? '', year, cell(kwh('electricity')), cell(kwh('gas')), cell(kwh('heat')), cell(total === null ? null : total - known), cell(total)].join(
        ';',
      ),
    );
  }
  return lines.join('\n') + '\n';
}

function csvText(text: string): string {
  return /[;"\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
