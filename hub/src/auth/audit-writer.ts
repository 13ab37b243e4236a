import type pg from 'pg';
import { silentLogger, type Logger } from '@citypilot/sdk';

/** One row of api_audit, as the audit hook makes it. */
export interface AuditRow {
  at: Date;
  principal: string;
  /** The person's display name, for a write made in a session; else null. */
  principalName: string | null;
  role: string;
  method: string;
  route: string;
  target: string;
  status: number;
  /** JSON text (NUL characters already escaped), or null. */
  summary: string | null;
}

export interface AuditWriterOptions {
  pool: pg.Pool;
  logger?: Logger;
  /** Counts the rows that could not be written (failed insert, or the queue full). */
  failures?: { inc(n?: number): void };
  /** Counts the refused anonymous attempts left out of the sample (each counted in a summary row). */
  sampledOut?: { inc(n?: number): void };
  /** Refused anonymous attempts (401, 429) stored per route, method and status per window. Default 20. */
  refusedSamplePerWindow?: number;
  /** Length of a sampling window, ms. Default 60,000. */
  windowMs?: number;
  /** Rows waiting to be written, at most; beyond, a row is dropped, counted and logged. Default 10,000. */
  maxPending?: number;
  /** Rows per INSERT. Default 500. */
  batchSize?: number;
}

/** Statuses of a refused attempt whose anonymous flood is sampled rather than stored whole. */
const SAMPLED_STATUSES: ReadonlySet<number> = new Set([401, 429]);

/**
 * Writes audit rows in the background, in batches, with a bounded queue: the audit of a flood
 * costs a few inserts, never the hub's memory. Every write by a token's holder is queued; a
 * refused anonymous attempt (401 or 429) is stored only among the first `refusedSamplePerWindow`
 * of its route, method and status in each window, and the others are counted: at the end of the
 * window one row per such group records how many were left out (`summary.notRecorded`, with the
 * window's bounds). `close()` writes what is left.
 */
export class AuditWriter {
  private readonly pending: AuditRow[] = [];
  private flushing: Promise<void> | undefined;
  private windowStart = 0;
  /** Refused anonymous attempts seen in the window per group, and a sample row of each group. */
  private readonly refused = new Map<string, { seen: number; row: AuditRow }>();
  private readonly timer: NodeJS.Timeout;
  private readonly settings: Required<Omit<AuditWriterOptions, 'pool' | 'logger' | 'failures' | 'sampledOut'>>;

  constructor(private readonly options: AuditWriterOptions) {
    this.settings = { refusedSamplePerWindow: 20, windowMs: 60_000, maxPending: 10_000, batchSize: 500, ...stripUndefined(options) };
    // setInterval takes at most 2^31 - 1 ms; a longer window is still rolled by the next record.
    this.timer = setInterval(() => this.rollWindow(Date.now()), Math.min(this.settings.windowMs, 2 ** 31 - 1));
    this.timer.unref();
  }

  record(row: AuditRow): void {
    const now = row.at.getTime();
    if (now - this.windowStart >= this.settings.windowMs) this.rollWindow(now);
    if (row.principal === 'anonymous' && SAMPLED_STATUSES.has(row.status)) {
      const group = `${row.method} ${row.route} ${row.status}`;
      const counted = this.refused.get(group) ?? { seen: 0, row };
      counted.seen++;
      this.refused.set(group, counted);
      if (counted.seen > this.settings.refusedSamplePerWindow) return;
    }
    this.enqueue(row);
  }

  /** Writes every row recorded so far, the counts of the current window included. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.rollWindow(Number.POSITIVE_INFINITY);
    while (this.flushing) await this.flushing;
  }

  private enqueue(row: AuditRow): void {
    if (this.pending.length >= this.settings.maxPending) {
      this.options.failures?.inc();
      (this.options.logger ?? silentLogger).error(
        { method: row.method, route: row.route, principal: row.principal, status: row.status },
        'audit queue full: an API write was not recorded',
      );
      return;
    }
    this.pending.push(row);
    this.startFlush();
  }

  /** One flush at a time; a row queued while the last one was ending starts the next. */
  private startFlush(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.pending.length) this.startFlush();
    });
  }

  /** Ends the window: one row per group of refused anonymous attempts beyond the sample. */
  private rollWindow(now: number): void {
    const end = Number.isFinite(now) ? new Date(now) : new Date();
    for (const { seen, row } of this.refused.values()) {
      const left = seen - this.settings.refusedSamplePerWindow;
      if (left <= 0) continue;
      this.options.sampledOut?.inc(left);
      this.enqueue({
        ...row,
        at: end,
        target: row.route,
        summary: JSON.stringify({
          notRecorded: left,
          sampled: this.settings.refusedSamplePerWindow,
          from: new Date(this.windowStart).toISOString(),
          to: end.toISOString(),
        }),
      });
    }
    this.refused.clear();
    if (Number.isFinite(now)) this.windowStart = now - (now % this.settings.windowMs);
  }

  private async flush(): Promise<void> {
    const { pool, logger = silentLogger, failures } = this.options;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.settings.batchSize);
      const column = <K extends keyof AuditRow>(key: K) => batch.map((r) => r[key]);
      try {
        await pool.query(
          `INSERT INTO api_audit (at, principal_id, principal_name, role, method, route, target, status_code, summary)
           SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::jsonb[])`,
          [
            column('at'),
            column('principal'),
            column('principalName'),
            column('role'),
            column('method'),
            column('route'),
            column('target'),
            column('status'),
            column('summary'),
          ],
        );
      } catch (error) {
        failures?.inc(batch.length);
        logger.error({ rows: batch.length, err: (error as Error).message }, 'could not record an API write in the audit');
      }
    }
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
