import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'tar';

/** Absolute path of the test plugin package's folder (gateway/testcases/plugin-http-json). */
export const HTTP_JSON_PLUGIN_DIR = fileURLToPath(new URL('../../testcases/plugin-http-json', import.meta.url));

/** Changes made to a copy of a package folder before it is packed. */
export interface PluginPackageEdit {
  /** package.json's `version` (the plugin's manifest reads it from there). */
  version?: string;
  /** package.json's `citypilot.sdk`. */
  sdk?: string;
  /** A new text of index.js from the old one (a version whose create() throws, …). */
  indexJs?: (text: string) => string;
}

/**
 * Packs the plugin package in `dir` as `npm pack` does (a gzipped tar, entries under
 * `package/`), after applying `edit` to a copy: the `.tgz` bytes, to sign and put in the hub's
 * object store.
 */
export async function packPluginPackage(dir: string, edit: PluginPackageEdit = {}): Promise<Buffer> {
  const work = mkdtempSync(join(tmpdir(), 'citypilot-plugin-pack-'));
  try {
    const root = join(work, 'package');
    cpSync(dir, root, { recursive: true });
    const pkgFile = join(root, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string; citypilot: { sdk: string } };
    if (edit.version !== undefined) pkg.version = edit.version;
    if (edit.sdk !== undefined) pkg.citypilot.sdk = edit.sdk;
    writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
    if (edit.indexJs) writeFileSync(join(root, 'index.js'), edit.indexJs(readFileSync(join(root, 'index.js'), 'utf8')));
    const file = join(work, 'package.tgz');
    await create({ gzip: true, file, cwd: work, portable: true }, ['package']);
    return readFileSync(file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
