import { mkdirSync, openSync, readFileSync, renameSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/** Sequence numbers reserved on disk at a time: one fsync per this many batches. */
const BLOCK = 1000;

/**
 * The gateway's batch sequence: monotonic across restarts, so that `<gateway>:<seq>` never
 * names two different batches (the hub would drop the second as a duplicate). Numbers are
 * reserved on disk a block at a time before use; a restart skips the rest of the block, which
 * leaves a gap but never a repeat.
 */
export class SequenceStore {
  private next: number;
  private reserved: number;
  private readonly file: string;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.file = join(dataDir, 'sequence');
    let stored = 0;
    try {
      stored = Number(readFileSync(this.file, 'utf8').trim()) || 0;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.next = stored + 1;
    this.reserved = stored;
  }

  /** The next sequence number, starting at 1. */
  take(): number {
    if (this.next > this.reserved) this.reserve(this.next + BLOCK - 1);
    return this.next++;
  }

  private reserve(upTo: number): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, `${upTo}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.reserved = upTo;
  }
}
