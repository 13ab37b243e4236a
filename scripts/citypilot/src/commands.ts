import { describeFailure, HUB_COMMANDS_USAGE, HUB_ENVIRONMENT_USAGE, processIo, runHubCli, type CliIo } from '@citypilot/hub';

/**
 * The `citypilot` command, composed above the hub and the gateway, which do not import each other:
 * it dispatches to each, gives the hub the gateway's validator for the configurations it pushes,
 * and runs the demo city, whose processes are hubs, gateways and simulators together. The gateway
 * (with every driver and node-opcua) is loaded only by the commands that need it, so that a
 * `citypilot hub run` process holds the hub alone.
 */

const USAGE = `Usage: citypilot <command>

Commands:
  demo                      run the demo city: services, hub, two buildings behind gateways, a library read from its Linky
${HUB_COMMANDS_USAGE}
  gateway run|validate|points FILE
                            the edge gateway (see \`citypilot gateway help\`)
  simulate PLUGIN --profile ID [--port N]
                            a simulated device serving a device profile's points

${HUB_ENVIRONMENT_USAGE}`;

/** `citypilot …`: resolves with the process exit code. */
export async function runCli(args: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, sub] = args;
  try {
    switch (command) {
      case 'gateway':
        return await (await import('@citypilot/gateway')).runGatewayCli(args.slice(1), io);
      case 'demo':
        return await (await import('./demo.js')).runDemo(io);
      case 'simulate':
        return await (await import('@citypilot/gateway')).runSimulateCli(args.slice(1), io);
      case 'hub':
        if (!sub) {
          io.err(USAGE);
          return 2;
        }
        return await runHubCli(args.slice(1), io, {
          loadGatewayConfigValidator: async () => (await import('@citypilot/gateway')).gatewayConfigValidator(),
        });
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command ? 0 : 2;
      default:
        io.err(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    io.err(describeFailure(error));
    return 1;
  }
}
