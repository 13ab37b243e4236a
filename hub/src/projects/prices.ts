/**
 * TEMPORARY stand-in for projects-math's prices.ts (energy tariffs and emission factors): the
 * lead replaces it with the real file. Only the signatures the hub side uses are here.
 */

/** A price of one energy over a range of local days. */
export interface Tariff {
  energy: string;
  /** First local day `YYYY-MM-DD`, included. */
  from: string;
  /** Last local day `YYYY-MM-DD`, included; null: still in force. */
  to: string | null;
  /** €/kWh, taxes included as billed. */
  eurosPerKWh: number;
  /** Where the price comes from (a supplier's bill, a contract). */
  source: string;
}

/** kg CO2e per kWh of final energy of one energy in one year. */
export interface EmissionFactor {
  energy: string;
  year: number;
  kgCO2ePerKWh: number;
  source: string;
}

/** Stand-in defaults (ADEME Base Carbone orders of magnitude, kgCO2e/kWh). */
export const ADEME_DEFAULT_FACTORS: readonly EmissionFactor[] = [
  { energy: 'elec', year: 2023, kgCO2ePerKWh: 0.052, source: 'ADEME Base Carbone (stand-in)' },
  { energy: 'gas', year: 2023, kgCO2ePerKWh: 0.227, source: 'ADEME Base Carbone (stand-in)' },
  { energy: 'oil', year: 2023, kgCO2ePerKWh: 0.324, source: 'ADEME Base Carbone (stand-in)' },
  { energy: 'heat', year: 2023, kgCO2ePerKWh: 0.1, source: 'ADEME Base Carbone (stand-in)' },
  { energy: 'chilled', year: 2023, kgCO2ePerKWh: 0.02, source: 'ADEME Base Carbone (stand-in)' },
  { energy: 'wood', year: 2023, kgCO2ePerKWh: 0.03, source: 'ADEME Base Carbone (stand-in)' },
];

/** €/kWh of `energy` in local month `YYYY-MM`: the tariffs in force weighted by their days; null when a day has none. */
export function priceMonth(energy: string, month: string, tariffs: readonly Tariff[]): number | null {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  let total = 0;
  for (let d = 1; d <= days; d++) {
    const day = `${month}-${String(d).padStart(2, '0')}`;
    const t = tariffs.filter((x) => x.energy === energy && x.from <= day && (x.to === null || day <= x.to)).at(-1);
    if (!t) return null;
    total += t.eurosPerKWh;
  }
  return total / days;
}

/** The factor of `energy` for `year`: the latest year at or before it, else the earliest; undefined without any. */
export function factorFor(energy: string, year: number, factors: readonly EmissionFactor[]): EmissionFactor | undefined {
  const own = factors.filter((f) => f.energy === energy).sort((a, b) => a.year - b.year);
  return own.filter((f) => f.year <= year).at(-1) ?? own[0];
}
