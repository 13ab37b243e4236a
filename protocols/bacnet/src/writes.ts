// Writing a property at a priority: the value encoded as the object's present-value datatype
// unless the caller gives its application tag.
import { ApplicationTag, ObjectType, PropertyIdentifier, type BACNetAppData } from '@bacnet-js/client';
import { describe, normalizeAddress, type BacnetDevice, type TypedValue } from './client-types.js';
import type { RequestChannel } from './request-channel.js';

const P = PropertyIdentifier;

/**
 * Writes a property (present-value by default) at a priority (1 highest … 16 lowest; default
 * 16). `null` relinquishes the priority's slot (writes NULL). A number is encoded as the
 * object's present-value datatype (see {@link encodeValue}); pass a {@link TypedValue} to choose.
 */
export async function writeProperty(
  channel: RequestChannel,
  device: BacnetDevice,
  target: { objectType: number; instance: number; property?: number; arrayIndex?: number },
  value: number | boolean | string | null | TypedValue,
  options: { priority?: number } = {},
): Promise<void> {
  const priority = options.priority ?? 16;
  if (!Number.isInteger(priority) || priority < 1 || priority > 16) throw new RangeError(`priority ${priority} is outside 1..16`);
  const property = target.property ?? P.PRESENT_VALUE;
  const data = encodeValue(target.objectType, value);
  const what = `write ${describe({ ...target, property })} of ${device.address}`;
  await channel.request(device, what, (invokeId) =>
    channel.library.writeProperty({ address: normalizeAddress(device.address) }, { type: target.objectType, instance: target.instance }, property, [data], {
      invokeId,
      priority,
      arrayIndex: target.arrayIndex,
    }),
  );
}

/**
 * A value as the object's present-value datatype: REAL for analog objects, ENUMERATED for binary
 * ones, Unsigned for multi-state, positive-integer-value and accumulator objects, Signed for
 * integer-value, Double for large-analog-value; a {@link TypedValue} as its tag says.
 */
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
