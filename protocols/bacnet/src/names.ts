import { EngineeringUnits, ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { enumName } from './errors.js';

/** An object of a device: its type number (ASHRAE 135 clause 21, BACnetObjectType) and instance. */
export interface BacnetObjectId {
  type: number;
  instance: number;
}

/** The standard's name of an object type (`analog-input`); its number for proprietary types. */
export function objectTypeName(type: number): string {
  return enumName(ObjectType, type);
}

/**
 * The number of an object type given by its standard name (`analog-input`, `multi-state-value`)
 * or its number; undefined when unknown.
 */
export function objectTypeNumber(type: string | number): number | undefined {
  if (typeof type === 'number') return Number.isInteger(type) && type >= 0 && type <= 1023 ? type : undefined;
  const value = (ObjectType as unknown as Record<string, number | string>)[type.toUpperCase().replaceAll('-', '_')];
  return typeof value === 'number' ? value : undefined;
}

/** The standard's name of a property identifier (`present-value`); its number when unknown. */
export function propertyName(property: number): string {
  return enumName(PropertyIdentifier, property);
}

/** The number of a property given by its standard name (`present-value`) or its number. */
export function propertyNumber(property: string | number): number | undefined {
  if (typeof property === 'number') return Number.isInteger(property) && property >= 0 && property <= 4194303 ? property : undefined;
  const value = (PropertyIdentifier as unknown as Record<string, number | string>)[property.toUpperCase().replaceAll('-', '_')];
  return typeof value === 'number' ? value : undefined;
}

/** The standard's name of engineering units (`degrees-celsius`); the number for proprietary units. */
export function unitsName(units: number): string {
  return enumName(EngineeringUnits, units);
}

/** `analog-input:3`, for messages. */
export function formatObjectId(id: BacnetObjectId): string {
  return `${objectTypeName(id.type)}:${id.instance}`;
}
