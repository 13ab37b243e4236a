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
export { fleetEventsRoute, journalQuery, FleetJournalQueryError, JOURNAL_LIMIT_DEFAULT, JOURNAL_LIMIT_MAX, type FleetJournal } from './events-route.js';
export { ConfigTexts, configDiff, type BucketConfig } from './config-texts.js';
export {
  recordFleetEvents,
  listFleetGateways,
  getFleetGateway,
  fleetHistory,
  fleetJournal,
  markSilent,
  countByState,
  type FleetEvent,
  type FleetHistoryEntry,
  type FleetJournalEntry,
  type FleetGatewayRow,
  type Queryable,
} from './store.js';
