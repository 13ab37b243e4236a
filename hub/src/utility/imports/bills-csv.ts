/**
 * Bill lines from any supplier, in a CSV file CityPilot defines: one line of a bill per row, the
 * first line the header. Columns, found by their name (case, accents and `_`/spaces aside; in
 * any order; others are not read):
 *
 * | column | holds |
 * |---|---|
 * | `pdl` or `delivery_point` (also `prm`, `pce`) | the delivery point the line is of (PDL, PRM, PCE…) |
 * | `batiment` or `building` | the building, when the line is of no delivery point (fuel oil, wood) |
 * | `energie` or `energy` | `elec`, `gas`, `heat`, `chilled`, `oil`, `wood`, or in French `électricité`, `gaz`, `chaleur`, `froid`, `fioul`, `bois` |
 * | `debut` or `period_start` | the period's first day: `01/01/2026` or `2026-01-01` |
 * | `fin` or `period_end` | the period's last day, included, as a bill writes it ("du 01/01 au 31/01") |
 * | `kwh` | the energy billed, kWh (0 for a line without energy, such as a subscription) |
 * | `montant_eur` or `amount_eur` | the amount in euros as the bill shows it, taxes included; negative for a credit |
 * | `fournisseur` or `supplier` | the supplier's name |
 * | `facture` or `invoice` (optional) | the bill's number |
 *
 * The header must have one of the delivery point and building columns and all the others but the
 * invoice; a row gives a delivery point or a building, or both. Delimiter `;` or `,` (the one the
 * header uses; with `,` a decimal comma needs quotes: `"12,5"`); decimal comma or point, spaces
 * between thousands. Several lines may share a period and an invoice (peak and off-peak hours):
 * they are not duplicates. Checked on every row: dates from 2000 to 2099, the end not before the
 * start, a period of at most 731 days, kWh from 0 to 1,000,000,000, an amount within ±1,000,000,000 €.
 * ```
 * pdl;energie;debut;fin;kwh;montant_eur;fournisseur;facture
 * 12345678901234;électricité;01/01/2026;31/01/2026;12 480;2 315,42;EDF;F-2026-0001
 * ```
 */
import { UTILITY_ENERGIES, type BillLine, type RowError, type UtilityEnergy } from '../readings.js';
import { CHUNK_READINGS, quote, RowErrors, UtilityImportError, type OmittedErrors } from './errors.js';
import { decodeUpload, detectDelimiter, FieldSplitter, headerKey, MAX_LINE_CHARS, parseDecimal, readLines, thousands, type ImportOptions } from './text.js';
import { daysFromCivil, FIRST_YEAR, LAST_YEAR, LocalClock, newWallTime, parseWallTime } from './time.js';

/** A bill's line as imported: what it is of, a delivery point or a building (or both), as the file names them. */
export type ImportedBillLine = BillLine & { deliveryPoint?: string; building?: string; /** Its 1-based line in the file. */ row: number };

/** Bill lines as an import yields them: at most CHUNK_READINGS lines, and the row errors found since the last chunk. */
export interface BillChunk {
  lines: ImportedBillLine[];
  errors: RowError[];
}

/** A bill line's longest period, in days (two years and a day). */
export const BILL_MAX_DAYS = 731;
const MAX_KWH = 1_000_000_000;
const MAX_AMOUNT = 1_000_000_000;

const COLUMNS = {
  deliveryPoint: ['pdl', 'delivery point', 'prm', 'pce'],
  building: ['batiment', 'building'],
  energy: ['energie', 'energy'],
  start: ['debut', 'period start'],
  end: ['fin', 'period end'],
  kWh: ['kwh'],
  amount: ['montant eur', 'amount eur'],
  supplier: ['fournisseur', 'supplier'],
  invoice: ['facture', 'invoice'],
} as const;
type Column = keyof typeof COLUMNS;

const EXPECTED_HEADER =
  'pdl (or batiment);energie;debut;fin;kwh;montant_eur;fournisseur;facture (or in English: delivery_point or building, energy, period_start, period_end, kwh, amount_eur, supplier, invoice)';

const ENERGIES = new Map<string, UtilityEnergy>([
  ...UTILITY_ENERGIES.map((e) => [e, e] as const),
  ['electricite', 'elec'],
  ['electricity', 'elec'],
  ['gaz', 'gas'],
  ['chaleur', 'heat'],
  ['froid', 'chilled'],
  ['fioul', 'oil'],
  ['bois', 'wood'],
]);

/**
 * Reads a file of bill lines as it arrives, in chunks of at most CHUNK_READINGS lines; a bad row
 * is reported (RowError, 1-based line, column) and the others kept; after more than
 * ROW_ERRORS_LISTED errors, the last item is `{ omittedErrors }`.
 * @throws UtilityImportError IMPORT_FILE_REFUSED at once for a header that is not this format's,
 *   IMPORT_FILE_TOO_LARGE past `maxBytes`
 * @throws RangeError for a time zone the runtime does not know
 */
export async function* parseBillsCsv(bytes: AsyncIterable<Uint8Array | string>, options: ImportOptions): AsyncGenerator<BillChunk | OmittedErrors> {
  const reader = new BillsReader(new LocalClock(options.timezone));
  for await (const { text, starts, ends, firstLine } of readLines(decodeUpload(bytes, options))) {
    for (let i = 0; i < starts.length; i++) {
      reader.line(text, starts[i]!, ends[i]!, firstLine + i);
      if (reader.ready.length) yield* reader.drain();
    }
  }
  reader.finish();
  yield* reader.drain();
  if (reader.errors.omitted) yield { omittedErrors: reader.errors.omitted };
}

function refuse(message: string): UtilityImportError {
  return new UtilityImportError('IMPORT_FILE_REFUSED', message);
}

class BillsReader {
  readonly errors = new RowErrors();
  readonly ready: BillChunk[] = [];
  private readonly wall = newWallTime();
  private splitter: FieldSplitter | undefined;
  private columns = new Map<Column, number>();
  private names: string[] = [];
  private lines: ImportedBillLine[] = [];
  private total = 0;

  constructor(private readonly clock: LocalClock) {}

  *drain(): Generator<BillChunk> {
    while (this.ready.length) yield this.ready.shift()!;
  }

  line(text: string, start: number, end: number, line: number): void {
    if (end === -1) {
      if (!this.splitter) throw refuse(`line ${line} is longer than ${thousands(MAX_LINE_CHARS)} characters: expected the header ${EXPECTED_HEADER}`);
      this.errors.add(line, undefined, `longer than ${thousands(MAX_LINE_CHARS)} characters: not a bill line`);
      return;
    }
    for (let i = start; ; i++) {
      if (i === end) return; // a blank line
      const c = text.charCodeAt(i);
      if (c !== 59 && c !== 44 && c !== 9 && c !== 32 && c !== 34) break;
    }
    if (this.splitter) this.row(text, start, end, line);
    else this.header(text.slice(start, end), line);
  }

  private header(header: string, line: number): void {
    const splitter = new FieldSplitter(detectDelimiter(header));
    const problem = splitter.split(header, 0, header.length);
    if (problem) throw refuse(`line ${line}: expected the header ${EXPECTED_HEADER}, found a line with ${problem}`);
    const names = Array.from({ length: splitter.count }, (_, i) => splitter.field(i));
    const columns = new Map<Column, number>();
    const issues: string[] = [];
    names.forEach((name, i) => {
      const key = headerKey(name);
      for (const [column, aliases] of Object.entries(COLUMNS) as [Column, readonly string[]][]) {
        if (!aliases.includes(key)) continue;
        if (columns.has(column)) issues.push(`${quote(name)} repeats the column ${quote(names[columns.get(column)!]!)}`);
        else columns.set(column, i);
      }
    });
    if (!columns.has('deliveryPoint') && !columns.has('building')) issues.push('no column pdl (or delivery_point) nor batiment (or building)');
    const required: [Column, string][] = [
      ['energy', 'energie (or energy)'],
      ['start', 'debut (or period_start)'],
      ['end', 'fin (or period_end)'],
      ['kWh', 'kwh'],
      ['amount', 'montant_eur (or amount_eur)'],
      ['supplier', 'fournisseur (or supplier)'],
    ];
    for (const [column, what] of required) if (!columns.has(column)) issues.push(`no column ${what}`);
    if (issues.length)
      throw refuse(`line ${line}: this is not a file of bill lines: ${issues.join('; ')} (expected the header ${EXPECTED_HEADER}, found ${quote(header)})`);
    this.splitter = splitter;
    this.columns = columns;
    this.names = names;
  }

  private row(text: string, start: number, end: number, line: number): void {
    const s = this.splitter!;
    const problem = s.split(text, start, end);
    if (problem) return this.errors.add(line, undefined, problem);
    const cell = (c: Column) => {
      const i = this.columns.get(c);
      return i === undefined ? '' : s.field(i);
    };
    const fail = (c: Column, problem: string) => this.errors.add(line, this.names[this.columns.get(c)!]!, problem);
    const errorsBefore = this.errors.count;

    const deliveryPoint = cell('deliveryPoint');
    const building = cell('building');
    if (!deliveryPoint && !building)
      fail(this.columns.has('deliveryPoint') ? 'deliveryPoint' : 'building', 'is empty: expected a delivery point or a building');
    if (deliveryPoint.length > 64) fail('deliveryPoint', `expected a delivery point of at most 64 characters, found ${quote(deliveryPoint)}`);
    if (building.length > 200) fail('building', `expected a building of at most 200 characters, found ${quote(building)}`);

    const energyText = cell('energy');
    const energy = ENERGIES.get(headerKey(energyText));
    if (!energy)
      fail('energy', `expected one of ${UTILITY_ENERGIES.join(', ')} (or électricité, gaz, chaleur, froid, fioul, bois), found ${quote(energyText)}`);

    const first = this.day(cell('start'));
    if (first === undefined) fail('start', `expected a day (31/01/2026 or 2026-01-31) from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(cell('start'))}`);
    const last = this.day(cell('end'));
    if (last === undefined) fail('end', `expected a day (31/01/2026 or 2026-01-31) from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(cell('end'))}`);
    else if (first !== undefined && last < first) fail('end', `expected a day not before the start, found ${quote(cell('end'))}`);
    else if (first !== undefined && last - first + 1 > BILL_MAX_DAYS)
      fail('end', `expected a period of at most ${BILL_MAX_DAYS} days, found ${last - first + 1} days`);

    const kWhText = cell('kWh');
    const kWh = parseDecimal(kWhText);
    if (!(kWh >= 0 && kWh <= MAX_KWH)) fail('kWh', `expected a number of kWh from 0 to ${thousands(MAX_KWH)}, found ${quote(kWhText)}`);
    const amountText = cell('amount');
    const amountEur = parseDecimal(amountText);
    if (!(Math.abs(amountEur) <= MAX_AMOUNT))
      fail('amount', `expected an amount in euros from -${thousands(MAX_AMOUNT)} to ${thousands(MAX_AMOUNT)}, found ${quote(amountText)}`);

    const supplier = cell('supplier');
    if (!supplier) fail('supplier', 'is empty: expected the supplier');
    else if (supplier.length > 200) fail('supplier', `expected a supplier of at most 200 characters, found ${quote(supplier)}`);
    const invoice = cell('invoice');
    if (invoice.length > 100) fail('invoice', `expected a bill number of at most 100 characters, found ${quote(invoice)}`);

    if (this.errors.count !== errorsBefore) return;
    const bill: ImportedBillLine = {
      start: this.clock.day(first!).start,
      end: this.clock.day(last! + 1).start,
      energy: energy!,
      kWh,
      amountEur,
      supplier,
      row: line,
    };
    if (invoice) bill.invoice = invoice;
    if (deliveryPoint) bill.deliveryPoint = deliveryPoint;
    if (building) bill.building = building;
    this.lines.push(bill);
    this.total++;
    if (this.lines.length >= CHUNK_READINGS) this.flush();
  }

  /** A day `31/01/2026` or `2026-01-31` (a midnight time of day allowed) as a local day number. */
  private day(text: string): number | undefined {
    const w = this.wall;
    if (!parseWallTime(text, 0, text.length, w) || w.hour || w.minute || w.second || !Number.isNaN(w.offsetMinutes)) return undefined;
    if (w.year < FIRST_YEAR || w.year > LAST_YEAR) return undefined;
    return daysFromCivil(w.year, w.month, w.day);
  }

  private flush(): void {
    if (!this.lines.length && !this.errors.hasPending) return;
    this.ready.push({ lines: this.lines, errors: this.errors.take() });
    this.lines = [];
  }

  finish(): void {
    if (!this.splitter) throw refuse(`the file is empty: expected the header ${EXPECTED_HEADER}`);
    if (!this.total && this.errors.count === 0) throw refuse('the file has a header but no bill line');
    this.flush();
  }
}
