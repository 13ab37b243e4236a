import { INVENTORY_VERSION, type InventoryReport } from '@citypilot/wire';

/** A valid report; `changes` replace its parts. */
export function inventoryReport(changes: Partial<InventoryReport> = {}): InventoryReport {
  return {
    v: INVENTORY_VERSION,
    software: { version: '0.1.0', sdk: '0.1.0', node: 'v20.20.2' },
    host: { hostname: 'gw-host', platform: 'linux', arch: 'arm64' },
    startedAt: '2026-01-05T08:00:00.000Z',
    uptimeS: 60,
    reportIntervalS: 30,
    plugins: [{ id: 'modbus', version: '0.1.0', source: 'builtin' }],
    config: { source: 'file', revision: 'a1b2c3d4e5f6', appliedAt: '2026-01-05T08:00:00.000Z', refused: null },
    outbox: { depth: 0 },
    devices: { total: 2, failing: 1, byPlugin: { modbus: { total: 2, failing: 1 } }, failingDevices: [{ id: 'boiler', plugin: 'modbus', error: 'timeout' }] },
    lastError: null,
    installs: [],
    ...changes,
  };
}
