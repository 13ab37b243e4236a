/**
 * The formula language in which a hub operator writes how an objective's KPI is computed.
 *
 * It is a small arithmetic language, parsed and checked here without eval or Function, and pure:
 * it reads nothing by itself. `parseFormula` gives the formula's dependencies (everything it
 * reads), which the objectives engine prefetches for many scopes and periods; `evaluate` then
 * computes the value for one (scope, period) synchronously from a `FormulaContext`.
 *
 * Syntax
 *   numbers         18   0.5   1e3   (a number starts with a digit)
 *   arithmetic      + - * /, unary minus, parentheses; * and / bind tighter than + and -, all
 *                   are left-associative: 10 - 2 - 3 = 5, 8 / 2 / 2 = 2
 *   points          sum("tags")  avg  min  max   of the samples over the period
 *                   integral("tags")             time integral of a rate (kW → kWh)
 *                   delta("tags")                meter advance over the period, in kWh for
 *                                                energy meters (gas m³ converted); "meter" reads
 *                                                main meters, "submeter" sub-meters (meters.ts)
 *                   count("tags")                number of matching points
 *                   "tags" are Haystack-style markers separated by spaces; the points of the
 *                   scope carrying all of them are aggregated. A marker starts with a letter and
 *                   has letters, digits, "-" and "_" (as in a point's configuration).
 *   numeric min/max min(a, b, …) and max(a, b, …) with two or more numbers; min("tags") and
 *                   max("tags") with one quoted tag query are the point aggregations
 *   service data    service_sum("metric")  service_avg  service_min  service_max  service_count
 *                   of what municipal agents submitted over the period; a metric name has
 *                   lowercase letters, digits, "_" and "." (calls.answered)
 *   scope           area (heated floor area, m²), light_points (public light points),
 *                   buildings (number of buildings in the scope)
 *   period          hdd(18) heating degree-days, base temperature in °C as a number literal;
 *                   opening_hours (hours the buildings were open); days; hours (23 or 25 on a
 *                   DST day, as the context says; days = hours / 24)
 *   climate         normalised("tags", 18, 2500): the meters' energy (kWh) of the period as a
 *                   year at a reference climate of 2,500 heating degree-days (base 18 °C), only
 *                   the weather-dependent share normalised. The scope's baseline is fitted by
 *                   least squares on its monthly meter advances against the month's degree-days
 *                   (baseline.ts: base load in kWh/day + kWh per degree-day), on the 12 months
 *                   ending with the period's last month (when fewer than 6 of them have data:
 *                   the 12 months starting with the period's first); then
 *                   (energy − slope × degree-days) × 365 / days + slope × 2500. A year of 365
 *                   days: OPERAT's energy + slope × (2500 − degree-days); a month: the year its
 *                   performance would make, so that June compares with January. Null without a
 *                   baseline (fewer than 6 months of meter and degree-day data). Base and
 *                   reference are number literals.
 *   whitespace      anywhere between tokens, newlines included
 *   limits          at most 2,000 characters, 50 levels of parentheses, 100 function calls
 *
 * Examples
 *   delta("elec meter energy") / area                          kWh per m²
 *   delta("heat meter energy") / hdd(18) / area                heating per degree-day
 *   normalised("meter energy", 18, 2500) / area                kWh/m² a year, climate-normalised
 *   delta("meter energy gas")                                  gas in kWh, whatever its meter counts
 *   delta("elec submeter energy")                              what the sub-meters measured
 *   integral("elec meter power main") / light_points           kWh per light point
 *   service_sum("calls.answered") / service_sum("calls.received") * 100
 *   max(avg("zone air temp sensor") - 19, 0)
 *
 * Values: any missing operand (null from the context) makes the result null, and so do a
 * division by zero and a non-finite result; evaluation never throws because of data.
 *
 * Errors: `FormulaError`, whose message starts with `column N:` (N = 1-based character offset
 * in the source, newlines counted as one character) and says what is wrong and what was
 * expected; `position` is the same place 0-based.
 */
import { collectDependencies, compile, type FormulaContext, type FormulaDependencies } from './formula-evaluation.js';
import { Parser } from './formula-parser.js';
import { FORMULA_LIMITS, FormulaError } from './formula-tree.js';

// The language's rooms, bottom up: formula-tree.ts (syntax tree, limits, error), formula-tokens.ts
// (tokenizer), formula-functions.ts (names, functions and their argument checks),
// formula-parser.ts, formula-evaluation.ts (dependencies and compiled evaluation). Callers import
// from here.
export { FORMULA_LIMITS, FormulaError, type Attribute, type PointAggregate, type ServiceAggregate } from './formula-tree.js';
export type { FormulaContext, FormulaDependencies } from './formula-evaluation.js';

export interface Formula {
  readonly source: string;
  readonly dependencies: FormulaDependencies;
  /**
   * The value, or null when some data it needs is missing or it divides by zero. Never throws
   * for data. A walk of closures compiled at parse time, with no per-call allocation of its own;
   * safe to call detached from the formula (`const f = formula.evaluate`) and from many scopes.
   */
  evaluate(context: FormulaContext): number | null;
}

/** Parses and checks; throws FormulaError. */
export function parseFormula(source: string): Formula {
  if (typeof source !== 'string') throw new FormulaError(0, 'expected the formula as text');
  if (source.length > FORMULA_LIMITS.maxLength) {
    throw new FormulaError(
      FORMULA_LIMITS.maxLength,
      `formula too long: ${source.length.toLocaleString('en')} characters; at most ${FORMULA_LIMITS.maxLength.toLocaleString('en')} are allowed`,
    );
  }
  const tree = new Parser(source).parseFormula();
  const evaluate = compile(tree);
  return Object.freeze({ source, dependencies: collectDependencies(tree), evaluate });
}
