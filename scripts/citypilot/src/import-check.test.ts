/**
 * The repository's import rules (scripts/dependency-cruiser.cjs, drawn in docs/architecture.md),
 * tried on a small tree of wrong imports: each kind of wrong import and a circle must be found,
 * by the rule that names it, and the right imports beside them must pass. Here because this
 * package sits above every other one. `npm run check:imports` applies the same rules to the
 * repository itself in `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = join(root, 'scripts', 'dependency-cruiser.cjs');

/** A tree laid out as the repository, its files given by path and text. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-imports-'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function check(dir: string, folders: string[]): Violation[] {
  const run = spawnSync(process.execPath, [depcruise, '--config', config, '--output-type', 'json', ...folders], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  expect(run.stdout, run.stderr).not.toBe('');
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the import check', () => {
  it('finds each import against the layers, and a circle, by the rule that names it; lets the allowed ones pass', () => {
    const dir = tree({
      'protocols/wire/src/batch.ts': 'export const v = 1;\n',
      'protocols/modbus/src/client.ts': "import '../../../plugins/sdk/src/index.js';\nexport const c = 1;\n",
      'plugins/sdk/src/index.ts': "export { v } from '../../../protocols/wire/src/batch.js';\n",
      'plugins/modbus/src/plugin.ts':
        "import '../../sdk/src/index.js';\nimport '../../../protocols/modbus/src/client.js';\nimport '../../opcua/src/plugin.js';\n",
      'plugins/opcua/src/plugin.ts': "import '../../sdk/src/index.js';\n",
      'gateway/src/gateway.ts': "import '../../plugins/modbus/src/plugin.js';\nimport '../../hub/src/hub.js';\n",
      'hub/src/hub.ts': "import '../../protocols/wire/src/batch.js';\nimport '../../gateway/src/gateway.js';\n",
      'hub/src/e2e.test.ts': "import '../../gateway/src/gateway.js';\n",
      'hub/src/storage/storage.ts': "import { r } from './rollups.js';\nexport const s = r;\n",
      'hub/src/storage/rollups.ts': "import { s } from './storage.js';\nexport const r = () => s;\n",
    });
    dirs.push(dir);
    const found = check(dir, ['protocols', 'plugins', 'gateway', 'hub']).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'protocols-depend-on-nothing-of-ours: protocols/modbus/src/client.ts → plugins/sdk/src/index.ts',
        'a-driver-stands-on-the-sdk: plugins/modbus/src/plugin.ts → plugins/opcua/src/plugin.ts',
        'gateway-below-the-command: gateway/src/gateway.ts → hub/src/hub.ts',
        'hub-beside-the-gateway: hub/src/hub.ts → gateway/src/gateway.ts',
      ]),
    );
    expect(found.some((f) => f.startsWith('no-circular: hub/src/storage/'))).toBe(true);
    // Allowed: the SDK on the wire, a driver on the SDK and its protocol, the gateway on a
    // driver, the hub on the wire, and a hub test starting a gateway.
    for (const allowed of [
      'plugins/sdk/src/index.ts → protocols/wire/src/batch.ts',
      'plugins/modbus/src/plugin.ts → plugins/sdk/src/index.ts',
      'plugins/modbus/src/plugin.ts → protocols/modbus/src/client.ts',
      'gateway/src/gateway.ts → plugins/modbus/src/plugin.ts',
      'hub/src/hub.ts → protocols/wire/src/batch.ts',
      'hub/src/e2e.test.ts → gateway/src/gateway.ts',
    ]) {
      expect(found.filter((f) => f.endsWith(allowed) && !f.startsWith('no-circular'))).toEqual([]);
    }
  });
});
