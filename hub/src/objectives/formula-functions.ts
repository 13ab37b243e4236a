/**
 * The formula language's names and functions (formula.ts describes them), and the checks of a
 * call's arguments, whose errors explain how the function is used.
 */
import { FormulaError, type Node, type PointAggregate, type ServiceAggregate } from './formula-tree.js';
import { describeCharacter, skipSpaces, type Token } from './formula-tokens.js';

/** The bare names, in the order error messages list them. */
export const NAMES: ReadonlyMap<string, Node> = new Map<string, Node>([
  ['area', { kind: 'attribute', name: 'area' }],
  ['light_points', { kind: 'attribute', name: 'light_points' }],
  ['buildings', { kind: 'attribute', name: 'buildings' }],
  ['opening_hours', { kind: 'openingHours' }],
  ['days', { kind: 'days' }],
  ['hours', { kind: 'hours' }],
]);

export type FunctionSignature =
  | { kind: 'points'; fn: PointAggregate }
  /** min/max: one quoted tag query is the point aggregation, two or more numbers the numeric one. */
  | { kind: 'pointsOrNumbers'; fn: 'min' | 'max' }
  | { kind: 'service'; fn: ServiceAggregate }
  | { kind: 'degreeDays' }
  | { kind: 'normalised' };

/** The functions, in the order error messages list them. */
export const FUNCTIONS: ReadonlyMap<string, FunctionSignature> = new Map<string, FunctionSignature>([
  ['sum', { kind: 'points', fn: 'sum' }],
  ['avg', { kind: 'points', fn: 'avg' }],
  ['min', { kind: 'pointsOrNumbers', fn: 'min' }],
  ['max', { kind: 'pointsOrNumbers', fn: 'max' }],
  ['integral', { kind: 'points', fn: 'integral' }],
  ['delta', { kind: 'points', fn: 'delta' }],
  ['count', { kind: 'points', fn: 'count' }],
  ['service_sum', { kind: 'service', fn: 'sum' }],
  ['service_avg', { kind: 'service', fn: 'avg' }],
  ['service_min', { kind: 'service', fn: 'min' }],
  ['service_max', { kind: 'service', fn: 'max' }],
  ['service_count', { kind: 'service', fn: 'count' }],
  ['hdd', { kind: 'degreeDays' }],
  ['normalised', { kind: 'normalised' }],
]);

/** The arguments that error messages show as examples. */
const EXAMPLE_TAGS: Readonly<Record<PointAggregate, string>> = {
  sum: 'elec meter power',
  avg: 'zone air temp sensor',
  min: 'zone air temp sensor',
  max: 'zone air temp sensor',
  integral: 'elec meter power',
  delta: 'elec meter energy',
  count: 'elec meter',
};
const EXAMPLE_METRICS: Readonly<Record<ServiceAggregate, string>> = {
  sum: 'calls.answered',
  avg: 'reception.wait_minutes',
  min: 'reception.wait_minutes',
  max: 'reception.wait_minutes',
  count: 'reception.wait_minutes',
};

/** Same rule as a point's tags in its configuration (plugins/sdk). */
const TAG_PATTERN = /^[a-zA-Z][a-zA-Z0-9_-]*$/;
const METRIC_CHARACTER = /[a-z0-9_.]/;

/** An argument of a call as the parser read it: a quoted text, or an expression. */
export type Argument = { kind: 'quoted'; position: number; text: string } | { kind: 'expression'; position: number; node: Node };

/** Checks a call's arguments against its function's signature. `close` is the position of its ")". */
export function buildCall(name: string, signature: FunctionSignature, args: Argument[], close: number): Node {
  const single = args.length === 1 ? args[0]! : undefined;
  // Where a wrong call is shown: at its first argument that does not fit, or at its ")" when it has none.
  const misfit = (fits: (arg: Argument) => boolean): number => args.find((arg) => !fits(arg))?.position ?? args[1]?.position ?? close;
  switch (signature.kind) {
    case 'points':
      if (single?.kind !== 'quoted') {
        throw misuse(
          misfit((a) => a.kind === 'quoted'),
          name,
          signature,
        );
      }
      return { kind: 'points', fn: signature.fn, tags: parseTagQuery(single) };
    case 'pointsOrNumbers':
      if (single?.kind === 'quoted') return { kind: 'points', fn: signature.fn, tags: parseTagQuery(single) };
      if (args.length >= 2 && args.every((arg) => arg.kind === 'expression')) {
        return { kind: 'extremum', fn: signature.fn, args: args.map((arg) => arg.node) };
      }
      throw misuse(args.length === 1 ? args[0]!.position : misfit((a) => a.kind === 'expression'), name, signature);
    case 'service':
      if (single?.kind !== 'quoted') {
        throw misuse(
          misfit((a) => a.kind === 'quoted'),
          name,
          signature,
        );
      }
      return { kind: 'service', fn: signature.fn, metric: checkMetric(single) };
    case 'degreeDays':
      if (single?.kind !== 'expression' || single.node.kind !== 'number') {
        throw misuse(
          misfit((a) => a.kind === 'expression' && a.node.kind === 'number'),
          name,
          signature,
        );
      }
      // -0 and 0 are the same base; keep one of them in the dependencies.
      return { kind: 'degreeDays', base: single.node.value + 0 };
    case 'normalised': {
      const [tags, base, reference] = args;
      const isNumber = (a: Argument | undefined) => a?.kind === 'expression' && a.node.kind === 'number';
      if (args.length !== 3 || tags?.kind !== 'quoted' || !isNumber(base) || !isNumber(reference)) {
        throw misuse(args.find((a, i) => (i === 0 ? a.kind !== 'quoted' : !isNumber(a)))?.position ?? args[3]?.position ?? close, name, signature);
      }
      const referenceValue = (reference as { node: { value: number } }).node.value;
      if (referenceValue < 0)
        throw new FormulaError(reference!.position, `the reference climate is a number of degree-days ≥ 0, e.g. 2500; got ${referenceValue}`);
      return { kind: 'normalised', tags: parseTagQuery(tags), base: (base as { node: { value: number } }).node.value + 0, reference: referenceValue };
    }
  }
}

/** The error of a call whose arguments do not fit its function, at `position`. */
export function misuse(position: number, name: string, signature: FunctionSignature): FormulaError {
  return new FormulaError(position, `"${name}" ${usage(name, signature)}`);
}

/** What a function takes, as in `"delta" takes one tag query …` (without the name). */
export function usage(name: string, signature: FunctionSignature): string {
  switch (signature.kind) {
    case 'points':
      return `takes one tag query in quotes, e.g. ${name}("${EXAMPLE_TAGS[signature.fn]}")`;
    case 'pointsOrNumbers':
      return `takes either one tag query in quotes, e.g. ${name}("${EXAMPLE_TAGS[signature.fn]}"), or two or more numbers, e.g. ${name}(area, 500)`;
    case 'service':
      return `takes one metric name in quotes, e.g. ${name}("${EXAMPLE_METRICS[signature.fn]}")`;
    case 'degreeDays':
      return `takes the base temperature in °C as a number, e.g. ${name}(18)`;
    case 'normalised':
      return `takes the meters' tag query in quotes, the degree-days' base temperature in °C and the reference climate in degree-days a year, as numbers, e.g. ${name}("meter energy", 18, 2500)`;
  }
}

/**
 * Whether `token`, the start of an argument, shows at once that the call was misread, e.g. an
 * unquoted tag query as in delta(elec meter energy): the function's usage then says more than
 * the error the argument would give ("unknown name elec").
 */
export function misreadArgument(signature: FunctionSignature, token: Token, source: string): boolean {
  switch (signature.kind) {
    case 'points':
    case 'service':
      return token.kind !== 'quoted';
    case 'pointsOrNumbers':
    case 'normalised':
      return token.kind === 'name' && !NAMES.has(token.text) && source[skipSpaces(source, token.end)] !== '(';
    case 'degreeDays':
      return token.kind === 'name' || token.kind === 'quoted';
  }
}

/** The markers of a quoted tag query, sorted and deduplicated. */
function parseTagQuery(query: { position: number; text: string }): string[] {
  const tags = new Set<string>();
  const words = /\S+/g;
  for (let match = words.exec(query.text); match !== null; match = words.exec(query.text)) {
    if (!TAG_PATTERN.test(match[0])) {
      throw new FormulaError(
        query.position + 1 + match.index,
        `"${match[0]}" is not a tag: a tag starts with a letter and has only letters, digits, "-" and "_", e.g. elec or air-temp`,
      );
    }
    tags.add(match[0]);
  }
  if (tags.size === 0) throw new FormulaError(query.position, 'empty tag query; expected tags separated by spaces, e.g. "elec meter energy"');
  return [...tags].sort();
}

function checkMetric(metric: { position: number; text: string }): string {
  if (metric.text === '') throw new FormulaError(metric.position, 'empty metric name; expected e.g. "calls.answered"');
  for (let i = 0; i < metric.text.length; i++) {
    if (!METRIC_CHARACTER.test(metric.text[i]!)) {
      throw new FormulaError(
        metric.position + 1 + i,
        `unexpected ${describeCharacter(metric.text, i)} in the metric name "${metric.text}"; a metric name has only lowercase letters, digits, "_" and ".", e.g. calls.answered`,
      );
    }
  }
  return metric.text;
}
