/**
 * The cost of services: what a spending line is, the natures and suggested services, the errors
 * of this module, and the proration of a period of local days over a year. Pure: no I/O.
 *
 * A spending line (a budget line or an invoice) is an amount in € over a period of local days of
 * the city (`from` included, `to` excluded), for a scope (`building:<key>`, `site:<key>` or
 * `city`), a service (a free key, see SUGGESTED_SERVICES) and a nature (NATURES). Energy bills
 * imported by the utility module (hub/src/utility) count as spending of nature `energy` and
 * service `energie` without being copied here: costs.ts reads them where they are.
 */

/** What the money went to. */
export const NATURES = ['energy', 'maintenance', 'staff', 'rent', 'other'] as const;
export type Nature = (typeof NATURES)[number];

/** The French words accepted for each nature in a CSV file, besides the English ones. */
export const NATURE_ALIASES: Readonly<Record<string, Nature>> = {
  energie: 'energy',
  entretien: 'maintenance',
  maintenance: 'maintenance',
  personnel: 'staff',
  loyer: 'rent',
  autre: 'other',
};

/**
 * Services a city usually follows; any other key of the same shape is accepted. `energie` is the
 * service the utility bills are counted under.
 * - `accueil`: reception of the public (town hall desks), measured by visitors received;
 * - `standard`: the switchboard, measured by calls answered;
 * - `energie`: the energy of buildings (bills, energy contracts);
 * - `entretien`: upkeep and cleaning of buildings;
 * - `eclairage-public`: public lighting, measured by light points;
 * - `restauration-scolaire`: school meals, measured by meals served;
 * - `bibliotheque`: libraries, measured by loans or visitors.
 */
export const SUGGESTED_SERVICES = ['accueil', 'standard', 'energie', 'entretien', 'eclairage-public', 'restauration-scolaire', 'bibliotheque'] as const;

/** The service under which the utility bills count. */
export const ENERGY_SERVICE = 'energie';

export const SERVICE_PATTERN = '^[a-z][a-z0-9_-]{0,62}$';
export const SERVICE_RE = new RegExp(SERVICE_PATTERN);

/** Largest amount of one line, in € (either sign): beyond, a typing error rather than a budget. */
export const MAX_AMOUNT_EUR = 1e11;

/** Years a query and a line may name. */
export const MIN_YEAR = 1990;
export const MAX_YEAR = 2100;

export type CostsErrorCode = 'COSTS_REQUEST_INVALID' | 'COSTS_FILE_REFUSED' | 'COSTS_FILE_TOO_LARGE' | 'COSTS_IMPORT_UNKNOWN' | 'COSTS_UNITS_INVALID';

/** A refusal of this module, answered with its status by the API's error handler (http/errors.ts). */
export class CostsError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: CostsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CostsError';
    this.statusCode = code === 'COSTS_FILE_TOO_LARGE' ? 413 : code === 'COSTS_IMPORT_UNKNOWN' ? 404 : 400;
  }
}

/** A checked spending line, as stored. */
export interface SpendingLine {
  /** Local days YYYY-MM-DD; `to` excluded, after `from`. */
  from: string;
  to: string;
  scope: string;
  service: string;
  nature: Nature;
  /** €, to the cent; negative for a credit. */
  amountEur: number;
  label: string;
}

/** Days since 1970-01-01 of a valid day YYYY-MM-DD (calendar days: no time zone involved). */
export function dayNumber(day: string): number {
  return Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) / 86_400_000;
}

/** Whether `text` is a day of the calendar YYYY-MM-DD between MIN_YEAR and MAX_YEAR. */
export function isCalendarDay(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < MIN_YEAR || y > MAX_YEAR) return false;
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * The part of `amount` (€) spent over [from, to) (local days, to excluded) that falls in `year`:
 * the amount × the period's days in the year ÷ its days. A line of 2025-12-01 to 2026-02-01
 * (62 days) of 6,200 € puts 31 days, 3,100 €, in 2026.
 */
export function prorate(amount: number, from: string, to: string, year: number): number {
  const start = dayNumber(from);
  const end = dayNumber(to);
  const yearStart = Date.UTC(year, 0, 1) / 86_400_000;
  const yearEnd = Date.UTC(year + 1, 0, 1) / 86_400_000;
  const days = Math.min(end, yearEnd) - Math.max(start, yearStart);
  if (days <= 0 || end <= start) return 0;
  return (amount * days) / (end - start);
}

/** Rounded to the cent. */
export function cents(eur: number): number {
  return Math.round(eur * 100) / 100;
}

/** A quoted value for messages, cut at 60 characters. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
