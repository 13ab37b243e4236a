import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SimulatorProcess, buildingNodeId, waitUntil } from '@citypilot/protocol-opcua/testing';
import type { Sample } from '@citypilot/sdk';
import { parseGatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { PluginRegistry } from './registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('a gateway subscribed to an OPC UA server that restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-'));
  // In a process of its own: its work (a start builds the address space) must not delay the
  // gateway's timers, which share this test's event loop.
  const simulator = new SimulatorProcess({ pkiDir: join(dir, 'server-pki'), tickMs: 200 });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks the points bad while it is down, resumes the same monitored items after, and keeps one sample per slot', async () => {
    const { endpointUrl } = await simulator.start();
    // Reads that fail while the server is down fail at once (the driver knows the connection
    // is lost), well within the interval.
    const config = parseGatewayConfig(
      [
        'gateway:\n  id: test',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0 }',
        `dataDir: ${join(dir, 'data')}`,
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 1s',
        '    timeout: 800ms',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None, publishingInterval: 200ms }`,
        '    points:',
        `      - { id: setpoint, unit: °C, address: { nodeId: "${buildingNodeId('AHU1.SupplyAirSetpoint')}" } }`,
        `      - { id: energy, unit: kWh, address: { nodeId: "${buildingNodeId('Meters.Main.Energy')}" } }`,
        '',
      ].join('\n'),
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    const monitored = new Map([
      [buildingNodeId('AHU1.SupplyAirSetpoint'), 1],
      [buildingNodeId('Meters.Main.Energy'), 1],
    ]);

    await waitUntil('good samples of both points', () => ['bms.setpoint', 'bms.energy'].every((p) => samples.some((s) => s.point === p && s.quality === 'good')));
    await expect.poll(() => simulator.monitoredItems(), { timeout: 30_000 }).toEqual(monitored);

    await simulator.stop();
    await waitUntil('bad samples while the server is down', () => samples.filter((s) => s.point === 'bms.setpoint' && s.quality === 'bad').length >= 2, 30_000);
    const downFrom = samples.length;
    await simulator.start();
    await simulator.set('AHU1.SupplyAirSetpoint', 23);
    await waitUntil('the setpoint written after the restart', () => samples.slice(downFrom).some((s) => s.point === 'bms.setpoint' && s.quality === 'good' && s.value === 23), 60_000);
    await waitUntil('the energy after the restart', () => samples.slice(downFrom).some((s) => s.point === 'bms.energy' && s.quality === 'good'), 60_000);
    // node-opcua restored the subscription: the same items, not a second set.
    await expect.poll(() => simulator.monitoredItems(), { timeout: 30_000 }).toEqual(monitored);

    const bad = samples.filter((s) => s.quality === 'bad');
    expect(bad.every((s) => /lost|reconnect|cannot|refused|ECONNREFUSED|closed/i.test(s.reason ?? ''))).toBe(true);
    // Values seen after the restart are the server's new ones; nothing from before the outage.
    const after = samples.slice(downFrom).filter((s) => s.point === 'bms.setpoint' && s.quality === 'good');
    expect(after.at(-1)!.value).toBe(23);
    // One sample per slot; a slot without one is a tick the core skipped (and counted) because
    // the read before was still running (the first one connects and subscribes, and this
    // machine is shared), never a read lost by the driver.
    const status = gateway.status();
    const snapshot = [...samples];
    const skipped = status.devices.find((d) => d.id === 'bms')!.skipped;
    for (const point of ['bms.setpoint', 'bms.energy']) {
      const times = snapshot.filter((s) => s.point === point).map((s) => s.time);
      expect(new Set(times).size, `${point}: one sample per slot`).toBe(times.length);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      const missing = gaps.reduce((n, g) => n + g / 1000 - 1, 0);
      expect(gaps.every((g) => g > 0 && g % 1000 === 0), `${point}: gaps ${gaps.join(', ')}`).toBe(true);
      expect(missing, `${point}: slots without a sample (gaps ${gaps.join(', ')}), skipped ticks ${skipped}`).toBeLessThanOrEqual(skipped);
    }
  });
});
