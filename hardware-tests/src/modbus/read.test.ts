/**
 * Reads a real Modbus TCP device, or an independent simulator, named in the environment:
 *   CITYPILOT_HW_MODBUS=host[:port]        the device (required; the suite is skipped without it)
 *   CITYPILOT_HW_MODBUS_UNIT=1             unit id
 *   CITYPILOT_HW_MODBUS_READ=holding:0:2   table:address:count of a block the device holds
 * Example: CITYPILOT_HW_MODBUS=192.0.2.10:502 npx vitest run --config scripts/vitest.config.ts hardware-tests
 */
import { describe, expect, it } from 'vitest';
import { ModbusExceptionError, ModbusTcpClient, type RegisterTable } from '@citypilot/protocol-modbus';

const target = process.env.CITYPILOT_HW_MODBUS;
const reason = 'skipped: set CITYPILOT_HW_MODBUS=host[:port] (and CITYPILOT_HW_MODBUS_READ=table:address:count) to run against a real device';
if (!target) console.log(`hardware-tests/modbus: ${reason}`);

describe(`Modbus hardware${target ? ` at ${target}` : ` (${reason})`}`, () => {
  const [host, port] = (target ?? '').split(':');
  const unit = Number(process.env.CITYPILOT_HW_MODBUS_UNIT ?? 1);
  const [table, address, count] = (process.env.CITYPILOT_HW_MODBUS_READ ?? 'holding:0:2').split(':');

  it.skipIf(!target)(`reads ${table} ${address}..+${count} on unit ${unit}`, async () => {
    const client = new ModbusTcpClient({ host: host!, port: port ? Number(port) : 502, timeoutMs: 3000 });
    try {
      const words = await client.readRegisters(unit, table as RegisterTable, Number(address), Number(count));
      expect(words).toHaveLength(Number(count));
      expect(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it.skipIf(!target)('answers a read far outside its map with an exception, not silence', async () => {
    const client = new ModbusTcpClient({ host: host!, port: port ? Number(port) : 502, timeoutMs: 3000 });
    try {
      await expect(client.readRegisters(unit, 'holding', 65_000, 125)).rejects.toBeInstanceOf(ModbusExceptionError);
    } finally {
      await client.close();
    }
  });
});
