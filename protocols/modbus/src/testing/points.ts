import type { SimulatedPoint } from '../simulator.js';

/** A simulated point holding `value` for good, at `address` of `table`, encoded as `type`. */
export function constantPoint(
  table: SimulatedPoint['table'],
  address: number,
  type: SimulatedPoint['type'],
  value: number | boolean | string,
  extra: Partial<SimulatedPoint> = {},
): SimulatedPoint {
  return { table, address, type, behaviour: { kind: 'constant', value }, ...extra };
}
