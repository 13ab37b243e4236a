// The simulated BACnet/IP device: its options and counters, its socket's life (start, restart,
// stop, misbehaviour), and the handlers of the services it answers (Who-Is, ReadProperty,
// ReadPropertyMultiple, WriteProperty, SubscribeCOV, Register-Foreign-Device). Its objects live in
// simulator-objects.ts, its answers are encoded by simulator-answers.ts, and its COV
// subscriptions are kept by simulator-cov.ts; none of those imports this module.
import { ConfirmedServiceChoice, ErrorClass, ErrorCode, ObjectType, PduType, RejectReason, Reliability, type BACNetObjectID } from '@bacnet-js/client';
import { encodeComplexAck, encodeUnconfirmedServiceRequest } from '@bacnet-js/client/dist/lib/apdu.js';
import { encode as encodeBvlc } from '@bacnet-js/client/dist/lib/bvlc.js';
import { encode as encodeNpdu } from '@bacnet-js/client/dist/lib/npdu.js';
import { IAm, ReadProperty, ReadPropertyMultiple } from '@bacnet-js/client/dist/lib/services/index.js';
import { buildingObjects, type BuildingActivity, type SimulatedObjectSpec } from './building.js';
import { LibraryClient } from './library.js';
import { Answers, MAX_SEGMENTS_BY_CODE, type RequestContext } from './simulator-answers.js';
import { CovSubscriptions, type SimulatedCovSubscription } from './simulator-cov.js';
import { MAX_APDU_BY_CODE, ObjectStore, SEGMENTATION, type MaxApdu, type SegmentationSupport } from './simulator-objects.js';
import { peekApdu, UdpTransport } from './transport.js';

export type { MaxApdu, SegmentationSupport } from './simulator-objects.js';
export type { SimulatedCovSubscription } from './simulator-cov.js';

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
  /** Objects of the device. Default: {@link buildingObjects}(generatedAnalogInputs, { load, noise }). */
  objects?: SimulatedObjectSpec[];
  /** The default objects' load curve (see {@link BuildingActivity}). Default: a steady full load (1). */
  load?: BuildingActivity['load'];
  /** The default objects' noise (see {@link BuildingActivity}). Default: none (0). */
  noise?: BuildingActivity['noise'];
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

const SERVICE_NAMES: Record<number, string> = {
  [ConfirmedServiceChoice.READ_PROPERTY]: 'readProperty',
  [ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE]: 'readPropertyMultiple',
  [ConfirmedServiceChoice.WRITE_PROPERTY]: 'writeProperty',
  [ConfirmedServiceChoice.SUBSCRIBE_COV]: 'subscribeCov',
};

/**
 * A BACnet/IP device over UDP, built on @bacnet-js/client's server side: one Device object and the
 * analog, binary and multi-state objects of {@link buildingObjects}, whose present values move
 * with the load curve its caller gives. It answers Who-Is, ReadProperty, ReadPropertyMultiple (with
 * ALL, REQUIRED and OPTIONAL, and an error per property where the standard wants one),
 * WriteProperty (priority array and relinquish for commandable objects), SubscribeCOV (confirmed
 * and unconfirmed, with lifetime and cancellation) and, as a BBMD, Register-Foreign-Device.
 *
 * Its answers are encoded (simulator-answers.ts) with the library's encoders rather than with its response
 * helpers, because the device must check each answer against the requester's and its own
 * max-APDU (the helpers send whatever they build), and send Reject and Abort PDUs, which the
 * library has no helper for (for a service it does not handle it answers an Error PDU where the
 * standard wants a Reject with `unrecognized-service`).
 */
export class BacnetSimulator {
  private readonly options: Required<Omit<BacnetSimulatorOptions, 'objects' | 'port' | 'databaseRevision' | 'load' | 'noise'>> & { port: number };
  private readonly store: ObjectStore;
  private readonly answers: Answers;
  private readonly cov: CovSubscriptions;
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
    if (!MAX_APDU_BY_CODE.includes(this.options.maxApdu)) throw new Error(`maxApdu ${this.options.maxApdu} is not one of ${MAX_APDU_BY_CODE.join(', ')}`);
    this.lastTick = this.now();
    const objects = options.objects ?? buildingObjects(this.options.generatedAnalogInputs, { load: options.load, noise: options.noise });
    this.store = new ObjectStore({ ...this.options, databaseRevision: options.databaseRevision ?? 1 }, objects);
    this.answers = new Answers(this.options, this.stats, () => this.transport);
    this.cov = new CovSubscriptions(this.store, this.answers, this.stats, {
      deviceInstance: this.options.deviceInstance,
      covRetries: this.options.covRetries,
      now: this.now,
      client: () => this.client,
      silent: () => this.misbehaviour === 'silent',
    });
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
    return this.store.objectList;
  }

  /** Active COV subscriptions. */
  get covSubscriptions(): SimulatedCovSubscription[] {
    return this.cov.list();
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
    client.on('readProperty', (content) =>
      this.later(content, (ctx) => this.onReadProperty(ctx, content.payload.objectId, content.payload.property.id, content.payload.property.index)),
    );
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
    this.store.reset(options.values);
    if (options.databaseRevision !== undefined) this.store.device.databaseRevision = options.databaseRevision;
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
    this.cov.clear();
    this.answers.clear();
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
    return this.store.object(objectType, instance).presentValue;
  }

  /**
   * Sets the present value as the field would (a sensor reading, a relinquish default for a
   * commandable object), and notifies the subscribers if it moved beyond the COV increment.
   */
  set(objectType: ObjectType, instance: number, value: number): void {
    const object = this.store.object(objectType, instance);
    if (object.priorityArray) {
      object.relinquishDefault = value;
      this.store.command(object);
    } else {
      object.presentValue = value;
    }
    this.cov.check(object);
  }

  /** Sets an object's status: fault through its reliability, out-of-service, in-alarm, overridden. */
  setStatus(
    objectType: ObjectType,
    instance: number,
    status: { reliability?: Reliability; outOfService?: boolean; inAlarm?: boolean; overridden?: boolean },
  ): void {
    const object = this.store.object(objectType, instance);
    if (status.reliability !== undefined) object.reliability = status.reliability;
    if (status.outOfService !== undefined) object.outOfService = status.outOfService;
    if (status.inAlarm !== undefined) object.inAlarm = status.inAlarm;
    if (status.overridden !== undefined) object.overridden = status.overridden;
    this.cov.check(object);
  }

  /** The priority array of a commandable object (16 slots, null where relinquished). */
  priorityArray(objectType: ObjectType, instance: number): (number | null)[] {
    const array = this.store.object(objectType, instance).priorityArray;
    if (!array) throw new Error(`${objectType}:${instance} is not commandable`);
    return [...array];
  }

  private tick(): void {
    const now = this.now();
    const elapsed = now - this.lastTick;
    this.lastTick = now;
    this.store.move(now, elapsed);
    this.cov.expire(now);
    for (const object of this.store.all()) this.cov.check(object);
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
        const reply = this.answers.buffer();
        encodeNpdu(reply, 0, undefined);
        encodeComplexAck(reply, PduType.COMPLEX_ACK, service, this.misbehaviour === 'malformed' ? invokeId : (invokeId + 128) % 256);
        reply.buffer.writeUInt32BE(0xdeadbeef, reply.offset);
        reply.offset += 4;
        this.answers.sendBvlc(reply, from);
        return false;
      }
      const offered =
        service === ConfirmedServiceChoice.READ_PROPERTY ||
        service === ConfirmedServiceChoice.WRITE_PROPERTY ||
        (service === ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE && this.options.readPropertyMultiple) ||
        (service === ConfirmedServiceChoice.SUBSCRIBE_COV && this.options.cov);
      if (!offered) {
        // Clause 18.8: a service the device does not execute is rejected, not answered with an Error.
        this.answers.reject(from, invokeId, RejectReason.UNRECOGNIZED_SERVICE);
        return false;
      }
    } else if (this.misbehaviour === 'silent') {
      return false;
    } else if (apdu.pduType === PduType.SEGMENT_ACK) {
      // Handled here: the library would take a Segment-ACK for a segment of a request.
      this.answers.onSegmentAck(from, apdu.invokeId ?? 0, apdu.sequenceNumber ?? 0, (apdu.flags & 0x02) !== 0);
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
        if (ctx.sender.address) this.answers.reject(ctx.sender.address, ctx.invokeId, RejectReason.OTHER);
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
    const reply = this.answers.buffer();
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
    const reply = this.answers.buffer();
    encodeNpdu(reply, 0, undefined);
    encodeUnconfirmedServiceRequest(reply, PduType.UNCONFIRMED_REQUEST, 0 /* i-Am */);
    IAm.encode(reply, instance, this.options.maxApdu, SEGMENTATION[this.options.segmentation], this.options.vendorId);
    this.answers.sendBvlc(reply, sender.address);
  }

  private onReadProperty(ctx: RequestContext, objectId: BACNetObjectID, property: number, index: number): void {
    const id = this.store.resolveDevice(objectId);
    const result = this.store.readProperty(id, property, index);
    if ('error' in result) return this.answers.error(ctx, result.error[0], result.error[1]);
    this.answers.complexAck(ctx, (buffer) => ReadProperty.encodeAcknowledge(buffer, id, property, index, result.values));
  }

  private onReadPropertyMultiple(ctx: RequestContext, specs: { objectId: BACNetObjectID; properties: { id: number; index: number }[] }[]): void {
    const results = specs.map((spec) => {
      const id = this.store.resolveDevice(spec.objectId);
      return { objectId: id, values: this.store.readPropertyReferences(id, spec.properties) };
    });
    this.answers.complexAck(ctx, (buffer) => ReadPropertyMultiple.encodeAcknowledge(buffer, results));
  }

  private onWriteProperty(
    ctx: RequestContext,
    payload: { objectId: BACNetObjectID; value: { property: { id: number; index: number }; value: { type: number; value: unknown }[]; priority: number } },
  ): void {
    const outcome = this.store.writeProperty(payload.objectId, payload.value);
    if ('reject' in outcome) return this.answers.reject(ctx.sender.address ?? '', ctx.invokeId, outcome.reject);
    if ('error' in outcome) return this.answers.error(ctx, outcome.error[0], outcome.error[1]);
    this.answers.simpleAck(ctx);
    this.cov.check(outcome.written);
  }

  private onSubscribeCov(
    ctx: RequestContext,
    payload: {
      subscriberProcessId: number;
      monitoredObjectId: BACNetObjectID;
      cancellationRequest?: boolean;
      issueConfirmedNotifications: boolean;
      lifetime: number;
    },
  ): void {
    const object = this.store.find(payload.monitoredObjectId.type, payload.monitoredObjectId.instance);
    if (!object) return this.answers.error(ctx, ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT);
    this.cov.subscribe(ctx.sender.address ?? '', payload, object, () => this.answers.simpleAck(ctx));
  }
}
