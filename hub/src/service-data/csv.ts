import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, validate } from '@citypilot/sdk';
import { openCsvRecords } from './csv-records.js';

export { detectDelimiter } from './csv-records.js';
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
    scope: Type.Optional(
      Type.String({ pattern: SCOPE_PATTERN, description: 'scope of every row', expected: 'city, site:<site id> or building:<building id>' }),
    ),
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
      if (other !== undefined)
        issues.push({ path: `mapping.columns.${name}`, message: `${show(metricName)} is already the metric of the column ${show(other)}` });
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

/**
 * A row's problem as a row keeps it: what, without the row and column, so that the rows of a
 * large file refused for one reason share one text; the sentence is made (rowError) only for
 * the few an import reports.
 */
export interface CsvRowProblem {
  row: number;
  column?: string;
  /** What is wrong: `"douze" is not a number`. */
  problem: string;
}

/** The sentence of a row's problem: `row 7, column "wait_minutes": "douze" is not a number`. */
export function rowError({ row, column, problem }: CsvRowProblem): CsvRowError {
  return { row, ...(column !== undefined ? { column } : {}), message: `row ${row}${column !== undefined ? `, column ${show(column)}` : ''}: ${problem}` };
}

/** A value read from a row, with where it was. */
export interface CsvValue extends Omit<ServiceValueInput, 'source'> {
  row: number;
  column: string;
}

/** A data row read with the mapping: its values, or its problems (then no value). */
export interface CsvRow {
  /** The row (the header is row 1; a quoted field over several lines makes one row). */
  row: number;
  /** The row's scope and the column it was read from (undefined: the mapping's `scope`). */
  scope: string;
  scopeColumn: string | undefined;
  /** The period as written in the file, for messages. */
  periodText: string;
  values: CsvValue[];
  errors: CsvRowProblem[];
}

/** A CSV file opened with its mapping: its header checked, its rows to read once, in order. */
export interface CsvFile {
  delimiter: ';' | ',' | '\t';
  header: string[];
  /** The data rows, blank ones left out. Throws ServiceDataError CSV_FILE_REFUSED if the rest of the file cannot be read. */
  rows: AsyncIterable<CsvRow>;
}

/**
 * Opens a CSV file, read as a stream of text, with a (checked) mapping: reads up to its header
 * and checks it. Memory stays flat in the size of the file: rows are read as they are asked for.
 * Duplicates across rows are not looked for here (the caller does, against what it stored).
 * @throws ServiceDataError CSV_FILE_REFUSED when the whole file cannot be used: empty, not CSV,
 *   a header that lacks a column the mapping names or repeats a name.
 */
export async function openCsv(text: AsyncIterable<string>, mapping: CsvMapping): Promise<CsvFile> {
  const { delimiter, header, records, close } = await openCsvRecords(text, refuse, mapping.delimiter);
  const index = new Map<string, number>();
  const repeated = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') return;
    if (index.has(name)) repeated.add(name);
    else index.set(name, i);
  });
  const problems = [...repeated].map((name) => `the header names the column ${show(name)} more than once`);
  const mapped: [string, string][] = [[mapping.period, 'the period']];
  if (mapping.scopeColumn !== undefined) mapped.push([mapping.scopeColumn, 'the scope']);
  if (mapping.metricColumn !== undefined) mapped.push([mapping.metricColumn, 'the metric']);
  if (mapping.valueColumn !== undefined) mapped.push([mapping.valueColumn, 'the value']);
  for (const [name, m] of Object.entries(mapping.columns ?? {})) mapped.push([name, `the metric ${m}`]);
  for (const [name, what] of mapped) {
    if (!index.has(name)) problems.push(`the header has no column ${show(name)}, which the mapping gives for ${what}`);
  }
  if (problems.length) {
    close();
    // Bounded whatever the header: the first problems and columns, then how many more.
    const more = (count: number, shown: number, what: string) => (count > shown ? `, and ${count - shown} more ${what}` : '');
    const listed = problems.slice(0, HEADER_PROBLEMS_SHOWN).join('; ') + more(problems.length, HEADER_PROBLEMS_SHOWN, 'problems');
    const columns =
      header
        .slice(0, HEADER_COLUMNS_SHOWN)
        .map((h) => show(h))
        .join(delimiter === '\t' ? ', ' : ` ${delimiter} `) + more(header.length, HEADER_COLUMNS_SHOWN, 'columns');
    throw refuse(`${listed} (the header, split at ${show(delimiter)}, is: ${columns})`);
  }
  const columns = header.length;
  async function* rows(): AsyncGenerator<CsvRow> {
    let read = 0;
    try {
      for (let next = await records.next(); !next.done; next = await records.next()) {
        const { record, index: i } = next.value;
        if (record.every((field) => field === '')) continue;
        read++;
        yield readRow(record, i + 1, columns, index, mapping);
      }
    } finally {
      // Left early (the import failed): stop reading the upload.
      close();
    }
    if (read === 0) throw refuse('the file has a header but no data rows');
  }
  return { delimiter, header, rows: rows() };
}

/** Most header problems, and columns of the header, a refusal lists. */
const HEADER_PROBLEMS_SHOWN = 10;
const HEADER_COLUMNS_SHOWN = 40;

function refuse(message: string): ServiceDataError {
  return new ServiceDataError('CSV_FILE_REFUSED', `${message}; nothing was imported`, [{ path: '', message }]);
}

/** One data row read with the mapping. */
function readRow(record: string[], row: number, columns: number, index: ReadonlyMap<string, number>, mapping: CsvMapping): CsvRow {
  const errors: CsvRowProblem[] = [];
  const result: CsvRow = { row, scope: mapping.scope ?? '', scopeColumn: mapping.scopeColumn, periodText: '', values: [], errors };
  const fail = (column: string | undefined, problem: string) => errors.push({ row, ...(column !== undefined ? { column } : {}), problem });
  if (record.length !== columns) {
    fail(undefined, `${record.length} field${record.length === 1 ? '' : 's'} where the header has ${columns}`);
    return result;
  }
  const cell = (name: string) => record[index.get(name)!]!;

  result.periodText = cell(mapping.period);
  const period = result.periodText === '' ? 'is empty: expected a period' : parseCsvPeriod(result.periodText);
  if (typeof period === 'string') fail(mapping.period, period);

  if (mapping.scopeColumn !== undefined) {
    result.scope = cell(mapping.scopeColumn);
    const problem = result.scope === '' ? 'is empty: expected a scope' : checkScope(result.scope);
    if (problem) fail(mapping.scopeColumn, problem);
  }

  const values: CsvValue[] = [];
  const take = (metricName: string, name: string, text: string) => {
    const value = parseNumber(text);
    if (typeof value === 'string') fail(name, value);
    else values.push({ metric: metricName, scope: result.scope, period: typeof period === 'string' ? '' : period.text, value, row, column: name });
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
  if (!errors.length) result.values = values;
  return result;
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
