export { Fleet, FLEET_QUEUE, reportEvents, type FleetOptions, type ReportListener } from './fleet.js';
export {
  fleetRoutes,
  fleetGateway,
  FleetRequestError,
  MAX_CONFIG_BYTES,
  type FleetRoutesOptions,
  type FleetGateway,
  type FleetGatewayDetail,
} from './routes.js';
export { ConfigTexts, configDiff, type BucketConfig } from './config-texts.js';
export {
  recordFleetEvents,
  listFleetGateways,
  getFleetGateway,
  fleetHistory,
  markSilent,
  countByState,
  type FleetEvent,
  type FleetHistoryEntry,
  type FleetGatewayRow,
  type Queryable,
} from './store.js';
