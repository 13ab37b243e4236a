import { setFlagsFromString } from 'node:v8';
import { virtualPointDefinitions } from '@citypilot/plugin-node-red';
import { GatewayConfigError, loadGatewayConfig } from '../config/config.js';
import { aggregateIds } from '../pipeline/aggregate.js';
import { Gateway } from '../gateway.js';
import { createLogger } from '../logger.js';
import { discoverDevices, discoverHelp, DiscoverUsageError } from './discover-command.js';
import { describeEdeFileError, IMPORT_EDE_HELP, importEdeFile, ImportEdeUsageError } from './import-ede-command.js';
import { EdeFileError } from '@citypilot/plugin-bacnet';
import { builtinPlugins, PluginRegistry } from '../config/registry.js';
import { gatewayDataDir } from '../config/data-dir.js';
import { loadInstalledPackages } from '../fleet/packages.js';
import type { Logger } from '@citypilot/sdk';
import { runWriteTokenCli } from './write-token-command.js';
import { describeFailure, processIo, type CliIo } from './io.js';

const USAGE = `Usage: citypilot gateway <command> <config.yaml>

Commands:
  run FILE        run the gateway described by FILE until SIGINT or SIGTERM; FILE is applied
                  again when it changes or on SIGHUP (if valid; else the running one is kept)
  validate FILE   check FILE (schemas and each plugin's own rules) without connecting to anything
  points FILE     list the points FILE defines, with their stable ids
  discover PLUGIN [--option value]…
                  look for devices (read only) and print draft device blocks to paste into a
                  configuration; \`discover PLUGIN --help\` lists the plugin's options
  import-ede FILE.csv [--device-instance N] [--address IP] [--state-texts FILE]
                  draft BACnet device blocks from an EDE file (the integrator's object list)
  write-token create|list|revoke FILE [--name TECHNICIAN]
                  the technicians' tokens for the write API (status.allowWrites): create
                  prints a token once, the gateway keeps its hash
  opcua-certificates list FILE
                  the OPC UA servers' certificates seen (rejected until trusted, trusted) and
                  our own, the one to give each server's administrator
  opcua-certificates trust FILE THUMBPRINT
                  trust one server certificate, by its thumbprint as list shows it
                  (--data-dir DIR in place of FILE names the data folder itself)

Environment: NATS_URL (when the file names no hub.natsUrl), LOG_LEVEL.`;

/**
 * `citypilot gateway …`. Resolves with the exit code: 0 done, 1 failure at run time, 2 bad usage
 * or bad configuration (printed as file:line:column path: expected, never as a stack trace).
 * `run` resolves only once the gateway has stopped on a signal.
 */
export async function runGatewayCli(args: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, file, ...rest] = args;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'discover') return discover(file, rest, io);
  if (command === 'import-ede') return importEde(args.slice(1), io);
  if (command === 'opcua-certificates') return opcuaCertificates(args.slice(1), io);
  if (command === 'write-token') return runWriteTokenCli(args.slice(1), io);
  if (!['run', 'validate', 'points'].includes(command)) {
    io.err(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
    return 2;
  }
  if (!file || rest.length) {
    io.err(`citypilot gateway ${command} takes one configuration file.\n\n${USAGE}`);
    return 2;
  }
  try {
    // A gateway is a small daemon that runs for years on a small machine: have V8 keep its heap
    // small rather than fast. Loading a configuration of thousands of points makes some 200 MB
    // of short-lived garbage; by default V8 grows its heap for it and gives the memory back to
    // the system only minutes later. The 5,000-point benchmark: RSS back to about 92 MB within
    // 30 s of the start instead of 2 minutes (peak 197 MB before, 110 to 174 MB now, by load),
    // steady 106 → 94 MB on average, for the same CPU (about 2.3 % of one core). Set before
    // the configuration is loaded.
    if (command === 'run') setFlagsFromString('--optimize-for-size');
    // Installed plugin packages first: the configuration may use their devices. Only dataDir is
    // read for it, so that a file with other mistakes is reported as a whole below.
    const installedPackages = await loadInstalledPackages(gatewayDataDir(file), command === 'run' ? createLogger('citypilot-gateway', {}) : cliLogger(io));
    const installed = installedPackages.flatMap(({ loaded }) => ('plugin' in loaded ? [loaded.plugin] : []));
    const config = loadGatewayConfig(file, new PluginRegistry([...builtinPlugins, ...installed]));
    if (command === 'validate') {
      const points = config.devices.reduce((n, d) => n + d.config.points.length, 0);
      io.out(`${file}: valid — gateway ${config.gateway.id}, ${config.devices.length} device(s), ${points} point(s).`);
      return 0;
    }
    if (command === 'points') {
      for (const { config: device, plugin } of config.devices) {
        for (const p of device.points) {
          // An aggregated point reaches the hub as one point per function.
          const ids = p.aggregate ? aggregateIds(`${device.id}.${p.id}`, p.aggregate.functions) : [`${device.id}.${p.id}`];
          for (const id of ids) io.out(`${id}\t${p.name ?? p.id}\t${p.unit ?? ''}\t${plugin.manifest.id}\t${JSON.stringify(p.address)}`);
        }
      }
      if (config.nodeRed.enabled) {
        for (const p of virtualPointDefinitions(config.nodeRed))
          io.out(`${p.id}\t${p.name}\t${p.unit ?? ''}\t${p.source.plugin}\t${JSON.stringify(p.source.address)}`);
      }
      return 0;
    }
    // Handled from now on: SIGHUP's default action would end the process. One received while
    // the gateway starts is served once it has.
    let gateway: Gateway | undefined;
    let reloadAsked = false;
    const reload = () => (gateway ? void gateway.reload() : (reloadAsked = true));
    process.on('SIGHUP', reload);
    try {
      gateway = await Gateway.start({ config, configFile: file, installedPackages, logger: createLogger('citypilot-gateway', { gateway: config.gateway.id }) });
      if (reloadAsked) void gateway.reload();
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await gateway.stop();
    } finally {
      process.off('SIGHUP', reload);
    }
    return 0;
  } catch (error) {
    if (error instanceof GatewayConfigError) {
      io.err(error.message);
      return 2;
    }
    io.err(describeFailure(error));
    return 1;
  }
}

async function discover(pluginId: string | undefined, args: readonly string[], io: CliIo): Promise<number> {
  const registry = new PluginRegistry();
  const plugin = pluginId ? registry.get(pluginId) : undefined;
  if (plugin && (args.includes('--help') || args.includes('-h'))) {
    io.out(discoverHelp(plugin));
    return 0;
  }
  try {
    io.out((await discoverDevices(registry, pluginId, args)).trimEnd());
    return 0;
  } catch (error) {
    if (error instanceof DiscoverUsageError) {
      io.err(error.message);
      return 2;
    }
    io.err(describeFailure(error));
    return 1;
  }
}

function importEde(args: readonly string[], io: CliIo): number {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(IMPORT_EDE_HELP);
    return 0;
  }
  try {
    const { yaml, problems } = importEdeFile(args);
    io.out(yaml.trimEnd());
    if (problems.length) io.err(problems.join('\n'));
    return 0;
  } catch (error) {
    if (error instanceof ImportEdeUsageError) {
      io.err(error.message);
      return 2;
    }
    if (error instanceof EdeFileError) {
      io.err(describeEdeFileError(error));
      return 2;
    }
    io.err(describeFailure(error));
    return 1;
  }
}

async function opcuaCertificates(args: readonly string[], io: CliIo): Promise<number> {
  // Loaded here only: node-opcua, which it uses, costs a second of start-up (it tests RSA
  // PKCS#1 v1.5 with a 4096-bit key when loaded) that other commands need not pay.
  const { runOpcuaCertificatesCli } = await import('./opcua-certificates-command.js');
  return await runOpcuaCertificatesCli(args, io);
}

/** Errors of the installed plugins, for a command that prints rather than logs. */
function cliLogger(io: CliIo): Logger {
  const print = (obj: object, msg?: string) => io.err(`${msg ?? ''} ${JSON.stringify(obj)}`.trim());
  return { debug() {}, info() {}, warn: print, error: print };
}
