/**
 * Dates and times as utilities' files write them, read without allocating per row, and turned
 * into instants in the city's time zone with local-time.ts (a day's midnights kept per day, so
 * that a load curve's rows cost arithmetic only, outside the two days a year the clocks change).
 */
import { localToEpoch, zoneOffset } from '../local-time.js';

/** A date, a time and an offset as a file wrote them. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Whether the text had a time of day (else 00:00:00). */
  hasTime: boolean;
  /** The offset from UTC the text gave (`+01:00`: 60, `Z`: 0), NaN when it gave none: then the time is the city's. */
  offsetMinutes: number;
}

export function newWallTime(): WallTime {
  return { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, hasTime: false, offsetMinutes: NaN };
}

/** Years a file's dates may fall in: anything else is a typing or export error. */
export const FIRST_YEAR = 2000;
export const LAST_YEAR = 2099;

const DAY_MS = 86_400_000;

/** Days from 1970-01-01 to a calendar day (proleptic Gregorian). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The calendar day (`YYYY-MM-DD`) `days` days after 1970-01-01. */
export function dayText(days: number): string {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

function daysInMonth(year: number, month: number): number {
  return month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : month === 4 || month === 6 || month === 9 || month === 11
      ? 30
      : 31;
}

/** The number written with exactly `n` digits at `pos`, or −1. */
function digits(text: string, pos: number, n: number): number {
  let value = 0;
  for (let i = pos; i < pos + n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * Reads `text[start, end)` into `out`: `YYYY-MM-DD`, optionally followed by `T` or a space and
 * `HH:MM[:SS[.fff]]`, optionally followed by `Z`, `±HH:MM`, `±HHMM` or `±HH`; or `DD/MM/YYYY`
 * with an optional ` HH:MM[:SS]` (a spreadsheet's re-saved file). False when it is none of these
 * or not a real date and time; fractions of a second must be zero.
 */
export function parseWallTime(text: string, start: number, end: number, out: WallTime): boolean {
  let pos: number;
  if (end - start >= 10 && text.charCodeAt(start + 4) === 45 && text.charCodeAt(start + 7) === 45) {
    out.year = digits(text, start, 4);
    out.month = digits(text, start + 5, 2);
    out.day = digits(text, start + 8, 2);
  } else if (end - start >= 10 && text.charCodeAt(start + 2) === 47 && text.charCodeAt(start + 5) === 47) {
    out.day = digits(text, start, 2);
    out.month = digits(text, start + 3, 2);
    out.year = digits(text, start + 6, 4);
  } else return false;
  if (out.year < 0 || out.month < 1 || out.month > 12 || out.day < 1 || out.day > daysInMonth(out.year, out.month)) return false;
  pos = start + 10;
  out.hour = out.minute = out.second = 0;
  out.offsetMinutes = NaN;
  out.hasTime = false;
  if (pos === end) return true;
  const sep = text.charCodeAt(pos);
  if (sep !== 84 && sep !== 32) return false;
  pos++;
  if (end - pos < 5 || text.charCodeAt(pos + 2) !== 58) return false;
  out.hour = digits(text, pos, 2);
  out.minute = digits(text, pos + 3, 2);
  if (out.hour < 0 || out.hour > 23 || out.minute < 0 || out.minute > 59) return false;
  out.hasTime = true;
  pos += 5;
  if (pos < end && text.charCodeAt(pos) === 58) {
    if (end - pos < 3) return false;
    out.second = digits(text, pos + 1, 2);
    if (out.second < 0 || out.second > 59) return false;
    pos += 3;
    if (pos < end && text.charCodeAt(pos) === 46) {
      pos++;
      const fractionStart = pos;
      while (pos < end && text.charCodeAt(pos) === 48) pos++;
      if (pos === fractionStart || (pos < end && text.charCodeAt(pos) >= 48 && text.charCodeAt(pos) <= 57)) return false;
    }
  }
  if (pos === end) return true;
  const sign = text.charCodeAt(pos);
  if (sign === 90 && pos + 1 === end) {
    out.offsetMinutes = 0;
    return true;
  }
  if ((sign !== 43 && sign !== 45) || end - pos < 3) return false;
  const hours = digits(text, pos + 1, 2);
  let minutes = 0;
  const rest = end - pos - 3;
  if (rest === 3 && text.charCodeAt(pos + 3) === 58) minutes = digits(text, pos + 4, 2);
  else if (rest === 2) minutes = digits(text, pos + 3, 2);
  else if (rest !== 0) return false;
  if (hours < 0 || hours > 14 || minutes < 0 || minutes > 59) return false;
  out.offsetMinutes = (sign === 45 ? -1 : 1) * (hours * 60 + minutes);
  return true;
}

/** `2021-03-28 02:30` (with the offset when the file gave one), for messages. */
export function wallText(w: WallTime): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const date = `${w.year}-${two(w.month)}-${two(w.day)}`;
  if (!w.hasTime) return date;
  const time = `${two(w.hour)}:${two(w.minute)}${w.second ? `:${two(w.second)}` : ''}`;
  if (Number.isNaN(w.offsetMinutes)) return `${date} ${time}`;
  const o = Math.abs(w.offsetMinutes);
  return `${date} ${time}${w.offsetMinutes < 0 ? '-' : '+'}${two(Math.floor(o / 60))}:${two(o % 60)}`;
}

/** The instant a wall time with an offset names. */
export function offsetInstant(w: WallTime): number {
  return (daysFromCivil(w.year, w.month, w.day) * 1440 + w.hour * 60 + w.minute - w.offsetMinutes) * 60_000 + w.second * 1000;
}

/** A local day's bounds: its midnight and the next one's; `regular` when the clocks do not change in it. */
export interface DayBounds {
  start: number;
  end: number;
  regular: boolean;
}

/** Local days kept at most by a LocalClock: enough for decades of a file's days. */
const CACHED_DAYS = 40_000;

/** The city's wall clock: local days and times as instants, computed once per day. */
export class LocalClock {
  private readonly days = new Map<number, DayBounds>();

  /** @throws RangeError when `timezone` is not an IANA time zone the runtime knows */
  constructor(readonly timezone: string) {
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone });
  }

  /** The bounds of the local day `days` days after 1970-01-01. */
  day(days: number): DayBounds {
    let bounds = this.days.get(days);
    if (bounds) return bounds;
    const start = this.midnight(days);
    const end = this.midnight(days + 1);
    bounds = { start, end, regular: end - start === DAY_MS && zoneOffset(start, this.timezone) === zoneOffset(end - 1, this.timezone) };
    if (this.days.size >= CACHED_DAYS) this.days.clear();
    this.days.set(days, bounds);
    return bounds;
  }

  private midnight(days: number): number {
    const d = new Date(days * DAY_MS);
    return localToEpoch({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }, this.timezone);
  }

  /**
   * The instants of a wall time without offset, in `out`: [the first, the second] (the same
   * outside the hour the clocks repeat in autumn). False for a time the clocks skip in spring.
   */
  instants(w: WallTime, out: [number, number]): boolean {
    const days = daysFromCivil(w.year, w.month, w.day);
    const bounds = this.day(days);
    const ms = ((w.hour * 60 + w.minute) * 60 + w.second) * 1000;
    if (bounds.regular) {
      out[0] = out[1] = bounds.start + ms;
      return true;
    }
    const wall = { year: w.year, month: w.month, day: w.day, hour: w.hour, minute: w.minute, second: w.second };
    const first = localToEpoch(wall, this.timezone, false);
    if (zoneOffset(first, this.timezone) !== days * DAY_MS + ms - first) return false;
    out[0] = first;
    out[1] = localToEpoch(wall, this.timezone, true);
    return true;
  }
}
