import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildingLoad, simulationNoise, type PointConfig, type RunningSimulator, type SimulateOptions } from '@citypilot/sdk';
import { loadOpcuaProtocol } from './protocol.js';

/**
 * Starts the simulated building's OPC UA server (air handling units, a boiler, a main meter;
 * the `citypilot-building` profile lists its variables) on 127.0.0.1. It offers security None
 * and the secure endpoints (Sign, SignAndEncrypt) and accepts anonymous sessions. Its
 * certificate is made for this run, in a temporary folder removed at stop: use security None
 * with it, or trust its certificate again after each start.
 *
 * The server's address space is the building's whatever `points` say: points on other node
 * ids read as BadNodeIdUnknown.
 */
export async function simulate(_points: PointConfig[], options: SimulateOptions): Promise<RunningSimulator> {
  if (options.host !== undefined && options.host !== '127.0.0.1') throw new Error(`the OPC UA simulator listens on 127.0.0.1 only, not ${options.host}`);
  const { OpcuaSimulator, routeOpcuaLibraryLogs } = await loadOpcuaProtocol();
  if (options.logger) routeOpcuaLibraryLogs(options.logger);
  const root = mkdtempSync(join(tmpdir(), 'citypilot-opcua-simulator-'));
  const simulator = new OpcuaSimulator({
    pkiDir: join(root, 'pki'),
    port: options.port ?? 0,
    allowAnonymous: true,
    load: buildingLoad,
    noise: simulationNoise,
  });
  try {
    const { endpointUrl } = await simulator.start();
    return {
      connection: { endpointUrl, securityMode: 'None' },
      stop: async () => {
        await simulator.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await simulator.stop();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
