/**
 * The Modbus read suite against a real device, or an independent implementation, named in the
 * environment (the suite is skipped, saying so, without CITYPILOT_HW_MODBUS):
 *   CITYPILOT_HW_MODBUS=host[:port]               the device or its Modbus TCP gateway
 *   CITYPILOT_HW_MODBUS_UNIT=1                    its unit id
 *   CITYPILOT_HW_MODBUS_PROFILE=eastron-sdm630    the device profile of its model (see plugins/modbus/profiles)
 *   CITYPILOT_HW_MODBUS_PROFILE_DIR=DIR           a folder of site profiles, when the model's is not shipped
 * Example: CITYPILOT_HW_MODBUS=192.0.2.10:502 CITYPILOT_HW_MODBUS_PROFILE=schneider-iem3000 npm test
 */
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig, PluginRegistry } from '@citypilot/gateway';
import { float32Decimal, type Reading } from '@citypilot/sdk';
import { ModbusExceptionError, ModbusTcpClient } from '@citypilot/protocol-modbus';

const target = process.env.CITYPILOT_HW_MODBUS;
const profile = process.env.CITYPILOT_HW_MODBUS_PROFILE ?? 'generic-meter';
const unit = Number(process.env.CITYPILOT_HW_MODBUS_UNIT ?? 1);
const reason = 'skipped: set CITYPILOT_HW_MODBUS=host[:port] and CITYPILOT_HW_MODBUS_PROFILE=<profile> to run against a real device';
if (!target) console.log(`hardware-tests/modbus: ${reason}`);
const [host, port] = (target ?? '').split(':');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function device() {
  const dirs = process.env.CITYPILOT_HW_MODBUS_PROFILE_DIR ? `profileDirs: [${JSON.stringify(process.env.CITYPILOT_HW_MODBUS_PROFILE_DIR)}]\n` : '';
  const config = parseGatewayConfig(
    `gateway:\n  id: hardware-test\n${dirs}devices:\n  - id: dut\n    plugin: modbus\n    profile: ${profile}\n    timeout: 3s\n` +
      `    connection: { host: ${JSON.stringify(host)}, port: ${port ?? 502}, unitId: ${unit} }\n`,
    'hardware-test.yaml',
    new PluginRegistry(),
  );
  return config.devices[0]!;
}

describe(`Modbus hardware${target ? `: ${profile} at ${target} unit ${unit}` : ` (${reason})`}`, () => {
  it.skipIf(!target)(`reads every point of the ${profile} profile with good quality, twice, counters not going back`, async () => {
    const { config, plugin } = device();
    const driver = plugin.create(config, { timeoutMs: 3000, logger: quiet });
    try {
      const first = await driver.read();
      const bad = first.filter((r) => r.quality !== 'good');
      expect(bad, `points not good: ${bad.map((r) => `${r.point} (${r.reason})`).join(', ')}`).toEqual([]);
      for (const r of first) if (typeof r.value === 'number') expect(Number.isFinite(r.value), r.point).toBe(true);
      // A float32 register holds about 7 significant digits: it must not come back widened (21.299999237060547 for 21.3).
      for (const p of config.points.filter((q) => (q.address as { type?: string }).type === 'float32')) {
        const value = first.find((r) => r.point === p.id)!.value as number;
        expect(value, `${p.id} carries digits its float32 register does not have`).toBe(float32Decimal(value));
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const second = new Map((await driver.read()).map((r): [string, Reading] => [r.point, r]));
      for (const p of config.points.filter((p) => p.tags.includes('energy'))) {
        const before = first.find((r) => r.point === p.id)!.value as number;
        expect(second.get(p.id)!.value as number, `${p.id} went back`).toBeGreaterThanOrEqual(before);
      }
    } finally {
      await driver.close();
    }
  });

  it.skipIf(!target)('answers a read far outside its map, with an exception or with values, never with silence', async () => {
    // Devices differ here (most answer exception 2, some answer zeros): both are answers.
    const client = new ModbusTcpClient({ host: host!, port: port ? Number(port) : 502, timeoutMs: 3000 });
    try {
      const outcome = await client.readRegisters(unit, 'holding', 65_000, 125).then(
        (words) => words.length,
        (error: unknown) => error,
      );
      if (typeof outcome !== 'number') expect(outcome).toBeInstanceOf(ModbusExceptionError);
      else expect(outcome).toBe(125);
    } finally {
      await client.close();
    }
  });
});
