import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CityPilotError, encodeBatch, type Batch, type Sample } from '@citypilot/sdk';

/** The outbox file cannot be opened or written (disk full, permissions, corrupt or locked file). */
export class OutboxStorageError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OUTBOX_STORAGE', message, options);
  }
}

/** A batch built from stored samples and kept, unchanged, until JetStream acknowledges it. */
export interface StoredBatch {
  seq: number;
  /** The encoded batch, byte for byte what is published (and republished after a crash). */
  payload: Uint8Array;
  /** Samples it carries. */
  samples: number;
}

/** What {@link OutboxStore.append} did with the samples it was given. */
export interface AppendResult {
  accepted: number;
  /** Refused because the outbox was full (samples or bytes). */
  refused: number;
}

export interface OutboxLimits {
  /** Samples held at most, those of the batch in flight included. */
  maxSamples: number;
  /** Bytes of sample data held at most (the file is somewhat larger: page overhead, the WAL). */
  maxBytes: number;
}

/** The file's name in the gateway's data folder. */
export const OUTBOX_FILE = 'outbox.sqlite';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
  -- Samples accepted and not yet put in a batch, in the order they were accepted.
  CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, sample TEXT NOT NULL) STRICT;
  -- Batches built and not yet acknowledged (one at a time in practice).
  CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, samples INTEGER NOT NULL) STRICT;
  -- Secrets of the outbox, made once with the file: the key of its batches' message ids.
  CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
`;

/**
 * The outbox's durable state: one SQLite database in WAL mode with `synchronous = FULL`, so
 * that every method that changes it returns only once the change is on disk (a power loss
 * included, as far as the disk honours fsync). Each change is one transaction: a crash at any
 * point leaves either the state before it or the state after it.
 *
 * Holds the accepted samples in order, the batches built from them with their sequence numbers,
 * the last sequence number used and the key of the message ids, so that `<gateway>:<key>:<seq>`
 * never names two batches and a batch sent again after a crash is the same bytes under the same
 * id.
 *
 * Synchronous (better-sqlite3); one instance per file, which it keeps locked while open: a second
 * one, in this process or another, is refused (OutboxStorageError).
 */
export class OutboxStore {
  private readonly db: Database.Database;
  private queuedSamples: number;
  private queuedBytes: number;
  private batchSamples: number;
  private batchBytes: number;
  private readonly statements;
  /**
   * The secret part of this outbox's message ids (see batchMessageId): 128 random bits in hex,
   * made with the file and kept in it, so that a batch sent again after a restart has the same
   * id, and no other gateway can guess the ids, hence take them first in JetStream's duplicate
   * window.
   */
  readonly messageIdKey: string;

  /**
   * Opens (creating it if needed) `outbox.sqlite` in `dataDir`. A `sequence` file left there by
   * earlier gateway versions is honoured: numbering continues after the numbers it reserved.
   * @throws OutboxStorageError when the folder or the file cannot be used
   */
  constructor(readonly dataDir: string) {
    const file = join(dataDir, OUTBOX_FILE);
    let db: Database.Database | undefined;
    try {
      mkdirSync(dataDir, { recursive: true });
      // Another process waiting for this one's lock would wait forever: fail at once instead.
      db = new Database(file, { timeout: 0 });
      this.db = db;
      // One gateway per outbox: the connection keeps the file locked until it closes (the
      // system releases it when a process dies, SIGKILL included), so a second gateway given
      // the same dataDir is refused at start instead of sharing, and confusing, the queue.
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      // FULL: a commit is fsynced before it returns. NORMAL would make WAL commits durable only
      // at the next checkpoint, and "accepted" must mean "on disk".
      this.db.pragma('synchronous = FULL');
      this.db.exec(SCHEMA);
      const legacy = readLegacySequence(dataDir);
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)').run('seq', legacy);
      // Made once: an existing key (and so the ids of batches already built) is kept.
      this.db.prepare('INSERT INTO secrets (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run('messageIdKey', randomBytes(16).toString('hex'));
      this.messageIdKey = this.db.prepare<[string], { value: string }>('SELECT value FROM secrets WHERE key = ?').get('messageIdKey')!.value;
    } catch (cause) {
      db?.close();
      if ((cause as { code?: string }).code === 'SQLITE_BUSY') {
        throw new OutboxStorageError(
          `the outbox ${file} is in use by another process (another gateway with the same dataDir?): give each gateway its own dataDir`,
          { cause },
        );
      }
      throw new OutboxStorageError(`cannot open the outbox ${file}: ${(cause as Error).message}`, { cause });
    }
    this.statements = {
      insertSample: this.db.prepare<[string]>('INSERT INTO samples (sample) VALUES (?)'),
      oldest: this.db.prepare<[number], { id: number; sample: string }>('SELECT id, sample FROM samples ORDER BY id LIMIT ?'),
      deleteUpTo: this.db.prepare<[number]>('DELETE FROM samples WHERE id <= ?'),
      getMeta: this.db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[string, number]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      addMeta: this.db.prepare<[string, number]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value'),
      insertBatch: this.db.prepare<[number, Uint8Array, number]>('INSERT INTO batches (seq, payload, samples) VALUES (?, ?, ?)'),
      firstBatch: this.db.prepare<[], { seq: number; payload: Uint8Array; samples: number }>('SELECT seq, payload, samples FROM batches ORDER BY seq LIMIT 1'),
      deleteBatch: this.db.prepare<[number]>('DELETE FROM batches WHERE seq = ?'),
    };
    const q = this.db
      .prepare<[], { n: number; bytes: number }>('SELECT count(*) AS n, coalesce(sum(length(CAST(sample AS BLOB))), 0) AS bytes FROM samples')
      .get()!;
    const b = this.db
      .prepare<[], { n: number; bytes: number }>('SELECT coalesce(sum(samples), 0) AS n, coalesce(sum(length(payload)), 0) AS bytes FROM batches')
      .get()!;
    this.queuedSamples = q.n;
    this.queuedBytes = q.bytes;
    this.batchSamples = b.n;
    this.batchBytes = b.bytes;
  }

  /** Samples held: waiting for a batch, plus those of unacknowledged batches. */
  depth(): number {
    return this.queuedSamples + this.batchSamples;
  }

  /** Samples waiting to be put in a batch. */
  queued(): number {
    return this.queuedSamples;
  }

  /** Bytes of data held (sample texts and batch payloads). */
  bytes(): number {
    return this.queuedBytes + this.batchBytes;
  }

  /**
   * Stores `samples` in order, in one transaction, as long as `limits` allow: the first ones that
   * fit are accepted, the rest refused (drop newest: what was accepted is never given up) and
   * added to the stored `dropped` count. Returns once committed and fsynced.
   * @throws OutboxStorageError when the transaction fails; nothing of it is then stored
   */
  append(samples: readonly Sample[], limits: OutboxLimits): AppendResult {
    const texts: string[] = [];
    let bytes = this.bytes();
    let depth = this.depth();
    for (const sample of samples) {
      const text = JSON.stringify(sample);
      const size = Buffer.byteLength(text);
      if (depth + 1 > limits.maxSamples || bytes + size > limits.maxBytes) break;
      texts.push(text);
      depth += 1;
      bytes += size;
    }
    const refused = samples.length - texts.length;
    this.transaction(() => {
      for (const text of texts) this.statements.insertSample.run(text);
      if (refused) this.statements.addMeta.run('dropped', refused);
    });
    this.queuedSamples += texts.length;
    this.queuedBytes = bytes - this.batchBytes;
    return { accepted: texts.length, refused };
  }

  /** The oldest batch built and not yet acknowledged, if any. */
  pendingBatch(): StoredBatch | undefined {
    const row = this.statements.firstBatch.get();
    return row && { seq: row.seq, payload: new Uint8Array(row.payload), samples: row.samples };
  }

  /**
   * Takes up to `maxSamples` of the oldest waiting samples into a new batch under the next
   * sequence number, in one transaction: after a crash the samples are either still waiting or
   * in that batch, never both or neither. `make` completes the batch (points, building).
   */
  buildBatch(maxSamples: number, make: (seq: number, samples: Sample[]) => Batch): StoredBatch {
    return this.transaction(() => {
      const rows = this.statements.oldest.all(maxSamples);
      const seq = (this.statements.getMeta.get('seq')?.value ?? 0) + 1;
      const payload = encodeBatch(
        make(
          seq,
          rows.map((r) => JSON.parse(r.sample) as Sample),
        ),
      );
      if (rows.length) this.statements.deleteUpTo.run(rows[rows.length - 1]!.id);
      this.statements.insertBatch.run(seq, payload, rows.length);
      this.statements.setMeta.run('seq', seq);
      const removed = rows.reduce((n, r) => n + Buffer.byteLength(r.sample), 0);
      // Counters change only once the transaction has committed (see transaction()).
      return {
        result: { seq, payload, samples: rows.length },
        after: () => {
          this.queuedSamples -= rows.length;
          this.queuedBytes -= removed;
          this.batchSamples += rows.length;
          this.batchBytes += payload.length;
        },
      };
    });
  }

  /** Forgets a batch JetStream has acknowledged, and records its sequence as the last forwarded. */
  acknowledge(batch: StoredBatch): void {
    this.transaction(() => {
      this.statements.deleteBatch.run(batch.seq);
      this.statements.setMeta.run('acked', batch.seq);
      return {
        result: undefined,
        after: () => {
          this.batchSamples -= batch.samples;
          this.batchBytes -= batch.payload.length;
        },
      };
    });
  }

  /** Samples refused since the file was created. */
  dropped(): number {
    return this.statements.getMeta.get('dropped')?.value ?? 0;
  }

  /** The last sequence number JetStream acknowledged, null before the first. */
  lastAcknowledged(): number | null {
    return this.statements.getMeta.get('acked')?.value ?? null;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private transaction<T>(work: () => { result: T; after: () => void } | void): T {
    let outcome: { result: T; after: () => void } | void;
    try {
      outcome = this.db.transaction(work).immediate();
    } catch (cause) {
      throw new OutboxStorageError(`cannot write the outbox in ${this.dataDir}: ${(cause as Error).message}`, { cause });
    }
    if (!outcome) return undefined as T;
    outcome.after();
    return outcome.result;
  }
}

/** The last number reserved by the file-based sequence of earlier gateway versions, else 0. */
function readLegacySequence(dataDir: string): number {
  try {
    return Number(readFileSync(join(dataDir, 'sequence'), 'utf8').trim()) || 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}
