/**
 * Between service values and the database: the SQL that reads them, the mapping of their rows,
 * and the checks of a query's arguments. service-data.ts builds its queries from these.
 */
import type { CsvMapping } from './csv.js';
import { parsePeriod, show, type Granularity, type ParsedPeriod, type ServiceDataIssue, type ServiceValue, type Via } from './model.js';

/** A producer of service data, such as the town hall's reception desk. */
export interface ServiceSource {
  key: string;
  name: string;
  /** How its CSV files map to values; null until one is saved. */
  mapping: CsvMapping | null;
  /** ISO 8601. */
  createdAt: string;
  updatedAt: string;
}

/** A time: epoch milliseconds, a Date, or a period text (its start in the city's time zone). */
export type TimeBound = number | Date | string;

/** Start of a period, in SQL: `p` its text, `g` its granularity, `tz` the time zone (SQL expressions). */
export function startSql(p: string, g: string, tz: string): string {
  return `CASE ${g} WHEN 'instant' THEN ${p}::timestamptz WHEN 'day' THEN ${p}::timestamp AT TIME ZONE ${tz}
            ELSE (${p} || '-01')::timestamp AT TIME ZONE ${tz} END`;
}

/** The columns of a ServiceValue from `service_values v`, `tz` being the city's time zone. */
export function valueColumns(tz: string): string {
  return `v.source_key, v.metric, v.scope, v.granularity, v.period_start, v.value, v.submitted_by, v.submitted_at,
          v.via, v.file_name, v.file_row, v.superseded_at,
          CASE v.granularity WHEN 'day' THEN to_char(v.period_start AT TIME ZONE ${tz}, 'YYYY-MM-DD')
                             WHEN 'month' THEN to_char(v.period_start AT TIME ZONE ${tz}, 'YYYY-MM') END AS local_period`;
}

export interface ValueRow {
  source_key: string;
  metric: string;
  scope: string;
  granularity: Granularity;
  period_start: Date;
  value: number;
  submitted_by: string;
  submitted_at: Date;
  via: Via;
  file_name: string | null;
  file_row: number | null;
  superseded_at: Date | null;
  local_period: string | null;
}

export function toValue(r: ValueRow): ServiceValue {
  return {
    source: r.source_key,
    metric: r.metric,
    scope: r.scope,
    period: r.local_period ?? r.period_start.toISOString(),
    granularity: r.granularity,
    start: r.period_start.toISOString(),
    value: r.value,
    submittedBy: r.submitted_by,
    submittedAt: r.submitted_at.toISOString(),
    via: r.via,
    file: r.file_name,
    row: r.file_row,
    supersededAt: r.superseded_at?.toISOString() ?? null,
  };
}

export function toSource(r: { key: string; name: string; mapping: CsvMapping | null; created_at: Date; updated_at: Date }): ServiceSource {
  return { key: r.key, name: r.name, mapping: r.mapping, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString() };
}

/** Records an issue for each bad item of a list (or for a list that is not one); whether all are good. */
export function checkList(items: unknown, name: string, check: (x: unknown) => string | undefined, issues: ServiceDataIssue[]): boolean {
  if (!Array.isArray(items)) {
    issues.push({ path: name, message: `expected a list, got ${show(items)}` });
    return false;
  }
  const before = issues.length;
  items.forEach((item, i) => {
    const problem = check(item);
    if (problem) issues.push({ path: `${name}[${i}]`, message: problem });
  });
  return issues.length === before;
}

/** A query's time bound as a period text; records an issue and returns undefined when it is not one. */
export function toBound(bound: TimeBound | undefined, name: string, issues: ServiceDataIssue[]): ParsedPeriod | undefined {
  if (typeof bound === 'number' || bound instanceof Date) {
    const time = typeof bound === 'number' ? bound : bound.getTime();
    if (Number.isFinite(time) && Math.abs(time) <= 8.64e15) return { granularity: 'instant', text: new Date(time).toISOString() };
    issues.push({ path: name, message: `${show(bound)} is not a time` });
    return undefined;
  }
  const parsed = parsePeriod(bound);
  if (typeof parsed === 'string') {
    issues.push({ path: name, message: parsed });
    return undefined;
  }
  return parsed;
}

/** `+02:00` for 7200 s. */
export function formatOffset(seconds: number): string {
  const abs = Math.abs(seconds);
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor((abs % 3600) / 60)).padStart(2, '0');
  return `${seconds < 0 ? '-' : '+'}${hh}:${mm}`;
}
