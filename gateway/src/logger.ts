import { pino } from 'pino';
import type { Logger } from '@citypilot/sdk';

/**
 * Structured JSON logs on stdout, one line per event (`LOG_LEVEL` sets the level, default info).
 * Every CityPilot process logs this way.
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } });
}
