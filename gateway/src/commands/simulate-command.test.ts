import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPtyPair, socatMissing } from '@citypilot/protocol-modbus/testing';
import { parseGatewayConfig } from '../config/config.js';
import { ProfileLibrary } from '../config/profiles.js';
import { PluginRegistry } from '../config/registry.js';
import { runSimulateCli } from './simulate-command.js';

const registry = new PluginRegistry();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('citypilot simulate', () => {
  const modbus = registry.get('modbus')!;
  for (const profileId of new ProfileLibrary().ids(modbus)) {
    it(`serves every point of the ${profileId} profile to a device configured with it`, async () => {
      const { io, out } = capture();
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const running = runSimulateCli(['modbus', '--profile', profileId], io, stopped);
      try {
        await expect.poll(() => out.join('\n'), { timeout: 5000 }).toMatch(/port: \d+/);
        const port = Number(/port: (\d+)/.exec(out.join('\n'))![1]);
        const config = parseGatewayConfig(
          `gateway:\n  id: t\ndevices:\n  - id: m\n    plugin: modbus\n    profile: ${profileId}\n    connection: { host: 127.0.0.1, port: ${port} }\n`,
          '/tmp/simulate-test.yaml',
          registry,
        );
        const { config: device, plugin } = config.devices[0]!;
        const driver = plugin.create(device, { timeoutMs: 1000, logger: quiet });
        try {
          const readings = await driver.read();
          expect(readings.map((r) => r.point).sort()).toEqual(device.points.map((p) => p.id).sort());
          expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
          const voltage = readings.find((r) => r.point === 'voltage-l1');
          const point = device.points.find((p) => p.id === 'voltage-l1');
          if (voltage && point) expect((voltage.value as number) * point.scale).toBeCloseTo(230, 0);
        } finally {
          await driver.close();
        }
      } finally {
        stop();
        expect(await running).toBe(0);
      }
    });
  }

  const bacnet = registry.get('bacnet')!;
  for (const profileId of new ProfileLibrary().ids(bacnet)) {
    it(`serves every point of the BACnet ${profileId} profile to the device block it prints`, async () => {
      const { io, out } = capture();
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const running = runSimulateCli(['bacnet', '--profile', profileId], io, stopped);
      try {
        await expect.poll(() => out.join('\n'), { timeout: 5000 }).toMatch(/Press Ctrl-C/);
        // The block as printed, pasted into a configuration.
        const printed = /\n( {2}- id: [\s\S]*?)\n\nPress Ctrl-C/.exec(out.join('\n'))![1]!;
        const config = parseGatewayConfig(`gateway:\n  id: t\ndevices:\n${printed}\n`, '/tmp/simulate-bacnet-test.yaml', registry);
        const { config: device, plugin } = config.devices[0]!;
        expect(device.connection).toMatchObject({
          deviceInstance: 1234,
          address: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
          network: { interface: '127.0.0.1' },
        });
        const driver = plugin.create(device, { timeoutMs: 1000, logger: quiet });
        try {
          const readings = await driver.read();
          expect(readings.map((r) => r.point)).toEqual(device.points.map((p) => p.id));
          expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
        } finally {
          await driver.close();
        }
      } finally {
        stop();
        expect(await running).toBe(0);
      }
    });
  }

  it('serves the simulated building of the opcua citypilot-building profile, and prints a device block that reads it', async () => {
    const { io, out } = capture();
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const running = runSimulateCli(['opcua', '--profile', 'citypilot-building'], io, stopped);
    const dir = mkdtempSync(join(tmpdir(), 'citypilot-simulate-opcua-'));
    try {
      await expect.poll(() => out.join('\n'), { timeout: 60_000 }).toMatch(/A device block for it/);
      // The printed block, as a technician pastes it under devices:.
      const block = /\n( {2}- id: simulated-citypilot-building[\s\S]*?)\n\nPress Ctrl-C/.exec(out.join('\n'))![1]!;
      const config = parseGatewayConfig(`gateway:\n  id: t\ndataDir: ${dir}\ndevices:\n${block}\n`, join(dir, 'gateway.yaml'), registry);
      const { config: device, plugin } = config.devices[0]!;
      expect(device.connection).toMatchObject({ endpointUrl: expect.stringMatching(/^opc\.tcp:\/\/127\.0\.0\.1:\d+$/), securityMode: 'None' });
      const driver = plugin.create(device, { timeoutMs: 5000, logger: quiet, stateDir: join(dir, 'plugins', 'opcua') });
      try {
        const readings = await driver.read();
        expect(readings.map((r) => r.point).sort()).toEqual(device.points.map((p) => p.id).sort());
        expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
        expect(readings.find((r) => r.point === 'main-status')!.value).toBe('OK');
      } finally {
        await driver.close();
      }
    } finally {
      stop();
      expect(await running).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const missing = socatMissing();
  it.skipIf(missing)(`serves a profile as a Modbus RTU unit on a serial line${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    const pty = await openPtyPair();
    const { io, out } = capture();
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const running = runSimulateCli(['modbus', '--profile', 'eastron-sdm630', '--serial', pty.b, '--unit-id', '7'], io, stopped);
    try {
      await expect.poll(() => out.join('\n'), { timeout: 5000 }).toMatch(/as unit 7 on .* \(Modbus RTU\)/);
      const config = parseGatewayConfig(
        `gateway:\n  id: t\ndevices:\n  - id: m\n    plugin: modbus\n    profile: eastron-sdm630\n    connection: { transport: rtu, serialPort: ${pty.a}, unitId: 7 }\n`,
        '/tmp/simulate-rtu-test.yaml',
        registry,
      );
      const { config: device, plugin } = config.devices[0]!;
      const driver = plugin.create(device, { timeoutMs: 1000, logger: quiet });
      try {
        const readings = await driver.read();
        expect(readings).toHaveLength(device.points.length);
        expect(readings.filter((r) => r.quality !== 'good')).toEqual([]);
      } finally {
        await driver.close();
      }
    } finally {
      stop();
      expect(await running).toBe(0);
      await pty.close();
    }
  });

  it('says which profiles exist when given an unknown one, and what it needs when called wrong', async () => {
    const unknown = capture();
    expect(await runSimulateCli(['modbus', '--profile', 'abb-b23'], unknown.io, Promise.resolve())).toBe(2);
    expect(unknown.err.join('')).toMatch(/^Unknown profile "abb-b23" for plugin modbus: expected one of "carlo-gavazzi-em24", /);
    const usage = capture();
    expect(await runSimulateCli(['modbus'], usage.io, Promise.resolve())).toBe(2);
    expect(usage.err.join('')).toMatch(/^Usage: citypilot simulate <plugin> --profile ID/);
    const plugin = capture();
    expect(await runSimulateCli(['knx', '--profile', 'x'], plugin.io, Promise.resolve())).toBe(2);
    expect(plugin.err.join('')).toBe('No simulator for plugin "knx": expected one of "bacnet", "modbus", "opcua".');
  });
});
