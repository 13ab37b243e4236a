import { parse } from 'csv-parse/sync';
import { CityPilotError, deviceConfigSchema, validate, type DiscoveredDevice } from '@citypilot/sdk';
import { draftDevice, uniqueDeviceIds, type BacnetObjectInfo } from './draft.js';
import { DEVICE_OBJECT_TYPE, objectTypeLabel, objectTypeNumber } from './object-types.js';
import { bacnetAddress, bacnetConnection } from './schema.js';

/**
 * Import of EDE files: the Engineering Data Exchange files BACnet integrators hand over (the
 * layout of the BACnet Interest Group Europe, versions 2.x and 3.x). The main file is CSV, most
 * often separated by semicolons (some tools write commas or tabs), with a header block
 * (PROJECT_NAME, VERSION_OF_REFERENCEFILE, TIMESTAMP_OF_LAST_CHANGE, AUTHOR_OF_LAST_CHANGE,
 * VERSION_OF_LAYOUT), a column header line
 *
 *   # keyname;device obj.-instance;object-name;object-type;object-instance;description;
 *   present-value-default;min-present-value;max-present-value;settable;supports COV;hi-limit;
 *   low-limit;state-text-reference;unit-code;vendor-specific-address[;notification-class]
 *
 * and one row per object, types and units by number. A companion state-texts file gives, per
 * reference number, the texts of binary (inactive, active) and multi-state (1, 2, …) objects.
 * The object-types and unit-texts companions only repeat the standard's names: not read.
 *
 * Files come from Windows tools: a BOM, CRLF, Windows-1252 instead of UTF-8 (accents of
 * "Température départ"), rows of empty cells left by spreadsheets. A malformed row is reported
 * by line and column and left out; the others are imported.
 */

/** One problem of a row: where, and what was expected. */
export interface EdeProblem {
  file: string;
  /** Line of the file, from 1 (where the row starts). */
  line: number;
  /** The EDE column, by its standard name (`object-instance`). */
  column?: string;
  message: string;
  /** True when the row was left out; false when only that cell was ignored. */
  skipped: boolean;
}

/** `plant_EDE.csv:14: column object-instance: expected an integer 0..4194302, got "abc"`. */
export function formatEdeProblem(problem: EdeProblem): string {
  const where = problem.column ? `column ${problem.column}: ` : '';
  return `${problem.file}:${problem.line}: ${where}${problem.message}${problem.skipped ? ' (row left out)' : ''}`;
}

/** A file that cannot be imported at all: empty, not EDE, no usable row. */
export class EdeFileError extends CityPilotError {
  /** The rows' problems, when the file had rows but none usable. */
  readonly problems: readonly EdeProblem[];

  constructor(message: string, problems: readonly EdeProblem[] = [], options?: { cause?: unknown }) {
    super('EDE_FILE_UNUSABLE', message, options);
    this.problems = problems;
  }
}

/** The header block of an EDE file. */
export interface EdeProject {
  name?: string;
  version?: string;
  timestamp?: string;
  author?: string;
  layoutVersion?: string;
}

/** One object row of an EDE file. */
export interface EdeObject extends BacnetObjectInfo {
  deviceInstance: number;
  line: number;
  stateTextReference?: number;
}

/** A device object row (object type 8): its instance and name. */
export interface EdeDevice {
  deviceInstance: number;
  name: string;
  description?: string;
  line: number;
}

/** An EDE file as read, before drafting. */
export interface EdeFile {
  file: string;
  encoding: 'utf-8' | 'windows-1252' | 'utf-16le' | 'utf-16be';
  separator: ';' | ',' | '\t';
  project: EdeProject;
  devices: EdeDevice[];
  objects: EdeObject[];
  problems: EdeProblem[];
  /** What the technician should know of the file as a whole. */
  notes: string[];
}

type Column = 'keyname' | 'device' | 'name' | 'type' | 'instance' | 'description' | 'settable' | 'cov' | 'stateText' | 'unit';

/** The standard's name of each column read, for messages. */
const COLUMN_TITLES: Record<Column, string> = {
  keyname: 'keyname',
  device: 'device obj.-instance',
  name: 'object-name',
  type: 'object-type',
  instance: 'object-instance',
  description: 'description',
  settable: 'settable',
  cov: 'supports COV',
  stateText: 'state-text-reference',
  unit: 'unit-code',
};

/** Header cells, lowercase without `#`, spaces and punctuation, that name each column; tools vary. */
const COLUMN_NAMES: Record<Column, readonly string[]> = {
  keyname: ['keyname'],
  device: ['deviceobjinstance', 'deviceobjectinstance', 'deviceinstance', 'deviceobjinst', 'deviceobjectinst'],
  name: ['objectname', 'objname'],
  type: ['objecttype', 'objtype'],
  instance: ['objectinstance', 'objinstance', 'objectinst'],
  description: ['description'],
  settable: ['settable', 'commandable', 'writable'],
  cov: ['supportscov', 'cov', 'covsupported'],
  stateText: ['statetextreference', 'statetextref', 'statetext'],
  unit: ['unitcode', 'unit', 'units'],
};

/** Positions of the columns in the standard layout, for a header line whose names are not recognised. */
const STANDARD_POSITIONS: Record<Column, number> = {
  keyname: 0,
  device: 1,
  name: 2,
  type: 3,
  instance: 4,
  description: 5,
  settable: 9,
  cov: 10,
  stateText: 13,
  unit: 14,
};

const MANDATORY: readonly Column[] = ['device', 'name', 'type', 'instance'];
const MAX_INSTANCE = 4194302;

const HEADER_KEYS: Record<string, keyof EdeProject> = {
  PROJECT_NAME: 'name',
  VERSION_OF_REFERENCEFILE: 'version',
  TIMESTAMP_OF_LAST_CHANGE: 'timestamp',
  AUTHOR_OF_LAST_CHANGE: 'author',
  VERSION_OF_LAYOUT: 'layoutVersion',
};

/** Text of a file whose encoding is not declared: UTF-16 by its BOM, UTF-8 when valid, else Windows-1252. */
export function decodeText(bytes: Uint8Array): { text: string; encoding: EdeFile['encoding'] } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes), encoding: 'utf-16le' };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes), encoding: 'utf-16be' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    // Not UTF-8: the tools that write EDE files on Windows use its ANSI code page, of which
    // Latin-1 is a subset (TextDecoder's 'latin1' is this same Windows-1252).
    return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252' };
  }
}

/** One CSV record with the line it starts on. */
interface Row {
  line: number;
  cells: string[];
}

/** Records of a CSV text, each with its first line; line ends already made `\n`. */
function csvRows(text: string, separator: string, file: string): Row[] {
  let records: { record: string[]; info: { lines: number }; raw: string }[];
  try {
    // With info and raw, csv-parse gives objects, which its typings do not follow.
    records = parse(text, { delimiter: separator, relax_quotes: true, relax_column_count: true, info: true, raw: true }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new EdeFileError(`${file}${line ? `:${line}` : ''}: not readable as CSV: ${(error as Error).message}`, [], { cause: error });
  }
  return records.map(({ record, info, raw }) => ({ line: info.lines - (raw.replace(/\n$/, '').match(/\n/g)?.length ?? 0), cells: record }));
}

function normalise(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/^\uFEFF/, '');
}

/** A header cell reduced to letters and digits: `# Device obj.-Instance` → `deviceobjinstance`. */
function columnKey(cell: string): string {
  return cell.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const isHeaderLine = (line: string) => /^\s*"?\s*#?\s*key\s*-?\s*name\b/i.test(line);

/**
 * Reads an EDE main file. Rows with problems are in `problems` (and left out when a mandatory
 * cell is wrong); the file's notes say what was guessed.
 * @throws EdeFileError when the file is empty or not an EDE file
 */
export function readEde(bytes: Uint8Array, file: string): EdeFile {
  const { text: raw, encoding } = decodeText(bytes);
  const text = normalise(raw);
  if (!text.trim()) throw new EdeFileError(`${file}: the file is empty`);
  const lines = text.split('\n');
  const headerIndex = lines.findIndex(isHeaderLine);
  if (headerIndex < 0) {
    const stateTexts = lines.some((l) => /reference/i.test(l) && /text/i.test(l));
    throw new EdeFileError(
      `${file}: not an EDE file: no column header line such as "# keyname;device obj.-instance;object-name;object-type;object-instance;…" found` +
        (stateTexts ? ' (it looks like a state-texts file: give the main EDE file, and this one with --state-texts)' : ''),
    );
  }
  const headerLine = lines[headerIndex]!;
  // The header line's most frequent candidate is the separator: descriptions may hold commas,
  // but the header's 16 or 17 column names are separated by it.
  const separator = ([';', ',', '\t'] as const).map((s) => ({ s, n: headerLine.split(s).length - 1 })).sort((a, b) => b.n - a.n)[0]!;
  if (separator.n < 4)
    throw new EdeFileError(`${file}:${headerIndex + 1}: the column header line has no separator (semicolon, comma or tab) between its columns`);

  const result: EdeFile = { file, encoding, separator: separator.s, project: {}, devices: [], objects: [], problems: [], notes: [] };
  if (encoding !== 'utf-8')
    result.notes.push(`${file} is not UTF-8: read as ${encoding === 'windows-1252' ? 'Windows-1252 (Latin-1)' : encoding.toUpperCase()}; check accented names`);
  let columns: Partial<Record<Column, number>> | undefined;
  const seen = new Map<string, number>();
  for (const row of csvRows(text, separator.s, file)) {
    const first = (row.cells[0] ?? '').trim();
    if (!columns) {
      if (isHeaderLine(row.cells.join(separator.s))) {
        columns = mapColumns(row.cells, result.notes, file, row.line);
        continue;
      }
      const key = HEADER_KEYS[first.replace(/^#\s*/, '').toUpperCase()];
      if (key && row.cells[1]?.trim()) result.project[key] = row.cells[1].trim();
      continue;
    }
    if (row.cells.every((c) => c.trim() === '') || first.startsWith('#')) continue;
    readRow(row, columns, result, seen);
  }
  const layout = result.project.layoutVersion;
  if (layout && !/^[23](\.|$)/.test(layout)) result.notes.push(`VERSION_OF_LAYOUT is ${layout}: read as the 2.x/3.x layout, check the drafts`);
  return result;
}

function mapColumns(cells: readonly string[], notes: string[], file: string, line: number): Partial<Record<Column, number>> {
  const columns: Partial<Record<Column, number>> = {};
  cells.forEach((cell, i) => {
    const key = columnKey(cell);
    for (const [column, names] of Object.entries(COLUMN_NAMES) as [Column, readonly string[]][]) {
      if (columns[column] === undefined && names.includes(key)) columns[column] = i;
    }
  });
  if (MANDATORY.every((c) => columns[c] !== undefined)) return columns;
  notes.push(
    `${file}:${line}: column names not recognised (${MANDATORY.filter((c) => columns[c] === undefined)
      .map((c) => COLUMN_TITLES[c])
      .join(', ')}): columns read in the standard EDE order`,
  );
  return STANDARD_POSITIONS;
}

function readRow(row: Row, columns: Partial<Record<Column, number>>, result: EdeFile, seen: Map<string, number>): void {
  const cell = (c: Column) => (columns[c] === undefined ? '' : (row.cells[columns[c]!] ?? '').trim());
  const problems: EdeProblem[] = [];
  const problem = (column: Column | undefined, message: string, skipped: boolean) =>
    problems.push({ file: result.file, line: row.line, ...(column ? { column: COLUMN_TITLES[column] } : {}), message, skipped });

  const device = integer(cell('device'), 0, MAX_INSTANCE);
  if (device === undefined) problem('device', expected(`an integer 0..${MAX_INSTANCE}`, cell('device')), true);
  const name = cell('name');
  if (!name) problem('name', "is empty: expected the object's name", true);
  const typeText = cell('type');
  const type = integer(typeText, 0, 1023) ?? objectTypeNumber(typeText.toLowerCase());
  if (type === undefined) problem('type', expected('an object type number 0..1023 (0 analog-input, 3 binary-input, 8 device …)', typeText), true);
  const instance = integer(cell('instance'), 0, MAX_INSTANCE);
  if (instance === undefined) problem('instance', expected(`an integer 0..${MAX_INSTANCE}`, cell('instance')), true);

  // Optional cells: a bad one is ignored, the row kept.
  let units: number | undefined;
  if (cell('unit')) {
    units = integer(cell('unit'), 0, 65535);
    if (units === undefined) problem('unit', `${expected('a BACnet unit number such as 62 (°C)', cell('unit'))}: unit left out`, false);
  }
  const settable = flag(cell('settable'));
  if (settable === null) problem('settable', `${expected('Y or N (or 1, 0, true, false)', cell('settable'))}: ignored`, false);
  const supportsCov = flag(cell('cov'));
  if (supportsCov === null) problem('cov', `${expected('Y or N (or 1, 0, true, false)', cell('cov'))}: ignored`, false);
  let stateTextReference: number | undefined;
  if (cell('stateText')) {
    stateTextReference = integer(cell('stateText'), 0, Number.MAX_SAFE_INTEGER);
    if (stateTextReference === undefined) problem('stateText', `${expected('a reference number of the state-texts file', cell('stateText'))}: ignored`, false);
  }

  if (device !== undefined && type !== undefined && instance !== undefined && name) {
    const key = `${device}:${type}:${instance}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) problem('instance', `${objectTypeLabel(type)} ${instance} of device ${device} is already on line ${earlier}`, true);
    else seen.set(key, row.line);
    if (type === DEVICE_OBJECT_TYPE && earlier === undefined) {
      if (instance !== device)
        problem('instance', `the device object's instance ${instance} differs from device obj.-instance ${device}: the device is taken as ${device}`, false);
      const description = cell('description');
      result.devices.push({ deviceInstance: device, name, line: row.line, ...(description ? { description } : {}) });
    } else if (earlier === undefined) {
      const description = cell('description');
      result.objects.push({
        deviceInstance: device,
        line: row.line,
        source: `${result.file}:${row.line}`,
        objectType: type,
        instance,
        objectName: name,
        ...(description ? { description } : {}),
        ...(units !== undefined ? { units } : {}),
        ...(settable !== undefined && settable !== null ? { settable } : {}),
        ...(supportsCov !== undefined && supportsCov !== null ? { supportsCov } : {}),
        ...(stateTextReference !== undefined && stateTextReference > 0 ? { stateTextReference } : {}),
      });
    }
  }
  result.problems.push(...problems);
}

function expected(what: string, got: string): string {
  return got === '' ? `is empty: expected ${what}` : `expected ${what}, got ${JSON.stringify(got)}`;
}

function integer(text: string, min: number, max: number): number | undefined {
  if (!/^\+?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** Y/N as tools write it; undefined when empty, null when not understood. */
function flag(text: string): boolean | undefined | null {
  if (text === '') return undefined;
  const t = text.toLowerCase();
  if (['y', 'yes', 'j', 'ja', 'o', 'oui', '1', 'true', 't', 'x', 'w'].includes(t)) return true;
  if (['n', 'no', 'nein', 'non', '0', 'false', 'f', '-', 'r'].includes(t)) return false;
  return null;
}

/**
 * Reads a state-texts file: `reference;text 1;text 2;…` per line after its header, texts of
 * binary objects being inactive then active, of multi-state ones states 1, 2, ….
 */
export function readStateTexts(bytes: Uint8Array, file: string): { texts: Map<number, string[]>; problems: EdeProblem[] } {
  const text = normalise(decodeText(bytes).text);
  const sample = text.split('\n').find((l) => l.trim() && !l.trim().startsWith('#')) ?? text.split('\n')[0] ?? '';
  const separator = ([';', ',', '\t'] as const).map((s) => ({ s, n: sample.split(s).length - 1 })).sort((a, b) => b.n - a.n)[0]!.s;
  const texts = new Map<number, string[]>();
  const problems: EdeProblem[] = [];
  let first = true;
  for (const row of csvRows(text, separator, file)) {
    const head = (row.cells[0] ?? '').trim();
    if (row.cells.every((c) => c.trim() === '') || head.startsWith('#')) continue;
    const reference = integer(head, 0, Number.MAX_SAFE_INTEGER);
    if (reference === undefined) {
      // A header line without its '#'.
      if (!first) problems.push({ file, line: row.line, column: 'reference', message: expected('a reference number', head), skipped: true });
    } else {
      const cells = row.cells.slice(1).map((c) => c.trim());
      while (cells.length && cells[cells.length - 1] === '') cells.pop();
      texts.set(reference, cells);
    }
    first = false;
  }
  return { texts, problems };
}

/** What `importEde` is given besides the file. */
export interface EdeImportOptions {
  /** Name of the file, for messages. */
  file: string;
  /** Draft only this device. */
  deviceInstance?: number;
  /** The device's IP address (with :port when not 47808): only with one device. */
  address?: string;
  /** The companion state-texts file. */
  stateTexts?: { bytes: Uint8Array; file: string };
}

/** Draft device blocks from an EDE file, with what went wrong in it. */
export interface EdeImport {
  ede: EdeFile;
  /** One per device instance of the file (or the one asked for) that has points. */
  drafts: DiscoveredDevice[];
  /** Problems of rows of the main file and of the state-texts file. */
  problems: EdeProblem[];
  /** Notes on the file as a whole. */
  notes: string[];
}

/**
 * Reads an EDE file and drafts one device block per device instance it describes, in the shape
 * of discovery's drafts, each checked against the plugin's schema.
 * @throws EdeFileError when nothing can be drafted: empty file, not EDE, no usable row, the
 *   device asked for not in the file
 */
export function importEde(bytes: Uint8Array, options: EdeImportOptions): EdeImport {
  const ede = readEde(bytes, options.file);
  const problems = [...ede.problems];
  const notes = [...ede.notes];
  let stateTexts: Map<number, string[]> | undefined;
  if (options.stateTexts) {
    const read = readStateTexts(options.stateTexts.bytes, options.stateTexts.file);
    stateTexts = read.texts;
    problems.push(...read.problems);
  }

  // Devices in the order the file first names them, by a device row or an object's.
  const order: number[] = [];
  for (const d of [...ede.devices, ...ede.objects].sort((a, b) => a.line - b.line)) if (!order.includes(d.deviceInstance)) order.push(d.deviceInstance);
  const named = new Map(ede.devices.map((d) => [d.deviceInstance, d]));
  let instances = order;
  if (options.deviceInstance !== undefined) {
    if (!order.includes(options.deviceInstance)) {
      const list = order.map((i) => (named.get(i) ? `${i} (${named.get(i)!.name})` : String(i))).join(', ');
      throw new EdeFileError(`${options.file}: device instance ${options.deviceInstance} is not in the file${list ? `; it describes ${list}` : ''}`, problems);
    }
    instances = [options.deviceInstance];
  }

  const unknownReferences = new Set<number>();
  let referenced = 0;
  const drafts: ReturnType<typeof draftDevice>[] = [];
  for (const instance of instances) {
    const objects = ede.objects
      .filter((o) => o.deviceInstance === instance)
      .map((o) => {
        if (o.stateTextReference === undefined) return o;
        referenced++;
        const texts = stateTexts?.get(o.stateTextReference);
        if (stateTexts && !texts) unknownReferences.add(o.stateTextReference);
        return texts ? { ...o, stateTexts: texts } : o;
      });
    const device = named.get(instance);
    const deviceNotes = device ? [] : [`no device object row (object type 8) for instance ${instance} in ${options.file}: named after its instance`];
    const draft = draftDevice(
      { deviceInstance: instance, ...(device ? { name: device.name } : {}), ...(options.address ? { address: options.address } : {}) },
      objects,
      deviceNotes,
    );
    if (!draft.device.points.length) {
      notes.push(`device ${instance}${device ? ` (${device.name})` : ''} has no object a point can read in ${options.file}: not drafted`);
      continue;
    }
    drafts.push(draft);
  }
  if (!drafts.length) {
    const why =
      ede.objects.length || problems.some((p) => p.skipped) ? 'no row of the file could be drafted' : 'the file has no object rows after its column header';
    throw new EdeFileError(`${options.file}: ${why}`, problems);
  }
  if (options.address && drafts.length > 1) {
    throw new EdeFileError(
      `${options.file}: an address is for one device, and the file describes ${drafts.length} (${drafts.map((d) => (d.device.connection as { deviceInstance: number }).deviceInstance).join(', ')}): choose one by its instance`,
    );
  }
  uniqueDeviceIds(drafts);
  if (!stateTexts && referenced) notes.push(`${referenced} object(s) refer to state texts: give the state-texts file to see them in the notes`);
  if (unknownReferences.size)
    notes.push(`state-text references not in ${options.stateTexts!.file}: ${[...unknownReferences].sort((a, b) => a - b).join(', ')}`);

  // The drafts must be blocks the gateway accepts once the plugin is there; a failure here is a
  // bug of the drafting, not of the file.
  const schema = deviceConfigSchema(bacnetConnection, bacnetAddress);
  for (const draft of drafts) {
    const checked = validate(schema, draft.device);
    if (!checked.ok)
      throw new Error(`EDE import drafted an invalid device block: ${checked.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { ede, drafts, problems, notes };
}
