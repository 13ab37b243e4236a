import { Type, Kind, type TSchema, type Static, type SchemaOptions, type TLiteral, type TUnion } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigError, type ConfigIssue, type ConfigPath } from './errors.js';

/**
 * Schema helpers. A configuration is declared once, as a TypeBox schema: it is the JSON Schema
 * (docs, the hub's forms), the TypeScript type (`Static<typeof schema>`) and the runtime check
 * ({@link validate}). Schemas may carry an `expected` annotation: the words used in error
 * messages when a value does not match ("a duration such as 15s").
 */

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A duration written as a number and a unit: `500ms`, `15s`, `5m`, `1h`. */
export function Duration(options: SchemaOptions = {}) {
  return Type.String({
    pattern: DURATION_RE.source,
    expected: 'a duration such as 500ms, 15s, 5m or 1h',
    ...options,
  });
}

/** Milliseconds in a duration written as {@link Duration} accepts it. */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) throw new RangeError(`not a duration: ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS]);
}

/** One of a fixed set of strings; its error message lists them. */
export function StringEnum<const T extends string>(values: readonly T[], options: SchemaOptions = {}): TUnion<TLiteral<T>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { expected: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`, ...options },
  );
}

/** Result of {@link validate}: the value with defaults applied, or every issue found. */
export type Validation<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/**
 * Checks `input` against `schema` after filling in the schema's defaults (on a copy: the input
 * is never modified). Reports at most one issue per path, in document order, worded for people.
 */
export function validate<T extends TSchema>(schema: T, input: unknown): Validation<Static<T>> {
  const value = Value.Default(schema, Value.Clone(input));
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    if (seen.has(error.path)) continue;
    // An error on an object's property also shows up as a failure of every enclosing union:
    // report the innermost one only.
    if ([...seen].some((p) => error.path.startsWith(p + '/') || p.startsWith(error.path + '/'))) continue;
    seen.add(error.path);
    issues.push(describeError(error));
  }
  return issues.length === 0 ? { ok: true, value: value as Static<T> } : { ok: false, issues };
}

/** Like {@link validate}, but throws a {@link ConfigError} with every issue. */
export function parseConfig<T extends TSchema>(schema: T, input: unknown, prefix: ConfigPath = []): Static<T> {
  const result = validate(schema, input);
  if (!result.ok) throw new ConfigError(result.issues).prefixed(prefix);
  return result.value;
}

function toPath(pointer: string): (string | number)[] {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function describeError(error: ValueError): ConfigIssue {
  const path = toPath(error.path);
  const { schema, value } = error;
  if (value === undefined) {
    return { path, message: `is required: expected ${describeSchema(schema)}` };
  }
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    // TypeBox reports the unexpected key itself as the path's last element.
    return { path, message: 'is not a known setting (check its spelling and indentation)' };
  }
  const shown = showValue(value);
  if (typeof value === 'number' && (schema.minimum !== undefined || schema.maximum !== undefined) && (schema.type === 'integer' || schema.type === 'number')) {
    if (schema.type !== 'integer' || Number.isInteger(value)) {
      return { path, message: `${value} is outside ${schema.minimum ?? '-∞'}..${schema.maximum ?? '∞'}` };
    }
  }
  return { path, message: `expected ${describeSchema(schema)}, got ${shown}` };
}

/**
 * A value as a message shows it: JSON, but a long list by its length and a long string cut, so
 * that a message about 10,001 items or a 300-character name stays readable.
 */
function showValue(value: unknown): string {
  if (Array.isArray(value) && value.length > 10) return `a list of ${value.length} items`;
  if (typeof value === 'string' && value.length > 80) return `${JSON.stringify(value.slice(0, 60))}… (${value.length} characters)`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Words for what a schema accepts. */
export function describeSchema(schema: TSchema): string {
  if (typeof schema.expected === 'string') return schema.expected;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) {
    const parts = (schema.anyOf as TSchema[]).map(describeSchema);
    return parts.length === 1 ? parts[0]! : `one of ${parts.join(', ')}`;
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      if (schema.minimum !== undefined && schema.maximum !== undefined) return `${noun} from ${schema.minimum} to ${schema.maximum}`;
      if (schema.minimum !== undefined) return `${noun} of at least ${schema.minimum}`;
      if (schema.maximum !== undefined) return `${noun} of at most ${schema.maximum}`;
      return noun;
    }
    case 'string':
      if (schema.pattern) return `a string matching ${schema.pattern}${schema.maxLength !== undefined ? ` of at most ${schema.maxLength} characters` : ''}`;
      if (schema.maxLength !== undefined) return `a ${schema.minLength ? 'non-empty ' : ''}string of at most ${schema.maxLength} characters`;
      if (schema.minLength) return 'a non-empty string';
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      if (schema.maxItems !== undefined) return `a list of ${schema.minItems ?? 0} to ${schema.maxItems} item(s)`;
      return schema.minItems ? `a list of at least ${schema.minItems} item(s)` : 'a list';
    case 'object':
      return schema.properties ? `a mapping with ${Object.keys(schema.properties).join(', ')}` : 'a mapping';
    case 'null':
      return 'null';
    default:
      return schema[Kind] === 'Unknown' ? 'a value' : String(schema[Kind]).toLowerCase();
  }
}
