import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigFileError } from '@citypilot/sdk';
import { loadProjectsFile } from './file.js';

/** The sample file is the documentation of a projects file: it must load, and a mistake in a copy must say where. */
const sample = fileURLToPath(new URL('../../projects.sample.yaml', import.meta.url));

describe('projects file', () => {
  it('loads the commented sample, defaults filled in', () => {
    const projects = loadProjectsFile(sample);
    expect(projects.map((p) => [p.key, p.lifetimeYears, p.energy?.energies ?? p.metric?.key])).toEqual([
      ['relamping-jaures-school', 20, ['elec']],
      ['boiler-town-hall', 25, ['gas']],
      ['online-booking', 20, 'reception.wait_minutes'],
    ]);
    // Defaults: no running cost or subsidy given is 0 € and none.
    expect(projects[2]!.costs).toEqual({ investment: 15000, yearlyRunningCost: 3000, subsidies: [] });
  });

  it('reports every mistake with its file, line and column, and applies nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'citypilot-projects-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        readFileSync(sample, 'utf8')
          .replace("worksEnd: '2025-08-22'", "worksEnd: '2025-06-31'")
          .replace('key: boiler-town-hall', 'key: relamping-jaures-school')
          .replace('energies: [gas]', 'energies: [steam]'),
      );
      let problems: readonly string[] = [];
      try {
        loadProjectsFile(file);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigFileError);
        problems = (error as ConfigFileError).problems;
      }
      expect(problems).toEqual([
        expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+ projects\\[0\\]\\.dates\\.worksEnd: 2025-06-31 is not a day of the calendar$`)),
        expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+ projects\\[1\\]\\.key: "relamping-jaures-school" is already the key of projects\\[0\\]$`)),
        expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+ projects\\[1\\]\\.energy\\.energies\\[0\\]: expected one of`)),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
