/**
 * What the simulators of every protocol share, so that the demo city's buildings follow one day:
 * the load of a municipal building along the week, and repeatable noise.
 */

/**
 * Share of full load of a municipal building at `time`, in the process's local time zone: full
 * from 8:00 to 18:00 on weekdays, ramping up from 6:00 and down until 21:00, a quarter at night,
 * and little more at weekends.
 */
export function buildingLoad(time: number): number {
  const d = new Date(time);
  const hour = d.getHours() + d.getMinutes() / 60;
  const weekend = d.getDay() === 0 || d.getDay() === 6;
  const day = hour < 6 || hour >= 21 ? 0 : hour < 8 ? (hour - 6) / 2 : hour < 18 ? 1 : (21 - hour) / 3;
  return weekend ? 0.25 + 0.15 * day : 0.25 + 0.75 * day;
}

/** Noise in -1..1, the same for the same second and seed: runs with a fixed clock repeat. */
export function simulationNoise(time: number, seed: number): number {
  const x = Math.sin(Math.floor(time / 1000) * 12.9898 + seed * 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}
