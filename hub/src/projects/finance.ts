/** TEMPORARY stand-in for projects-math's finance.ts: the lead replaces it with the real file. */

export interface ProjectCosts {
  /** € */
  investment: number;
  /** € per year */
  yearlyRunningCost?: number;
  subsidies?: readonly { name: string; amount: number }[];
}

/** Investment less subsidies, €. */
export function netInvestment(costs: ProjectCosts): number {
  return costs.investment - (costs.subsidies ?? []).reduce((s, x) => s + x.amount, 0);
}

/** Years to pay back `net` € at `yearlyNetSavings` €/year; null when it never does. */
export function simplePayback(net: number, yearlyNetSavings: number): number | null {
  if (net <= 0) return 0;
  return yearlyNetSavings > 0 ? net / yearlyNetSavings : null;
}

/** (savings over `years` − net) / net. */
export function returnOnInvestment(net: number, yearlyNetSavings: number, years: number): number | null {
  return net > 0 ? (yearlyNetSavings * years - net) / net : null;
}

/** −net + Σ savings / (1 + rate)^y for y = 1..years, €. */
export function netPresentValue(net: number, yearlyNetSavings: number, years: number, rate: number): number {
  let npv = -net;
  for (let y = 1; y <= years; y++) npv += yearlyNetSavings / (1 + rate) ** y;
  return npv;
}

/** First month `YYYY-MM` whose cumulated savings reach `net`; null when none yet. */
export function paybackDate(net: number, worksEnd: string, monthlyNetSavings: readonly { period: string; euros: number }[]): string | null {
  if (net <= 0) return worksEnd.slice(0, 7);
  let cumulated = 0;
  for (const m of monthlyNetSavings) {
    cumulated += m.euros;
    if (cumulated >= net) return m.period;
  }
  return null;
}
