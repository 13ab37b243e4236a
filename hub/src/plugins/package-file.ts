/**
 * What the hub reads of a plugin package (an npm `.tgz`, protocols/wire/src/fleet.ts): its
 * `package/package.json` and the `schema` file its `citypilot` manifest names, each read in
 * memory with a size bound; nothing is extracted to disk and no code of it is run.
 */
import { Parser, type ReadEntry } from 'tar';
import semver from 'semver';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CityPilotError, ID_PATTERN, MAX_PLUGIN_PACKAGE_BYTES, PluginPackageManifestSchema, type PluginPackageDescription } from '@citypilot/wire';

/** A package the hub refuses, with where and what was expected ("package.json: citypilot.sdk: expected …"). */
export class PluginPackageError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGIN_PACKAGE_INVALID', message, options);
  }
}

/** Largest `package.json` read, in bytes. */
export const MAX_PACKAGE_JSON_BYTES = 64 * 1024;
/** Largest `schema` file read, in bytes. */
export const MAX_SCHEMA_BYTES = 256 * 1024;
/** Most bytes the archive may unpack to, all entries together (a bound on the time spent reading it). */
export const MAX_UNPACKED_BYTES = 200 * 1024 * 1024;
/** Most bytes unpacked per byte of the archive (tar aborts beyond). */
const MAX_RATIO = 200;
/** Most entries the archive may hold. */
export const MAX_ENTRIES = 10_000;

const manifestCheck = TypeCompiler.Compile(PluginPackageManifestSchema);

/**
 * Reads and checks a package: its `name`, `version` (semver), `main`, its `citypilot` manifest
 * and the schema file it names (`{connection, address}`, JSON objects).
 * @throws PluginPackageError saying which file and field, and what was expected
 */
export async function readPluginPackage(bytes: Uint8Array): Promise<PluginPackageDescription> {
  if (bytes.byteLength === 0) throw new PluginPackageError('the package is empty: expected an npm .tgz (npm pack)');
  if (bytes.byteLength > MAX_PLUGIN_PACKAGE_BYTES)
    throw new PluginPackageError(`the package has ${bytes.byteLength} bytes: at most ${MAX_PLUGIN_PACKAGE_BYTES} are accepted`);
  const packageJson = (await readEntries(bytes, ['package/package.json'], MAX_PACKAGE_JSON_BYTES)).get('package/package.json');
  if (!packageJson) throw new PluginPackageError('package/package.json: not found in the archive (expected an npm .tgz, as npm pack makes)');
  const pkg = parseJson(packageJson, 'package.json');
  if (!isObject(pkg)) throw new PluginPackageError('package.json: expected a JSON object');
  const field = (name: string) => {
    const value = pkg[name];
    if (typeof value !== 'string' || value === '') throw new PluginPackageError(`package.json: ${name}: expected a non-empty string`);
    return value;
  };
  field('name');
  const version = field('version');
  if (version.length > 100 || !semver.valid(version) || semver.clean(version) !== version)
    throw new PluginPackageError(`package.json: version: expected a semver version such as 1.2.0, not ${JSON.stringify(version.slice(0, 100))}`);
  field('main');
  const manifest = pkg.citypilot;
  if (manifest === undefined) throw new PluginPackageError('package.json: citypilot: expected the plugin manifest { id, sdk, protocol, description, schema }');
  if (!manifestCheck.Check(manifest)) {
    const first = manifestCheck.Errors(manifest).First();
    const path = (first?.path ?? '').split('/').filter(Boolean).join('.');
    throw new PluginPackageError(`package.json: citypilot${path ? `.${path}` : ''}: expected ${expectation(path, first?.message)}`);
  }
  if (!semver.validRange(manifest.sdk))
    throw new PluginPackageError(`package.json: citypilot.sdk: expected a semver range such as ^0.1.0, not ${JSON.stringify(manifest.sdk)}`);
  const schemaPath = normalisedPath(manifest.schema);
  if (!schemaPath)
    throw new PluginPackageError(`package.json: citypilot.schema: expected a relative path inside the package, not ${JSON.stringify(manifest.schema)}`);
  const schemaBytes = (await readEntries(bytes, [`package/${schemaPath}`], MAX_SCHEMA_BYTES)).get(`package/${schemaPath}`);
  if (!schemaBytes) throw new PluginPackageError(`${schemaPath}: not found in the package (package.json's citypilot.schema names it)`);
  const schema = parseJson(schemaBytes, schemaPath);
  if (!isObject(schema) || !isObject(schema.connection) || !isObject(schema.address))
    throw new PluginPackageError(`${schemaPath}: expected { "connection": <JSON Schema object>, "address": <JSON Schema object> }`);
  return {
    id: manifest.id,
    version,
    sdk: manifest.sdk,
    protocol: manifest.protocol,
    description: manifest.description,
    schema: { connection: schema.connection, address: schema.address },
  };
}

function expectation(path: string, message: string | undefined): string {
  if (path === 'id') return `an id of lowercase letters, digits, - and _ (${ID_PATTERN})`;
  if (path === '') return 'an object with id, sdk, protocol, description and schema';
  if (!message || /required property/i.test(message)) return 'a string (it is missing)';
  return message.toLowerCase().replace(/^expected /, '');
}

/** `schema.json`, `./lib/schema.json` → the path under `package/`; undefined when it leaves the package. */
function normalisedPath(path: string): string | undefined {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' || part.includes('\\')) return undefined;
    parts.push(part);
  }
  return parts.length && !path.startsWith('/') ? parts.join('/') : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new PluginPackageError(`${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

/**
 * The contents of the entries named `paths` (regular files), each of at most `maxBytes`; an
 * archive that is not a (gzipped) tar, or that unpacks to too much, is refused.
 */
function readEntries(bytes: Uint8Array, paths: readonly string[], maxBytes: number): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const found = new Map<string, Buffer>();
    let unpacked = 0;
    let entries = 0;
    let failure: PluginPackageError | undefined;
    const fail = (error: PluginPackageError) => {
      failure ??= error;
      parser.abort(error);
    };
    const parser = new Parser({
      strict: true,
      maxDecompressionRatio: MAX_RATIO,
      onReadEntry: (entry: ReadEntry) => {
        entries++;
        unpacked += entry.size;
        if (entries > MAX_ENTRIES) return fail(new PluginPackageError(`the archive has more than ${MAX_ENTRIES} entries`));
        if (unpacked > MAX_UNPACKED_BYTES) return fail(new PluginPackageError(`the archive unpacks to more than ${MAX_UNPACKED_BYTES} bytes`));
        const path = entry.path.replace(/^\.\//, '');
        if (!paths.includes(path) || entry.type !== 'File' || found.has(path)) return entry.resume();
        if (entry.size > maxBytes) return fail(new PluginPackageError(`${path.slice('package/'.length)}: ${entry.size} bytes, at most ${maxBytes} are read`));
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => found.set(path, Buffer.concat(chunks)));
      },
    });
    parser.on('error', (error: Error) => {
      if (failure) return reject(failure);
      if (/decompression ratio/.test(error.message))
        return reject(
          new PluginPackageError(`the archive unpacks to more than ${MAX_RATIO} times its size: refused (a package of code is not that compressible)`),
        );
      reject(new PluginPackageError(`not a readable npm .tgz (a gzipped tar archive): ${error.message}`, { cause: error }));
    });
    parser.on('end', () => (failure ? reject(failure) : resolve(found)));
    parser.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}
