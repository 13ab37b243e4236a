import { describe, expect, it } from 'vitest';
import { FORMULA_LIMITS, FormulaError, parseFormula, type Attribute, type FormulaContext, type PointAggregate, type ServiceAggregate } from './formula.js';

/** Point aggregates by `<fn> <sorted tags>`; anything else has no data. */
const POINTS: Record<string, number> = {
  'delta elec energy meter': 1200,
  'delta energy heat meter': 900,
  'integral elec meter power': 600,
  'sum elec meter power': 50,
  'avg air sensor temp zone': 21,
  'min air sensor temp zone': 17,
  'max air sensor temp zone': 24,
  'count elec meter': 3,
};
const SERVICES: Record<string, number> = {
  'sum calls.answered': 90,
  'sum calls.received': 120,
  'avg reception.wait_minutes': 6,
  'min reception.wait_minutes': 1,
  'max reception.wait_minutes': 14,
  'count reception.wait_minutes': 40,
};
const ATTRIBUTES: Record<Attribute, number> = { area: 1000, light_points: 250, buildings: 4 };
const DEGREE_DAYS = new Map([
  [18, 300],
  [15, 200],
]);

/** One scope over a 30-day period. */
function fixedContext(periodHours = 720): FormulaContext {
  return {
    points: (fn, tags) => POINTS[`${fn} ${tags.join(' ')}`] ?? null,
    service: (fn, metric) => SERVICES[`${fn} ${metric}`] ?? null,
    attribute: (name) => ATTRIBUTES[name],
    degreeDays: (base) => DEGREE_DAYS.get(base) ?? null,
    openingHours: () => 220,
    periodHours: () => periodHours,
    normalised: (tags, base, reference) => (tags.join(' ') === 'energy meter' && base === 18 ? 1000 + reference : null),
  };
}

/** A context answering `value` to everything, e.g. data a broken source sent. */
function constantContext(value: unknown): FormulaContext {
  const answer = () => value as number;
  return { points: answer, service: answer, attribute: answer, degreeDays: answer, openingHours: answer, periodHours: answer, normalised: answer };
}

function evaluate(source: string, context = fixedContext()): number | null {
  return parseFormula(source).evaluate(context);
}

/** The error parseFormula throws for `source`, checked to be a FormulaError. */
function parseError(source: string): FormulaError {
  try {
    parseFormula(source);
  } catch (error) {
    expect(error).toBeInstanceOf(FormulaError);
    return error as FormulaError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to be rejected`);
}

describe('formula values', () => {
  const cases: [source: string, value: number | null][] = [
    // numbers, precedence and associativity
    ['18', 18],
    ['0.5', 0.5],
    ['1e3', 1000],
    ['2.5E-1', 0.25],
    ['1e+2', 100],
    ['10 - 2 - 3', 5],
    ['2 * 3 + 4', 10],
    ['2 + 3 * 4', 14],
    ['(2 + 3) * 4', 20],
    ['-2 * -3', 6],
    ['8 / 2 / 2', 2],
    ['2 * 3 / 4', 1.5],
    ['2 - -3', 5],
    ['--3', 3],
    ['-(2 + 3) * 2', -10],
    ['-area', -1000],
    [' 1 +\n\t2 ', 3],
    // point aggregations; the order and repetition of markers do not matter
    ['delta("elec meter energy")', 1200],
    ['delta("energy  meter elec elec")', 1200],
    ['delta("elec meter energy") / area', 1.2],
    ['delta("heat meter energy") / hdd(18) / area', 0.003],
    ['integral("elec meter power") / light_points', 2.4],
    ['sum("elec meter power")', 50],
    ['avg("zone air temp sensor")', 21],
    ['min("zone air temp sensor")', 17],
    ['max("zone air temp sensor")', 24],
    ['count("elec meter")', 3],
    // numeric min and max
    ['min(3, 1, 2)', 1],
    ['max(3, 1, 2)', 3],
    ['min(area, 500)', 500],
    ['max(-1, -2)', -1],
    ['max(avg("zone air temp sensor") - 19, 0)', 2],
    ['min(max("zone air temp sensor"), min("zone air temp sensor") + 10)', 24],
    // service data
    ['service_sum("calls.answered") / service_sum("calls.received") * 100', 75],
    ['service_avg("reception.wait_minutes")', 6],
    ['service_min("reception.wait_minutes")', 1],
    ['service_max("reception.wait_minutes")', 14],
    ['service_count("reception.wait_minutes")', 40],
    // scope and period
    ['area', 1000],
    ['light_points', 250],
    ['buildings', 4],
    ['hdd(18)', 300],
    ['hdd(15.0)', 200],
    ['opening_hours', 220],
    ['hours', 720],
    ['days', 30],
    ['opening_hours / hours', 220 / 720],
    // missing data
    ['delta("gas meter volume")', null],
    ['delta("gas meter volume") * 0', null],
    ['0 * delta("gas meter volume")', null],
    ['-delta("gas meter volume")', null],
    ['hdd(10)', null],
    ['service_sum("calls.dropped") + 1', null],
    ['min(1, delta("gas meter volume"))', null],
    ['max(delta("gas meter volume"), 1, 2)', null],
    // division by zero and non-finite results
    ['1 / 0', null],
    ['0 / 0', null],
    ['1 / -0', null],
    ['area / (buildings - 4)', null],
    ['1e308 * 10', null],
    ['-1e308 - 1e308', null],
    ['max(1e308 * 10, 1)', null],
    ['1 / (1e308 * 10)', null],
  ];
  for (const [source, value] of cases) {
    it(`${JSON.stringify(source)} = ${value}`, () => {
      const result = evaluate(source);
      if (value === null) expect(result).toBeNull();
      else expect(result).toBeCloseTo(value, 12);
    });
  }

  it('counts the days of a DST period from its hours', () => {
    expect(evaluate('days', fixedContext(23))).toBe(23 / 24);
    expect(evaluate('hours', fixedContext(25))).toBe(25);
    expect(evaluate('delta("elec meter energy") / hours', fixedContext(743))).toBe(1200 / 743);
  });

  it('takes what the context answers that is not a finite number for missing data, and never throws', () => {
    const source = 'delta("elec meter energy") + service_sum("a") + area + hdd(18) + opening_hours + days + hours + max(1, 2)';
    const formula = parseFormula(source);
    for (const value of [NaN, Infinity, -Infinity, undefined, '12', {}]) {
      expect(formula.evaluate(constantContext(value))).toBeNull();
    }
    expect(formula.evaluate(constantContext(1))).toBe(1 + 1 + 1 + 1 + 1 + 1 / 24 + 1 + 2);
  });

  it('asks the context for sorted, deduplicated tags, only what the formula reads', () => {
    const asked: unknown[][] = [];
    const answer = (value: number, ...question: unknown[]) => {
      asked.push(question);
      return value;
    };
    const context: FormulaContext = {
      points: (fn, tags) => answer(2, 'points', fn, tags, Object.isFrozen(tags)),
      service: (fn, metric) => answer(3, 'service', fn, metric),
      attribute: (name) => answer(4, 'attribute', name),
      degreeDays: (base) => answer(5, 'degreeDays', base),
      openingHours: () => answer(6, 'openingHours'),
      periodHours: () => answer(48, 'periodHours'),
      normalised: (tags, base, reference) => answer(7, 'normalised', tags, base, reference),
    };
    const value = parseFormula('min("temp zone air zone") * service_avg("reception.wait_minutes") + area * hdd(-2) + opening_hours / days').evaluate(context);
    expect(value).toBe(2 * 3 + 4 * 5 + 6 / 2);
    expect(asked).toEqual([
      ['points', 'min', ['air', 'temp', 'zone'], true],
      ['service', 'avg', 'reception.wait_minutes'],
      ['attribute', 'area'],
      ['degreeDays', -2],
      ['openingHours'],
      ['periodHours'],
    ]);
  });

  it('stops at the first missing operand', () => {
    let asked = 0;
    const context = { ...fixedContext(), attribute: () => (asked++, null) };
    expect(parseFormula('area * delta("elec meter energy") + area').evaluate(context)).toBeNull();
    expect(asked).toBe(1);
  });

  it('evaluates detached from the formula, many times without drifting', () => {
    const { evaluate: evaluateDetached } = parseFormula('(delta("elec meter energy") - 200) / area * 1000 / max(days, 1)');
    const context = constantContext(2);
    let total = 0;
    for (let i = 0; i < 100_000; i++) total += evaluateDetached(context)!;
    expect(total).toBe(100_000 * -99_000);
  });
});

describe('formula dependencies', () => {
  it('lists each distinct thing read once, in order of first appearance, tags sorted', () => {
    const formula = parseFormula(
      [
        'delta("elec meter energy") + delta("energy meter elec elec") + avg("elec meter energy")',
        'max("temp air") + max(1, 2) + min(area, 3)',
        'service_sum("a.b") + service_sum("a.b") + service_avg("a.b")',
        'area / buildings + buildings',
        'hdd(18) + hdd(18.0) + hdd(-0) + hdd(0) + hdd(-5.5)',
        'opening_hours + opening_hours + days + hours',
      ].join(' + '),
    );
    expect(formula.dependencies).toEqual({
      points: [
        { fn: 'delta', tags: ['elec', 'energy', 'meter'] },
        { fn: 'avg', tags: ['elec', 'energy', 'meter'] },
        { fn: 'max', tags: ['air', 'temp'] },
      ],
      services: [
        { fn: 'sum', metric: 'a.b' },
        { fn: 'avg', metric: 'a.b' },
      ],
      attributes: ['area', 'buildings'],
      degreeDayBases: [18, 0, -5.5],
      openingHours: true,
    });
    expect(Object.is(formula.dependencies.degreeDayBases[1], 0)).toBe(true);
  });

  it('is empty for a formula of constants and the period', () => {
    expect(parseFormula('days * 24 / hours').dependencies).toEqual({ points: [], services: [], attributes: [], degreeDayBases: [], openingHours: false });
  });

  it('keeps the source as written', () => {
    expect(parseFormula(' area  ').source).toBe(' area  ');
  });

  it('belongs to the engine: changing it does not change what evaluate asks', () => {
    const formula = parseFormula('count("b a")');
    formula.dependencies.points[0]!.tags.push('c');
    const tagsAsked: (readonly string[])[] = [];
    formula.evaluate({ ...fixedContext(), points: (_fn: PointAggregate, tags) => (tagsAsked.push(tags), 1) });
    expect(tagsAsked).toEqual([['a', 'b']]);
  });

  it('covers every aggregate of points and services', () => {
    const points: PointAggregate[] = ['sum', 'avg', 'min', 'max', 'integral', 'delta', 'count'];
    const services: ServiceAggregate[] = ['sum', 'avg', 'min', 'max', 'count'];
    const formula = parseFormula([...points.map((fn) => `${fn}("x")`), ...services.map((fn) => `service_${fn}("x")`)].join(' + '));
    expect(formula.dependencies.points).toEqual(points.map((fn) => ({ fn, tags: ['x'] })));
    expect(formula.dependencies.services).toEqual(services.map((fn) => ({ fn, metric: 'x' })));
  });
});

describe('formula errors', () => {
  const names = 'area, light_points, buildings, opening_hours, days, hours';
  const functions = 'sum, avg, min, max, integral, delta, count, service_sum, service_avg, service_min, service_max, service_count, hdd, normalised';
  const letters = 'a formula has only numbers, names, function calls, quoted texts as their arguments, + - * / and parentheses';
  const operand = 'expected a number, a name, a function call or "("';
  const trailing = 'expected an operator (+ - * /) or the end of the formula';
  const minUsage = '"min" takes either one tag query in quotes, e.g. min("zone air temp sensor"), or two or more numbers, e.g. min(area, 500)';
  const cases: [source: string, message: string][] = [
    // names and functions
    ['1 + 2 * 3 + summ("elec")', `column 13: unknown function "summ"; expected one of ${functions}`],
    ['aera', `column 1: unknown name "aera"; expected one of ${names}`],
    ['Area', `column 1: unknown name "Area"; expected one of ${names}`],
    ['area(2)', 'column 1: "area" is not a function; write it without parentheses'],
    ['2 * sum', 'column 5: "sum" is a function that takes one tag query in quotes, e.g. sum("elec meter power")'],
    ['hdd', 'column 1: "hdd" is a function that takes the base temperature in °C as a number, e.g. hdd(18)'],
    // arguments
    ['delta(elec meter energy)', 'column 7: "delta" takes one tag query in quotes, e.g. delta("elec meter energy")'],
    ['delta()', 'column 7: "delta" takes one tag query in quotes, e.g. delta("elec meter energy")'],
    ['delta(1)', 'column 7: "delta" takes one tag query in quotes, e.g. delta("elec meter energy")'],
    ['delta("elec", "meter")', 'column 15: "delta" takes one tag query in quotes, e.g. delta("elec meter energy")'],
    ['integral(area)', 'column 10: "integral" takes one tag query in quotes, e.g. integral("elec meter power")'],
    ['count ( )', 'column 9: "count" takes one tag query in quotes, e.g. count("elec meter")'],
    ['min(1)', `column 5: ${minUsage}`],
    ['min()', `column 5: ${minUsage}`],
    ['min(zone air)', `column 5: ${minUsage}`],
    ['min("a", 2)', `column 5: ${minUsage}`],
    ['min(1, "a")', `column 8: ${minUsage}`],
    ['min("a", "b")', `column 5: ${minUsage}`],
    ['max(area)', 'column 5: "max" takes either one tag query in quotes, e.g. max("zone air temp sensor"), or two or more numbers, e.g. max(area, 500)'],
    ['service_sum(calls.answered)', 'column 13: "service_sum" takes one metric name in quotes, e.g. service_sum("calls.answered")'],
    ['service_avg("a", "b")', 'column 18: "service_avg" takes one metric name in quotes, e.g. service_avg("reception.wait_minutes")'],
    ['hdd(area)', 'column 5: "hdd" takes the base temperature in °C as a number, e.g. hdd(18)'],
    ['hdd("18")', 'column 5: "hdd" takes the base temperature in °C as a number, e.g. hdd(18)'],
    ['hdd(9 * 2)', 'column 5: "hdd" takes the base temperature in °C as a number, e.g. hdd(18)'],
    ['hdd()', 'column 5: "hdd" takes the base temperature in °C as a number, e.g. hdd(18)'],
    ['hdd(18, 20)', 'column 9: "hdd" takes the base temperature in °C as a number, e.g. hdd(18)'],
    // tag queries and metric names
    ['sum("")', 'column 5: empty tag query; expected tags separated by spaces, e.g. "elec meter energy"'],
    ['""', 'column 1: a quoted text is only allowed as the argument of a function, e.g. delta("elec meter energy") or service_sum("calls.answered")'],
    ['sum("   ")', 'column 5: empty tag query; expected tags separated by spaces, e.g. "elec meter energy"'],
    ['sum("elec meter!")', 'column 11: "meter!" is not a tag: a tag starts with a letter and has only letters, digits, "-" and "_", e.g. elec or air-temp'],
    ['sum("elec 2nd")', 'column 11: "2nd" is not a tag: a tag starts with a letter and has only letters, digits, "-" and "_", e.g. elec or air-temp'],
    ['service_sum("")', 'column 13: empty metric name; expected e.g. "calls.answered"'],
    [
      'service_sum("calls.Answered")',
      'column 20: unexpected "A" in the metric name "calls.Answered"; a metric name has only lowercase letters, digits, "_" and ".", e.g. calls.answered',
    ],
    [
      'service_sum("calls answered")',
      'column 19: unexpected U+0020 in the metric name "calls answered"; a metric name has only lowercase letters, digits, "_" and ".", e.g. calls.answered',
    ],
    ['"elec" + 1', 'column 1: a quoted text is only allowed as the argument of a function, e.g. delta("elec meter energy") or service_sum("calls.answered")'],
    ['sum("elec meter', 'column 5: unterminated quoted text: expected a closing " before the end of the formula'],
    ["sum('elec')", 'column 5: texts are written in double quotes, e.g. delta("elec meter energy")'],
    // numbers
    ['.5', 'column 1: a number starts with a digit, e.g. 0.5'],
    ['1.', 'column 3: expected a digit after the decimal point, e.g. 1.5'],
    ['1.x', 'column 3: expected a digit after the decimal point, e.g. 1.5'],
    ['2e', 'column 3: expected the digits of the exponent, e.g. 1e3'],
    ['2e+', 'column 4: expected the digits of the exponent, e.g. 1e3'],
    ['1.5.2', 'column 4: unexpected "." after the number 1.5'],
    ['1e999', 'column 1: number out of range: 1e999'],
    // structure
    ['', 'column 1: empty formula; expected an expression, e.g. delta("elec meter energy") / area'],
    ['  \n ', 'column 1: empty formula; expected an expression, e.g. delta("elec meter energy") / area'],
    ['(1 + 2', 'column 7: expected ")" to close "(" at column 1, found the end of the formula'],
    ['(12 3)', 'column 5: expected ")" to close "(" at column 1, found "3"'],
    ['max(1, 2', 'column 9: expected "," or ")" to close "(" at column 4, found the end of the formula'],
    ['sum("a" "b")', 'column 9: expected "," or ")" to close "(" at column 4, found the quoted text "b"'],
    ['1 +', `column 4: ${operand}, found the end of the formula`],
    ['1 + * 2', `column 5: ${operand}, found "*"`],
    ['+1', `column 1: ${operand}, found "+"`],
    ['()', `column 2: ${operand}, found ")"`],
    ['max(1, )', `column 8: ${operand}, found ")"`],
    ['1 2', `column 3: unexpected "2" after a complete expression; ${trailing}`],
    ['2area', `column 2: unexpected "area" after a complete expression; ${trailing}`],
    ['2 (3)', `column 3: unexpected "(" after a complete expression; ${trailing}`],
    ['1, 2', `column 2: unexpected "," after a complete expression; ${trailing}`],
    ['(1))', 'column 4: unmatched ")": no "(" is open here'],
    ['area # comment', `column 6: unexpected character "#"; ${letters}`],
    ['area\u00b2', `column 5: unexpected character "²"; ${letters}`],
    ['1 +\u0000', `column 4: unexpected character U+0000; ${letters}`],
    ['1 + 😀', `column 5: unexpected character "😀"; ${letters}`],
  ];
  for (const [source, message] of cases) {
    it(`${JSON.stringify(source)}: ${message}`, () => {
      const error = parseError(source);
      expect(error.message).toBe(message);
      expect(error.code).toBe('FORMULA_INVALID');
      expect(error.name).toBe('FormulaError');
      expect(error).toBeInstanceOf(Error);
      expect(error.column).toBe(error.position + 1);
      expect(message.startsWith(`column ${error.column}: `)).toBe(true);
    });
  }

  it('rejects what is not text', () => {
    expect(parseError(42 as unknown as string).message).toBe('column 1: expected the formula as text');
  });
});

describe('formula limits', () => {
  it('accepts 2,000 characters and rejects more', () => {
    const longest = '1+'.repeat(999) + '10';
    expect(longest).toHaveLength(FORMULA_LIMITS.maxLength);
    expect(evaluate(longest)).toBe(1009);
    expect(parseError(longest + ' ').message).toBe('column 2001: formula too long: 2,001 characters; at most 2,000 are allowed');
  });

  it('accepts 50 levels of parentheses and rejects 51', () => {
    expect(evaluate('('.repeat(50) + '1' + ')'.repeat(50))).toBe(1);
    expect(parseError('('.repeat(51) + '1' + ')'.repeat(51)).message).toBe('column 51: nested too deeply: at most 50 levels of parentheses are allowed');
    // A call's parentheses count as well.
    expect(evaluate('max(1, '.repeat(50) + '2' + ')'.repeat(50))).toBe(2);
    expect(parseError('(max(1, '.repeat(25) + '(2' + '))'.repeat(26)).message).toBe(
      'column 201: nested too deeply: at most 50 levels of parentheses are allowed',
    );
  });

  it('accepts 100 function calls and rejects 101', () => {
    const call = 'hdd(18)';
    expect(evaluate(Array(100).fill(call).join('+'))).toBe(30_000);
    expect(parseError(Array(101).fill(call).join('+')).message).toBe('column 801: too many function calls: at most 100 are allowed');
  });

  it('takes the longest chains of operators without exhausting the stack', () => {
    expect(evaluate('-'.repeat(1999) + '1')).toBe(-1);
    expect(evaluate('-'.repeat(1998) + '1')).toBe(1);
    expect(evaluate('1-'.repeat(999) + '1')).toBe(-998);
    expect(evaluate('2/'.repeat(999) + '1')).toBe(2 / 2 ** 998);
    expect(evaluate('-area*'.repeat(333) + '1')).toBeNull();
  });
});

describe('formula safety', () => {
  const attempts = [
    'constructor',
    'constructor("return 1")()',
    '__proto__',
    '__proto__.area',
    'toString',
    'hasOwnProperty("area")',
    'valueOf()',
    'process.exit(1)',
    'this',
    'this.constructor',
    'globalThis',
    'eval("1")',
    'Function("return 1")',
    'require("fs")',
    'import("fs")',
    'new Date()',
    '`1`',
    '`${process.exit(1)}`',
    '1; process.exit(1)',
    'area; 1',
    'area[0]',
    'area = 1',
    '{}',
    'area || 1',
    '\\u0061rea',
    'area // comment',
    'sum("__proto__")',
  ];
  for (const source of attempts) {
    it(`rejects ${JSON.stringify(source)}`, () => {
      expect(parseError(source).message).toMatch(/^column \d+: /);
    });
  }

  it('answers any jumble of formula characters with a value or a FormulaError', () => {
    // A fixed linear congruential sequence, so that a failure can be reproduced.
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return seed % n;
    };
    const pieces = [
      '1',
      '0',
      '2.5',
      'e',
      '-',
      '+',
      '*',
      '/',
      '(',
      ')',
      ',',
      ' ',
      '"',
      'elec',
      'min',
      'max',
      'sum',
      'hdd',
      'area',
      'days',
      '.',
      'service_sum',
      '"a b"',
      "'",
    ];
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const source = Array.from({ length: 1 + random(12) }, () => pieces[random(pieces.length)]).join('');
      let formula;
      try {
        formula = parseFormula(source);
      } catch (error) {
        if (!(error instanceof FormulaError)) throw new Error(`${JSON.stringify(source)} threw ${String(error)}`);
        expect(error.position).toBeLessThanOrEqual(source.length);
        continue;
      }
      parsed++;
      const value = formula.evaluate(fixedContext());
      expect(value === null || Number.isFinite(value)).toBe(true);
    }
    expect(parsed).toBeGreaterThan(0);
  });
});

describe('normalised()', () => {
  it('asks the context for the sorted tags, the base and the reference, and depends on their meter advance and degree-days', () => {
    const formula = parseFormula('normalised("meter energy meter", 18, 2500) / area');
    // fixedContext answers 1000 + reference for "energy meter" at base 18; area is 1,000 m².
    expect(formula.evaluate(fixedContext())).toBe((1000 + 2500) / 1000);
    expect(formula.dependencies.points).toEqual([{ fn: 'delta', tags: ['energy', 'meter'] }]);
    expect(formula.dependencies.degreeDayBases).toEqual([18]);
    expect(parseFormula('normalised("energy meter", 15, 2000)').evaluate(fixedContext())).toBeNull();
  });

  it('says how it is called when its arguments do not fit', () => {
    const usage =
      '"normalised" takes the meters\' tag query in quotes, the degree-days\' base temperature in °C and the reference climate in degree-days a year, as numbers, e.g. normalised("meter energy", 18, 2500)';
    expect(parseError('normalised("meter energy", 18)').message).toBe(`column 30: ${usage}`);
    expect(parseError('normalised(meter energy, 18, 2500)').message).toBe(`column 12: ${usage}`);
    expect(parseError('normalised("meter energy", area, 2500)').message).toBe(`column 28: ${usage}`);
    expect(parseError('normalised("meter energy", 18, 2500, 1)').message).toBe(`column 38: ${usage}`);
    expect(parseError('normalised("meter energy", 18, -1)').message).toBe('column 32: the reference climate is a number of degree-days ≥ 0, e.g. 2500; got -1');
  });
});
