import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModbusSimulator, type SimulatedPoint } from '@citypilot/protocol-modbus';
import type { Sample } from '@citypilot/sdk';
import { parseGatewayConfig } from './config/config.js';
import { Gateway, type GatewayStatus } from './gateway.js';
import { PluginRegistry } from './config/registry.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const point: SimulatedPoint = { table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 7 } };

describe('a gateway with a device that falls silent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-gateway-'));
  const simulators = [new ModbusSimulator({ points: [point] }), new ModbusSimulator({ points: [point] })];
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.stop(0);
    await Promise.all(simulators.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks only that device bad, with the reason, and keeps reading the other on time', async () => {
    const [silent, healthy] = await Promise.all(simulators.map((s) => s.start()));
    simulators[0]!.silence(true);
    // The silent device's timeout (3 s) is longer than its interval (1 s): if devices waited for
    // each other, the healthy one would be read at most twice in the 6 s watched.
    const device = (id: string, port: number, timeout: string) =>
      `  - id: ${id}\n    plugin: modbus\n    interval: 1s\n    timeout: ${timeout}\n    connection: { host: 127.0.0.1, port: ${port} }\n` +
      `    points:\n      - { id: value, address: { table: holding, address: 0 } }\n`;
    const config = parseGatewayConfig(
      // No NATS here: samples wait in the outbox, which is what this test watches.
      `gateway:\n  id: test\nhub: { natsUrl: nats://127.0.0.1:1 }\nstatus: { port: 0 }\ndevices:\n${device('silent', silent!.port, '3s')}${device('healthy', healthy!.port, '1s')}`,
      join(dir, 'gateway.yaml'),
      new PluginRegistry(),
    );
    gateway = await Gateway.start({ config, logger: quiet });
    const samples: Sample[] = [];
    gateway.on('samples', (s) => samples.push(...s));
    await new Promise((resolve) => setTimeout(resolve, 6200));

    const healthySamples = samples.filter((s) => s.point === 'healthy.value');
    const silentSamples = samples.filter((s) => s.point === 'silent.value');
    expect(healthySamples.length).toBeGreaterThanOrEqual(4);
    expect(healthySamples.every((s) => s.quality === 'good' && s.value === 7 && s.time % 1000 === 0)).toBe(true);
    // The silent device: a bad sample per finished cycle, saying why; the ticks that found its
    // read still running were skipped and counted, not queued.
    expect(silentSamples.length).toBeGreaterThanOrEqual(1);
    expect(silentSamples.length).toBeLessThanOrEqual(2);
    expect(silentSamples.every((s) => s.quality === 'bad' && s.value === null && /did not answer|no answer|timed? ?out/i.test(s.reason ?? ''))).toBe(true);

    // A cycle may end while the status is fetched: its samples then count on one side only.
    const emittedBefore = samples.length;
    const status = (await (await fetch(`${gateway.url}/api/status`)).json()) as GatewayStatus;
    const emittedAfter = samples.length;
    const silentStatus = status.devices.find((d) => d.id === 'silent')!;
    expect(silentStatus.state).toBe('failing');
    expect(silentStatus.skipped).toBeGreaterThanOrEqual(2);
    expect(status.devices.find((d) => d.id === 'healthy')).toMatchObject({ state: 'ok', lastError: null });
    expect(status.nats).toBe('connecting');
    expect(status.outbox.depth).toBeGreaterThanOrEqual(emittedBefore);
    expect(status.outbox.depth).toBeLessThanOrEqual(emittedAfter);

    // The same, as the technician's page: the failing device and its reason, problems first.
    const page = await (await fetch(`${gateway.url}/`)).text();
    expect(page).toMatch(/<tr class="bad"><td>silent<\/td><td>modbus<\/td><td>failing<\/td>/);
    expect(page.indexOf('silent.value')).toBeLessThan(page.indexOf('healthy.value'));
    expect(page).toMatch(/Samples waiting in the outbox<\/th><td class="n">\d+/);

    // It answers again: its points are good from the next cycle on.
    simulators[0]!.silence(false);
    const from = Date.now();
    await expect.poll(() => samples.some((s) => s.point === 'silent.value' && s.time > from && s.quality === 'good'), { timeout: 8000 }).toBe(true);
  });
});
