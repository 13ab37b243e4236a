import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runHubCli } from '../commands.js';
import { createTestDatabase } from '../testing/index.js';

/** `citypilot hub projects import FILE` on a real database: the sample applied, then unchanged; a bad file applies nothing. */
const sample = fileURLToPath(new URL('../../projects.sample.yaml', import.meta.url));

describe('citypilot hub projects import', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let previous: string | undefined;
  let dir: string;
  const run = async (file: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runHubCli(['projects', 'import', file], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out, err };
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'projects_cli');
    previous = process.env.DATABASE_URL;
    process.env.DATABASE_URL = db.url;
    dir = mkdtempSync(join(tmpdir(), 'citypilot-projects-cli-'));
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = previous;
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('defines the projects of a file, then finds them unchanged', async () => {
    expect(await run(sample)).toEqual({
      code: 0,
      out: ['relamping-jaures-school: version 1', 'boiler-town-hall: version 1', 'online-booking: version 1'],
      err: [],
    });
    expect((await run(sample)).out).toEqual([
      'relamping-jaures-school: unchanged (version 1)',
      'boiler-town-hall: unchanged (version 1)',
      'online-booking: unchanged (version 1)',
    ]);
  });

  it('applies nothing from a file with a mistake, and says where it is', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, readFileSync(sample, 'utf8').replace('investment: 180000', 'investment: lots').replace('Every fluorescent tube', 'Every LED tube'));
    const { code, err } = await run(file);
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(new RegExp(`${file}:\\d+:\\d+ projects\\[1\\]\\.costs\\.investment: expected the investment: an amount in €`));
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The first project's description changed in the file too, yet no version 2 was made.
      expect((await client.query(`SELECT count(*)::int AS n FROM projects`)).rows[0].n).toBe(3);
    } finally {
      await client.end();
    }
  });
});
