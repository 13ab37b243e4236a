import { parse } from 'csv-parse/sync';
import type pg from 'pg';
import { parseNumber } from '../service-data/csv.js';

/** A row of a weather file that could not be used; the others are stored. */
export interface WeatherRowError {
  /** Line of the file, the header being line 1. */
  row: number;
  column: string;
  message: string;
}

export class WeatherFileError extends Error {
  readonly code = 'WEATHER_FILE_REFUSED';
}

/**
 * Imports daily mean outdoor temperatures (a weather service's, for the degree-days of months no
 * sensor measured): a CSV file with the columns `date` (YYYY-MM-DD or DD/MM/YYYY, the city's
 * local day) and `mean_c` (°C, decimal point or comma), separated by `;` or `,`. A day imported
 * again takes the new value. Bad rows are reported by row and column and the good ones stored.
 * @throws WeatherFileError when the whole file is unusable (no header, missing column, no row)
 */
export async function importOutdoorTemperatures(pool: pg.Pool, text: string, source: string): Promise<{ stored: number; errors: WeatherRowError[] }> {
  const firstLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const delimiter = firstLine.includes(';') ? ';' : ',';
  let records: string[][];
  try {
    records = parse(text.replace(/^\uFEFF/, ''), { delimiter, relax_column_count: true, skip_empty_lines: true, trim: true });
  } catch (error) {
    throw new WeatherFileError(`the file is not CSV: ${(error as Error).message}`, { cause: error });
  }
  const header = records[0]?.map((h) => h.toLowerCase());
  const dateAt = header?.indexOf('date') ?? -1;
  const meanAt = header?.indexOf('mean_c') ?? -1;
  if (!header || dateAt < 0 || meanAt < 0) throw new WeatherFileError('expected a header line with the columns date and mean_c');
  if (records.length < 2) throw new WeatherFileError('the file has a header but no row');
  const days: string[] = [];
  const means: number[] = [];
  const errors: WeatherRowError[] = [];
  records.slice(1).forEach((record, i) => {
    const row = i + 2;
    const rawDate = record[dateAt] ?? '';
    const french = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(rawDate);
    const day = french ? `${french[3]}-${french[2]}-${french[1]}` : rawDate;
    const valid =
      /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(Date.parse(`${day}T00:00:00Z`)) && new Date(`${day}T00:00:00Z`).toISOString().startsWith(day);
    if (!valid) errors.push({ row, column: 'date', message: `row ${row}, column "date": ${JSON.stringify(rawDate)} is not a date (YYYY-MM-DD or DD/MM/YYYY)` });
    const mean = parseNumber(record[meanAt] ?? '');
    const temperature = typeof mean === 'number' && mean >= -90 && mean <= 60;
    if (!temperature)
      errors.push({ row, column: 'mean_c', message: `row ${row}, column "mean_c": ${JSON.stringify(record[meanAt] ?? '')} is not a temperature in °C` });
    if (valid && temperature) {
      days.push(day);
      means.push(mean);
    }
  });
  if (days.length) {
    await pool.query(
      `INSERT INTO outdoor_temperatures (day, mean_c, source) SELECT d, m, $3 FROM unnest($1::date[], $2::float8[]) AS u(d, m)
       ON CONFLICT (day) DO UPDATE SET mean_c = excluded.mean_c, source = excluded.source`,
      [days, means, source],
    );
  }
  return { stored: days.length, errors };
}
