// Test helpers: a simulated BACnet/IP device on loopback, and a wait for a condition.
export {
  BacnetSimulator,
  type BacnetSimulatorOptions,
  type BacnetSimulatorStats,
  type SimulatorMisbehaviour,
  type SimulatorRestartOptions,
} from '../simulator.js';
export { buildingObjects, type SimulatedObjectSpec } from '../building.js';

/** Waits until `condition` holds, checking every 20 ms; throws after `timeoutMs` (generous: the machine may be loaded). */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
