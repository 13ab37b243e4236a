import { checkFinite, checkNumber, checkSeries, describe, formatMonth, parseDay, parseMonth, SavingsInputError } from './input-error.js';

/**
 * The financial return of a project, in euros (€) and years, from its costs and its net savings
 * (the energy saved, priced, less what the project costs to run each year):
 *
 *     net investment   = investment − Σ subsidies (CEE, DSIL, regional funds…)          €
 *     simple payback   = net investment / yearly net savings                             years
 *     return (ROI)     = (yearly net savings · years − net investment) / net investment  fraction
 *     net present value = −net investment + Σ_{k=1..years} savings / (1 + rate)^k        €
 *
 * and the month the cumulated net savings pay the net investment back, reached or extrapolated.
 */

export interface ProjectCosts {
  /** What the works cost, € (tax as the city pays it). */
  investment: number;
  /** What the project costs to run each year (maintenance, licence…), €/year. */
  yearlyRunningCost: number;
  /** Grants and energy-savings certificates received, € each. */
  subsidies: { name: string; amount: number }[];
}

/** Longest horizon of a present value or of a payback extrapolation, years. */
export const MAX_YEARS = 100;

/** investment − subsidies, €. Negative when subsidies exceed the investment. Throws SavingsInputError for an amount that is not a finite number ≥ 0. */
export function netInvestment(c: ProjectCosts): number {
  if (c === null || typeof c !== 'object') throw new SavingsInputError('costs: an object with investment, yearlyRunningCost and subsidies expected');
  checkNumber(c.investment, 'costs', 'investment (€)', 0);
  checkNumber(c.yearlyRunningCost, 'costs', 'yearlyRunningCost (€/year)', 0);
  const subsidies = checkSeries<ProjectCosts['subsidies'][number]>(c.subsidies, 'costs: subsidies');
  return subsidies.reduce((net, s, i) => {
    const where = `costs: subsidy ${i}${s !== null && typeof s === 'object' && typeof s.name === 'string' ? ` (${describe(s.name)})` : ''}`;
    if (s === null || typeof s !== 'object') throw new SavingsInputError(`${where}: an object with name and amount expected`);
    return net - checkNumber(s.amount, where, 'amount (€)', 0);
  }, c.investment);
}

/** Years for the yearly net savings (€/year) to pay the net investment (€) back; 0 when nothing is left to pay; null when savings ≤ 0. */
export function simplePayback(netInvestment: number, yearlyNetSavings: number): number | null {
  checkFinite(netInvestment, 'payback', 'net investment (€)');
  checkFinite(yearlyNetSavings, 'payback', 'yearly net savings (€/year)');
  if (netInvestment <= 0) return 0;
  return yearlyNetSavings > 0 ? netInvestment / yearlyNetSavings : null;
}

/** (savings · years − net) / net, a fraction (0.5 = 50 % gained over the years); null when the net investment is ≤ 0 (nothing to return on). */
export function returnOnInvestment(netInvestment: number, yearlyNetSavings: number, years: number): number | null {
  checkFinite(netInvestment, 'return on investment', 'net investment (€)');
  checkFinite(yearlyNetSavings, 'return on investment', 'yearly net savings (€/year)');
  checkYears(years, 'return on investment');
  return netInvestment > 0 ? (yearlyNetSavings * years - netInvestment) / netInvestment : null;
}

/** −net + Σ_{k=1..years} savings / (1 + rate)^k, €; savings at the end of each year, `rate` a fraction per year (0.04 = 4 %). */
export function netPresentValue(netInvestment: number, yearlyNetSavings: number, years: number, rate: number): number {
  checkFinite(netInvestment, 'net present value', 'net investment (€)');
  checkFinite(yearlyNetSavings, 'net present value', 'yearly net savings (€/year)');
  checkYears(years, 'net present value');
  checkNumber(rate, 'net present value', 'discount rate (fraction per year)', -1, true);
  let value = -netInvestment;
  for (let k = 1; k <= years; k++) value += yearlyNetSavings / (1 + rate) ** k;
  return value;
}

function checkYears(years: number, where: string): void {
  if (!Number.isInteger(years) || years < 0 || years > MAX_YEARS)
    throw new SavingsInputError(`${where}: years must be a whole number from 0 to ${MAX_YEARS}, got ${describe(years)}`);
}

/**
 * The month ('YYYY-MM') in which the cumulated net savings reach the net investment (€).
 * Savings count from the month after the works end (`worksEnd`, 'YYYY-MM-DD'); months before are
 * ignored. When reached: the month it happened, `reached` true. Otherwise the month it will
 * happen at the pace of the last 12 months counted (their mean monthly net savings, €/month),
 * `reached` false; `date` null when that pace is ≤ 0, when no month is counted yet, or when it
 * would take more than MAX_YEARS. A net investment ≤ 0 is paid back in the month the works end.
 */
export function paybackDate(
  netInvestment: number,
  worksEnd: string,
  monthlyNetSavings: readonly { period: string; euros: number }[],
): { date: string | null; reached: boolean } {
  checkFinite(netInvestment, 'payback date', 'net investment (€)');
  if (parseDay(worksEnd) === null) throw new SavingsInputError(`payback date: worksEnd must be a date YYYY-MM-DD, got ${describe(worksEnd)}`);
  const endMonth = worksEnd.slice(0, 7);
  if (netInvestment <= 0) return { date: endMonth, reached: true };
  const months = checkSeries<{ period: string; euros: number }>(monthlyNetSavings, 'monthly net savings')
    .map((m, i) => {
      if (m === null || typeof m !== 'object' || parseMonth(m.period) === null) {
        throw new SavingsInputError(`monthly net savings ${i}: period must be a month YYYY-MM, got ${describe(m?.period)}`);
      }
      return { period: m.period, euros: checkFinite(m.euros, `monthly net savings '${m.period}'`, 'euros') };
    })
    .filter((m) => m.period > endMonth)
    .sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0));
  let cumulated = 0;
  for (const m of months) {
    cumulated += m.euros;
    if (cumulated >= netInvestment) return { date: m.period, reached: true };
  }
  if (months.length === 0) return { date: null, reached: false };
  const recent = months.slice(-12);
  const pace = recent.reduce((s, m) => s + m.euros, 0) / recent.length;
  if (!(pace > 0)) return { date: null, reached: false };
  const monthsLeft = Math.ceil((netInvestment - cumulated) / pace);
  if (monthsLeft > MAX_YEARS * 12) return { date: null, reached: false };
  const [year, month] = parseMonth(months[months.length - 1]!.period)!;
  return { date: formatMonth(year, month + monthsLeft), reached: false };
}
