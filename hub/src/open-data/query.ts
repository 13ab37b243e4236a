import pg from 'pg';
import { fieldOutput, sqlType, type DatasetDefinition, type DatasetField } from './datasets.js';

/**
 * A request's reading of a dataset: filters on its columns, an order, a page. Query parameters:
 *   - `<column>=v` equal, `<column>.gte=v`, `.gt`, `.lte`, `.lt`: compared as the column's type
 *     (a date 2026-01-31, a month 2026-01, a time 2026-01-31T23:00:00Z, a number, true/false);
 *   - `sort=-month,building`: columns that are never empty, `-` for descending; the dataset's key
 *     follows, so that the order is total;
 *   - `limit` (pages only; default 100, at most 1,000) and `after` (the cursor a page gave).
 * Every mistake is an OpenDataQueryError naming the parameter.
 */

export class OpenDataQueryError extends Error {
  readonly code = 'OPEN_DATA_BAD_QUERY';
  readonly statusCode = 400;
  /** The query parameter at fault. */
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
    this.name = 'OpenDataQueryError';
  }
}

export const PAGE_DEFAULT = 100;
export const PAGE_MAX = 1000;
const OPERATORS = { eq: '=', gte: '>=', gt: '>', lte: '<=', lt: '<' } as const;
type Operator = keyof typeof OPERATORS;
/** Parameters that are not columns. */
const RESERVED = new Set(['sort', 'limit', 'after', 'lang']);
/** Longest value a filter or a cursor may have, in characters. */
const VALUE_MAX = 200;
const CURSOR_MAX = 2000;

export interface Filter {
  field: DatasetField;
  operator: Operator;
  /** The value as PostgreSQL reads it for the column's type. */
  value: string | number | boolean;
}

export interface SortKey {
  field: DatasetField;
  descending: boolean;
}

export interface DatasetQuery {
  filters: Filter[];
  /** The whole order: the sort asked for, then the dataset's key. */
  order: SortKey[];
  /** The `sort` parameter as given, bound into cursors. */
  sort: string;
  limit: number;
  /** The values of `order`'s columns in the last row of the previous page, as text. */
  after: string[] | undefined;
}

/** Reads the query parameters of a request on `dataset`; `paged` for the rows API (limit, after). */
export function parseDatasetQuery(dataset: DatasetDefinition, params: Record<string, unknown>, paged: boolean): DatasetQuery {
  const fields = new Map(dataset.fields.map((f) => [f.name, f]));
  const names = () => dataset.fields.map((f) => f.name).join(', ');
  const filters: Filter[] = [];
  for (const [parameter, raw] of Object.entries(params)) {
    if (RESERVED.has(parameter)) continue;
    const [name = '', operator = 'eq', ...rest] = parameter.split('.');
    const field = fields.get(name);
    if (!field) throw new OpenDataQueryError(parameter, `no column ${JSON.stringify(name.slice(0, 60))} in dataset ${dataset.id}; its columns are ${names()}`);
    if (rest.length || !(operator in OPERATORS))
      throw new OpenDataQueryError(parameter, `unknown comparison ${JSON.stringify(operator.slice(0, 20))}: use ${name}=, ${name}.gte=, .gt=, .lte= or .lt=`);
    if (typeof raw !== 'string') throw new OpenDataQueryError(parameter, 'give it once');
    filters.push({ field, operator: operator as Operator, value: parseValue(parameter, field, raw) });
  }
  if (filters.length > 2 * dataset.fields.length) throw new OpenDataQueryError('filters', `at most ${2 * dataset.fields.length} filters`);

  const sortText = params.sort === undefined ? '' : params.sort;
  if (typeof sortText !== 'string') throw new OpenDataQueryError('sort', 'give it once');
  const order: SortKey[] = [];
  for (const part of sortText.split(',').filter((p) => p !== '')) {
    const descending = part.startsWith('-');
    const name = descending ? part.slice(1) : part;
    const field = fields.get(name);
    if (!field) throw new OpenDataQueryError('sort', `no column ${JSON.stringify(name.slice(0, 60))} in dataset ${dataset.id}; its columns are ${names()}`);
    if (!field.required) throw new OpenDataQueryError('sort', `column ${name} may be empty and cannot be sorted on`);
    if (order.some((o) => o.field === field)) throw new OpenDataQueryError('sort', `column ${name} is named twice`);
    order.push({ field, descending });
  }
  for (const name of dataset.key) if (!order.some((o) => o.field.name === name)) order.push({ field: fields.get(name)!, descending: false });

  let limit = PAGE_DEFAULT;
  let after: string[] | undefined;
  if (paged) {
    if (params.limit !== undefined) {
      const text = String(params.limit);
      if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > PAGE_MAX)
        throw new OpenDataQueryError('limit', `expected a whole number from 1 to ${PAGE_MAX}`);
      limit = Number(text);
    }
    if (params.after !== undefined) after = parseCursor(params.after, sortText, order.length);
  } else if (params.limit !== undefined || params.after !== undefined) {
    throw new OpenDataQueryError(params.limit !== undefined ? 'limit' : 'after', 'downloads are whole: page through /rows instead');
  }
  return { filters, order, sort: sortText, limit, after };
}

function parseValue(parameter: string, field: DatasetField, raw: string): string | number | boolean {
  const fail = (expected: string): never => {
    throw new OpenDataQueryError(parameter, `expected ${expected} for column ${field.name}, not ${JSON.stringify(raw.slice(0, 60))}`);
  };
  if (raw.length > VALUE_MAX) fail(`at most ${VALUE_MAX} characters`);
  switch (field.type) {
    case 'string':
      return raw;
    case 'integer':
      if (!/^-?[0-9]{1,15}$/.test(raw)) fail('a whole number');
      return Number(raw);
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) fail('a number such as 12.5');
      return n;
    }
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') fail('true or false');
      return raw === 'true';
    case 'date':
      if (!isDay(raw)) fail('a date YYYY-MM-DD');
      return raw;
    case 'yearmonth':
      if (!/^[0-9]{4}-(0[1-9]|1[0-2])$/.test(raw)) fail('a month YYYY-MM');
      return `${raw}-01`;
    case 'datetime': {
      const m = /^([0-9]{4}-[0-9]{2}-[0-9]{2})T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-][01][0-9]:[0-5][0-9])$/.exec(raw);
      if (!m || !isDay(m[1]!)) fail('an ISO 8601 time with its offset, such as 2026-01-31T23:00:00Z');
      return raw;
    }
  }
}

function isDay(text: string): boolean {
  const m = /^([0-9]{4})-(0[1-9]|1[0-2])-([0-9]{2})$/.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return year >= 1900 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A cursor: the sort it was made for and the last row's values of the order's columns. */
export function makeCursor(sort: string, values: readonly string[]): string {
  return Buffer.from(JSON.stringify({ s: sort, v: values })).toString('base64url');
}

function parseCursor(raw: unknown, sort: string, columns: number): string[] {
  const bad = (why: string): never => {
    throw new OpenDataQueryError('after', `${why}: give the cursor a page returned in its next link, unchanged`);
  };
  if (typeof raw !== 'string' || raw.length > CURSOR_MAX || !/^[A-Za-z0-9_-]+$/.test(raw)) bad('not a cursor');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw as string, 'base64url').toString('utf8'));
  } catch {
    bad('not a cursor');
  }
  const { s, v } = (parsed ?? {}) as { s?: unknown; v?: unknown };
  if (typeof s !== 'string' || !Array.isArray(v) || v.length !== columns || !v.every((x) => typeof x === 'string' && x.length <= VALUE_MAX))
    bad('not a cursor');
  if (s !== sort) bad(`this cursor was made for sort=${String(s).slice(0, 60)}`);
  return v as string[];
}

/** An SQL statement and its parameters. */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The statement reading `query` on `dataset`: the columns as downloads write them (`output`:
 * `columns` one per field, or `json` one JSON object per row), in order, after the cursor, at
 * most `limit` rows when given. Pages also select the order's columns as text (`k0`, `k1`…) for
 * the next cursor. `inline`: the values written into the text as escaped literals, for COPY,
 * which takes no parameters.
 */
export function datasetStatement(
  dataset: DatasetDefinition,
  query: DatasetQuery,
  tz: string,
  output: 'columns' | 'json',
  options: { limit?: number; inline?: boolean } = {},
): Statement {
  const { limit, inline = false } = options;
  const values: unknown[] = [];
  const param = (value: unknown, type: string) => {
    if (inline) return `${pg.escapeLiteral(String(value))}::${type}`;
    values.push(value);
    return `$${values.length}::${type}`;
  };
  const where = query.filters.map((f) => `${f.field.sql} ${OPERATORS[f.operator]} ${param(f.value, sqlType(f.field.type))}`);
  if (query.after) {
    const cells = query.order.map((o, i) => ({ o, value: param(query.after![i], sqlType(o.field.type)) }));
    if (cells.every((c) => !c.o.descending)) {
      // One row comparison: what the index of the key serves.
      where.push(`(${cells.map((c) => c.o.field.sql).join(', ')}) > (${cells.map((c) => c.value).join(', ')})`);
    } else {
      const alternatives = cells.map((c, i) =>
        [...cells.slice(0, i).map((p) => `${p.o.field.sql} = ${p.value}`), `${c.o.field.sql} ${c.o.descending ? '<' : '>'} ${c.value}`].join(' AND '),
      );
      where.push(`(${alternatives.map((a) => `(${a})`).join(' OR ')})`);
    }
  }
  const columns =
    output === 'json'
      ? `json_build_object(${dataset.fields.map((f) => `'${f.name}', ${fieldOutput(f)}`).join(', ')})`
      : dataset.fields.map((f) => `${f.type === 'boolean' ? `(${f.sql})::text` : fieldOutput(f)} AS "${f.name}"`).join(', ');
  const keys = limit === undefined ? '' : `, ${query.order.map((o, i) => `(${o.field.sql})::text AS k${i}`).join(', ')}`;
  const text =
    `SELECT ${columns}${keys} ${dataset.from(tz)}${where.map((w) => ` AND ${w}`).join('')}` +
    ` ORDER BY ${query.order.map((o) => `${o.field.sql}${o.descending ? ' DESC' : ''}`).join(', ')}` +
    (limit === undefined ? '' : ` LIMIT ${param(limit, 'integer')}`);
  return { text, values };
}
