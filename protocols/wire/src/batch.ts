/**
 * The batch: what a gateway sends the hub. Produced by the gateway (gateway/src/pipeline/outbox.ts builds
 * batches of its polled samples and publishes them, encoded here, on `<prefix>.telemetry.<gateway>`,
 * see subjects.ts); consumed by the hub's ingest workers (hub/src/ingest/ingest.ts), which decode
 * and check them here, then store them exactly once (the message id dedupes a batch sent twice).
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { checked, parseJsonMessage } from './decode.js';
import { DecodeError } from './errors.js';
import { ID_PATTERN } from './ids.js';

/** The batch format version gateways write. Readers accept every version they know. */
export const BATCH_VERSION = 1;

const QualitySchema = Type.Union([Type.Literal('good'), Type.Literal('uncertain'), Type.Literal('bad'), Type.Literal('stale')]);

const PointIdSchema = Type.String({ minLength: 1, maxLength: 255 });

const PointDefinitionSchema = Type.Object({
  id: PointIdSchema,
  name: Type.String(),
  unit: Type.Optional(Type.String()),
  kind: Type.Union([Type.Literal('number'), Type.Literal('boolean'), Type.Literal('string')]),
  tags: Type.Array(Type.String()),
  source: Type.Object({ plugin: Type.String(), device: Type.String(), address: Type.Unknown() }),
  intervalMs: Type.Optional(Type.Integer({ minimum: 1 })),
});

const SampleSchema = Type.Object({
  point: PointIdSchema,
  /** Milliseconds since the Unix epoch, up to the end of year 9999. */
  time: Type.Integer({ minimum: 0, maximum: 253_402_300_799_999 }),
  value: Type.Union([Type.Number(), Type.Boolean(), Type.String(), Type.Null()]),
  quality: QualitySchema,
  reason: Type.Optional(Type.String()),
});

/** JSON Schema of a version-1 batch, as published by gateways on `<prefix>.telemetry.<gateway>`. */
export const BatchSchema = Type.Object({
  /** Format version: 1. */
  v: Type.Literal(BATCH_VERSION),
  /**
   * The sending gateway's id: the one of the subject it is published on, which the hub checks
   * (it refuses a batch that names another gateway; the subject is the identity).
   */
  gateway: Type.String({ pattern: ID_PATTERN }),
  /** Per-gateway sequence number: starts at 1 and only grows, across restarts too. */
  seq: Type.Integer({ minimum: 1 }),
  /** When the gateway built the batch, milliseconds since the Unix epoch. */
  createdAt: Type.Integer({ minimum: 0 }),
  /**
   * The gateway's complete list of points, sent at start and whenever its configuration changes
   * (a long one in parts: see `pointsPart`). The hub registers new points, updates changed ones,
   * and marks retired (never deletes) those the list no longer has.
   */
  points: Type.Optional(Type.Array(PointDefinitionSchema)),
  /**
   * Set when the list is too long for one message (several thousand points) and goes over
   * consecutive batches: this batch's `points` are part `index` of `count`, counted from 1. Only
   * the last part, with `pointIds`, says which points the gateway no longer lists.
   */
  pointsPart: Type.Optional(Type.Object({ index: Type.Integer({ minimum: 1 }), count: Type.Integer({ minimum: 1 }) })),
  /** With the last part of a list sent in parts: the id of every point of the whole list. */
  pointIds: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /**
   * The building the gateway serves, as the hub's catalog knows it; sent with `points`. Once the
   * hub's catalog holds buildings, it refuses a batch naming one it does not know.
   */
  building: Type.Optional(Type.String({ pattern: ID_PATTERN })),
  samples: Type.Array(SampleSchema),
});

/** A gateway → hub batch. Its JetStream message id is in its gateway's space (see {@link batchMessageId}). */
export type Batch = Static<typeof BatchSchema>;

const batchCheck = TypeCompiler.Compile(BatchSchema);

/**
 * What a key in a message id may hold: the outbox makes it of hex digits; anything that cannot
 * hold the separator `:` and fits a NATS header.
 */
const MESSAGE_ID_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * `Nats-Msg-Id` of a batch: JetStream drops a second publish of the same id within its window.
 *
 * JetStream's duplicate window is shared by the whole stream and keyed by this id alone, which
 * NATS permissions cannot restrict: an id another gateway can guess is an id it can take first,
 * so that the real batch is dropped as a duplicate. Gateways therefore put their outbox's secret
 * `key` in it, `<gateway>:<key>:<seq>` (random, kept with the outbox, read by no other gateway);
 * without a key it is `<gateway>:<seq>`, as gateways before the key sent it.
 */
export function batchMessageId(batch: Pick<Batch, 'gateway' | 'seq'>, key?: string): string {
  return key === undefined ? `${batch.gateway}:${batch.seq}` : `${batch.gateway}:${key}:${batch.seq}`;
}

/**
 * Whether `id` is a message id of batch `seq` of gateway `gateway`, with or without a key (see
 * {@link batchMessageId}). Gateway ids hold no `:`, so no gateway's ids are another's.
 */
export function isBatchMessageId(id: string, gateway: string, seq: number): boolean {
  const prefix = `${gateway}:`;
  const suffix = `:${seq}`;
  if (id === `${gateway}:${seq}`) return true;
  if (!id.startsWith(prefix) || !id.endsWith(suffix)) return false;
  return MESSAGE_ID_KEY.test(id.slice(prefix.length, id.length - suffix.length));
}

/** Encodes a batch for the wire (UTF-8 JSON). */
export function encodeBatch(batch: Batch): Uint8Array {
  return Buffer.from(JSON.stringify(batch), 'utf8');
}

/**
 * Decodes and checks a batch received from the network.
 * @throws DecodeError saying what is wrong and where; never returns a partly valid batch.
 */
export function decodeBatch(data: Uint8Array): Batch {
  const parsed = parseJsonMessage(data, 'batch');
  if (typeof parsed === 'object' && parsed !== null && 'v' in parsed && parsed.v !== BATCH_VERSION) {
    throw new DecodeError(`batch version ${JSON.stringify(parsed.v)} is not supported (expected ${BATCH_VERSION})`);
  }
  return checked(parsed, batchCheck, 'batch');
}
