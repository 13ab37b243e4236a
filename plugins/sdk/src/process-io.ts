/**
 * What every CityPilot process and command shares at its ends: where a command prints, how an
 * unexpected failure is said in one line, and the structured log. One home for the gateway's,
 * the hub's and the composed `citypilot` command's.
 */
import { pino } from 'pino';
import { CityPilotError } from '@citypilot/wire';
import type { Logger } from './plugin.js';

/** Output streams, so that tests can capture what a command prints. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The process's own standard output and error. */
export const processIo: CliIo = { out: (t) => process.stdout.write(t + '\n'), err: (t) => process.stderr.write(t + '\n') };

/** Prints `rows` (the first one a header) as columns padded to their widest cell, two spaces apart. */
export function printTable(io: CliIo, rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((r) => r[column]!.length)));
  for (const row of rows)
    io.out(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
}

/** One line for an unexpected failure; the stack only when CITYPILOT_DEBUG is set. */
export function describeFailure(error: unknown): string {
  if (process.env.CITYPILOT_DEBUG) return (error as Error).stack ?? String(error);
  const code = error instanceof CityPilotError ? ` [${error.code}]` : '';
  return `citypilot: ${(error as Error).message ?? String(error)}${code}`;
}

/**
 * Structured JSON logs on stdout, one line per event (`LOG_LEVEL` sets the level, default info),
 * as every CityPilot process logs.
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } });
}
