import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bacnetAddress, bacnetConnection } from '@citypilot/plugin-bacnet';
import { deviceConfigSchema, parseConfig } from '@citypilot/sdk';
import { runGatewayCli } from './gateway-cli.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(packageDir, 'dist', 'cli.js');
const fixtures = join(packageDir, '..', 'plugins', 'bacnet', 'testcases', 'ede');

/** The command as a process runs it: exit status and output streams. */
function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, 'import-ede', ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** The same command in this process (each spawn costs a second of CPU). */
async function runHere(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const status = await runGatewayCli(['import-ede', ...args], { out: (t) => (stdout += t + '\n'), err: (t) => (stderr += t + '\n') });
  return { status, stdout, stderr };
}

describe('citypilot gateway import-ede', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-ede-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints draft device blocks the BACnet plugin's schema accepts, with the companion state texts", () => {
    const result = run(join(fixtures, 'Mairie_EDE.csv'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      /^# 3 device\(s\) drafted from Mairie_EDE\.csv \(project Mairie annexe - GTC, version 4\): review, rename, then paste under devices:\n/,
    );
    expect(result.stdout).toContain(`# state texts read from ${join(fixtures, 'Mairie_StateTexts.csv')}`);
    expect(result.stdout).toContain('  # states of cta01-regime: 1 = Arrêt, 2 = Confort, 3 = Réduit, 4 = Hors-gel');
    expect(result.stdout).toContain('        tags: [air, temp, supply, sensor]\n        address: {objectType: analog-input, instance: 1}');
    const drafted = parse(result.stdout) as { devices: unknown[] };
    expect(drafted.devices).toHaveLength(3);
    const schema = deviceConfigSchema(bacnetConnection, bacnetAddress);
    const devices = drafted.devices.map((d) => parseConfig(schema, d));
    expect(devices.map((d) => d.id)).toEqual(['cta-01-mairie', 'chaufferie-mairie', 'salles-rdc']);
    expect(devices[0]!.points[0]).toMatchObject({ id: 'cta01-tsoufflage', name: 'Température soufflage', unit: '°C' });
  });

  it('drafts one device with its address, and lists the rows left out on stderr', () => {
    const file = join(dir, 'Site_EDE.csv');
    writeFileSync(
      file,
      [
        'PROJECT_NAME;Site',
        '# keyname;device obj.-instance;object-name;object-type;object-instance;description;present-value-default;min-present-value;max-present-value;settable;supports COV;hi-limit;low-limit;state-text-reference;unit-code;vendor-specific-address',
        'a;20;Room temp;0;1;;;;;N;Y;;;;62;',
        'b;20;Bad;0;abc;;;;;N;Y;;;;62;',
        'c;21;Other temp;0;1;;;;;N;Y;;;;62;',
      ].join('\n'),
    );
    const result = run(file, '--device-instance', '20', '--address=192.168.10.21:47809');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(`${file}:4: column object-instance: expected an integer 0..4194302, got "abc" (row left out)\n`);
    const drafted = parse(result.stdout) as { devices: { connection: unknown; points: unknown[] }[] };
    expect(drafted.devices).toEqual([expect.objectContaining({ id: 'device-20', connection: { deviceInstance: 20, address: '192.168.10.21:47809' } })]);
    expect(drafted.devices[0]!.points).toHaveLength(1);
  });

  it('exits 2 with the reason for a file it cannot use, or a bad command line', async () => {
    const notEde = join(dir, 'weather.csv');
    writeFileSync(notEde, 'date;mean_c\n2026-01-01;4.5\n');
    const refused = run(notEde);
    expect(refused.status).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/weather\.csv: not an EDE file: no column header line/);

    const broken = join(dir, 'broken_EDE.csv');
    writeFileSync(broken, '# keyname;device obj.-instance;object-name;object-type;object-instance;description\nx;1;A;0;-4;\n');
    const unusable = await runHere(broken);
    expect(unusable.status).toBe(2);
    expect(unusable.stderr).toBe(
      `${broken}: no row of the file could be drafted\n${broken}:2: column object-instance: expected an integer 0..4194302, got "-4" (row left out)\n`,
    );

    // A state-texts file named on the command line is not guessed, and must exist.
    copyFileSync(join(fixtures, 'Mairie_EDE.csv'), join(dir, 'Mairie_EDE.csv'));
    expect((await runHere(join(dir, 'Mairie_EDE.csv'), '--state-texts', join(dir, 'missing.csv'))).stderr).toMatch(
      /--state-texts .*missing\.csv: no such file/,
    );
    expect((await runHere(join(dir, 'Mairie_EDE.csv'))).stdout).toContain(
      '# 8 object(s) refer to state texts: give the state-texts file to see them in the notes',
    );
    expect((await runHere(join(dir, 'Mairie_EDE.csv'), '--address', '192.168.10.21')).stderr).toMatch(/an address is for one device, and the file describes 3/);
    expect((await runHere(join(dir, 'Mairie_EDE.csv'), '--address', 'plc-7', '--device-instance', '11001')).stderr).toMatch(
      /^--address: expected an IPv4 address/,
    );
    expect((await runHere(join(dir, 'Mairie_EDE.csv'), '--device-instance', 'x')).status).toBe(2);
    expect((await runHere(join(dir, 'nothing.csv'))).stderr).toMatch(/nothing\.csv: no such file/);
    expect((await runHere()).stderr).toMatch(/^which EDE file\?/);
    expect((await runHere('--colour', 'red')).stderr).toMatch(/^unknown option --colour/);
    const help = await runHere('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--device-instance +draft only the device/);
    for (const r of [refused, unusable]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
