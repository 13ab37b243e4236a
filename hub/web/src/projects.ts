/**
 * Projects as the hub's API gives them (hub/src/projects/routes.ts: GET /api/projects,
 * /api/projects/:key, /api/projects/:key/savings, /api/projects-summary), and what the pages
 * derive from them: the state of the works on a given day, the uncertainty of a project's
 * savings over all its energies, the words of a method. Amounts are € and kWh, emissions tCO2e,
 * months `YYYY-MM` and days `YYYY-MM-DD` local to the city.
 */
import { CITY_TIMEZONE } from './i18n.js';

export const PROJECT_THEMES = ['energy', 'reception', 'public-lighting', 'parking', 'security', 'roads', 'other'] as const;
export const ENERGIES = ['elec', 'gas', 'heat', 'chilled', 'oil', 'wood'] as const;

/** A project's definition (hub/src/projects/model.ts ProjectSchema). */
export interface ProjectDefinition {
  key: string;
  title: { fr: string; en: string };
  description?: string;
  theme: string;
  /** `city`, `site:<key>`, `building:<key>`, or a list of building keys. */
  scope: string | string[];
  dates: { decision?: string; worksStart: string; worksEnd: string };
  costs: {
    /** €, before subsidies. */
    investment: number;
    /** € per year. */
    yearlyRunningCost: number;
    subsidies: { name: string; amount: number }[];
  };
  energy?: { energies: string[]; occupancy: boolean };
  metric?: { key: string; better: 'lower' | 'higher' };
  expectedSavings: { kWhPerYear?: number; eurosPerYear?: number; note?: string };
  lifetimeYears: number;
  owner: string;
  published: boolean;
}

/** A stored version of a project, as the API answers it. */
export interface StoredProject {
  key: string;
  version: number;
  createdAt: string;
  createdBy: string;
  definition: ProjectDefinition;
}

export interface VersionLine {
  version: number;
  createdAt: string;
  createdBy: string;
  supersededAt: string | null;
  deletedBy: string | null;
}

/** GET /api/projects/:key. */
export interface ProjectDetail extends StoredProject {
  deleted: boolean;
  versions: VersionLine[];
}

/** One month of savings: kWh, € and tCO2e avoided, and their cumulations. */
export interface SavingsMonth {
  period: string;
  adjustedBaseline: number | null;
  measured: number | null;
  avoidedKWh: number | null;
  euros: number | null;
  tCO2e: number | null;
  cumulatedKWh: number;
  cumulatedEuros: number;
  cumulatedTCO2e: number;
}

export interface BaselineModel {
  regressors: string[];
  r2: number | null;
  /** Fraction (0.05 = 5 %). */
  cvRmse: number | null;
  nmbe: number | null;
  n: number;
  ashrae14: { passes: boolean; reasons: string[] };
}

export interface EnergySavings {
  energy: string;
  method: 'ipmvp-c' | 'same-months-before';
  model: BaselineModel | null;
  /** ± kWh at `confidence` (0.9), and as a fraction of the savings. */
  uncertainty: { absolute: number; fraction: number | null; confidence: number } | null;
  note: string;
  buildings: string[];
  /** The baseline's months as measured: `energy` kWh. */
  baseline: { period: string; energy: number | null }[];
  months: SavingsMonth[];
  totalKWh: number;
  totalEuros: number;
  totalTCO2e: number;
}

export interface Finance {
  /** €. */
  netInvestment: number;
  /** €/year. */
  yearlyNetSavings: number | null;
  basis: string;
  /** Years. */
  simplePayback: number | null;
  /** Fraction over the lifetime. */
  returnOnInvestment: number | null;
  /** €. */
  netPresentValue: number | null;
  discountRate: number;
  lifetimeYears: number;
  /** `YYYY-MM`. */
  /** The month the project paid back (`paidBack`), or will at the last 12 months' pace. */
  paybackDate: string | null;
  paidBack: boolean;
}

/** GET /api/projects/:key/savings. */
export interface ProjectSavings {
  key: string;
  version: number;
  kind: 'energy' | 'metric';
  baselinePeriod: { from: string; to: string };
  reportingPeriod: { from: string; to: string } | null;
  energies: EnergySavings[];
  months: SavingsMonth[];
  totals: { kWh: number; euros: number; tCO2e: number };
  metric?: {
    key: string;
    better: 'lower' | 'higher';
    comparison: {
      before: number | null;
      after: number | null;
      change: number | null;
      changeFraction?: number | null;
      relativeChange?: number | null;
      improved: boolean | null;
    };
  };
  finance: Finance;
  warnings: string[];
}

/** GET /api/projects-summary. */
export interface ProjectsSummary {
  totals: { projects: number; kWh: number; euros: number; tCO2e: number; netInvestment: number; yearlyNetSavings: number };
  projects: { key: string; title: { fr: string; en: string }; theme: string; kind: 'energy' | 'metric'; totals: ProjectSavings['totals']; finance: Finance }[];
}

/** Roles that see unpublished projects (the hub's STAFF of hub/src/projects/routes.ts: a technician reads as the public does). */
export const PROJECT_READERS = ['operator', 'director', 'elected', 'agent'] as const;
/** Roles that define projects. */
export const PROJECT_WRITERS = ['operator', 'director'] as const;

export type WorksState = 'planned' | 'works' | 'done';

/** The city's local day, `YYYY-MM-DD`. */
export function cityToday(now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: CITY_TIMEZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** Where the works are on `today`: not begun, under way (first and last day included), or over. */
export function worksState(dates: ProjectDefinition['dates'], today = cityToday()): WorksState {
  if (today < dates.worksStart) return 'planned';
  return today <= dates.worksEnd ? 'works' : 'done';
}

/**
 * The ± kWh of a project's savings over all its energies, at 90 % confidence: the energies'
 * uncertainties added in quadrature (their models are fitted apart, their errors independent).
 * Null when no energy has one (no model: same months before, or no reporting month yet).
 */
export function combinedUncertainty(energies: readonly EnergySavings[]): { absolute: number; fraction: number | null } | null {
  const known = energies.filter((e) => e.uncertainty);
  if (!known.length) return null;
  const absolute = Math.sqrt(known.reduce((s, e) => s + e.uncertainty!.absolute ** 2, 0));
  const total = energies.reduce((s, e) => s + e.totalKWh, 0);
  return { absolute, fraction: total !== 0 ? absolute / Math.abs(total) : null };
}

/** The method a project's savings were measured by: one key for the words of messages/projects.ts. */
export function methodOf(savings: ProjectSavings): 'ipmvp-c' | 'same-months-before' | 'before-after' | 'mixed' | 'none' {
  if (savings.kind === 'metric') return 'before-after';
  const methods = new Set(savings.energies.map((e) => e.method));
  if (!methods.size) return 'none';
  return methods.size === 1 ? [...methods][0]! : 'mixed';
}

/** The buildings a scope names directly (a list or `building:<key>`); none for the city or a site. */
export function scopeBuildings(scope: ProjectDefinition['scope']): string[] | undefined {
  if (Array.isArray(scope)) return scope;
  return scope.startsWith('building:') ? [scope.slice('building:'.length)] : undefined;
}

/** The subsidies' total, €. */
export function subsidiesTotal(costs: ProjectDefinition['costs']): number {
  return costs.subsidies.reduce((s, x) => s + x.amount, 0);
}

/** Whether any month of the savings was priced: without a tariff, the € avoided are unknown rather than 0. */
export function priced(savings: ProjectSavings): boolean {
  return savings.months.some((m) => m.euros !== null);
}
