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
} from './config-push.js';
