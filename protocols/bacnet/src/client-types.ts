// What the BACnet/IP client's callers see (devices, values, results, COV subscriptions and
// notifications), and the small conversions its modules share. Imports no other module of the
// client: discovery, reads, COV, foreign-device registration and the request plumbing all use it.
import { Segmentation, type BACNetBitString } from '@bacnet-js/client';
import type { BacnetError } from './errors.js';
import { formatObjectId, propertyName, type BacnetObjectId } from './names.js';

/** Instance 4194303 of the Device type names "the device that receives this request" (clause 15.5.1.1.1). */
export const THIS_DEVICE = 4194303;

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
export const SEGMENTATION_NAMES: Record<number, SegmentationName> = {
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

/** A value as the client hands it on, from the library's decoded application data. */
export function typed(data: { type: number; value: unknown }): TypedValue {
  return { tag: data.type, value: data.value };
}

/** A property as messages name it: `present-value of analog-input:1`, with the array index when there is one. */
export function describe(ref: { objectType: number; instance: number; property: number; arrayIndex?: number }): string {
  return `${propertyName(ref.property)}${ref.arrayIndex !== undefined ? `[${ref.arrayIndex}]` : ''} of ${formatObjectId({ type: ref.objectType, instance: ref.instance })}`;
}

/** `ip:port`, with the standard port when none is given. */
export function normalizeAddress(address: string): string {
  return address.includes(':') ? address : `${address}:47808`;
}

/** The four status flags from their bit string (clause 12.50.9). */
export function statusFlags(bits: BACNetBitString): StatusFlagsValue {
  const bit = (i: number) => ((bits.value[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
  return { inAlarm: bit(0), fault: bit(1), overridden: bit(2), outOfService: bit(3) };
}
