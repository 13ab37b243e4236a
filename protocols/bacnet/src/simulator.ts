import {
  AbortReason,
  ApplicationTag,
  ASN1_ARRAY_ALL,
  ConfirmedServiceChoice,
  ErrorClass,
  ErrorCode,
  ObjectType,
  ObjectTypesSupportedBitString,
  PduType,
  PropertyIdentifier,
  RejectReason,
  Reliability,
  Segmentation,
  ServicesSupported,
  ServicesSupportedBitString,
  StatusFlags,
  StatusFlagsBitString,
  type BACNetAppData,
  type BACNetObjectID,
  type EncodeBuffer,
} from '@bacnet-js/client';
import { encodeAbort, encodeComplexAck, encodeError, encodeSimpleAck, encodeUnconfirmedServiceRequest } from '@bacnet-js/client/dist/lib/apdu.js';
import { encode as encodeBvlc } from '@bacnet-js/client/dist/lib/bvlc.js';
import { encode as encodeNpdu } from '@bacnet-js/client/dist/lib/npdu.js';
import { CovNotify, ErrorService, IAm, ReadProperty, ReadPropertyMultiple } from '@bacnet-js/client/dist/lib/services/index.js';
import { buildingObjects, type SimulatedObjectSpec } from './building.js';
import { LibraryClient } from './library.js';
import { peekApdu, rejectDatagram, UdpTransport } from './transport.js';


/** Max-APDU-length-accepted values of the standard (clause 20.1.2.5). */
export type MaxApdu = 50 | 128 | 206 | 480 | 1024 | 1476;
const MAX_APDU_BY_CODE = [50, 128, 206, 480, 1024, 1476] as const;

export type SegmentationSupport = 'both' | 'transmit' | 'receive' | 'none';
const SEGMENTATION: Record<SegmentationSupport, Segmentation> = {
  both: Segmentation.SEGMENTED_BOTH,
  transmit: Segmentation.SEGMENTED_TRANSMIT,
  receive: Segmentation.SEGMENTED_RECEIVE,
  none: Segmentation.NO_SEGMENTATION,
};

/** How the simulated device misbehaves, for tests of the client's robustness. */
export type SimulatorMisbehaviour =
  /** Answers as the standard says. */
  | 'none'
  /** Answers nothing at all (a device switched off or unplugged). */
  | 'silent'
  /** Answers each confirmed request with a Complex-ACK of the right invoke id whose body is garbage. */
  | 'malformed'
  /** Answers each confirmed request with a Complex-ACK for another invoke id, then nothing. */
  | 'wrong-invoke-id';

export interface BacnetSimulatorOptions {
  /** Local address to bind. Default 127.0.0.1; 0.0.0.0 to receive broadcast Who-Is on loopback. */
  interface?: string;
  /** UDP port. Default 0: a free port chosen by the system, given by {@link BacnetSimulator.start}. */
  port?: number;
  /** The Device object's instance. Default 1234. */
  deviceInstance?: number;
  deviceName?: string;
  /** Vendor identifier announced. Default 0 (ASHRAE's own, as simulators use). */
  vendorId?: number;
  /** Largest APDU the device accepts and sends. Default 1476. */
  maxApdu?: MaxApdu;
  /**
   * Segmentation announced in the I-Am and the Device object. Default `none`. With `both` or
   * `transmit`, an answer longer than one APDU goes in segments (window size 1, each segment
   * acknowledged) to a requester that accepts them; otherwise it is aborted with
   * `segmentation-not-supported` (clause 5.4.5). Segmented requests are not taken.
   */
  segmentation?: SegmentationSupport;
  /** Time a segment of an answer waits for its Segment-ACK, in milliseconds. Default 1000; 3 tries. */
  segmentTimeoutMs?: number;
  /** Offers ReadPropertyMultiple. Default true; false rejects it with `unrecognized-service`. */
  readPropertyMultiple?: boolean;
  /** Offers SubscribeCOV. Default true; false rejects it with `unrecognized-service`. */
  cov?: boolean;
  /** Answers Register-Foreign-Device as a BBMD would (a BVLC-Result of success). Default false. */
  bbmd?: boolean;
  /** Extra zone temperature sensors (analog-input 1000, 1001, …), for large devices. Default 0. */
  generatedAnalogInputs?: number;
  /** Objects of the device. Default: {@link buildingObjects}(generatedAnalogInputs). */
  objects?: SimulatedObjectSpec[];
  /** How often present values move, in milliseconds. Default 1000. */
  tickMs?: number;
  /** The clock, in milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /** Delay before each answer, in milliseconds, so that requests overlap and are counted in flight. Default 0. */
  responseDelayMs?: number;
  /** Time a confirmed COV notification waits for its acknowledgement, in milliseconds. Default 1000. */
  covAckTimeoutMs?: number;
  /** Times a confirmed COV notification is sent again without acknowledgement. Default 3. */
  covRetries?: number;
  /**
   * Where the I-Am the device broadcasts at each start goes: `ip` (to its own port) or `ip:port`.
   * Default 255.255.255.255, which a client bound to 127.0.0.1 does not receive; tests give the
   * client's address to stand for a broadcast that reaches it.
   */
  broadcastAddress?: string;
  /** The Device object's database-revision. Default 1. */
  databaseRevision?: number;
}

/** What a simulated restart changes: see {@link BacnetSimulator.restart}. */
export interface SimulatorRestartOptions {
  /** Time the device is off, in milliseconds. Default 200. */
  downMs?: number;
  /** Present values after the restart, instead of each object's initial one. */
  values?: { objectType: ObjectType; instance: number; value: number }[];
  /** The database-revision after the restart. Default: unchanged (bacnet-stack's server does not keep it across restarts either). */
  databaseRevision?: number;
}

/** Counters of what the simulated device received and sent. */
export interface BacnetSimulatorStats {
  /** Confirmed requests received (also while silent), by service name (`readProperty`, `readPropertyMultiple`, …). */
  requests: Record<string, number>;
  /** Confirmed requests decoded and not yet answered. */
  inFlight: number;
  /** The most confirmed requests ever not yet answered at once. */
  maxInFlight: number;
  whoIs: number;
  /** Answers aborted because they did not fit in one APDU. */
  aborts: number;
  covNotifications: number;
  /** Confirmed COV notifications acknowledged by their subscriber. */
  covAcks: number;
  /** Confirmed COV notifications sent again for want of an acknowledgement. */
  covResends: number;
  /** Subscriptions dropped because their lifetime ended without renewal. */
  covExpired: number;
  foreignDeviceRegistrations: number;
  /** Largest APDU sent, in octets. */
  largestApdu: number;
  /** Confirmed requests that said the requester accepts a segmented answer (the SA bit). */
  segmentedResponseAccepted: number;
  /** Answers sent in segments, and their segments (resent ones included). */
  segmentedAnswers: number;
  segmentsSent: number;
}

/** One active COV subscription, as the device holds it. */
export interface SimulatedCovSubscription {
  subscriber: string;
  processId: number;
  object: BACNetObjectID;
  confirmed: boolean;
  /** Seconds asked; 0 is indefinite. */
  lifetime: number;
  /** ms since the epoch, by the simulator's clock; undefined when indefinite. */
  expiresAt?: number;
}

interface SimObject {
  spec: SimulatedObjectSpec;
  presentValue: number;
  outOfService: boolean;
  reliability: Reliability;
  overridden: boolean;
  inAlarm: boolean;
  covIncrement: number;
  priorityArray?: (number | null)[];
  relinquishDefault?: number;
}

interface Subscription extends SimulatedCovSubscription {
  lastValue: number;
  lastFlags: string;
}

interface RequestContext {
  sender: { address?: string; net?: number; adr?: number[] };
  invokeId: number;
  service: number;
  /** Largest answer the requester accepts, in octets. */
  maxApduAccepted: number;
  /** The requester accepts a segmented answer (SA bit), of at most this many segments (0: unspecified). */
  segmentedAccepted: boolean;
  maxSegments: number;
}

/** A segmented answer on its way: its segments, and the one awaiting its Segment-ACK. */
interface SegmentedAnswer {
  ctx: RequestContext;
  segments: Buffer[];
  next: number;
  tries: number;
  timer?: NodeJS.Timeout;
}

/** Max-segments-accepted codes (clause 20.1.2.4): 0 unspecified, then 2, 4, … 64, and more than 64. */
const MAX_SEGMENTS_BY_CODE = [0, 2, 4, 8, 16, 32, 64, 255] as const;

type PropertyResult = { values: BACNetAppData[] } | { error: [ErrorClass, ErrorCode] };

const SERVICE_NAMES: Record<number, string> = {
  [ConfirmedServiceChoice.READ_PROPERTY]: 'readProperty',
  [ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE]: 'readPropertyMultiple',
  [ConfirmedServiceChoice.WRITE_PROPERTY]: 'writeProperty',
  [ConfirmedServiceChoice.SUBSCRIBE_COV]: 'subscribeCov',
};

const key = (type: number, instance: number) => `${type}:${instance}`;
const isAnalog = (type: number) => type === ObjectType.ANALOG_INPUT || type === ObjectType.ANALOG_OUTPUT || type === ObjectType.ANALOG_VALUE;
const isBinary = (type: number) => type === ObjectType.BINARY_INPUT || type === ObjectType.BINARY_OUTPUT || type === ObjectType.BINARY_VALUE;
const isMultiState = (type: number) => type === ObjectType.MULTI_STATE_INPUT || type === ObjectType.MULTI_STATE_OUTPUT || type === ObjectType.MULTI_STATE_VALUE;
const isOutput = (type: number) => type === ObjectType.ANALOG_OUTPUT || type === ObjectType.BINARY_OUTPUT || type === ObjectType.MULTI_STATE_OUTPUT;
const isInput = (type: number) => type === ObjectType.ANALOG_INPUT || type === ObjectType.BINARY_INPUT || type === ObjectType.MULTI_STATE_INPUT;

const P = PropertyIdentifier;
/** Properties every object answers to, and those among them that RPM's REQUIRED leaves out. */
const OPTIONAL_PROPERTIES = new Set<number>([P.DESCRIPTION, P.RELIABILITY, P.COV_INCREMENT, P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT, P.STATE_TEXT, P.LOCATION]);

/**
 * A BACnet/IP device over UDP, built on @bacnet-js/client's server side: one Device object and the
 * analog, binary and multi-state objects of {@link buildingObjects}, whose present values move
 * with the building's load curve. It answers Who-Is, ReadProperty, ReadPropertyMultiple (with
 * ALL, REQUIRED and OPTIONAL, and an error per property where the standard wants one),
 * WriteProperty (priority array and relinquish for commandable objects), SubscribeCOV (confirmed
 * and unconfirmed, with lifetime and cancellation) and, as a BBMD, Register-Foreign-Device.
 *
 * Its answers are encoded here with the library's encoders rather than with its response
 * helpers, because the device must check each answer against the requester's and its own
 * max-APDU (the helpers send whatever they build), and send Reject and Abort PDUs, which the
 * library has no helper for (for a service it does not handle it answers an Error PDU where the
 * standard wants a Reject with `unrecognized-service`).
 */
export class BacnetSimulator {
  private readonly options: Required<Omit<BacnetSimulatorOptions, 'objects' | 'port' | 'databaseRevision'>> & { port: number };
  private databaseRevision: number;
  private readonly objects = new Map<string, SimObject>();
  private readonly order: BACNetObjectID[] = [];
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly segmented = new Map<string, SegmentedAnswer>();
  private transport: UdpTransport | undefined;
  private client: LibraryClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<NodeJS.Timeout>();
  private lastTick: number;
  private bound: { address: string; port: number } | undefined;
  private misbehaviour: SimulatorMisbehaviour = 'none';
  private readonly now: () => number;
  readonly stats: BacnetSimulatorStats = {
    requests: {},
    inFlight: 0,
    maxInFlight: 0,
    whoIs: 0,
    aborts: 0,
    covNotifications: 0,
    covAcks: 0,
    covResends: 0,
    covExpired: 0,
    foreignDeviceRegistrations: 0,
    largestApdu: 0,
    segmentedResponseAccepted: 0,
    segmentedAnswers: 0,
    segmentsSent: 0,
  };

  constructor(options: BacnetSimulatorOptions = {}) {
    this.now = options.now ?? Date.now;
    this.options = {
      interface: options.interface ?? '127.0.0.1',
      port: options.port ?? 0,
      deviceInstance: options.deviceInstance ?? 1234,
      deviceName: options.deviceName ?? 'CityPilot Simulated Controller',
      vendorId: options.vendorId ?? 0,
      maxApdu: options.maxApdu ?? 1476,
      segmentation: options.segmentation ?? 'none',
      readPropertyMultiple: options.readPropertyMultiple ?? true,
      cov: options.cov ?? true,
      bbmd: options.bbmd ?? false,
      generatedAnalogInputs: options.generatedAnalogInputs ?? 0,
      tickMs: options.tickMs ?? 1000,
      now: this.now,
      responseDelayMs: options.responseDelayMs ?? 0,
      covAckTimeoutMs: options.covAckTimeoutMs ?? 1000,
      covRetries: options.covRetries ?? 3,
      segmentTimeoutMs: options.segmentTimeoutMs ?? 1000,
      broadcastAddress: options.broadcastAddress ?? '255.255.255.255',
    };
    this.databaseRevision = options.databaseRevision ?? 1;
    if (!MAX_APDU_BY_CODE.includes(this.options.maxApdu)) throw new Error(`maxApdu ${this.options.maxApdu} is not one of ${MAX_APDU_BY_CODE.join(', ')}`);
    this.lastTick = this.now();
    this.order.push({ type: ObjectType.DEVICE, instance: this.options.deviceInstance });
    for (const spec of options.objects ?? buildingObjects(this.options.generatedAnalogInputs)) {
      const commandable = isOutput(spec.type) || spec.commandable === true;
      const object: SimObject = {
        spec,
        presentValue: spec.initial,
        outOfService: false,
        reliability: Reliability.NO_FAULT_DETECTED,
        overridden: false,
        inAlarm: false,
        covIncrement: spec.covIncrement ?? 0.1,
      };
      if (commandable) {
        object.priorityArray = new Array<number | null>(16).fill(null);
        object.relinquishDefault = spec.initial;
      }
      this.objects.set(key(spec.type, spec.instance), object);
      this.order.push({ type: spec.type, instance: spec.instance });
    }
  }

  get deviceInstance(): number {
    return this.options.deviceInstance;
  }

  /** `127.0.0.1:port`, where clients reach the device. Throws before {@link start}. */
  get address(): string {
    if (!this.bound) throw new Error('the BACnet simulator is not started');
    const host = this.bound.address === '0.0.0.0' ? '127.0.0.1' : this.bound.address;
    return `${host}:${this.bound.port}`;
  }

  /** The objects of the device, the Device object first (its object-list). */
  get objectList(): BACNetObjectID[] {
    return this.order.map((o) => ({ ...o }));
  }

  /** Active COV subscriptions. */
  get covSubscriptions(): SimulatedCovSubscription[] {
    return [...this.subscriptions.values()].map(({ subscriber, processId, object, confirmed, lifetime, expiresAt }) => ({ subscriber, processId, object, confirmed, lifetime, expiresAt }));
  }

  /** Binds the UDP socket; resolves with the address and port. Rejects when the port is taken. */
  async start(): Promise<{ address: string; port: number }> {
    if (this.transport) throw new Error('the BACnet simulator is already started');
    const transport = new UdpTransport({
      interface: this.options.interface,
      port: this.options.port,
      broadcastAddress: this.options.broadcastAddress,
      inspect: (buffer, from) => this.inspect(buffer, from),
      inspectOutgoing: () => this.misbehaviour !== 'silent',
    });
    this.transport = transport;
    const client = new LibraryClient({ transport, apduTimeout: this.options.covAckTimeoutMs });
    this.client = client;
    // The library emits socket errors as 'error' events: without a listener they would throw.
    client.on('error', () => undefined);
    transport.on('error', () => undefined);
    try {
      this.bound = await transport.open();
    } catch (error) {
      client.close();
      this.transport = undefined;
      this.client = undefined;
      throw error;
    }
    // Restarting on the same port keeps the same address for clients.
    this.options.port = this.bound.port;
    client.on('whoIs', (content) => this.onWhoIs(content.header?.sender, content.payload));
    client.on('readProperty', (content) => this.later(content, (ctx) => this.onReadProperty(ctx, content.payload.objectId, content.payload.property.id, content.payload.property.index)));
    client.on('readPropertyMultiple', (content) => this.later(content, (ctx) => this.onReadPropertyMultiple(ctx, content.payload.properties)));
    client.on('writeProperty', (content) => this.later(content, (ctx) => this.onWriteProperty(ctx, content.payload)));
    client.on('subscribeCov', (content) => this.later(content, (ctx) => this.onSubscribeCov(ctx, content.payload)));
    client.on('registerForeignDevice', (content) => {
      if (!this.options.bbmd || !content.header?.sender) return;
      this.stats.foreignDeviceRegistrations++;
      client.resultResponse(content.header.sender, 0);
    });
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
    this.timer.unref();
    // A device announces itself when it starts, as bacnet-stack's server does (a broadcast I-Am).
    this.sendIAm();
    return { ...this.bound };
  }

  /**
   * Restarts the device as a controller's reboot or a power blip does: the socket closes for
   * `downMs`, the COV subscriptions are forgotten, every object's present value goes back to its
   * initial one (or to `values`), commands, statuses and COV increments are cleared; then it
   * starts again on the same port and broadcasts an I-Am. Counters are kept.
   */
  async restart(options: SimulatorRestartOptions = {}): Promise<void> {
    await this.stop();
    for (const object of this.objects.values()) {
      object.presentValue = object.spec.initial;
      object.outOfService = false;
      object.reliability = Reliability.NO_FAULT_DETECTED;
      object.overridden = false;
      object.inAlarm = false;
      object.covIncrement = object.spec.covIncrement ?? 0.1;
      if (object.priorityArray) {
        object.priorityArray.fill(null);
        object.relinquishDefault = object.spec.initial;
      }
    }
    for (const { objectType, instance, value } of options.values ?? []) {
      const object = this.object(objectType, instance);
      object.presentValue = value;
      if (object.priorityArray) object.relinquishDefault = value;
    }
    if (options.databaseRevision !== undefined) this.databaseRevision = options.databaseRevision;
    await new Promise<void>((resolve) => setTimeout(resolve, options.downMs ?? 200));
    await this.start();
  }

  /** Closes the socket and forgets the subscriptions; values are kept for a restart. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    this.stats.inFlight = 0;
    this.subscriptions.clear();
    for (const answer of this.segmented.values()) clearTimeout(answer.timer);
    this.segmented.clear();
    const transport = this.transport;
    this.client?.close();
    this.client = undefined;
    this.transport = undefined;
    this.bound = undefined;
    if (transport) await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }

  /** Makes the device misbehave from now on (or behave again with `none`). */
  misbehave(mode: SimulatorMisbehaviour): void {
    this.misbehaviour = mode;
  }

  /** The present value of an object (0/1 for binary objects, 1..n for multi-state ones). */
  get(objectType: ObjectType, instance: number): number {
    return this.object(objectType, instance).presentValue;
  }

  /**
   * Sets the present value as the field would (a sensor reading, a relinquish default for a
   * commandable object), and notifies the subscribers if it moved beyond the COV increment.
   */
  set(objectType: ObjectType, instance: number, value: number): void {
    const object = this.object(objectType, instance);
    if (object.priorityArray) {
      object.relinquishDefault = value;
      this.command(object);
    } else {
      object.presentValue = value;
    }
    this.checkCov(object);
  }

  /** Sets an object's status: fault through its reliability, out-of-service, in-alarm, overridden. */
  setStatus(objectType: ObjectType, instance: number, status: { reliability?: Reliability; outOfService?: boolean; inAlarm?: boolean; overridden?: boolean }): void {
    const object = this.object(objectType, instance);
    if (status.reliability !== undefined) object.reliability = status.reliability;
    if (status.outOfService !== undefined) object.outOfService = status.outOfService;
    if (status.inAlarm !== undefined) object.inAlarm = status.inAlarm;
    if (status.overridden !== undefined) object.overridden = status.overridden;
    this.checkCov(object);
  }

  /** The priority array of a commandable object (16 slots, null where relinquished). */
  priorityArray(objectType: ObjectType, instance: number): (number | null)[] {
    const array = this.object(objectType, instance).priorityArray;
    if (!array) throw new Error(`${objectType}:${instance} is not commandable`);
    return [...array];
  }

  private object(type: number, instance: number): SimObject {
    const object = this.objects.get(key(type, instance));
    if (!object) throw new Error(`the simulated device has no object ${type}:${instance}`);
    return object;
  }

  private tick(): void {
    const now = this.now();
    const elapsed = now - this.lastTick;
    this.lastTick = now;
    for (const object of this.objects.values()) {
      // Out of service: the present value is decoupled from the field (clause 12.2.13).
      if (object.spec.move && !object.outOfService && !object.priorityArray) object.presentValue = object.spec.move(object.presentValue, now, elapsed);
    }
    for (const [id, subscription] of this.subscriptions) {
      if (subscription.expiresAt !== undefined && subscription.expiresAt <= now) {
        this.subscriptions.delete(id);
        this.stats.covExpired++;
      }
    }
    for (const object of this.objects.values()) this.checkCov(object);
  }

  // ---- incoming datagrams -------------------------------------------------------------------

  /** Sees every datagram before the library: misbehaviour, counters, and services not offered. */
  private inspect(buffer: Buffer, from: string): boolean {
    const apdu = peekApdu(buffer);
    if (!apdu) return this.misbehaviour !== 'silent';
    if (apdu.pduType === PduType.CONFIRMED_REQUEST) {
      const service = apdu.service ?? -1;
      const name = SERVICE_NAMES[service] ?? `service-${service}`;
      // Counted even when silent: tests count the attempts a client makes.
      this.stats.requests[name] = (this.stats.requests[name] ?? 0) + 1;
      if (apdu.flags & 0x02) this.stats.segmentedResponseAccepted++;
      if (this.misbehaviour === 'silent') return false;
      const invokeId = apdu.invokeId ?? 0;
      if (this.misbehaviour === 'malformed' || this.misbehaviour === 'wrong-invoke-id') {
        const reply = this.buffer();
        encodeNpdu(reply, 0, undefined);
        encodeComplexAck(reply, PduType.COMPLEX_ACK, service, this.misbehaviour === 'malformed' ? invokeId : (invokeId + 128) % 256);
        reply.buffer.writeUInt32BE(0xdeadbeef, reply.offset);
        reply.offset += 4;
        this.sendBvlc(reply, from);
        return false;
      }
      const offered =
        service === ConfirmedServiceChoice.READ_PROPERTY ||
        service === ConfirmedServiceChoice.WRITE_PROPERTY ||
        (service === ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE && this.options.readPropertyMultiple) ||
        (service === ConfirmedServiceChoice.SUBSCRIBE_COV && this.options.cov);
      if (!offered) {
        // Clause 18.8: a service the device does not execute is rejected, not answered with an Error.
        this.reject(from, invokeId, RejectReason.UNRECOGNIZED_SERVICE);
        return false;
      }
    } else if (this.misbehaviour === 'silent') {
      return false;
    } else if (apdu.pduType === PduType.SEGMENT_ACK) {
      // Handled here: the library would take a Segment-ACK for a segment of a request.
      this.onSegmentAck(from, apdu.invokeId ?? 0, apdu.sequenceNumber ?? 0, (apdu.flags & 0x02) !== 0);
      return false;
    } else if (apdu.pduType === PduType.SIMPLE_ACK && apdu.service === ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION) {
      this.stats.covAcks++;
    }
    return true;
  }

  /** Runs a confirmed request's handler after the response delay, counting it in flight until it answers. */
  private later(content: { header?: { sender?: RequestContext['sender'] }; invokeId?: number; service?: number }, handle: (ctx: RequestContext) => void): void {
    const raw = content as unknown as { maxApdu?: number; maxSegments?: number; invokeId?: number; service?: number; type?: number };
    const ctx: RequestContext = {
      sender: { ...(content.header?.sender ?? {}) },
      invokeId: raw.invokeId ?? 0,
      service: raw.service ?? 0,
      maxApduAccepted: MAX_APDU_BY_CODE[raw.maxApdu ?? 5] ?? 1476,
      segmentedAccepted: ((raw.type ?? 0) & 0x02) !== 0,
      // The library hands the octet's high nibble as it is.
      maxSegments: MAX_SEGMENTS_BY_CODE[((raw.maxSegments ?? 0) >> 4) & 0x07] ?? 0,
    };
    // Counted here, not on arrival: a request the library cannot decode never reaches a handler.
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    const run = () => {
      this.stats.inFlight = Math.max(0, this.stats.inFlight - 1);
      if (!this.client) return;
      try {
        handle(ctx);
      } catch {
        // A request the handlers could not make sense of: the standard's answer is a Reject.
        if (ctx.sender.address) this.reject(ctx.sender.address, ctx.invokeId, RejectReason.OTHER);
      }
    };
    if (this.options.responseDelayMs <= 0) return run();
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      run();
    }, this.options.responseDelayMs);
    this.pending.add(timer);
  }

  /** Broadcasts an I-Am (to `broadcastAddress`). */
  private sendIAm(): void {
    const reply = this.buffer();
    encodeNpdu(reply, 0, undefined);
    encodeUnconfirmedServiceRequest(reply, PduType.UNCONFIRMED_REQUEST, 0 /* i-Am */);
    IAm.encode(reply, this.options.deviceInstance, this.options.maxApdu, SEGMENTATION[this.options.segmentation], this.options.vendorId);
    encodeBvlc(reply.buffer, 0x0b /* Original-Broadcast-NPDU */, reply.offset);
    this.transport?.send(reply.buffer, reply.offset);
  }

  private onWhoIs(sender: { address?: string } | undefined, payload: { lowLimit?: number; highLimit?: number }): void {
    this.stats.whoIs++;
    const instance = this.options.deviceInstance;
    if (payload.lowLimit !== undefined && instance < payload.lowLimit) return;
    if (payload.highLimit !== undefined && instance > payload.highLimit) return;
    if (!sender?.address) return;
    // I-Am goes back to the asker (a unicast I-Am is allowed, clause 16.10.2), carrying the
    // device's own max APDU, which the library's iAmResponse helper would take from the socket.
    const reply = this.buffer();
    encodeNpdu(reply, 0, undefined);
    encodeUnconfirmedServiceRequest(reply, PduType.UNCONFIRMED_REQUEST, 0 /* i-Am */);
    IAm.encode(reply, instance, this.options.maxApdu, SEGMENTATION[this.options.segmentation], this.options.vendorId);
    this.sendBvlc(reply, sender.address);
  }

  private onReadProperty(ctx: RequestContext, objectId: BACNetObjectID, property: number, index: number): void {
    const id = this.resolveDevice(objectId);
    const result = this.readProperty(id, property, index);
    if ('error' in result) return this.error(ctx, result.error[0], result.error[1]);
    this.complexAck(ctx, (buffer) => ReadProperty.encodeAcknowledge(buffer, id, property, index, result.values));
  }

  private onReadPropertyMultiple(ctx: RequestContext, specs: { objectId: BACNetObjectID; properties: { id: number; index: number }[] }[]): void {
    const results = specs.map((spec) => {
      const id = this.resolveDevice(spec.objectId);
      const values: { property: { id: number; index: number }; value: unknown[] }[] = [];
      for (const property of spec.properties) {
        if (property.id === P.ALL || property.id === P.REQUIRED || property.id === P.OPTIONAL) {
          const list = this.propertyList(id);
          if (!list) {
            values.push({ property, value: [{ value: { type: 'BacnetError', errorClass: ErrorClass.OBJECT, errorCode: ErrorCode.UNKNOWN_OBJECT } }] });
            continue;
          }
          for (const p of list) {
            if (property.id === P.REQUIRED && OPTIONAL_PROPERTIES.has(p)) continue;
            if (property.id === P.OPTIONAL && !OPTIONAL_PROPERTIES.has(p)) continue;
            const r = this.readProperty(id, p, ASN1_ARRAY_ALL);
            values.push({ property: { id: p, index: ASN1_ARRAY_ALL }, value: 'error' in r ? [{ value: { type: 'BacnetError', errorClass: r.error[0], errorCode: r.error[1] } }] : r.values });
          }
          continue;
        }
        const r = this.readProperty(id, property.id, property.index);
        values.push({ property, value: 'error' in r ? [{ value: { type: 'BacnetError', errorClass: r.error[0], errorCode: r.error[1] } }] : r.values });
      }
      return { objectId: id, values };
    });
    this.complexAck(ctx, (buffer) => ReadPropertyMultiple.encodeAcknowledge(buffer, results));
  }

  private onWriteProperty(ctx: RequestContext, payload: { objectId: BACNetObjectID; value: { property: { id: number; index: number }; value: { type: number; value: unknown }[]; priority: number } }): void {
    const object = this.objects.get(key(payload.objectId.type, payload.objectId.instance));
    if (!object) return this.error(ctx, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT);
    const { property, value, priority } = payload.value;
    if (!this.propertyList(payload.objectId)?.includes(property.id)) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY);
    const first = value[0];
    if (!first || value.length !== 1) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE);
    const type = object.spec.type;
    if (property.id === P.PRESENT_VALUE) {
      if (property.index !== ASN1_ARRAY_ALL) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.PROPERTY_IS_NOT_AN_ARRAY);
      if (priority < 1 || priority > 16) return this.reject(ctx.sender.address ?? '', ctx.invokeId, RejectReason.PARAMETER_OUT_OF_RANGE);
      let numeric: number | null;
      if (first.type === ApplicationTag.NULL) numeric = null;
      else {
        const expected = this.presentValueData(type, 0).type;
        if (first.type !== expected) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE);
        numeric = first.value as number;
        if (isBinary(type) && numeric !== 0 && numeric !== 1) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE);
        if (isMultiState(type) && (numeric < 1 || numeric > (object.spec.stateText?.length ?? 0))) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE);
      }
      if (object.priorityArray) {
        object.priorityArray[priority - 1] = numeric;
        this.command(object);
      } else if (numeric === null) {
        // Relinquishing a non-commandable object is writing the wrong datatype (clause 19.2.1.1).
        return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE);
      } else if (isInput(type) && !object.outOfService) {
        // An input's present value is writable only while out of service (clause 12.2.4).
        return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED);
      } else {
        object.presentValue = numeric;
      }
    } else if (property.id === P.OUT_OF_SERVICE) {
      if (first.type !== ApplicationTag.BOOLEAN) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE);
      object.outOfService = first.value as boolean;
    } else if (property.id === P.COV_INCREMENT) {
      if (first.type !== ApplicationTag.REAL) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE);
      if ((first.value as number) < 0) return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE);
      object.covIncrement = first.value as number;
    } else {
      return this.error(ctx, ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED);
    }
    this.simpleAck(ctx);
    this.checkCov(object);
  }

  private onSubscribeCov(ctx: RequestContext, payload: { subscriberProcessId: number; monitoredObjectId: BACNetObjectID; cancellationRequest?: boolean; issueConfirmedNotifications: boolean; lifetime: number }): void {
    const object = this.objects.get(key(payload.monitoredObjectId.type, payload.monitoredObjectId.instance));
    if (!object) return this.error(ctx, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT);
    const subscriber = ctx.sender.address ?? '';
    const id = `${subscriber}/${payload.subscriberProcessId}/${key(payload.monitoredObjectId.type, payload.monitoredObjectId.instance)}`;
    if (payload.cancellationRequest) {
      // Cancelling a subscription that does not exist is not an error (clause 13.14.1.3.2).
      this.subscriptions.delete(id);
      return this.simpleAck(ctx);
    }
    const subscription: Subscription = {
      subscriber,
      processId: payload.subscriberProcessId,
      object: { ...payload.monitoredObjectId },
      confirmed: payload.issueConfirmedNotifications,
      lifetime: payload.lifetime,
      expiresAt: payload.lifetime > 0 ? this.now() + payload.lifetime * 1000 : undefined,
      lastValue: object.presentValue,
      lastFlags: this.flagsKey(object),
    };
    this.subscriptions.set(id, subscription);
    this.simpleAck(ctx);
    // A new (or renewed) subscription gets the current value at once (clause 13.14.1.3.1).
    this.notify(subscription, object);
  }

  // ---- objects and properties ---------------------------------------------------------------

  /** Instance 4194303 of the Device type means "this device" (clause 15.5.1.1.1). */
  private resolveDevice(id: BACNetObjectID): BACNetObjectID {
    if (id.type === ObjectType.DEVICE && id.instance === 4194303) return { type: ObjectType.DEVICE, instance: this.options.deviceInstance };
    return { type: id.type, instance: id.instance };
  }

  private propertyList(id: BACNetObjectID): number[] | undefined {
    if (id.type === ObjectType.DEVICE) {
      if (id.instance !== this.options.deviceInstance) return undefined;
      return [
        P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.SYSTEM_STATUS, P.VENDOR_NAME, P.VENDOR_IDENTIFIER, P.MODEL_NAME, P.FIRMWARE_REVISION,
        P.APPLICATION_SOFTWARE_VERSION, P.PROTOCOL_VERSION, P.PROTOCOL_REVISION, P.PROTOCOL_SERVICES_SUPPORTED, P.PROTOCOL_OBJECT_TYPES_SUPPORTED,
        P.OBJECT_LIST, P.MAX_APDU_LENGTH_ACCEPTED, P.SEGMENTATION_SUPPORTED, P.APDU_TIMEOUT, P.NUMBER_OF_APDU_RETRIES, P.DEVICE_ADDRESS_BINDING,
        P.DATABASE_REVISION, P.DESCRIPTION, P.LOCATION,
      ];
    }
    const object = this.objects.get(key(id.type, id.instance));
    if (!object) return undefined;
    const list = [P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.PRESENT_VALUE, P.DESCRIPTION, P.STATUS_FLAGS, P.EVENT_STATE, P.RELIABILITY, P.OUT_OF_SERVICE];
    if (isAnalog(id.type)) list.push(P.UNITS, P.COV_INCREMENT);
    if (isBinary(id.type) && (isInput(id.type) || isOutput(id.type))) list.push(P.POLARITY);
    if (isMultiState(id.type)) list.push(P.NUMBER_OF_STATES, P.STATE_TEXT);
    if (object.priorityArray) list.push(P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT);
    return list;
  }

  private readProperty(id: BACNetObjectID, property: number, index: number): PropertyResult {
    const list = this.propertyList(id);
    if (!list) return { error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT] };
    if (!list.includes(property)) return { error: [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY] };
    const array = this.arrayProperty(id, property);
    if (array) {
      if (index === ASN1_ARRAY_ALL) return { values: array };
      if (index === 0) return { values: [{ type: ApplicationTag.UNSIGNED_INTEGER, value: array.length }] };
      const element = array[index - 1];
      return element ? { values: [element] } : { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_ARRAY_INDEX] };
    }
    if (index !== ASN1_ARRAY_ALL) return { error: [ErrorClass.PROPERTY, ErrorCode.PROPERTY_IS_NOT_AN_ARRAY] };
    // A list with no element: nothing between the value's opening and closing tags.
    if (id.type === ObjectType.DEVICE && property === P.DEVICE_ADDRESS_BINDING) return { values: [] };
    return { values: [this.scalarProperty(id, property)] };
  }

  private arrayProperty(id: BACNetObjectID, property: number): BACNetAppData[] | undefined {
    if (id.type === ObjectType.DEVICE && property === P.OBJECT_LIST) return this.order.map((o) => ({ type: ApplicationTag.OBJECTIDENTIFIER, value: { ...o } }));
    const object = this.objects.get(key(id.type, id.instance));
    if (!object) return undefined;
    if (property === P.STATE_TEXT) return (object.spec.stateText ?? []).map((text) => ({ type: ApplicationTag.CHARACTER_STRING, value: text }));
    if (property === P.PRIORITY_ARRAY && object.priorityArray) {
      return object.priorityArray.map((v): BACNetAppData => (v === null ? { type: ApplicationTag.NULL, value: null } : this.presentValueData(object.spec.type, v)));
    }
    return undefined;
  }

  private presentValueData(type: number, value: number): BACNetAppData {
    if (isAnalog(type)) return { type: ApplicationTag.REAL, value };
    if (isBinary(type)) return { type: ApplicationTag.ENUMERATED, value };
    if (type === ObjectType.INTEGER_VALUE) return { type: ApplicationTag.SIGNED_INTEGER, value };
    return { type: ApplicationTag.UNSIGNED_INTEGER, value };
  }

  private scalarProperty(id: BACNetObjectID, property: number): BACNetAppData {
    const o = this.options;
    if (id.type === ObjectType.DEVICE) {
      const services = [ServicesSupported.READ_PROPERTY, ServicesSupported.WRITE_PROPERTY, ServicesSupported.I_AM, ServicesSupported.WHO_IS];
      if (o.readPropertyMultiple) services.push(ServicesSupported.READ_PROPERTY_MULTIPLE);
      if (o.cov) services.push(ServicesSupported.SUBSCRIBE_COV);
      const text = (value: string): BACNetAppData => ({ type: ApplicationTag.CHARACTER_STRING, value });
      const unsigned = (value: number): BACNetAppData => ({ type: ApplicationTag.UNSIGNED_INTEGER, value });
      switch (property) {
        case P.OBJECT_IDENTIFIER: return { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: ObjectType.DEVICE, instance: o.deviceInstance } };
        case P.OBJECT_NAME: return text(o.deviceName);
        case P.OBJECT_TYPE: return { type: ApplicationTag.ENUMERATED, value: ObjectType.DEVICE };
        case P.SYSTEM_STATUS: return { type: ApplicationTag.ENUMERATED, value: 0 };
        case P.VENDOR_NAME: return text('CityPilot');
        case P.VENDOR_IDENTIFIER: return unsigned(o.vendorId);
        case P.MODEL_NAME: return text('Simulated Building Controller');
        case P.FIRMWARE_REVISION: return text('1.0');
        case P.APPLICATION_SOFTWARE_VERSION: return text('1.0');
        case P.PROTOCOL_VERSION: return unsigned(1);
        case P.PROTOCOL_REVISION: return unsigned(14);
        case P.PROTOCOL_SERVICES_SUPPORTED: return { type: ApplicationTag.BIT_STRING, value: new ServicesSupportedBitString(...services) };
        case P.PROTOCOL_OBJECT_TYPES_SUPPORTED: return { type: ApplicationTag.BIT_STRING, value: new ObjectTypesSupportedBitString(0, 1, 2, 3, 4, 5, 8, 13, 19) };
        case P.MAX_APDU_LENGTH_ACCEPTED: return unsigned(o.maxApdu);
        case P.SEGMENTATION_SUPPORTED: return { type: ApplicationTag.ENUMERATED, value: SEGMENTATION[o.segmentation] };
        case P.APDU_TIMEOUT: return unsigned(3000);
        case P.NUMBER_OF_APDU_RETRIES: return unsigned(3);
        case P.DATABASE_REVISION: return unsigned(this.databaseRevision);
        case P.DESCRIPTION: return text('Simulated building controller of CityPilot');
        case P.LOCATION: return text('Plant room');
      }
    }
    const object = this.object(id.type, id.instance);
    const spec = object.spec;
    switch (property) {
      case P.OBJECT_IDENTIFIER: return { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: spec.type, instance: spec.instance } };
      case P.OBJECT_NAME: return { type: ApplicationTag.CHARACTER_STRING, value: spec.name };
      case P.OBJECT_TYPE: return { type: ApplicationTag.ENUMERATED, value: spec.type };
      case P.PRESENT_VALUE: return this.presentValueData(spec.type, object.presentValue);
      case P.DESCRIPTION: return { type: ApplicationTag.CHARACTER_STRING, value: spec.description };
      case P.STATUS_FLAGS: return { type: ApplicationTag.BIT_STRING, value: this.statusFlags(object) };
      case P.EVENT_STATE: return { type: ApplicationTag.ENUMERATED, value: object.reliability === Reliability.NO_FAULT_DETECTED ? 0 : 1 };
      case P.RELIABILITY: return { type: ApplicationTag.ENUMERATED, value: object.reliability };
      case P.OUT_OF_SERVICE: return { type: ApplicationTag.BOOLEAN, value: object.outOfService };
      case P.UNITS: return { type: ApplicationTag.ENUMERATED, value: spec.units ?? 95 };
      case P.COV_INCREMENT: return { type: ApplicationTag.REAL, value: object.covIncrement };
      case P.POLARITY: return { type: ApplicationTag.ENUMERATED, value: 0 };
      case P.NUMBER_OF_STATES: return { type: ApplicationTag.UNSIGNED_INTEGER, value: spec.stateText?.length ?? 0 };
      case P.RELINQUISH_DEFAULT: return this.presentValueData(spec.type, object.relinquishDefault ?? 0);
    }
    throw new Error(`no encoding for property ${property}`);
  }

  private statusFlags(object: SimObject): StatusFlagsBitString {
    const flags: StatusFlags[] = [];
    if (object.inAlarm) flags.push(StatusFlags.IN_ALARM);
    // FAULT is true whenever reliability says something is wrong (clause 12.2.9).
    if (object.reliability !== Reliability.NO_FAULT_DETECTED) flags.push(StatusFlags.FAULT);
    if (object.overridden) flags.push(StatusFlags.OVERRIDDEN);
    if (object.outOfService) flags.push(StatusFlags.OUT_OF_SERVICE);
    return new StatusFlagsBitString(...flags);
  }

  private flagsKey(object: SimObject): string {
    return `${object.inAlarm}${object.reliability !== Reliability.NO_FAULT_DETECTED}${object.overridden}${object.outOfService}`;
  }

  /** The present value of a commandable object: its highest priority command, else its relinquish default. */
  private command(object: SimObject): void {
    const active = object.priorityArray?.find((v) => v !== null);
    object.presentValue = active ?? object.relinquishDefault ?? object.presentValue;
  }

  // ---- COV -------------------------------------------------------------------------------

  private checkCov(object: SimObject): void {
    for (const subscription of this.subscriptions.values()) {
      if (subscription.object.type !== object.spec.type || subscription.object.instance !== object.spec.instance) continue;
      const flags = this.flagsKey(object);
      const moved = isAnalog(object.spec.type) ? Math.abs(object.presentValue - subscription.lastValue) >= object.covIncrement : object.presentValue !== subscription.lastValue;
      if (moved || flags !== subscription.lastFlags) this.notify(subscription, object);
    }
  }

  private notify(subscription: Subscription, object: SimObject): void {
    const client = this.client;
    if (!client) return;
    subscription.lastValue = object.presentValue;
    subscription.lastFlags = this.flagsKey(object);
    this.stats.covNotifications++;
    const timeRemaining = subscription.expiresAt === undefined ? 0 : Math.max(0, Math.round((subscription.expiresAt - this.now()) / 1000));
    const values = [
      // Property references without an index: the library encodes ASN1_ARRAY_ALL as an index.
      { property: { id: P.PRESENT_VALUE }, value: [this.presentValueData(object.spec.type, object.presentValue)] },
      { property: { id: P.STATUS_FLAGS }, value: [{ type: ApplicationTag.BIT_STRING, value: this.statusFlags(object) }] },
    ];
    const receiver = { address: subscription.subscriber };
    const monitored = { type: object.spec.type, instance: object.spec.instance };
    if (!subscription.confirmed) {
      const buffer = this.buffer();
      encodeNpdu(buffer, 0, undefined);
      encodeUnconfirmedServiceRequest(buffer, PduType.UNCONFIRMED_REQUEST, 2 /* unconfirmedCOVNotification */);
      CovNotify.encode(buffer, subscription.processId, this.options.deviceInstance, monitored, timeRemaining, values);
      this.sendBvlc(buffer, subscription.subscriber);
      return;
    }
    const attempt = (left: number) => {
      if (!this.client || this.misbehaviour === 'silent') return;
      this.client.confirmedCOVNotification(receiver, monitored, subscription.processId, this.options.deviceInstance, timeRemaining, values).catch((error: unknown) => {
        // Sent again only for want of an answer: an Error or Reject is an answer (clause 5.4.4).
        if ((error as Error)?.message === 'ERR_TIMEOUT' && left > 0 && this.client) {
          this.stats.covResends++;
          attempt(left - 1);
        }
      });
    };
    attempt(this.options.covRetries);
  }

  // ---- encoding answers ------------------------------------------------------------------

  private buffer(): EncodeBuffer {
    // Large enough for any answer built before its size is checked (an object-list of thousands).
    return { buffer: Buffer.allocUnsafe(64 * 1024), offset: 4 };
  }

  private sendBvlc(buffer: EncodeBuffer, to: string): void {
    encodeBvlc(buffer.buffer, 0x0a /* Original-Unicast-NPDU */, buffer.offset);
    this.transport?.send(buffer.buffer, buffer.offset, to);
  }

  private reply(ctx: RequestContext, encodeApdu: (buffer: EncodeBuffer) => void): void {
    const to = ctx.sender.address;
    if (!to) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    const start = buffer.offset;
    encodeApdu(buffer);
    const length = buffer.offset - start;
    const limit = Math.min(this.options.maxApdu, ctx.maxApduAccepted);
    if (length > limit) {
      const canSegment = (this.options.segmentation === 'both' || this.options.segmentation === 'transmit') && ctx.segmentedAccepted;
      if (canSegment && (buffer.buffer[start]! & 0xf0) === PduType.COMPLEX_ACK) {
        // The service data after the Complex-ACK's three header octets, cut to fit segments of five.
        return this.sendSegmented(ctx, Buffer.from(buffer.buffer.subarray(start + 3, buffer.offset)), limit - 5);
      }
      // Clause 5.4.5.2: an answer longer than one APDU that cannot be segmented is aborted.
      this.stats.aborts++;
      return this.abort(ctx, AbortReason.SEGMENTATION_NOT_SUPPORTED);
    }
    this.stats.largestApdu = Math.max(this.stats.largestApdu, length);
    this.sendBvlc(buffer, to);
  }

  private sendSegmented(ctx: RequestContext, data: Buffer, segmentSize: number): void {
    const count = Math.ceil(data.length / segmentSize);
    const allowed = ctx.maxSegments === 0 ? 255 : ctx.maxSegments;
    if (count > allowed || count > 255) {
      // More segments than the requester takes: abort, buffer-overflow (clause 5.4.5.2).
      this.stats.aborts++;
      return this.abort(ctx, AbortReason.BUFFER_OVERFLOW);
    }
    const segments = Array.from({ length: count }, (_, i) => data.subarray(i * segmentSize, (i + 1) * segmentSize));
    const answer: SegmentedAnswer = { ctx, segments, next: 0, tries: 0 };
    this.segmented.set(`${ctx.sender.address}/${ctx.invokeId}`, answer);
    this.stats.segmentedAnswers++;
    this.sendSegment(answer);
  }

  private sendSegment(answer: SegmentedAnswer): void {
    const { ctx, segments, next } = answer;
    const to = ctx.sender.address;
    if (!to || !this.client) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    const more = next < segments.length - 1 ? 0x04 : 0;
    encodeComplexAck(buffer, PduType.COMPLEX_ACK | 0x08 | more, ctx.service, ctx.invokeId, next, 1);
    segments[next]!.copy(buffer.buffer, buffer.offset);
    buffer.offset += segments[next]!.length;
    this.stats.segmentsSent++;
    this.stats.largestApdu = Math.max(this.stats.largestApdu, 5 + segments[next]!.length);
    this.sendBvlc(buffer, to);
    if (answer.timer) clearTimeout(answer.timer);
    answer.timer = setTimeout(() => {
      // No Segment-ACK: send the segment again, three tries in all, then give the answer up.
      if (++answer.tries >= 3) return this.segmented.delete(`${to}/${ctx.invokeId}`);
      this.sendSegment(answer);
    }, this.options.segmentTimeoutMs);
    answer.timer.unref();
  }

  /** A Segment-ACK from the requester: the next segment, or the end of the answer. */
  private onSegmentAck(from: string, invokeId: number, sequence: number, negative: boolean): void {
    const id = `${from}/${invokeId}`;
    const answer = this.segmented.get(id);
    if (!answer) return;
    if (answer.timer) clearTimeout(answer.timer);
    // A negative ack names the last segment received in order: go on from the one after it.
    answer.next = negative ? sequence + 1 : Math.max(answer.next, sequence + 1);
    answer.tries = 0;
    if (answer.next >= answer.segments.length) {
      this.segmented.delete(id);
      return;
    }
    this.sendSegment(answer);
  }

  private complexAck(ctx: RequestContext, encodeBody: (buffer: EncodeBuffer) => void): void {
    this.reply(ctx, (buffer) => {
      encodeComplexAck(buffer, PduType.COMPLEX_ACK, ctx.service, ctx.invokeId);
      encodeBody(buffer);
    });
  }

  private simpleAck(ctx: RequestContext): void {
    this.reply(ctx, (buffer) => encodeSimpleAck(buffer, PduType.SIMPLE_ACK, ctx.service, ctx.invokeId));
  }

  private error(ctx: RequestContext, errorClass: ErrorClass, errorCode: ErrorCode): void {
    this.reply(ctx, (buffer) => {
      encodeError(buffer, PduType.ERROR, ctx.service, ctx.invokeId);
      ErrorService.encode(buffer, errorClass, errorCode);
    });
  }

  private abort(ctx: RequestContext, reason: AbortReason): void {
    const to = ctx.sender.address;
    if (!to) return;
    const buffer = this.buffer();
    encodeNpdu(buffer, 0, ctx.sender);
    // 0x01: sent by the server.
    encodeAbort(buffer, PduType.ABORT | 0x01, ctx.invokeId, reason);
    this.sendBvlc(buffer, to);
  }

  private reject(to: string, invokeId: number, reason: RejectReason): void {
    if (to) this.transport?.sendDatagram(rejectDatagram(invokeId, reason), to);
  }
}
