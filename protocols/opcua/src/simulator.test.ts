import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildingVariables } from './building.js';
import { OpcuaSimulator } from './simulator.js';
import { waitUntil } from './testing/pki.js';

// Local times, so that the load curve (in the process's time zone) is the same everywhere.
const tuesday = (hour: number) => new Date(2026, 0, 6, hour).getTime();

let pkiDir: string;
beforeAll(() => {
  pkiDir = join(mkdtempSync(join(tmpdir(), 'citypilot-opcua-sim-')), 'pki');
});
afterAll(() => {
  rmSync(join(pkiDir, '..'), { recursive: true, force: true });
});

describe('OPC UA simulator', () => {
  it('has a building of AHUs, a boiler and meters, every numeric variable with units and a range', () => {
    const variables = buildingVariables();
    expect(variables.map((v) => v.path)).toEqual(expect.arrayContaining(['AHU1.SupplyAirTemperature', 'AHU2.FanRunning', 'Boiler1.Power', 'Meters.Main.Energy', 'Meters.Main.LastReset']));
    for (const v of variables) {
      if (typeof v.initial(0) === 'number') expect({ path: v.path, unit: !!v.unit, range: !!v.range }).toEqual({ path: v.path, unit: true, range: true });
    }
  });

  it('moves values with its clock: meters count up along the load curve, fans run in working hours', async () => {
    let now = tuesday(3);
    const simulator = new OpcuaSimulator({ pkiDir, tickMs: 5, now: () => now });
    await simulator.start();
    try {
      await waitUntil('a tick at night', () => simulator.get('AHU1.FanRunning') === false && simulator.get('Boiler1.Power') !== 0);
      const energy = simulator.get('Meters.Main.Energy') as number;
      now = tuesday(4); // one hour at night: a quarter of 120 kW
      await waitUntil('the night hour counted', () => (simulator.get('Meters.Main.Energy') as number) >= energy + 30 - 1e-6);
      expect(simulator.get('Meters.Main.Energy')).toBeCloseTo(energy + 30, 6);
      now = tuesday(11);
      await waitUntil('the fans started', () => simulator.get('AHU1.FanRunning') === true);
      expect(simulator.get('AHU1.FanSpeed') as number).toBeGreaterThan(80);
    } finally {
      await simulator.stop();
    }
  });

  it('restarts on the same port with the same certificate, keeping its values', async () => {
    const simulator = new OpcuaSimulator({ pkiDir });
    const first = await simulator.start();
    const certificate = readFileSync(simulator.certificateFile, 'utf8');
    try {
      simulator.set('AHU2.SupplyAirSetpoint', 22.5);
      await simulator.stop();
      expect(() => simulator.endpointUrl).toThrow(/not started/);
      const second = await simulator.start();
      expect(second).toEqual(first);
      expect(readFileSync(simulator.certificateFile, 'utf8')).toBe(certificate);
      expect(simulator.get('AHU2.SupplyAirSetpoint')).toBe(22.5);
      expect(() => simulator.get('AHU3.FanSpeed')).toThrow(/no variable AHU3.FanSpeed/);
      await expect(simulator.start()).rejects.toThrow(/already started/);
    } finally {
      await simulator.stop();
    }
  });
});
