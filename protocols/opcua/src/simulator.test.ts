import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildingVariables } from './building.js';
import { OpcuaConnection } from './client.js';
import { buildingNodeId, OpcuaSimulator } from './simulator.js';
import { waitUntil } from './testing/pki.js';

// Local times, so that the load curve (in the process's time zone) is the same everywhere.
const tuesday = (hour: number) => new Date(2026, 0, 6, hour).getTime();
// The caller's building: full load in office hours, a quarter at night; and repeatable noise.
const load = (time: number) => (new Date(time).getHours() >= 8 && new Date(time).getHours() < 18 ? 1 : 0.25);
const noise = (time: number, seed: number) => Math.sin(Math.floor(time / 1000) + seed);

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
    expect(variables.map((v) => v.path)).toEqual(
      expect.arrayContaining(['AHU1.SupplyAirTemperature', 'AHU2.FanRunning', 'Boiler1.Power', 'Meters.Main.Energy', 'Meters.Main.LastReset']),
    );
    for (const v of variables) {
      if (typeof v.initial(0) === 'number') expect({ path: v.path, unit: !!v.unit, range: !!v.range }).toEqual({ path: v.path, unit: true, range: true });
    }
  });

  it('without a load curve from its caller, runs the building at a steady full load without noise', () => {
    const move = (variables: ReturnType<typeof buildingVariables>, path: string, now: number) =>
      variables.find((v) => v.path === path)!.move!(0, now, 1000, () => 19);
    const steady = buildingVariables();
    expect([tuesday(3), tuesday(11)].map((t) => move(steady, 'Boiler1.Power', t))).toEqual([300, 300]);
    expect(move(steady, 'AHU1.FanRunning', tuesday(3))).toBe(true);
    const quiet = buildingVariables({ load: () => 0.25, noise: () => 0 });
    expect(move(quiet, 'Boiler1.Power', tuesday(11))).toBe(75);
    expect(move(quiet, 'AHU1.FanRunning', tuesday(11))).toBe(false);
  });

  it('moves values with its clock: meters count up along the load curve, fans run in working hours', async () => {
    let now = tuesday(3);
    const simulator = new OpcuaSimulator({ pkiDir, tickMs: 5, now: () => now, load, noise });
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

  it('serves generated variables for load tests, all changing together, and counts the notifications each client was sent', async () => {
    const count = 300;
    const simulator = new OpcuaSimulator({ pkiDir, generatedVariables: { count, changeEveryMs: 100 } });
    await simulator.start();
    const connection = await OpcuaConnection.connect(simulator.endpointUrl, {
      pkiDir: join(pkiDir, '..', 'client-pki'),
      applicationName: 'CityPilot load client',
    });
    try {
      const variables = await connection.browse(buildingNodeId('Bench'));
      expect(variables).toHaveLength(count);
      expect(variables[0]).toMatchObject({ browsePath: 'V1', nodeId: buildingNodeId('Bench.V1'), dataType: 'Double', writable: false });
      expect(variables.at(-1)).toMatchObject({ browsePath: `V${count}`, nodeId: buildingNodeId(`Bench.V${count}`) });
      // The building is still there, beside them.
      expect(simulator.paths).toEqual(expect.arrayContaining(['AHU1.FanSpeed', 'Bench.V1', `Bench.V${count}`]));

      // All change together: V<i> is i plus the number of changes so far.
      const changes = () => (simulator.get('Bench.V1') as number) - 1;
      await waitUntil('two changes', () => changes() >= 2);
      const [first, last] = await connection.read([buildingNodeId('Bench.V1'), buildingNodeId(`Bench.V${count}`)]);
      expect((last!.value as number) - (first!.value as number)).toBe(count - 1);

      const received = new Map<string, number[]>();
      const subscription = await connection.subscribe(
        variables.map((v) => ({ nodeId: v.nodeId, samplingIntervalMs: 100 })),
        (v) => received.set(v.nodeId, [...(received.get(v.nodeId) ?? []), v.value as number]),
        { publishingIntervalMs: 100 },
      );
      expect(subscription.refused).toEqual([]);
      await waitUntil('three values of every variable', () => received.size === count && [...received.values()].every((values) => values.length >= 3));
      // Each notification is a new value: every variable only grows.
      for (const values of received.values()) expect(values.every((v, i) => i === 0 || v > values[i - 1]!)).toBe(true);
      // The server's count of what it sent this client meets what the client got, between two publishes.
      const total = () => [...received.values()].reduce((n, values) => n + values.length, 0);
      const sent = () => simulator.notificationsSent().find((s) => s.clientApplicationName === 'CityPilot load client')?.dataChangeNotifications ?? -1;
      await waitUntil('the server count equal to what was received', () => sent() === total());
      expect(sent()).toBeGreaterThanOrEqual(3 * count);
      await subscription.close();
    } finally {
      await connection.close();
      await simulator.stop();
    }
  });
});
