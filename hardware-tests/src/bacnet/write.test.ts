/**
 * Writes to a BACnet device we did not write, through the plugin as the gateway's write API uses
 * it: a value the object's type cannot hold is refused before anything is sent, a binary object
 * takes 1 and 0, a REAL reads back with the digits written. It commands only the objects named in
 * CITYPILOT_HW_BACNET_WRITABLE, at priority 16, and relinquishes each at the end: name objects
 * that a test may command, never a plant's live setpoints.
 *   CITYPILOT_HW_BACNET=ip[:port]                    the device
 *   CITYPILOT_HW_BACNET_DEVICE=1234                  its device instance
 *   CITYPILOT_HW_BACNET_WRITABLE=integer-value:1,binary-value:1,analog-value:1
 *                                                    objects the suite may command (any of these types)
 *   CITYPILOT_HW_BACNET_INTERFACE, CITYPILOT_HW_BACNET_LOCAL_PORT   as for read.test.ts
 * Skipped, saying so, without the first three.
 */
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig, PluginRegistry } from '@citypilot/gateway';
import type { Driver } from '@citypilot/sdk';
import { freeUdpPort } from './free-port.js';

const env = process.env;
const target = env.CITYPILOT_HW_BACNET;
const deviceInstance = env.CITYPILOT_HW_BACNET_DEVICE;
const writable = new Map(
  (env.CITYPILOT_HW_BACNET_WRITABLE ?? '')
    .split(',')
    .filter(Boolean)
    .map((o): [string, number] => {
      const [type, instance] = o.trim().split(':');
      return [type!, Number(instance)];
    }),
);
const networkInterface = env.CITYPILOT_HW_BACNET_INTERFACE ?? '0.0.0.0';
const localPort = Number(env.CITYPILOT_HW_BACNET_LOCAL_PORT ?? 47808);
const enabled = Boolean(target && deviceInstance && writable.size > 0);
const reason =
  'skipped: set CITYPILOT_HW_BACNET, CITYPILOT_HW_BACNET_DEVICE and CITYPILOT_HW_BACNET_WRITABLE=<objects a test may command> to write to a device';
if (!enabled) console.log(`hardware-tests/bacnet: ${reason}`);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function driverFor(points: object[]): Promise<Driver> {
  const port = localPort === 0 ? await freeUdpPort(networkInterface) : localPort;
  const block = {
    id: 'dut',
    plugin: 'bacnet',
    timeout: '3s',
    connection: { deviceInstance: Number(deviceInstance), address: target, mode: 'poll', network: { interface: networkInterface, port } },
    points,
  };
  const config = parseGatewayConfig(JSON.stringify({ gateway: { id: 'hardware-test' }, devices: [block] }), 'hardware-test.yaml', new PluginRegistry());
  const { config: dut, plugin } = config.devices[0]!;
  return plugin.create(dut, { timeoutMs: 3000, logger: quiet });
}

async function valueOf(driver: Driver, point: string): Promise<unknown> {
  const [reading] = await driver.read([point]);
  expect(reading!.quality, reading!.reason).toBe('good');
  return reading!.value;
}

describe(`BACnet/IP hardware, writes${enabled ? `: ${[...writable].map(([t, i]) => `${t}:${i}`).join(', ')} of device ${deviceInstance} at ${target}` : ` (${reason})`}`, () => {
  it.skipIf(!enabled || !writable.has('integer-value'))('refuses a fraction for an integer-value before sending it, the object left as it was', async () => {
    const driver = await driverFor([
      { id: 'iv', kind: 'number', writable: true, min: -1000, max: 1000, address: { objectType: 'integer-value', instance: writable.get('integer-value') } },
    ]);
    try {
      const before = await valueOf(driver, 'iv');
      const refusal = await driver.write!('iv', 2.5).then(
        () => undefined,
        (error: unknown) => error as { code?: string; message: string },
      );
      expect(refusal, 'the fraction was written').toBeDefined();
      expect(refusal!.code).toBe('CONFIG_INVALID');
      console.log(`  2.5 to integer-value:${writable.get('integer-value')}: ${refusal!.message}`);
      expect(await valueOf(driver, 'iv')).toBe(before);
    } finally {
      await driver.close();
    }
  });

  it.skipIf(!enabled || !writable.has('binary-value'))('commands a binary-value with 1 and 0, as the plugin README says, then relinquishes it', async () => {
    const driver = await driverFor([
      { id: 'bv', kind: 'boolean', writable: true, address: { objectType: 'binary-value', instance: writable.get('binary-value') } },
    ]);
    try {
      await driver.write!('bv', 1);
      expect(await valueOf(driver, 'bv')).toBe(true);
      await driver.write!('bv', 0);
      expect(await valueOf(driver, 'bv')).toBe(false);
    } finally {
      await driver.relinquish!('bv').catch(() => undefined);
      await driver.close();
    }
  });

  it.skipIf(!enabled || !writable.has('analog-value'))(
    'commands an analog-value with 21.3 and reads back 21.3, not its float32 widened, then relinquishes it',
    async () => {
      const driver = await driverFor([
        { id: 'av', kind: 'number', writable: true, min: -100, max: 100, address: { objectType: 'analog-value', instance: writable.get('analog-value') } },
      ]);
      try {
        await driver.write!('av', 21.3);
        expect(await valueOf(driver, 'av')).toBe(21.3);
      } finally {
        await driver.relinquish!('av').catch(() => undefined);
        await driver.close();
      }
    },
  );
});
