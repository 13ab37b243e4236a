/**
 * Reading a CSV file of spending lines (budget lines, invoices), as finance departments export
 * them from their spreadsheets: `;` or `,` (the header line's), decimal comma, days as
 * 2026-01-31 or 31/01/2026, UTF-8 or Windows-1252 (decoded before: http/upload-text.ts).
 *
 * Columns (French first; English accepted; case, accents, and a unit in brackets ignored):
 * | column | holds |
 * |---|---|
 * | `debut` (`from`) | first local day of the period |
 * | `fin` (`to`) | the day after the period's last (excluded): a year is 2026-01-01 to 2027-01-01 |
 * | `perimetre` (`scope`) | a building's or a site's key of the catalog, or `ville` (`city`); `building:<key>` and `site:<key>` too |
 * | `service` | the service's key, such as `accueil`, `entretien` (model.ts SUGGESTED_SERVICES) |
 * | `nature` | `energy`, `maintenance`, `staff`, `rent`, `other` (or `energie`, `entretien`, `personnel`, `loyer`, `autre`) |
 * | `montant` (`amount`) | €, to the cent at most; negative for a credit |
 * | `libelle` (`label`) | optional: what the line is |
 *
 * Rows are read as they are asked for: memory stays flat in the size of the file. A row's
 * problems name its row (the header is row 1; a quoted field over several lines makes one row)
 * and its column as the header spells it. Whether a bare key is a building or a site is for the
 * caller (costs.ts), which asks the catalog.
 */
import { parseNumber } from '../service-data/csv.js';
import { openCsvRecords } from '../service-data/csv-records.js';
import { CostsError, isCalendarDay, MAX_AMOUNT_EUR, NATURE_ALIASES, NATURES, SERVICE_RE, show, type Nature, type SpendingLine } from './model.js';

/** The fields of a line and the header names that give them, after normalisation. */
const FIELDS = {
  from: ['debut', 'from'],
  to: ['fin', 'to'],
  scope: ['perimetre', 'scope'],
  service: ['service'],
  nature: ['nature'],
  amount: ['montant', 'amount'],
  label: ['libelle', 'label'],
} as const;
type Field = keyof typeof FIELDS;
const REQUIRED: readonly Field[] = ['from', 'to', 'scope', 'service', 'nature', 'amount'];

/** Longest label kept, in characters. */
export const MAX_LABEL_LENGTH = 500;
const KEY_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A row's problem: the row (the header is row 1), the column as the header spells it, and what. */
export interface RowProblem {
  row: number;
  column?: string;
  message: string;
}

/**
 * A data row read: its line, or its problems. `scope` may still be a bare key (`town-hall`)
 * that the catalog must resolve into `building:town-hall` or `site:town-hall`.
 */
export interface BudgetRow {
  row: number;
  line?: SpendingLine;
  /** The header's name of the scope's column, for the caller's own problems with the scope. */
  scopeColumn: string;
  problems: RowProblem[];
}

export interface BudgetFile {
  delimiter: ';' | ',' | '\t';
  rows: AsyncIterable<BudgetRow>;
}

/** A header name as compared: lowercase, without accents, a unit in brackets or a € sign. */
export function normaliseHeader(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/\(.*\)|€/g, '')
    .trim();
}

/**
 * Opens a file of spending lines: reads up to its header and checks it.
 * @throws CostsError COSTS_FILE_REFUSED for an empty file, a file that is not CSV, or a header
 *   that lacks a required column or gives one twice; nothing is then imported
 */
export async function openBudgetCsv(text: AsyncIterable<string>): Promise<BudgetFile> {
  const { delimiter, header, records, close } = await openCsvRecords(text, refuse);
  const columns = new Map<Field, number>();
  const problems: string[] = [];
  header.forEach((name, i) => {
    const normal = normaliseHeader(name);
    const field = (Object.keys(FIELDS) as Field[]).find((f) => (FIELDS[f] as readonly string[]).includes(normal));
    if (!field) return;
    if (columns.has(field)) problems.push(`the columns ${show(header![columns.get(field)!])} and ${show(name)} both give ${FIELDS[field][0]}`);
    else columns.set(field, i);
  });
  for (const field of REQUIRED) {
    if (!columns.has(field)) problems.push(`the header has no column ${FIELDS[field][0]} (or ${FIELDS[field].at(-1)})`);
  }
  if (problems.length) {
    close();
    const shown = header.slice(0, 20).map((h) => show(h));
    throw refuse(`${problems.join('; ')} (the header, split at ${show(delimiter)}, is: ${shown.join(', ')}${header.length > 20 ? ', …' : ''})`);
  }
  const width = header.length;
  const names = header;
  async function* rows(): AsyncGenerator<BudgetRow> {
    let read = 0;
    try {
      for (let next = await records.next(); !next.done; next = await records.next()) {
        const { record, index } = next.value;
        if (record.every((f) => f === '')) continue;
        read++;
        yield readRow(record, index + 1, width, columns, names);
      }
    } finally {
      close(); // left early (the import failed): stop reading the upload
    }
    if (read === 0) throw refuse('the file has a header but no data rows');
  }
  return { delimiter, rows: rows() };
}

function refuse(message: string): CostsError {
  return new CostsError('COSTS_FILE_REFUSED', `${message}; nothing was imported`);
}

/** A day as 2026-01-31 or 31/01/2026, or the reason it is not one. */
export function parseDay(text: string): string | { problem: string } {
  const fr = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
  const day = fr ? `${fr[3]}-${fr[2]!.padStart(2, '0')}-${fr[1]!.padStart(2, '0')}` : text;
  if (isCalendarDay(day)) return day;
  return {
    problem: text === '' ? 'is empty: expected a day such as 2026-01-31 or 31/01/2026' : `${show(text)} is not a day (expected 2026-01-31 or 31/01/2026)`,
  };
}

/** A scope as written: `ville`/`city`, `building:<key>`, `site:<key>`, or a bare key left for the catalog. */
export function parseScope(text: string): string | { problem: string } {
  const lower = text.toLowerCase();
  if (lower === 'ville' || lower === 'city') return 'city';
  const m = /^(building|site|batiment):(.*)$/.exec(lower);
  const key = m ? m[2]! : text;
  if (KEY_RE.test(key)) return m ? `${m[1] === 'site' ? 'site' : 'building'}:${key}` : key;
  if (text === '') return { problem: "is empty: expected a building's or a site's key, or ville" };
  return { problem: `${show(text)} is not a building's or a site's key (lowercase letters, digits, - and _), nor ville` };
}

function readRow(record: string[], row: number, width: number, columns: ReadonlyMap<Field, number>, header: readonly string[]): BudgetRow {
  const scopeColumn = header[columns.get('scope')!]!;
  const problems: RowProblem[] = [];
  if (record.length !== width) {
    problems.push({ row, message: `row ${row}: ${record.length} field${record.length === 1 ? '' : 's'} where the header has ${width}` });
    return { row, scopeColumn, problems };
  }
  const cell = (f: Field) => (columns.has(f) ? record[columns.get(f)!]! : '');
  const fail = (f: Field, message: string) => {
    const column = header[columns.get(f)!]!;
    problems.push({ row, column, message: `row ${row}, column ${show(column)}: ${message}` });
  };
  const from = parseDay(cell('from'));
  if (typeof from !== 'string') fail('from', from.problem);
  const to = parseDay(cell('to'));
  if (typeof to !== 'string') fail('to', to.problem);
  else if (typeof from === 'string' && to <= from)
    fail('to', `${show(cell('to'))} is not after the first day ${show(cell('from'))}: the period ends the day after its last (excluded)`);
  const scope = parseScope(cell('scope'));
  if (typeof scope !== 'string') fail('scope', scope.problem);
  const service = cell('service').toLowerCase();
  if (!SERVICE_RE.test(service)) {
    fail(
      'service',
      service === ''
        ? 'is empty: expected a service such as accueil'
        : `${show(cell('service'))} is not a service key (lowercase letters, digits, - and _, such as accueil or eclairage-public)`,
    );
  }
  const natureText = normaliseHeader(cell('nature'));
  const nature = (NATURES as readonly string[]).includes(natureText) ? (natureText as Nature) : NATURE_ALIASES[natureText];
  if (!nature) fail('nature', `${show(cell('nature'))} is not a nature: expected ${NATURES.join(', ')} (or energie, entretien, personnel, loyer, autre)`);
  const amountText = cell('amount');
  const amount = amountText === '' ? 'is empty: expected an amount in €' : parseNumber(amountText);
  if (typeof amount === 'string') fail('amount', amount);
  else if (Math.abs(amount) > MAX_AMOUNT_EUR) fail('amount', `${show(amountText)} is more than ${MAX_AMOUNT_EUR} € either way`);
  else if (Math.abs(amount * 100 - Math.round(amount * 100)) > 1e-6)
    fail('amount', `${show(amountText)} has more than two decimals: amounts are in € to the cent`);
  const label = cell('label');
  if (label.length > MAX_LABEL_LENGTH) fail('label', `is ${label.length} characters long, more than ${MAX_LABEL_LENGTH}`);
  else if (label.includes('\u0000')) fail('label', 'contains a NUL character (\\u0000), which the hub does not store');
  if (problems.length) return { row, scopeColumn, problems };
  return {
    row,
    scopeColumn,
    problems,
    line: {
      from: from as string,
      to: to as string,
      scope: scope as string,
      service,
      nature: nature!,
      amountEur: Math.round((amount as number) * 100) / 100,
      label,
    },
  };
}
