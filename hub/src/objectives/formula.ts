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
import { CityPilotError } from '@citypilot/sdk';

export type PointAggregate = 'sum' | 'avg' | 'min' | 'max' | 'integral' | 'delta' | 'count';
export type ServiceAggregate = 'sum' | 'avg' | 'min' | 'max' | 'count';
export type Attribute = 'area' | 'light_points' | 'buildings';

/**
 * Everything a formula reads: what the engine must prefetch. Each list is in order of first
 * appearance in the source, each distinct item once.
 */
export interface FormulaDependencies {
  /**
   * Tags deduplicated and sorted (code-unit order, as `Array.prototype.sort`); `evaluate` passes
   * `points()` an array equal to these tags.
   */
  points: { fn: PointAggregate; tags: string[] }[];
  services: { fn: ServiceAggregate; metric: string }[];
  attributes: Attribute[];
  /** Base temperatures in °C of the heating degree-days read, each distinct value once (normalised() included). */
  degreeDayBases: number[];
  /** Whether the formula reads opening_hours. */
  openingHours: boolean;
}

/**
 * The data of one scope and period, answered synchronously; null = no data. A value that is
 * not a finite number (NaN, Infinity, undefined) counts as no data too.
 */
export interface FormulaContext {
  /** `tags` sorted and deduplicated, as in `FormulaDependencies.points`; never mutate it. */
  points(fn: PointAggregate, tags: readonly string[]): number | null;
  service(fn: ServiceAggregate, metric: string): number | null;
  attribute(name: Attribute): number | null;
  /** Heating degree-days over the period, base temperature in °C. */
  degreeDays(base: number): number | null;
  /** Hours the scope's buildings were open over the period. */
  openingHours(): number | null;
  /** Length of the period in hours (23 or 25 on DST days). */
  periodHours(): number;
  /**
   * The meter advance of the points carrying `tags` (sorted, as for points()) as a year at
   * `referenceDegreeDays` heating degree-days of base `base` °C, kWh (see normalised() above).
   */
  normalised(tags: readonly string[], base: number, referenceDegreeDays: number): number | null;
}

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

/** The limits `parseFormula` enforces, so that any accepted formula is cheap to evaluate. */
export const FORMULA_LIMITS = Object.freeze({ maxLength: 2000, maxNesting: 50, maxCalls: 100 });

/** A formula that cannot be parsed: the message starts with `column N:` and says what was expected. */
export class FormulaError extends CityPilotError {
  declare readonly code: 'FORMULA_INVALID';
  /** 0-based character offset in the source where the problem is (the source's length at its end). */
  readonly position: number;
  /** `position + 1`. */
  readonly column: number;

  constructor(position: number, reason: string) {
    super('FORMULA_INVALID', `column ${position + 1}: ${reason}`);
    this.position = position;
    this.column = position + 1;
  }
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

// ---------------------------------------------------------------------------------------------
// Syntax tree

type Operator = '+' | '-' | '*' | '/';

type Node =
  | { kind: 'number'; value: number }
  | { kind: 'negate'; operand: Node }
  | { kind: 'binary'; operator: Operator; left: Node; right: Node }
  | { kind: 'points'; fn: PointAggregate; tags: string[] }
  | { kind: 'service'; fn: ServiceAggregate; metric: string }
  | { kind: 'attribute'; name: Attribute }
  | { kind: 'degreeDays'; base: number }
  | { kind: 'openingHours' }
  | { kind: 'hours' }
  | { kind: 'days' }
  | { kind: 'normalised'; tags: string[]; base: number; reference: number }
  | { kind: 'extremum'; fn: 'min' | 'max'; args: Node[] };

/** The bare names, in the order error messages list them. */
const NAMES: ReadonlyMap<string, Node> = new Map<string, Node>([
  ['area', { kind: 'attribute', name: 'area' }],
  ['light_points', { kind: 'attribute', name: 'light_points' }],
  ['buildings', { kind: 'attribute', name: 'buildings' }],
  ['opening_hours', { kind: 'openingHours' }],
  ['days', { kind: 'days' }],
  ['hours', { kind: 'hours' }],
]);

type FunctionSignature =
  | { kind: 'points'; fn: PointAggregate }
  /** min/max: one quoted tag query is the point aggregation, two or more numbers the numeric one. */
  | { kind: 'pointsOrNumbers'; fn: 'min' | 'max' }
  | { kind: 'service'; fn: ServiceAggregate }
  | { kind: 'degreeDays' }
  | { kind: 'normalised' };

/** The functions, in the order error messages list them. */
const FUNCTIONS: ReadonlyMap<string, FunctionSignature> = new Map<string, FunctionSignature>([
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

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { kind: 'number'; position: number; end: number; text: string; value: number }
  | { kind: 'name' | 'operator' | '(' | ')' | ',' | 'end'; position: number; end: number; text: string }
  /** A double-quoted text; `text` is what is between the quotes, which starts at position + 1. */
  | { kind: 'quoted'; position: number; end: number; text: string };

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isNameStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isNamePart = (c: string | undefined): boolean => isNameStart(c) || isDigit(c);
const SPACE = /\s/;
const isSpace = (c: string | undefined): boolean => c !== undefined && SPACE.test(c);

function skipSpaces(source: string, position: number): number {
  while (isSpace(source[position])) position++;
  return position;
}

/** The character at `position` as an error message shows it. */
function describeCharacter(source: string, position: number): string {
  const character = String.fromCodePoint(source.codePointAt(position) ?? 0);
  if (/^[\p{C}\p{Z}]$/u.test(character)) return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${character}"`;
}

function describeToken(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the formula';
    case 'quoted':
      return `the quoted text "${token.text}"`;
    default:
      return `"${token.text}"`;
  }
}

/** The token starting at the first non-space character from `from`. */
function readToken(source: string, from: number): Token {
  const position = skipSpaces(source, from);
  const c = source[position];
  if (c === undefined) return { kind: 'end', position, end: position, text: '' };
  if (isDigit(c)) return readNumber(source, position);
  if (isNameStart(c)) {
    let end = position + 1;
    while (isNamePart(source[end])) end++;
    return { kind: 'name', position, end, text: source.slice(position, end) };
  }
  if (c === '"') {
    const close = source.indexOf('"', position + 1);
    if (close < 0) throw new FormulaError(position, 'unterminated quoted text: expected a closing " before the end of the formula');
    return { kind: 'quoted', position, end: close + 1, text: source.slice(position + 1, close) };
  }
  if (c === '+' || c === '-' || c === '*' || c === '/') return { kind: 'operator', position, end: position + 1, text: c };
  if (c === '(' || c === ')' || c === ',') return { kind: c, position, end: position + 1, text: c };
  if (c === "'") throw new FormulaError(position, 'texts are written in double quotes, e.g. delta("elec meter energy")');
  if (c === '.' && isDigit(source[position + 1])) throw new FormulaError(position, 'a number starts with a digit, e.g. 0.5');
  throw new FormulaError(
    position,
    `unexpected character ${describeCharacter(source, position)}; a formula has only numbers, names, function calls, quoted texts as their arguments, + - * / and parentheses`,
  );
}

function readNumber(source: string, position: number): Token {
  let end = position;
  while (isDigit(source[end])) end++;
  if (source[end] === '.') {
    end++;
    if (!isDigit(source[end])) throw new FormulaError(end, 'expected a digit after the decimal point, e.g. 1.5');
    while (isDigit(source[end])) end++;
  }
  if (source[end] === 'e' || source[end] === 'E') {
    end++;
    if (source[end] === '+' || source[end] === '-') end++;
    if (!isDigit(source[end])) throw new FormulaError(end, 'expected the digits of the exponent, e.g. 1e3');
    while (isDigit(source[end])) end++;
  }
  const text = source.slice(position, end);
  if (source[end] === '.') throw new FormulaError(end, `unexpected "." after the number ${text}`);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new FormulaError(position, `number out of range: ${text}`);
  return { kind: 'number', position, end, text, value };
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent, one token of lookahead, lexing on demand so that the first error
// in reading order is the one reported.

type Argument = { kind: 'quoted'; position: number; text: string } | { kind: 'expression'; position: number; node: Node };

class Parser {
  private token: Token;
  private nesting = 0;
  private calls = 0;

  constructor(private readonly source: string) {
    this.token = readToken(source, 0);
  }

  parseFormula(): Node {
    if (this.token.kind === 'end') {
      throw new FormulaError(0, 'empty formula; expected an expression, e.g. delta("elec meter energy") / area');
    }
    const node = this.parseSum();
    const token = this.token;
    if (token.kind === ')') throw new FormulaError(token.position, 'unmatched ")": no "(" is open here');
    if (token.kind !== 'end') {
      throw new FormulaError(
        token.position,
        `unexpected ${describeToken(token)} after a complete expression; expected an operator (+ - * /) or the end of the formula`,
      );
    }
    return node;
  }

  private advance(): Token {
    const token = this.token;
    this.token = readToken(this.source, token.end);
    return token;
  }

  /** sum := product (("+" | "-") product)* */
  private parseSum(): Node {
    let left = this.parseProduct();
    while (this.token.kind === 'operator' && (this.token.text === '+' || this.token.text === '-')) {
      const operator = this.advance().text as Operator;
      left = { kind: 'binary', operator, left, right: this.parseProduct() };
    }
    return left;
  }

  /** product := unary (("*" | "/") unary)* */
  private parseProduct(): Node {
    let left = this.parseUnary();
    while (this.token.kind === 'operator' && (this.token.text === '*' || this.token.text === '/')) {
      const operator = this.advance().text as Operator;
      left = { kind: 'binary', operator, left, right: this.parseUnary() };
    }
    return left;
  }

  /** unary := "-"* primary. A loop, not recursion: a run of minus signs cannot exhaust the stack. */
  private parseUnary(): Node {
    let negations = 0;
    while (this.token.kind === 'operator' && this.token.text === '-') {
      this.advance();
      negations++;
    }
    const operand = this.parsePrimary();
    if (negations % 2 === 0) return operand;
    // A negative literal stays a literal, so that hdd(-5) has a number literal as its base.
    return operand.kind === 'number' ? { kind: 'number', value: -operand.value } : { kind: 'negate', operand };
  }

  /** primary := number | "(" sum ")" | name | name "(" arguments ")" */
  private parsePrimary(): Node {
    const token = this.token;
    switch (token.kind) {
      case 'number':
        this.advance();
        return { kind: 'number', value: token.value };
      case '(': {
        const open = this.enter();
        const node = this.parseSum();
        this.leave(open, '")"');
        return node;
      }
      case 'name':
        return this.source[skipSpaces(this.source, token.end)] === '(' ? this.parseCall() : this.parseName();
      case 'quoted':
        throw new FormulaError(
          token.position,
          'a quoted text is only allowed as the argument of a function, e.g. delta("elec meter energy") or service_sum("calls.answered")',
        );
      default:
        throw new FormulaError(token.position, `expected a number, a name, a function call or "(", found ${describeToken(token)}`);
    }
  }

  private parseName(): Node {
    const token = this.token;
    const node = NAMES.get(token.text);
    if (node === undefined) {
      const signature = FUNCTIONS.get(token.text);
      if (signature !== undefined) throw new FormulaError(token.position, `"${token.text}" is a function that ${usage(token.text, signature)}`);
      throw new FormulaError(token.position, `unknown name "${token.text}"; expected one of ${[...NAMES.keys()].join(', ')}`);
    }
    this.advance();
    return node;
  }

  private parseCall(): Node {
    const name = this.token;
    const signature = FUNCTIONS.get(name.text);
    if (signature === undefined) {
      if (NAMES.has(name.text)) throw new FormulaError(name.position, `"${name.text}" is not a function; write it without parentheses`);
      throw new FormulaError(name.position, `unknown function "${name.text}"; expected one of ${[...FUNCTIONS.keys()].join(', ')}`);
    }
    if (++this.calls > FORMULA_LIMITS.maxCalls) {
      throw new FormulaError(name.position, `too many function calls: at most ${FORMULA_LIMITS.maxCalls} are allowed`);
    }
    this.advance();
    const open = this.enter();
    const args: Argument[] = [];
    for (;;) {
      const token = this.token;
      if (misreadArgument(signature, token, this.source)) throw misuse(token.position, name.text, signature);
      if (token.kind === ')' && args.length === 0) break;
      if (token.kind === 'quoted') {
        this.advance();
        args.push({ kind: 'quoted', position: token.position, text: token.text });
      } else {
        args.push({ kind: 'expression', position: token.position, node: this.parseSum() });
      }
      if (this.token.kind !== ',') break;
      this.advance();
    }
    const close = this.token.position;
    this.leave(open, args.length === 0 ? '")"' : '"," or ")"');
    return buildCall(name.text, signature, args, close);
  }

  /** Consumes a "(" and counts one level of nesting; returns the "(". */
  private enter(): Token {
    const open = this.advance();
    if (++this.nesting > FORMULA_LIMITS.maxNesting) {
      throw new FormulaError(open.position, `nested too deeply: at most ${FORMULA_LIMITS.maxNesting} levels of parentheses are allowed`);
    }
    return open;
  }

  /** Consumes the ")" that closes `open`. */
  private leave(open: Token, expected: string): void {
    if (this.token.kind !== ')') {
      throw new FormulaError(this.token.position, `expected ${expected} to close "(" at column ${open.position + 1}, found ${describeToken(this.token)}`);
    }
    this.advance();
    this.nesting--;
  }
}

/** Checks a call's arguments against its function's signature. `close` is the position of its ")". */
function buildCall(name: string, signature: FunctionSignature, args: Argument[], close: number): Node {
  const single = args.length === 1 ? args[0]! : undefined;
  // Where a wrong call is shown: at its first argument that does not fit, or at its ")" when it has none.
  const misfit = (fits: (arg: Argument) => boolean): number => args.find((arg) => !fits(arg))?.position ?? args[1]?.position ?? close;
  switch (signature.kind) {
    case 'points':
      if (single?.kind !== 'quoted') {
        throw misuse(misfit((a) => a.kind === 'quoted'), name, signature);
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
        throw misuse(misfit((a) => a.kind === 'quoted'), name, signature);
      }
      return { kind: 'service', fn: signature.fn, metric: checkMetric(single) };
    case 'degreeDays':
      if (single?.kind !== 'expression' || single.node.kind !== 'number') {
        throw misuse(misfit((a) => a.kind === 'expression' && a.node.kind === 'number'), name, signature);
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
      if (referenceValue < 0) throw new FormulaError(reference!.position, `the reference climate is a number of degree-days ≥ 0, e.g. 2500; got ${referenceValue}`);
      return { kind: 'normalised', tags: parseTagQuery(tags), base: (base as { node: { value: number } }).node.value + 0, reference: referenceValue };
    }
  }
}

/** The error of a call whose arguments do not fit its function, at `position`. */
function misuse(position: number, name: string, signature: FunctionSignature): FormulaError {
  return new FormulaError(position, `"${name}" ${usage(name, signature)}`);
}

/** What a function takes, as in `"delta" takes one tag query …` (without the name). */
function usage(name: string, signature: FunctionSignature): string {
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
function misreadArgument(signature: FunctionSignature, token: Token, source: string): boolean {
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

// ---------------------------------------------------------------------------------------------
// Dependencies and compilation

function collectDependencies(tree: Node): FormulaDependencies {
  const points = new Map<string, { fn: PointAggregate; tags: string[] }>();
  const services = new Map<string, { fn: ServiceAggregate; metric: string }>();
  const attributes = new Set<Attribute>();
  const degreeDayBases = new Set<number>();
  let openingHours = false;
  const visit = (node: Node): void => {
    switch (node.kind) {
      case 'points': {
        const key = `${node.fn} ${node.tags.join(' ')}`;
        if (!points.has(key)) points.set(key, { fn: node.fn, tags: [...node.tags] });
        break;
      }
      case 'service': {
        const key = `${node.fn} ${node.metric}`;
        if (!services.has(key)) services.set(key, { fn: node.fn, metric: node.metric });
        break;
      }
      case 'attribute':
        attributes.add(node.name);
        break;
      case 'degreeDays':
        degreeDayBases.add(node.base);
        break;
      case 'openingHours':
        openingHours = true;
        break;
      case 'normalised': {
        const key = `delta ${node.tags.join(' ')}`;
        if (!points.has(key)) points.set(key, { fn: 'delta', tags: [...node.tags] });
        degreeDayBases.add(node.base);
        break;
      }
      case 'negate':
        visit(node.operand);
        break;
      case 'binary':
        visit(node.left);
        visit(node.right);
        break;
      case 'extremum':
        node.args.forEach(visit);
        break;
    }
  };
  visit(tree);
  return { points: [...points.values()], services: [...services.values()], attributes: [...attributes], degreeDayBases: [...degreeDayBases], openingHours };
}

type Evaluator = (context: FormulaContext) => number | null;

/** What the context answered, or null when that is not a finite number. */
function finite(value: number | null): number | null {
  return Number.isFinite(value) ? value : null;
}

/**
 * The formula as a tree of closures: the node kinds and operators are resolved once here, so that
 * evaluating is only calls and arithmetic, with no allocation.
 */
function compile(node: Node): Evaluator {
  switch (node.kind) {
    case 'number': {
      const value = node.value;
      return () => value;
    }
    case 'negate': {
      const operand = compile(node.operand);
      return (context) => {
        const value = operand(context);
        return value === null ? null : -value;
      };
    }
    case 'binary':
      return arithmetic(node.operator, compile(node.left), compile(node.right));
    case 'points': {
      const { fn } = node;
      const tags: readonly string[] = Object.freeze([...node.tags]);
      return (context) => finite(context.points(fn, tags));
    }
    case 'service': {
      const { fn, metric } = node;
      return (context) => finite(context.service(fn, metric));
    }
    case 'attribute': {
      const { name } = node;
      return (context) => finite(context.attribute(name));
    }
    case 'degreeDays': {
      const { base } = node;
      return (context) => finite(context.degreeDays(base));
    }
    case 'openingHours':
      return (context) => finite(context.openingHours());
    case 'hours':
      return (context) => finite(context.periodHours());
    case 'days':
      return (context) => finite(context.periodHours() / 24);
    case 'normalised': {
      const { base, reference } = node;
      const tags: readonly string[] = Object.freeze([...node.tags]);
      return (context) => finite(context.normalised(tags, base, reference));
    }
    case 'extremum': {
      const args = node.args.map(compile);
      const pickLower = node.fn === 'min';
      return (context) => {
        let result = args[0]!(context);
        if (result === null) return null;
        for (let i = 1; i < args.length; i++) {
          const value = args[i]!(context);
          if (value === null) return null;
          if (pickLower ? value < result : value > result) result = value;
        }
        return result;
      };
    }
  }
}

/** One closure per operator, so that evaluating does not look at the operator again. */
function arithmetic(operator: Operator, left: Evaluator, right: Evaluator): Evaluator {
  switch (operator) {
    case '+':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a + b);
      };
    case '-':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a - b);
      };
    case '*':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a * b);
      };
    case '/':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null || b === 0 ? null : finite(a / b);
      };
  }
}
