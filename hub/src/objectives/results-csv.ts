/**
 * What an objective's page shows, as a CSV file a reader opens in a spreadsheet: one row per
 * scope and period, comma-separated, UTF-8, a header row of stable English snake_case names
 * (RESULT_CSV_COLUMNS), numbers with a decimal point and no thousands separator, dates as ISO
 * 8601 local days of the city, empty cells for unknown values.
 */
export const RESULT_CSV_COLUMNS = [
  'objective',
  'scope',
  'period',
  'period_first_day',
  'period_last_day',
  'value',
  'target',
  'status',
  'unit',
  'previous',
  'last_year',
  'forecast',
  'complete',
  'data_complete',
  'missing_days',
  'unbracketed_hours',
] as const;

/** What each column holds, for the route's OpenAPI description. */
export const RESULT_CSV_DESCRIPTION =
  'Columns: objective (its key); scope (`city`, `site:<key>` or `building:<key>`); period (`2026-10`, `2026-Q4` or `2026`); ' +
  "period_first_day and period_last_day (ISO dates, the city's local days, both included); value (the KPI, so far for a period in progress); " +
  'target; status (green, amber, red or unknown); unit; previous (the period before); last_year (the same period a year earlier); ' +
  'forecast (the value expected at the end of a period in progress); complete (true once the period is over); ' +
  'data_complete (true when the data covers the period so far); missing_days (local days without data); ' +
  'unbracketed_hours (hours at the ends of the period no meter reading brackets). Empty cells: no value.';

/** One result row as the CSV writes it. */
export interface ResultCsvRow {
  scope: string;
  period: string;
  firstDay: string;
  lastDay: string;
  value: number | null;
  target: number | null;
  status: string;
  previous: number | null;
  lastYear: number | null;
  forecast: number | null;
  complete: boolean;
  missingDays: number;
  unbracketedHours: number;
}

/** The CSV text of `rows` of objective `key`, header first, lines ended by CRLF (RFC 4180). */
export function resultsCsv(key: string, unit: string, rows: readonly ResultCsvRow[]): string {
  const lines = [RESULT_CSV_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [
        text(key),
        text(r.scope),
        text(r.period),
        r.firstDay,
        r.lastDay,
        number(r.value),
        number(r.target),
        r.status,
        text(unit),
        number(r.previous),
        number(r.lastYear),
        number(r.forecast),
        String(r.complete),
        String(r.missingDays === 0 && r.unbracketedHours === 0),
        String(r.missingDays),
        number(r.unbracketedHours),
      ].join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

function number(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '' : String(value);
}

/**
 * A text cell: quoted when it holds a comma, a quote or a line break; and a text a spreadsheet
 * would take for a formula (starting with = + - @, as an operator-defined unit could) is
 * prefixed with an apostrophe, as OWASP advises against CSV injection.
 */
function text(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
