import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COUNTERS_FILE, loadCounters, saveCounters } from './counter-store.js';

describe('meter counters kept between runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-counters-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (_: object, msg?: string) => warnings.push(msg ?? ''), error() {} };

  it('reads back what was saved, with no file left behind but its own', () => {
    expect(loadCounters(dir, logger)).toEqual({});
    saveCounters(dir, { 'm.e': { value: 12.5, time: 1_700_000_000_000 } }, logger);
    expect(loadCounters(dir, logger)).toEqual({ 'm.e': { value: 12.5, time: 1_700_000_000_000 } });
    expect(readdirSync(dir)).toEqual([COUNTERS_FILE]);
    expect(warnings).toEqual([]);
  });

  it('starts afresh, saying so, from a file it cannot understand, and skips entries that are not readings', () => {
    writeFileSync(join(dir, COUNTERS_FILE), '{"m.e": {"value": 1, "time": 2}, "m.f": {"value": "x"}}');
    expect(loadCounters(dir, logger)).toEqual({ 'm.e': { value: 1, time: 2 } });
    writeFileSync(join(dir, COUNTERS_FILE), '{"m.e": ');
    expect(loadCounters(dir, logger)).toEqual({});
    expect(warnings).toEqual(['the meter counters kept at the last stop are unreadable; counting starts afresh']);
  });
});
