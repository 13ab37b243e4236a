import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { TObject } from '@sinclair/typebox';
import { Document, isMap, isScalar, isSeq, visit } from 'yaml';
import { ConfigError, parseDuration, silentLogger, validate, type DeviceProfile, type DiscoveredDevice, type DriverPlugin, type Logger } from '@citypilot/sdk';
import { ProfileLibrary } from '../config/profiles.js';
import type { PluginRegistry } from '../config/registry.js';

/** A command line `discover` cannot run: unknown plugin or option, a value of the wrong type. */
export class DiscoverUsageError extends Error {}

/** `--timeout` and `--profiles` belong to the command; every other option to the plugin. */
const COMMAND_OPTIONS = ['timeout', 'profiles'];

/**
 * `citypilot gateway discover <plugin> --<option> <value> …`: runs the plugin's discovery and
 * returns the draft device blocks as YAML, each preceded by what to check as comments.
 * @throws DiscoverUsageError for a bad command line; the discovery's own errors otherwise
 */
export async function discoverDevices(
  registry: PluginRegistry,
  pluginId: string | undefined,
  args: readonly string[],
  logger: Logger = silentLogger,
): Promise<string> {
  const plugin = pluginId ? registry.get(pluginId) : undefined;
  const able = registry.ids().filter((id) => registry.get(id)!.discovery);
  if (!plugin) throw new DiscoverUsageError(`${pluginId ? `unknown plugin ${JSON.stringify(pluginId)}` : 'which plugin?'}: expected one of ${able.join(', ')}`);
  const discovery = plugin.discovery;
  if (!discovery) throw new DiscoverUsageError(`the ${plugin.manifest.id} plugin cannot discover devices; those that can: ${able.join(', ')}`);
  const given = parseOptions(args);
  if (given.help !== undefined) throw new DiscoverUsageError(discoverHelp(plugin));
  const timeoutMs = parseDuration(given.timeout ?? '1s');
  const profileDirs = given.profiles ? [resolve(given.profiles)] : [];
  const pluginOptions = Object.fromEntries(Object.entries(given).filter(([k]) => !COMMAND_OPTIONS.includes(k)));
  const schema = discovery.options as TObject;
  const result = validate(schema, Value.Convert(schema, pluginOptions));
  if (!result.ok) {
    throw new DiscoverUsageError(result.issues.map((i) => `--${kebab(i.path.join('.')) || '?'}: ${i.message}`).join('\n') + `\n\n${discoverHelp(plugin)}`);
  }
  let found;
  try {
    found = await discovery.run(result.value, { timeoutMs, profiles: loadProfiles(plugin, profileDirs), logger });
  } catch (error) {
    if (error instanceof ConfigError) throw new DiscoverUsageError(error.issues.map((i) => `--${kebab(i.path.join('.'))}: ${i.message}`).join('\n'));
    throw error;
  }
  if (!found.length)
    return '# No device answered. Check the options (--help lists them: address, port, unit ids or instance range), or lengthen --timeout (and --wait for BACnet).\n';
  return formatDrafts(found, [`${found.length} device(s) found by ${plugin.manifest.id} discovery: review, rename, then paste under devices:`]);
}

/**
 * Draft device blocks as YAML to paste under a configuration's `devices:`, each preceded by its
 * notes as comments, after the `heading` comment lines. Shared by discovery and the imports of
 * engineering files (EDE), so that every draft reads the same. A point's tags and address are
 * written on one line each (`tags: [air, temp, sensor]`), as in the samples. Plain YAML: no
 * anchors or aliases, even where a plugin hands the same object to several points (the elements
 * of one array share their tags), so that deleting or editing one point leaves the others whole.
 */
export function formatDrafts(found: readonly DiscoveredDevice[], heading: readonly string[]): string {
  const blocks = found.map(({ device, notes }) => {
    // Plain YAML: a value the device blocks share (an empty tags list) written out at each place,
    // not as an anchor and aliases, which the configuration loader refuses.
    const document = new Document([device], { aliasDuplicateObjects: false });
    visit(document, {
      Pair(_, pair) {
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        if ((key === 'tags' || key === 'address') && (isSeq(pair.value) || isMap(pair.value))) pair.value.flow = true;
      },
    });
    const yaml = document.toString({ indent: 2, flowCollectionPadding: false }).replace(/^/gm, '  ').trimEnd();
    return [...notes.map((n) => `  # ${n}`), yaml].join('\n');
  });
  return `${heading.map((h) => `# ${h}`).join('\n')}\ndevices:\n${blocks.join('\n\n')}\n`;
}

/** What `discover <plugin> --help` prints: the plugin's options with their descriptions. */
export function discoverHelp(plugin: DriverPlugin): string {
  const properties = (plugin.discovery?.options as TObject | undefined)?.properties ?? {};
  const lines = Object.entries(properties).map(([key, s]) => {
    const schema = s as { description?: string; default?: unknown };
    const fallback = schema.default === undefined ? '' : ` (default ${JSON.stringify(schema.default)})`;
    return `  --${kebab(key)}  ${schema.description ?? ''}${fallback}`;
  });
  return [
    `Usage: citypilot gateway discover ${plugin.manifest.id} [--<option> <value>]…`,
    '',
    'Options:',
    ...lines,
    '  --timeout  time allowed for each request, such as 500ms (default "1s")',
    "  --profiles  a folder of the site's device profiles, tried after the plugin's own",
  ].join('\n');
}

/** `endpointUrl` → `endpoint-url`: an option as written on the command line. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function parseOptions(args: readonly string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') {
      options.help = '';
      continue;
    }
    const match = /^--([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)(?:=(.*))?$/.exec(arg);
    if (!match) throw new DiscoverUsageError(`unexpected argument ${JSON.stringify(arg)}: options are written --name value`);
    const value = match[2] ?? args[++i];
    if (value === undefined) throw new DiscoverUsageError(`--${match[1]} needs a value`);
    // --endpoint-url is the plugin's endpointUrl: command lines are written in kebab case.
    options[match[1]!.replace(/-([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return options;
}

function loadProfiles(plugin: DriverPlugin, extraDirs: string[]): DeviceProfile[] {
  const library = new ProfileLibrary(extraDirs);
  return library.ids(plugin).flatMap((id) => {
    const loaded = library.get(plugin, id);
    return loaded ? [loaded.profile] : [];
  });
}
