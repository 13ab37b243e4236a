export { Hub, type HubOptions } from './hub.js';
export { ANONYMOUS, ROLES, type Principal, type Role } from './auth/principal.js';
export { registerAccess, accessOf, allowedRoles, SiteScope, AccessDeclarationError, type Access, type SiteReference } from './auth/access.js';
export { registerAuth, AuthenticationError, type AuthOptions, type AuthenticationFailure } from './auth/authenticate.js';
export { registerAudit, auditRoutes, queryAudit, bodySummary, type AuditEntry, type AuditOptions } from './auth/audit.js';
export { registerOpenApi, BEARER_SCHEME } from './auth/openapi.js';
export {
  TOKEN_ROLES,
  checkTokenRequest,
  createToken,
  listTokens,
  revokeToken,
  parseToken,
  TokenRequestError,
  TokenNotFoundError,
  type CheckedTokenRequest,
  type TokenInfo,
  type TokenRequest,
} from './auth/tokens.js';
export { Storage, type StorageMode, type StorageOptions, type WriteResult, type GatewayStatus, type PointStatus } from './storage/storage.js';
export { migrate, migrations, type Migration } from './storage/migrations.js';
export {
  checkLifecycleOptions,
  refreshHorizons,
  StorageLifecycle,
  InvalidStorageSettingError,
  DATA_CLASSES,
  DEFAULT_COMPRESS_AFTER,
  DEFAULT_RETENTION,
  RETENTION_INTERVAL_MS,
  RETENTION_TIMES,
  COMPRESSION_TIME,
  type CheckedInterval,
  type DataClass,
  type LifecycleOptions,
  type LifecycleSetting,
  type LifecycleSettings,
  type RetentionPass,
} from './storage/lifecycle.js';
export { readTimescaleJobs, failedJobs, failureReason, jobsHealth, JOB_RELATIONS, type TimescaleJob, type FailedJob, type JobPolicy } from './storage/jobs.js';
export { SamplePartitions, SampleTimeRangeError, MAX_PARTITIONS_PER_CALL, partitionName, sampleTimeRange, type PartitionMonth } from './storage/partitions.js';
export { ensureIngestStreams, IngestWorker, defaultStreamNames, deadLetterStream, deadLetterSubject, type StreamNames } from './ingest/ingest.js';
export { ensureServices, ensureDatabase, withDatabase, freePort, ServiceUnavailableError, type Services } from './services/local-services.js';
export { runHubCli, streamNamesFromEnv, lifecycleFromEnv, HUB_COMMANDS_USAGE, HUB_ENVIRONMENT_USAGE, type HubCliOptions } from './commands.js';
export { createLogger, describeFailure, processIo, type CliIo } from './cli-io.js';
export { stopChild } from './services/local-services.js';
export { ensureNatsCredentials, type NatsCredentialFiles } from './services/nats-auth.js';
export { waitFor } from '@citypilot/sdk';
export { formatMeasured } from './number-format.js';
// The demo city's data, which `citypilot demo` stores before it starts the gateways.
export { seedDemoUtility, DEMO_LIBRARY_PRM, DEMO_ENEDIS_CLIENT } from './utility/demo.js';
export { EnedisSimulator } from './utility/enedis/index.js';
export { SecretBox } from './utility/secrets.js';
export { DEMO_ACCOUNTS, DEMO_PASSWORD, DEMO_PLANT, demoPlant, seedDemoCity, type DemoDevice, type ProfilePoints } from './demo-seed.js';
export {
  DEMO_METER_INTERVAL_MS,
  DEMO_PLANT_INTERVAL_MS,
  type DemoCity,
  type DemoMeterBuilding,
  type DemoMeterPoint,
  type DemoPlantDevice,
} from './demo-history.js';
export { gatewayConfig, DEMO_INTERVAL, DEMO_PLANT_INTERVAL, type DemoGatewaySettings } from './demo-gateway-config.js';
export {
  BUILDING_USAGES,
  CatalogSchema,
  importCatalog,
  listBuildings,
  loadCatalog,
  applyAnnouncements,
  collectAnnouncements,
  type Announcements,
  type AnnouncedPoint,
  type Catalog,
  type BuildingSummary,
} from './storage/catalog.js';
export { completeness, type CompletenessQuery, type CompletenessRow } from './storage/completeness.js';
export {
  Rollups,
  ROLLUP_STEPS,
  RollupTimeZoneMismatchError,
  UnknownTimeZoneError,
  type BuildingEnergy,
  type EnergyQuery,
  type RollupBucket,
  type RollupStep,
  type SeriesQuery,
} from './storage/rollups.js';
export {
  parseFormula,
  FormulaError,
  type Formula,
  type FormulaContext,
  type FormulaDependencies,
  type PointAggregate,
  type ServiceAggregate,
  type Attribute,
} from './objectives/formula.js';
export * from './service-data/index.js';
export * from './costs/index.js';
