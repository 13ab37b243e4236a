import { errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { CityPilotError } from '@citypilot/sdk';
import { objectDirectGetSubject } from '@citypilot/wire';

/**
 * Reading an object of a JetStream object store with direct gets only: the gateway's NATS user
 * may not create consumers (hub/src/services/nats-auth.ts), so neither @nats-io/obj's `get()`
 * nor a watch can be used. The layout is @nats-io/obj's (objectstore.js): the object's
 * description is the last message on `$O.<bucket>.M.<name in base64url, padding kept>`, its
 * bytes the messages on `$O.<bucket>.C.<nuid>`, in sequence order.
 */

/** An object that could not be read: missing, larger than allowed, cut short, or the server did not answer. */
export class ObjectDownloadError extends CityPilotError {
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** The object is larger than the size signed for it: not a transient failure, the bytes were changed. */
    readonly altered = false,
  ) {
    super('PLUGIN_DOWNLOAD_FAILED', message, options);
  }
}

/** The object's description as @nats-io/obj stores it (the fields read here). */
interface ObjectMeta {
  nuid: string;
  size: number;
  chunks: number;
  deleted?: boolean;
}

/** The meta subject of object `name`: @nats-io/obj's `_metaSubject` (base64url of the name, with its padding). */
export function objectMetaSubject(bucket: string, name: string): string {
  const encoded = Buffer.from(name, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  return `$O.${bucket}.M.${encoded}`;
}

/**
 * Reads object `name` of object store `bucket`, refusing one larger than `maxBytes` (from its
 * description, and again as chunks arrive). Each request waits `timeoutMs` at most; a chunk of
 * an object changes nothing until the whole is read.
 * @throws ObjectDownloadError saying which object and what went wrong
 */
export async function downloadObject(nc: NatsConnection, bucket: string, name: string, maxBytes: number, timeoutMs = 5000): Promise<Buffer> {
  const subject = objectDirectGetSubject(bucket);
  const where = `object ${JSON.stringify(name)} of bucket ${bucket}`;
  const get = async (body: object): Promise<Msg | undefined> => {
    try {
      const reply = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
      const headers = reply.headers;
      // A status reply (404 Message Not Found, 408 …) carries no message.
      if (!headers || headers.hasError || headers.code >= 300) return undefined;
      return reply;
    } catch (error) {
      if (error instanceof errors.NoRespondersError || (error as { cause?: unknown }).cause instanceof errors.NoRespondersError) return undefined;
      throw new ObjectDownloadError(`cannot read ${where}: ${(error as Error).message}`, { cause: error });
    }
  };
  const metaMsg = await get({ last_by_subj: objectMetaSubject(bucket, name) });
  if (!metaMsg) throw new ObjectDownloadError(`${where} does not exist`);
  const meta = parseMeta(metaMsg, where);
  if (meta.deleted) throw new ObjectDownloadError(`${where} was deleted`);
  if (meta.size > maxBytes) throw new ObjectDownloadError(`${where} is ${meta.size} bytes, more than the ${maxBytes} signed: it was altered`, undefined, true);
  const parts: Buffer[] = [];
  let received = 0;
  let seq = 0;
  for (let chunk = 0; received < meta.size; chunk++) {
    // Bounded by the sizes: every chunk holds at least a byte, or the object is cut short below.
    if (chunk >= meta.chunks) throw new ObjectDownloadError(`${where} is cut short: ${received} of ${meta.size} bytes in its ${meta.chunks} chunks`);
    const msg = await get({ seq: seq + 1, next_by_subj: `$O.${bucket}.C.${meta.nuid}` });
    if (!msg) throw new ObjectDownloadError(`${where} is cut short: ${received} of ${meta.size} bytes found`);
    const next = Number(msg.headers?.get('Nats-Sequence'));
    if (!Number.isSafeInteger(next) || next <= seq) throw new ObjectDownloadError(`reading ${where}: a chunk came without a valid sequence number`);
    seq = next;
    if (msg.data.byteLength === 0) continue;
    received += msg.data.byteLength;
    if (received > meta.size || received > maxBytes)
      throw new ObjectDownloadError(`${where} holds more than the ${Math.min(meta.size, maxBytes)} bytes it should: it was altered`, undefined, true);
    parts.push(Buffer.from(msg.data));
  }
  return Buffer.concat(parts, received);
}

function parseMeta(msg: Msg, where: string): ObjectMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(msg.string());
  } catch {
    throw new ObjectDownloadError(`the description of ${where} is not JSON`);
  }
  const m = meta as Partial<ObjectMeta> | null;
  const valid =
    m !== null &&
    typeof m === 'object' &&
    typeof m.nuid === 'string' &&
    /^[A-Za-z0-9]{1,64}$/.test(m.nuid) &&
    Number.isSafeInteger(m.size) &&
    m.size! >= 0 &&
    Number.isSafeInteger(m.chunks) &&
    m.chunks! >= 0;
  if (!valid) throw new ObjectDownloadError(`the description of ${where} lacks a valid nuid, size or chunk count`);
  return { nuid: m.nuid!, size: m.size!, chunks: m.chunks!, deleted: m.deleted === true };
}
