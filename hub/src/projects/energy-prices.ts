import { pipeline, Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { parse } from 'csv-parse';
import type pg from 'pg';
import { StringEnum, validate, type ConfigIssue, formatPath } from '@citypilot/sdk';
import { ENERGIES } from '../objectives/meters.js';
import { detectDelimiter, parseNumber } from '../service-data/csv.js';
import { ADEME_DEFAULT_FACTORS, type EmissionFactor, type Tariff } from './prices.js';

/**
 * The city's energy prices and emission factors, which turn a project's kWh into € and tCO2e:
 * - tariffs: €/kWh of one energy over a range of local days, each with its source; set whole
 *   through the API, or imported from a CSV file of supplier bill lines (each bill's amount over
 *   its kWh becomes the tariff of its period, its source the file and row);
 * - emission factors: kgCO2e/kWh of one energy in one year, each with its source; an energy the
 *   city gives none for takes the defaults of prices.ts (ADEME_DEFAULT_FACTORS).
 */

const DAY = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$';
const Source = Type.String({ minLength: 1, maxLength: 500, expected: 'where the value comes from (a bill, a contract, a database and its year)' });

export const TariffSchema = Type.Object(
  {
    energy: StringEnum(ENERGIES),
    from: Type.String({ pattern: DAY, expected: 'the first local day the price applies to, YYYY-MM-DD' }),
    to: Type.Union([Type.String({ pattern: DAY }), Type.Null()], { expected: 'the last local day the price applies to, YYYY-MM-DD, or null: still in force' }),
    eurosPerKWh: Type.Number({ minimum: 0, maximum: 10, expected: 'a price in €/kWh from 0 to 10' }),
    source: Source,
  },
  { additionalProperties: false },
);

export const EmissionFactorSchema = Type.Object(
  {
    energy: StringEnum(ENERGIES),
    year: Type.Integer({ minimum: 1990, maximum: 2100 }),
    kgCO2ePerKWh: Type.Number({ minimum: 0, maximum: 10, expected: 'kg CO2e per kWh of final energy, from 0 to 10' }),
    source: Source,
  },
  { additionalProperties: false },
);

export const TariffsBody = Type.Object({ tariffs: Type.Array(TariffSchema, { maxItems: 10_000 }) }, { additionalProperties: false });
export const FactorsBody = Type.Object({ factors: Type.Array(EmissionFactorSchema, { maxItems: 10_000 }) }, { additionalProperties: false });

/** A tariff as stored: with who set it and, when it came from a bill file, the import. */
export interface StoredTariff extends Tariff {
  importId: number | null;
  createdBy: string;
  createdAt: string;
}

/** A factor as used: the city's (with who set it), or a default. */
export interface UsedFactor extends EmissionFactor {
  origin: 'city' | 'default';
}

/** Prices or factors that cannot be used; `issues` say where and what was expected. Nothing was stored. */
export class EnergyPricesError extends Error {
  readonly code = 'ENERGY_PRICES_INVALID';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${formatPath(i.path) || '(body)'}: ${i.message}`).join('\n'));
  }
}

/** A bill row that could not be used; the good rows were stored. */
export interface BillRowError {
  /** Line of the file, the header being line 1. */
  row: number;
  column: string;
  message: string;
}

/** What a bill import did, in counts and the first errors: its size does not grow with the file's. */
export interface BillImportSummary {
  importId: number;
  file: string;
  rows: number;
  stored: number;
  errorCount: number;
  errors: BillRowError[];
}

/** The whole file is unusable (no header, a missing column): nothing was imported. */
export class BillFileError extends Error {
  readonly code = 'BILL_FILE_REFUSED';
}

/** Bill columns and the other names spreadsheets give them (lowercase, French accepted). */
const COLUMNS = {
  period_start: ['period_start', 'start', 'debut', 'début', 'date_debut'],
  period_end: ['period_end', 'end', 'fin', 'date_fin'],
  energy: ['energy', 'energie', 'énergie'],
  kwh: ['kwh', 'consumption_kwh', 'consommation_kwh'],
  amount_eur: ['amount_eur', 'amount', 'montant', 'montant_eur'],
} as const;
type Column = keyof typeof COLUMNS;

/** Row errors a bill import reports one by one; beyond, only their count. */
export const BILL_ERRORS_REPORTED = 100;
/** Rows written per statement. */
const CHUNK_ROWS = 1000;

export class EnergyPrices {
  /** Grows whenever this process changes a tariff or a factor. */
  generation = 0;

  constructor(private readonly pool: pg.Pool) {}

  /** Every tariff, by energy then first day. */
  async tariffs(): Promise<StoredTariff[]> {
    const { rows } = await this.pool.query(
      `SELECT energy, to_char(valid_from, 'YYYY-MM-DD') AS "from", to_char(valid_to, 'YYYY-MM-DD') AS "to", euros_per_kwh, source, import_id, created_by, created_at
         FROM energy_tariffs ORDER BY energy, valid_from`,
    );
    return rows.map((r) => ({
      energy: r.energy,
      from: r.from,
      to: r.to,
      eurosPerKWh: r.euros_per_kwh,
      source: r.source,
      importId: r.import_id === null ? null : Number(r.import_id),
      createdBy: r.created_by,
      createdAt: r.created_at.toISOString(),
    }));
  }

  /**
   * Replaces every tariff with `input` (`{ tariffs: [...] }`), checked first: ranges of one energy
   * must not overlap. @throws EnergyPricesError naming each bad entry; nothing is changed then.
   */
  async setTariffs(input: unknown, by: string): Promise<StoredTariff[]> {
    const result = validate(TariffsBody, input);
    if (!result.ok) throw new EnergyPricesError(result.issues);
    const list = result.value.tariffs;
    const issues: ConfigIssue[] = [];
    list.forEach((t, i) => {
      if (t.to !== null && t.to < t.from) issues.push({ path: ['tariffs', i, 'to'], message: `${t.to} is before from ${t.from}` });
    });
    const order = list
      .map((t, i) => ({ t, i }))
      .sort((a, b) => (a.t.energy === b.t.energy ? (a.t.from < b.t.from ? -1 : 1) : a.t.energy < b.t.energy ? -1 : 1));
    order.forEach(({ t, i }, k) => {
      const before = order[k - 1];
      if (before && before.t.energy === t.energy && (before.t.to === null || before.t.to >= t.from)) {
        issues.push({
          path: ['tariffs', i, 'from'],
          message: `${t.from} falls within tariffs[${before.i}] of ${t.energy} (${before.t.from} to ${before.t.to ?? 'open'}): one price per energy and day`,
        });
      }
    });
    if (issues.length) throw new EnergyPricesError(issues);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM energy_tariffs');
      await client.query(
        `INSERT INTO energy_tariffs (energy, valid_from, valid_to, euros_per_kwh, source, created_by)
         SELECT * , $6 FROM unnest($1::text[], $2::date[], $3::date[], $4::float8[], $5::text[])`,
        [list.map((t) => t.energy), list.map((t) => t.from), list.map((t) => t.to), list.map((t) => t.eurosPerKWh), list.map((t) => t.source), by],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
    this.generation++;
    return this.tariffs();
  }

  /** The city's factors by energy and year, then the defaults for the energies it gives none for. */
  async factors(): Promise<UsedFactor[]> {
    const { rows } = await this.pool.query(`SELECT energy, year, kg_co2e_per_kwh, source FROM emission_factors ORDER BY energy, year`);
    const own: UsedFactor[] = rows.map((r) => ({ energy: r.energy, year: r.year, kgCO2ePerKWh: r.kg_co2e_per_kwh, source: r.source, origin: 'city' }));
    const given = new Set(own.map((f) => f.energy));
    return [...own, ...ADEME_DEFAULT_FACTORS.filter((f) => !given.has(f.energy)).map((f) => ({ ...f, origin: 'default' as const }))];
  }

  /** Replaces the city's factors with `input` (`{ factors: [...] }`). @throws EnergyPricesError; nothing is changed then. */
  async setFactors(input: unknown, by: string): Promise<UsedFactor[]> {
    const result = validate(FactorsBody, input);
    if (!result.ok) throw new EnergyPricesError(result.issues);
    const list = result.value.factors;
    const seen = new Map<string, number>();
    const issues: ConfigIssue[] = [];
    list.forEach((f, i) => {
      const first = seen.get(`${f.energy} ${f.year}`);
      if (first !== undefined) issues.push({ path: ['factors', i, 'year'], message: `${f.energy} in ${f.year} is already given by factors[${first}]` });
      else seen.set(`${f.energy} ${f.year}`, i);
    });
    if (issues.length) throw new EnergyPricesError(issues);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM emission_factors');
      await client.query(
        `INSERT INTO emission_factors (energy, year, kg_co2e_per_kwh, source, created_by) SELECT *, $5 FROM unnest($1::text[], $2::int[], $3::float8[], $4::text[])`,
        [list.map((f) => f.energy), list.map((f) => f.year), list.map((f) => f.kgCO2ePerKWh), list.map((f) => f.source), by],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
    this.generation++;
    return this.factors();
  }

  /**
   * Imports a CSV file of supplier bill lines, read as it arrives: columns period_start,
   * period_end (YYYY-MM-DD or DD/MM/YYYY, local days, both included), energy (elec, gas …), kwh
   * and amount_eur (decimal point or comma), separated by `;`, `,` or tab. Each good row becomes
   * the tariff amount_eur / kwh of its energy and period (source: the file and row); a row giving
   * the same energy and first day as a tariff already stored replaces it; a row overlapping
   * another tariff of its energy is refused. Bad rows are reported by row and column (the first
   * BILL_ERRORS_REPORTED), the others stored, with the import's provenance (file, who, when).
   * @throws BillFileError when the header lacks a column: nothing is imported then
   */
  async importBills(text: AsyncIterable<string>, file: string, by: string): Promise<BillImportSummary> {
    const iterator = text[Symbol.asyncIterator]();
    let head = '';
    let done = false;
    // Enough of the file to see its header line.
    while (!done && !/[\r\n]/.test(head) && head.length < 65_536) {
      const next = await iterator.next();
      if (next.done) done = true;
      else head += next.value;
    }
    head = head.replace(/^\uFEFF/, '');
    async function* whole() {
      yield head;
      if (done) return;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    }
    // pipeline, not pipe: a failure of the upload (too large, not UTF-8) or of the parser (a line
    // too long) ends both streams and reaches the loop below, never an unhandled 'error' event.
    const parser = pipeline(
      Readable.from(whole()),
      parse({ delimiter: detectDelimiter(head), relax_column_count: true, skip_empty_lines: true, trim: true, info: true, max_record_size: 65_536 }),
      () => undefined,
    );
    const client = await this.pool.connect();
    const summary: BillImportSummary = { importId: 0, file, rows: 0, stored: 0, errorCount: 0, errors: [] };
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(`INSERT INTO energy_price_imports (file_name, submitted_by) VALUES ($1, $2) RETURNING id`, [file, by]);
      summary.importId = Number(rows[0].id);
      let at: Record<Column, number> | undefined;
      let chunk: BillRow[] = [];
      const report = (e: BillRowError) => {
        summary.errorCount++;
        if (summary.errors.length < BILL_ERRORS_REPORTED) summary.errors.push(e);
      };
      const flush = async () => {
        const good = await this.refuseOverlaps(client, chunk, report);
        chunk = [];
        if (!good.length) return;
        await client.query(
          `INSERT INTO energy_tariffs (energy, valid_from, valid_to, euros_per_kwh, source, import_id, created_by)
           SELECT *, $6::bigint, $7 FROM unnest($1::text[], $2::date[], $3::date[], $4::float8[], $5::text[])
           ON CONFLICT (energy, valid_from) DO UPDATE SET valid_to = excluded.valid_to, euros_per_kwh = excluded.euros_per_kwh, source = excluded.source,
             import_id = excluded.import_id, created_by = excluded.created_by, created_at = now()`,
          [
            good.map((r) => r.energy),
            good.map((r) => r.from),
            good.map((r) => r.to),
            good.map((r) => r.eurosPerKWh),
            good.map((r) => r.source),
            summary.importId,
            by,
          ],
        );
        summary.stored += good.length;
      };
      for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
        if (!at) {
          at = headerColumns(record);
          continue;
        }
        summary.rows++;
        const row = readBillRow(record, at, info.lines, file);
        if ('errors' in row) row.errors.forEach(report);
        else chunk.push(row);
        if (chunk.length >= CHUNK_ROWS) await flush();
      }
      if (!at) throw new BillFileError(`expected a header line with the columns ${Object.keys(COLUMNS).join(', ')}; the file is empty`);
      await flush();
      await client.query(`UPDATE energy_price_imports SET rows = $2, stored = $3, error_count = $4, errors = $5 WHERE id = $1`, [
        summary.importId,
        summary.rows,
        summary.stored,
        summary.errorCount,
        JSON.stringify(summary.errors),
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      parser.destroy();
      if ((error as { code?: string }).code?.startsWith('CSV_')) throw new BillFileError(`the file is not CSV: ${(error as Error).message}`, { cause: error });
      throw error;
    } finally {
      client.release();
    }
    this.generation++;
    return summary;
  }

  /** The rows of `chunk` that overlap no other tariff of their energy (stored, or earlier in the chunk); the others are reported. */
  private async refuseOverlaps(client: pg.ClientBase, chunk: readonly BillRow[], report: (e: BillRowError) => void): Promise<BillRow[]> {
    if (!chunk.length) return [];
    const { rows } = await client.query<{ i: number; from: string; to: string | null; source: string }>(
      `SELECT u.i, to_char(t.valid_from, 'YYYY-MM-DD') AS from, to_char(t.valid_to, 'YYYY-MM-DD') AS to, t.source
         FROM unnest($1::text[], $2::date[], $3::date[]) WITH ORDINALITY AS u(energy, f, t, i)
         JOIN energy_tariffs t ON t.energy = u.energy AND t.valid_from <> u.f AND daterange(t.valid_from, t.valid_to, '[]') && daterange(u.f, u.t, '[]')`,
      [chunk.map((r) => r.energy), chunk.map((r) => r.from), chunk.map((r) => r.to)],
    );
    const clash = new Map(rows.map((r) => [Number(r.i) - 1, r]));
    const good: BillRow[] = [];
    chunk.forEach((r, i) => {
      const stored = clash.get(i);
      const earlier = good.find((g) => g.energy === r.energy && g.from <= r.to && r.from <= g.to);
      if (stored || earlier) {
        const other = stored ? `the tariff ${stored.from} to ${stored.to ?? 'open'} (${stored.source})` : `row ${earlier!.row}`;
        report({ row: r.row, column: 'period_start', message: `row ${r.row}, column "period_start": ${r.from} to ${r.to} overlaps ${other} of ${r.energy}` });
      } else good.push(r);
    });
    return good;
  }
}

interface BillRow {
  row: number;
  energy: string;
  from: string;
  to: string;
  eurosPerKWh: number;
  source: string;
}

function headerColumns(record: readonly string[]): Record<Column, number> {
  const names = record.map((h) =>
    h
      .replace(/^\uFEFF/, '')
      .trim()
      .toLowerCase(),
  );
  const at = {} as Record<Column, number>;
  const missing: string[] = [];
  for (const [column, aliases] of Object.entries(COLUMNS) as [Column, readonly string[]][]) {
    const i = names.findIndex((n) => aliases.includes(n));
    if (i < 0) missing.push(column);
    else at[column] = i;
  }
  if (missing.length)
    throw new BillFileError(
      `the header line lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: expected ${Object.keys(COLUMNS).join(', ')}`,
    );
  return at;
}

function readBillRow(record: readonly string[], at: Record<Column, number>, row: number, file: string): BillRow | { errors: BillRowError[] } {
  const errors: BillRowError[] = [];
  const fail = (column: Column, problem: string) => errors.push({ row, column, message: `row ${row}, column "${column}": ${problem}` });
  const cell = (c: Column) => record[at[c]] ?? '';
  const day = (c: Column) => {
    const text = cell(c);
    const french = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text);
    const iso = french ? `${french[3]}-${french[2]!.padStart(2, '0')}-${french[1]!.padStart(2, '0')}` : text;
    const d = new Date(`${iso}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(iso) || Number.isNaN(d.getTime()) || !d.toISOString().startsWith(iso)) {
      fail(c, `${JSON.stringify(text.slice(0, 40))} is not a date (YYYY-MM-DD or DD/MM/YYYY)`);
      return undefined;
    }
    return iso;
  };
  const from = day('period_start');
  const to = day('period_end');
  if (from && to && to < from) fail('period_end', `${to} is before period_start ${from}`);
  const energy = cell('energy').toLowerCase();
  if (!(ENERGIES as readonly string[]).includes(energy))
    fail('energy', `${JSON.stringify(cell('energy').slice(0, 40))} is not an energy: expected one of ${ENERGIES.join(', ')}`);
  const kWh = parseNumber(cell('kwh'));
  if (typeof kWh === 'string') fail('kwh', kWh);
  else if (!(kWh > 0)) fail('kwh', `${kWh} kWh: expected more than 0 kWh`);
  const amount = parseNumber(cell('amount_eur'));
  if (typeof amount === 'string') fail('amount_eur', amount);
  else if (amount < 0) fail('amount_eur', `${amount} €: expected an amount of at least 0 €`);
  if (errors.length) return { errors };
  const eurosPerKWh = (amount as number) / (kWh as number);
  if (eurosPerKWh > 10) {
    fail('amount_eur', `${amount} € for ${kWh} kWh is ${eurosPerKWh.toFixed(2)} €/kWh, more than 10 €/kWh: is the consumption in MWh?`);
    return { errors };
  }
  return { row, energy, from: from!, to: to!, eurosPerKWh, source: `${file} row ${row}: ${amount} € for ${kWh} kWh` };
}
