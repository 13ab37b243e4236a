/**
 * The BACnet/IP suite against a real device, or an independent implementation (a BACnet stack's
 * demo server, a vendor's simulator), named in the environment (the suite is skipped, saying so,
 * without CITYPILOT_HW_BACNET). It only reads:
 *   CITYPILOT_HW_BACNET=ip[:port]                 the device (port 47808 when not given)
 *   CITYPILOT_HW_BACNET_INTERFACE=192.0.2.5       this machine's address on its network (default 0.0.0.0)
 *   CITYPILOT_HW_BACNET_LOCAL_PORT=47808          the local UDP port (default 47808; stop a gateway using it;
 *                                                 0 for a free one, for a device that answers a directed Who-Is by unicast)
 * Example: CITYPILOT_HW_BACNET=192.0.2.21 npm test
 */
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig, PluginRegistry } from '@citypilot/gateway';
import type { DiscoveredDevice, Driver } from '@citypilot/sdk';
import { freeUdpPort } from './free-port.js';

const target = process.env.CITYPILOT_HW_BACNET;
const networkInterface = process.env.CITYPILOT_HW_BACNET_INTERFACE ?? '0.0.0.0';
const localPort = Number(process.env.CITYPILOT_HW_BACNET_LOCAL_PORT ?? 47808);
const reason = 'skipped: set CITYPILOT_HW_BACNET=ip[:port] to run against a real BACnet/IP device';
if (!target) console.log(`hardware-tests/bacnet: ${reason}`);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** Points read at most: a controller may have thousands of objects. */
const MAX_POINTS = 50;

describe(`BACnet/IP hardware${target ? `: device at ${target}` : ` (${reason})`}`, () => {
  let drafted: DiscoveredDevice | undefined;

  it.skipIf(!target)('answers a directed Who-Is, and its objects are drafted into a block the gateway accepts', async () => {
    const registry = new PluginRegistry();
    const discovery = registry.get('bacnet')!.discovery!;
    const found = await discovery.run(
      { interface: networkInterface, port: localPort, broadcastAddress: '255.255.255.255', address: target, wait: '3s' },
      { timeoutMs: 3000, profiles: [], logger: quiet },
    );
    expect(found, 'no I-Am from the device').toHaveLength(1);
    drafted = found[0]!;
    const points = drafted.device.points as unknown[];
    expect(points.length, `no object of the device can be a point: ${drafted.notes.join('; ')}`).toBeGreaterThan(0);
  });

  for (const mode of ['poll', 'cov'] as const) {
    it.skipIf(!target)(`reads up to ${MAX_POINTS} of its points in mode ${mode}, twice, each reading good or with a reason`, async () => {
      expect(drafted, 'the discovery test found no device').toBeDefined();
      // A device block needs a real port: 0 (any free one, for discovery) becomes one that is free now.
      const port = localPort === 0 ? await freeUdpPort(networkInterface) : localPort;
      const device = {
        ...drafted!.device,
        connection: { ...(drafted!.device.connection as object), mode, network: { interface: networkInterface, port } },
        points: (drafted!.device.points as unknown[]).slice(0, MAX_POINTS),
      };
      const config = parseGatewayConfig(
        JSON.stringify({ gateway: { id: 'hardware-test' }, devices: [{ ...device, timeout: '3s' }] }),
        'hardware-test.yaml',
        new PluginRegistry(),
      );
      const { config: block, plugin } = config.devices[0]!;
      const driver: Driver = plugin.create(block, { timeoutMs: 3000, logger: quiet });
      try {
        const first = await driver.read();
        expect(first).toHaveLength(block.points.length);
        for (const r of first) if (r.quality !== 'good') expect(r.reason, r.point).toBeTruthy();
        expect(first.filter((r) => r.quality === 'good').length, 'no point read good').toBeGreaterThan(0);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const second = await driver.read();
        expect(second.map((r) => r.point)).toEqual(first.map((r) => r.point));
      } finally {
        await driver.close();
      }
    });
  }
});
