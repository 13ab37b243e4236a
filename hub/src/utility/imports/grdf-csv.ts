/**
 * GRDF's consumption exports of a gas delivery point (its PCE: 14 digits, or GI and 6 digits),
 * as the customer space gives them ("Données informatives et détaillées", daily, weekly or
 * monthly, downloaded as a spreadsheet and saved as CSV) and as other GRDF exports name the same
 * fields (its published and informative data: reading dates, indexes, volume, conversion
 * coefficient, energy). The customer space's file, as GRDF writes it:
 * ```
 * ;Données informatives et détaillées;;;Export du 24/11/2021
 * ;;N° PCE :;12345678901234
 * ;Date de relevé;Index de début de période (m3);Index de fin de période (m3);Volume consommé (m3);Energie consommée (kWh);Coefficient de conversion;Température locale (°C);Qualification du relevé
 * ;24/11/2020;12163;12175;12;133;11,12;;Mesuré
 * ```
 * Lines before the header (up to 40) are read for the PCE only (`N° PCE :` then the number, in
 * the same cell or the next). The header is the first line naming a period and a quantity;
 * columns are found by their name (accents, case and units in parentheses aside), wherever they are:
 *
 * - the PCE: `PCE`, `N° PCE`, `Identifiant PCE` (else the one above the header);
 * - the period, one of:
 *   - `Date de relevé` (or `Journée gazière`): a day `24/11/2020` or `2020-11-24` (GRDF's gas day,
 *     from 6:00 to 6:00 the next morning, kept as the calendar day it is named after), a month
 *     `Novembre 2020`, `11/2020` or `2020-11`, or a week `Du 24/11/2020 au 29/11/2020` (both
 *     days included);
 *   - `Date de début` and `Date de fin` (or `Début de période`/`Fin de période`,
 *     `dateDebutReleve`/`dateFinReleve`): the days of the opening and the closing readings, the
 *     closing day excluded (the next period starts on it, as GRDF's publications chain them);
 * - the quantities: `Energie consommée` (kWh), `Volume consommé` (m³; else the difference of
 *   `Index de début …` and `Index de fin …`), `Coefficient de conversion` (kWh/m³);
 * - `Qualification du relevé`: `Mesuré` (or empty) is `good`, any other (`Estimé`, `Corrigé`…)
 *   `uncertain`. Other columns (temperature…) are not read.
 *
 * When the energy is empty but the volume and the coefficient are there, kWh = m³ × coefficient;
 * a row with a volume and neither energy nor coefficient is an error naming the coefficient's
 * column. A reading keeps its volume when the row gives both the volume and the coefficient. A row
 * with no quantity at all is a period GRDF has no data for: no reading, no error. Checked on
 * every row: the period (real days, from 2000 to 2099, at most 400 days, not overlapping an
 * earlier row of the same PCE: the first is kept), the numbers (not negative; energy at most what
 * 100 MW give in the period; coefficient from 5 to 15 kWh/m³; closing index not below the opening).
 */
import type { ConsumptionReading, ReadingQuality, RowError } from '../readings.js';
import { CHUNK_READINGS, quote, RowErrors, UtilityImportError, type OmittedErrors } from './errors.js';
import { SlotSets } from './slots.js';
import { decodeUpload, detectDelimiter, FieldSplitter, headerKey, MAX_LINE_CHARS, parseDecimal, readLines, thousands, type ImportOptions } from './text.js';
import { dayText, daysFromCivil, FIRST_YEAR, LAST_YEAR, LocalClock, newWallTime, parseWallTime } from './time.js';

/** Consumption of one PCE, as a GRDF import yields it: at most CHUNK_READINGS readings, and the row errors found since the last chunk. */
export interface GrdfChunk {
  /** The PCE the readings are of; '' for errors read before any PCE. */
  pce: string;
  consumption?: ConsumptionReading[];
  errors: RowError[];
}

/** Lines read before the header, at most. */
export const GRDF_PREAMBLE_LINES = 40;
/** A reading's longest period, in days. */
export const GRDF_MAX_DAYS = 400;
/** Most energy a row may give per day of its period: 100 MW over 25 hours. */
const MAX_KWH_PER_DAY = 2_500_000;
/** The conversion coefficients accepted, kWh/m³ (natural gas and biomethane lie within). */
const COEFFICIENT_RANGE = [5, 15] as const;

const EXPECTED_HEADER =
  'Date de relevé;Index de début de période (m3);Index de fin de période (m3);Volume consommé (m3);Energie consommée (kWh);Coefficient de conversion;Qualification du relevé (daily), ' +
  'Date de relevé;Volume consommé (m3);Energie consommée (kWh) (monthly), or columns Date de début;Date de fin with the same quantities';

const COLUMNS = {
  pce: ['pce', 'n pce', 'no pce', 'numero pce', 'numero de pce', 'identifiant pce', 'id pce', 'idpce'],
  date: ['date de releve', 'date du releve', 'journee gaziere', 'journeegaziere'],
  start: ['date de debut', 'date de debut de periode', 'debut de periode', 'date debut', 'date debut releve', 'datedebutreleve'],
  end: ['date de fin', 'date de fin de periode', 'fin de periode', 'date fin', 'date fin releve', 'datefinreleve'],
  startIndex: ['index de debut de periode', 'index de debut', 'index debut', 'indexdebut'],
  endIndex: ['index de fin de periode', 'index de fin', 'index fin', 'indexfin'],
  volume: ['volume consomme', 'volume', 'volume brut consomme', 'volume brut', 'volumebrutconsomme'],
  energy: ['energie consommee', 'energie consomme', 'energie', 'energieconsomme'],
  coefficient: ['coefficient de conversion', 'coefficient', 'coeff conversion', 'coeffconversion'],
  quality: ['qualification du releve', 'qualification', 'qualificationreleve'],
} as const;
type Column = keyof typeof COLUMNS;

const MONTHS = new Map<string, number>(
  [
    ['janvier', 'january'],
    ['fevrier', 'february'],
    ['mars', 'march'],
    ['avril', 'april'],
    ['mai', 'may'],
    ['juin', 'june'],
    ['juillet', 'july'],
    ['aout', 'august'],
    ['septembre', 'september'],
    ['octobre', 'october'],
    ['novembre', 'november'],
    ['decembre', 'december'],
  ].flatMap(([fr, en], i) => [
    [fr!, i + 1],
    [en!, i + 1],
  ]),
);

const PCE = /^(?:\d{14}|GI\d{6})$/;

/**
 * Reads a GRDF export as it arrives, in chunks of at most CHUNK_READINGS readings of one PCE; a
 * bad row is reported (RowError, 1-based line, column) and the others kept; after more than
 * ROW_ERRORS_LISTED errors, the last item is `{ omittedErrors }`.
 * @throws UtilityImportError IMPORT_FILE_REFUSED at once for a file without GRDF's header or
 *   without a PCE, IMPORT_FILE_TOO_LARGE past `maxBytes`
 * @throws RangeError for a time zone the runtime does not know
 */
export async function* parseGrdfCsv(bytes: AsyncIterable<Uint8Array | string>, options: ImportOptions): AsyncGenerator<GrdfChunk | OmittedErrors> {
  const reader = new GrdfReader(new LocalClock(options.timezone));
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

/** The PCE a preamble line gives (`N° PCE :;12345678901234`, `N° PCE : 12345678901234`), '' when it names none, undefined when it is not such a line. */
function preamblePce(cells: string[]): string | undefined {
  for (let i = 0; i < cells.length; i++) {
    const m = /^(?:n|no|numero|numero de|identifiant|id)? ?pce(?: (\w+))?$/.exec(headerKey(cells[i]!));
    if (!m) continue;
    if (m[1]) return cells[i]!.slice(cells[i]!.search(/\w+\s*$/)).trim();
    for (let j = i + 1; j < cells.length; j++) if (cells[j]!.trim()) return cells[j]!.trim();
    return '';
  }
  return undefined;
}

class GrdfReader {
  readonly errors = new RowErrors();
  readonly ready: GrdfChunk[] = [];
  private readonly slots = new SlotSets();
  private readonly wall = newWallTime();
  private mode: 'preamble' | 'rows' = 'preamble';
  private preambleLines = 0;
  private firstText = '';
  private splitter = new FieldSplitter(59);
  private columns = new Map<Column, number>();
  private names: string[] = [];
  private preamble: string | undefined;
  private pce = '';
  private consumption: ConsumptionReading[] = [];
  private total = 0;

  constructor(private readonly clock: LocalClock) {}

  *drain(): Generator<GrdfChunk> {
    while (this.ready.length) yield this.ready.shift()!;
  }

  line(text: string, start: number, end: number, line: number): void {
    if (end === -1) {
      if (this.mode === 'preamble') throw refuse(`line ${line} is longer than ${thousands(MAX_LINE_CHARS)} characters: this is not a GRDF export`);
      this.errors.add(line, undefined, `longer than ${thousands(MAX_LINE_CHARS)} characters: not a line of a GRDF export`);
      return;
    }
    if (this.blank(text, start, end)) return;
    if (this.mode === 'rows') this.row(text, start, end, line);
    else this.preambleLine(text.slice(start, end), line);
  }

  private blank(text: string, start: number, end: number): boolean {
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c !== 59 && c !== 44 && c !== 9 && c !== 32 && c !== 34) return false;
    }
    return true;
  }

  private preambleLine(content: string, line: number): void {
    if (!this.preambleLines++) this.firstText = content;
    const delimiter = detectDelimiter(content);
    const splitter = new FieldSplitter(delimiter);
    if (splitter.split(content, 0, content.length) === undefined) {
      const cells = Array.from({ length: splitter.count }, (_, i) => splitter.field(i));
      if (this.header(cells, line)) {
        this.splitter = splitter;
        this.mode = 'rows';
        return;
      }
      const pce = preamblePce(cells);
      if (pce !== undefined) {
        if (!PCE.test(pce)) throw refuse(`line ${line}: expected a PCE of 14 digits (or GI and 6 digits) after "N° PCE", found ${quote(pce)}`);
        this.preamble = pce;
        return;
      }
    }
    if (this.preambleLines >= GRDF_PREAMBLE_LINES) {
      throw refuse(
        `this is not a GRDF export: no header in its first ${GRDF_PREAMBLE_LINES} lines (expected ${EXPECTED_HEADER}); its first line is ${quote(this.firstText)}`,
      );
    }
  }

  /** Whether `cells` are GRDF's header: then its columns are known. */
  private header(cells: string[], line: number): boolean {
    const columns = new Map<Column, number>();
    const repeated: string[] = [];
    cells.forEach((cell, i) => {
      const key = headerKey(cell);
      if (!key) return;
      for (const [column, names] of Object.entries(COLUMNS) as [Column, readonly string[]][]) {
        if (!names.includes(key)) continue;
        if (columns.has(column)) repeated.push(cell);
        else columns.set(column, i);
      }
    });
    const period = columns.has('date') || (columns.has('start') && columns.has('end'));
    const quantity = columns.has('energy') || columns.has('volume') || (columns.has('startIndex') && columns.has('endIndex'));
    if (!period || !quantity) return false;
    if (repeated.length) throw refuse(`line ${line}: the header gives ${repeated.map(quote).join(', ')} twice`);
    if (!columns.has('energy') && !columns.has('coefficient')) {
      throw refuse(
        `line ${line}: the header has volumes but neither "Energie consommée (kWh)" nor "Coefficient de conversion": no energy can be read from this file`,
      );
    }
    if (!columns.has('pce') && this.preamble === undefined) {
      throw refuse(`line ${line}: the file names no PCE: expected "N° PCE : <14 digits>" above the header, or a column "PCE"`);
    }
    this.columns = columns;
    this.names = cells;
    if (this.preamble) this.pce = this.preamble;
    return true;
  }

  private row(text: string, start: number, end: number, line: number): void {
    const s = this.splitter;
    const problem = s.split(text, start, end);
    if (problem) return this.errors.add(line, undefined, problem);
    const cell = (c: Column) => {
      const i = this.columns.get(c);
      return i === undefined ? '' : s.field(i);
    };
    const name = (c: Column) => this.names[this.columns.get(c)!]!;
    const fail = (c: Column | undefined, problem: string) => this.errors.add(line, c === undefined ? undefined : name(c), problem);

    const energyText = cell('energy');
    const volumeText = cell('volume');
    const startIndexText = cell('startIndex');
    const endIndexText = cell('endIndex');
    if (!energyText && !volumeText && !startIndexText && !endIndexText) return; // a period without data

    if (this.columns.has('pce')) {
      const pce = cell('pce') || this.preamble || '';
      if (!PCE.test(pce)) return fail('pce', `expected a PCE of 14 digits (or GI and 6 digits), found ${quote(pce)}`);
      this.usePce(pce);
    }

    const period = this.period(cell, fail);
    if (!period) return;
    const [from, to] = period;
    const days = to - from;
    const maxKWh = MAX_KWH_PER_DAY * days;
    const number = (c: Column, text: string, what: string, max: number): number | undefined => {
      const value = parseDecimal(text);
      if (value >= 0 && value <= max) return value;
      fail(c, `expected ${what} from 0 to ${thousands(max)}, found ${quote(text)}`);
      return undefined;
    };

    let kWh: number | undefined;
    if (energyText) {
      kWh = number('energy', energyText, 'an energy in kWh', maxKWh);
      if (kWh === undefined) return;
    }
    let m3: number | undefined;
    if (volumeText) {
      m3 = number('volume', volumeText, 'a volume in m³', maxKWh / COEFFICIENT_RANGE[0]);
      if (m3 === undefined) return;
    } else if (startIndexText && endIndexText) {
      const opening = number('startIndex', startIndexText, 'an index in m³', 1e12);
      const closing = number('endIndex', endIndexText, 'an index in m³', 1e12);
      if (opening === undefined || closing === undefined) return;
      if (closing < opening) return fail('endIndex', `expected an index not below the opening one (${opening}), found ${quote(endIndexText)}`);
      m3 = closing - opening;
    }
    let coefficient: number | undefined;
    const coefficientText = cell('coefficient');
    if (coefficientText) {
      coefficient = parseDecimal(coefficientText);
      if (!(coefficient >= COEFFICIENT_RANGE[0] && coefficient <= COEFFICIENT_RANGE[1])) {
        return fail(
          'coefficient',
          `expected a conversion coefficient from ${COEFFICIENT_RANGE[0]} to ${COEFFICIENT_RANGE[1]} kWh/m³, found ${quote(coefficientText)}`,
        );
      }
    }
    if (kWh === undefined) {
      if (m3 === undefined) return fail('energy', `expected an energy in kWh, or a volume and its conversion coefficient`);
      if (coefficient === undefined) {
        if (this.columns.has('coefficient'))
          return fail('coefficient', `is empty: expected the conversion coefficient (kWh/m³) to compute the energy of ${m3} m³, the energy being empty`);
        return fail('energy', `is empty, and the file has no column "Coefficient de conversion" to compute it from ${m3} m³`);
      }
      kWh = Math.round(m3 * coefficient * 1000) / 1000;
      if (kWh > maxKWh) return fail('volume', `gives ${thousands(kWh)} kWh, more than 100 MW in the period (${thousands(maxKWh)} kWh)`);
    }

    const qualityText = cell('quality');
    const qualityKey = qualityText ? headerKey(qualityText) : '';
    const quality: ReadingQuality = !qualityKey || /^(mesur|mes$|reel|definiti)/.test(qualityKey) ? 'good' : 'uncertain';

    if (!this.slots.claim(this.pce, from, days)) {
      const c: Column = this.columns.has('date') ? 'date' : 'start';
      return fail(c, `overlaps days an earlier line gave (${dayText(from)} to ${dayText(to - 1)}): the first is kept`);
    }
    const reading: ConsumptionReading = { start: this.clock.day(from).start, end: this.clock.day(to).start, kWh, quality };
    if (m3 !== undefined && coefficient !== undefined) reading.volume = { m3, kWhPerM3: coefficient };
    this.consumption.push(reading);
    this.total++;
    if (this.consumption.length >= CHUNK_READINGS) this.flush();
  }

  /** The row's period as local day numbers [from, to), or undefined (and an error). */
  private period(cell: (c: Column) => string, fail: (c: Column, problem: string) => void): [number, number] | undefined {
    let from: number;
    let to: number;
    if (this.columns.has('date')) {
      const text = cell('date');
      const range = this.dateRange(text);
      if (!range) {
        fail(
          'date',
          `expected a day (24/11/2020), a month (Novembre 2020) or a week (Du 24/11/2020 au 29/11/2020) from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(text)}`,
        );
        return undefined;
      }
      [from, to] = range;
    } else {
      const startText = cell('start');
      const endText = cell('end');
      const a = this.day(startText);
      if (a === undefined) {
        fail('start', `expected a day (24/11/2020 or 2020-11-24) from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(startText)}`);
        return undefined;
      }
      const b = this.day(endText);
      if (b === undefined) {
        fail('end', `expected a day (24/11/2020 or 2020-11-24) from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(endText)}`);
        return undefined;
      }
      if (b <= a) {
        fail('end', `expected a day after the start (${dayText(a)}): the closing reading's day, found ${quote(endText)}`);
        return undefined;
      }
      from = a;
      to = b;
    }
    if (to - from > GRDF_MAX_DAYS) {
      fail(this.columns.has('date') ? 'date' : 'end', `expected a period of at most ${GRDF_MAX_DAYS} days, found ${to - from} days`);
      return undefined;
    }
    return [from, to];
  }

  /** A day (its time of day, if any, aside), as a local day number. */
  private day(text: string): number | undefined {
    if (!parseWallTime(text, 0, text.length, this.wall)) return undefined;
    const w = this.wall;
    if (w.year < FIRST_YEAR || w.year > LAST_YEAR) return undefined;
    return daysFromCivil(w.year, w.month, w.day);
  }

  /** A reading date's period: a day, a month or `Du … au …`. */
  private dateRange(text: string): [number, number] | undefined {
    const day = this.day(text);
    if (day !== undefined) return [day, day + 1];
    const key = headerKey(text);
    let m = /^du (.+?) au (.+)$/.exec(text.trim().toLowerCase());
    if (m) {
      const a = this.day(m[1]!);
      const b = this.day(m[2]!);
      return a !== undefined && b !== undefined && b >= a ? [a, b + 1] : undefined;
    }
    let year: number;
    let month: number;
    if ((m = /^([a-z]+) (\d{4})$/.exec(key)) && MONTHS.has(m[1]!)) {
      month = MONTHS.get(m[1]!)!;
      year = Number(m[2]);
    } else if ((m = /^(\d{1,2})\/(\d{4})$/.exec(text.trim()))) {
      month = Number(m[1]);
      year = Number(m[2]);
    } else if ((m = /^(\d{4})-(\d{2})$/.exec(text.trim()))) {
      year = Number(m[1]);
      month = Number(m[2]);
    } else return undefined;
    if (month < 1 || month > 12 || year < FIRST_YEAR || year > LAST_YEAR) return undefined;
    return [daysFromCivil(year, month, 1), month === 12 ? daysFromCivil(year + 1, 1, 1) : daysFromCivil(year, month + 1, 1)];
  }

  private usePce(pce: string): void {
    if (pce === this.pce) return;
    if (this.consumption.length) this.flush();
    this.pce = pce;
  }

  private flush(): void {
    if (!this.consumption.length && !this.errors.hasPending) return;
    const chunk: GrdfChunk = { pce: this.pce, errors: this.errors.take() };
    if (this.consumption.length) chunk.consumption = this.consumption;
    this.ready.push(chunk);
    this.consumption = [];
  }

  finish(): void {
    if (this.mode === 'preamble') {
      if (!this.preambleLines) throw refuse('the file is empty: expected a GRDF export');
      throw refuse(`this is not a GRDF export: no header found (expected ${EXPECTED_HEADER}); its first line is ${quote(this.firstText)}`);
    }
    if (!this.total && this.errors.count === 0) throw refuse('the file holds no consumption: every energy and volume is empty');
    this.flush();
  }
}
