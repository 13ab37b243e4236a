import { Type, type TSchema } from '@sinclair/typebox';

/**
 * The answers of the projects API that the dashboard draws (savings, city totals), as TypeBox
 * schemas: the OpenAPI document shows them, and fastify serialises the answers with them. What
 * projects-math's modules return as they like (the baseline model, a metric's comparison) is
 * passed through as is.
 */

const nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options);
const Month = Type.String({ description: 'A local month YYYY-MM' });

export const SavingsMonthSchema = Type.Object({
  period: Month,
  adjustedBaseline: nullable(Type.Number({ description: 'kWh the scope would have used without the project, in the month’s weather' })),
  measured: nullable(Type.Number({ description: 'kWh measured' })),
  avoidedKWh: nullable(Type.Number({ description: 'kWh avoided: adjustedBaseline − measured' })),
  euros: nullable(Type.Number({ description: '€ avoided at the month’s tariff; null without one for the whole month' })),
  tCO2e: nullable(Type.Number({ description: 'tCO2e avoided' })),
  cumulatedKWh: Type.Number(),
  cumulatedEuros: Type.Number(),
  cumulatedTCO2e: Type.Number(),
});

const Observation = Type.Object({
  period: Month,
  days: Type.Number({ description: 'days in the month (hours / 24)' }),
  hdd: Type.Number({ description: 'heating degree-days, °C·day' }),
  cdd: Type.Number({ description: 'cooling degree-days, °C·day' }),
  occupancyDays: Type.Optional(Type.Number({ description: 'open days (weekdays)' })),
  energy: nullable(Type.Number({ description: 'kWh' })),
});

const Finance = Type.Object({
  netInvestment: Type.Number({ description: '€: investment less subsidies' }),
  yearlyNetSavings: nullable(Type.Number({ description: '€ per year' })),
  basis: Type.String({ description: 'how yearlyNetSavings was obtained' }),
  simplePayback: nullable(Type.Number({ description: 'years' })),
  returnOnInvestment: nullable(Type.Number({ description: 'over lifetimeYears, as a fraction of the net investment' })),
  netPresentValue: nullable(Type.Number({ description: '€ at discountRate over lifetimeYears' })),
  discountRate: Type.Number({ description: 'per year' }),
  lifetimeYears: Type.Integer(),
  paybackDate: nullable(Month, {
    description:
      "the month the cumulated net savings reached the net investment (paidBack true), or will at the last 12 months' pace (paidBack false); null when that pace never pays back",
  }),
  paidBack: Type.Boolean({ description: 'whether the cumulated net savings have reached the net investment' }),
});

const Totals = Type.Object({ kWh: Type.Number(), euros: Type.Number(), tCO2e: Type.Number() });
const Period = Type.Object({ from: Month, to: Month });

export const SavingsSchema = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  kind: Type.Union([Type.Literal('energy'), Type.Literal('metric')]),
  baselinePeriod: Period,
  reportingPeriod: nullable(Period),
  energies: Type.Array(
    Type.Object({
      energy: Type.String(),
      method: Type.String({ description: '`ipmvp-c` or `same-months-before`' }),
      model: Type.Unknown({ description: 'the baseline model: coefficients, fit statistics, ASHRAE Guideline 14 verdict; null without one' }),
      uncertainty: nullable(Type.Object({ absolute: Type.Number({ description: 'kWh' }), fraction: Type.Number(), confidence: Type.Number() })),
      note: Type.String(),
      buildings: Type.Array(Type.String()),
      baseline: Type.Array(Observation),
      months: Type.Array(SavingsMonthSchema),
      totalKWh: Type.Number(),
      totalEuros: Type.Number(),
      totalTCO2e: Type.Number(),
    }),
  ),
  months: Type.Array(SavingsMonthSchema, { description: 'every energy together' }),
  totals: Totals,
  metric: Type.Optional(
    Type.Object({ key: Type.String(), better: Type.String(), comparison: Type.Unknown({ description: 'before and after (monthly means) and the change' }) }),
  ),
  finance: Finance,
  warnings: Type.Array(Type.String()),
});

export const SummarySchema = Type.Object({
  totals: Type.Object({
    projects: Type.Integer(),
    kWh: Type.Number(),
    euros: Type.Number(),
    tCO2e: Type.Number(),
    netInvestment: Type.Number({ description: '€' }),
    yearlyNetSavings: Type.Number({ description: '€ per year' }),
  }),
  projects: Type.Array(
    Type.Object({
      key: Type.String(),
      title: Type.Object({ fr: Type.String(), en: Type.String() }),
      theme: Type.String(),
      kind: Type.String(),
      totals: Totals,
      finance: Finance,
    }),
  ),
});
