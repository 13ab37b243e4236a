// CityPilot's own protocol between gateways and the hub: what both sides agree on (README.md).
export { CityPilotError, DecodeError, formatPath, type DocumentPath } from './errors.js';
export { ID_PATTERN } from './ids.js';
export { BATCH_VERSION, BatchSchema, batchMessageId, isBatchMessageId, encodeBatch, decodeBatch, type Batch } from './batch.js';
export { subjects, defaultStreamNames, deadLetterStream, deadLetterSubject, type Subjects, type StreamNames } from './subjects.js';
export { NatsCredentialsError, readNatsSeed, natsCredentialsOptions, createNatsUser, natsPublicKey } from './nats-credentials.js';
export {
  DEFAULT_CONFIG_BUCKET,
  configBucketStream,
  directGetSubject,
  encodeConfigNotice,
  type ConfigNotice,
  type PushedConfig,
  type GatewayConfigCheck,
  type GatewayConfigValidator,
  type PluginPackageDescription,
} from './config-push.js';
export {
  DEFAULT_PLUGIN_BUCKET,
  DEFAULT_FLEET_BUCKET,
  MAX_PLUGIN_PACKAGE_BYTES,
  MAX_INVENTORY_BYTES,
  DEFAULT_REPORT_INTERVAL_S,
  MISSED_REPORTS_BEFORE_SILENT,
  INVENTORY_VERSION,
  KEY_ID_PATTERN,
  fleetSubjects,
  objectStoreStream,
  objectDirectGetSubject,
  pluginObjectName,
  pluginSignedMessage,
  pluginKeyId,
  signPluginPackage,
  verifyPluginSignature,
  PluginPackageManifestSchema,
  PluginAssignmentSchema,
  PluginAssignmentsSchema,
  PluginInstallSchema,
  InventoryReportSchema,
  encodeInventory,
  decodeInventory,
  encodeAssignments,
  decodeAssignments,
  type PluginPackageManifest,
  type PluginAssignment,
  type PluginAssignments,
  type PluginInstall,
  type InventoryReport,
  type FleetAlert,
} from './fleet.js';
