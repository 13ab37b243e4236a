import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deviceConfigSchema, parseConfig } from '@citypilot/sdk';
import { EdeFileError, formatEdeProblem, importEde, readEde, type EdeImport } from './ede.js';
import { bacnetAddress, bacnetConnection } from './schema.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'testcases', 'ede');
const mairie = readFileSync(join(fixtures, 'Mairie_EDE.csv'));
const mairieStates = readFileSync(join(fixtures, 'Mairie_StateTexts.csv'));
const schema = deviceConfigSchema(bacnetConnection, bacnetAddress);

const HEADER = [
  '# Engineering-Data-Exchange - B.I.G.-EU',
  'PROJECT_NAME;Test site',
  'VERSION_OF_REFERENCEFILE;1',
  'TIMESTAMP_OF_LAST_CHANGE;01.12.2026',
  'AUTHOR_OF_LAST_CHANGE;CityPilot tests',
  'VERSION_OF_LAYOUT;2.3',
  '#mandatory;mandatory;mandatory;mandatory;mandatory;optional;optional;optional;optional;optional;optional;optional;optional;optional;optional;optional',
  '# keyname;device obj.-instance;object-name;object-type;object-instance;description;present-value-default;min-present-value;max-present-value;settable;supports COV;hi-limit;low-limit;state-text-reference;unit-code;vendor-specific-address',
];

/** An EDE row from its main cells; the columns in between are left empty, as tools do. */
function row(key: string, device: string, name: string, type: string, instance: string, description = '', unit = '', settable = '', cov = ''): string {
  return [key, device, name, type, instance, description, '', '', '', settable, cov, '', '', '', unit, ''].join(';');
}

function edeText(rows: readonly string[]): string {
  return [...HEADER, ...rows].join('\r\n') + '\r\n';
}

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The drafts without the notes, for comparing imports of the same content written differently. */
const devices = (result: EdeImport) => result.drafts.map((d) => d.device);

/** Rewrites a semicolon file (without quotes) with another separator, quoting cells as CSV wants. */
function withSeparator(text: string, separator: string): string {
  return text
    .split('\r\n')
    .map((line) =>
      line
        .split(';')
        .map((cell) => (cell.includes(separator) || cell.includes('"') ? `"${cell.replace(/"/g, '""')}"` : cell))
        .join(separator),
    )
    .join('\r\n');
}

describe("EDE import of an integrator's file", () => {
  const result = importEde(mairie, { file: 'Mairie_EDE.csv', stateTexts: { bytes: mairieStates, file: 'Mairie_StateTexts.csv' } });

  it('reads the header block and the Windows-1252 names', () => {
    expect(result.ede.encoding).toBe('windows-1252');
    expect(result.ede.separator).toBe(';');
    expect(result.ede.project).toEqual({
      name: 'Mairie annexe - GTC',
      version: '4',
      timestamp: '14.03.2025',
      author: 'J. Lefèvre, Thermique Services',
      layoutVersion: '2.3',
    });
    expect(result.notes).toContain('Mairie_EDE.csv is not UTF-8: read as Windows-1252 (Latin-1); check accented names');
    expect(result.problems).toEqual([]);
  });

  it('drafts one device block per device instance, named after its device object, that the schema accepts', () => {
    expect(result.drafts.map((d) => [d.device.id, d.device.name, d.device.connection])).toEqual([
      ['cta-01-mairie', 'CTA-01 Mairie', { deviceInstance: 11001 }],
      ['chaufferie-mairie', 'Chaufferie Mairie', { deviceInstance: 11002 }],
      ['salles-rdc', 'Salles RDC', { deviceInstance: 11003 }],
    ]);
    for (const draft of result.drafts) {
      const device = parseConfig(schema, draft.device);
      expect(device.plugin).toBe('bacnet');
      expect(device.connection.mode).toBe('cov');
      expect(device.points.every((p) => p.writable === false)).toBe(true);
    }
  });

  it('makes points with units, kinds, addresses and tags from the rows', () => {
    const points = Object.fromEntries(result.drafts.flatMap((d) => (d.device.points as { id: string }[]).map((p) => [`${d.device.id}.${p.id}`, p])));
    expect(points['cta-01-mairie.cta01-tsoufflage']).toEqual({
      id: 'cta01-tsoufflage',
      name: 'Température soufflage',
      unit: '°C',
      kind: 'number',
      tags: ['air', 'temp', 'supply', 'sensor'],
      address: { objectType: 'analog-input', instance: 1 },
    });
    expect(points['cta-01-mairie.cta01-text']).toMatchObject({ tags: ['air', 'temp', 'outside', 'sensor'] });
    expect(points['cta-01-mairie.cta01-co2-reprise']).toMatchObject({ unit: 'ppm', tags: ['air', 'co2', 'sensor'] });
    expect(points['cta-01-mairie.cta01-hr-reprise']).toMatchObject({ unit: '%RH', tags: ['air', 'humidity', 'return', 'sensor'] });
    expect(points['cta-01-mairie.cta01-debit-souf']).toMatchObject({ unit: 'm3/h', tags: ['air', 'flow', 'supply', 'sensor'] });
    // Settable in the file: the technician decides; supports COV N: polled.
    expect(points['cta-01-mairie.cta01-v3v-chaud']).toMatchObject({
      unit: '%',
      tags: ['valve', 'cmd'],
      writable: false,
      address: { objectType: 'analog-output', instance: 1 },
    });
    expect(points['cta-01-mairie.cta01-dp-filtre']).toMatchObject({ unit: 'Pa', address: { objectType: 'analog-input', instance: 6, read: 'poll' } });
    expect(points['cta-01-mairie.cta01-ventsouf-cmd']).toMatchObject({
      kind: 'boolean',
      tags: ['fan', 'cmd'],
      address: { objectType: 'binary-output', instance: 1 },
    });
    expect(points['cta-01-mairie.cta01-ventsouf-etat']).toMatchObject({ kind: 'boolean', tags: ['fan', 'run', 'sensor'] });
    expect(points['cta-01-mairie.cta01-ventsouf-def']).toMatchObject({ kind: 'boolean', tags: ['fan', 'alarm', 'sensor'] });
    expect(points['cta-01-mairie.cta01-csg-tsouf']).toMatchObject({ tags: ['air', 'temp', 'supply', 'sp'] });
    expect(points['cta-01-mairie.cta01-regime']).toMatchObject({ kind: 'number', tags: ['mode'], address: { objectType: 'multi-state-value', instance: 1 } });
    expect(points['chaufferie-mairie.ch-tdep-radiateurs']).toMatchObject({ tags: ['heat', 'water', 'temp', 'supply', 'sensor'] });
    expect(points['chaufferie-mairie.ch-compteur-chaleur']).toMatchObject({
      unit: 'kWh',
      tags: ['heat', 'meter', 'energy', 'sensor'],
      address: { objectType: 'accumulator', instance: 1, read: 'poll' },
    });
    expect(points['chaufferie-mairie.ch-compteur-gaz']).toMatchObject({ unit: 'm3', tags: ['gas', 'meter', 'volume', 'sensor'] });
    expect(points['salles-rdc.salle-mariages-eclairement']).toMatchObject({ unit: 'lx', name: 'Salle mariages Eclairement' });
    expect(points['salles-rdc.salle-mariages-presence']).toMatchObject({ tags: ['occupied', 'sensor'] });
  });

  it('gives objects with the same name unique ids, and notes what it left out or guessed', () => {
    const rooms = result.drafts[2]!;
    expect((rooms.device.points as { id: string }[]).map((p) => p.id).filter((id) => id.startsWith('temperature'))).toEqual([
      'temperature-ambiance-ai1',
      'temperature-ambiance-ai2',
    ]);
    expect(rooms.notes).toContain(
      'several objects make the id "temperature-ambiance": ids made unique with the object\'s type and instance (temperature-ambiance-ai1, temperature-ambiance-ai2)',
    );
    expect(rooms.notes).toContain('unit code 300 (Salle mariages Q_air) has no CityPilot symbol: unit left out, set it by hand');
    expect(rooms.notes).toContain('states of salle-mariages-presence: false = Inoccupé, true = Occupé');
    const [ahu, plant] = result.drafts;
    // Each kind of object left out with the reason it cannot be a point.
    expect(ahu!.notes.filter((n) => n.startsWith('left out'))).toEqual([
      'left out: 1 schedule object(s): schedules and calendars hold what they command or which days they cover, not a measurement: read the objects they command',
      'left out: 1 trend-log object(s): logs keep the history of other objects: read those objects',
    ]);
    expect(plant!.notes.filter((n) => n.startsWith('left out'))).toEqual([
      expect.stringMatching(/^left out: 1 notification-class object\(s\): no present value a point can hold/),
      expect.stringMatching(/^left out: 1 proprietary object type 130 object\(s\): proprietary objects whose present value could not be read/),
    ]);
    expect(ahu!.notes).toContain('states of cta01-regime: 1 = Arrêt, 2 = Confort, 3 = Réduit, 4 = Hors-gel');
    expect(ahu!.notes.find((n) => n.startsWith('writable objects'))).toMatch(
      /cta01-v3v-chaud, cta01-registre-an, cta01-ventsouf-cmd, cta01-csg-tsouf, cta01-regime$/,
    );
    expect(plant!.notes.find((n) => n.startsWith('energy points'))).toBeUndefined();
    expect(ahu!.notes[0]).toMatch(/^no address: the gateway will look for device 11001 with a Who-Is/);
  });

  it('reads the same drafts from the file in UTF-8 with a BOM, with commas, with tabs, in UTF-16', () => {
    const text = new TextDecoder('windows-1252').decode(mairie);
    const states = { bytes: mairieStates, file: 'Mairie_StateTexts.csv' };
    const bom = importEde(utf8('\uFEFF' + text), { file: 'bom.csv', stateTexts: states });
    expect(bom.ede.encoding).toBe('utf-8');
    expect(bom.notes).toEqual([]);
    expect(devices(bom)).toEqual(devices(result));
    const commas = importEde(utf8(withSeparator(text, ',')), { file: 'commas.csv', stateTexts: states });
    expect(commas.ede.separator).toBe(',');
    expect(commas.ede.project.author).toBe('J. Lefèvre, Thermique Services');
    expect(devices(commas)).toEqual(devices(result));
    const tabs = importEde(utf8(withSeparator(text, '\t').replace(/\r\n/g, '\n')), { file: 'tabs.csv', stateTexts: states });
    expect(tabs.ede.separator).toBe('\t');
    expect(devices(tabs)).toEqual(devices(result));
    // Excel's "Unicode text": UTF-16 little-endian with a BOM, tab-separated.
    const unicode = importEde(Buffer.from('\uFEFF' + withSeparator(text, '\t'), 'utf16le'), { file: 'unicode.txt', stateTexts: states });
    expect(unicode.ede.encoding).toBe('utf-16le');
    expect(devices(unicode)).toEqual(devices(result));
  });

  it('drafts one device on request, with its address', () => {
    const one = importEde(mairie, { file: 'Mairie_EDE.csv', deviceInstance: 11002, address: '192.168.10.21' });
    expect(one.drafts.map((d) => d.device.connection)).toEqual([{ deviceInstance: 11002, address: '192.168.10.21' }]);
    expect(one.drafts[0]!.notes.some((n) => n.startsWith('no address'))).toBe(false);
    expect(one.notes).toContain('3 object(s) refer to state texts: give the state-texts file to see them in the notes');
    expect(() => importEde(mairie, { file: 'Mairie_EDE.csv', deviceInstance: 4 })).toThrow(
      'Mairie_EDE.csv: device instance 4 is not in the file; it describes 11001 (CTA-01 Mairie), 11002 (Chaufferie Mairie), 11003 (Salles RDC)',
    );
    expect(() => importEde(mairie, { file: 'Mairie_EDE.csv', address: '192.168.10.21' })).toThrow(
      /an address is for one device, and the file describes 3 \(11001, 11002, 11003\)/,
    );
  });
});

describe('EDE rows that cannot be read', () => {
  it('reports each by line and column and imports the others', () => {
    const text = edeText([
      row('dev', '1001', 'Plant', '8', '1001'),
      row('t1', '1001', 'T1', '0', 'abc', 'first'), // line 10
      row('t2', '1001', '', '0', '2'),
      row('t3', 'x', 'T3', '0', '3'),
      row('t4', '1001', 'T4', 'AI', '4'),
      row('t5', '1001', 'T5', '0', '5', 'unit as text', '°C'),
      row('t6', '1001', 'T6', '0', '6', '', '62', 'maybe'),
      row('t7', '1001', 'T7', '0', '7', '', '62'),
      row('t7bis', '1001', 'T7 again', '0', '7', '', '62'),
      row('t8', '1001', 'T8', '0', '4194303'),
    ]);
    const result = importEde(utf8(text), { file: 'site.csv' });
    expect(result.problems.map(formatEdeProblem)).toEqual([
      'site.csv:10: column object-instance: expected an integer 0..4194302, got "abc" (row left out)',
      "site.csv:11: column object-name: is empty: expected the object's name (row left out)",
      'site.csv:12: column device obj.-instance: expected an integer 0..4194302, got "x" (row left out)',
      'site.csv:13: column object-type: expected an object type number 0..1023 (0 analog-input, 3 binary-input, 8 device …), got "AI" (row left out)',
      'site.csv:14: column unit-code: expected a BACnet unit number such as 62 (°C), got "°C": unit left out',
      'site.csv:15: column settable: expected Y or N (or 1, 0, true, false), got "maybe": ignored',
      'site.csv:17: column object-instance: analog-input 7 of device 1001 is already on line 16 (row left out)',
      'site.csv:18: column object-instance: expected an integer 0..4194302, got "4194303" (row left out)',
    ]);
    const points = result.drafts[0]!.device.points as { id: string; unit?: string }[];
    expect(points.map((p) => p.id)).toEqual(['t5', 't6', 't7']);
    expect(points[0]!.unit).toBeUndefined();
    parseConfig(schema, result.drafts[0]!.device);
  });

  it('keeps line numbers right across quoted cells, comments, blank and empty rows', () => {
    const text =
      '\uFEFF' +
      edeText([
        row('a', '7', '"AHU ""north"""', '0', '1', '"Supply air; after the coil\nsecond line of the description"', '62', 'perhaps'), // lines 9-10
        '',
        '# a comment from the integrator',
        ';;;;;;;;;;;;;;;',
        row('b', '7', 'B', '0', 'zz'), // line 14
      ]);
    const result = importEde(utf8(text), { file: 'quoted.csv' });
    expect(result.problems.map(formatEdeProblem)).toEqual([
      // A row is reported on the line it starts on.
      'quoted.csv:9: column settable: expected Y or N (or 1, 0, true, false), got "perhaps": ignored',
      'quoted.csv:14: column object-instance: expected an integer 0..4194302, got "zz" (row left out)',
    ]);
    expect(result.drafts[0]!.device).toMatchObject({
      id: 'device-7',
      name: 'BACnet device 7',
      points: [{ id: 'ahu-north', name: 'Supply air; after the coil\nsecond line of the description', unit: '°C' }],
    });
    expect(result.drafts[0]!.notes).toContain('no device object row (object type 8) for instance 7 in quoted.csv: named after its instance');
  });

  it('refuses an empty file, a file that is not EDE, a file without usable rows, with the reason', () => {
    const refused = (bytes: Uint8Array) => {
      try {
        importEde(bytes, { file: 'x.csv' });
      } catch (error) {
        expect(error).toBeInstanceOf(EdeFileError);
        return error as EdeFileError;
      }
      throw new Error('accepted');
    };
    expect(refused(utf8('')).message).toBe('x.csv: the file is empty');
    expect(refused(utf8('\uFEFF\r\n \r\n')).message).toBe('x.csv: the file is empty');
    expect(refused(utf8('date;mean_c\n2026-01-01;4.5\n')).message).toMatch(
      /^x\.csv: not an EDE file: no column header line such as "# keyname;device obj\.-instance;/,
    );
    expect(refused(mairieStates).message).toMatch(/it looks like a state-texts file/);
    expect(refused(utf8(edeText([]))).message).toBe('x.csv: the file has no object rows after its column header');
    const bad = refused(utf8(edeText([row('a', '1', 'A', '0', '-1'), row('b', '1', 'B', 'x', '2')])));
    expect(bad.message).toBe('x.csv: no row of the file could be drafted');
    expect(bad.problems.map(formatEdeProblem)).toEqual([
      'x.csv:9: column object-instance: expected an integer 0..4194302, got "-1" (row left out)',
      'x.csv:10: column object-type: expected an object type number 0..1023 (0 analog-input, 3 binary-input, 8 device …), got "x" (row left out)',
    ]);
    // Only objects no point reads: nothing to draft, said as such.
    expect(refused(utf8(edeText([row('s', '1', 'Schedule', '17', '1')]))).message).toBe('x.csv: no row of the file could be drafted');
    expect(refused(utf8(edeText(['"unclosed;1;A;0;1']))).message).toMatch(/^x\.csv:\d+: not readable as CSV: Quote Not Closed/);
  });

  it('reads a header whose column names it does not know in the standard order, and says so', () => {
    const text = edeText([row('a', '5', 'Room temp', '0', '1', '', '62')]).replace('# keyname;device obj.-instance;object-name', '# keyname;Geraet;Objektname');
    const ede = readEde(utf8(text), 'de.csv');
    expect(ede.notes).toEqual(['de.csv:8: column names not recognised (device obj.-instance, object-name): columns read in the standard EDE order']);
    expect(ede.objects).toMatchObject([{ deviceInstance: 5, objectName: 'Room temp', objectType: 0, instance: 1, units: 62 }]);
  });
});
