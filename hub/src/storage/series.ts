/**
 * Writes of one point's series that may correct what is stored: a source that is not a gateway
 * (a utility's meter readings, hub/src/utility) sends a day again when it revised it. Gateways'
 * batches never change a stored sample (samples.ts keeps the first); here a sample whose value
 * or quality differs replaces the stored one, and the replaced version is kept in
 * `sample_history` with the run that replaced it. A step of storage (see types.ts): called by the
 * facade, imports no other step.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Sample } from '@citypilot/sdk';
import { copyText } from './samples.js';

/** New samples of one series go in with COPY from this many on, with one INSERT below. */
const SERIES_COPY_MIN_ROWS = 500;

/** One point's samples to write, sorted by time, one per instant. */
export interface SeriesWrite {
  pointId: number;
  samples: readonly Pick<Sample, 'time' | 'value' | 'quality' | 'reason'>[];
  /**
   * The run (utility_runs.id) to record as having replaced a stored sample; without it replaced
   * versions are not kept (a series derived from another, recomputed whole).
   */
  replacedBy?: number;
  /**
   * Removes the stored samples of [from, to) that `samples` does not have: for a derived series
   * recomputed over that range.
   */
  replaceRange?: { from: number; to: number };
}

export interface SeriesWriteResult {
  inserted: number;
  corrected: number;
  unchanged: number;
  removed: number;
  /** Times of the samples inserted, replaced or removed (epoch ms), for the rollups. */
  changed: { from: number; to: number } | undefined;
  /** Whether a stored sample was replaced or removed (the rollups must be recomputed, not added to). */
  rewrote: boolean;
}

/**
 * Writes `write` within `client`'s open transaction. When nothing is stored in the series' range
 * the samples go in as they come (COPY for large ones), as fast as a raw load; otherwise the
 * stored ones are read once and compared.
 */
export async function writeSeries(
  client: pg.PoolClient,
  write: SeriesWrite,
  /** Told of every sample inserted (not those replaced or removed), for the rollups. */
  onInserted: (pointId: number, time: number, value: Sample['value']) => void,
): Promise<SeriesWriteResult> {
  const { samples } = write;
  const result: SeriesWriteResult = { inserted: 0, corrected: 0, unchanged: 0, removed: 0, changed: undefined, rewrote: false };
  if (!samples.length && !write.replaceRange) return result;
  const from = Math.min(samples[0]?.time ?? Infinity, write.replaceRange?.from ?? Infinity);
  const to = Math.max((samples.at(-1)?.time ?? -Infinity) + 1, write.replaceRange?.to ?? -Infinity);
  const stored = await client.query<{ t: number; value: number | null; text_value: string | null; quality: Sample['quality']; reason: string | null }>(
    `SELECT (extract(epoch FROM time) * 1000)::float8 AS t, value, text_value, quality, reason FROM samples
      WHERE point_id = $1 AND time >= to_timestamp($2 / 1000.0) AND time < to_timestamp($3 / 1000.0) ORDER BY time`,
    [write.pointId, from, to],
  );
  const touch = (time: number) => {
    result.changed = result.changed ? { from: Math.min(result.changed.from, time), to: Math.max(result.changed.to, time) } : { from: time, to: time };
  };
  if (!stored.rows.length) {
    if (!samples.length) return result;
    // One point's series: its rows are narrower than a gateway write's (no per-row gateway), and
    // COPY overtakes one INSERT of arrays from a few hundred rows on.
    await (samples.length >= SERIES_COPY_MIN_ROWS ? copyNew(client, write.pointId, samples) : insertNew(client, write.pointId, samples));
    result.inserted = samples.length;
    for (const x of samples) onInserted(write.pointId, x.time, x.value);
    touch(samples[0]!.time);
    touch(samples.at(-1)!.time);
    return result;
  }
  const byTime = new Map(stored.rows.map((r) => [r.t, r]));
  const fresh: SeriesWrite['samples'][number][] = [];
  const corrected: SeriesWrite['samples'][number][] = [];
  for (const s of samples) {
    const old = byTime.get(s.time);
    byTime.delete(s.time);
    if (!old) {
      fresh.push(s);
    } else if (sameValue(old.value, old.text_value, s.value) && old.quality === s.quality && (old.reason ?? undefined) === (s.reason ?? undefined)) {
      result.unchanged++;
    } else {
      corrected.push(s);
    }
  }
  // What is left of the stored samples in a replaced range is no longer in the series.
  const removed = write.replaceRange ? [...byTime.keys()].filter((t) => t >= write.replaceRange!.from && t < write.replaceRange!.to) : [];
  if (fresh.length) await insertNew(client, write.pointId, fresh);
  for (const x of fresh) onInserted(write.pointId, x.time, x.value);
  const rewritten = [...corrected.map((s) => s.time), ...removed];
  if (rewritten.length && write.replacedBy !== undefined) {
    await client.query(
      `INSERT INTO sample_history (point_id, time, value, text_value, quality, reason, replaced_by)
       SELECT point_id, time, value, text_value, quality, reason, $3 FROM samples
        WHERE point_id = $1 AND time = ANY (SELECT to_timestamp(t / 1000.0) FROM unnest($2::float8[]) AS u(t))`,
      [write.pointId, rewritten, write.replacedBy],
    );
  }
  if (corrected.length) {
    await client.query(
      `UPDATE samples s SET value = u.v, text_value = u.x, quality = u.q::sample_quality, reason = u.r
         FROM unnest($2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[]) AS u(t, v, x, q, r)
        WHERE s.point_id = $1 AND s.time = to_timestamp(u.t / 1000.0)`,
      [write.pointId, ...columns(corrected)],
    );
  }
  if (removed.length) {
    await client.query(`DELETE FROM samples WHERE point_id = $1 AND time = ANY (SELECT to_timestamp(t / 1000.0) FROM unnest($2::float8[]) AS u(t))`, [
      write.pointId,
      removed,
    ]);
  }
  result.inserted = fresh.length;
  result.corrected = corrected.length;
  result.removed = removed.length;
  result.rewrote = rewritten.length > 0;
  for (const t of [...fresh.map((s) => s.time), ...rewritten]) touch(t);
  return result;
}

function sameValue(value: number | null, text: string | null, next: Sample['value']): boolean {
  if (typeof next === 'string') return text === next;
  if (next === null) return value === null && text === null;
  const n = typeof next === 'boolean' ? Number(next) : next;
  // Stored as float8: a value sent again is equal to the bit, a revised one differs by far more.
  return value !== null && Math.abs(value - n) <= 1e-9 * Math.max(1, Math.abs(n));
}

function columns(samples: readonly SeriesWrite['samples'][number][]): unknown[] {
  return [
    samples.map((s) => s.time),
    samples.map((s) => (typeof s.value === 'number' ? s.value : typeof s.value === 'boolean' ? Number(s.value) : null)),
    samples.map((s) => (typeof s.value === 'string' ? s.value : null)),
    samples.map((s) => s.quality),
    samples.map((s) => s.reason ?? null),
  ];
}

async function insertNew(client: pg.ClientBase, pointId: number, samples: readonly SeriesWrite['samples'][number][]): Promise<void> {
  await client.query(
    `INSERT INTO samples (point_id, time, value, text_value, quality, reason)
     SELECT $1, to_timestamp(t / 1000.0), v, x, q::sample_quality, r FROM unnest($2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[]) AS u(t, v, x, q, r)`,
    [pointId, ...columns(samples)],
  );
}

/** COPY of numeric samples of one point (text format). */
async function copyNew(client: pg.PoolClient, pointId: number, samples: readonly SeriesWrite['samples'][number][]): Promise<void> {
  const stream = client.query(copyFrom(`COPY samples (point_id, time, value, text_value, quality, reason) FROM STDIN`));
  const prefix = `${pointId}\t`;
  async function* text() {
    let chunk = '';
    // A series' samples share their day by the dozen: its date is written once a day, the time
    // of day from the milliseconds (a Date and its ISO text per sample cost more than the COPY's own work).
    let day = NaN;
    let date = '';
    for (const s of samples) {
      const v = s.value;
      const value = typeof v === 'number' ? `${v}\t\\N` : typeof v === 'boolean' ? `${Number(v)}\t\\N` : v === null ? '\\N\t\\N' : `\\N\t${copyText(v)}`;
      const ms = s.time - Math.floor(s.time / DAY_MS) * DAY_MS;
      if (s.time - ms !== day) {
        day = s.time - ms;
        date = new Date(day).toISOString().slice(0, 10);
      }
      chunk += `${prefix}${date} ${timeOfDay(ms)}+00\t${value}\t${s.quality}\t${s.reason == null ? '\\N' : copyText(s.reason)}\n`;
      if (chunk.length >= 256 * 1024) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(text(), { objectMode: false }), stream);
}

const DAY_MS = 86_400_000;

/** `HH:MM:SS.mmm` of `ms` milliseconds into a UTC day. */
function timeOfDay(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const sec = Math.floor(ms / 1000) % 60;
  const milli = ms % 1000;
  return `${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}:${sec < 10 ? '0' : ''}${sec}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}`;
}
