// The BACnet/IP client: one object for a gateway's driver, composed of the modules that do each
// job (discovery.ts, reads.ts, writes.ts, cov-subscriptions.ts, foreign-device.ts, all sending
// through request-channel.ts). Its types are declared in client-types.ts and exported from here.
import type { BacnetError } from './errors.js';
import type { BacnetObjectId } from './names.js';
import type { PropertyRef } from './planner.js';
import { CovSubscriptions } from './cov-subscriptions.js';
import { Discovery } from './discovery.js';
import { ForeignDeviceRegistration } from './foreign-device.js';
import { Reads } from './reads.js';
import { RequestChannel } from './request-channel.js';
import { writeProperty } from './writes.js';
import type {
  BacnetClientOptions,
  BacnetDevice,
  BacnetDeviceInfo,
  BacnetObjectInfo,
  CovSubscribeOptions,
  CovSubscription,
  IAm,
  PointRead,
  PointResult,
  TypedValue,
} from './client-types.js';

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
  private readonly channel: RequestChannel;
  private readonly reads: Reads;
  private readonly discovery: Discovery;
  private readonly cov: CovSubscriptions;
  private readonly foreignDevice: ForeignDeviceRegistration;

  constructor(options: BacnetClientOptions = {}) {
    this.channel = new RequestChannel(options);
    // Reads ask discovery what a device can do; discovery reads through them: each gets the
    // other's side as functions, so that neither module imports the other's caller.
    this.reads = new Reads(this.channel, { info: (device) => this.discovery.info(device), knownMaxApdu: (address) => this.discovery.knownMaxApdu(address) });
    this.foreignDevice = new ForeignDeviceRegistration(this.channel);
    this.discovery = new Discovery(this.channel, this.reads, () => this.foreignDevice.bbmd);
    this.cov = new CovSubscriptions(this.channel);
  }

  /** Binds the socket; resolves with the bound address and port. Rejects with {@link BacnetSocketError} when the port is taken. */
  async open(): Promise<{ address: string; port: number }> {
    return this.channel.open();
  }

  /** The local `ip:port` once open. */
  get localAddress(): string | undefined {
    return this.channel.localAddress;
  }

  /** Stops renewals, closes the socket; pending requests fail. Subscriptions are not cancelled on the devices (they end with their lifetime). */
  close(): void {
    if (this.channel.closed) return;
    this.cov.close();
    this.foreignDevice.close();
    this.channel.close();
  }

  // ---- discovery ---------------------------------------------------------------------------

  /**
   * Sends a Who-Is and collects the I-Am answers for `waitMs`. With `address`, the Who-Is goes to
   * that device only (directed); without, it is broadcast (through the BBMD when registered as a
   * foreign device). `lowLimit`/`highLimit` restrict the device instances asked.
   */
  async whoIs(options: { address?: string; lowLimit?: number; highLimit?: number; waitMs?: number } = {}): Promise<IAm[]> {
    return this.discovery.whoIs(options);
  }

  /**
   * Calls `listener` with every I-Am the socket receives (answers to anyone's Who-Is, and those a
   * device broadcasts by itself when it starts) until the returned function is called.
   */
  onIAm(listener: (iAm: IAm) => void): () => void {
    return this.discovery.onIAm(listener);
  }

  /** The I-Am last received from an address, if any. */
  iAmOf(address: string): IAm | undefined {
    return this.discovery.iAmOf(address);
  }

  /**
   * Reads the Device object: name, vendor, max APDU, segmentation and the services supported
   * (ReadPropertyMultiple, SubscribeCOV, WriteProperty). Uses ReadProperty only, since whether the
   * device has ReadPropertyMultiple is what this finds out. Remembered for later reads.
   */
  async readDeviceInfo(device: BacnetDevice): Promise<BacnetDeviceInfo> {
    return this.discovery.readDeviceInfo(device);
  }

  /**
   * The device's object-list. Read whole when it fits in one APDU of the device; else element by
   * element (planned into ReadPropertyMultiple requests when the device has it), which needs no
   * segmentation, and the same when a whole read is aborted for want of segmentation.
   */
  async readObjectList(device: BacnetDevice): Promise<BacnetObjectId[]> {
    return this.discovery.readObjectList(device);
  }

  /** Name, description, units, state texts and the present value's datatype of each object, for a draft of points. */
  async readObjectsInfo(device: BacnetDevice, objects: readonly BacnetObjectId[]): Promise<BacnetObjectInfo[]> {
    return this.discovery.readObjectsInfo(device, objects);
  }

  // ---- reading -----------------------------------------------------------------------------

  /**
   * Reads points: ReadPropertyMultiple requests planned to the device's APDU (ReadProperty when
   * the device has no ReadPropertyMultiple or `readMethod` says so), at most
   * `maxRequestsInFlight` at once. One result per point, in order; a point's own error is in its
   * result. Rejects only when the client is closed.
   */
  async readPoints(device: BacnetDevice, points: readonly PointRead[]): Promise<PointResult[]> {
    return this.reads.readPoints(device, points);
  }

  /** Reads one property with ReadProperty; throws the device's error. */
  async readProperty(device: BacnetDevice, ref: PropertyRef): Promise<TypedValue[]> {
    return this.reads.readOne(device, ref);
  }

  // ---- writing -----------------------------------------------------------------------------

  /**
   * Writes a property (present-value by default) at a priority (1 highest … 16 lowest; default
   * 16). `null` relinquishes the priority's slot (writes NULL). A number is encoded as the
   * object's present-value datatype: REAL for analog objects, ENUMERATED for binary ones,
   * Unsigned for multi-state, positive-integer-value and accumulator objects, Signed for
   * integer-value, Double for large-analog-value; pass a {@link TypedValue} to choose.
   */
  async writeProperty(
    device: BacnetDevice,
    target: { objectType: number; instance: number; property?: number; arrayIndex?: number },
    value: number | boolean | string | null | TypedValue,
    options: { priority?: number } = {},
  ): Promise<void> {
    return writeProperty(this.channel, device, target, value, options);
  }

  // ---- COV ---------------------------------------------------------------------------------

  /**
   * Subscribes to the changes of an object's present value and status flags. The device sends the
   * current value at once, then each change beyond its COV increment; the subscription is renewed
   * before its lifetime ends (at half of it, or a minute before for long ones). Rejects with the
   * device's refusal (a Reject `unrecognized-service` when it has no COV at all).
   */
  async subscribeCov(device: BacnetDevice, object: BacnetObjectId, options: CovSubscribeOptions): Promise<CovSubscription> {
    return this.cov.subscribe(device, object, options);
  }

  // ---- foreign device ----------------------------------------------------------------------

  /**
   * Registers this client as a foreign device with a BBMD (`ip:port`), for devices on another
   * subnet, and registers again before the time-to-live ends (at half of it, or 30 s before for
   * long ones) until the client closes. Broadcast Who-Is then goes through the BBMD.
   */
  async registerForeignDevice(bbmd: string, ttlSeconds: number, onError?: (error: BacnetError) => void): Promise<void> {
    return this.foreignDevice.register(bbmd, ttlSeconds, onError);
  }
}
