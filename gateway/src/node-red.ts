import { join } from 'node:path';
import { NodeRedHost, type NodeRedLink } from '@citypilot/plugin-node-red';
import type { Logger } from '@citypilot/sdk';
import type { GatewayConfig } from './config/config.js';

/**
 * Starts the Node-RED the configuration enables, its own files (runtime settings, credentials
 * key, context) in `<dataDir>/node-red`, its flows in `nodeRed.flowsFile`. One per process: a
 * second gateway in the same process gets NodeRedHostError NODE_RED_ALREADY_RUNNING.
 */
export function startNodeRed(config: GatewayConfig, link: NodeRedLink, logger: Logger): Promise<NodeRedHost> {
  return NodeRedHost.start({ config: config.nodeRed, userDir: join(config.dataDir, 'node-red'), owner: `gateway ${config.gateway.id}`, link, logger });
}
