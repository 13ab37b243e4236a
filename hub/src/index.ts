export { Hub, type HubOptions } from './hub.js';
export { Storage, type StorageMode, type StorageOptions, type WriteResult, type GatewayStatus, type PointStatus } from './storage/storage.js';
export { migrate, migrations, type Migration } from './storage/migrations.js';
export { ensureIngestStreams, IngestWorker, defaultStreamNames, deadLetterStream, deadLetterSubject, type StreamNames } from './ingest/ingest.js';
export { ensureServices, ensureDatabase, withDatabase, freePort, ServiceUnavailableError, type Services } from './services/local-services.js';
export { runCli, streamNamesFromEnv } from './commands.js';
