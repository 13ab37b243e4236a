import { Type, type Static } from '@sinclair/typebox';
import { CsvError, parse } from 'csv-parse/sync';
import { StringEnum, validate } from '@citypilot/sdk';
import {
  checkMetric,
  checkScope,
  METRIC_MAX_LENGTH,
  METRIC_PATTERN,
  parsePeriod,
  SCOPE_PATTERN,
  ServiceDataError,
  show,
  type ParsedPeriod,
  type ServiceDataIssue,
  type ServiceValueInput,
} from './model.js';

const column = (what: string) => Type.String({ minLength: 1, maxLength: 200, description: what, expected: 'a column name of the header' });
const metric = (description?: string) =>
  Type.String({ pattern: METRIC_PATTERN, maxLength: METRIC_MAX_LENGTH, expected: 'a metric such as calls.answered', ...(description ? { description } : {}) });

/**
 * How the columns of a source's CSV files map to values; saved with the source, reused by its
 * next imports. Column names are the header's, compared after trimming spaces.
 *
 * - `period`: the column of the period (a month, a day or a time, see model.ts; `25/10/2026`
 *   and `10/2026` are read as a day and a month too).
 * - The scope: `scope` for every row of the file, or `scopeColumn`, the column that holds it.
 * - The values, in one of two shapes:
 *   - a wide table, one column per metric: `columns` maps each column name to its metric
 *     (`{ "visitors": "visitors", "wait_minutes": "reception.wait_minutes" }`); an empty cell
 *     means no value for that metric on that row;
 *   - a long table, one value per row: `valueColumn`, with the metric in `metricColumn` or
 *     `metric` for every row.
 * - `delimiter`: the field separator; by default the one the header line uses (`;` in French
 *   spreadsheets, `,` otherwise).
 */
export const CsvMappingSchema = Type.Object(
  {
    period: column('column of the period'),
    scope: Type.Optional(Type.String({ pattern: SCOPE_PATTERN, description: 'scope of every row', expected: 'city, site:<site id> or building:<building id>' })),
    scopeColumn: Type.Optional(column('column of the scope')),
    columns: Type.Optional(Type.Record(Type.String({ minLength: 1 }), metric(), { description: 'wide table: column name -> metric', minProperties: 1 })),
    valueColumn: Type.Optional(column('long table: column of the value')),
    metricColumn: Type.Optional(column('long table: column of the metric')),
    metric: Type.Optional(metric('long table: metric of every row')),
    delimiter: Type.Optional(StringEnum([';', ',', '\t'], { description: 'field separator; default: the one of the header line' })),
  },
  { additionalProperties: false },
);

export type CsvMapping = Static<typeof CsvMappingSchema>;

/**
 * Checks a mapping: its shape, and that it says where the scope and the values are in exactly
 * one way each.
 * @throws ServiceDataError SERVICE_SOURCE_INVALID with an issue per problem, paths under `mapping`
 */
export function checkMapping(input: unknown): CsvMapping {
  const result = validate(CsvMappingSchema, input);
  const issues: ServiceDataIssue[] = [];
  if (!result.ok) {
    for (const issue of result.issues) issues.push({ path: ['mapping', ...issue.path].join('.'), message: issue.message });
    throw ServiceDataError.of('SERVICE_SOURCE_INVALID', issues);
  }
  const m = result.value;
  if ((m.scope === undefined) === (m.scopeColumn === undefined)) {
    issues.push({ path: 'mapping', message: 'give either scope (the scope of every row) or scopeColumn (the column that holds it)' });
  }
  const wide = m.columns !== undefined;
  const long = m.valueColumn !== undefined || m.metricColumn !== undefined || m.metric !== undefined;
  if (wide === long) {
    issues.push({ path: 'mapping', message: 'give either columns (a column per metric) or valueColumn with metric or metricColumn (a value per row)' });
  } else if (long) {
    if (m.valueColumn === undefined) issues.push({ path: 'mapping.valueColumn', message: 'is required with metric or metricColumn' });
    if ((m.metric === undefined) === (m.metricColumn === undefined)) {
      issues.push({ path: 'mapping', message: 'give either metric (the metric of every row) or metricColumn (the column that holds it)' });
    }
  } else {
    const byMetric = new Map<string, string>();
    for (const [name, metricName] of Object.entries(m.columns!)) {
      const other = byMetric.get(metricName);
      if (other !== undefined) issues.push({ path: `mapping.columns.${name}`, message: `${show(metricName)} is already the metric of the column ${show(other)}` });
      byMetric.set(metricName, name);
    }
  }
  if (issues.length) throw ServiceDataError.of('SERVICE_SOURCE_INVALID', issues);
  return m;
}

/** A row's problem: the row (the header is row 1), the column when there is one, and what. */
export interface CsvRowError {
  row: number;
  column?: string;
  /** The whole sentence: `row 7, column "wait_minutes": "douze" is not a number`. */
  message: string;
}

/** A value read from a row, with where it was. */
export interface CsvValue extends Omit<ServiceValueInput, 'source'> {
  row: number;
  column: string;
}

/** A file read with its mapping: the values of its good rows, and the problems of the others. */
export interface ParsedCsv {
  delimiter: ';' | ',' | '\t';
  header: string[];
  /** Data rows read (blank rows are not counted). */
  rows: number;
  /** Every value of every row without a problem; a row with one problem gives none. */
  values: CsvValue[];
  errors: CsvRowError[];
}

/**
 * Reads a CSV file with a (checked) mapping. Pure: no I/O.
 * @throws ServiceDataError CSV_FILE_REFUSED when the whole file cannot be used: empty, not CSV,
 *   no data rows, a header that lacks a column the mapping names or repeats a name.
 */
export function parseCsv(text: string, mapping: CsvMapping): ParsedCsv {
  const refuse = (message: string) => new ServiceDataError('CSV_FILE_REFUSED', `${message}; nothing was imported`, [{ path: '', message }]);
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') throw refuse('the file is empty');
  const delimiter = mapping.delimiter ?? detectDelimiter(body);
  let records: string[][];
  try {
    records = parse(body, { delimiter, bom: true, trim: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false });
  } catch (error) {
    if (error instanceof CsvError) throw refuse(`the file cannot be read as CSV: ${error.message}`);
    throw error;
  }
  const header = records[0] ?? [];
  const index = new Map<string, number>();
  const problems: string[] = [];
  header.forEach((name, i) => {
    if (name === '') return;
    if (index.has(name)) problems.push(`the header names the column ${show(name)} twice`);
    else index.set(name, i);
  });
  const mapped: [string, string][] = [[mapping.period, 'the period']];
  if (mapping.scopeColumn !== undefined) mapped.push([mapping.scopeColumn, 'the scope']);
  if (mapping.metricColumn !== undefined) mapped.push([mapping.metricColumn, 'the metric']);
  if (mapping.valueColumn !== undefined) mapped.push([mapping.valueColumn, 'the value']);
  for (const [name, m] of Object.entries(mapping.columns ?? {})) mapped.push([name, `the metric ${m}`]);
  for (const [name, what] of mapped) {
    if (!index.has(name)) problems.push(`the header has no column ${show(name)}, which the mapping gives for ${what}`);
  }
  if (problems.length) {
    const columns = header.map((h) => show(h)).join(delimiter === '\t' ? ', ' : ` ${delimiter} `);
    throw refuse(`${problems.join('; ')} (the header, split at ${show(delimiter)}, is: ${columns})`);
  }

  const values: CsvValue[] = [];
  const errors: CsvRowError[] = [];
  // (metric, scope, period) -> row, to refuse a value given twice in one file.
  const seen = new Map<string, number>();
  let rows = 0;
  for (let i = 1; i < records.length; i++) {
    const record = records[i]!;
    const row = i + 1;
    if (record.every((field) => field === '')) continue;
    rows++;
    const rowErrors: CsvRowError[] = [];
    const fail = (column: string | undefined, problem: string) =>
      rowErrors.push({ row, ...(column !== undefined ? { column } : {}), message: `row ${row}${column !== undefined ? `, column ${show(column)}` : ''}: ${problem}` });
    if (record.length !== header.length) {
      fail(undefined, `${record.length} field${record.length === 1 ? '' : 's'} where the header has ${header.length}`);
      errors.push(...rowErrors);
      continue;
    }
    const cell = (name: string) => record[index.get(name)!]!;

    const periodText = cell(mapping.period);
    const period = periodText === '' ? 'is empty: expected a period' : parseCsvPeriod(periodText);
    if (typeof period === 'string') fail(mapping.period, period);

    let scope = mapping.scope;
    if (mapping.scopeColumn !== undefined) {
      scope = cell(mapping.scopeColumn);
      const problem = scope === '' ? 'is empty: expected a scope' : checkScope(scope);
      if (problem) fail(mapping.scopeColumn, problem);
    }

    const rowValues: CsvValue[] = [];
    const take = (metricName: string, name: string, text: string) => {
      const value = parseNumber(text);
      if (typeof value === 'string') fail(name, value);
      else rowValues.push({ metric: metricName, scope: scope!, period: typeof period === 'string' ? '' : period.text, value, row, column: name });
    };
    if (mapping.columns !== undefined) {
      for (const [name, metricName] of Object.entries(mapping.columns)) {
        const text = cell(name);
        if (text !== '') take(metricName, name, text);
      }
    } else {
      let metricName = mapping.metric;
      if (mapping.metricColumn !== undefined) {
        metricName = cell(mapping.metricColumn);
        const problem = metricName === '' ? 'is empty: expected a metric' : checkMetric(metricName);
        if (problem) fail(mapping.metricColumn, problem);
      }
      const text = cell(mapping.valueColumn!);
      if (text === '') fail(mapping.valueColumn, 'is empty: expected a number');
      else take(metricName!, mapping.valueColumn!, text);
    }

    if (rowErrors.length || typeof period === 'string') {
      errors.push(...rowErrors);
      continue;
    }
    const keys = rowValues.map((v) => `${v.metric}\0${v.scope}\0${period.granularity}\0${period.text}`);
    rowValues.forEach((v, k) => {
      const earlier = seen.get(keys[k]!);
      if (earlier !== undefined) fail(v.column, `${v.metric} for ${v.scope} in ${periodText} is already given on row ${earlier}`);
    });
    if (rowErrors.length) {
      errors.push(...rowErrors);
      continue;
    }
    for (const key of keys) seen.set(key, row);
    values.push(...rowValues);
  }
  if (rows === 0) throw refuse('the file has a header but no data rows');
  return { delimiter, header, rows, values, errors };
}

/**
 * The separator the header line uses: the most frequent of `;`, `,` and tab outside quotes
 * (`;` on a tie, as French spreadsheets write it); `,` when there is none (one column).
 */
export function detectDelimiter(text: string): ';' | ',' | '\t' {
  const counts = { ';': 0, ',': 0, '\t': 0 };
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted && c in counts) counts[c as keyof typeof counts]++;
  }
  const best = (['\t', ',', ';'] as const).reduce((a, b) => (counts[b] >= counts[a] ? b : a));
  return counts[best] === 0 ? ',' : best;
}

/**
 * A number as spreadsheets write it: `12.5` or `12,5` (a comma is always a decimal mark: there is
 * no thousands separator but spaces, `1 234,5`), an optional sign. An error message otherwise.
 */
export function parseNumber(text: string): number | string {
  const compact = text.replace(/(?<=\d)[ \u00a0\u202f](?=\d)/g, '');
  if (!/^[+-]?(\d+([.,]\d+)?|[.,]\d+)$/.test(compact)) return `${show(text)} is not a number`;
  const value = Number(compact.replace(',', '.'));
  return Number.isFinite(value) ? value : `${show(text)} is too large a number (at most about 1.8e308)`;
}

/** A period as the API takes it, or a day `25/10/2026` or a month `10/2026` as spreadsheets write them. */
function parseCsvPeriod(text: string): ParsedPeriod | string {
  let m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
  if (m) {
    const period = parsePeriod(`${m[3]}-${m[2]!.padStart(2, '0')}-${m[1]!.padStart(2, '0')}`);
    return typeof period === 'string' ? `${show(text)} is not a date` : period;
  }
  m = /^(\d{1,2})\/(\d{4})$/.exec(text);
  if (m) {
    const period = parsePeriod(`${m[2]}-${m[1]!.padStart(2, '0')}`);
    return typeof period === 'string' ? `${show(text)} is not a month` : period;
  }
  return parsePeriod(text);
}
