// Finding devices and what they are: Who-Is and the I-Am answers (kept by address), the Device
// object's abilities (read once per device, by ReadProperty since whether the device has
// ReadPropertyMultiple is what it finds out), its object list, and its objects' names and units.
import { ObjectType, PropertyIdentifier, ServicesSupported, type BACNetBitString } from '@bacnet-js/client';
import { BacnetAbortError, BacnetError, BacnetProtocolError, BacnetServiceError } from './errors.js';
import {
  normalizeAddress,
  SEGMENTATION_NAMES,
  THIS_DEVICE,
  type BacnetDevice,
  type BacnetDeviceInfo,
  type BacnetObjectInfo,
  type IAm,
} from './client-types.js';
import type { BacnetObjectId } from './names.js';
import type { PropertyRef } from './planner.js';
import type { Reads } from './reads.js';
import type { RequestChannel } from './request-channel.js';

const P = PropertyIdentifier;

/** The devices of one client's socket, as they announced and described themselves. */
export class Discovery {
  private readonly iAms = new Map<string, IAm>();
  private readonly infos = new Map<string, BacnetDeviceInfo>();
  private readonly pendingInfos = new Map<string, Promise<BacnetDeviceInfo>>();
  private readonly iAmListeners = new Set<(iAm: IAm) => void>();

  /** `bbmd` gives the BBMD this client is registered with as a foreign device, if any: broadcasts go through it. */
  constructor(
    private readonly channel: RequestChannel,
    private readonly reads: Reads,
    private readonly bbmd: () => string | undefined,
  ) {
    channel.library.on('iAm', (content) => {
      const sender = content.header?.sender?.address;
      if (!sender) return;
      const p = content.payload;
      const iAm: IAm = {
        address: sender,
        deviceInstance: p.deviceId,
        maxApdu: p.maxApdu,
        segmentation: SEGMENTATION_NAMES[p.segmentation] ?? 'none',
        vendorId: p.vendorId,
      };
      this.iAms.set(sender, iAm);
      for (const listener of this.iAmListeners) {
        try {
          listener(iAm);
        } catch {
          // A listener's failure must not break the socket's message loop.
        }
      }
    });
  }

  /**
   * Sends a Who-Is and collects the I-Am answers for `waitMs`. With `address`, the Who-Is goes to
   * that device only (directed); without, it is broadcast (through the BBMD when registered as a
   * foreign device). `lowLimit`/`highLimit` restrict the device instances asked.
   */
  async whoIs(options: { address?: string; lowLimit?: number; highLimit?: number; waitMs?: number } = {}): Promise<IAm[]> {
    await this.channel.open();
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
      const limits =
        options.lowLimit !== undefined || options.highLimit !== undefined
          ? { lowLimit: options.lowLimit ?? 0, highLimit: options.highLimit ?? THIS_DEVICE - 1 }
          : {};
      const bbmd = this.bbmd();
      if (options.address) this.channel.library.whoIs({ address: normalizeAddress(options.address) }, limits);
      else if (bbmd) this.channel.library.whoIsThroughBBMD({ address: bbmd }, limits);
      else this.channel.library.whoIs(undefined, limits);
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
      const id = await this.reads.readOne(device, { objectType: ObjectType.DEVICE, instance: THIS_DEVICE, property: P.OBJECT_IDENTIFIER });
      instance = (id[0]?.value as BacnetObjectId | undefined)?.instance;
      if (instance === undefined) throw new BacnetProtocolError(`device at ${address}: its object-identifier is not an object identifier`);
    }
    const deviceRef = (property: number): PropertyRef => ({ objectType: ObjectType.DEVICE, instance: instance!, property });
    const optional = async (property: number) => {
      try {
        return (await this.reads.readOne(device, deviceRef(property)))[0]?.value;
      } catch (error) {
        if (error instanceof BacnetServiceError) return undefined;
        throw error;
      }
    };
    const services = (await this.reads.readOne(device, deviceRef(P.PROTOCOL_SERVICES_SUPPORTED)))[0]?.value as BACNetBitString | undefined;
    const maxApdu = Number((await this.reads.readOne(device, deviceRef(P.MAX_APDU_LENGTH_ACCEPTED)))[0]?.value);
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
    const count = Number((await this.reads.readOne(device, ref(0)))[0]?.value);
    if (!Number.isInteger(count) || count < 0) throw new BacnetProtocolError(`device ${info.deviceInstance} at ${info.address}: object-list[0] is not a count`);
    const maxApdu = device.maxApdu ?? info.maxApdu;
    // Complex-ACK header, object identifier, property, opening and closing tags, then 5 octets per element.
    if (3 + 5 + 4 + 2 + 5 * count <= maxApdu) {
      try {
        const values = await this.reads.readOne(device, ref());
        return values.map((v) => v.value as BacnetObjectId);
      } catch (error) {
        if (!(error instanceof BacnetAbortError)) throw error;
      }
    }
    const refs = Array.from({ length: count }, (_, i) => ref(i + 1));
    const results = await this.reads.readRefs(device, refs);
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
      if (o.type === ObjectType.MULTI_STATE_INPUT || o.type === ObjectType.MULTI_STATE_OUTPUT || o.type === ObjectType.MULTI_STATE_VALUE)
        list.push(P.STATE_TEXT);
      return list;
    };
    for (const o of objects) for (const property of wanted(o)) refs.push({ objectType: o.type, instance: o.instance, property });
    const results = await this.reads.readRefs(device, refs);
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

  /** The device's info, read once even when several reads ask for it at the same time. */
  async info(device: BacnetDevice): Promise<BacnetDeviceInfo> {
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

  /** The largest APDU the device at `address` is known to accept, from its Device object or its I-Am. */
  knownMaxApdu(address: string): number | undefined {
    return this.infos.get(address)?.maxApdu ?? this.iAms.get(address)?.maxApdu;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
