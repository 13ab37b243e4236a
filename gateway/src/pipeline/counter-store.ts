import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@citypilot/sdk';
import type { CounterReading } from './aggregate.js';

/** File in the data folder holding the last reading of each `delta` counter between runs. */
export const COUNTERS_FILE = 'counters.json';

/**
 * The counters kept by the previous run ({@link saveCounters}); none when there is no file (a
 * first start, or a crash before any clean stop) or when it cannot be read, which is logged: the
 * first window of each counter then starts from its first reading.
 */
export function loadCounters(dataDir: string, logger: Logger): Record<string, CounterReading> {
  const file = join(dataDir, COUNTERS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      logger.warn({ file, err: (error as Error).message }, 'cannot read the meter counters kept at the last stop; counting starts afresh');
    return {};
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    const counters: Record<string, CounterReading> = {};
    for (const [id, c] of Object.entries(parsed as Record<string, Partial<CounterReading>>)) {
      if (typeof c?.value === 'number' && Number.isFinite(c.value) && typeof c.time === 'number' && Number.isFinite(c.time))
        counters[id] = { value: c.value, time: c.time };
    }
    return counters;
  } catch (error) {
    logger.warn({ file, err: (error as Error).message }, 'the meter counters kept at the last stop are unreadable; counting starts afresh');
    return {};
  }
}

/** Writes the counters for the next run, atomically (a new file renamed over the old one). */
export function saveCounters(dataDir: string, counters: Record<string, CounterReading>, logger: Logger): void {
  const file = join(dataDir, COUNTERS_FILE);
  try {
    writeFileSync(`${file}.tmp`, JSON.stringify(counters));
    renameSync(`${file}.tmp`, file);
  } catch (error) {
    logger.warn({ file, err: (error as Error).message }, 'cannot keep the meter counters for the next start');
  }
}
