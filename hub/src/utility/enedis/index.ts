/**
 * Enedis Data Connect for CityPilot's utility meters: the client the hub reads Linky meters
 * with, and the simulator the tests and the demo city answer it with.
 */
export { consentUrl, EnedisClient, EnedisError, MAX_SPAN_DAYS, planWindows } from './client.js';
export type { DayWindow, EnedisClientOptions, EnedisErrorCode } from './client.js';
export {
  addConsentDuration,
  ENEDIS_ERRORS,
  ENEDIS_HISTORY,
  ENEDIS_PATHS,
  ENEDIS_STEP_MINUTES,
  ENEDIS_WINDOW_DAYS,
  formatLocalDateTime,
  isPrm,
  parseConsentDuration,
  PRM_PATTERN,
} from './data-connect.js';
export type { ConsentDuration, EnedisMeasure } from './data-connect.js';
export { EnedisSimulator, SIMULATOR_REQUESTS_KEPT } from './simulator.js';
export type { EnedisSimulatorOptions, SimulatedAnswer, SimulatedClient, SimulatedConsent, SimulatedRequest, SimulatedUsagePoint } from './simulator.js';
