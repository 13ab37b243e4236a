/**
 * What a utility says of a delivery point, once read from its API or from a file it exports:
 * the shapes every connector and import produces and the store (store.ts) writes as samples.
 * Times are epoch milliseconds; local days and months are the city's (its time zone).
 */

/** Energies a utility meter or a bill can count (the tags of meters.ts's ENERGIES). */
export const UTILITY_ENERGIES = ['elec', 'gas', 'heat', 'chilled', 'oil', 'wood'] as const;
export type UtilityEnergy = (typeof UTILITY_ENERGIES)[number];

/** How sure the utility is of a reading: `good` when measured, `uncertain` when estimated or filled by it. */
export type ReadingQuality = 'good' | 'uncertain';

/** Energy consumed over [start, end): a day, a month, a bill's period. */
export interface ConsumptionReading {
  start: number;
  end: number;
  /** Final-energy kWh (gas: after the conversion coefficient). */
  kWh: number;
  quality: ReadingQuality;
  /** For gas read in m³: the volume and the coefficient (kWh/m³) the kWh came from. */
  volume?: { m3: number; kWhPerM3: number };
}

/** Average power over [start, end): one step of a load curve (Enedis: 30 minutes by default). */
export interface PowerReading {
  start: number;
  end: number;
  kW: number;
  quality: ReadingQuality;
}

/** A line of a bill: energy and amount over a period. */
export interface BillLine {
  start: number;
  end: number;
  energy: UtilityEnergy;
  kWh: number;
  /** Amount in euros, taxes included as the bill shows it. */
  amountEur: number;
  supplier: string;
  /** The bill's number, as printed: provenance. */
  invoice?: string;
}

/** A problem with one row of an imported file: where, and what was expected. */
export interface RowError {
  /** 1-based line of the file. */
  row: number;
  /** The column's name as the file's header has it, when the problem is in one cell. */
  column?: string;
  message: string;
}
