import { fileURLToPath } from 'node:url';
import { ConfigError, definePlugin, parseDuration, type ConfigIssue, type Driver } from '@citypilot/sdk';
import { checkPoints, connectionIssues } from './checks.js';
import { bacnetDiscovery } from './discover.js';
import { BacnetDriver } from './driver.js';
import { bacnetAddress, bacnetConnection } from './schema.js';
import { simulate } from './simulate.js';
import { BacnetSockets, type SharedSocket, type SocketSettings } from './sockets.js';

// The plugin's parts, each in its own module: the device block's checks and the points' plan
// (checks.ts), the driver (driver.ts) with its COV state (cov.ts) and the check of a value
// before it is written (write-values.ts), the schema, the simulator and discovery.
export { confirmBound } from './checks.js';

/**
 * A BACnet/IP driver plugin with sockets of its own: the devices it creates on one local
 * interface and port share one socket. The gateway uses {@link bacnetPlugin}; tests and a
 * configuration validated while another runs create their own.
 */
export function createBacnetPlugin() {
  const sockets = new BacnetSockets();
  const plugin = definePlugin({
    manifest: {
      id: 'bacnet',
      version: '0.1.0',
      sdk: '^0.1.0',
      protocol: 'bacnet-ip',
      description:
        'BACnet/IP devices (heating, ventilation, lighting controllers): ReadPropertyMultiple, change-of-value subscriptions, writes with priority, discovery.',
    },
    schema: { connection: bacnetConnection, address: bacnetAddress },
    profilesDir: fileURLToPath(new URL('../profiles/', import.meta.url)),
    simulate,
    discovery: bacnetDiscovery(),
    create(device, context): Driver {
      const c = device.connection;
      const settings: SocketSettings = { interface: c.network.interface, port: c.network.port, broadcastAddress: c.network.broadcastAddress };
      if (c.network.bbmd) settings.bbmd = { address: c.network.bbmd.address, ttlSeconds: parseDuration(c.network.bbmd.ttl) / 1000 };
      // Every problem at once, in the order of the block. The socket's settings are checked
      // against the devices created before this one and not closed yet: the gateway's check of
      // a file creates each device and closes it later (close() leaves the socket only after
      // an await), so two devices of one file that disagree are told apart there too.
      const issues: ConfigIssue[] = connectionIssues(c);
      const conflict = sockets.conflict(settings);
      if (conflict) issues.push({ path: ['connection', 'network', conflict.setting], message: conflict.message });
      const deviceIntervalMs = parseDuration(device.interval);
      const points = checkPoints(device, issues, (id) => context.pointIntervalMs?.(id) ?? deviceIntervalMs);
      if (issues.length > 0) throw new ConfigError(issues);
      const socket: SharedSocket = sockets.join(settings, device.id, context.timeoutMs, context.logger);
      return new BacnetDriver(device.id, c, points, socket, context);
    },
  });
  return Object.assign(plugin, { sockets });
}

/**
 * The plugin the gateway registers. Module state, but the plugin instance itself: its sockets
 * are those of the devices it creates.
 */
export const bacnetPlugin = createBacnetPlugin();
