/**
 * The BACnet/IP suite against a real device, or an independent BACnet stack, named in the
 * environment (the suite is skipped, saying so, without CITYPILOT_HW_BACNET):
 *   CITYPILOT_HW_BACNET=ip[:port]     the device (port 47808 when not given)
 *   CITYPILOT_HW_BACNET_DEVICE=instance       its Device object's instance, checked against its I-Am;
 *                                             read from the device when not given
 *   CITYPILOT_HW_BACNET_INTERFACE=0.0.0.0     local address our socket binds to
 *   CITYPILOT_HW_BACNET_LOCAL_PORT=47808            local UDP port (0: any free port)
 *   CITYPILOT_HW_BACNET_TIMEOUT=3000          time to wait for each answer, in ms
 * Example: CITYPILOT_HW_BACNET=192.0.2.20 CITYPILOT_HW_BACNET_DEVICE=1001 npm test
 *
 * Everything goes through @citypilot/protocol-bacnet, as the driver does: discovery (a directed
 * Who-Is, the Device object, the object list, objects' names and units), reads of a few present
 * values with their status by ReadPropertyMultiple and by ReadProperty, and one COV subscription
 * of 60 s, cancelled at the end. It writes nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  BacnetClient,
  BacnetServiceError,
  formatObjectId,
  normalizeAddress,
  objectTypeName,
  objectTypeNumber,
  unitsName,
  type BacnetDevice,
  type BacnetDeviceInfo,
  type BacnetObjectId,
  type CovNotification,
  type PointRead,
} from '@citypilot/protocol-bacnet';

const target = process.env.CITYPILOT_HW_BACNET;
const expectedInstance = process.env.CITYPILOT_HW_BACNET_DEVICE ? Number(process.env.CITYPILOT_HW_BACNET_DEVICE) : undefined;
const localInterface = process.env.CITYPILOT_HW_BACNET_INTERFACE ?? '0.0.0.0';
const localPort = Number(process.env.CITYPILOT_HW_BACNET_LOCAL_PORT ?? 47808);
const timeoutMs = Number(process.env.CITYPILOT_HW_BACNET_TIMEOUT ?? 3000);
const reason =
  'skipped: set CITYPILOT_HW_BACNET=ip[:port] (and optionally CITYPILOT_HW_BACNET_DEVICE=instance) to run against a real BACnet/IP device or an independent stack';
if (!target) console.log(`hardware-tests/bacnet: ${reason}`);
if (expectedInstance !== undefined && !(Number.isInteger(expectedInstance) && expectedInstance >= 0 && expectedInstance <= 4194302)) {
  throw new Error(`CITYPILOT_HW_BACNET_DEVICE=${process.env.CITYPILOT_HW_BACNET_DEVICE}: expected a device instance, a whole number in 0..4194302`);
}

/** Object types whose present value the driver reads, with the application tag the standard gives it (clause 12). */
const VALUE_TAGS: Record<string, number> = {
  'analog-input': 4, // REAL
  'analog-output': 4,
  'analog-value': 4,
  'binary-input': 9, // ENUMERATED (BACnetBinaryPV)
  'binary-output': 9,
  'binary-value': 9,
  'multi-state-input': 2, // Unsigned
  'multi-state-output': 2,
  'multi-state-value': 2,
};
const DEVICE = objectTypeNumber('device')!;
const ANALOG = new Set(['analog-input', 'analog-output', 'analog-value'].map((t) => objectTypeNumber(t)!));
/** Objects whose names and units are read: enough to exercise the decoding, bounded for a device of thousands read by ReadProperty. */
const DESCRIBED_OBJECTS = 200;
/** Present values read by each method. */
const READ_POINTS = 10;

// One client (one socket) for the whole suite, as a gateway has; what a test finds, the next uses.
let client: BacnetClient | undefined;
let device: BacnetDevice = { address: target ?? '', deviceInstance: expectedInstance, maxRequestsInFlight: 1 };
let info: Promise<BacnetDeviceInfo> | undefined;
let objects: Promise<BacnetObjectId[]> | undefined;

function bacnet(): BacnetClient {
  client ??= new BacnetClient({ interface: localInterface, port: localPort, timeoutMs, retries: 1 });
  return client;
}

function deviceInfo(): Promise<BacnetDeviceInfo> {
  info ??= bacnet()
    .readDeviceInfo(device)
    .then((found) => {
      // From now on every request names the instance, as the driver's device blocks do.
      device = { ...device, deviceInstance: found.deviceInstance };
      return found;
    });
  return info;
}

function objectList(): Promise<BacnetObjectId[]> {
  objects ??= deviceInfo().then(() => bacnet().readObjectList(device));
  return objects;
}

/** A few objects with a present value, of as many types as the device has, in object-list order. */
async function pointsToRead(): Promise<PointRead[]> {
  const candidates = (await objectList()).filter((o) => objectTypeName(o.type) in VALUE_TAGS);
  const byType = new Map<number, BacnetObjectId[]>();
  for (const o of candidates) byType.set(o.type, [...(byType.get(o.type) ?? []), o]);
  const picked: BacnetObjectId[] = [];
  // Round robin over the types, so that analog, binary and multi-state objects are all read.
  for (let round = 0; picked.length < READ_POINTS && picked.length < candidates.length; round++) {
    for (const list of byType.values()) if (list[round] && picked.length < READ_POINTS) picked.push(list[round]!);
  }
  return picked.map((o) => ({ objectType: o.type, instance: o.instance, withStatus: true }));
}

afterAll(() => client?.close());

describe(`BACnet/IP hardware${target ? `: device ${expectedInstance ?? '(instance read from it)'} at ${target}, from ${localInterface}:${localPort}` : ` (${reason})`}`, () => {
  it.skipIf(!target)('answers a directed Who-Is with an I-Am that says its instance, max APDU and segmentation', async () => {
    const found = await bacnet().whoIs({ address: target!, waitMs: Math.max(3000, timeoutMs) });
    expect(
      found,
      `no I-Am from ${normalizeAddress(target!)}: a device that answers with a broadcast I-Am is heard only by a socket bound to 0.0.0.0 ` +
        `on the port it broadcasts to (CITYPILOT_HW_BACNET_INTERFACE=0.0.0.0, CITYPILOT_HW_BACNET_LOCAL_PORT=47808)`,
    ).not.toEqual([]);
    const iAm = expectedInstance === undefined ? found[0]! : found.find((d) => d.deviceInstance === expectedInstance);
    expect(iAm, `I-Am received from instances ${found.map((d) => d.deviceInstance).join(', ')}, not ${expectedInstance}`).toBeDefined();
    console.log(`I-Am: ${JSON.stringify(iAm)}`);
    // BACnet/IP carries at most 1476 octets an APDU; 50 is the least any device accepts (clause 20.1.2.5).
    expect(iAm!.maxApdu).toBeGreaterThanOrEqual(50);
    expect(iAm!.maxApdu).toBeLessThanOrEqual(1476);
    expect(['both', 'transmit', 'receive', 'none']).toContain(iAm!.segmentation);
  });

  it.skipIf(!target)('reads its Device object: name, vendor, max APDU and the services it executes, ReadProperty among them', async () => {
    const found = await deviceInfo();
    console.log(`Device object: ${JSON.stringify(found)}`);
    if (expectedInstance !== undefined) expect(found.deviceInstance).toBe(expectedInstance);
    expect(found.maxApdu).toBeGreaterThanOrEqual(50);
    expect(typeof found.name, 'object-name of the Device object').toBe('string');
    expect(found.name!.length).toBeGreaterThan(0);
    // ReadProperty (DS-RP-B) is required of every standard device profile.
    expect(found.servicesSupported).toContain('read-property');
    expect(found.supportsReadPropertyMultiple).toBe(found.servicesSupported.includes('read-property-multiple'));
  });

  it.skipIf(!target)('reads its object list, with its own Device object once, and the names and units of its objects', async () => {
    const list = await objectList();
    const counts = new Map<string, number>();
    for (const o of list) counts.set(objectTypeName(o.type), (counts.get(objectTypeName(o.type)) ?? 0) + 1);
    console.log(`object-list: ${list.length} objects (${[...counts].map(([t, n]) => `${n} ${t}`).join(', ')})`);
    const { deviceInstance } = await deviceInfo();
    expect(list.filter((o) => o.type === DEVICE && o.instance === deviceInstance)).toHaveLength(1);
    const keys = list.map(formatObjectId);
    expect(new Set(keys).size, 'object identifiers repeated in the object list').toBe(keys.length);

    const described = list.slice(0, DESCRIBED_OBJECTS);
    const infos = await bacnet().readObjectsInfo(device, described);
    expect(infos).toHaveLength(described.length);
    for (const o of infos.slice(0, 15)) {
      console.log(
        `  ${formatObjectId(o)}: ${JSON.stringify(o.name)}${o.units !== undefined ? ` [${unitsName(o.units)}]` : ''}${o.presentValue !== undefined ? ` = ${JSON.stringify(o.presentValue)}` : ''}`,
      );
    }
    const unnamed = infos.filter((o) => o.error || typeof o.name !== 'string' || o.name.length === 0);
    expect(
      unnamed.map((o) => `${formatObjectId(o)}: ${o.error?.message ?? 'no name'}`),
      'objects without an object-name (required of every object)',
    ).toEqual([]);
    // Object names are unique within a device (the standard says so of every object's Object_Name), which is what lets EDE files and drafts name points by them.
    const names = infos.map((o) => o.name);
    expect(new Set(names).size, 'object names repeated within the device').toBe(names.length);
    // Units is a required property of analog inputs, outputs and values.
    const withoutUnits = infos.filter((o) => ANALOG.has(o.type) && typeof o.units !== 'number');
    expect(withoutUnits.map(formatObjectId), 'analog objects without units').toEqual([]);
  });

  it.skipIf(!target)('reads present values with their status flags by ReadPropertyMultiple, each of its standard datatype', async (ctx) => {
    const found = await deviceInfo();
    if (!found.supportsReadPropertyMultiple) ctx.skip(`the device does not execute ReadPropertyMultiple (services: ${found.servicesSupported.join(', ')})`);
    const points = await pointsToRead();
    if (points.length === 0) ctx.skip('the device has no analog, binary or multi-state object to read');
    const results = await bacnet().readPoints({ ...device, readMethod: 'rpm' }, points);
    points.forEach((p, i) => {
      const r = results[i]!;
      const name = formatObjectId({ type: p.objectType, instance: p.instance });
      console.log(`  RPM ${name} = ${JSON.stringify(r.value)} flags ${JSON.stringify(r.statusFlags)}${r.error ? ` error ${r.error.message}` : ''}`);
      expect(r.error, name).toBeUndefined();
      expect(r.values?.[0]?.tag, `${name}: application tag of the present value`).toBe(VALUE_TAGS[objectTypeName(p.objectType)]);
      expect(r.statusFlags, `${name}: status-flags (required of these objects)`).toBeDefined();
      expect(typeof r.outOfService, `${name}: out-of-service (required of these objects)`).toBe('boolean');
      expect(r.statusFlags!.outOfService, `${name}: the OUT_OF_SERVICE flag is the out-of-service property`).toBe(r.outOfService);
    });
  });

  it.skipIf(!target)('reads the same present values by ReadProperty, each with the datatype ReadPropertyMultiple gave', async () => {
    const points = await pointsToRead();
    expect(points.length, 'objects with a present value in the object list').toBeGreaterThan(0);
    const byRp = await bacnet().readPoints({ ...device, readMethod: 'rp' }, points);
    const supportsRpm = (await deviceInfo()).supportsReadPropertyMultiple;
    const byRpm = supportsRpm ? await bacnet().readPoints({ ...device, readMethod: 'rpm' }, points) : undefined;
    points.forEach((p, i) => {
      const r = byRp[i]!;
      const name = formatObjectId({ type: p.objectType, instance: p.instance });
      console.log(`  RP ${name} = ${JSON.stringify(r.value)} flags ${JSON.stringify(r.statusFlags)}${r.error ? ` error ${r.error.message}` : ''}`);
      expect(r.error, name).toBeUndefined();
      expect(r.values?.[0]?.tag, `${name}: application tag of the present value`).toBe(VALUE_TAGS[objectTypeName(p.objectType)]);
      expect(r.statusFlags, `${name}: status-flags`).toBeDefined();
      if (byRpm) expect(r.values?.[0]?.tag, `${name}: the same datatype by both services`).toBe(byRpm[i]!.values?.[0]?.tag);
    });
  });

  it.skipIf(!target)('takes a COV subscription to one of its objects, sends its current value at once, and takes the cancellation', async (ctx) => {
    const found = await deviceInfo();
    if (!found.supportsCov) ctx.skip(`the device does not execute SubscribeCOV (services: ${found.servicesSupported.join(', ')})`);
    const [point] = await pointsToRead();
    if (!point) ctx.skip('the device has no analog, binary or multi-state object to subscribe to');
    const object = { type: point!.objectType, instance: point!.instance };
    const notifications: CovNotification[] = [];
    // A short lifetime: the device drops the subscription by itself should the cancellation be lost.
    const subscription = await bacnet().subscribeCov(device, object, { lifetimeSeconds: 60, onNotification: (n) => notifications.push(n) });
    try {
      // The device notifies the current value once the subscription is taken (clause 13.14.1.3.1).
      const deadline = Date.now() + Math.max(5000, 2 * timeoutMs);
      while (notifications.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(notifications.length, `notifications of ${formatObjectId(object)} within ${Math.max(5000, 2 * timeoutMs)} ms of the subscription`).toBeGreaterThan(
        0,
      );
      const first = notifications[0]!;
      console.log(
        `  COV ${formatObjectId(object)}: ${JSON.stringify(first.presentValue)} flags ${JSON.stringify(first.statusFlags)}, ${first.timeRemaining} s left`,
      );
      expect(first.object).toEqual(object);
      expect(first.deviceInstance).toBe(found.deviceInstance);
      expect(first.presentValue?.tag, 'the present value in the notification').toBe(VALUE_TAGS[objectTypeName(object.type)]);
      expect(first.statusFlags, 'the status flags in the notification').toBeDefined();
      expect(first.timeRemaining).toBeLessThanOrEqual(60);
    } finally {
      await subscription.cancel();
    }
  });

  it.skipIf(!target)("answers a read of an object it does not have with that point's own error, the other points read", async () => {
    const points = (await pointsToRead()).slice(0, 1);
    expect(points.length, 'objects with a present value in the object list').toBeGreaterThan(0);
    const list = await objectList();
    const analogValue = objectTypeNumber('analog-value')!;
    // The highest instance an object may have, unless the device happens to use it.
    let missing = 4194302;
    while (list.some((o) => o.type === analogValue && o.instance === missing)) missing--;
    const results = await bacnet().readPoints(device, [...points, { objectType: analogValue, instance: missing }]);
    expect(results[0]!.error, 'the existing object').toBeUndefined();
    // unknown-object as the standard says; some devices answer unknown-property: both are that point's Error.
    expect(results[1]!.error, `${formatObjectId({ type: analogValue, instance: missing })}`).toBeInstanceOf(BacnetServiceError);
    console.log(`  missing object: ${results[1]!.error!.message}`);
  });
});
