import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { extract, list } from 'tar';
import { CityPilotError, manifestProblem, SDK_VERSION, type DriverPlugin, type Logger } from '@citypilot/sdk';
import { PluginPackageManifestSchema, type PluginPackageManifest } from '@citypilot/wire';
import { Value } from '@sinclair/typebox/value';

/**
 * Plugin packages on the gateway's disk (see fleet.ts of @citypilot/wire for the format): an
 * npm-pack `.tgz` whose entries are under `package/`, extracted into `<dataDir>/plugins/<id>@<version>/`,
 * and `<dataDir>/plugins/installed.json` recording the active version of each id.
 * `<dataDir>/plugins/<id>/` stays the plugin's state folder: ids hold neither `@` nor `.`.
 */

/** A package the gateway will not run: its content, its manifest, its module. The message says why. */
export class PluginPackageError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGIN_PACKAGE_INVALID', message, options);
  }
}

/** Bounds of an extracted package. */
export const MAX_UNPACKED_BYTES = 100 * 1024 * 1024;
export const MAX_PACKAGE_ENTRIES = 10_000;

/** The file of `<dataDir>/plugins/` recording the active version of each installed plugin. */
export const INSTALLED_FILE = 'installed.json';

/** What installed.json says of an id's active version. */
export interface InstalledRecord {
  version: string;
  sha256: string;
  keyId: string;
  /** ISO 8601. */
  installedAt: string;
}

export type InstalledRecords = Record<string, InstalledRecord>;

/** A package extracted and loaded: its plugin is ready to create drivers. */
export interface LoadedPackage {
  manifest: PluginPackageManifest & { version: string };
  plugin: DriverPlugin;
  /** The folder it was extracted to. */
  dir: string;
}

/** The folder of installed version `version` of plugin `id`. */
export function packageDir(dataDir: string, id: string, version: string): string {
  return join(dataDir, 'plugins', `${id}@${version}`);
}

/** installed.json's content; {} when there is none. @throws PluginPackageError when it is unreadable or malformed */
export function readInstalled(dataDir: string): InstalledRecords {
  const file = join(dataDir, 'plugins', INSTALLED_FILE);
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PluginPackageError(`${file} is not readable JSON (${(error as Error).message})`, { cause: error });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PluginPackageError(`${file}: expected an object of installed plugins by id`);
  const records: InstalledRecords = {};
  for (const [id, r] of Object.entries(parsed as Record<string, Partial<InstalledRecord>>)) {
    if (!/^[a-z0-9_-]+$/.test(id) || !r || typeof r.version !== 'string' || typeof r.sha256 !== 'string' || !/^[0-9A-Za-z.+_-]{1,100}$/.test(r.version)) {
      throw new PluginPackageError(`${file}: the entry ${JSON.stringify(id)} is not {version, sha256, keyId, installedAt}`);
    }
    records[id] = { version: r.version, sha256: r.sha256, keyId: String(r.keyId ?? ''), installedAt: String(r.installedAt ?? '') };
  }
  return records;
}

/** Saves installed.json atomically (written aside, flushed, renamed), as hub-config.ts saves its state. */
export function writeInstalled(dataDir: string, records: InstalledRecords): void {
  const folder = join(dataDir, 'plugins');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, INSTALLED_FILE);
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(records, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

/**
 * Extracts a package's `.tgz` into `dest` (which must not exist): its `package/` folder's
 * content. Every entry is checked before anything is written: only regular files and folders,
 * all under `package/`, no absolute path and no `..`, at most {@link MAX_PACKAGE_ENTRIES} entries
 * and {@link MAX_UNPACKED_BYTES} bytes. The content goes to a temporary folder beside `dest`,
 * renamed into place once complete.
 * @throws PluginPackageError saying which entry is refused; nothing is left behind
 */
export async function extractPackage(tgz: Buffer, dest: string): Promise<void> {
  let tarBytes: Buffer;
  try {
    tarBytes = await promisify(gunzip)(tgz, { maxOutputLength: MAX_UNPACKED_BYTES + 1024 * 1024 });
  } catch (error) {
    throw new PluginPackageError(`the package is not a gzip file of at most ${MAX_UNPACKED_BYTES} bytes unpacked (${(error as Error).message})`, {
      cause: error,
    });
  }
  const parent = dirname(dest);
  mkdirSync(parent, { recursive: true });
  const temporary = join(parent, `.tmp-${randomBytes(6).toString('hex')}`);
  const tarFile = `${temporary}.tar`;
  try {
    writeFileSync(tarFile, tarBytes, { mode: 0o600 });
    const problems: string[] = [];
    let entries = 0;
    let bytes = 0;
    await list({
      file: tarFile,
      strict: true,
      onReadEntry: (entry) => {
        entries++;
        bytes += entry.size ?? 0;
        const problem = entryProblem(entry.path, entry.type);
        if (problem && problems.length < 5) problems.push(problem);
        entry.resume();
      },
    });
    if (entries > MAX_PACKAGE_ENTRIES) problems.push(`it has ${entries} entries, at most ${MAX_PACKAGE_ENTRIES} are accepted`);
    if (bytes > MAX_UNPACKED_BYTES) problems.push(`it unpacks to ${bytes} bytes, at most ${MAX_UNPACKED_BYTES} are accepted`);
    if (entries === 0) problems.push('it is empty');
    if (problems.length) throw new PluginPackageError(`the package's archive is refused: ${problems.join('; ')}`);
    mkdirSync(temporary, { mode: 0o755 });
    // Checked above already; the filter is the second guard.
    await extract({
      file: tarFile,
      cwd: temporary,
      strict: true,
      strip: 1,
      preserveOwner: false,
      filter: (path, entry) => entryProblem(path, (entry as { type?: string }).type ?? 'File') === undefined,
    });
    rmSync(dest, { recursive: true, force: true });
    renameSync(temporary, dest);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    if (error instanceof PluginPackageError) throw error;
    throw new PluginPackageError(`the package's archive cannot be read (${(error as Error).message})`, { cause: error });
  } finally {
    rmSync(tarFile, { force: true });
  }
}

/** Why an archive entry is refused, if it is. */
function entryProblem(path: string, type: string): string | undefined {
  if (type !== 'File' && type !== 'OldFile' && type !== 'Directory') return `${JSON.stringify(path)} is a ${type}: only files and folders are accepted`;
  if (isAbsolute(path) || /^[A-Za-z]:/.test(path) || path.includes('\\')) return `${JSON.stringify(path)} is an absolute path`;
  const parts = path.split('/');
  if (parts.includes('..')) return `${JSON.stringify(path)} leaves the package's folder`;
  if (parts[0] !== 'package') return `${JSON.stringify(path)} is not under package/`;
  return undefined;
}

/**
 * Links the packages the gateway provides (the SDK and TypeBox) into the package's
 * `node_modules`, replacing any copy it brought: a plugin must use the gateway's, whose types and
 * symbols the gateway checks its schemas and errors with.
 */
export function linkProvidedModules(dir: string): void {
  const require = createRequire(import.meta.url);
  for (const name of ['@citypilot/sdk', '@sinclair/typebox']) {
    const target = packageRoot(require.resolve(name), name);
    const link = join(dir, 'node_modules', ...name.split('/'));
    rmSync(link, { recursive: true, force: true });
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
}

/** The folder of the package `name` that holds `entry` (its package.json names it). */
function packageRoot(entry: string, name: string): string {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === name) return dir;
  }
  throw new PluginPackageError(`cannot find the gateway's own ${name}`);
}

/**
 * Checks an extracted package's package.json and loads its module: the manifest (`citypilot`)
 * valid and naming `expected` id and version, the SDK range this gateway's, and the module's
 * default export a driver plugin saying the same id, version and SDK range.
 * @throws PluginPackageError saying what is wrong
 */
export async function loadPackage(dir: string, expected: { id: string; version: string }): Promise<LoadedPackage> {
  let pkg: { name?: unknown; version?: unknown; main?: unknown; type?: unknown; citypilot?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch (error) {
    throw new PluginPackageError(`its package.json cannot be read (${(error as Error).message})`, { cause: error });
  }
  if (!pkg || typeof pkg !== 'object') throw new PluginPackageError('its package.json is not an object');
  if (pkg.type !== 'module') throw new PluginPackageError('its package.json must say "type": "module"');
  if (typeof pkg.main !== 'string' || !pkg.main) throw new PluginPackageError('its package.json names no "main" module');
  if (typeof pkg.version !== 'string' || pkg.version !== expected.version) {
    throw new PluginPackageError(`its package.json says version ${JSON.stringify(pkg.version)}, the assignment ${expected.version}`);
  }
  if (!Value.Check(PluginPackageManifestSchema, pkg.citypilot)) {
    const first = [...Value.Errors(PluginPackageManifestSchema, pkg.citypilot)][0];
    throw new PluginPackageError(`its package.json's "citypilot" manifest is invalid${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`);
  }
  const manifest = { ...pkg.citypilot, version: pkg.version };
  if (manifest.id !== expected.id) throw new PluginPackageError(`its manifest says id ${manifest.id}, the assignment ${expected.id}`);
  const problem = manifestProblem({ ...manifest, protocol: manifest.protocol, description: manifest.description });
  if (problem) throw new PluginPackageError(`${problem} (this gateway's SDK is ${SDK_VERSION})`);
  const main = resolve(dir, pkg.main);
  if (!main.startsWith(dir + sep)) throw new PluginPackageError(`its "main" ${JSON.stringify(pkg.main)} is outside the package`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(main).href)) as { default?: unknown };
  } catch (error) {
    throw new PluginPackageError(`its module ${pkg.main} cannot be loaded (${(error as Error).message})`, { cause: error });
  }
  const plugin = module.default as Partial<DriverPlugin> | undefined;
  if (!plugin || typeof plugin !== 'object' || typeof plugin.create !== 'function' || !plugin.manifest || !plugin.schema) {
    throw new PluginPackageError(`its module ${pkg.main} does not default-export a driver plugin (manifest, schema, create)`);
  }
  const m = plugin.manifest;
  if (m.id !== manifest.id || m.version !== manifest.version || m.sdk !== manifest.sdk) {
    throw new PluginPackageError(
      `its plugin's manifest says ${m.id} ${m.version} (SDK ${m.sdk}), its package.json ${manifest.id} ${manifest.version} (SDK ${manifest.sdk})`,
    );
  }
  return { manifest, plugin: plugin as DriverPlugin, dir };
}

/** A package installed earlier, as loaded at start. */
export interface StartupPackage {
  record: InstalledRecord & { id: string };
  /** The loaded package, or why it no longer loads. */
  loaded: LoadedPackage | { error: string };
}

/**
 * Loads the packages installed.json lists, for a gateway starting: each failure is logged and
 * returned, and the gateway starts without that plugin.
 */
export async function loadInstalledPackages(dataDir: string, logger: Logger): Promise<StartupPackage[]> {
  let records: InstalledRecords;
  try {
    records = readInstalled(dataDir);
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'installed plugins unreadable; starting without them');
    return [];
  }
  const result: StartupPackage[] = [];
  for (const [id, record] of Object.entries(records)) {
    try {
      const loaded = await loadPackage(packageDir(dataDir, id, record.version), { id, version: record.version });
      result.push({ record: { id, ...record }, loaded });
    } catch (error) {
      const message = (error as Error).message;
      logger.error({ plugin: id, version: record.version, err: message }, 'an installed plugin no longer loads; starting without it');
      result.push({ record: { id, ...record }, loaded: { error: message } });
    }
  }
  return result;
}
