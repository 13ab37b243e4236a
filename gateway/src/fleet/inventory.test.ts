import { describe, expect, it } from 'vitest';
import { decodeInventory, encodeInventory } from '@citypilot/wire';
import type { GatewayStatus } from '../status/gateway-status.js';
import type { DeviceStatus } from '../pipeline/poller.js';
import { buildInventory } from './inventory.js';

const device = (id: string, state: DeviceStatus['state'], lastError: string | null): DeviceStatus => ({
  id,
  plugin: 'modbus',
  state,
  lastError,
  lastReadAt: null,
  notes: [],
  cycles: 0,
  skipped: 0,
  groups: [],
});

function status(devices: DeviceStatus[], refusal: string | null): GatewayStatus {
  return {
    gateway: 'town-hall',
    nats: 'connected',
    devices,
    points: [],
    outbox: { depth: 12, dropped: 0, lastSeq: null, lastForwardAt: null, lastError: null, stalled: null },
    config: {
      source: 'hub',
      revision: 7,
      appliedAt: '2025-01-01T00:00:00.000Z',
      lastError: refusal === null ? null : { source: 'file', revision: 'x'.repeat(200), at: '2025-01-01T00:30:00.000Z', message: refusal },
    },
  };
}

describe('the inventory report', () => {
  it('is always accepted by the hub: 200 failing devices and a 10 KB error are cut to the bounds', () => {
    const huge = 'e'.repeat(10_000);
    const devices = [...Array.from({ length: 200 }, (_, i) => device(`meter-${i}`, 'failing', `${huge} ${i}`)), device('ok', 'ok', null)];
    const report = buildInventory({
      status: status(devices, huge),
      version: '0.1.0',
      startedAt: new Date('2025-01-01T00:00:00Z'),
      reportIntervalS: 30,
      plugins: [{ id: 'modbus', version: '0.1.0', source: 'builtin' }],
      installs: [{ id: 'http-json', version: '1.0.0', state: 'refused', at: '2025-01-01T00:00:00.000Z', reason: huge }],
      now: new Date('2025-01-01T01:00:00Z'),
    });
    const decoded = decodeInventory(encodeInventory(report));
    expect(decoded.devices).toMatchObject({ total: 201, failing: 200, byPlugin: { modbus: { total: 201, failing: 200 } } });
    expect(decoded.devices.failingDevices).toHaveLength(50);
    expect(decoded.devices.failingDevices[0]!.error.length).toBeLessThanOrEqual(500);
    expect(decoded.uptimeS).toBe(3600);
    expect(decoded.config.revision).toBe(7);
    expect(decoded.config.refused!.message.length).toBeLessThanOrEqual(8000);
    expect(decoded.installs[0]!.reason!.length).toBeLessThanOrEqual(2000);
    // The devices' errors are current: newer than the configuration's refusal.
    expect(decoded.lastError!.message).toMatch(/^meter-0: e+/);
    expect(decoded.software).toMatchObject({ version: '0.1.0', node: process.version });
  });

  it('says no error for a healthy gateway', () => {
    const report = buildInventory({
      status: status([device('a', 'ok', null)], null),
      version: '0.1.0',
      startedAt: new Date(),
      reportIntervalS: 30,
      plugins: [],
      installs: [],
      now: new Date(),
    });
    expect(decodeInventory(encodeInventory(report))).toMatchObject({ lastError: null, devices: { total: 1, failing: 0, failingDevices: [] } });
  });
});
