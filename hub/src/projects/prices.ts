import { checkNumber, checkSeries, describe, parseDay, parseMonth, SavingsInputError } from './input-error.js';

/**
 * What a kWh saved is worth, in euros and in greenhouse gas: the city's tariffs by energy and
 * date (a month's price weighs each tariff by the days it applied that month), and emission
 * factors by energy and year, with ADEME's published French defaults for when the city has none.
 */

/** A price of an energy from `from` to `to`, both included (null: still in force), both 'YYYY-MM-DD', as a bill's period reads. */
export interface Tariff {
  energy: string;
  from: string;
  to: string | null;
  /** €/kWh of final energy, all taxes the city pays included. */
  eurosPerKWh: number;
  /** Where the price comes from (contract, invoice, regulated tariff…). */
  source: string;
}

export interface EmissionFactor {
  energy: string;
  /** First year the factor applies to (it applies to later years until a newer one). */
  year: number;
  /** kgCO2e per kWh of final energy. */
  kgCO2ePerKWh: number;
  source: string;
}

const DAY_MS = 86_400_000;

/**
 * The price of `energy` for `month` ('YYYY-MM'), €/kWh: the mean of the tariffs in force on its
 * days, each weighed by its days (a change on the 16th of a 30-day month: (15·a + 15·b) / 30).
 * Days no tariff covers are left out of the mean; null when no day of the month is covered.
 * When tariffs overlap, the one that started last applies. `source` lists the sources used.
 */
export function priceMonth(energy: string, month: string, tariffs: readonly Tariff[]): { eurosPerKWh: number; source: string } | null {
  const parsed = parseMonth(month);
  if (parsed === null) throw new SavingsInputError(`price: month must be YYYY-MM, got ${describe(month)}`);
  const [year, m] = parsed;
  const candidates = checkSeries<Tariff>(tariffs, 'tariffs')
    .map((t, i) => checkTariff(t, i))
    .filter((t) => t.tariff.energy === energy);
  const start = Date.UTC(year, m - 1, 1);
  const end = Date.UTC(year, m, 1);
  // Days of the month each tariff applies, in the order they first apply.
  const daysByTariff = new Map<Tariff, number>();
  for (let day = start; day < end; day += DAY_MS) {
    let chosen: (typeof candidates)[number] | undefined;
    for (const c of candidates) {
      if (c.from <= day && day <= c.to && (chosen === undefined || c.from > chosen.from)) chosen = c;
    }
    if (chosen !== undefined) daysByTariff.set(chosen.tariff, (daysByTariff.get(chosen.tariff) ?? 0) + 1);
  }
  if (daysByTariff.size === 0) return null;
  let weighted = 0;
  let covered = 0;
  for (const [tariff, days] of daysByTariff) {
    weighted += days * tariff.eurosPerKWh;
    covered += days;
  }
  const sources = [...new Set([...daysByTariff.keys()].map((t) => t.source))];
  return { eurosPerKWh: weighted / covered, source: sources.join(' + ') };
}

function checkTariff(t: Tariff, i: number): { tariff: Tariff; from: number; to: number } {
  if (t === null || typeof t !== 'object') throw new SavingsInputError(`tariff ${i}: an object with energy, from, to, eurosPerKWh and source expected`);
  const where = `tariff ${i} (${describe(t.energy)} from ${describe(t.from)})`;
  if (typeof t.energy !== 'string' || typeof t.source !== 'string') throw new SavingsInputError(`${where}: energy and source must be text`);
  const from = parseDay(t.from);
  if (from === null) throw new SavingsInputError(`${where}: from must be a date YYYY-MM-DD, got ${describe(t.from)}`);
  const to = t.to === null ? Infinity : parseDay(t.to);
  if (to === null || to < from) throw new SavingsInputError(`${where}: to must be null or a date YYYY-MM-DD on or after from, got ${describe(t.to)}`);
  checkNumber(t.eurosPerKWh, where, 'eurosPerKWh (€/kWh)', 0);
  return { tariff: t, from, to };
}

/** The factor of `energy` for `year`: that year's, else the latest earlier year's; null when none is that old. */
export function factorFor(energy: string, year: number, factors: readonly EmissionFactor[]): EmissionFactor | null {
  if (!Number.isInteger(year)) throw new SavingsInputError(`emission factor: year must be a whole number, got ${describe(year)}`);
  let best: EmissionFactor | null = null;
  checkSeries<EmissionFactor>(factors, 'emission factors').forEach((f, i) => {
    if (f === null || typeof f !== 'object' || !Number.isInteger(f.year))
      throw new SavingsInputError(`emission factor ${i}: a whole year expected, got ${describe(f?.year)}`);
    checkNumber(f.kgCO2ePerKWh, `emission factor ${i} (${describe(f.energy)} ${f.year})`, 'kgCO2ePerKWh', 0);
    if (f.energy === energy && f.year <= year && (best === null || f.year > best.year)) best = f;
  });
  return best;
}

/**
 * ADEME's French defaults, kgCO2e per kWh of final energy (life cycle: combustion and upstream),
 * for 'elec', 'gas', 'oil', 'heat' and 'wood'. What we are sure of, and what we are not:
 * - gas 0.227 (per kWh PCI), oil 0.324 and wood 0.030 are the heating values the Ministry's
 *   statistics service (CGDD, "Les facteurs d'émission de gaz à effet de serre") quotes from
 *   ADEME's Base Carbone; they have been stable there for years. The year 2018 is the first we
 *   apply them from, not a publication date we checked.
 * - elec: Base Carbone's "mix moyen – consommation" for mainland France. 0.0599 was its long-
 *   standing value and 0.052 the one for 2022, both as we recall them: check against Base
 *   Empreinte (base-empreinte.ademe.fr) before quoting them in a report. The per-use factors
 *   (heating 0.079 …) are not used: ADEME asks the mean mix for a greenhouse gas assessment.
 * - heat: 0.116 is the mean of French district heating networks in 2017 (SNCU survey, quoted by
 *   the CGDD; direct CO2 content). Each network publishes its own value every year in the
 *   arrêté on networks' CO2 content: a city on a network should enter that one.
 * A city's own factors, given to factorFor before these, take precedence.
 */
export const ADEME_DEFAULT_FACTORS: readonly EmissionFactor[] = Object.freeze([
  {
    energy: 'elec',
    year: 2018,
    kgCO2ePerKWh: 0.0599,
    source: 'ADEME Base Carbone, électricité mix moyen consommation France continentale (valeur historique, à vérifier)',
  },
  { energy: 'elec', year: 2022, kgCO2ePerKWh: 0.052, source: 'ADEME Base Empreinte, électricité 2022 mix moyen consommation France continentale (à vérifier)' },
  { energy: 'gas', year: 2018, kgCO2ePerKWh: 0.227, source: 'ADEME Base Carbone, gaz naturel, kWh PCI, combustion et amont (cité par le CGDD)' },
  { energy: 'oil', year: 2018, kgCO2ePerKWh: 0.324, source: 'ADEME Base Carbone, fioul domestique, kWh PCI, combustion et amont (cité par le CGDD)' },
  { energy: 'heat', year: 2017, kgCO2ePerKWh: 0.116, source: 'Moyenne des réseaux de chaleur français 2017, enquête SNCU (citée par le CGDD)' },
  { energy: 'wood', year: 2018, kgCO2ePerKWh: 0.03, source: 'ADEME Base Carbone, bois de chauffage (cité par le CGDD)' },
] satisfies EmissionFactor[]);
