/**
 * Fresh values from an OPC UA server we did not write: a subscribed point must give each slot of
 * the gateway's grid the value current at the slot, not one sampled up to an interval before.
 * The server's own clock (Server_ServerStatus_CurrentTime, ns=0;i=2258, which every server
 * updates) is the witness: read at slot T, it must say T, give or take the sampling and
 * publishing delays. Same environment as read.test.ts (CITYPILOT_HW_OPCUA, _SECURITY_MODE,
 * _DATA_DIR); skipped, saying so, without CITYPILOT_HW_OPCUA.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginRegistry, parseGatewayConfig } from '@citypilot/gateway';

const endpoint = process.env.CITYPILOT_HW_OPCUA;
const securityMode = process.env.CITYPILOT_HW_OPCUA_SECURITY_MODE ?? 'None';
const reason = 'skipped: set CITYPILOT_HW_OPCUA=opc.tcp://host:port to run against a real OPC UA server';
if (!endpoint) console.log(`hardware-tests/opcua: ${reason}`);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const INTERVAL_MS = 5000;
const SLOTS = 4;
/**
 * How far behind its slot the clock may be: the plugin samples a subscribed point at a tenth of
 * its interval, at most every second, and the server publishes at that pace too (the plugin's
 * README), so a value is at most about two such periods old when the slot reads it; the rest is
 * the round trip on the building network.
 */
const LATE_MS = 2500;

describe(`OPC UA hardware, fresh values${endpoint ? `: ${endpoint} (${securityMode})` : ` (${reason})`}`, () => {
  it.skipIf(!endpoint)(
    `gives each of ${SLOTS} slots of a subscribed point (the server's clock, every ${INTERVAL_MS / 1000} s) the value current at the slot`,
    async () => {
      const own = process.env.CITYPILOT_HW_OPCUA_DATA_DIR ? undefined : mkdtempSync(join(tmpdir(), 'citypilot-hw-opcua-'));
      const dataDir = process.env.CITYPILOT_HW_OPCUA_DATA_DIR ?? own!;
      const registry = new PluginRegistry();
      const block = {
        id: 'clock',
        plugin: 'opcua',
        interval: `${INTERVAL_MS / 1000}s`,
        timeout: '5s',
        connection: { endpointUrl: endpoint, securityMode, mode: 'subscribe' },
        points: [{ id: 'server-time', name: 'Server clock', kind: 'number', address: { nodeId: 'ns=0;i=2258' } }],
      };
      const config = parseGatewayConfig(
        `gateway: { id: hardware-test }\ndataDir: ${JSON.stringify(dataDir)}\ndevices:\n  - ${JSON.stringify(block)}\n`,
        join(dataDir, 'hardware-test.yaml'),
        registry,
      );
      const { config: dut, plugin } = config.devices[0]!;
      const driver = plugin.create(dut, { timeoutMs: 5000, logger: quiet, stateDir: join(dataDir, 'plugins', 'opcua'), pointIntervalMs: () => INTERVAL_MS });
      try {
        await driver.read(); // subscribes
        const lags: number[] = [];
        for (let i = 0; i < SLOTS; i++) {
          const slot = Math.ceil((Date.now() + 1) / INTERVAL_MS) * INTERVAL_MS;
          await new Promise((resolve) => setTimeout(resolve, slot - Date.now()));
          const [reading] = await driver.read();
          expect(reading!.quality, reading!.reason).toBe('good');
          lags.push(slot - (reading!.value as number));
        }
        console.log(`  the server's clock read at ${SLOTS} slots was behind the slot by ${lags.map((l) => `${l} ms`).join(', ')}`);
        for (const lag of lags) expect(lag, 'a value more than the documented delay older than its slot').toBeLessThanOrEqual(LATE_MS);
      } finally {
        await driver.close();
        if (own) rmSync(own, { recursive: true, force: true });
      }
    },
  );
});
