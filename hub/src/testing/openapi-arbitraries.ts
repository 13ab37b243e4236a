/**
 * fast-check arbitraries made from the JSON Schemas of an OpenAPI document, for the API fuzzer
 * (api-fuzz.ts): each one yields values that the schema accepts mixed with hostile ones (NUL and
 * astral characters, lone surrogates, very long strings, extreme numbers and dates, wrong types,
 * prototype keys), so that a request gets past validation often enough to reach the handlers,
 * and tries the validation itself the rest of the time.
 *
 * Only what the hub's document uses is understood: type, enum, const, pattern, format
 * (date-time), min/maxLength, minimum/maximum, items, min/maxItems, properties, required,
 * additionalProperties, anyOf/oneOf/allOf, nullable. An unknown schema gives any JSON value.
 */
import fc from 'fast-check';

/** The subset of JSON Schema that the arbitraries read. */
export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  nullable?: boolean;
}

/** What the arbitraries draw on besides the schema. */
export interface ArbitraryContext {
  /**
   * Values that exist in the fuzzed hub (objective keys, sources, scopes, gateway ids …): a
   * string schema whose pattern one of them matches offers it, so that requests find data.
   */
  knownStrings: readonly string[];
}

/** Dates at and past the edges of what JavaScript, PostgreSQL and ISO 8601 take. */
export const HOSTILE_DATES: readonly string[] = [
  '-271821-04-20T00:00:00Z',
  '-271821-04-19T23:59:59Z',
  '+275760-09-13T00:00:00Z',
  '+275760-09-13T00:00:00.001Z',
  '+275760-09-13',
  '0000-01',
  '0000-01-01T00:00:00Z',
  '0000-00-00',
  '9999-12-31T23:59:59-14:00',
  '9999-12-31T23:59:59+14:00',
  '10000-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '4713-01-01T00:00:00Z',
  '2026-02-30',
  '2026-13-01',
  '2026-00',
  '2026-10-25T02:30:00+02:00',
  '2026-10-25T00:00:00+99:99',
  '2026-10-25T24:00:00Z',
  '2026-W43',
  '2026-10-25T00:00:00.1234567890Z',
];

/** Numbers, as text, that parsers disagree about. */
export const HOSTILE_NUMBER_TEXTS: readonly string[] = [
  '1e308',
  '-1e308',
  '1e309',
  '1e-400',
  '-0',
  '0x1F',
  '0b11',
  ' 1 ',
  '1_000',
  '+1',
  '-1',
  '01',
  '1.',
  '.5',
  '9007199254740993',
  '99999999999999999999999999',
  'NaN',
  'Infinity',
  '-Infinity',
  '1,5',
  '',
];

/** Numbers that are valid JSON and still extreme. */
export const HOSTILE_NUMBERS: readonly number[] = [
  1e308,
  -1e308,
  -0,
  5e-324,
  Number.MAX_SAFE_INTEGER + 2,
  -(2 ** 63),
  2 ** 63,
  2 ** 31,
  -(2 ** 31) - 1,
  0.1 + 0.2,
  1.5,
  -1,
];

/** Strings with characters that break naive code: NUL, astral, lone surrogates, controls, markup, SQL. */
export const HOSTILE_STRINGS: readonly string[] = [
  '\u0000',
  'a\u0000b',
  'town-hall\u0000',
  '😀',
  '\u{10FFFF}',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🏛️ mairie',
  '\uD800',
  'a\uDFFFb',
  '\u202Eevil',
  '\uFEFFbom',
  '\r\n\t',
  ' ',
  '',
  "'; DROP TABLE samples; --",
  '%',
  '_',
  '\\',
  '%00',
  '../../../etc/passwd',
  '<script>alert(1)</script>',
  '${process.exit()}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'city\u0000',
  'site:',
  'building:',
  'x'.repeat(300),
  'é'.repeat(5_000),
];

/** Built once: strings far past any reasonable field, shared by every run. */
const LONG_STRINGS: readonly string[] = ['a'.repeat(65_536), '😀'.repeat(20_000)];

/** A string from the hostile lists, or arbitrary text of any code unit (lone surrogates included). */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_DATES) },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_NUMBER_TEXTS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom(...LONG_STRINGS) },
  );
}

/** A value of another JSON type than expected, or an extreme one. */
export function hostileValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: hostileString() },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(...HOSTILE_NUMBERS) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], { '': null }, { __proto__: null, constructor: 1 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

/**
 * Values for `schema`: mostly ones it accepts (each part of an object or array mixing in
 * hostile values again), some hostile ones.
 */
export function schemaValue(schema: JsonSchema | undefined, context: ArbitraryContext): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: validValue(schema ?? {}, context) }, { weight: 1, arbitrary: hostileFor(schema ?? {}) });
}

/** Values `schema` accepts, as far as the generators can tell (patterns, bounds, enums). */
function validValue(schema: JsonSchema, context: ArbitraryContext): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => validValue(s, context)));
  if (schema.allOf?.length) return validValue(Object.assign({}, ...schema.allOf) as JsonSchema, context);
  const types = [schema.type ?? inferredType(schema)].flat().filter((t): t is string => t !== undefined);
  const arbitraries = types.map((type) => validOfType(type, schema, context));
  if (schema.nullable) arbitraries.push(fc.constant(null));
  return arbitraries.length ? fc.oneof(...arbitraries) : fc.jsonValue({ maxDepth: 2 });
}

function inferredType(schema: JsonSchema): string | undefined {
  if (schema.properties || schema.additionalProperties !== undefined) return 'object';
  if (schema.items) return 'array';
  if (schema.pattern || schema.format || schema.maxLength !== undefined) return 'string';
  return undefined;
}

function validOfType(type: string, schema: JsonSchema, context: ArbitraryContext): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return validString(schema, context);
    case 'integer':
      return fc.integer({ min: bound(schema.minimum, -1e6), max: bound(schema.maximum, 1e6) });
    case 'number':
      return fc.double({ min: bound(schema.minimum, -1e9), max: bound(schema.maximum, 1e9), noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(schemaValue(schema.items, context), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) });
    case 'object':
      return validObject(schema, context);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A safe bound between ±1e9 for the generators (schemas may give none, or a huge one). */
function bound(value: number | undefined, fallback: number): number {
  return value === undefined ? fallback : Math.max(-1e9, Math.min(1e9, value));
}

function validString(schema: JsonSchema, context: ArbitraryContext): fc.Arbitrary<string> {
  const options: fc.Arbitrary<string>[] = [];
  if (schema.format === 'date-time') {
    options.push(fc.date({ min: new Date('2019-01-01T00:00:00Z'), max: new Date('2031-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()));
  }
  const pattern = schema.pattern ? toRegExp(schema.pattern) : undefined;
  const fits = (s: string) => (!pattern || pattern.test(s)) && s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? Infinity);
  const known = context.knownStrings.filter(fits);
  if (known.length) options.push(fc.constantFrom(...known));
  if (pattern) options.push(fc.stringMatching(pattern).filter(fits));
  else if (!options.length) options.push(fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 30, 30) }));
  return fc.oneof(...options);
}

/** A schema's pattern as ajv reads it (Unicode mode), or without the flag when that fails. */
function toRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return new RegExp(pattern);
  }
}

function validObject(schema: JsonSchema, context: ArbitraryContext): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const known = fc.record(Object.fromEntries(Object.entries(properties).map(([key, s]) => [key, schemaValue(s, context)])), {
    requiredKeys: (schema.required ?? []).filter((k) => k in properties),
  });
  const extraValue = typeof schema.additionalProperties === 'object' ? schemaValue(schema.additionalProperties, context) : hostileValue();
  // Keys the schema does not name, prototype keys among them; mostly none when it forbids them.
  const extra = fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra'), fc.string({ maxLength: 8 })), extraValue, {
    maxKeys: schema.additionalProperties === false ? 1 : 3,
  });
  const withExtra = schema.additionalProperties === false ? fc.oneof({ weight: 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extra }) : extra;
  return fc.tuple(known, withExtra).map(([k, e]) => assignOwn(assignOwn({}, e), k));
}

/** Copies own properties as data (`__proto__` included, as JSON.parse would make it). */
function assignOwn(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(source)) Object.defineProperty(target, key, { value: source[key], enumerable: true, writable: true, configurable: true });
  return target;
}

/** Hostile values for `schema`: of its type but extreme, or of another type. */
function hostileFor(schema: JsonSchema): fc.Arbitrary<unknown> {
  const type = [schema.type ?? inferredType(schema)].flat()[0];
  if (type === 'string' && schema.format === 'date-time') return fc.oneof(fc.constantFrom(...HOSTILE_DATES), hostileValue());
  if (type === 'integer' || type === 'number')
    return fc.oneof(fc.constantFrom<unknown>(...HOSTILE_NUMBERS), fc.constantFrom(...HOSTILE_NUMBER_TEXTS), hostileValue());
  return hostileValue();
}

/**
 * `example` with one part replaced by a hostile value (or, half the time, left as it is): a
 * known-good request body gets past validation and tries what is behind it, one field at a time.
 */
export function mutatedExample(example: unknown): fc.Arbitrary<unknown> {
  const paths = leafPaths(example);
  if (!paths.length) return fc.constant(example);
  return fc.oneof(
    fc.constant(example),
    fc.tuple(fc.constantFrom(...paths), hostileValue()).map(([path, value]) => replaceAt(example, path, value)),
  );
}

function leafPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return [path, ...value.flatMap((v, i) => leafPaths(v, [...path, i]))];
  if (value && typeof value === 'object') return [path, ...Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...path, k]))];
  return [path];
}

function replaceAt(value: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  if (!path.length) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? replaceAt(v, rest, replacement) : v));
  const copy = { ...(value as Record<string, unknown>) };
  copy[head as string] = replaceAt(copy[head as string], rest, replacement);
  return copy;
}
