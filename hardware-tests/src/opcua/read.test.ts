/**
 * The OPC UA suite against a real server, or an independent implementation (open62541's or
 * Prosys' demo server …), named in the environment (the suite is skipped, saying so, without
 * CITYPILOT_HW_OPCUA):
 *   CITYPILOT_HW_OPCUA=opc.tcp://host:port[/path]   the server's endpoint
 *   CITYPILOT_HW_OPCUA_SECURITY_MODE=None            None (default here), Sign or SignAndEncrypt
 *   CITYPILOT_HW_OPCUA_DATA_DIR=DIR                  a gateway data folder whose plugins/opcua/pki
 *                                                    trusts the server (and is trusted by it), for Sign and SignAndEncrypt
 *   CITYPILOT_HW_OPCUA_FROM=ns=2;s=Plant              the node to browse from (default the Objects folder)
 * Example: CITYPILOT_HW_OPCUA=opc.tcp://192.0.2.20:4840 npm test
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginRegistry, parseGatewayConfig } from '@citypilot/gateway';
import type { Reading } from '@citypilot/sdk';

const endpoint = process.env.CITYPILOT_HW_OPCUA;
const securityMode = process.env.CITYPILOT_HW_OPCUA_SECURITY_MODE ?? 'None';
const from = process.env.CITYPILOT_HW_OPCUA_FROM ?? 'ns=0;i=85';
const reason = 'skipped: set CITYPILOT_HW_OPCUA=opc.tcp://host:port to run against a real OPC UA server';
if (!endpoint) console.log(`hardware-tests/opcua: ${reason}`);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** Points read from the draft: enough to exercise batching, not a whole plant. */
const MAX_POINTS = 200;

describe(`OPC UA hardware${endpoint ? `: ${endpoint} (${securityMode})` : ` (${reason})`}`, () => {
  it.skipIf(!endpoint)('browses the server into a draft the gateway accepts, then reads its points subscribed and polled, one reading each', async () => {
    const own = process.env.CITYPILOT_HW_OPCUA_DATA_DIR ? undefined : mkdtempSync(join(tmpdir(), 'citypilot-hw-opcua-'));
    const dataDir = process.env.CITYPILOT_HW_OPCUA_DATA_DIR ?? own!;
    try {
      const registry = new PluginRegistry();
      const plugin = registry.get('opcua')!;
      const [found] = await plugin.discovery!.run({ endpointUrl: endpoint!, securityMode, dataDir, from }, { timeoutMs: 10_000, profiles: [], logger: quiet });
      const device = found!.device as { points: unknown[]; connection: object };
      expect(device.points.length, `no readable variable below ${from}: ${found!.notes.join('; ')}`).toBeGreaterThan(0);
      device.points = device.points.slice(0, MAX_POINTS);
      for (const mode of ['subscribe', 'poll']) {
        const block = { ...device, id: `dut-${mode}`, interval: '5s', timeout: '5s', connection: { ...device.connection, mode } };
        const config = parseGatewayConfig(
          `gateway: { id: hardware-test }\ndataDir: ${JSON.stringify(dataDir)}\ndevices:\n  - ${JSON.stringify(block)}\n`,
          join(dataDir, 'hardware-test.yaml'),
          registry,
        );
        const { config: dut, plugin: p } = config.devices[0]!;
        const driver = p.create(dut, { timeoutMs: 5000, logger: quiet, stateDir: join(dataDir, 'plugins', 'opcua') });
        try {
          const first = await driver.read();
          expect(first.map((r) => r.point)).toEqual(dut.points.map((q) => q.id));
          await new Promise((resolve) => setTimeout(resolve, 3000));
          const second = await driver.read();
          expect(second.map((r) => r.point)).toEqual(dut.points.map((q) => q.id));
          // A plant may have broken sensors: those say why; most points read.
          const notGood = second.filter((r: Reading) => r.quality === 'bad');
          for (const r of notGood) expect(r.reason, r.point).toBeTruthy();
          expect(notGood.length, `bad: ${notGood.map((r) => `${r.point} (${r.reason})`).join(', ')}`).toBeLessThan(second.length);
        } finally {
          await driver.close();
        }
      }
    } finally {
      if (own) rmSync(own, { recursive: true, force: true });
    }
  });
});
