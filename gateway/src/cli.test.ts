import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
    const ids = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]);
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

describe('citypilot-gateway run and SIGHUP', () => {
  it('re-reads its file on SIGHUP, applies it when valid, and keeps running when it is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'citypilot-cli-sighup-'));
    const file = join(dir, 'gateway.yaml');
    // A device nobody answers (port 1) and no NATS: what is watched here is the configuration.
    const config = (interval: string) =>
      `gateway:\n  id: sighup\nstatus: { port: 0 }\ndevices:\n  - id: d\n    plugin: modbus\n    interval: ${interval}\n` +
      `    connection: { host: 127.0.0.1, port: 1 }\n    points:\n      - { id: p, address: { table: holding, address: 0 } }\n`;
    writeFileSync(file, config('1s'));
    const child = spawn(process.execPath, [cli, 'run', file], {
      env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const logged = (msg: string, times = 1) => out.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length >= times;
    try {
      await expect.poll(() => logged('gateway started'), { timeout: 20_000 }).toBe(true);
      // Unchanged: nothing to apply, and the process is still there (SIGHUP's default would end it).
      child.kill('SIGHUP');
      await expect.poll(() => logged('configuration file unchanged'), { timeout: 10_000 }).toBe(true);
      writeFileSync(file, config('5s'));
      child.kill('SIGHUP');
      await expect.poll(() => logged('configuration applied'), { timeout: 10_000 }).toBe(true);
      writeFileSync(file, config('never'));
      child.kill('SIGHUP');
      await expect.poll(() => logged('configuration refused; the running one is kept'), { timeout: 10_000 }).toBe(true);
      expect(out).toContain(`${file}:7:5 devices[0].interval: expected a duration`);
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
