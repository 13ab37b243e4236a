import type pg from 'pg';
import { decodeUploadText } from '../http/upload-text.js';
import { rowError, type CsvFile, type CsvRow, type CsvRowError, type CsvRowProblem } from './csv.js';
import { parsePeriod, ServiceDataError, show, type ParsedPeriod, type SubmitResult } from './model.js';

/** Rows written per statement of an import: what an import holds in memory at most (a few MB). */
export const IMPORT_CHUNK_ROWS = 2000;
/** Row errors an import reports one by one; beyond, only their count. */
export const IMPORT_ERRORS_REPORTED = 100;

/**
 * What to do with a value whose scope is a site or a building the catalog does not have:
 * `refuse` its row (the default: a typing error would otherwise store values nobody reads), or
 * `keep` it, for a site or building the catalog will have later.
 */
export type UnknownScopes = 'refuse' | 'keep';
export const UNKNOWN_SCOPES: readonly UnknownScopes[] = ['refuse', 'keep'];

/** What an import did, in counts: its size does not grow with the file's. */
export interface CsvImportSummary {
  source: string;
  file: string;
  delimiter: string;
  /** Data rows in the file (blank rows are not counted). */
  rows: number;
  /** Values written as new current versions. */
  stored: number;
  /** Current versions those replaced (kept as history). */
  superseded: number;
  /** Values given again with the value they already had: nothing written for them. */
  unchanged: number;
  /** Rows with a problem (they wrote nothing), and problems in all. */
  rowsInError: number;
  errorCount: number;
  /** The first IMPORT_ERRORS_REPORTED problems, by row; `errorCount` says how many there were in all. */
  errors: CsvRowError[];
  /** Whether the mapping given was saved as the source's. */
  mappingSaved: boolean;
}

/** A value ready to write. */
export interface ImportEntry {
  source: string;
  metric: string;
  scope: string;
  period: ParsedPeriod;
  value: number;
  row: number;
}

export interface ImportRowsOptions {
  source: string;
  unknownScopes: UnknownScopes;
  /** Writes checked entries in the import's transaction (ServiceData's write). */
  write: (entries: readonly ImportEntry[]) => Promise<SubmitResult>;
}

/**
 * Reads a file's rows and writes their values, IMPORT_CHUNK_ROWS rows at a time, in `client`'s
 * transaction (the caller's: a file refused halfway stores nothing). A row with a problem writes
 * nothing; a row giving a value (metric, scope, period) an earlier row gave is one. Memory stays
 * flat in the size of the file: only a chunk of rows and the first errors are kept.
 */
export async function importRows(
  client: pg.ClientBase,
  file: CsvFile,
  options: ImportRowsOptions,
): Promise<Omit<CsvImportSummary, 'source' | 'file' | 'mappingSaved'>> {
  const summary = { delimiter: file.delimiter, rows: 0, stored: 0, superseded: 0, unchanged: 0, rowsInError: 0, errorCount: 0, errors: [] as CsvRowError[] };
  const report = (errors: readonly CsvRowProblem[]) => {
    if (!errors.length) return;
    summary.rowsInError++;
    summary.errorCount += errors.length;
    for (const error of errors) if (summary.errors.length < IMPORT_ERRORS_REPORTED) summary.errors.push(rowError(error));
  };
  // The values read so far, for duplicates across chunks; gone with the transaction.
  await client.query(`CREATE TEMPORARY TABLE csv_import_values (k text PRIMARY KEY, r integer NOT NULL) ON COMMIT DROP`);
  let chunk: CsvRow[] = [];
  const flush = async () => {
    const rows = chunk;
    chunk = [];
    if (options.unknownScopes === 'refuse') await refuseUnknownScopes(client, rows);
    await refuseDuplicates(client, rows);
    const entries: ImportEntry[] = [];
    for (const row of rows) {
      report(row.errors);
      if (row.errors.length) continue;
      for (const v of row.values)
        entries.push({ source: options.source, metric: v.metric, scope: v.scope, period: parsePeriod(v.period) as ParsedPeriod, value: v.value, row: v.row });
    }
    if (!entries.length) return;
    const written = await options.write(entries);
    summary.stored += written.stored.length;
    summary.superseded += written.superseded.length;
    summary.unchanged += written.unchanged.length;
  };
  for await (const row of file.rows) {
    summary.rows++;
    chunk.push(row);
    if (chunk.length >= IMPORT_CHUNK_ROWS) await flush();
  }
  await flush();
  return summary;
}

/**
 * The scopes among `scopes` (valid ones) that name a site or a building the catalog does not
 * have; `city` is always known.
 */
export async function scopesNotInCatalog(db: Pick<pg.ClientBase, 'query'>, scopes: readonly string[]): Promise<Set<string>> {
  const asked = [...new Set(scopes.filter((s) => s !== 'city'))];
  if (!asked.length) return new Set();
  const { rows } = await db.query<{ scope: string }>(
    `SELECT u.scope FROM unnest($1::text[]) AS u(scope)
      WHERE NOT ((u.scope LIKE 'site:%' AND EXISTS (SELECT 1 FROM sites WHERE key = substr(u.scope, 6)))
              OR (u.scope LIKE 'building:%' AND EXISTS (SELECT 1 FROM buildings WHERE key = substr(u.scope, 10))))`,
    [asked],
  );
  return new Set(rows.map((r) => r.scope));
}

/** Why a scope of the catalog's kind is refused: `"building:x" is not a building of the catalog (…)`. */
export function notInCatalog(scope: string, how: string): string {
  return `${show(scope)} is not ${scope.startsWith('site:') ? 'a site' : 'a building'} of the catalog (${how} with unknownScopes=keep to store it all the same)`;
}

/** Adds an error to each row whose scope is a site or building the catalog does not have. */
async function refuseUnknownScopes(client: pg.ClientBase, rows: readonly CsvRow[]): Promise<void> {
  const unknown = await scopesNotInCatalog(
    client,
    rows.filter((r) => !r.errors.length).map((r) => r.scope),
  );
  if (!unknown.size) return;
  // One text per scope, shared by its rows.
  const problems = new Map([...unknown].map((scope) => [scope, notInCatalog(scope, 'import')]));
  for (const row of rows) {
    const problem = row.errors.length ? undefined : problems.get(row.scope);
    if (problem !== undefined) row.errors.push({ row: row.row, ...(row.scopeColumn !== undefined ? { column: row.scopeColumn } : {}), problem });
  }
}

/**
 * Adds an error to each row that gives a value an earlier good row of the file gave: of this
 * chunk (in memory) or of an earlier one (in the transaction's temporary table of the values
 * read so far, where this chunk's good rows are added).
 */
async function refuseDuplicates(client: pg.ClientBase, rows: readonly CsvRow[]): Promise<void> {
  const keyOf = (v: { metric: string; scope: string; period: string }) => `${v.metric} ${v.scope} ${v.period}`;
  const keys = rows.flatMap((r) => (r.errors.length ? [] : r.values.map(keyOf)));
  if (!keys.length) return;
  const { rows: earlier } = await client.query<{ k: string; r: number }>(`SELECT k, r FROM pg_temp.csv_import_values WHERE k = ANY($1::text[])`, [keys]);
  const seen = new Map<string, number>(earlier.map((e) => [e.k, e.r]));
  const added: [string, number][] = [];
  for (const row of rows) {
    if (row.errors.length) continue;
    for (const v of row.values) {
      const first = seen.get(keyOf(v));
      if (first !== undefined) {
        row.errors.push({ row: row.row, column: v.column, problem: `${v.metric} for ${v.scope} in ${row.periodText} is already given on row ${first}` });
      }
    }
    if (row.errors.length) {
      row.values = [];
      continue;
    }
    for (const v of row.values) {
      seen.set(keyOf(v), row.row);
      added.push([keyOf(v), row.row]);
    }
  }
  if (added.length) {
    await client.query(`INSERT INTO pg_temp.csv_import_values (k, r) SELECT * FROM unnest($1::text[], $2::int[])`, [
      added.map((a) => a[0]),
      added.map((a) => a[1]),
    ]);
  }
}

/**
 * The text of a CSV upload, read as it arrives (http/upload-text.ts).
 * @throws ServiceDataError CSV_FILE_TOO_LARGE past `maxBytes`, CSV_FILE_REFUSED for a file that
 *   starts as UTF-8 and is not UTF-8 further on
 */
export function decodeCsvBytes(bytes: AsyncIterable<Uint8Array | string>, options: { contentType?: string; maxBytes: number }): AsyncGenerator<string> {
  return decodeUploadText(bytes, {
    contentType: options.contentType,
    maxBytes: options.maxBytes,
    tooLarge: (max) =>
      new ServiceDataError('CSV_FILE_TOO_LARGE', `the file is larger than ${max} bytes, the most this hub takes; split it; nothing was imported`, [
        { path: 'body', message: `more than ${max} bytes` },
      ]),
    notUtf8: (near) =>
      new ServiceDataError(
        'CSV_FILE_REFUSED',
        `the file is not UTF-8 throughout (its start is, its bytes near ${near} are not): save it in UTF-8 or in Windows-1252 throughout; nothing was imported`,
        [{ path: 'body', message: 'mixes UTF-8 and another encoding' }],
      ),
  });
}
