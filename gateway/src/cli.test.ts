import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(packageDir, 'dist', 'cli.js');
const cases = join(packageDir, 'testcases', 'config-errors');

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1' } });
}

describe('citypilot-gateway with a bad configuration', () => {
  for (const name of ['unknown-plugin', 'wrong-type', 'missing-field']) {
    it(`run exits 2 naming file, line, path and what was expected (${name}), without a stack trace`, () => {
      const file = join(cases, name, 'gateway.yaml');
      const result = run('run', file);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      const lines = result.stderr.trim().split('\n');
      expect(lines.at(-1)).toMatch(/^.+gateway\.yaml: \d+ problems?; nothing was started\.$/);
      for (const line of lines.slice(0, -1)) expect(line).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ \\S+: .+`));
    });
  }

  it('validate says a good file is valid and runs nothing', () => {
    const result = run('validate', join(packageDir, 'sample.yaml'));
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/sample\.yaml: valid — gateway town-hall, 2 device\(s\), 18 point\(s\)\./);
    expect(result.status).toBe(0);
  });

  it('points lists the stable ids', () => {
    const result = run('points', join(packageDir, 'sample.yaml'));
    const ids = result.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    // The device's own points (aggregated ones once per function sent), then those its profile
    // (eastron-sdm630, 15 points) gives the second.
    expect(ids.slice(0, 7)).toEqual([
      'main-meter.energy',
      'main-meter.energy.last',
      'main-meter.power',
      'main-meter.power.max',
      'main-meter.power.count',
      'main-meter.power-factor',
      'heating-meter.voltage-l1',
    ]);
    expect(ids).toHaveLength(21);
    expect(ids).toContain('heating-meter.energy-total');
  });

  it('explains its usage when called wrong', () => {
    const result = run('start');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^Unknown command "start"\./);
  });
});
