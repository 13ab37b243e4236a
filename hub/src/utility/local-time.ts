/**
 * The city's wall-clock time and instants, for what utilities write in local time (Enedis's days
 * and load-curve steps, GRDF's days, a bill's dates). Uses the runtime's time-zone data (Intl).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** The offset of `timezone` from UTC at instant `epoch`, in milliseconds (Paris in winter: 3,600,000). */
export function zoneOffset(epoch: number, timezone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(new Date(epoch))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(epoch / 1000) * 1000;
}

/**
 * The instant of a wall-clock time in `timezone`. A time the clocks skip (spring) is moved
 * forward by the change; a time they repeat (autumn) is the first of the two unless
 * `later` (the second, after the clocks went back).
 */
export function localToEpoch(
  wall: { year: number; month: number; day: number; hour?: number; minute?: number; second?: number },
  timezone: string,
  later = false,
): number {
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour ?? 0, wall.minute ?? 0, wall.second ?? 0);
  // The offsets in force a day either side bound every candidate.
  const offsets = [...new Set([zoneOffset(naive - 86_400_000, timezone), zoneOffset(naive + 86_400_000, timezone)])];
  const candidates = offsets.map((o) => naive - o).filter((t) => zoneOffset(t, timezone) === naive - t);
  candidates.sort((a, b) => a - b);
  if (candidates.length) return later ? candidates[candidates.length - 1]! : candidates[0]!;
  // Skipped by the clocks: moved forward by the change (02:30 becomes 03:30), as Date does.
  return naive - Math.min(...offsets);
}

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a real calendar day `YYYY-MM-DD`. */
export function isDay(text: string): boolean {
  const m = DAY_PATTERN.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** Local midnight starting `day` (`YYYY-MM-DD`) in `timezone`. */
export function dayStart(day: string, timezone: string): number {
  const m = DAY_PATTERN.exec(day);
  if (!m) throw new RangeError(`not a day YYYY-MM-DD: ${day}`);
  return localToEpoch({ year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) }, timezone);
}

/** The local day (`YYYY-MM-DD`) instant `epoch` falls in. */
export function localDay(epoch: number, timezone: string): string {
  return new Date(epoch + zoneOffset(epoch, timezone)).toISOString().slice(0, 10);
}

/** The day `n` days after `day` (before it when negative). */
export function addDays(day: string, n: number): string {
  const m = DAY_PATTERN.exec(day);
  if (!m) throw new RangeError(`not a day YYYY-MM-DD: ${day}`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + n)).toISOString().slice(0, 10);
}

/** Days from `from` to `to` (exclusive), in order. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let d = from; d < to; d = addDays(d, 1)) days.push(d);
  return days;
}
