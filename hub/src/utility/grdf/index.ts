/**
 * GRDF's ADICT API for CityPilot's utility meters: the client the hub reads gas meters (PCEs)
 * with, and the simulator the tests and demos answer it with.
 */
export { GrdfClient, GrdfError, planGrdfWindows } from './client.js';
export type { GrdfClientOptions, GrdfErrorCode, GrdfWindow } from './client.js';
export {
  COEFFICIENT_RANGE,
  GRDF_API_URL,
  GRDF_HISTORY_YEARS,
  GRDF_PATHS,
  GRDF_SCOPE,
  GRDF_STATUS,
  GRDF_TOKEN_URL,
  GRDF_WINDOW_DAYS,
  isPce,
  isTechnicalStatus,
  PCE_PATTERN,
  shiftYears,
} from './adict.js';
export { GRDF_SIMULATOR_REQUESTS_KEPT, GrdfSimulator } from './simulator.js';
export type { GrdfSimulatorOptions, SimulatedGasPeriod, SimulatedGrdfAnswer, SimulatedGrdfClient, SimulatedGrdfRequest, SimulatedPce } from './simulator.js';
