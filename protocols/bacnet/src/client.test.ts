import { EngineeringUnits, ObjectType, PropertyIdentifier, Reliability } from '@bacnet-js/client';
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { BacnetClient } from './client.js';
import type { BacnetClientOptions, CovNotification } from './client-types.js';
import { BacnetAbortError, BacnetProtocolError, BacnetRejectError, BacnetServiceError, BacnetSocketError, BacnetTimeoutError } from './errors.js';
import { planReadPropertyMultiple } from './planner.js';
import { BacnetSimulator, type BacnetSimulatorOptions } from './simulator.js';
import { waitUntil } from './testing/index.js';

const P = PropertyIdentifier;
const AI = ObjectType.ANALOG_INPUT;
// Values move only at each tick: an hour between ticks keeps them still while a test compares.
const STILL = { tickMs: 3_600_000 };

const open: { close(): void }[] = [];
const simulators: BacnetSimulator[] = [];

async function simulator(options: BacnetSimulatorOptions = {}): Promise<BacnetSimulator> {
  const sim = new BacnetSimulator({ ...STILL, ...options });
  simulators.push(sim);
  await sim.start();
  return sim;
}

async function client(options: BacnetClientOptions = {}): Promise<BacnetClient> {
  // Port 0: each client gets its own free port from the system.
  const c = new BacnetClient({ interface: '127.0.0.1', port: 0, timeoutMs: 2000, retries: 1, ...options });
  open.push(c);
  await c.open();
  return c;
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  for (const s of simulators.splice(0)) await s.stop();
});

describe('BACnet client: discovery', () => {
  it('finds a device by a directed Who-Is, with its max APDU and segmentation, within the instance limits asked', async () => {
    const sim = await simulator({ deviceInstance: 4321, maxApdu: 480, segmentation: 'both' });
    const c = await client();
    expect(await c.whoIs({ address: sim.address, waitMs: 300 })).toEqual([
      { address: sim.address, deviceInstance: 4321, maxApdu: 480, segmentation: 'both', vendorId: 0 },
    ]);
    expect(await c.whoIs({ address: sim.address, lowLimit: 4000, highLimit: 4400, waitMs: 300 })).toHaveLength(1);
    expect(await c.whoIs({ address: sim.address, lowLimit: 1, highLimit: 4320, waitMs: 300 })).toEqual([]);
    expect(sim.stats.whoIs).toBe(3);
  });

  it('finds a device by a broadcast Who-Is on loopback when the device listens on 0.0.0.0', async () => {
    // Measured: a socket bound to 127.0.0.1 receives no broadcast; one bound to 0.0.0.0 receives
    // those sent to 127.255.255.255. Every test device has its own port, so the broadcast names it.
    const sim = await simulator({ interface: '0.0.0.0', deviceInstance: 77 });
    const port = sim.address.split(':')[1];
    const c = await client({ broadcastAddress: `127.255.255.255:${port}` });
    const found = await c.whoIs({ waitMs: 500 });
    expect(found.map((d) => d.deviceInstance)).toEqual([77]);
    expect(found[0]!.address).toMatch(new RegExp(`:${port}$`));
  });

  it("reads the Device object, the object list and each object's name, description and units", async () => {
    const sim = await simulator({ deviceInstance: 99, maxApdu: 1476 });
    const c = await client();
    const device = { address: sim.address };
    const info = await c.readDeviceInfo(device);
    expect(info).toMatchObject({
      deviceInstance: 99,
      maxApdu: 1476,
      segmentation: 'none',
      supportsReadPropertyMultiple: true,
      supportsCov: true,
      supportsWriteProperty: true,
      vendorName: 'CityPilot',
    });
    const objects = await c.readObjectList(device);
    expect(objects).toEqual(sim.objectList);
    const infos = await c.readObjectsInfo(device, objects);
    const supply = infos.find((o) => o.type === AI && o.instance === 1);
    expect(supply).toMatchObject({ name: 'AHU1 Supply Air Temperature', units: EngineeringUnits.DEGREES_CELSIUS, presentValueTag: 4 });
    expect(infos.find((o) => o.type === ObjectType.MULTI_STATE_VALUE)).toMatchObject({
      name: 'AHU1 Mode',
      stateText: ['Auto', 'Comfort', 'Economy', 'Off'],
      presentValueTag: 2,
    });
    expect(infos.find((o) => o.type === ObjectType.BINARY_INPUT)).toMatchObject({ name: 'AHU1 Fan Status', presentValueTag: 9 });
    expect(infos.find((o) => o.type === ObjectType.BINARY_INPUT)!.units).toBeUndefined();
  });

  it('reads an object list too long for one APDU element by element, from a device without segmentation', async () => {
    const sim = await simulator({ maxApdu: 128, segmentation: 'none', generatedAnalogInputs: 300 });
    const c = await client();
    const device = { address: sim.address };
    // Whole, the list does not fit: the device aborts, as the standard says.
    const whole = c.readProperty(device, { objectType: ObjectType.DEVICE, instance: sim.deviceInstance, property: P.OBJECT_LIST });
    await expect(whole).rejects.toBeInstanceOf(BacnetAbortError);
    await expect(whole).rejects.toMatchObject({ reason: 'segmentation-not-supported' });
    const objects = await c.readObjectList(device);
    expect(objects).toEqual(sim.objectList);
    expect(objects).toHaveLength(313);
    expect(sim.stats.largestApdu).toBeLessThanOrEqual(128);
  });
});

describe('BACnet client: reading points', () => {
  it.each([206, 480] as const)('splits 300 points into ReadPropertyMultiple requests that fit a max APDU of %i, every value right', async (maxApdu) => {
    const sim = await simulator({ maxApdu, generatedAnalogInputs: 300 });
    const c = await client();
    const device = { address: sim.address, maxRequestsInFlight: 2 };
    await c.readDeviceInfo(device);
    const points = Array.from({ length: 300 }, (_, i) => ({ objectType: AI, instance: 1000 + i }));
    for (const [i, p] of points.entries()) sim.set(AI, p.instance, 100 + i / 4);
    const before = sim.stats.requests.readPropertyMultiple ?? 0;
    const results = await c.readPoints(device, points);
    const requests = (sim.stats.requests.readPropertyMultiple ?? 0) - before;
    expect(results.map((r) => r.value)).toEqual(points.map((_, i) => 100 + i / 4));
    expect(results.every((r) => r.error === undefined)).toBe(true);
    expect(requests).toBe(
      planReadPropertyMultiple(
        points.map((p) => ({ ...p, property: P.PRESENT_VALUE })),
        { maxApdu },
      ).length,
    );
    // Ten points a request at 206 octets, twenty-five at 480 (16 octets each in the answer,
    // planned at 19), and none too long for the device.
    expect(requests).toBeLessThanOrEqual(maxApdu === 206 ? 30 : 12);
    expect(sim.stats.aborts).toBe(0);
    expect(sim.stats.largestApdu).toBeLessThanOrEqual(maxApdu);
    // No request said it accepts a segmented answer (the library's reassembly is not per transaction).
    expect(sim.stats.segmentedResponseAccepted).toBe(0);
  });

  it('reads status flags, reliability and out-of-service along with the value, for quality', async () => {
    const sim = await simulator();
    const c = await client();
    sim.setStatus(AI, 2, { reliability: Reliability.OPEN_LOOP });
    sim.setStatus(AI, 3, { outOfService: true });
    const [ok, fault, oos] = await c.readPoints(
      { address: sim.address },
      [1, 2, 3].map((instance) => ({ objectType: AI, instance, withStatus: true })),
    );
    expect(ok).toMatchObject({
      value: sim.get(AI, 1),
      statusFlags: { inAlarm: false, fault: false, overridden: false, outOfService: false },
      reliability: 0,
      outOfService: false,
    });
    expect(fault).toMatchObject({ statusFlags: { fault: true, outOfService: false }, reliability: Reliability.OPEN_LOOP });
    expect(oos).toMatchObject({ statusFlags: { fault: false, outOfService: true }, outOfService: true });
  });

  it('gives each point its own error for an unknown object or property, the others read', async () => {
    const sim = await simulator();
    const c = await client();
    const results = await c.readPoints({ address: sim.address }, [
      { objectType: AI, instance: 1 },
      { objectType: AI, instance: 999 },
      { objectType: ObjectType.BINARY_INPUT, instance: 1, property: P.UNITS },
      { objectType: AI, instance: 2 },
    ]);
    expect(results[0]!.value).toBe(sim.get(AI, 1));
    expect(results[1]!.error).toBeInstanceOf(BacnetServiceError);
    expect(results[1]!.error).toMatchObject({ errorClass: 'object', errorCode: 'unknown-object' });
    expect(results[2]!.error).toMatchObject({ errorClass: 'property', errorCode: 'unknown-property' });
    expect(results[3]!.value).toBe(sim.get(AI, 2));
    expect(sim.stats.requests.readPropertyMultiple).toBe(1);
  });

  it('reads with ReadProperty from a device without ReadPropertyMultiple, and falls back when forced to try it', async () => {
    const sim = await simulator({ readPropertyMultiple: false });
    const c = await client();
    const points = [1, 2, 3, 4].map((instance) => ({ objectType: AI, instance }));
    const auto = await c.readPoints({ address: sim.address }, points);
    expect(auto.map((r) => r.value)).toEqual(points.map((p) => sim.get(AI, p.instance)));
    expect(sim.stats.requests.readPropertyMultiple).toBeUndefined();

    const other = await client();
    const forced = await other.readPoints({ address: sim.address, readMethod: 'rpm', maxApdu: 480 }, points);
    expect(forced.map((r) => r.value)).toEqual(points.map((p) => sim.get(AI, p.instance)));
    // One try, rejected with unrecognized-service, then ReadProperty.
    expect(sim.stats.requests.readPropertyMultiple).toBe(1);
    await expect(other.readProperty({ address: sim.address }, { objectType: AI, instance: 1, property: P.PRESENT_VALUE })).resolves.toEqual([
      { tag: 4, value: sim.get(AI, 1) },
    ]);
  });

  it("a SubscribeCOV to a device without COV is a Reject error, with the standard's reason", async () => {
    const sim = await simulator({ readPropertyMultiple: false, cov: false });
    const c = await client();
    const subscribing = c.subscribeCov({ address: sim.address }, { type: AI, instance: 1 }, { lifetimeSeconds: 60, onNotification: () => undefined });
    await expect(subscribing).rejects.toBeInstanceOf(BacnetRejectError);
    await expect(subscribing).rejects.toMatchObject({ reason: 'unrecognized-service', code: 'BACNET_REJECT' });
  });

  it.each([1, 3])('never has more than %i requests in flight to a device', async (maxRequestsInFlight) => {
    const sim = await simulator({ readPropertyMultiple: false, responseDelayMs: 25 });
    const c = await client();
    const points = Array.from({ length: 24 }, (_, i) => ({ objectType: AI, instance: 1 + (i % 4) }));
    const results = await c.readPoints({ address: sim.address, readMethod: 'rp', maxRequestsInFlight }, points);
    expect(results.every((r) => r.error === undefined)).toBe(true);
    expect(sim.stats.requests.readProperty).toBe(24);
    expect(sim.stats.maxInFlight).toBe(maxRequestsInFlight);
  });

  it('reports a silent device as timeouts of its points, after the retries, without failing the read', async () => {
    const sim = await simulator();
    // The device's own timeout, shorter than the client's.
    const c = await client({ timeoutMs: 2000, retries: 2 });
    const device = { address: sim.address, readMethod: 'rpm' as const, maxApdu: 480, timeoutMs: 200 };
    sim.misbehave('silent');
    const results = await c.readPoints(device, [
      { objectType: AI, instance: 1 },
      { objectType: AI, instance: 2 },
    ]);
    for (const r of results) {
      expect(r.error).toBeInstanceOf(BacnetTimeoutError);
      expect(r.error!.message).toMatch(/no answer after 3 attempts of 200 ms/);
    }
    expect(sim.stats.requests.readPropertyMultiple).toBe(3);
    await expect(c.whoIs({ address: sim.address, waitMs: 200 })).resolves.toEqual([]);
    // Unknown yet, the device's abilities cannot be read either: each point says so, the read resolves.
    const unknown = await c.readPoints({ address: sim.address, timeoutMs: 200, retries: 0 }, [{ objectType: AI, instance: 1 }]);
    expect(unknown[0]!.error).toBeInstanceOf(BacnetTimeoutError);
    sim.misbehave('none');
    expect((await c.readPoints(device, [{ objectType: AI, instance: 1 }]))[0]!.value).toBe(sim.get(AI, 1));
  });

  it('survives malformed answers and answers for other requests, then reads again', async () => {
    const sim = await simulator();
    const c = await client({ timeoutMs: 200, retries: 0 });
    const device = { address: sim.address, readMethod: 'rpm' as const, maxApdu: 480 };
    sim.misbehave('malformed');
    const [garbled] = await c.readPoints(device, [{ objectType: AI, instance: 1 }]);
    expect(garbled!.error).toBeInstanceOf(BacnetProtocolError);
    await expect(c.readProperty(device, { objectType: AI, instance: 1, property: P.PRESENT_VALUE })).rejects.toBeInstanceOf(BacnetProtocolError);
    sim.misbehave('wrong-invoke-id');
    const [stray] = await c.readPoints(device, [{ objectType: AI, instance: 1 }]);
    expect(stray!.error).toBeInstanceOf(BacnetTimeoutError);
    sim.misbehave('none');
    const [fine] = await c.readPoints(device, [{ objectType: AI, instance: 1 }]);
    expect(fine!.value).toBe(sim.get(AI, 1));
  });

  it('drops datagrams it cannot decode, on both sides, and goes on answering', async () => {
    const sim = await simulator();
    const c = await client();
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const garbage = [
      '',
      'ff',
      '8100',
      '810a0004',
      '810a00ff0100',
      '810a0006 0100',
      '810a0007 0100 30',
      '810a0008 0100 3001',
      '810a0009 0100 30010c',
      '810a000c 0100 30010c 0c0000',
      '810a0007 0100 50',
      '810a000a 0100 500112 91',
      '810a0007 0100 60',
      '810a0007 0100 10',
      '810a0008 0100 1000',
      '810a000a 0100 1000 c402',
      '810a0008 0100 1002',
      '810a000b 0100 00050105 09',
      '810a0009 0100 000501',
      '810a0008 0100 4001',
      '810a0008 0100 f000',
      '810b0008 0120 ffff',
      '8104000a 7f000001 bac0',
      '8105000a 7f000001 bac0 00',
      '8100 0006 0000',
    ].map((hex) => Buffer.from(hex.replaceAll(' ', ''), 'hex'));
    try {
      for (const target of [sim.address, c.localAddress!]) {
        const [host, port] = target.split(':');
        for (const datagram of garbage) await new Promise<void>((resolve) => socket.send(datagram, Number(port), host, () => resolve()));
      }
    } finally {
      socket.close();
    }
    // Answers from a stranger for invoke ids the client is about to use are not taken for the device's.
    const [fine] = await c.readPoints({ address: sim.address, readMethod: 'rpm', maxApdu: 480 }, [{ objectType: AI, instance: 1 }]);
    expect(fine!.value).toBe(sim.get(AI, 1));
    expect(sim.stats.inFlight).toBe(0);
  });

  it('serves several devices on one socket', async () => {
    const a = await simulator({ deviceInstance: 1 });
    const b = await simulator({ deviceInstance: 2, readPropertyMultiple: false });
    a.set(AI, 1, 11);
    b.set(AI, 1, 22);
    const c = await client();
    const [ra, rb] = await Promise.all([
      c.readPoints({ address: a.address }, [{ objectType: AI, instance: 1 }]),
      c.readPoints({ address: b.address }, [{ objectType: AI, instance: 1 }]),
    ]);
    expect([ra[0]!.value, rb[0]!.value]).toEqual([11, 22]);
  });

  it('refuses a port already taken instead of sharing it silently', async () => {
    const first = await client();
    const port = Number(first.localAddress!.split(':')[1]);
    const second = new BacnetClient({ interface: '127.0.0.1', port });
    open.push(second);
    await expect(second.open()).rejects.toBeInstanceOf(BacnetSocketError);
    await expect(second.open()).rejects.toThrow(/EADDRINUSE/);
    const sim = new BacnetSimulator({ port, ...STILL });
    simulators.push(sim);
    await expect(sim.start()).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('BACnet client: COV', () => {
  it('subscribes, gets the current value, then changes beyond the COV increment and status changes', async () => {
    const sim = await simulator();
    const c = await client();
    const seen: CovNotification[] = [];
    sim.set(AI, 1, 20);
    const subscription = await c.subscribeCov(
      { address: sim.address },
      { type: AI, instance: 1 },
      { lifetimeSeconds: 300, onNotification: (n) => seen.push(n) },
    );
    await waitUntil('the first notification', () => seen.length === 1);
    expect(seen[0]).toMatchObject({ deviceInstance: 1234, object: { type: AI, instance: 1 }, presentValue: { tag: 4, value: 20 }, confirmed: false });
    expect(seen[0]!.timeRemaining).toBeGreaterThan(290);
    sim.set(AI, 1, 20.05); // below the increment of 0.1: no notification
    sim.set(AI, 1, 21);
    sim.setStatus(AI, 1, { reliability: Reliability.OVER_RANGE });
    await waitUntil('two more notifications', () => seen.length >= 3);
    expect(seen.map((n) => n.presentValue?.value)).toEqual([20, 21, 21]);
    expect(seen[2]!.statusFlags).toMatchObject({ fault: true });
    expect(sim.covSubscriptions).toMatchObject([{ processId: subscription.processId, confirmed: false, lifetime: 300 }]);
    await subscription.cancel();
    expect(sim.covSubscriptions).toEqual([]);
  });

  it('acknowledges confirmed notifications, so that the device sends each once', async () => {
    const sim = await simulator({ covAckTimeoutMs: 5000 });
    const c = await client();
    const seen: CovNotification[] = [];
    await c.subscribeCov(
      { address: sim.address },
      { type: ObjectType.BINARY_INPUT, instance: 1 },
      { confirmed: true, lifetimeSeconds: 60, onNotification: (n) => seen.push(n) },
    );
    sim.set(ObjectType.BINARY_INPUT, 1, 1);
    sim.set(ObjectType.BINARY_INPUT, 1, 0);
    await waitUntil('three notifications acknowledged', () => sim.stats.covAcks === 3);
    expect(seen.map((n) => [n.confirmed, n.presentValue?.value])).toEqual([
      [true, 0],
      [true, 1],
      [true, 0],
    ]);
    expect(sim.stats.covResends).toBe(0);
  });

  it('renews a subscription before its lifetime ends', async () => {
    // The device checks lifetimes at each tick.
    const sim = await simulator({ tickMs: 50 });
    const c = await client();
    const errors: Error[] = [];
    const subscription = await c.subscribeCov(
      { address: sim.address },
      { type: AI, instance: 4 },
      { lifetimeSeconds: 2, onNotification: () => undefined, onError: (e) => errors.push(e) },
    );
    // Renewed every second: after three renewals the first lifetime is long over, and the device still holds it.
    await waitUntil('three renewals', () => subscription.renewals >= 3, 20_000);
    expect(sim.covSubscriptions).toHaveLength(1);
    expect(sim.stats.covExpired).toBe(0);
    expect(sim.stats.requests.subscribeCov).toBeGreaterThanOrEqual(4);
    expect(errors).toEqual([]);
    await subscription.cancel();
  });

  it('the device drops a subscription that is not renewed', async () => {
    const sim = await simulator({ tickMs: 100 });
    const c = await client();
    const subscription = await c.subscribeCov({ address: sim.address }, { type: AI, instance: 4 }, { lifetimeSeconds: 1, onNotification: () => undefined });
    c.close(); // stops renewals
    await waitUntil('the subscription expired on the device', () => sim.covSubscriptions.length === 0, 20_000);
    expect(sim.stats.covExpired).toBe(1);
    expect(subscription.renewals).toBe(0);
  });
});

describe('BACnet client: writing', () => {
  it('writes at a priority, relinquishes, and the present value follows the priority array', async () => {
    const sim = await simulator();
    const c = await client();
    const device = { address: sim.address };
    const setpoint = { objectType: ObjectType.ANALOG_VALUE, instance: 1 };
    await c.writeProperty(device, setpoint, 22.5, { priority: 8 });
    await c.writeProperty(device, setpoint, 18, { priority: 16 });
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(22.5);
    await c.writeProperty(device, setpoint, null, { priority: 8 });
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(18);
    const array = await c.readProperty(device, { ...setpoint, property: P.PRIORITY_ARRAY });
    expect(array.map((v) => v.value)).toEqual([...new Array<null>(15).fill(null), 18]);
    await c.writeProperty(device, setpoint, null);
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(19); // the relinquish default
    await c.writeProperty(device, { objectType: ObjectType.BINARY_OUTPUT, instance: 1 }, true, { priority: 8 });
    expect(sim.get(ObjectType.BINARY_OUTPUT, 1)).toBe(1);
    await c.writeProperty(device, { objectType: ObjectType.MULTI_STATE_VALUE, instance: 1 }, 3, { priority: 12 });
    expect(sim.get(ObjectType.MULTI_STATE_VALUE, 1)).toBe(3);
  });

  it("refuses a priority outside 1..16, and reports the device's refusals", async () => {
    const sim = await simulator();
    const c = await client();
    const device = { address: sim.address };
    await expect(c.writeProperty(device, { objectType: ObjectType.ANALOG_VALUE, instance: 1 }, 20, { priority: 0 })).rejects.toThrow(RangeError);
    await expect(c.writeProperty(device, { objectType: AI, instance: 1 }, 20)).rejects.toMatchObject({ errorCode: 'write-access-denied' });
    await expect(c.writeProperty(device, { objectType: ObjectType.MULTI_STATE_VALUE, instance: 1 }, 9)).rejects.toMatchObject({
      errorCode: 'value-out-of-range',
    });
    await expect(c.writeProperty(device, { objectType: AI, instance: 77 }, 1)).rejects.toMatchObject({ errorClass: 'object', errorCode: 'unknown-object' });
    // An input out of service takes writes (clause 12.2.4).
    await c.writeProperty(device, { objectType: AI, instance: 1, property: P.OUT_OF_SERVICE }, true);
    await c.writeProperty(device, { objectType: AI, instance: 1 }, 42);
    expect(sim.get(AI, 1)).toBe(42);
  });
});

describe('BACnet client: foreign device', () => {
  it('registers with a BBMD and registers again before the time-to-live ends', async () => {
    const bbmd = await simulator({ bbmd: true });
    const c = await client();
    await c.registerForeignDevice(bbmd.address, 2);
    expect(bbmd.stats.foreignDeviceRegistrations).toBe(1);
    await waitUntil('registered again', () => bbmd.stats.foreignDeviceRegistrations >= 3, 20_000);
  });

  it('reports a BBMD that does not answer as a timeout', async () => {
    const silent = await simulator();
    const c = await client({ timeoutMs: 200, retries: 1 });
    await expect(c.registerForeignDevice(silent.address, 60)).rejects.toBeInstanceOf(BacnetTimeoutError);
  });
});
