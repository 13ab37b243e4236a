import { parseArgs } from 'node:util';
import { ProfileLibrary } from '../config/profiles.js';
import { PluginRegistry } from '../config/registry.js';
import type { CliIo } from './io.js';
import { ConfigFileError as GatewayConfigError } from '@citypilot/sdk';

export const SIMULATE_USAGE = `Usage: citypilot simulate <plugin> --profile ID [--port N] [--host H] [--serial PATH [--unit-id N]] [--profile-dir DIR]

Runs a simulated device serving the points of a device profile, with values that move like a
real building's, until Ctrl-C. Prints a device block that reaches it.
  --profile ID       the profile (e.g. eastron-sdm630; see plugins/<plugin>/profiles)
  --port N           port to listen on (default: a free one)
  --host H           address to listen on (default 127.0.0.1)
  --serial PATH      answer on a serial line instead (Modbus RTU), e.g. one end of a socat pty pair
  --unit-id N        the unit id to answer on the serial line (default 1)
  --profile-dir DIR  a folder of site profiles, searched after the plugin's own`;

/**
 * `citypilot simulate …`. Resolves with the exit code once `stopped` settles (by default on
 * SIGINT or SIGTERM); 2 for bad usage, an unknown plugin or profile.
 */
export async function runSimulateCli(args: readonly string[], io: CliIo, stopped?: Promise<void>): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        profile: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        serial: { type: 'string' },
        'unit-id': { type: 'string' },
        'profile-dir': { type: 'string', multiple: true },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  const [pluginId, ...extra] = parsed.positionals;
  const { profile: profileId, port, host, serial } = parsed.values;
  const unitId = parsed.values['unit-id'];
  const number = (v: string | undefined) => v === undefined || /^\d+$/.test(v);
  if (!pluginId || extra.length || !profileId || !number(port) || !number(unitId) || (unitId !== undefined && !serial)) {
    io.err(SIMULATE_USAGE);
    return 2;
  }
  const registry = new PluginRegistry();
  const plugin = registry.get(pluginId);
  if (!plugin?.simulate) {
    const able = registry.ids().filter((id) => registry.get(id)!.simulate);
    io.err(`No simulator for plugin ${JSON.stringify(pluginId)}: expected one of ${able.map((i) => JSON.stringify(i)).join(', ')}.`);
    return 2;
  }
  const library = new ProfileLibrary(parsed.values['profile-dir'] ?? []);
  let loaded;
  try {
    loaded = library.get(plugin, profileId);
  } catch (error) {
    if (!(error instanceof GatewayConfigError)) throw error;
    io.err(error.message);
    return 2;
  }
  if (!loaded) {
    io.err(
      `Unknown profile ${JSON.stringify(profileId)} for plugin ${pluginId}: expected one of ${library
        .ids(plugin)
        .map((i) => JSON.stringify(i))
        .join(', ')}.`,
    );
    return 2;
  }
  const { profile } = loaded;
  const line = serial ? { transport: 'rtu', serialPort: serial, unitId: unitId === undefined ? 1 : Number(unitId) } : {};
  const running = await plugin.simulate(profile.points, { host, port: port === undefined ? 0 : Number(port), connection: { ...profile.connection, ...line } });
  const connection = serial
    ? `transport: rtu, serialPort: <the other end of the line>, unitId: ${line.unitId}`
    : Object.entries(running.connection)
        .map(([k, v]) => `${k}: ${flowYaml(v)}`)
        .join(', ');
  const where = serial ? `as unit ${line.unitId} on ${serial} (Modbus RTU)` : `at ${connection}`;
  io.out(`Simulating ${profile.name} (${profile.points.length} points) ${where}. A device block for it:

  - id: simulated-${profile.id}
    plugin: ${pluginId}
    profile: ${profile.id}
    interval: 5s
    connection: { ${connection} }

Press Ctrl-C to stop.`);
  await (stopped ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    }));
  await running.stop();
  return 0;
}

/** A value as YAML in flow style, nested blocks included (BACnet's `network: { interface: …, port: … }`). */
function flowYaml(value: unknown): string {
  // A value YAML would read otherwise (an endpoint URL's colons) goes in quotes.
  if (typeof value === 'string' && /[:#,{}[\]]/.test(value)) return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `[${value.map(flowYaml).join(', ')}]`;
  return `{ ${Object.entries(value)
    .map(([k, v]) => `${k}: ${flowYaml(v)}`)
    .join(', ')} }`;
}
