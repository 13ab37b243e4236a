import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { ConsumptionReading, PowerReading, RowError } from '../readings.js';
import {
  CHUNK_READINGS,
  MAX_LINE_CHARS,
  parseBillsCsv,
  parseEnedisCsv,
  parseGrdfCsv,
  ROW_ERRORS_LISTED,
  UtilityImportError,
  type BillChunk,
  type EnedisChunk,
  type GrdfChunk,
  type ImportedBillLine,
  type OmittedErrors,
} from './index.js';

const TZ = 'Europe/Paris';
const at = (iso: string) => Date.parse(iso);

/** A fixture's bytes (tests run from hub/dist; the fixtures stay in hub/src). */
const fixture = (name: string) => readFile(new URL(`../../../src/utility/imports/fixtures/${name}`, import.meta.url));

/** `bytes` as an upload arrives: in pieces of `size` bytes. */
async function* upload(bytes: Uint8Array | string, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  const all = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  for (let i = 0; i < all.length; i += size) yield all.subarray(i, i + size);
}

interface Collected<C> {
  chunks: C[];
  errors: RowError[];
  omitted: number;
}

async function collect<C extends { errors: RowError[] }>(items: AsyncIterable<C | OmittedErrors>): Promise<Collected<C>> {
  const result: Collected<C> = { chunks: [], errors: [], omitted: 0 };
  for await (const item of items) {
    if ('omittedErrors' in item) result.omitted = item.omittedErrors;
    else {
      result.chunks.push(item);
      result.errors.push(...item.errors);
    }
  }
  return result;
}

async function refusal(items: AsyncIterable<unknown>): Promise<UtilityImportError> {
  try {
    for await (const _ of items);
  } catch (error) {
    if (error instanceof UtilityImportError) return error;
    throw error;
  }
  throw new Error('the file was not refused');
}

const power = (r: Collected<EnedisChunk>): PowerReading[] => r.chunks.flatMap((c) => c.power ?? []);
const days = (r: Collected<EnedisChunk | GrdfChunk>): ConsumptionReading[] => r.chunks.flatMap((c) => c.consumption ?? []);
/** The bill lines read, without their line numbers (checked to follow the file's order, after its header). */
const bills = (r: Collected<BillChunk>): Omit<ImportedBillLine, 'row'>[] => {
  const all = r.chunks.flatMap((c) => c.lines);
  all.forEach((line, i) => expect(line.row).toBeGreaterThan(i === 0 ? 1 : all[i - 1]!.row));
  return all.map(({ row: _row, ...line }) => line);
};
const lines = (errors: RowError[]) => errors.map((e) => e.row);

const LEGACY_HEADER = 'Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes';
const M023_HEADER =
  'Identifiant PRM;Date de début;Date de fin;Grandeur physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;Indice de vraisemblance;Etat complémentaire';

describe("Enedis's customer-space export (header block, then Horodate;Valeur)", () => {
  it('reads the load curve of the day the clocks go back (50 steps of 30 minutes) and a daily consumption, and skips a section it does not import', async () => {
    const r = await collect(parseEnedisCsv(upload(await fixture('enedis-mes-donnees.csv')), { timezone: TZ }));
    expect(r.chunks.every((c) => c.prm === '09111642617347')).toBe(true);
    const curve = power(r);
    expect(curve).toHaveLength(50);
    // Horodate is the end of a step: the day's first row, 00:30+02:00, is the step from local midnight.
    expect(curve[0]).toEqual({ start: at('2024-10-26T22:00:00Z'), end: at('2024-10-26T22:30:00Z'), kW: 1.01, quality: 'good' });
    expect(curve.at(-1)!.end).toBe(at('2024-10-27T23:00:00Z'));
    for (let i = 1; i < curve.length; i++) expect(curve[i]!.start).toBe(curve[i - 1]!.end);
    expect(days(r)).toEqual([
      { start: at('2024-03-29T23:00:00Z'), end: at('2024-03-30T23:00:00Z'), kWh: 41.2, quality: 'good' },
      // The day the clocks go forward has 23 hours.
      { start: at('2024-03-30T23:00:00Z'), end: at('2024-03-31T22:00:00Z'), kWh: 39.95, quality: 'good' },
    ]);
    expect(r.errors).toEqual([
      {
        row: 65,
        message:
          'line 65: a section of "Puissance maximale quotidienne" is not imported: expected "Courbe de charge" (a load curve) or a daily consumption; the measures of this section are skipped',
      },
    ]);
  });

  it('reports each bad row by line and column, with what was expected, and keeps the good rows', async () => {
    const file = [
      LEGACY_HEADER,
      '12345678901234;Courbe de charge;15/01/2024;16/01/2024;Energie active;Consommation;Comptage Brut;W;30',
      'Horodate;Valeur',
      '2024-01-15T00:30:00+01:00;1200',
      '2024-01-15T01:00:00+01:00;12,5x',
      '2024-01-15T01:30:00+01:00;-40',
      '2024-01-15T02:00:00+01:00;150000000',
      '2024-01-15T02:20:00+01:00;800',
      '2024-01-15T25:00:00+01:00;800',
      '2024-01-15T02:30:00+01:00;900',
      '2024-01-15T00:30:00+01:00;1300',
      '2024-01-15T03:00:00+01:00;700;5',
      '2024-01-15T03:30:00+01:00;',
      '1999-12-31T23:30:00+01:00;100',
      '2024-01-15T04:00:00+01:00;100000000',
    ].join('\n');
    const r = await collect(parseEnedisCsv(upload(file), { timezone: TZ }));
    expect(power(r)).toEqual([
      { start: at('2024-01-14T23:00:00Z'), end: at('2024-01-14T23:30:00Z'), kW: 1.2, quality: 'good' },
      { start: at('2024-01-15T01:00:00Z'), end: at('2024-01-15T01:30:00Z'), kW: 0.9, quality: 'good' },
      { start: at('2024-01-15T02:30:00Z'), end: at('2024-01-15T03:00:00Z'), kW: 100_000, quality: 'good' },
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      'line 5, column "Valeur": expected a whole number of W from 0 to 100,000,000 (100 MW), found "12,5x"',
      'line 6, column "Valeur": expected a whole number of W from 0 to 100,000,000 (100 MW), found "-40"',
      'line 7, column "Valeur": expected a whole number of W from 0 to 100,000,000 (100 MW), found "150000000"',
      'line 8, column "Horodate": "2024-01-15 02:20+01:00" is not on the grid of this 30-minute load curve (its times end whole 30-minute steps)',
      'line 9, column "Horodate": expected a date and time such as 2021-01-01T00:30:00+01:00, found "2024-01-15T25:00:00+01:00"',
      'line 11, column "Horodate": repeats the step ending "2024-01-15 00:30+01:00" an earlier line gave: the first is kept',
      'line 12: expected 2 fields (Horodate;Valeur), found more',
      'line 14, column "Horodate": expected a date from 2000 to 2099, found "1999-12-31T23:30:00+01:00"',
    ]);
    expect(r.errors[0]).toMatchObject({ row: 5, column: 'Valeur' });
  });

  it('finds the step of a load curve whose "Pas en minutes" is empty from the gaps between its times', async () => {
    const rows = Array.from(
      { length: 12 },
      (_, i) => `2024-02-01T${String(Math.floor((i + 1) / 6)).padStart(2, '0')}:${String(((i + 1) % 6) * 10).padStart(2, '0')}:00+01:00;${600 + i}`,
    );
    const file = [
      LEGACY_HEADER,
      '12345678901234;Courbe de charge;01/02/2024;02/02/2024;Energie active;Consommation;Comptage Brut;W;',
      '',
      'Horodate;Valeur',
      ...rows,
    ].join('\n');
    const curve = power(await collect(parseEnedisCsv(upload(file), { timezone: TZ })));
    expect(curve).toHaveLength(12);
    expect(curve.every((p) => p.end - p.start === 600_000)).toBe(true);
    expect(curve[0]).toMatchObject({ start: at('2024-01-31T23:00:00Z'), kW: 0.6 });
  });

  it('refuses at once a file that is not an Enedis export, or not of consumption, saying what was expected', async () => {
    const notEnedis = await refusal(parseEnedisCsv(upload('Date;Valeur\n2021-01-01;3\n'), { timezone: TZ }));
    expect(notEnedis.code).toBe('IMPORT_FILE_REFUSED');
    expect(notEnedis.message).toContain('line 1: this is not an Enedis export: expected the header block');
    expect(notEnedis.message).toContain(LEGACY_HEADER);
    expect(notEnedis.message).toContain('found "Date;Valeur"');

    const index = await refusal(
      parseEnedisCsv(upload(`${LEGACY_HEADER}\n12345678901234;Index;01/09/2019;21/08/2020;Energie active;Consommation;Comptage Brut;Wh\n`), { timezone: TZ }),
    );
    expect(index.message).toBe(
      'line 2: a section of "Index" is not imported: expected "Courbe de charge" (a load curve) or a daily consumption; nothing can be imported from this file',
    );
    const production = await refusal(
      parseEnedisCsv(upload(`${LEGACY_HEADER}\n12345678901234;Courbe de charge;01/09/2019;21/08/2020;Energie active;Production;Comptage Brut;W;30\n`), {
        timezone: TZ,
      }),
    );
    expect(production.message).toContain('this section holds production');
    const prm = await refusal(
      parseEnedisCsv(upload(`${LEGACY_HEADER}\n1234;Courbe de charge;01/09/2019;21/08/2020;Energie active;Consommation;;W;30\n`), { timezone: TZ }),
    );
    expect(prm.message).toContain('column "Identifiant PRM": expected a PRM of 14 digits, found "1234"');
    expect((await refusal(parseEnedisCsv(upload(''), { timezone: TZ }))).message).toBe('the file is empty: expected an Enedis export');
    const noMeasure = await refusal(
      parseEnedisCsv(
        upload(
          `${LEGACY_HEADER}\n12345678901234;Courbe de charge;01/09/2019;21/08/2020;Energie active;Consommation;;W;30\nHorodate;Valeur\n2019-09-01T00:30:00+02:00;\n`,
        ),
        {
          timezone: TZ,
        },
      ),
    );
    expect(noMeasure.message).toContain('the file holds no measure');
  });
});

describe('Enedis M023 measure files (one measure a row, with its PRM)', () => {
  it("reads a Windows-1252 file with CRLF: the night the clocks go forward, a day's energy, a step's energy, two PRMs, production reported", async () => {
    const r = await collect(parseEnedisCsv(upload(await fixture('enedis-m023.csv')), { timezone: TZ }));
    expect(r.chunks.map((c) => c.prm)).toEqual(['30001610071843', '30001610071844']);
    const [first, second] = r.chunks;
    expect(first!.power).toEqual([
      { start: at('2024-03-30T23:30:00Z'), end: at('2024-03-31T00:00:00Z'), kW: 0.5, quality: 'good' },
      { start: at('2024-03-31T00:00:00Z'), end: at('2024-03-31T00:30:00Z'), kW: 0.52, quality: 'good' },
      // 03:00 is the end of the step from 01:30 to 02:00 (winter time), when the clocks jumped to 03:00.
      { start: at('2024-03-31T00:30:00Z'), end: at('2024-03-31T01:00:00Z'), kW: 0.55, quality: 'good' },
      { start: at('2024-03-31T01:00:00Z'), end: at('2024-03-31T01:30:00Z'), kW: 0.56, quality: 'uncertain' },
    ]);
    expect(first!.consumption).toEqual([{ start: at('2024-03-30T23:00:00Z'), end: at('2024-03-31T22:00:00Z'), kWh: 18.25, quality: 'good' }]);
    expect(second!.power).toEqual([
      // 250 Wh in 10 minutes: 1.5 kW on average; nature C (corrected) is uncertain.
      { start: at('2024-03-31T00:00:00Z'), end: at('2024-03-31T00:10:00Z'), kW: 1.5, quality: 'uncertain' },
      { start: at('2024-03-31T01:00:00Z'), end: at('2024-03-31T01:30:00Z'), kW: 1.5, quality: 'good' },
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      'line 4, column "Horodate": "2024-03-31 02:00" does not exist in Europe/Paris: the clocks went forward that night',
      'line 5, column "Horodate": "2024-03-31 02:30" does not exist in Europe/Paris: the clocks went forward that night',
      'line 9, column "Grandeur métier": expected CONS (consumption), found "PROD": CityPilot imports consumption only',
    ]);
  });

  it('reads the hour the clocks repeat in file order when times have no offset, and reports a third pass as repeated', async () => {
    const row = (time: string, w: number) => `30000000000001;2024-10-27;2024-10-28;PA;CONS;BRUT;W;2024-10-27 ${time}:00;${w};R;PT30M;0;0`;
    const file = [M023_HEADER, row('02:00', 100), row('02:30', 200), row('02:00', 300), row('02:30', 400), row('03:00', 500), row('02:30', 600)].join('\n');
    const r = await collect(parseEnedisCsv(upload(file), { timezone: TZ }));
    expect(power(r).map((p) => [new Date(p.start).toISOString(), p.kW])).toEqual([
      ['2024-10-26T23:30:00.000Z', 0.1],
      ['2024-10-27T00:00:00.000Z', 0.2],
      ['2024-10-27T00:30:00.000Z', 0.3],
      ['2024-10-27T01:00:00.000Z', 0.4],
      ['2024-10-27T01:30:00.000Z', 0.5],
    ]);
    expect(r.errors).toEqual([
      {
        row: 7,
        column: 'Horodate',
        message: 'line 7, column "Horodate": repeats the step ending "2024-10-27 02:30" an earlier line gave: the first is kept',
      },
    ]);
  });

  it('reports a step overlapping an earlier one of another length, and checks every column it reads', async () => {
    const row = (cells: string) => `30000000000001;2024-01-15;2024-01-16;${cells};0;0`;
    const file = [
      M023_HEADER,
      row('PA;CONS;BRUT;W;2024-01-15T01:00:00+01:00;700;R;PT30M'),
      row('EA;CONS;BRUT;Wh;2024-01-15T00:50:00+01:00;100;R;PT10M'),
      row('PMA;CONS;BRUT;VA;2024-01-15T01:30:00+01:00;100;R;PT30M'),
      row('PA;CONS;BRUT;Wh;2024-01-15T01:30:00+01:00;100;R;PT30M'),
      row('PA;CONS;BRUT;W;2024-01-15T01:30:00+01:00;100;R;PT20M'),
      row('PA;CONS;BRUT;W;2024-01-15T01:30:00+01:00;100;R;P1D'),
      '3000000000000;2024-01-15;2024-01-16;PA;CONS;BRUT;W;2024-01-15T01:30:00+01:00;100;R;PT30M;0;0',
      row('EA;CONS;BRUT;Wh;2024-01-16T00:00:00+01:00;3000000000;R;P1D'),
    ].join('\n');
    const r = await collect(parseEnedisCsv(upload(file), { timezone: TZ }));
    expect(power(r)).toHaveLength(1);
    expect(r.errors.map((e) => [e.row, e.column])).toEqual([
      [3, 'Horodate'],
      [4, 'Grandeur physique'],
      [5, 'Unité'],
      [6, 'Pas'],
      [7, 'Pas'],
      [8, 'Identifiant PRM'],
      [9, 'Valeur'],
    ]);
    expect(r.errors[0]!.message).toContain('repeats the step ending');
    expect(r.errors[6]!.message).toBe('line 9, column "Valeur": expected a whole number of Wh from 0 to 2,500,000,000 (100 MW over a day), found "3000000000"');
  });

  it('refuses an M023 header that lacks a column it needs', async () => {
    const error = await refusal(parseEnedisCsv(upload('Identifiant PRM;Grandeur physique;Grandeur métier;Unité;Horodate;Valeur\n'), { timezone: TZ }));
    expect(error.message).toContain('lacks the column "Pas"');
  });
});

describe('what any upload may hold', () => {
  it('reads the same readings whatever the pieces the bytes arrive in, one byte at a time included', async () => {
    const bytes = await fixture('enedis-m023.csv');
    const whole = await collect(parseEnedisCsv(upload(bytes), { timezone: TZ }));
    const bytewise = await collect(parseEnedisCsv(upload(bytes, 1), { timezone: TZ }));
    expect(bytewise).toEqual(whole);
    const bills = await fixture('factures.csv');
    expect(await collect(parseBillsCsv(upload(bills, 3), { timezone: TZ }))).toEqual(await collect(parseBillsCsv(upload(bills), { timezone: TZ })));
  });

  it('reads the charset the Content-Type names, and refuses a file that starts as UTF-8 and is not', async () => {
    const latin1 = Buffer.from(`${M023_HEADER}\n30000000000001;a;b;PA;CONS;BRUT;W;2024-01-15T01:00:00+01:00;700;R;PT30M;0;0\n`, 'latin1');
    const r = await collect(parseEnedisCsv(upload(latin1), { timezone: TZ, contentType: 'text/csv; charset=ISO-8859-1' }));
    expect(power(r)).toHaveLength(1);
    const mixed = Buffer.concat([
      Buffer.from(`${M023_HEADER}\n`, 'utf8'),
      Buffer.from('30000000000001;é;b;PA;CONS;BRUT;W;2024-01-15T01:00:00+01:00;700;R;PT30M\n', 'latin1'),
    ]);
    expect((await refusal(parseEnedisCsv(upload(mixed), { timezone: TZ }))).message).toContain('the file is not UTF-8 throughout');
    const tooLarge = await refusal(parseEnedisCsv(upload(latin1), { timezone: TZ, maxBytes: 100 }));
    expect(tooLarge.code).toBe('IMPORT_FILE_TOO_LARGE');
  });

  it('reports a huge line and reads on; refuses a file whose first line is one', async () => {
    const file = [
      M023_HEADER,
      `30000000000001;${'x'.repeat(MAX_LINE_CHARS * 3)}`,
      '30000000000001;a;b;PA;CONS;BRUT;W;2024-01-15T01:00:00+01:00;700;R;PT30M;0;0',
    ].join('\n');
    const r = await collect(parseEnedisCsv(upload(file, 1000), { timezone: TZ }));
    expect(power(r)).toHaveLength(1);
    expect(r.errors).toEqual([{ row: 2, message: 'line 2: longer than 65,536 characters: not a line of an Enedis export' }]);
    const first = await refusal(parseEnedisCsv(upload('x'.repeat(MAX_LINE_CHARS + 1)), { timezone: TZ }));
    expect(first.message).toBe('line 1 is longer than 65,536 characters: this is not an Enedis export');
  });

  it(`yields chunks of at most ${CHUNK_READINGS} readings, lists ${ROW_ERRORS_LISTED} row errors and counts the others`, async () => {
    const steps = 25_000;
    const bad = 1_500;
    async function* file(): AsyncGenerator<string> {
      yield `${LEGACY_HEADER}\n30000000000001;Courbe de charge;01/01/2023;01/01/2025;Energie active;Consommation;Comptage Brut;W;30\nHorodate;Valeur\n`;
      const start = at('2023-01-01T00:00:00Z');
      for (let i = 1; i <= steps; i++) {
        const end = new Date(start + i * 1_800_000).toISOString().slice(0, 19);
        yield `${end}Z;${i % 5000}\n${i <= bad ? `${end}Z;oops\n` : ''}`;
      }
    }
    const r = await collect(parseEnedisCsv(file(), { timezone: TZ }));
    expect(r.chunks.every((c) => (c.power?.length ?? 0) <= CHUNK_READINGS)).toBe(true);
    expect(power(r)).toHaveLength(steps);
    expect(r.errors).toHaveLength(ROW_ERRORS_LISTED);
    expect(r.omitted).toBe(bad - ROW_ERRORS_LISTED);
    expect(r.errors[0]).toMatchObject({ row: 5, column: 'Valeur' });
  });

  it('refuses a time zone the runtime does not know', async () => {
    await expect(collect(parseEnedisCsv(upload('x'), { timezone: 'Mars/Olympus_Mons' }))).rejects.toThrow(RangeError);
  });
});

describe("GRDF's consumption exports", () => {
  it('reads the daily informative data saved by Excel (Windows-1252): PCE above the header, kWh from m³ × coefficient, qualification as quality', async () => {
    const r = await collect(parseGrdfCsv(upload(await fixture('grdf-journalier.csv')), { timezone: TZ }));
    expect(r.chunks.every((c) => c.pce === '22423299474865')).toBe(true);
    expect(days(r)).toEqual([
      { start: at('2019-11-29T23:00:00Z'), end: at('2019-11-30T23:00:00Z'), kWh: 75, quality: 'good', volume: { m3: 7, kWhPerM3: 11.12 } },
      { start: at('2019-11-30T23:00:00Z'), end: at('2019-12-01T23:00:00Z'), kWh: 144.56, quality: 'good', volume: { m3: 13, kWhPerM3: 11.12 } },
      { start: at('2019-12-01T23:00:00Z'), end: at('2019-12-02T23:00:00Z'), kWh: 174, quality: 'uncertain', volume: { m3: 16, kWhPerM3: 11.17 } },
      { start: at('2019-12-06T23:00:00Z'), end: at('2019-12-07T23:00:00Z'), kWh: 111, quality: 'uncertain', volume: { m3: 10, kWhPerM3: 11.17 } },
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      'line 13, column "Coefficient de conversion": is empty: expected the conversion coefficient (kWh/m³) to compute the energy of 11 m³, the energy being empty',
      'line 14, column "Volume consommé (m3)": expected a volume in m³ from 0 to 500,000, found "-11"',
      'line 15, column "Coefficient de conversion": expected a conversion coefficient from 5 to 15 kWh/m³, found "31"',
      'line 16, column "Date de relevé": expected a day (24/11/2020), a month (Novembre 2020) or a week (Du 24/11/2020 au 29/11/2020) from 2000 to 2099, found "31/11/2019"',
      'line 17, column "Date de relevé": overlaps days an earlier line gave (2019-12-02 to 2019-12-02): the first is kept',
    ]);
  });

  it('reads the monthly informative data: a month is its local days, a wrong month is reported', async () => {
    const r = await collect(parseGrdfCsv(upload(await fixture('grdf-mensuel.csv')), { timezone: TZ }));
    expect(days(r)).toEqual([
      { start: at('2020-10-31T23:00:00Z'), end: at('2020-11-30T23:00:00Z'), kWh: 845, quality: 'good' },
      { start: at('2020-11-30T23:00:00Z'), end: at('2020-12-31T23:00:00Z'), kWh: 3808, quality: 'good' },
      // March has the night the clocks go forward: it ends at midnight summer time.
      { start: at('2021-02-28T23:00:00Z'), end: at('2021-03-31T22:00:00Z'), kWh: 2938, quality: 'good' },
    ]);
    expect(lines(r.errors)).toEqual([7]);
  });

  it('reads columns of PCE, start and end days (the end excluded) and indexes, each PCE in its own chunks', async () => {
    const file = [
      'PCE;Date de début;Date de fin;Index de début (m3);Index de fin (m3);Coefficient de conversion (kWh/m3);Energie (kWh);Qualification',
      '22423299474865;2019-11-30T06:00:00+00:00;2019-12-01T06:00:00+00:00;10373;10380;11,12;;Mesuré',
      '22423299474865;2019-12-01;2019-12-02;10380;10393;11,12;146;Mesuré',
      'GI123456;01/12/2019;01/01/2020;;;;3000;Estimé',
      '22423299474865;2019-12-02;2019-12-02;10393;10409;11,12;174;Mesuré',
      '22423299474865;2019-12-02;2019-12-03;10409;10393;11,12;;Mesuré',
      '2242329947486;2019-12-03;2019-12-04;10409;10420;11,12;;Mesuré',
    ].join('\n');
    const r = await collect(parseGrdfCsv(upload(file), { timezone: TZ }));
    expect(r.chunks.filter((c) => c.consumption).map((c) => [c.pce, c.consumption!.length])).toEqual([
      ['22423299474865', 2],
      ['GI123456', 1],
    ]);
    expect(days(r)[0]).toEqual({
      start: at('2019-11-29T23:00:00Z'),
      end: at('2019-11-30T23:00:00Z'),
      kWh: 77.84,
      quality: 'good',
      volume: { m3: 7, kWhPerM3: 11.12 },
    });
    expect(days(r)[2]).toEqual({ start: at('2019-11-30T23:00:00Z'), end: at('2019-12-31T23:00:00Z'), kWh: 3000, quality: 'uncertain' });
    expect(r.errors.map((e) => [e.row, e.column])).toEqual([
      [5, 'Date de fin'],
      [6, 'Index de fin (m3)'],
      [7, 'PCE'],
    ]);
  });

  it('refuses a file without PCE or without the header, saying what was expected', async () => {
    const noPce = await refusal(
      parseGrdfCsv(upload(';Date de relevé;Volume consommé (m3);Energie consommée (kWh)\n;Novembre 2020;75;845\n'), { timezone: TZ }),
    );
    expect(noPce.message).toBe('line 1: the file names no PCE: expected "N° PCE : <14 digits>" above the header, or a column "PCE"');
    const noHeader = await refusal(parseGrdfCsv(upload('Horodate;Valeur\n2021-01-01T00:30:00+01:00;3\n'), { timezone: TZ }));
    expect(noHeader.message).toContain('this is not a GRDF export: no header found (expected Date de relevé;Index de début de période (m3)');
    const volumeOnly = await refusal(parseGrdfCsv(upload('PCE;Date de relevé;Volume consommé (m3)\n'), { timezone: TZ }));
    expect(volumeOnly.message).toContain('neither "Energie consommée (kWh)" nor "Coefficient de conversion"');
  });
});

describe('bill lines', () => {
  it('reads the French header (BOM, CRLF, decimal comma, spaces between thousands): the last day included, the end the next local midnight', async () => {
    const r = await collect(parseBillsCsv(upload(await fixture('factures.csv')), { timezone: TZ }));
    expect(bills(r)).toEqual([
      {
        start: at('2026-02-28T23:00:00Z'),
        end: at('2026-03-31T22:00:00Z'),
        energy: 'elec',
        kWh: 12480,
        amountEur: 2315.42,
        supplier: 'EDF',
        invoice: 'F-2026-0001',
        deliveryPoint: '09111642617347',
      },
      {
        start: at('2026-02-28T23:00:00Z'),
        end: at('2026-03-31T22:00:00Z'),
        energy: 'elec',
        kWh: 4020,
        amountEur: 512.1,
        supplier: 'EDF',
        invoice: 'F-2026-0001',
        deliveryPoint: '09111642617347',
      },
      {
        start: at('2025-12-31T23:00:00Z'),
        end: at('2026-01-31T23:00:00Z'),
        energy: 'gas',
        kWh: 8450.5,
        amountEur: 1012.8,
        supplier: 'Engie',
        invoice: 'G-77',
        deliveryPoint: '22423299474865',
      },
      {
        start: at('2025-12-31T23:00:00Z'),
        end: at('2026-12-31T23:00:00Z'),
        energy: 'oil',
        kWh: 30000,
        amountEur: 3210,
        supplier: 'Charvet',
        building: 'hôtel-de-ville',
      },
      {
        start: at('2025-12-31T23:00:00Z'),
        end: at('2026-01-31T23:00:00Z'),
        energy: 'gas',
        kWh: 0,
        amountEur: -45.2,
        supplier: 'Engie',
        invoice: 'AV-3',
        deliveryPoint: '22423299474865',
      },
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      'line 6, column "pdl": is empty: expected a delivery point or a building',
      'line 7, column "energie": expected one of elec, gas, heat, chilled, oil, wood (or électricité, gaz, chaleur, froid, fioul, bois), found "vapeur"',
      'line 8, column "fin": expected a day not before the start, found "01/01/2026"',
      'line 9, column "kwh": expected a number of kWh from 0 to 1,000,000,000, found "-5"',
      'line 10, column "montant_eur": expected an amount in euros from -1,000,000,000 to 1,000,000,000, found "12,5x"',
      'line 11, column "fournisseur": is empty: expected the supplier',
    ]);
  });

  it('reads the English header with commas, quoted decimal commas and a building only', async () => {
    const file = [
      'building,energy,period_start,period_end,kwh,amount_eur,supplier,invoice',
      'school-jaures,chaleur,2026-01-01,2026-01-31,"12 500,5",1840.10,"Réseau de chaleur, SEM",H1',
      'school-jaures,heat,2026-02-01,2028-02-02,1,1,X,',
      'school-jaures,heat,2026-02-30,2026-03-01,1,1,X,',
    ].join('\r\n');
    const r = await collect(parseBillsCsv(upload(file), { timezone: TZ }));
    expect(bills(r)).toEqual([
      {
        start: at('2025-12-31T23:00:00Z'),
        end: at('2026-01-31T23:00:00Z'),
        energy: 'heat',
        kWh: 12500.5,
        amountEur: 1840.1,
        supplier: 'Réseau de chaleur, SEM',
        invoice: 'H1',
        building: 'school-jaures',
      },
    ]);
    expect(r.errors.map((e) => e.message)).toEqual([
      'line 3, column "period_end": expected a period of at most 731 days, found 732 days',
      'line 4, column "period_start": expected a day (31/01/2026 or 2026-01-31) from 2000 to 2099, found "2026-02-30"',
    ]);
  });

  it('refuses at once a header that is not this format, listing what it lacks', async () => {
    const error = await refusal(parseBillsCsv(upload('date;compteur;valeur\n2026-01-01;1;2\n'), { timezone: TZ }));
    expect(error.message).toContain(
      'line 1: this is not a file of bill lines: no column pdl (or delivery_point) nor batiment (or building); no column energie (or energy); no column debut (or period_start)',
    );
    expect((await refusal(parseBillsCsv(upload('\r\n\r\n'), { timezone: TZ }))).message).toContain('the file is empty');
  });
});
