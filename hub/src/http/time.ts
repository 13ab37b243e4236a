/**
 * Times as the API takes them: ISO 8601 with an offset, on the calendar, within the years the hub
 * stores. JavaScript's Date.parse is far more lenient (`1` is 2001, `2026-02-30` is 2 March, a
 * year of -271821 is a date) and PostgreSQL refuses what Date accepts beyond its own range, so
 * every time of a request goes through here first.
 */

/** The years the hub stores and compares; beyond, a time is refused with its name. */
export const EARLIEST_YEAR = 1900;
export const LATEST_YEAR = 9999;

/** A month `YYYY-MM` of the years above, for JSON Schema `pattern`s. */
export const MONTH_PATTERN = '^(19\\d\\d|[2-9]\\d{3})-(0[1-9]|1[0-2])$';

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/i;

/** What an instant of the API looks like, for messages and schema descriptions. */
export const INSTANT_EXPECTED = 'an ISO 8601 date-time with its offset, e.g. 2026-10-25T00:00:00+02:00';

/** `text` as an instant, or a message that starts with `name` and says what was expected. */
export function parseInstant(name: string, text: string | undefined): Date | string {
  if (text === undefined || text === '') return `${name} is required: ${INSTANT_EXPECTED}`;
  const m = INSTANT.exec(text);
  if (!m) return `${name} must be ${INSTANT_EXPECTED}, not ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const onCalendar =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= new Date(Date.UTC(2000, month, 0)).getUTCDate() &&
    (month !== 2 || day <= 28 || isLeap(year)) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    (m[7]!.toUpperCase() === 'Z' || (Number(m[8]) <= 14 && Number(m[9]) <= 59));
  if (!onCalendar) return `${name}: ${JSON.stringify(text)} is not a date and time of the calendar`;
  const time = new Date(text);
  const utcYear = time.getUTCFullYear();
  if (Number.isNaN(time.getTime()) || year < EARLIEST_YEAR || utcYear < EARLIEST_YEAR || utcYear > LATEST_YEAR) {
    return `${name} must be between the years ${EARLIEST_YEAR} and ${LATEST_YEAR}`;
  }
  return time;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
