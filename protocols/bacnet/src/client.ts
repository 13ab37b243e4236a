import {
  AbortReason,
  ApplicationTag,
  ASN1_ARRAY_ALL,
  ConfirmedServiceChoice,
  ObjectType,
  PropertyIdentifier,
  RejectReason,
  Segmentation,
  ServicesSupported,
  type BACNetAppData,
  type BACNetBitString,
} from '@bacnet-js/client';
import { BacnetAbortError, BacnetError, BacnetProtocolError, BacnetRejectError, BacnetServiceError, BacnetSocketError, BacnetTimeoutError } from './errors.js';
import { formatObjectId, propertyName, type BacnetObjectId } from './names.js';
import { planReadPropertyMultiple, type PropertyRef } from './planner.js';
import { LibraryClient } from './library.js';
import { peekApdu, rejectDatagram, UdpTransport } from './transport.js';

const P = PropertyIdentifier;
/** Instance 4194303 of the Device type names "the device that receives this request" (clause 15.5.1.1.1). */
const THIS_DEVICE = 4194303;

export interface BacnetClientOptions {
  /**
   * Local IPv4 address to bind: 0.0.0.0 for all (default), the building network's interface, or
   * 127.0.0.1 in tests. A socket bound to one address receives no broadcast (measured on Linux):
   * devices that answer Who-Is with a broadcast I-Am, as many do, are then found only with 0.0.0.0.
   */
  interface?: string;
  /** Local UDP port. Default 47808; 0 for a free port chosen by the system (tests). */
  port?: number;
  /** Where Who-Is broadcasts go: the subnet's directed broadcast, `ip` (to our own port) or `ip:port`. Default 255.255.255.255. */
  broadcastAddress?: string;
  /**
   * Time to wait for each answer, in milliseconds: the default for the devices of this client and
   * the longest any of them may ask for (a device's own `timeoutMs` is capped by it). Default 3000.
   */
  timeoutMs?: number;
  /** Times a request without an answer is sent again, unless the device says otherwise. Default 1. */
  retries?: number;
}

export type ReadMethod = 'auto' | 'rpm' | 'rp';

/** A device as the client reaches it. Several devices share one client (one socket). */
export interface BacnetDevice {
  /** `ip:port` (or `ip` for 47808). */
  address: string;
  /** The Device object's instance; read from the device when absent. */
  deviceInstance?: number;
  /** Largest APDU the device accepts; from its I-Am or Device object when absent. */
  maxApdu?: number;
  /** auto (default): ReadPropertyMultiple if the device offers it, else ReadProperty. */
  readMethod?: ReadMethod;
  /** Requests sent to the device without waiting for their answers. Default 1. */
  maxRequestsInFlight?: number;
  /** Overrides the client's retries for this device. */
  retries?: number;
  /** Time to wait for each answer of this device, in milliseconds; at most the client's `timeoutMs` (the default). */
  timeoutMs?: number;
}

/** What a device announced in its I-Am. */
export interface IAm {
  address: string;
  deviceInstance: number;
  maxApdu: number;
  /** both, transmit, receive or none. */
  segmentation: SegmentationName;
  vendorId: number;
}

export type SegmentationName = 'both' | 'transmit' | 'receive' | 'none';
const SEGMENTATION_NAMES: Record<number, SegmentationName> = {
  [Segmentation.SEGMENTED_BOTH]: 'both',
  [Segmentation.SEGMENTED_TRANSMIT]: 'transmit',
  [Segmentation.SEGMENTED_RECEIVE]: 'receive',
  [Segmentation.NO_SEGMENTATION]: 'none',
};

/** What the Device object says of the device's abilities. */
export interface BacnetDeviceInfo {
  address: string;
  deviceInstance: number;
  name?: string;
  vendorName?: string;
  vendorId?: number;
  modelName?: string;
  maxApdu: number;
  segmentation: SegmentationName;
  /** Names of the services it executes (protocol-services-supported), such as `read-property-multiple`. */
  servicesSupported: string[];
  supportsReadPropertyMultiple: boolean;
  supportsCov: boolean;
  supportsWriteProperty: boolean;
}

/** A value as the device encoded it: its application tag (ApplicationTag) and the decoded value. */
export interface TypedValue {
  tag: number;
  value: unknown;
}

/** The four status flags (clause 12.50.9), the base of a point's quality. */
export interface StatusFlagsValue {
  inAlarm: boolean;
  fault: boolean;
  overridden: boolean;
  outOfService: boolean;
}

/** One property to read, and whether to read the object's status along with it. */
export interface PointRead {
  objectType: number;
  instance: number;
  /** Default present-value. */
  property?: number;
  arrayIndex?: number;
  /** Read status-flags, reliability and out-of-service along with it. */
  withStatus?: boolean;
}

/** The answer for one point: its value, or its own error; the status when asked and given. */
export interface PointResult {
  /** The value: a single element's value, an array for several elements (a whole array). */
  value?: unknown;
  values?: TypedValue[];
  error?: BacnetError;
  statusFlags?: StatusFlagsValue;
  /** Reliability (BACnetReliability), when the object has one. */
  reliability?: number;
  outOfService?: boolean;
}

/** What a read of an object's description gives, for a point draft. */
export interface BacnetObjectInfo extends BacnetObjectId {
  name?: string;
  description?: string;
  /** Engineering units (BACnetEngineeringUnits) of analog objects. */
  units?: number;
  /** Application tag of the present value (ApplicationTag.REAL, ENUMERATED, …), when it could be read. */
  presentValueTag?: number;
  presentValue?: unknown;
  /** Multi-state objects: the text of each state. */
  stateText?: string[];
  /** Set when the object could not be read at all. */
  error?: BacnetError;
}

export interface CovNotification {
  /** Sender's `ip:port`. */
  address: string;
  deviceInstance: number;
  object: BacnetObjectId;
  /** Seconds left in the subscription, as the device says. */
  timeRemaining: number;
  presentValue?: TypedValue;
  statusFlags?: StatusFlagsValue;
  /** Every property the notification carries. */
  values: { property: number; values: TypedValue[] }[];
  confirmed: boolean;
}

export interface CovSubscribeOptions {
  /** Ask for confirmed notifications (acknowledged by us). Default false. */
  confirmed?: boolean;
  /** Subscriber process identifier (unsigned 32 bits) to use; default: the next free one of this client. */
  processId?: number;
  /** Lifetime asked, in seconds; renewed before it ends. 0 asks for an indefinite subscription (not renewed). */
  lifetimeSeconds: number;
  onNotification: (notification: CovNotification) => void;
  /** A renewal failed (it is tried again); never called concurrently. */
  onError?: (error: BacnetError) => void;
}

/** A live COV subscription: renewed by the client until cancelled or the client closes. */
export interface CovSubscription {
  readonly processId: number;
  readonly object: BacnetObjectId;
  /** Renewals that succeeded so far. */
  readonly renewals: number;
  /** Tells the device to stop notifying, and stops the renewals. */
  cancel(): Promise<void>;
}

interface LiveSubscription {
  processId: number;
  device: BacnetDevice;
  object: BacnetObjectId;
  options: CovSubscribeOptions;
  timer?: NodeJS.Timeout;
  renewals: number;
  cancelled: boolean;
}

/** A per-device bound on requests in flight: the rest wait their turn in order. */
class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  max = 1;

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/**
 * A BACnet/IP client over @bacnet-js/client: one UDP socket (one local interface and port) shared
 * by every device reached through it. It finds devices (Who-Is), reads what they are (Device
 * object, object list, object names and units), reads points with ReadPropertyMultiple requests
 * planned to fit each device's APDU (ReadProperty for devices without it), subscribes to COV with
 * renewals, writes with a priority, and registers as a foreign device with a BBMD.
 *
 * Requests to one device are bounded by its `maxRequestsInFlight`; each waits `timeoutMs` and is
 * sent again `retries` times. Errors are typed (errors.ts): a point's own error (unknown object,
 * unknown property) is that point's result, never a failure of the whole read.
 */
export class BacnetClient {
  private readonly transport: UdpTransport;
  private readonly library: LibraryClient;
  private readonly options: Required<BacnetClientOptions>;
  private readonly limiters = new Map<string, Limiter>();
  private readonly iAms = new Map<string, IAm>();
  private readonly infos = new Map<string, BacnetDeviceInfo>();
  private readonly pendingInfos = new Map<string, Promise<BacnetDeviceInfo>>();
  /** Devices found to reject ReadPropertyMultiple, by address. */
  private readonly noRpm = new Set<string>();
  /** The peer (`ip:port`) each invoke id in use was sent to. */
  private readonly pendingPeers = new Map<number, string>();
  private nextInvokeId = 0;
  /** Reject or Abort received for an invoke id: the library reports both as "BacnetAbort". */
  private readonly naks = new Map<number, 'reject' | 'abort'>();
  private readonly subscriptions = new Map<number, LiveSubscription>();
  private nextProcessId = 1;
  private readonly iAmListeners = new Set<(iAm: IAm) => void>();
  private foreignDevice: { bbmd: string; ttl: number; timer?: NodeJS.Timeout; onError?: (error: BacnetError) => void } | undefined;
  private opened: Promise<{ address: string; port: number }> | undefined;
  private closed = false;

  constructor(options: BacnetClientOptions = {}) {
    this.options = {
      interface: options.interface ?? '0.0.0.0',
      port: options.port ?? 47808,
      broadcastAddress: options.broadcastAddress ?? '255.255.255.255',
      timeoutMs: options.timeoutMs ?? 3000,
      retries: options.retries ?? 1,
    };
    this.transport = new UdpTransport({
      interface: this.options.interface,
      port: this.options.port,
      broadcastAddress: this.options.broadcastAddress,
      inspectOutgoing: (buffer, length) => {
        // Tell devices we do not accept segmented answers (clause 20.1.2.4: SA bit clear, max
        // segments unspecified): the library reassembles segments in one store for all
        // transactions of the socket, so two segmented answers at once would be mixed into wrong
        // values. Reads are planned to fit one APDU; an answer that does not fit is aborted by the
        // device with segmentation-not-supported, and the request is split.
        const apdu = peekApdu(buffer.subarray(0, length));
        if (apdu && apdu.pduType === 0x00) {
          buffer[apdu.offset] = buffer[apdu.offset]! & ~0x02;
          buffer[apdu.offset + 1] = buffer[apdu.offset + 1]! & 0x0f;
        }
        return true;
      },
      inspect: (buffer, from) => {
        const apdu = peekApdu(buffer);
        if (!apdu || apdu.invokeId === undefined) return true;
        if (apdu.pduType === 0x00) {
          if (apdu.service === ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION) return true;
          // We serve nothing but COV notifications: others get the standard's Reject (the
          // library would answer an Error PDU of its own making).
          this.transport.sendDatagram(rejectDatagram(apdu.invokeId, RejectReason.UNRECOGNIZED_SERVICE), from);
          return false;
        }
        // An answer (ack, error, reject, abort, segment ack) belongs to the transaction of its
        // peer and invoke id (clause 5.4). The library matches invoke ids alone: drop an answer
        // from anyone but the device the request went to, or it could be taken for its answer.
        if (this.pendingPeers.get(apdu.invokeId) !== from) return false;
        if (apdu.pduType === 0x60 || apdu.pduType === 0x70) this.naks.set(apdu.invokeId, apdu.pduType === 0x60 ? 'reject' : 'abort');
        return true;
      },
    });
    this.library = new LibraryClient({ transport: this.transport, apduTimeout: this.options.timeoutMs });
    // Socket errors (a send to an unreachable host) come as 'error' events, which would
    // throw without a listener; the requests concerned time out.
    this.library.on('error', () => undefined);
    this.transport.on('error', () => undefined);
    this.library.on('iAm', (content) => {
      const sender = content.header?.sender?.address;
      if (!sender) return;
      const p = content.payload;
      const iAm: IAm = { address: sender, deviceInstance: p.deviceId, maxApdu: p.maxApdu, segmentation: SEGMENTATION_NAMES[p.segmentation] ?? 'none', vendorId: p.vendorId };
      this.iAms.set(sender, iAm);
      for (const listener of this.iAmListeners) {
        try {
          listener(iAm);
        } catch {
          // A listener's failure must not break the socket's message loop.
        }
      }
    });
    this.library.on('covNotify', (content) => this.onCovNotification(content, true));
    this.library.on('covNotifyUnconfirmed', (content) => this.onCovNotification(content, false));
  }

  /** Binds the socket; resolves with the bound address and port. Rejects with {@link BacnetSocketError} when the port is taken. */
  async open(): Promise<{ address: string; port: number }> {
    this.opened ??= this.transport.open().catch((error: unknown) => {
      throw new BacnetSocketError(`cannot open the BACnet/IP socket on ${this.options.interface}:${this.options.port}: ${(error as Error).message}`, { cause: error });
    });
    return this.opened;
  }

  /** The local `ip:port` once open. */
  get localAddress(): string | undefined {
    const a = this.transport.address;
    return a ? `${a.address}:${a.port}` : undefined;
  }

  /** Stops renewals, closes the socket; pending requests fail. Subscriptions are not cancelled on the devices (they end with their lifetime). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscriptions.values()) {
      s.cancelled = true;
      if (s.timer) clearTimeout(s.timer);
    }
    this.subscriptions.clear();
    if (this.foreignDevice?.timer) clearTimeout(this.foreignDevice.timer);
    this.foreignDevice = undefined;
    this.library.close();
  }

  // ---- discovery ---------------------------------------------------------------------------

  /**
   * Sends a Who-Is and collects the I-Am answers for `waitMs`. With `address`, the Who-Is goes to
   * that device only (directed); without, it is broadcast (through the BBMD when registered as a
   * foreign device). `lowLimit`/`highLimit` restrict the device instances asked.
   */
  async whoIs(options: { address?: string; lowLimit?: number; highLimit?: number; waitMs?: number } = {}): Promise<IAm[]> {
    await this.open();
    const found = new Map<number, IAm>();
    const listener = (iAm: IAm) => {
      if (options.lowLimit !== undefined && iAm.deviceInstance < options.lowLimit) return;
      if (options.highLimit !== undefined && iAm.deviceInstance > options.highLimit) return;
      if (options.address && iAm.address !== normalizeAddress(options.address)) return;
      found.set(iAm.deviceInstance, iAm);
    };
    this.iAmListeners.add(listener);
    try {
      // Both limits or neither (clause 16.10.1.1.1).
      const limits = options.lowLimit !== undefined || options.highLimit !== undefined ? { lowLimit: options.lowLimit ?? 0, highLimit: options.highLimit ?? THIS_DEVICE - 1 } : {};
      if (options.address) this.library.whoIs({ address: normalizeAddress(options.address) }, limits);
      else if (this.foreignDevice) this.library.whoIsThroughBBMD({ address: this.foreignDevice.bbmd }, limits);
      else this.library.whoIs(undefined, limits);
      await delay(options.waitMs ?? 3000);
    } finally {
      this.iAmListeners.delete(listener);
    }
    return [...found.values()].sort((a, b) => a.deviceInstance - b.deviceInstance);
  }

  /**
   * Calls `listener` with every I-Am the socket receives (answers to anyone's Who-Is, and those a
   * device broadcasts by itself when it starts) until the returned function is called.
   */
  onIAm(listener: (iAm: IAm) => void): () => void {
    const own = (iAm: IAm) => listener(iAm);
    this.iAmListeners.add(own);
    return () => this.iAmListeners.delete(own);
  }

  /** The I-Am last received from an address, if any. */
  iAmOf(address: string): IAm | undefined {
    return this.iAms.get(normalizeAddress(address));
  }

  /**
   * Reads the Device object: name, vendor, max APDU, segmentation and the services supported
   * (ReadPropertyMultiple, SubscribeCOV, WriteProperty). Uses ReadProperty only, since whether the
   * device has ReadPropertyMultiple is what this finds out. Remembered for later reads.
   */
  async readDeviceInfo(device: BacnetDevice): Promise<BacnetDeviceInfo> {
    const address = normalizeAddress(device.address);
    let instance = device.deviceInstance;
    if (instance === undefined) {
      const id = await this.readOne(device, { objectType: ObjectType.DEVICE, instance: THIS_DEVICE, property: P.OBJECT_IDENTIFIER });
      instance = (id[0]?.value as BacnetObjectId | undefined)?.instance;
      if (instance === undefined) throw new BacnetProtocolError(`device at ${address}: its object-identifier is not an object identifier`);
    }
    const deviceRef = (property: number): PropertyRef => ({ objectType: ObjectType.DEVICE, instance: instance!, property });
    const optional = async (property: number) => {
      try {
        return (await this.readOne(device, deviceRef(property)))[0]?.value;
      } catch (error) {
        if (error instanceof BacnetServiceError) return undefined;
        throw error;
      }
    };
    const services = (await this.readOne(device, deviceRef(P.PROTOCOL_SERVICES_SUPPORTED)))[0]?.value as BACNetBitString | undefined;
    const maxApdu = Number((await this.readOne(device, deviceRef(P.MAX_APDU_LENGTH_ACCEPTED)))[0]?.value);
    const segmentation = (await optional(P.SEGMENTATION_SUPPORTED)) as number | undefined;
    const names: string[] = [];
    const has = (bit: number) => services !== undefined && bit >> 3 < services.value.length && (services.value[bit >> 3]! & (1 << (bit & 7))) !== 0;
    for (const [name, bit] of Object.entries(ServicesSupported)) if (typeof bit === 'number' && has(bit)) names.push(name.toLowerCase().replaceAll('_', '-'));
    const info: BacnetDeviceInfo = {
      address,
      deviceInstance: instance,
      name: (await optional(P.OBJECT_NAME)) as string | undefined,
      vendorName: (await optional(P.VENDOR_NAME)) as string | undefined,
      vendorId: (await optional(P.VENDOR_IDENTIFIER)) as number | undefined,
      modelName: (await optional(P.MODEL_NAME)) as string | undefined,
      maxApdu: Number.isFinite(maxApdu) && maxApdu >= 50 ? maxApdu : (this.iAms.get(address)?.maxApdu ?? 480),
      segmentation: segmentation !== undefined ? (SEGMENTATION_NAMES[segmentation] ?? 'none') : (this.iAms.get(address)?.segmentation ?? 'none'),
      servicesSupported: names,
      supportsReadPropertyMultiple: has(ServicesSupported.READ_PROPERTY_MULTIPLE),
      supportsCov: has(ServicesSupported.SUBSCRIBE_COV),
      supportsWriteProperty: has(ServicesSupported.WRITE_PROPERTY),
    };
    this.infos.set(address, info);
    return info;
  }

  /**
   * The device's object-list. Read whole when it fits in one APDU of the device; else element by
   * element (planned into ReadPropertyMultiple requests when the device has it), which needs no
   * segmentation, and the same when a whole read is aborted for want of segmentation.
   */
  async readObjectList(device: BacnetDevice): Promise<BacnetObjectId[]> {
    const info = await this.info(device);
    const ref = (arrayIndex?: number): PropertyRef => ({ objectType: ObjectType.DEVICE, instance: info.deviceInstance, property: P.OBJECT_LIST, arrayIndex });
    const count = Number((await this.readOne(device, ref(0)))[0]?.value);
    if (!Number.isInteger(count) || count < 0) throw new BacnetProtocolError(`device ${info.deviceInstance} at ${info.address}: object-list[0] is not a count`);
    const maxApdu = device.maxApdu ?? info.maxApdu;
    // Complex-ACK header, object identifier, property, opening and closing tags, then 5 octets per element.
    if (3 + 5 + 4 + 2 + 5 * count <= maxApdu) {
      try {
        const values = await this.readOne(device, ref());
        return values.map((v) => v.value as BacnetObjectId);
      } catch (error) {
        if (!(error instanceof BacnetAbortError)) throw error;
      }
    }
    const refs = Array.from({ length: count }, (_, i) => ref(i + 1));
    const results = await this.readRefs(device, refs);
    return results.map((r, i) => {
      if (r.error) throw new BacnetError(r.error.code, `object-list[${i + 1}]: ${r.error.message}`, { cause: r.error });
      return r.values?.[0]?.value as BacnetObjectId;
    });
  }

  /** Name, description, units, state texts and the present value's datatype of each object, for a draft of points. */
  async readObjectsInfo(device: BacnetDevice, objects: readonly BacnetObjectId[]): Promise<BacnetObjectInfo[]> {
    const refs: PropertyRef[] = [];
    const wanted = (o: BacnetObjectId) => {
      const list = [P.OBJECT_NAME, P.DESCRIPTION, P.PRESENT_VALUE];
      if (o.type <= ObjectType.ANALOG_VALUE) list.push(P.UNITS);
      if (o.type === ObjectType.MULTI_STATE_INPUT || o.type === ObjectType.MULTI_STATE_OUTPUT || o.type === ObjectType.MULTI_STATE_VALUE) list.push(P.STATE_TEXT);
      return list;
    };
    for (const o of objects) for (const property of wanted(o)) refs.push({ objectType: o.type, instance: o.instance, property });
    const results = await this.readRefs(device, refs);
    let i = 0;
    return objects.map((o) => {
      const info: BacnetObjectInfo = { type: o.type, instance: o.instance };
      for (const property of wanted(o)) {
        const r = results[i++]!;
        if (r.error) {
          if (property === P.OBJECT_NAME) info.error = r.error;
          continue;
        }
        const first = r.values?.[0];
        if (property === P.OBJECT_NAME) info.name = first?.value as string;
        else if (property === P.DESCRIPTION) info.description = first?.value as string;
        else if (property === P.UNITS) info.units = first?.value as number;
        else if (property === P.STATE_TEXT) info.stateText = (r.values ?? []).map((v) => String(v.value));
        else if (property === P.PRESENT_VALUE && first) {
          info.presentValueTag = first.tag;
          info.presentValue = first.value;
        }
      }
      return info;
    });
  }

  // ---- reading -----------------------------------------------------------------------------

  /**
   * Reads points: ReadPropertyMultiple requests planned to the device's APDU (ReadProperty when
   * the device has no ReadPropertyMultiple or `readMethod` says so), at most
   * `maxRequestsInFlight` at once. One result per point, in order; a point's own error is in its
   * result. Rejects only when the client is closed.
   */
  async readPoints(device: BacnetDevice, points: readonly PointRead[]): Promise<PointResult[]> {
    const refs: PropertyRef[] = [];
    const layout = points.map((p) => {
      const start = refs.length;
      refs.push({ objectType: p.objectType, instance: p.instance, property: p.property ?? P.PRESENT_VALUE, arrayIndex: p.arrayIndex });
      if (p.withStatus) for (const property of [P.STATUS_FLAGS, P.RELIABILITY, P.OUT_OF_SERVICE]) refs.push({ objectType: p.objectType, instance: p.instance, property });
      return start;
    });
    const results = await this.readRefs(device, refs);
    return points.map((p, i) => {
      const r = results[layout[i]!]!;
      const result: PointResult = r.error ? { error: r.error } : { value: r.value, values: r.values };
      if (p.withStatus) {
        const [flags, reliability, outOfService] = [results[layout[i]! + 1]!, results[layout[i]! + 2]!, results[layout[i]! + 3]!];
        const bits = flags.values?.[0]?.value as BACNetBitString | undefined;
        if (bits && Array.isArray(bits.value)) result.statusFlags = statusFlags(bits);
        if (!reliability.error && typeof reliability.values?.[0]?.value === 'number') result.reliability = reliability.values[0].value;
        if (!outOfService.error && typeof outOfService.values?.[0]?.value === 'boolean') result.outOfService = outOfService.values[0].value;
      }
      return result;
    });
  }

  /** Reads one property with ReadProperty; throws the device's error. */
  async readProperty(device: BacnetDevice, ref: PropertyRef): Promise<TypedValue[]> {
    return this.readOne(device, ref);
  }

  private async readOne(device: BacnetDevice, ref: PropertyRef): Promise<TypedValue[]> {
    const what = `read ${describe(ref)} of ${device.address}`;
    const result = await this.request(device, what, (invokeId) =>
      this.library.readProperty({ address: normalizeAddress(device.address) }, { type: ref.objectType, instance: ref.instance }, ref.property, { invokeId, arrayIndex: ref.arrayIndex ?? ASN1_ARRAY_ALL }),
    );
    return result.values.map(typed);
  }

  private async readRefs(device: BacnetDevice, refs: readonly PropertyRef[]): Promise<RefResult[]> {
    const address = normalizeAddress(device.address);
    let method = device.readMethod ?? 'auto';
    let maxApdu = device.maxApdu ?? this.infos.get(address)?.maxApdu ?? this.iAms.get(address)?.maxApdu;
    if (method === 'auto' && this.noRpm.has(address)) method = 'rp';
    if (method === 'auto' || (method === 'rpm' && maxApdu === undefined)) {
      // What the device can do comes from its Device object, read once; a device that does not
      // answer that fails each point with the same error, as it would fail each read.
      let info: BacnetDeviceInfo;
      try {
        info = await this.info(device);
      } catch (error) {
        if (error instanceof BacnetError && !(error instanceof BacnetSocketError)) return refs.map(() => ({ error }));
        throw error;
      }
      if (method === 'auto') method = info.supportsReadPropertyMultiple ? 'rpm' : 'rp';
      maxApdu ??= info.maxApdu;
    }
    if (method === 'rp' || maxApdu === undefined) return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
    const results = new Array<RefResult>(refs.length);
    // The library leaves an array index of 0 (the array's length) out of a ReadPropertyMultiple
    // request, which would ask for the whole array: those go by ReadProperty.
    const byRpm = refs.flatMap((ref, i) => (ref.arrayIndex === 0 ? [] : [i]));
    const plan = planReadPropertyMultiple(
      byRpm.map((i) => refs[i]!),
      { maxApdu },
    );
    await Promise.all([
      ...plan.map(async (request) => {
        const indexes = request.refs.map((k) => byRpm[k]!);
        const answers = await this.readByRpm(device, indexes.map((i) => refs[i]!), maxApdu);
        indexes.forEach((refIndex, k) => (results[refIndex] = answers[k]!));
      }),
      ...refs.map(async (ref, i) => {
        if (ref.arrayIndex === 0) results[i] = await this.readByRp(device, ref);
      }),
    ]);
    return results;
  }

  private async readByRp(device: BacnetDevice, ref: PropertyRef): Promise<RefResult> {
    try {
      return resultOf(await this.readOne(device, ref));
    } catch (error) {
      if (error instanceof BacnetError && !(error instanceof BacnetSocketError)) return { error };
      throw error;
    }
  }

  /** One ReadPropertyMultiple; split in two and asked again when it fails otherwise than by silence, so that each point gets its own answer or error. */
  private async readByRpm(device: BacnetDevice, refs: readonly PropertyRef[], maxApdu: number): Promise<RefResult[]> {
    const address = normalizeAddress(device.address);
    if (this.noRpm.has(address)) return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
    const specs: { objectId: { type: number; instance: number }; properties: { id: number; index: number }[] }[] = [];
    for (const ref of refs) {
      const last = specs.at(-1);
      const property = { id: ref.property, index: ref.arrayIndex ?? ASN1_ARRAY_ALL };
      if (last && last.objectId.type === ref.objectType && last.objectId.instance === ref.instance) last.properties.push(property);
      else specs.push({ objectId: { type: ref.objectType, instance: ref.instance }, properties: [property] });
    }
    const what = `ReadPropertyMultiple of ${refs.length} properties from ${device.address}`;
    try {
      const answer = await this.request(device, what, (invokeId) => this.library.readPropertyMultiple({ address }, specs as never, { invokeId }));
      const byKey = new Map<string, RefResult>();
      for (const object of answer.values ?? []) {
        for (const v of object.values ?? []) {
          const first = v.value?.[0] as { type?: number; value?: { errorClass?: number; errorCode?: number } } | undefined;
          const k = refKey(object.objectId.type, object.objectId.instance, v.id, v.index);
          if (first?.type === ApplicationTag.ERROR) byKey.set(k, { error: new BacnetServiceError(`read ${describe({ objectType: object.objectId.type, instance: object.objectId.instance, property: v.id })} of ${device.address}`, first.value?.errorClass ?? 0, first.value?.errorCode ?? 0) });
          else byKey.set(k, resultOf((v.value ?? []).map(typed)));
        }
      }
      // A property the answer has nothing for is read again by ReadProperty. The library decodes
      // constructed values it has no decoder for generically, and may run past their closing tag
      // into the next property (measured with the BACnet Stack project's demo server: the present
      // value of a credential-data-input swallowed the object-name after it), leaving that one
      // out; asked alone, it comes back.
      return await Promise.all(refs.map((ref) => byKey.get(refKey(ref.objectType, ref.instance, ref.property, ref.arrayIndex ?? ASN1_ARRAY_ALL)) ?? this.readByRp(device, ref)));
    } catch (error) {
      if (!(error instanceof BacnetError) || error instanceof BacnetSocketError) throw error;
      if (error instanceof BacnetRejectError && error.reasonNumber === RejectReason.UNRECOGNIZED_SERVICE) {
        // The device does not execute ReadPropertyMultiple after all: ReadProperty from now on.
        this.noRpm.add(address);
        return Promise.all(refs.map((ref) => this.readByRp(device, ref)));
      }
      if (error instanceof BacnetTimeoutError) return refs.map(() => ({ error }));
      // An answer the library cannot decode at all (a value it fails on): each point asked on its
      // own, by ReadProperty in the end, so that the one at fault costs only itself.
      if (error instanceof BacnetProtocolError) {
        if (refs.length === 1) return [await this.readByRp(device, refs[0]!)];
        const half = Math.ceil(refs.length / 2);
        const [a, b] = await Promise.all([this.readByRpm(device, refs.slice(0, half), maxApdu), this.readByRpm(device, refs.slice(half), maxApdu)]);
        return [...a, ...b];
      }
      if (refs.length === 1) return refs.map(() => ({ error }));
      // Too long an answer (aborted), or an Error for the whole request from a device that answers
      // so when one object is unknown: ask again in halves until each point has its own answer.
      const tooLong = error instanceof BacnetAbortError && [AbortReason.SEGMENTATION_NOT_SUPPORTED, AbortReason.BUFFER_OVERFLOW, AbortReason.APDU_TOO_LONG].includes(error.reasonNumber);
      if (!tooLong && !(error instanceof BacnetServiceError)) return refs.map(() => ({ error }));
      const half = Math.ceil(refs.length / 2);
      const [a, b] = await Promise.all([this.readByRpm(device, refs.slice(0, half), maxApdu), this.readByRpm(device, refs.slice(half), maxApdu)]);
      return [...a, ...b];
    }
  }

  // ---- writing -----------------------------------------------------------------------------

  /**
   * Writes a property (present-value by default) at a priority (1 highest … 16 lowest; default
   * 16). `null` relinquishes the priority's slot (writes NULL). A number is encoded as the
   * object's present-value datatype: REAL for analog objects, ENUMERATED for binary ones,
   * Unsigned for multi-state, positive-integer-value and accumulator objects, Signed for
   * integer-value, Double for large-analog-value; pass a {@link TypedValue} to choose.
   */
  async writeProperty(device: BacnetDevice, target: { objectType: number; instance: number; property?: number; arrayIndex?: number }, value: number | boolean | string | null | TypedValue, options: { priority?: number } = {}): Promise<void> {
    const priority = options.priority ?? 16;
    if (!Number.isInteger(priority) || priority < 1 || priority > 16) throw new RangeError(`priority ${priority} is outside 1..16`);
    const property = target.property ?? P.PRESENT_VALUE;
    const data = encodeValue(target.objectType, value);
    const what = `write ${describe({ ...target, property })} of ${device.address}`;
    await this.request(device, what, (invokeId) =>
      this.library.writeProperty({ address: normalizeAddress(device.address) }, { type: target.objectType, instance: target.instance }, property, [data], { invokeId, priority, arrayIndex: target.arrayIndex }),
    );
  }

  // ---- COV ---------------------------------------------------------------------------------

  /**
   * Subscribes to the changes of an object's present value and status flags. The device sends the
   * current value at once, then each change beyond its COV increment; the subscription is renewed
   * before its lifetime ends (at half of it, or a minute before for long ones). Rejects with the
   * device's refusal (a Reject `unrecognized-service` when it has no COV at all).
   */
  async subscribeCov(device: BacnetDevice, object: BacnetObjectId, options: CovSubscribeOptions): Promise<CovSubscription> {
    if (!Number.isInteger(options.lifetimeSeconds) || options.lifetimeSeconds < 0) throw new RangeError(`lifetime ${options.lifetimeSeconds} s is not a whole number of seconds`);
    let processId = options.processId;
    if (processId !== undefined) {
      if (!Number.isInteger(processId) || processId < 0 || processId > 0xffffffff) throw new RangeError(`process identifier ${processId} is not an unsigned 32-bit integer`);
      if (this.subscriptions.has(processId)) throw new RangeError(`process identifier ${processId} is already used by a subscription of this client`);
    } else {
      while (this.subscriptions.has(this.nextProcessId)) this.nextProcessId++;
      processId = this.nextProcessId++;
    }
    const live: LiveSubscription = { processId, device, object: { ...object }, options, renewals: 0, cancelled: false };
    // Registered before asking: the first notification may arrive before the acknowledgement is handled.
    this.subscriptions.set(processId, live);
    try {
      await this.sendSubscribe(live, false);
    } catch (error) {
      this.subscriptions.delete(processId);
      throw error;
    }
    this.scheduleRenewal(live, options.lifetimeSeconds);
    const cancel = async () => {
      live.cancelled = true;
      if (live.timer) clearTimeout(live.timer);
      this.subscriptions.delete(processId);
      if (!this.closed) await this.sendSubscribe(live, true);
    };
    return {
      processId,
      object: { ...object },
      get renewals() {
        return live.renewals;
      },
      cancel,
    };
  }

  private async sendSubscribe(live: LiveSubscription, cancel: boolean): Promise<void> {
    const what = `${cancel ? 'cancel the COV subscription to' : 'subscribe to COV of'} ${formatObjectId(live.object)} of ${live.device.address}`;
    await this.request(live.device, what, (invokeId) =>
      this.library.subscribeCov({ address: normalizeAddress(live.device.address) }, { type: live.object.type, instance: live.object.instance }, live.processId, cancel, live.options.confirmed ?? false, live.options.lifetimeSeconds, { invokeId }),
    );
  }

  private scheduleRenewal(live: LiveSubscription, afterSeconds: number): void {
    const lifetime = live.options.lifetimeSeconds;
    if (lifetime === 0 || live.cancelled || this.closed) return;
    const renewIn = afterSeconds === lifetime ? Math.max(lifetime / 2, lifetime - 60) : afterSeconds;
    live.timer = setTimeout(() => {
      this.sendSubscribe(live, false).then(
        () => {
          live.renewals++;
          this.scheduleRenewal(live, lifetime);
        },
        (error: unknown) => {
          if (live.cancelled || this.closed) return;
          live.options.onError?.(error instanceof BacnetError ? error : new BacnetProtocolError(String(error), { cause: error }));
          // Try again soon: a quarter of the lifetime, at least a second.
          this.scheduleRenewal(live, Math.max(1, lifetime / 4));
        },
      );
    }, renewIn * 1000);
    live.timer.unref();
  }

  private onCovNotification(content: { header?: { sender?: { address?: string } }; invokeId?: number; payload: { subscriberProcessId: number; initiatingDeviceId: number; monitoredObjectId: { type: number; instance: number }; timeRemaining: number; values: { property: { id: number }; value: BACNetAppData[] }[] } }, confirmed: boolean): void {
    const sender = content.header?.sender;
    const p = content.payload;
    if (confirmed && sender && content.invokeId !== undefined) {
      // Acknowledged whether or not we know the subscription, so that the device stops sending it again.
      this.library.simpleAckResponse(sender, ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION, content.invokeId);
    }
    const live = this.subscriptions.get(p.subscriberProcessId);
    if (!live || live.object.type !== p.monitoredObjectId.type || live.object.instance !== p.monitoredObjectId.instance) return;
    const values = (p.values ?? []).map((v) => ({ property: v.property.id, values: (v.value ?? []).map(typed) }));
    const pv = values.find((v) => v.property === P.PRESENT_VALUE)?.values[0];
    const flags = values.find((v) => v.property === P.STATUS_FLAGS)?.values[0]?.value as BACNetBitString | undefined;
    const notification: CovNotification = {
      address: sender?.address ?? '',
      // Typed as a number by the library, decoded as an object identifier.
      deviceInstance: typeof p.initiatingDeviceId === 'number' ? p.initiatingDeviceId : (p.initiatingDeviceId as BacnetObjectId).instance,
      object: { type: p.monitoredObjectId.type, instance: p.monitoredObjectId.instance },
      timeRemaining: p.timeRemaining,
      presentValue: pv,
      statusFlags: flags && Array.isArray(flags.value) ? statusFlags(flags) : undefined,
      values,
      confirmed,
    };
    try {
      live.options.onNotification(notification);
    } catch {
      // The caller's callback must not break the socket's message loop.
    }
  }

  // ---- foreign device ----------------------------------------------------------------------

  /**
   * Registers this client as a foreign device with a BBMD (`ip:port`), for devices on another
   * subnet, and registers again before the time-to-live ends (at half of it, or 30 s before for
   * long ones) until the client closes. Broadcast Who-Is then goes through the BBMD.
   */
  async registerForeignDevice(bbmd: string, ttlSeconds: number, onError?: (error: BacnetError) => void): Promise<void> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 65535) throw new RangeError(`time-to-live ${ttlSeconds} s is outside 1..65535`);
    await this.open();
    const address = normalizeAddress(bbmd);
    await this.register(address, ttlSeconds);
    if (this.foreignDevice?.timer) clearTimeout(this.foreignDevice.timer);
    this.foreignDevice = { bbmd: address, ttl: ttlSeconds, onError };
    this.scheduleRegistration();
  }

  private async register(address: string, ttl: number): Promise<void> {
    const attempts = this.options.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.library.registerForeignDevice({ address }, ttl);
        return;
      } catch (error) {
        const message = (error as Error).message ?? '';
        if (message === 'ERR_TIMEOUT' && attempt < attempts) continue;
        if (message === 'ERR_TIMEOUT') throw new BacnetTimeoutError(`register as a foreign device with ${address}: no answer after ${attempts} attempts of ${this.options.timeoutMs} ms`, { cause: error });
        throw new BacnetProtocolError(`register as a foreign device with ${address}: ${message}`, { cause: error });
      }
    }
  }

  private scheduleRegistration(): void {
    const fd = this.foreignDevice;
    if (!fd || this.closed) return;
    const renewIn = Math.max(fd.ttl / 2, fd.ttl - 30);
    fd.timer = setTimeout(() => {
      this.register(fd.bbmd, fd.ttl).then(
        () => this.scheduleRegistration(),
        (error: unknown) => {
          fd.onError?.(error as BacnetError);
          this.scheduleRegistration();
        },
      );
    }, renewIn * 1000);
    fd.timer.unref();
  }

  // ---- requests ----------------------------------------------------------------------------

  /** The device's info, read once even when several reads ask for it at the same time. */
  private async info(device: BacnetDevice): Promise<BacnetDeviceInfo> {
    const address = normalizeAddress(device.address);
    const known = this.infos.get(address);
    if (known) return known;
    let pending = this.pendingInfos.get(address);
    if (!pending) {
      pending = this.readDeviceInfo(device).finally(() => this.pendingInfos.delete(address));
      this.pendingInfos.set(address, pending);
    }
    return pending;
  }

  private limiter(device: BacnetDevice): Limiter {
    const address = normalizeAddress(device.address);
    let limiter = this.limiters.get(address);
    if (!limiter) this.limiters.set(address, (limiter = new Limiter()));
    limiter.max = Math.max(1, device.maxRequestsInFlight ?? 1);
    return limiter;
  }

  private allocateInvokeId(peer: string): number {
    // 1..255: the library replaces an invoke id of 0 by one of its own.
    for (let i = 0; i < 255; i++) {
      const id = ((this.nextInvokeId + i) % 255) + 1;
      if (!this.pendingPeers.has(id)) {
        this.nextInvokeId = id % 255;
        this.pendingPeers.set(id, peer);
        return id;
      }
    }
    throw new BacnetError('BACNET_BUSY', 'more than 255 requests in flight on one BACnet/IP socket');
  }

  /**
   * Sends a confirmed request through the device's in-flight bound, with our own invoke ids (the
   * library's counter would hand out an id still in use after 256 requests, and matching a Reject
   * to its request needs the id), again after each timeout, and turns the library's errors, which
   * are plain messages, into typed ones.
   *
   * The device's timeout is ours to keep (the library has one per socket, the client's
   * `timeoutMs`): an attempt given up keeps its invoke id reserved until the library gives it up
   * too, so that a late answer cannot be taken for the answer to a later request.
   */
  private async request<T>(device: BacnetDevice, what: string, send: (invokeId: number) => Promise<T>): Promise<T> {
    if (this.closed) throw new BacnetSocketError(`${what}: the BACnet client is closed`);
    await this.open();
    const attempts = (device.retries ?? this.options.retries) + 1;
    const timeoutMs = Math.min(device.timeoutMs ?? this.options.timeoutMs, this.options.timeoutMs);
    return this.limiter(device).run(async () => {
      let last: unknown;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (this.closed) throw new BacnetSocketError(`${what}: the BACnet client is closed`);
        const invokeId = this.allocateInvokeId(normalizeAddress(device.address));
        this.naks.delete(invokeId);
        const sent = send(invokeId);
        sent.then(
          () => this.pendingPeers.delete(invokeId),
          () => this.pendingPeers.delete(invokeId),
        );
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), timeoutMs)));
        try {
          const outcome = await Promise.race([sent.then((value) => ({ value })), expired]);
          if (outcome === 'expired') {
            last = new Error('ERR_TIMEOUT');
            continue;
          }
          return outcome.value;
        } catch (error) {
          last = error;
          const message = (error as Error)?.message ?? String(error);
          if (message === 'ERR_TIMEOUT') continue;
          throw this.translate(what, invokeId, error);
        } finally {
          clearTimeout(timer);
        }
      }
      if (this.closed) throw new BacnetSocketError(`${what}: the BACnet client is closed`, { cause: last });
      throw new BacnetTimeoutError(`${what}: no answer after ${attempts} attempt${attempts > 1 ? 's' : ''} of ${timeoutMs} ms`, { cause: last });
    });
  }

  private translate(what: string, invokeId: number, error: unknown): BacnetError {
    const message = (error as Error)?.message ?? String(error);
    const serviceError = /BacnetError - Class:(\d+) - Code:(\d+)/.exec(message);
    if (serviceError) return new BacnetServiceError(what, Number(serviceError[1]), Number(serviceError[2]), { cause: error });
    const abort = /BacnetAbort - Reason:(\d+)/.exec(message);
    if (abort) {
      const kind = this.naks.get(invokeId);
      this.naks.delete(invokeId);
      return kind === 'reject' ? new BacnetRejectError(what, Number(abort[1]), { cause: error }) : new BacnetAbortError(what, Number(abort[1]), { cause: error });
    }
    return new BacnetProtocolError(`${what}: the answer could not be decoded (${message})`, { cause: error });
  }
}

interface RefResult {
  value?: unknown;
  values?: TypedValue[];
  error?: BacnetError;
}

function resultOf(values: TypedValue[]): RefResult {
  return { values, value: values.length === 1 ? values[0]!.value : values.map((v) => v.value) };
}

function typed(data: { type: number; value: unknown }): TypedValue {
  return { tag: data.type, value: data.value };
}

function refKey(type: number, instance: number, property: number, index: number): string {
  return `${type}:${instance}:${property}:${index}`;
}

function describe(ref: { objectType: number; instance: number; property: number; arrayIndex?: number }): string {
  return `${propertyName(ref.property)}${ref.arrayIndex !== undefined ? `[${ref.arrayIndex}]` : ''} of ${formatObjectId({ type: ref.objectType, instance: ref.instance })}`;
}

/** `ip:port`, with the standard port when none is given. */
export function normalizeAddress(address: string): string {
  return address.includes(':') ? address : `${address}:47808`;
}

function statusFlags(bits: BACNetBitString): StatusFlagsValue {
  const bit = (i: number) => ((bits.value[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
  return { inAlarm: bit(0), fault: bit(1), overridden: bit(2), outOfService: bit(3) };
}

function encodeValue(objectType: number, value: number | boolean | string | null | TypedValue): BACNetAppData {
  if (value === null) return { type: ApplicationTag.NULL, value: null };
  if (typeof value === 'object') return { type: value.tag, value: value.value } as BACNetAppData;
  if (typeof value === 'string') return { type: ApplicationTag.CHARACTER_STRING, value };
  const binary = objectType === ObjectType.BINARY_INPUT || objectType === ObjectType.BINARY_OUTPUT || objectType === ObjectType.BINARY_VALUE;
  if (typeof value === 'boolean') return binary ? { type: ApplicationTag.ENUMERATED, value: value ? 1 : 0 } : { type: ApplicationTag.BOOLEAN, value };
  if (binary) return { type: ApplicationTag.ENUMERATED, value };
  switch (objectType) {
    case ObjectType.MULTI_STATE_INPUT:
    case ObjectType.MULTI_STATE_OUTPUT:
    case ObjectType.MULTI_STATE_VALUE:
    case ObjectType.POSITIVE_INTEGER_VALUE:
    case ObjectType.ACCUMULATOR:
      return { type: ApplicationTag.UNSIGNED_INTEGER, value };
    case ObjectType.INTEGER_VALUE:
      return { type: ApplicationTag.SIGNED_INTEGER, value };
    case ObjectType.LARGE_ANALOG_VALUE:
      return { type: ApplicationTag.DOUBLE, value };
    default:
      return { type: ApplicationTag.REAL, value };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
