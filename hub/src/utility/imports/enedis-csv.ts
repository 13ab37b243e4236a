/**
 * The CSV files Enedis gives the customer of an electricity delivery point (its PRM, 14 digits):
 * daily consumption (Wh a day) and the load curve (average W over each step). Two layouts, as
 * Enedis's published examples show them:
 *
 * 1. **"Mes données de consommation" / "Mes mesures"** (the customer spaces' download): a header
 *    block, then the measures; a file may hold several such sections one after the other.
 *    ```
 *    Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes
 *    12345678901234;Courbe de charge;01/09/2020;21/09/2020;Energie active;Consommation;Comptage Brut;W;30
 *
 *    Horodate;Valeur
 *    2020-09-01T00:30:00+02:00;270
 *    ```
 *    `Type de donnees`: `Courbe de charge` (unit W or kW; `Pas en minutes` may be empty: the step is
 *    then the most frequent gap between the first 64 measures' times, 30 minutes when they show none),
 *    or a daily consumption (a type saying `quotidien`/`journalier`, unit Wh or kWh; Horodate is the
 *    day, at its midnight). Sections of other types (`Index`, `Puissance maximale quotidienne`) and
 *    production (`Grandeur metier` Production, `Injection …`) are not imported: a first section of
 *    that kind refuses the file, a later one is reported at its header line and skipped.
 *
 * 2. **M023 measure files** ("Mes mesures détaillées"): one measure a row, with its PRM.
 *    ```
 *    Identifiant PRM;Date de début;Date de fin;Grandeur physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;Indice de vraisemblance;Etat complémentaire
 *    30000000000001;2023-03-13;2023-03-14;PA;CONS;BRUT;W;2023-03-13T00:30:00+01:00;692;R;PT30M;0;0
 *    ```
 *    `Grandeur physique` PA (active power, W or kW: the load curve), or EA (active energy, Wh or
 *    kWh): with `Pas` P1D a day's consumption, with PTnM the energy of a step, read as its average
 *    power. `Grandeur métier` CONS only (PROD rows are reported). `Pas`: PT5M, PT10M, PT15M, PT30M,
 *    PT60M (or PT1H), P1D. `Nature`: R (real) and B (raw) are measured (`good`), any other
 *    (estimated, corrected…) `uncertain`. Other columns are not read.
 *
 * In both, a load curve's Horodate is the END of its step (the day's first is 00:30 for a 30-minute
 * curve); times are the city's, with or without an offset (without one, the hour the clocks repeat
 * in autumn is read in file order: its first rows are the first pass, a repeated time the second).
 * An empty Valeur is a step Enedis has no measure for: no reading, no error. Delimiter `;` (`,` or
 * tab when the first line uses them). Checked on every row: the PRM, the time (a real one, on the
 * step's grid, not given twice for the same PRM: the first is kept), the value (whole W or Wh, not
 * negative, a load curve at most 100 MW, a day at most what 100 MW give in 25 hours).
 */
import type { ConsumptionReading, PowerReading, ReadingQuality, RowError } from '../readings.js';
import { localDay } from '../local-time.js';
import { CHUNK_READINGS, quote, RowErrors, UtilityImportError, type OmittedErrors } from './errors.js';
import { checkedValue, DAY_LIMIT, isPrm, LOAD_CURVE_STEPS, POWER_LIMIT, stepEnergyLimit, unitDivisor, type Kind, type ValueLimit } from './enedis-values.js';
import { SlotSets } from './slots.js';
import { decodeUpload, detectDelimiter, FieldSplitter, headerKey, MAX_LINE_CHARS, readLines, thousands, type ImportOptions } from './text.js';
import { daysFromCivil, FIRST_YEAR, LAST_YEAR, LocalClock, newWallTime, offsetInstant, parseWallTime, wallText, type WallTime } from './time.js';

/** Readings of one delivery point, as an Enedis import yields them: at most CHUNK_READINGS readings, and the row errors found since the last chunk. */
export interface EnedisChunk {
  /** The PRM the readings are of; '' for errors read before any PRM. */
  prm: string;
  consumption?: ConsumptionReading[];
  power?: PowerReading[];
  errors: RowError[];
}

const SLOT_MS = 300_000; // 5 minutes: every step is a whole number of them
const LEGACY_HEADER = 'Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes';
const M023_HEADER = 'Identifiant PRM;Date de début;Date de fin;Grandeur physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;…';
/** Measures of a load curve without `Pas en minutes` read before its step is decided. */
const STEP_SAMPLE = 64;

/**
 * Reads an Enedis CSV export as it arrives, in chunks of at most CHUNK_READINGS readings of one
 * PRM; a bad row is reported (RowError, 1-based line, column) and the others kept; after more
 * than ROW_ERRORS_LISTED errors, the last item is `{ omittedErrors }`.
 * @throws UtilityImportError IMPORT_FILE_REFUSED at once for a file that is not one of these layouts
 *   (saying what was expected), IMPORT_FILE_TOO_LARGE past `maxBytes`
 * @throws RangeError for a time zone the runtime does not know
 */
export async function* parseEnedisCsv(bytes: AsyncIterable<Uint8Array | string>, options: ImportOptions): AsyncGenerator<EnedisChunk | OmittedErrors> {
  const reader = new EnedisReader(new LocalClock(options.timezone));
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

/** A section of the customer-space layout: its header block read. */
interface Section {
  prm: string;
  kind: Kind;
  /** Units of the file per kW (power) or kWh (consumption): 1000 for W and Wh, 1 for kW and kWh. */
  divisor: number;
  unit: string;
  /** Minutes; 0 while unknown (decided from the first measures). */
  step: number;
  timeColumn: string;
  valueColumn: string;
}

interface M023Columns {
  prm: number;
  physical: number;
  business: number;
  unit: number;
  time: number;
  value: number;
  step: number;
  nature: number;
  names: string[];
  /** Fields read of a row: up to the last of these. */
  wanted: number;
}

function refuse(message: string): UtilityImportError {
  return new UtilityImportError('IMPORT_FILE_REFUSED', message);
}

class EnedisReader {
  readonly errors = new RowErrors();
  readonly ready: EnedisChunk[] = [];
  private readonly slots = new SlotSets();
  private readonly wall: WallTime = newWallTime();
  private readonly instants: [number, number] = [0, 0];
  private mode: 'start' | 'block' | 'body-header' | 'body' | 'skip' | 'm023' = 'start';
  private delimiter = 59;
  private splitter = new FieldSplitter(59);
  private blockColumns = new Map<string, number>();
  private section: Section | undefined;
  private sections = 0;
  private m023: M023Columns | undefined;
  /** Rows of a section whose step is not decided yet: their text and line. */
  private held: { text: string; line: number }[] = [];
  private prm = '';
  private power: PowerReading[] = [];
  private consumption: ConsumptionReading[] = [];
  private readings = 0;
  /** Readings read in all. */
  private total = 0;
  // The last text of M023 cells that vary little, and what was read from it.
  private lastStep = '';
  private lastStepMinutes = 0;
  private lastUnit = '';
  private lastNature = '';
  private lastQuality: ReadingQuality = 'good';

  constructor(private readonly clock: LocalClock) {}

  *drain(): Generator<EnedisChunk> {
    while (this.ready.length) yield this.ready.shift()!;
  }

  line(text: string, start: number, end: number, line: number): void {
    if (end === -1) {
      if (this.mode === 'start') throw refuse(`line ${line} is longer than ${thousands(MAX_LINE_CHARS)} characters: this is not an Enedis export`);
      this.errors.add(line, undefined, `longer than ${thousands(MAX_LINE_CHARS)} characters: not a line of an Enedis export`);
      return;
    }
    if (this.blank(text, start, end)) return;
    switch (this.mode) {
      case 'body': {
        const c = text.charCodeAt(start);
        if (c >= 48 && c <= 57) this.legacyRow(text, start, end, line);
        else if (!this.blockHeader(text, start, end)) this.legacyRow(text, start, end, line);
        return;
      }
      case 'm023':
        this.m023Row(text, start, end, line);
        return;
      case 'skip':
        this.blockHeader(text, start, end);
        return;
      case 'start':
        this.firstLine(text.slice(start, end), line);
        return;
      case 'block':
        this.blockValues(text, start, end, line);
        return;
      case 'body-header':
        this.bodyHeader(text, start, end, line);
        return;
    }
  }

  /** A line of nothing but spaces, delimiters and quotes. */
  private blank(text: string, start: number, end: number): boolean {
    if (start === end) return true;
    const c = text.charCodeAt(start);
    if (c !== this.delimiter && c !== 32 && c !== 34) return false;
    for (let i = start; i < end; i++) {
      const k = text.charCodeAt(i);
      if (k !== this.delimiter && k !== 32 && k !== 34 && k !== 9) return false;
    }
    return true;
  }

  private firstLine(header: string, line: number): void {
    this.delimiter = detectDelimiter(header);
    this.splitter = new FieldSplitter(this.delimiter);
    const problem = this.splitter.split(header, 0, header.length);
    const names = problem ? [] : Array.from({ length: this.splitter.count }, (_, i) => this.splitter.field(i));
    const keys = names.map(headerKey);
    if (keys.includes('identifiant prm') && keys.includes('type de donnees')) {
      this.blockColumns = new Map(keys.map((k, i) => [k, i] as const).reverse());
      this.mode = 'block';
      return;
    }
    if (keys.includes('horodate') && keys.includes('valeur') && keys.includes('identifiant prm')) {
      const index = (k: string) => keys.indexOf(k);
      const columns: M023Columns = {
        prm: index('identifiant prm'),
        physical: index('grandeur physique'),
        business: index('grandeur metier'),
        unit: index('unite'),
        time: index('horodate'),
        value: index('valeur'),
        step: index('pas'),
        nature: index('nature'),
        names,
        wanted: 0,
      };
      columns.wanted = 1 + Math.max(columns.prm, columns.physical, columns.business, columns.unit, columns.time, columns.value, columns.step, columns.nature);
      const missing = (['Grandeur physique', 'Grandeur métier', 'Unité', 'Pas'] as const).filter((name) => index(headerKey(name)) < 0);
      if (missing.length) {
        throw refuse(
          `line ${line}: the header of this M023 measure file lacks the column${missing.length > 1 ? 's' : ''} ${missing.map(quote).join(', ')} (expected ${M023_HEADER})`,
        );
      }
      this.m023 = columns;
      this.mode = 'm023';
      return;
    }
    throw refuse(
      `line ${line}: this is not an Enedis export: expected the header block of the customer space's download (${LEGACY_HEADER}) or the header of an M023 measure file (${M023_HEADER}), found ${quote(header)}`,
    );
  }

  /** In a section's measures or a skipped section: a new header block starts here? */
  private blockHeader(text: string, start: number, end: number): boolean {
    const c = text.charCodeAt(start);
    if (c !== 73 && c !== 105 && c !== 34) return false; // I, i or a quote
    if (this.splitter.split(text, start, end) || headerKey(this.splitter.field(0)) !== 'identifiant prm') return false;
    const keys = Array.from({ length: this.splitter.count }, (_, i) => headerKey(this.splitter.field(i)));
    if (!keys.includes('type de donnees')) return false;
    this.endSection();
    this.blockColumns = new Map(keys.map((k, i) => [k, i] as const).reverse());
    this.mode = 'block';
    return true;
  }

  /** The second line of a header block: the PRM and what the section holds. */
  private blockValues(text: string, start: number, end: number, line: number): void {
    const first = this.sections++ === 0;
    const fail = (problem: string) => {
      if (first) throw refuse(`line ${line}: ${problem}; nothing can be imported from this file`);
      this.errors.add(line, undefined, `${problem}; the measures of this section are skipped`);
      this.mode = 'skip';
    };
    const problem = this.splitter.split(text, start, end);
    if (problem) return fail(`expected the values of the header block above, found a line with ${problem}`);
    const cell = (key: string) => {
      const i = this.blockColumns.get(key);
      return i === undefined ? '' : this.splitter.field(i);
    };
    const prm = cell('identifiant prm');
    if (!isPrm(prm)) return fail(`column "Identifiant PRM": expected a PRM of 14 digits, found ${quote(prm)}`);
    const type = cell('type de donnees');
    const typeKey = headerKey(type);
    const business = headerKey(cell('grandeur metier'));
    const unit = cell('unite');
    let kind: Kind;
    if (business.includes('production') || typeKey.includes('injection') || typeKey.includes('production')) {
      return fail(`this section holds production (${quote(type)}): CityPilot imports consumption`);
    } else if (typeKey.includes('courbe')) kind = 'power';
    else if (typeKey.includes('index') || typeKey.includes('puissance')) {
      return fail(`a section of ${quote(type)} is not imported: expected "Courbe de charge" (a load curve) or a daily consumption`);
    } else if (/quotidien|journalier/.test(typeKey) || typeKey === 'consommation') kind = 'consumption';
    else return fail(`expected "Courbe de charge" (a load curve) or a daily consumption in column "Type de donnees", found ${quote(type)}`);
    const divisor = unitDivisor(unit, kind);
    if (divisor === undefined) {
      return fail(`column "Unite": expected ${kind === 'power' ? 'W or kW for a load curve' : 'Wh or kWh for a consumption'}, found ${quote(unit)}`);
    }
    let step = 0;
    const stepText = cell('pas en minutes');
    if (kind === 'power' && stepText !== '') {
      step = Number(stepText);
      if (!(LOAD_CURVE_STEPS as readonly number[]).includes(step)) {
        return fail(`column "Pas en minutes": expected one of ${LOAD_CURVE_STEPS.join(', ')}, found ${quote(stepText)}`);
      }
    }
    this.section = { prm, kind, divisor, unit, step, timeColumn: 'Horodate', valueColumn: 'Valeur' };
    this.usePrm(prm);
    this.mode = 'body-header';
  }

  private bodyHeader(text: string, start: number, end: number, line: number): void {
    const problem = this.splitter.split(text, start, end);
    const names = problem ? [] : Array.from({ length: this.splitter.count }, (_, i) => this.splitter.field(i));
    if (names.length >= 2 && headerKey(names[0]!) === 'horodate' && headerKey(names[1]!) === 'valeur') {
      this.section!.timeColumn = names[0]!;
      this.section!.valueColumn = names[1]!;
      this.mode = 'body';
      return;
    }
    const found = quote(text.slice(start, end));
    if (this.sections === 1) throw refuse(`line ${line}: expected the measures' header "Horodate;Valeur" after the header block, found ${found}`);
    this.errors.add(
      line,
      undefined,
      `expected the measures' header "Horodate;Valeur" after the header block, found ${found}; the measures of this section are skipped`,
    );
    this.mode = 'skip';
  }

  /** A measure of the customer-space layout: `Horodate;Valeur`. */
  private legacyRow(text: string, start: number, end: number, line: number): void {
    const section = this.section!;
    if (section.kind === 'power' && section.step === 0) {
      this.held.push({ text: text.slice(start, end), line });
      if (this.held.length >= STEP_SAMPLE) this.decideStep();
      return;
    }
    let timeStart = start;
    let timeEnd: number;
    let valueStart: number;
    let valueEnd: number;
    const d = text.indexOf(this.delimiter === 59 ? ';' : this.delimiter === 44 ? ',' : '\t', start);
    if (d !== -1 && d < end && text.charCodeAt(start) !== 34 && text.charCodeAt(d + 1) !== 34) {
      // The usual row, read where it is.
      timeEnd = d;
      valueStart = d + 1;
      valueEnd = end;
      const extra = text.indexOf(this.delimiter === 59 ? ';' : this.delimiter === 44 ? ',' : '\t', valueStart);
      if (extra !== -1 && extra < end) {
        if (!this.blank(text, extra, end))
          return this.errors.add(line, undefined, `expected 2 fields (${section.timeColumn};${section.valueColumn}), found more`);
        valueEnd = extra;
      }
      while (timeEnd > timeStart && text.charCodeAt(timeEnd - 1) === 32) timeEnd--;
      while (timeStart < timeEnd && text.charCodeAt(timeStart) === 32) timeStart++;
      while (valueEnd > valueStart && text.charCodeAt(valueEnd - 1) === 32) valueEnd--;
      while (valueStart < valueEnd && text.charCodeAt(valueStart) === 32) valueStart++;
    } else {
      const problem = this.splitter.split(text, start, end);
      if (problem) return this.errors.add(line, undefined, problem);
      let last = this.splitter.count;
      while (last > 2 && this.splitter.empty(last - 1)) last--;
      if (last !== 2) return this.errors.add(line, undefined, `expected 2 fields (${section.timeColumn};${section.valueColumn}), found ${last}`);
      timeStart = this.splitter.starts[0]!;
      timeEnd = this.splitter.ends[0]!;
      valueStart = this.splitter.starts[1]!;
      valueEnd = this.splitter.ends[1]!;
    }
    if (valueStart === valueEnd) return; // a step without measure
    if (!this.readTime(text, timeStart, timeEnd, line, section.timeColumn)) return;
    if (section.kind === 'power') {
      const kW = this.value(text, valueStart, valueEnd, section.unit, section.divisor, POWER_LIMIT, line, section.valueColumn);
      if (kW !== undefined) this.addPower(section.prm, kW, section.step, 'good', line, section.timeColumn);
    } else {
      const kWh = this.value(text, valueStart, valueEnd, section.unit, section.divisor, DAY_LIMIT, line, section.valueColumn);
      if (kWh !== undefined) this.addConsumption(section.prm, kWh, 'good', line, section.timeColumn);
    }
  }

  /** A load curve without `Pas en minutes`: its step is the most frequent gap between its first measures' times. */
  private decideStep(): void {
    const section = this.section!;
    const held = this.held;
    this.held = [];
    const counts = new Map<number, number>();
    let previous = NaN;
    for (const row of held) {
      const d = row.text.indexOf(String.fromCharCode(this.delimiter));
      if (!parseWallTime(row.text, 0, d < 0 ? row.text.length : d, this.wall)) continue;
      let t: number;
      if (!Number.isNaN(this.wall.offsetMinutes)) t = offsetInstant(this.wall);
      else if (this.clock.instants(this.wall, this.instants)) t = this.instants[0];
      else continue;
      const gap = (t - previous) / 60_000;
      if ((LOAD_CURVE_STEPS as readonly number[]).includes(gap)) counts.set(gap, (counts.get(gap) ?? 0) + 1);
      previous = t;
    }
    let step = 30;
    let most = 0;
    for (const [gap, count] of counts) {
      if (count > most || (count === most && gap < step)) {
        step = gap;
        most = count;
      }
    }
    section.step = step;
    for (const row of held) this.legacyRow(row.text, 0, row.text.length, row.line);
  }

  private endSection(): void {
    if (this.held.length) this.decideStep();
  }

  /** A row of an M023 file. */
  private m023Row(text: string, start: number, end: number, line: number): void {
    const s = this.splitter;
    const c = this.m023!;
    const problem = s.split(text, start, end, c.wanted);
    if (problem) return this.errors.add(line, undefined, problem);
    if (s.empty(c.value)) return; // a step without measure
    const name = (i: number) => c.names[i]!;
    if (this.prm === '' || !s.is(c.prm, this.prm)) {
      const prm = s.field(c.prm);
      if (!isPrm(prm)) return this.errors.add(line, name(c.prm), `expected a PRM of 14 digits, found ${quote(prm)}`);
      this.usePrm(prm);
    }
    if (!s.is(c.business, 'CONS')) {
      const business = s.field(c.business);
      return this.errors.add(line, name(c.business), `expected CONS (consumption), found ${quote(business)}: CityPilot imports consumption only`);
    }
    let kind: Kind;
    let energy = false;
    if (s.is(c.physical, 'PA')) kind = 'power';
    else if (s.is(c.physical, 'EA')) {
      energy = true;
      kind = 'power'; // until the step says a day
    } else
      return this.errors.add(line, name(c.physical), `expected PA (active power: a load curve) or EA (active energy), found ${quote(s.field(c.physical))}`);

    if (!s.is(c.step, this.lastStep)) {
      const stepText = s.field(c.step);
      const m = /^PT(\d{1,2})M$/.exec(stepText);
      const minutes = m ? Number(m[1]) : stepText === 'PT1H' ? 60 : stepText === 'P1D' ? 1440 : 0;
      if (!(LOAD_CURVE_STEPS as readonly number[]).includes(minutes) && minutes !== 1440) {
        return this.errors.add(line, name(c.step), `expected PT5M, PT10M, PT15M, PT30M, PT60M or P1D, found ${quote(stepText)}`);
      }
      this.lastStep = stepText;
      this.lastStepMinutes = minutes;
    }
    const step = this.lastStepMinutes;
    if (step === 1440) {
      if (!energy) return this.errors.add(line, name(c.step), `expected the step of a load curve (PT5M to PT60M) for PA, found ${quote(this.lastStep)}`);
      kind = 'consumption';
    }
    const unitKind: Kind = energy ? 'consumption' : 'power';
    if (!s.is(c.unit, this.lastUnit) || unitDivisor(this.lastUnit, unitKind) === undefined) {
      const unit = s.field(c.unit);
      if (unitDivisor(unit, unitKind) === undefined) {
        return this.errors.add(line, name(c.unit), `expected ${energy ? 'Wh or kWh for EA' : 'W or kW for PA'}, found ${quote(unit)}`);
      }
      this.lastUnit = unit;
    }
    const divisor = unitDivisor(this.lastUnit, unitKind)!;
    let quality: ReadingQuality = 'good';
    if (c.nature >= 0 && !s.empty(c.nature)) {
      if (!s.is(c.nature, this.lastNature)) {
        this.lastNature = s.field(c.nature);
        this.lastQuality = this.lastNature === 'R' || this.lastNature === 'B' ? 'good' : 'uncertain';
      }
      quality = this.lastQuality;
    }
    if (!this.readTime(text, s.starts[c.time]!, s.ends[c.time]!, line, name(c.time))) return;
    const valueStart = s.starts[c.value]!;
    const valueEnd = s.ends[c.value]!;
    if (kind === 'consumption') {
      const kWh = this.value(text, valueStart, valueEnd, this.lastUnit, divisor, DAY_LIMIT, line, name(c.value));
      if (kWh !== undefined) this.addConsumption(this.prm, kWh, quality, line, name(c.time));
    } else if (energy) {
      // The energy of a step, as its average power.
      const kWh = this.value(text, valueStart, valueEnd, this.lastUnit, divisor, stepEnergyLimit(step), line, name(c.value));
      if (kWh !== undefined) this.addPower(this.prm, (kWh * 60) / step, step, quality, line, name(c.time));
    } else {
      const kW = this.value(text, valueStart, valueEnd, this.lastUnit, divisor, POWER_LIMIT, line, name(c.value));
      if (kW !== undefined) this.addPower(this.prm, kW, step, quality, line, name(c.time));
    }
  }

  /** Reads a time into `this.wall`; false (and an error) when it is not one. */
  private readTime(text: string, start: number, end: number, line: number, column: string): boolean {
    const w = this.wall;
    if (!parseWallTime(text, start, end, w)) {
      this.errors.add(line, column, `expected a date and time such as 2021-01-01T00:30:00+01:00, found ${quote(text.slice(start, end))}`);
      return false;
    }
    if (w.year < FIRST_YEAR || w.year > LAST_YEAR) {
      this.errors.add(line, column, `expected a date from ${FIRST_YEAR} to ${LAST_YEAR}, found ${quote(text.slice(start, end))}`);
      return false;
    }
    return true;
  }

  /** A value read in `unit` as kW or kWh (`divisor` units per kW or kWh), or undefined (and an error). */
  private value(text: string, start: number, end: number, unit: string, divisor: number, limit: ValueLimit, line: number, column: string): number | undefined {
    const value = checkedValue(text, start, end, unit, divisor, limit);
    if (typeof value === 'number') return value;
    this.errors.add(line, column, value);
    return undefined;
  }

  /** A load curve's step ending at `this.wall`. */
  private addPower(prm: string, kW: number, step: number, quality: ReadingQuality, line: number, column: string): void {
    const w = this.wall;
    if (w.second !== 0 || (w.hour * 60 + w.minute) % step !== 0) {
      const grid = step === 60 ? 'hours' : `${step}-minute steps`;
      this.errors.add(line, column, `${quote(wallText(w))} is not on the grid of this ${step}-minute load curve (its times end whole ${grid})`);
      return;
    }
    const stepMs = step * 60_000;
    const slots = step / 5;
    const slotOf = (t: number) => Math.floor((t - stepMs) / SLOT_MS);
    let end: number;
    if (!Number.isNaN(w.offsetMinutes)) {
      end = offsetInstant(w);
      if (!this.slots.claim(prm, slotOf(end), slots)) return this.repeated(line, column);
    } else {
      if (!this.clock.instants(w, this.instants)) {
        this.errors.add(line, column, `${quote(wallText(w))} does not exist in ${this.clock.timezone}: the clocks went forward that night`);
        return;
      }
      end = this.instants[0];
      if (!this.slots.claim(prm, slotOf(end), slots)) {
        // The hour the clocks repeat: a time seen again is its second pass.
        end = this.instants[1];
        if (end === this.instants[0] || !this.slots.claim(prm, slotOf(end), slots)) return this.repeated(line, column);
      }
    }
    this.power.push({ start: end - stepMs, end, kW, quality });
    this.total++;
    if (++this.readings >= CHUNK_READINGS) this.flush();
  }

  private repeated(line: number, column: string): void {
    this.errors.add(line, column, `repeats the step ending ${quote(wallText(this.wall))} an earlier line gave: the first is kept`);
  }

  /** A day's consumption, the day at `this.wall`. */
  private addConsumption(prm: string, kWh: number, quality: ReadingQuality, line: number, column: string): void {
    const w = this.wall;
    let days = daysFromCivil(w.year, w.month, w.day);
    if (!Number.isNaN(w.offsetMinutes)) {
      const t = offsetInstant(w);
      if (this.clock.day(days).start !== t) {
        const local = localDay(t, this.clock.timezone);
        days = daysFromCivil(Number(local.slice(0, 4)), Number(local.slice(5, 7)), Number(local.slice(8, 10)));
        if (this.clock.day(days).start !== t) {
          this.errors.add(line, column, `expected a day at its midnight in ${this.clock.timezone}, found ${quote(wallText(w))}`);
          return;
        }
      }
    } else if (w.hour || w.minute || w.second) {
      this.errors.add(line, column, `expected a day at its midnight, found ${quote(wallText(w))}`);
      return;
    }
    if (!this.slots.claim(`${prm} day`, days, 1)) {
      this.errors.add(line, column, `repeats the day ${new Date(days * 86_400_000).toISOString().slice(0, 10)} an earlier line gave: the first is kept`);
      return;
    }
    const bounds = this.clock.day(days);
    this.consumption.push({ start: bounds.start, end: bounds.end, kWh, quality });
    this.total++;
    if (++this.readings >= CHUNK_READINGS) this.flush();
  }

  private usePrm(prm: string): void {
    if (prm === this.prm) return;
    if (this.readings) this.flush();
    this.prm = prm;
  }

  /** Moves the readings and the errors so far into a chunk. */
  private flush(): void {
    if (!this.readings && !this.errors.hasPending) return;
    const chunk: EnedisChunk = { prm: this.prm, errors: this.errors.take() };
    if (this.power.length) chunk.power = this.power;
    if (this.consumption.length) chunk.consumption = this.consumption;
    this.ready.push(chunk);
    this.power = [];
    this.consumption = [];
    this.readings = 0;
  }

  finish(): void {
    if (this.mode === 'start') throw refuse('the file is empty: expected an Enedis export');
    this.endSection();
    if ((this.mode === 'block' || this.mode === 'body-header') && this.sections <= 1 && this.errors.count === 0) {
      throw refuse('the file ends before its measures: expected a header block, then "Horodate;Valeur" and the measures');
    }
    if (!this.total && this.errors.count === 0) {
      throw refuse("the file holds no measure (every Valeur is empty): is the collection of this delivery point's load curve switched on?");
    }
    this.flush();
  }
}
