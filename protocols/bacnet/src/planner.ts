import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';

/** One property to read: of which object, which property, and which array element (none: all of it). */
export interface PropertyRef {
  objectType: number;
  instance: number;
  property: number;
  arrayIndex?: number;
}

/** One ReadPropertyMultiple request of a plan: its read-access specifications and where each answer goes. */
export interface PlannedRequest {
  /** Objects in request order, each with its properties. */
  specs: { objectType: number; instance: number; properties: { property: number; arrayIndex?: number }[] }[];
  /** For each property of `specs`, flattened in order: the index of the reference it answers in the planned list. */
  refs: number[];
  /** Estimated length of the request's APDU, in octets. */
  requestSize: number;
  /** Conservative estimate of the answer's APDU length, in octets. */
  responseSize: number;
}

export interface PlanOptions {
  /** The device's max-APDU-length-accepted (from its I-Am or Device object), in octets. */
  maxApdu: number;
  /**
   * Expected length of character strings (object-name, description, state text), in characters.
   * Default 64. A name longer than this can make an answer overflow: the reader then splits
   * the request and asks again.
   */
  stringLength?: number;
}

/** Confirmed request header: PDU type, max segments/APDU, invoke id, service choice. */
const REQUEST_HEADER = 4;
/** Complex-ACK header: PDU type, invoke id, service choice. */
const ACK_HEADER = 3;
/** Context tag 0 with an object identifier (5), opening and closing tag 1 (2). */
const PER_OBJECT = 7;
/** Property identifier as a context tag: tag octet and up to 3 octets (ids up to 4194303). */
const PROPERTY_ID = 4;
/** Array index as a context tag: tag octet and up to 4 octets. */
const ARRAY_INDEX = 5;
/** Opening and closing tag around the value (4) or the error (5). */
const VALUE_TAGS = 2;
/** An error inside an answer: class and code as enumerated, each tag octet and up to 2 octets. */
const ERROR_VALUE = 6;

const P = PropertyIdentifier;
const STRING_PROPERTIES = new Set<number>([
  P.OBJECT_NAME,
  P.DESCRIPTION,
  P.VENDOR_NAME,
  P.MODEL_NAME,
  P.FIRMWARE_REVISION,
  P.APPLICATION_SOFTWARE_VERSION,
  P.LOCATION,
  P.INACTIVE_TEXT,
  P.ACTIVE_TEXT,
  P.PROFILE_NAME,
]);

/** An application-tagged character string: tag with extended length (up to 3 octets), charset octet, the characters (UTF-8: up to 3 octets each would be too pessimistic; names are mostly ASCII). */
const stringSize = (characters: number) => 3 + 1 + characters;

/**
 * Conservative length, in octets, of one encoded value of a property, tags included: the largest
 * the standard allows for its datatype, or a generous guess where the datatype is open
 * (present-value of an unknown object type, proprietary properties).
 */
export function estimateValueSize(objectType: number, property: number, arrayIndex: number | undefined, stringLength: number): number {
  if (STRING_PROPERTIES.has(property)) return stringSize(stringLength);
  switch (property) {
    case P.PRESENT_VALUE:
    case P.RELINQUISH_DEFAULT:
    case P.COV_INCREMENT:
      return presentValueSize(objectType, stringLength);
    case P.STATUS_FLAGS:
      return 3; // bit string of 4 bits: tag, unused-bits octet, one octet
    case P.OUT_OF_SERVICE:
      return 1;
    case P.EVENT_STATE:
    case P.RELIABILITY:
    case P.UNITS:
    case P.OBJECT_TYPE:
    case P.POLARITY:
    case P.SEGMENTATION_SUPPORTED:
    case P.SYSTEM_STATUS:
      return 3; // enumerated: tag and up to 2 octets (proprietary values up to 65535)
    case P.OBJECT_IDENTIFIER:
      return 5;
    case P.NUMBER_OF_STATES:
    case P.MAX_APDU_LENGTH_ACCEPTED:
    case P.VENDOR_IDENTIFIER:
    case P.PROTOCOL_VERSION:
    case P.PROTOCOL_REVISION:
    case P.DATABASE_REVISION:
    case P.APDU_TIMEOUT:
    case P.NUMBER_OF_APDU_RETRIES:
      return 5; // unsigned: tag and up to 4 octets
    case P.PROTOCOL_SERVICES_SUPPORTED:
    case P.PROTOCOL_OBJECT_TYPES_SUPPORTED:
      return 2 + 1 + 8; // bit strings of up to 64 bits with an extended length tag
    case P.OBJECT_LIST:
      return arrayIndex === 0 ? 5 : arrayIndex !== undefined ? 5 : Number.POSITIVE_INFINITY;
    case P.STATE_TEXT:
      return arrayIndex === 0 ? 5 : arrayIndex !== undefined ? stringSize(stringLength) : Number.POSITIVE_INFINITY;
    case P.PRIORITY_ARRAY:
      return arrayIndex === 0 ? 5 : arrayIndex !== undefined ? presentValueSize(objectType, stringLength) : 16 * presentValueSize(objectType, stringLength);
    default:
      // Unknown datatype: room for a double, a date-time, a short string.
      return 16;
  }
}

function presentValueSize(objectType: number, stringLength: number): number {
  switch (objectType) {
    case ObjectType.ANALOG_INPUT:
    case ObjectType.ANALOG_OUTPUT:
    case ObjectType.ANALOG_VALUE:
      return 5; // REAL
    case ObjectType.BINARY_INPUT:
    case ObjectType.BINARY_OUTPUT:
    case ObjectType.BINARY_VALUE:
      return 2; // enumerated 0/1
    case ObjectType.LARGE_ANALOG_VALUE:
      return 10; // Double: tag, extended length, 8 octets
    case ObjectType.CHARACTERSTRING_VALUE:
      return stringSize(stringLength);
    default:
      return 5; // unsigned or signed up to 32 bits (multi-state, integer values, accumulators)
  }
}

/** Estimated sizes of one property in a request and in its answer. */
function propertySizes(ref: PropertyRef, stringLength: number): { request: number; response: number } {
  const index = ref.arrayIndex !== undefined ? ARRAY_INDEX : 0;
  const value = estimateValueSize(ref.objectType, ref.property, ref.arrayIndex, stringLength);
  return { request: PROPERTY_ID + index, response: PROPERTY_ID + index + VALUE_TAGS + Math.max(value, ERROR_VALUE) };
}

/**
 * Splits reads into ReadPropertyMultiple requests so that each request and its expected answer fit
 * in one APDU of the device (no segmentation needed, whatever the device supports: the library
 * reassembles segmented answers in one buffer for all transactions at once, which two
 * simultaneous segmented answers would mix up). References to the same object that follow each
 * other share one read-access specification. A property whose answer alone may exceed the APDU
 * (a whole object-list) still gets a request of its own: its answer is the device's to refuse.
 */
export function planReadPropertyMultiple(refs: readonly PropertyRef[], options: PlanOptions): PlannedRequest[] {
  const stringLength = options.stringLength ?? 64;
  const limit = options.maxApdu;
  const requests: PlannedRequest[] = [];
  let current: PlannedRequest | undefined;
  refs.forEach((ref, i) => {
    const sizes = propertySizes(ref, stringLength);
    const last = current?.specs.at(-1);
    const sameObject = last !== undefined && last.objectType === ref.objectType && last.instance === ref.instance;
    const addRequest = (sameObject ? 0 : PER_OBJECT) + sizes.request;
    const addResponse = (sameObject ? 0 : PER_OBJECT) + sizes.response;
    if (!current || current.requestSize + addRequest > limit || current.responseSize + addResponse > limit) {
      current = { specs: [], refs: [], requestSize: REQUEST_HEADER, responseSize: ACK_HEADER };
      requests.push(current);
      current.specs.push({ objectType: ref.objectType, instance: ref.instance, properties: [] });
      current.requestSize += PER_OBJECT + sizes.request;
      current.responseSize += PER_OBJECT + sizes.response;
    } else {
      if (!sameObject) current.specs.push({ objectType: ref.objectType, instance: ref.instance, properties: [] });
      current.requestSize += addRequest;
      current.responseSize += addResponse;
    }
    current.specs.at(-1)!.properties.push({ property: ref.property, arrayIndex: ref.arrayIndex });
    current.refs.push(i);
  });
  return requests;
}
