import { CityPilotError } from '@citypilot/sdk';

/**
 * Service data: values that municipal services submit (reception waiting times, visitors, calls
 * offered and answered, mail answered within 15 days, parking occupancy …), by API or CSV file,
 * for objectives to combine with the buildings' data.
 *
 * A value is identified by (source, metric, scope, period):
 * - source: who produces it, a key such as `reception-town-hall` (defined by an operator);
 * - metric: such as `reception.wait_minutes` or `calls.answered` (lowercase letters, digits and
 *   `_`, in parts separated by dots);
 * - scope: `city`, `site:<site key>` or `building:<building key>`, the catalog's keys;
 * - period: a local day `2026-10-25` or month `2026-10` of the city's time zone, or an exact time
 *   with its UTC offset, `2026-10-25T14:30:00+01:00`, for an instantaneous value.
 * Submitting it again corrects it: the new version is current, the previous one is kept.
 */

/** `instant` for a value at one time; `day` and `month` are local to the city's time zone. */
export type Granularity = 'instant' | 'day' | 'month';

export const GRANULARITIES: readonly Granularity[] = ['instant', 'day', 'month'];

/** How a value came: through the API, or from a CSV file (its name; each value has its row). */
export type Via = 'api' | 'csv';

export const SOURCE_KEY_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
export const METRIC_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$';
export const SCOPE_PATTERN = '^(city|(site|building):[a-z0-9][a-z0-9_-]{0,62})$';
/** The three forms of a period, as the API and CSV files write them. */
export const PERIOD_PATTERN = '^\\d{4}-\\d{2}(-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?(Z|[+-]\\d{2}:\\d{2}))?)?$';
export const METRIC_MAX_LENGTH = 100;

const SOURCE_KEY_RE = new RegExp(SOURCE_KEY_PATTERN);
const METRIC_RE = new RegExp(METRIC_PATTERN);
const SCOPE_RE = new RegExp(SCOPE_PATTERN);

/** A value as submitted. */
export interface ServiceValueInput {
  source: string;
  metric: string;
  scope: string;
  /** `2026-10` (a local month), `2026-10-25` (a local day) or `2026-10-25T14:30:00+01:00` (a time). */
  period: string;
  /** A finite number, in the metric's unit (minutes, a count …). */
  value: number;
}

/** A stored version of a value, with its provenance. */
export interface ServiceValue {
  source: string;
  metric: string;
  scope: string;
  /** The period in the form it is submitted in; an instant in UTC (`2026-10-25T13:30:00.000Z`). */
  period: string;
  granularity: Granularity;
  /** Start of the period (ISO 8601, UTC): local midnight for a day, of the 1st for a month. */
  start: string;
  value: number;
  /** The principal id of who submitted it. */
  submittedBy: string;
  /** ISO 8601. */
  submittedAt: string;
  via: Via;
  /** For a CSV import: the file's name and the value's row (the header is row 1). */
  file: string | null;
  row: number | null;
  /** When a later version replaced this one (ISO 8601); null while it is current. */
  supersededAt: string | null;
}

/** What a submission or an import wrote. */
export interface SubmitResult {
  /** The new current versions. */
  stored: ServiceValue[];
  /** Versions the new ones replaced, as they were before (their supersededAt now set). */
  superseded: ServiceValue[];
  /** Values submitted again with the value they already had: nothing written for them. */
  unchanged: ServiceValue[];
}

export type ServiceDataErrorCode =
  /** A submission with bad values: nothing was stored. `issues` says which and why. */
  | 'SERVICE_VALUES_INVALID'
  /** A source key nobody defined. */
  | 'SERVICE_SOURCE_UNKNOWN'
  /** A source definition or a CSV mapping that cannot be used. */
  | 'SERVICE_SOURCE_INVALID'
  /** A CSV file refused whole (empty, a mapped column missing, unreadable): nothing was stored. */
  | 'CSV_FILE_REFUSED'
  /** A CSV upload larger than the hub takes (HTTP 413): nothing was stored. */
  | 'CSV_FILE_TOO_LARGE'
  /** A query with bad arguments. */
  | 'SERVICE_QUERY_INVALID'
  /** An HTTP request that does not match its route's schema. */
  | 'SERVICE_REQUEST_INVALID';

/** One problem of a request: where (`values[2].metric`, `mapping.period`) and what. */
export interface ServiceDataIssue {
  path: string;
  message: string;
}

/** A caller's mistake in service data: the request changed nothing. */
export class ServiceDataError extends CityPilotError {
  declare readonly code: ServiceDataErrorCode;
  readonly issues: readonly ServiceDataIssue[];

  constructor(code: ServiceDataErrorCode, message: string, issues: readonly ServiceDataIssue[] = [], options?: { cause?: unknown }) {
    super(code, message, options);
    this.issues = issues;
  }

  /** An error listing each issue on a line, `path: message`. */
  static of(code: ServiceDataErrorCode, issues: readonly ServiceDataIssue[]): ServiceDataError {
    return new ServiceDataError(code, issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n'), issues);
  }
}

/** A period parsed: its granularity and a normalised text (an instant in UTC ISO 8601). */
export interface ParsedPeriod {
  granularity: Granularity;
  /** `YYYY-MM`, `YYYY-MM-DD`, or an instant as `Date.toISOString()` gives it. */
  text: string;
}

export function checkSourceKey(key: unknown): string | undefined {
  if (typeof key !== 'string') return `expected a source key, got ${show(key)}`;
  if (!SOURCE_KEY_RE.test(key)) return `${show(key)} is not a source key: lowercase letters, digits, - and _ (such as reception-town-hall)`;
  return undefined;
}

export function checkMetric(metric: unknown): string | undefined {
  if (typeof metric !== 'string') return `expected a metric, got ${show(metric)}`;
  if (!METRIC_RE.test(metric) || metric.length > METRIC_MAX_LENGTH) {
    return `${show(metric)} is not a metric: lowercase letters, digits and _, in parts separated by dots (such as calls.answered), at most ${METRIC_MAX_LENGTH} characters`;
  }
  return undefined;
}

export function checkScope(scope: unknown): string | undefined {
  if (typeof scope !== 'string') return `expected a scope, got ${show(scope)}`;
  if (!SCOPE_RE.test(scope)) return `${show(scope)} is not a scope: city, site:<site id> or building:<building id> (such as building:town-hall)`;
  return undefined;
}

export function checkValue(value: unknown): string | undefined {
  if (typeof value !== 'number') return `${show(value)} is not a number`;
  if (!Number.isFinite(value)) return `${show(value)} is not a finite number`;
  return undefined;
}

const MONTH_RE = /^(\d{4})-(\d{2})$/;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-](\d{2}):(\d{2}))$/;
const PERIOD_EXPECTED = 'a month 2026-10, a day 2026-10-25, or a time with its UTC offset 2026-10-25T14:30:00+01:00';

/** Parses a period as the API takes it; an error message when it is not one. */
export function parsePeriod(period: unknown): ParsedPeriod | string {
  if (typeof period !== 'string') return `expected a period (${PERIOD_EXPECTED}), got ${show(period)}`;
  let m = MONTH_RE.exec(period);
  if (m) return validYear(+m[1]!) && validMonth(+m[2]!) ? { granularity: 'month', text: period } : `${show(period)} is not a month`;
  m = DAY_RE.exec(period);
  if (m) return validDay(+m[1]!, +m[2]!, +m[3]!) ? { granularity: 'day', text: period } : `${show(period)} is not a date`;
  m = INSTANT_RE.exec(period);
  if (m) {
    const valid = validDay(+m[1]!, +m[2]!, +m[3]!) && +m[4]! <= 23 && +m[5]! <= 59 && +(m[6] ?? 0) <= 59 && (m[7] === 'Z' || (+m[8]! <= 15 && +m[9]! <= 59));
    const time = Date.parse(period);
    if (!valid || Number.isNaN(time)) return `${show(period)} is not a valid time`;
    // Its UTC instant must stay a 4-digit year too: 9999-12-31T23:59:59-14:00 is in the year 10000.
    if (new Date(time).getUTCFullYear() > LATEST_YEAR) return `${show(period)} is after the year ${LATEST_YEAR}`;
    return { granularity: 'instant', text: new Date(time).toISOString() };
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(period)) {
    return `${show(period)} has no UTC offset: write a time as 2026-10-25T14:30:00+01:00 (or with Z for UTC), or give a day or a month`;
  }
  return `${show(period)} is not a period: expected ${PERIOD_EXPECTED}`;
}

/** The years a period may be in: what the hub's calendar and PostgreSQL both handle. */
const EARLIEST_YEAR = 1900;
const LATEST_YEAR = 9999;

function validYear(year: number): boolean {
  return year >= EARLIEST_YEAR && year <= LATEST_YEAR;
}

function validMonth(month: number): boolean {
  return month >= 1 && month <= 12;
}

function validDay(year: number, month: number, day: number): boolean {
  if (!validYear(year) || !validMonth(month) || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A value shown in a message: strings quoted, the rest as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
