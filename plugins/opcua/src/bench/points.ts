/** Variables of the benchmark's server: a large building's BMS, one per point. */
export const BENCH_POINTS = 5000;

/** The path of the benchmark's variable `i` under Objects/Building: 50 plant rooms of 100 values. */
export function benchPath(i: number): string {
  return `Bench.Room${String(Math.floor(i / 100)).padStart(2, '0')}.Value${String(i % 100).padStart(2, '0')}`;
}
