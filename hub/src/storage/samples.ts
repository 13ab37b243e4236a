/**
 * The samples step of a write (see types.ts): loads a write's samples into `samples` inside the
 * write's transaction, with INSERT … unnest or COPY, either assuming them all new or keeping only
 * those not stored yet and telling which they were.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Batch, Sample } from '@citypilot/sdk';
import type { PointIds, SampleRows } from './types.js';

/**
 * Transactions with at least this many samples load them with COPY, smaller ones with INSERT …
 * unnest. Measured on 2 cores, PostgreSQL 15, 100 gateways × 200 points, 1,000-sample batches
 * (rollups left out): with 1,000 and 5,000 samples per transaction unnest is 5–10 % faster (one
 * round trip and one statement fewer, and its arrays are no bigger than COPY's text); at 10,000
 * they are even (~115,000 rows/s each); at 20,000 COPY does ~100,000 rows/s and unnest ~70,000
 * (the parameter arrays' text grows large and is parsed in one piece).
 */
export const COPY_MIN_ROWS = 10_000;

/**
 * How a write loads its samples: `all-new` as they come, as a raw COPY would, failing with
 * AlreadyStoredError when one is stored already; `skip-stored` checking each against those
 * stored and keeping only the new ones.
 */
export type LoadMode = 'all-new' | 'skip-stored';

/** A write that assumed all its samples new found one already stored; it changed nothing. */
export class AlreadyStoredError extends Error {
  readonly code = 'SAMPLES_ALREADY_STORED';
}

/**
 * Loads samples within the caller's transaction. One per Storage: it remembers which pooled
 * connections have their staging table. Safe to share between concurrent writes (each on its own
 * connection).
 */
export class SampleLoader {
  /** Connections that have their session's staging table. */
  private readonly staged = new WeakSet<pg.PoolClient>();

  /** Creates the connection's staging table (temporary: unlogged, private, emptied at commit). */
  private async ensureStaging(client: pg.PoolClient): Promise<void> {
    if (this.staged.has(client)) return;
    // Temporary tables live in the session's own buffers (8 MB by default): room for a large
    // write without spilling to disk. Only settable before the session's first temporary table.
    await client.query(`SET temp_buffers = '64MB'`);
    await client.query(
      `CREATE TEMPORARY TABLE IF NOT EXISTS samples_staging (point_id bigint, time timestamptz, value float8, text_value text, quality sample_quality, reason text) ON COMMIT DELETE ROWS`,
    );
    this.staged.add(client);
  }

  /**
   * Loads `rows` (every id known) into samples within `client`'s open transaction, with COPY when
   * `copy`, else with one INSERT. Returns which rows were new in `skip-stored` mode, undefined
   * (all of them) in `all-new` mode, where a sample already stored fails the load with
   * AlreadyStoredError. After a failed COPY the connection may be mid-protocol: never reuse it.
   * With `copy` in `skip-stored` mode, call `prepare` first, before the transaction begins.
   */
  async load(client: pg.PoolClient, rows: SampleRows, mode: LoadMode, copy: boolean): Promise<boolean[] | undefined> {
    try {
      if (mode === 'all-new') {
        await (copy ? this.copySamples(client, rows) : this.insertSamples(client, rows));
        return undefined;
      }
      return await (copy ? this.copyNewSamples(client, rows) : this.insertNewSamples(client, rows));
    } catch (error) {
      if (isUniqueViolation(error)) throw new AlreadyStoredError('some samples are already stored', { cause: error });
      throw error;
    }
  }

  /** What `load` needs outside the transaction: the connection's staging table for `skip-stored` COPY. */
  async prepare(client: pg.PoolClient, mode: LoadMode, copy: boolean): Promise<void> {
    if (copy && mode === 'skip-stored') await this.ensureStaging(client);
  }

  /** Small writes of samples none of which is stored yet: one INSERT of the samples passed as arrays. */
  private async insertSamples(client: pg.ClientBase, rows: SampleRows): Promise<void> {
    await client.query(`INSERT INTO samples (point_id, time, value, text_value, quality, reason) ${UNNEST_SAMPLES}`, sampleArrays(rows));
  }

  /** Small writes that may repeat stored samples: inserts the new ones and tells which they are. */
  private async insertNewSamples(client: pg.ClientBase, rows: SampleRows): Promise<boolean[]> {
    const result = await client.query<{ p: string; t: number }>(
      `INSERT INTO samples (point_id, time, value, text_value, quality, reason) ${UNNEST_SAMPLES}
       ON CONFLICT (point_id, time) DO NOTHING
       RETURNING point_id AS p, (extract(epoch FROM time) * 1000)::float8 AS t`,
      sampleArrays(rows),
    );
    return storedAmong(rows, result.rows);
  }

  /** Large writes of samples none of which is stored yet: COPY straight into the samples. */
  private async copySamples(client: pg.PoolClient, rows: SampleRows): Promise<void> {
    await this.copyRows(client, 'samples', rows);
  }

  /**
   * Large writes that may repeat stored samples: COPY into the session's staging table, then one
   * INSERT … SELECT that keeps the samples already stored, and tells which were new.
   */
  private async copyNewSamples(client: pg.PoolClient, rows: SampleRows): Promise<boolean[]> {
    await this.copyRows(client, 'samples_staging', rows);
    const result = await client.query<{ p: string; t: number }>(
      `INSERT INTO samples (point_id, time, value, text_value, quality, reason)
       SELECT point_id, time, value, text_value, quality, reason FROM samples_staging
        ORDER BY point_id, time -- in index order: the primary key's pages are visited once, not at random
       ON CONFLICT (point_id, time) DO NOTHING
       RETURNING point_id AS p, (extract(epoch FROM time) * 1000)::float8 AS t`,
    );
    return storedAmong(rows, result.rows);
  }

  /** COPY (text format) of `rows` into `table`, which has the columns of samples. */
  private async copyRows(client: pg.PoolClient, table: string, rows: SampleRows): Promise<void> {
    const stream = client.query(copyFrom(`COPY ${table} (point_id, time, value, text_value, quality, reason) FROM STDIN`));
    async function* text() {
      // Samples of one gateway cycle share their time: format each instant once.
      let lastTime = NaN;
      let lastText = '';
      let chunk = '';
      for (let i = 0; i < rows.ids.length; i++) {
        const s = rows.samples[i]!;
        if (s.time !== lastTime) {
          lastTime = s.time;
          lastText = new Date(s.time).toISOString();
        }
        const v = s.value;
        chunk +=
          `${rows.ids[i]}\t${lastText}\t` +
          (typeof v === 'number'
            ? `${v}\t\\N\t`
            : typeof v === 'boolean'
              ? v
                ? '1\t\\N\t'
                : '0\t\\N\t'
              : v === null
                ? '\\N\t\\N\t'
                : `\\N\t${copyText(v)}\t`) +
          `${s.quality}\t${s.reason == null ? '\\N' : copyText(s.reason)}\n`;
        if (chunk.length >= 256 * 1024) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    await pipeline(Readable.from(text(), { objectMode: false }), stream);
  }
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown }).code === '23505';
}

/** The samples of `batches` in a row each, with the ids `known` gives (0 for points not known yet). */
export function flattenSamples(batches: readonly Batch[], known: PointIds): SampleRows {
  const rows: SampleRows = { ids: [], samples: [], gateways: [], unknown: 0 };
  for (const batch of batches) {
    for (const s of batch.samples) {
      const id = known.get(batch.gateway, s.point) ?? 0;
      if (!id) rows.unknown++;
      rows.ids.push(id);
      rows.samples.push(s);
      rows.gateways.push(batch.gateway);
    }
  }
  return rows;
}

/** Fills in the ids of the rows whose point was not known when flattened (0), as `idOf` gives them. */
export function fillUnknownIds(rows: SampleRows, idOf: (gateway: string, point: string) => number): void {
  for (let i = 0; i < rows.ids.length; i++) if (!rows.ids[i]) rows.ids[i] = idOf(rows.gateways[i]!, rows.samples[i]!.point);
}

/** SELECT of the samples passed as six arrays (see sampleArrays), for INSERT INTO samples. */
const UNNEST_SAMPLES = `SELECT p, to_timestamp(t / 1000.0), v, x, q::sample_quality, r
  FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::text[], $5::text[], $6::text[]) AS u(p, t, v, x, q, r)`;

function sampleArrays(rows: SampleRows): unknown[] {
  const { ids, samples } = rows;
  return [
    ids,
    samples.map((s) => s.time),
    samples.map((s) => numericColumn(s.value)),
    samples.map((s) => textColumn(s.value)),
    samples.map((s) => s.quality),
    samples.map((s) => s.reason ?? null),
  ];
}

/** Which of `rows` an INSERT … RETURNING point_id AS p, time (epoch ms) AS t actually inserted. */
function storedAmong(rows: SampleRows, returned: readonly { p: string; t: number }[]): boolean[] {
  const keys = new Set(returned.map((r) => `${r.p}:${r.t}`));
  // A sample given twice in one write is inserted once: count it at its first place only.
  return rows.ids.map((id, i) => keys.delete(`${id}:${rows.samples[i]!.time}`));
}

/** A sample's value as stored in `value`: numbers, and booleans as 0/1. */
function numericColumn(value: Sample['value']): number | null {
  return typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : null;
}

/** A sample's value as stored in `text_value`: strings only. */
function textColumn(value: Sample['value']): string | null {
  return typeof value === 'string' ? value : null;
}

/** A text for COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyText(text: string): string {
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : text;
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
