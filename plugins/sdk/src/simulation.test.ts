import { describe, expect, it } from 'vitest';
import { buildingLoad, simulationNoise } from './simulation.js';

// Local times, so that the load curve (in the process's time zone) is the same everywhere.
const tuesday = (hour: number) => new Date(2026, 0, 6, hour).getTime();
const saturday = (hour: number) => new Date(2026, 0, 10, hour).getTime();

describe("the simulators' building", () => {
  it('follows a daily load curve: full in working hours, low at night, lower at weekends', () => {
    expect(buildingLoad(tuesday(11))).toBe(1);
    expect(buildingLoad(tuesday(3))).toBe(0.25);
    expect(buildingLoad(tuesday(7))).toBeCloseTo(0.625);
    expect(buildingLoad(saturday(11))).toBeCloseTo(0.4);
  });

  it('makes noise within -1..1 that repeats for the same second and seed', () => {
    const values = Array.from({ length: 100 }, (_, i) => simulationNoise(1_700_000_000_000 + i * 1000, 3));
    expect(values.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(90);
    expect(simulationNoise(1_700_000_000_400, 3)).toBe(values[0]);
    expect(simulationNoise(1_700_000_000_000, 4)).not.toBe(values[0]);
  });
});
