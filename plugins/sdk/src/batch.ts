// The batch format and the NATS subjects are CityPilot's wire contract, declared in
// @citypilot/wire; re-exported here so that plugins and older imports keep working.
export { BATCH_VERSION, BatchSchema, batchMessageId, isBatchMessageId, encodeBatch, decodeBatch, subjects, type Batch, type Subjects } from '@citypilot/wire';
