import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { describe, expect, it } from 'vitest';
import { estimateValueSize, planReadPropertyMultiple, type PropertyRef } from './planner.js';

const P = PropertyIdentifier;
const analogInputs = (n: number, withStatus = false): PropertyRef[] =>
  Array.from({ length: n }, (_, i) => [
    { objectType: ObjectType.ANALOG_INPUT, instance: i, property: P.PRESENT_VALUE },
    ...(withStatus ? [{ objectType: ObjectType.ANALOG_INPUT, instance: i, property: P.STATUS_FLAGS }] : []),
  ]).flat();

describe('ReadPropertyMultiple planner', () => {
  it.each([50, 128, 206, 480, 1476])('keeps every request and its expected answer within a max APDU of %i octets', (maxApdu) => {
    const refs = analogInputs(300, true);
    const plan = planReadPropertyMultiple(refs, { maxApdu });
    for (const request of plan) {
      expect(request.requestSize).toBeLessThanOrEqual(maxApdu);
      expect(request.responseSize).toBeLessThanOrEqual(maxApdu);
    }
    // Every reference planned once, in order.
    expect(plan.flatMap((r) => r.refs)).toEqual(refs.map((_, i) => i));
    // Not wasteful: each request but the last could not take the next object.
    for (const request of plan.slice(0, -1)) expect(request.responseSize).toBeGreaterThan(maxApdu - 2 * (7 + 2 * (4 + 2 + 6)));
  });

  it('puts the properties of one object in one read-access specification', () => {
    const [request] = planReadPropertyMultiple(analogInputs(3, true), { maxApdu: 1476 });
    expect(request!.specs).toEqual(
      [0, 1, 2].map((instance) => ({
        objectType: ObjectType.ANALOG_INPUT,
        instance,
        properties: [{ property: P.PRESENT_VALUE }, { property: P.STATUS_FLAGS }],
      })),
    );
  });

  it('counts a whole object-list as too large for any APDU, and its elements as object identifiers', () => {
    expect(estimateValueSize(ObjectType.DEVICE, P.OBJECT_LIST, undefined, 64)).toBe(Number.POSITIVE_INFINITY);
    expect(estimateValueSize(ObjectType.DEVICE, P.OBJECT_LIST, 7, 64)).toBe(5);
    const plan = planReadPropertyMultiple([{ objectType: ObjectType.DEVICE, instance: 1, property: P.OBJECT_LIST }, ...analogInputs(2)], { maxApdu: 480 });
    expect(plan.map((r) => r.refs)).toEqual([[0], [1, 2]]);
  });

  it('allows for long names where strings are read', () => {
    const names = Array.from({ length: 20 }, (_, i): PropertyRef => ({ objectType: ObjectType.ANALOG_VALUE, instance: i, property: P.OBJECT_NAME }));
    const short = planReadPropertyMultiple(names, { maxApdu: 480, stringLength: 16 });
    const long = planReadPropertyMultiple(names, { maxApdu: 480, stringLength: 100 });
    expect(long.length).toBeGreaterThan(short.length);
  });
});
