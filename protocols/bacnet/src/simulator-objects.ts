// The simulated BACnet device's object store: the Device object and the building's objects, their
// properties as BACnet encodes them (lists, arrays, REQUIRED/OPTIONAL), commands through the
// priority array, statuses, and present values moved by the clock. No I/O: the service handlers
// of simulator.ts read and write through it and answer the requesters.
import {
  ApplicationTag,
  ASN1_ARRAY_ALL,
  ErrorClass,
  ErrorCode,
  ObjectType,
  ObjectTypesSupportedBitString,
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
} from '@bacnet-js/client';
import type { SimulatedObjectSpec } from './building.js';

/** Max-APDU-length-accepted values of the standard (clause 20.1.2.5). */
export type MaxApdu = 50 | 128 | 206 | 480 | 1024 | 1476;
export const MAX_APDU_BY_CODE = [50, 128, 206, 480, 1024, 1476] as const;

export type SegmentationSupport = 'both' | 'transmit' | 'receive' | 'none';
export const SEGMENTATION: Record<SegmentationSupport, Segmentation> = {
  both: Segmentation.SEGMENTED_BOTH,
  transmit: Segmentation.SEGMENTED_TRANSMIT,
  receive: Segmentation.SEGMENTED_RECEIVE,
  none: Segmentation.NO_SEGMENTATION,
};

/** One object of the device and its state. */
export interface SimObject {
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

/** A property's value (one element, or every element of a list or array), or the Error that answers it. */
export type PropertyResult = { values: BACNetAppData[] } | { error: [ErrorClass, ErrorCode] };

/** What a WriteProperty did: the object written, or the Error or Reject that answers it. */
export type WriteOutcome = { written: SimObject } | { error: [ErrorClass, ErrorCode] } | { reject: RejectReason };

export const key = (type: number, instance: number) => `${type}:${instance}`;
export const isAnalog = (type: number) => type === ObjectType.ANALOG_INPUT || type === ObjectType.ANALOG_OUTPUT || type === ObjectType.ANALOG_VALUE;
const isBinary = (type: number) => type === ObjectType.BINARY_INPUT || type === ObjectType.BINARY_OUTPUT || type === ObjectType.BINARY_VALUE;
const isMultiState = (type: number) => type === ObjectType.MULTI_STATE_INPUT || type === ObjectType.MULTI_STATE_OUTPUT || type === ObjectType.MULTI_STATE_VALUE;
const isOutput = (type: number) => type === ObjectType.ANALOG_OUTPUT || type === ObjectType.BINARY_OUTPUT || type === ObjectType.MULTI_STATE_OUTPUT;
const isInput = (type: number) => type === ObjectType.ANALOG_INPUT || type === ObjectType.BINARY_INPUT || type === ObjectType.MULTI_STATE_INPUT;

const P = PropertyIdentifier;
/** Properties every object answers to, and those among them that RPM's REQUIRED leaves out. */
const OPTIONAL_PROPERTIES = new Set<number>([P.DESCRIPTION, P.RELIABILITY, P.COV_INCREMENT, P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT, P.STATE_TEXT, P.LOCATION]);

/** What the Device object says of the device: its identity and what it offers. */
export interface SimulatedDeviceDescription {
  deviceInstance: number;
  deviceName: string;
  vendorId: number;
  maxApdu: MaxApdu;
  segmentation: SegmentationSupport;
  readPropertyMultiple: boolean;
  cov: boolean;
  databaseRevision: number;
}

/** The objects of one simulated device, the Device object first in its object-list. */
export class ObjectStore {
  private readonly objects = new Map<string, SimObject>();
  private readonly order: BACNetObjectID[] = [];

  constructor(
    readonly device: SimulatedDeviceDescription,
    specs: readonly SimulatedObjectSpec[],
  ) {
    this.order.push({ type: ObjectType.DEVICE, instance: device.deviceInstance });
    for (const spec of specs) {
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

  /** The objects of the device, the Device object first (its object-list). */
  get objectList(): BACNetObjectID[] {
    return this.order.map((o) => ({ ...o }));
  }

  /** Every object but the Device object. */
  all(): IterableIterator<SimObject> {
    return this.objects.values();
  }

  /** The object, or undefined when the device has none of that type and instance. */
  find(type: number, instance: number): SimObject | undefined {
    return this.objects.get(key(type, instance));
  }

  /** The object; throws when the device has none of that type and instance. */
  object(type: number, instance: number): SimObject {
    const object = this.objects.get(key(type, instance));
    if (!object) throw new Error(`the simulated device has no object ${type}:${instance}`);
    return object;
  }

  /** Every object back to its initial state (a restart), then the present values given. */
  reset(values: readonly { objectType: ObjectType; instance: number; value: number }[] = []): void {
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
    for (const { objectType, instance, value } of values) {
      const object = this.object(objectType, instance);
      object.presentValue = value;
      if (object.priorityArray) object.relinquishDefault = value;
    }
  }

  /** Moves the present values of the objects that move, to the clock's `now`, `elapsed` ms after the last move. */
  move(now: number, elapsed: number): void {
    for (const object of this.objects.values()) {
      // Out of service: the present value is decoupled from the field (clause 12.2.13).
      if (object.spec.move && !object.outOfService && !object.priorityArray) object.presentValue = object.spec.move(object.presentValue, now, elapsed);
    }
  }

  /**
   * Applies a WriteProperty as the standard says (present value through the priority array of a
   * commandable object, an input's only while out of service; out-of-service; COV increment), or
   * says which Error or Reject answers it. The caller answers and notifies COV subscribers.
   */
  writeProperty(
    objectId: BACNetObjectID,
    written: { property: { id: number; index: number }; value: { type: number; value: unknown }[]; priority: number },
  ): WriteOutcome {
    const object = this.objects.get(key(objectId.type, objectId.instance));
    if (!object) return { error: [ErrorClass.OBJECT, ErrorCode.UNKNOWN_OBJECT] };
    const { property, value, priority } = written;
    if (!this.propertyList(objectId)?.includes(property.id)) return { error: [ErrorClass.PROPERTY, ErrorCode.UNKNOWN_PROPERTY] };
    const first = value[0];
    if (!first || value.length !== 1) return { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
    const type = object.spec.type;
    if (property.id === P.PRESENT_VALUE) {
      if (property.index !== ASN1_ARRAY_ALL) return { error: [ErrorClass.PROPERTY, ErrorCode.PROPERTY_IS_NOT_AN_ARRAY] };
      if (priority < 1 || priority > 16) return { reject: RejectReason.PARAMETER_OUT_OF_RANGE };
      let numeric: number | null;
      if (first.type === ApplicationTag.NULL) numeric = null;
      else {
        const expected = this.presentValueData(type, 0).type;
        if (first.type !== expected) return { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
        numeric = first.value as number;
        if (isBinary(type) && numeric !== 0 && numeric !== 1) return { error: [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE] };
        if (isMultiState(type) && (numeric < 1 || numeric > (object.spec.stateText?.length ?? 0)))
          return { error: [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE] };
      }
      if (object.priorityArray) {
        object.priorityArray[priority - 1] = numeric;
        this.command(object);
      } else if (numeric === null) {
        // Relinquishing a non-commandable object is writing the wrong datatype (clause 19.2.1.1).
        return { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
      } else if (isInput(type) && !object.outOfService) {
        // An input's present value is writable only while out of service (clause 12.2.4).
        return { error: [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED] };
      } else {
        object.presentValue = numeric;
      }
    } else if (property.id === P.OUT_OF_SERVICE) {
      if (first.type !== ApplicationTag.BOOLEAN) return { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
      object.outOfService = first.value as boolean;
    } else if (property.id === P.COV_INCREMENT) {
      if (first.type !== ApplicationTag.REAL) return { error: [ErrorClass.PROPERTY, ErrorCode.INVALID_DATA_TYPE] };
      if ((first.value as number) < 0) return { error: [ErrorClass.PROPERTY, ErrorCode.VALUE_OUT_OF_RANGE] };
      object.covIncrement = first.value as number;
    } else {
      return { error: [ErrorClass.PROPERTY, ErrorCode.WRITE_ACCESS_DENIED] };
    }
    return { written: object };
  }

  /** Instance 4194303 of the Device type means "this device" (clause 15.5.1.1.1). */
  resolveDevice(id: BACNetObjectID): BACNetObjectID {
    if (id.type === ObjectType.DEVICE && id.instance === 4194303) return { type: ObjectType.DEVICE, instance: this.device.deviceInstance };
    return { type: id.type, instance: id.instance };
  }

  propertyList(id: BACNetObjectID): number[] | undefined {
    if (id.type === ObjectType.DEVICE) {
      if (id.instance !== this.device.deviceInstance) return undefined;
      return [
        P.OBJECT_IDENTIFIER,
        P.OBJECT_NAME,
        P.OBJECT_TYPE,
        P.SYSTEM_STATUS,
        P.VENDOR_NAME,
        P.VENDOR_IDENTIFIER,
        P.MODEL_NAME,
        P.FIRMWARE_REVISION,
        P.APPLICATION_SOFTWARE_VERSION,
        P.PROTOCOL_VERSION,
        P.PROTOCOL_REVISION,
        P.PROTOCOL_SERVICES_SUPPORTED,
        P.PROTOCOL_OBJECT_TYPES_SUPPORTED,
        P.OBJECT_LIST,
        P.MAX_APDU_LENGTH_ACCEPTED,
        P.SEGMENTATION_SUPPORTED,
        P.APDU_TIMEOUT,
        P.NUMBER_OF_APDU_RETRIES,
        P.DEVICE_ADDRESS_BINDING,
        P.DATABASE_REVISION,
        P.DESCRIPTION,
        P.LOCATION,
      ];
    }
    const object = this.objects.get(key(id.type, id.instance));
    if (!object) return undefined;
    const list = [
      P.OBJECT_IDENTIFIER,
      P.OBJECT_NAME,
      P.OBJECT_TYPE,
      P.PRESENT_VALUE,
      P.DESCRIPTION,
      P.STATUS_FLAGS,
      P.EVENT_STATE,
      P.RELIABILITY,
      P.OUT_OF_SERVICE,
    ];
    if (isAnalog(id.type)) list.push(P.UNITS, P.COV_INCREMENT);
    if (isBinary(id.type) && (isInput(id.type) || isOutput(id.type))) list.push(P.POLARITY);
    if (isMultiState(id.type)) list.push(P.NUMBER_OF_STATES, P.STATE_TEXT);
    if (object.priorityArray) list.push(P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT);
    return list;
  }

  readProperty(id: BACNetObjectID, property: number, index: number): PropertyResult {
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

  /**
   * The answers to a ReadPropertyMultiple's references to one object, in order, as its ACK carries
   * them: ALL, REQUIRED and OPTIONAL stand for the object's properties of that kind, and each
   * property has its value or its Error.
   */
  readPropertyReferences(
    id: BACNetObjectID,
    properties: readonly { id: number; index: number }[],
  ): { property: { id: number; index: number }; value: unknown[] }[] {
    const values: { property: { id: number; index: number }; value: unknown[] }[] = [];
    for (const property of properties) {
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
          values.push({
            property: { id: p, index: ASN1_ARRAY_ALL },
            value: 'error' in r ? [{ value: { type: 'BacnetError', errorClass: r.error[0], errorCode: r.error[1] } }] : r.values,
          });
        }
        continue;
      }
      const r = this.readProperty(id, property.id, property.index);
      values.push({ property, value: 'error' in r ? [{ value: { type: 'BacnetError', errorClass: r.error[0], errorCode: r.error[1] } }] : r.values });
    }
    return values;
  }

  private arrayProperty(id: BACNetObjectID, property: number): BACNetAppData[] | undefined {
    if (id.type === ObjectType.DEVICE && property === P.OBJECT_LIST) return this.order.map((o) => ({ type: ApplicationTag.OBJECTIDENTIFIER, value: { ...o } }));
    const object = this.objects.get(key(id.type, id.instance));
    if (!object) return undefined;
    if (property === P.STATE_TEXT) return (object.spec.stateText ?? []).map((text) => ({ type: ApplicationTag.CHARACTER_STRING, value: text }));
    if (property === P.PRIORITY_ARRAY && object.priorityArray) {
      return object.priorityArray.map((v): BACNetAppData =>
        v === null ? { type: ApplicationTag.NULL, value: null } : this.presentValueData(object.spec.type, v),
      );
    }
    return undefined;
  }

  presentValueData(type: number, value: number): BACNetAppData {
    if (isAnalog(type)) return { type: ApplicationTag.REAL, value };
    if (isBinary(type)) return { type: ApplicationTag.ENUMERATED, value };
    if (type === ObjectType.INTEGER_VALUE) return { type: ApplicationTag.SIGNED_INTEGER, value };
    return { type: ApplicationTag.UNSIGNED_INTEGER, value };
  }

  private scalarProperty(id: BACNetObjectID, property: number): BACNetAppData {
    const o = this.device;
    if (id.type === ObjectType.DEVICE) {
      const services = [ServicesSupported.READ_PROPERTY, ServicesSupported.WRITE_PROPERTY, ServicesSupported.I_AM, ServicesSupported.WHO_IS];
      if (o.readPropertyMultiple) services.push(ServicesSupported.READ_PROPERTY_MULTIPLE);
      if (o.cov) services.push(ServicesSupported.SUBSCRIBE_COV);
      const text = (value: string): BACNetAppData => ({ type: ApplicationTag.CHARACTER_STRING, value });
      const unsigned = (value: number): BACNetAppData => ({ type: ApplicationTag.UNSIGNED_INTEGER, value });
      switch (property) {
        case P.OBJECT_IDENTIFIER:
          return { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: ObjectType.DEVICE, instance: o.deviceInstance } };
        case P.OBJECT_NAME:
          return text(o.deviceName);
        case P.OBJECT_TYPE:
          return { type: ApplicationTag.ENUMERATED, value: ObjectType.DEVICE };
        case P.SYSTEM_STATUS:
          return { type: ApplicationTag.ENUMERATED, value: 0 };
        case P.VENDOR_NAME:
          return text('CityPilot');
        case P.VENDOR_IDENTIFIER:
          return unsigned(o.vendorId);
        case P.MODEL_NAME:
          return text('Simulated Building Controller');
        case P.FIRMWARE_REVISION:
          return text('1.0');
        case P.APPLICATION_SOFTWARE_VERSION:
          return text('1.0');
        case P.PROTOCOL_VERSION:
          return unsigned(1);
        case P.PROTOCOL_REVISION:
          return unsigned(14);
        case P.PROTOCOL_SERVICES_SUPPORTED:
          return { type: ApplicationTag.BIT_STRING, value: new ServicesSupportedBitString(...services) };
        case P.PROTOCOL_OBJECT_TYPES_SUPPORTED:
          return { type: ApplicationTag.BIT_STRING, value: new ObjectTypesSupportedBitString(0, 1, 2, 3, 4, 5, 8, 13, 19) };
        case P.MAX_APDU_LENGTH_ACCEPTED:
          return unsigned(o.maxApdu);
        case P.SEGMENTATION_SUPPORTED:
          return { type: ApplicationTag.ENUMERATED, value: SEGMENTATION[o.segmentation] };
        case P.APDU_TIMEOUT:
          return unsigned(3000);
        case P.NUMBER_OF_APDU_RETRIES:
          return unsigned(3);
        case P.DATABASE_REVISION:
          return unsigned(this.device.databaseRevision);
        case P.DESCRIPTION:
          return text('Simulated building controller of CityPilot');
        case P.LOCATION:
          return text('Plant room');
      }
    }
    const object = this.object(id.type, id.instance);
    const spec = object.spec;
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return { type: ApplicationTag.OBJECTIDENTIFIER, value: { type: spec.type, instance: spec.instance } };
      case P.OBJECT_NAME:
        return { type: ApplicationTag.CHARACTER_STRING, value: spec.name };
      case P.OBJECT_TYPE:
        return { type: ApplicationTag.ENUMERATED, value: spec.type };
      case P.PRESENT_VALUE:
        return this.presentValueData(spec.type, object.presentValue);
      case P.DESCRIPTION:
        return { type: ApplicationTag.CHARACTER_STRING, value: spec.description };
      case P.STATUS_FLAGS:
        return { type: ApplicationTag.BIT_STRING, value: this.statusFlags(object) };
      case P.EVENT_STATE:
        return { type: ApplicationTag.ENUMERATED, value: object.reliability === Reliability.NO_FAULT_DETECTED ? 0 : 1 };
      case P.RELIABILITY:
        return { type: ApplicationTag.ENUMERATED, value: object.reliability };
      case P.OUT_OF_SERVICE:
        return { type: ApplicationTag.BOOLEAN, value: object.outOfService };
      case P.UNITS:
        return { type: ApplicationTag.ENUMERATED, value: spec.units ?? 95 };
      case P.COV_INCREMENT:
        return { type: ApplicationTag.REAL, value: object.covIncrement };
      case P.POLARITY:
        return { type: ApplicationTag.ENUMERATED, value: 0 };
      case P.NUMBER_OF_STATES:
        return { type: ApplicationTag.UNSIGNED_INTEGER, value: spec.stateText?.length ?? 0 };
      case P.RELINQUISH_DEFAULT:
        return this.presentValueData(spec.type, object.relinquishDefault ?? 0);
    }
    throw new Error(`no encoding for property ${property}`);
  }

  statusFlags(object: SimObject): StatusFlagsBitString {
    const flags: StatusFlags[] = [];
    if (object.inAlarm) flags.push(StatusFlags.IN_ALARM);
    // FAULT is true whenever reliability says something is wrong (clause 12.2.9).
    if (object.reliability !== Reliability.NO_FAULT_DETECTED) flags.push(StatusFlags.FAULT);
    if (object.overridden) flags.push(StatusFlags.OVERRIDDEN);
    if (object.outOfService) flags.push(StatusFlags.OUT_OF_SERVICE);
    return new StatusFlagsBitString(...flags);
  }

  flagsKey(object: SimObject): string {
    return `${object.inAlarm}${object.reliability !== Reliability.NO_FAULT_DETECTED}${object.overridden}${object.outOfService}`;
  }

  /** The present value of a commandable object: its highest priority command, else its relinquish default. */
  command(object: SimObject): void {
    const active = object.priorityArray?.find((v) => v !== null);
    object.presentValue = active ?? object.relinquishDefault ?? object.presentValue;
  }
}
