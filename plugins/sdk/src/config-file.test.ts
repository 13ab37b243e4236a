import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError, parseYaml, readYamlFile } from './config-file.js';

/** The problems of a refused text, as a technician reads them. */
function problems(text: string, file = 'gateway.yaml'): string[] {
  try {
    parseYaml(text, file);
  } catch (error) {
    if (error instanceof ConfigFileError) return [...error.problems];
    throw error;
  }
  throw new Error('the text was accepted');
}

describe('anchors and aliases in a configuration file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-config-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('places an alias whose anchor was deleted at its file, line and column', () => {
    // A draft's first point, which held the anchor, deleted: what is left names a lost anchor.
    const text = 'points:\n  - id: b\n    tags: *a1\n';
    expect(problems(text)).toEqual([
      'gateway.yaml:3:11 YAML alias *a1 names no anchor &a1 before it (deleted, renamed or further down the file): write the value out here',
    ]);
    // The same through a file read from disk, with the loader's own outcome.
    const file = join(dir, 'profile.yaml');
    writeFileSync(file, `id: meter\n${text}`);
    let error: unknown;
    try {
      readYamlFile(file, 'nothing was imported');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).toBe(
      `${file}:4:11 YAML alias *a1 names no anchor &a1 before it (deleted, renamed or further down the file): write the value out here\n${file}: 1 problem; nothing was imported.`,
    );
    expect((error as Error).message).not.toMatch(/Unresolved|ReferenceError/);
  });

  it('refuses a list or map shared through an alias, naming both places, and an anchor defined twice; takes an alias of one value', () => {
    const text =
      'points:\n  - id: a\n    tags: &a1 []\n  - id: b\n    tags: *a1\n  - id: c\n    address: &addr { table: holding }\n  - id: d\n    address: *addr\n';
    expect(problems(text)).toEqual([
      'gateway.yaml:5:11 YAML alias *a1 shares the list at gateway.yaml:3:15 (anchor &a1) with this place: a configuration file takes no alias of a list or map (an edit of one place would silently change the other): write the list out here',
      'gateway.yaml:9:14 YAML alias *addr shares the map at gateway.yaml:7:20 (anchor &addr) with this place: a configuration file takes no alias of a list or map (an edit of one place would silently change the other): write the map out here',
    ]);
    // A map that holds an alias of itself is the same sharing, not a crash of the reader.
    expect(problems('a: &self\n  b: *self\n')).toEqual([
      expect.stringMatching(/^gateway\.yaml:2:6 YAML alias \*self shares the map at gateway\.yaml:2:3 \(anchor &self\)/),
    ]);
    expect(problems('a: &x 1\nb: &x 2\nc: *x\n')).toEqual([
      'gateway.yaml:2:7 YAML anchor &x is defined already at gateway.yaml:1:7: give each anchor its own name',
    ]);
    // An alias of a single value is taken, as if written out.
    expect(parseYaml('fast: &fast 5s\npoints:\n  - interval: *fast\n', 'gateway.yaml').data).toEqual({ fast: '5s', points: [{ interval: '5s' }] });
  });
});
