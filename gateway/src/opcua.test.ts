import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureClientCertificate } from '@citypilot/protocol-opcua';
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

describe('a gateway subscribed to a value that changes every second', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-opcua-fresh-'));
  // Clock.Seconds is the server's whole seconds since the epoch: its value at a slot is known.
  const simulator = new SimulatorProcess({ pkiDir: join(dir, 'server-pki'), clockVariable: true });
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await simulator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores at each slot the value the server had at the slot, not the one of an interval before', async () => {
    const { endpointUrl } = await simulator.start();
    // Our certificate made beforehand: the first read connects and subscribes within the slot.
    await ensureClientCertificate(join(dir, 'data', 'plugins', 'opcua', 'pki'));
    const config = parseGatewayConfig(
      [
        'gateway:\n  id: test',
        'hub: { natsUrl: nats://127.0.0.1:1 }',
        'status: { port: 0 }',
        `dataDir: ${join(dir, 'data')}`,
        'devices:',
        '  - id: bms',
        '    plugin: opcua',
        '    interval: 2s',
        `    connection: { endpointUrl: "${endpointUrl}", securityMode: None }`,
        '    points:',
        `      - { id: seconds, unit: s, address: { nodeId: "${buildingNodeId('Clock.Seconds')}" } }`,
        '',
      ].join('\n'),
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    // The first slot is read from the server while the subscription starts; the next ones are
    // answered from its notifications.
    await waitUntil('six good samples', () => samples.filter((s) => s.quality === 'good').length >= 6, 60_000);
    const good = samples.filter((s) => s.quality === 'good').slice(0, 6);
    // The server's value at slot T is T's whole seconds; a notification takes up to a sampling
    // and a publishing interval (200 ms each here) to arrive, and a late read on a busy machine
    // may see the next second: within one step of it. Sampled at the point's 2 s interval, as
    // before, each value was that of the slot before (2 steps behind).
    const behind = good.map((s) => Math.floor(s.time / 1000) - (s.value as number));
    expect(behind.every((b) => b >= -1 && b <= 1), `seconds behind the slot: ${behind.join(', ')}`).toBe(true);
    // The notification's source time, for a technician: when the server sampled the value.
    const status = gateway.status().points.find((p) => p.point === 'bms.seconds')!;
    expect(status.quality).toBe('good');
    expect(Math.abs(status.sourceTime! - status.time)).toBeLessThan(3000);
  });
});
