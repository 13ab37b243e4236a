import { createSocket, type Socket } from 'node:dgram';
import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildingObjects } from './building.js';
import { BacnetClient } from './client.js';
import { LibraryClient } from './library.js';
import { BacnetSimulator, type BacnetSimulatorOptions } from './simulator.js';
import { waitUntil } from './testing/index.js';
import { UdpTransport } from './transport.js';

const P = PropertyIdentifier;
const AI = ObjectType.ANALOG_INPUT;
const ARRAY_ALL = 0xffffffff;
// Local times, so that the load curve (in the process's time zone) is the same everywhere.
const tuesday = (hour: number) => new Date(2026, 0, 6, hour).getTime();
// The caller's building: full load in office hours, a quarter at night; and repeatable noise.
const load = (time: number) => (new Date(time).getHours() >= 8 && new Date(time).getHours() < 18 ? 1 : 0.25);
const noise = (time: number, seed: number) => Math.sin(Math.floor(time / 1000) + seed);

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function simulator(options: BacnetSimulatorOptions = {}): Promise<BacnetSimulator> {
  const sim = new BacnetSimulator({ tickMs: 3_600_000, ...options });
  cleanup.push(() => sim.stop());
  await sim.start();
  return sim;
}

/** A plain UDP socket on its own port: datagrams built by hand, answers read as bytes. */
async function rawSocket(): Promise<{ socket: Socket; received: Buffer[]; send(hex: string, to: string): void }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: false });
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    socket,
    received,
    send(hex, to) {
      const [host, port] = to.split(':');
      socket.send(Buffer.from(hex.replaceAll(' ', ''), 'hex'), Number(port), host);
    },
  };
}

/** A library client on its own port, for requests our client does not make (ALL, REQUIRED, OPTIONAL). */
async function libraryClient(): Promise<InstanceType<typeof LibraryClient>> {
  const transport = new UdpTransport({ interface: '127.0.0.1', port: 0, broadcastAddress: '127.255.255.255' });
  const client = new LibraryClient({ transport, apduTimeout: 2000 });
  client.on('error', () => undefined);
  cleanup.push(() => client.close());
  await transport.open();
  return client;
}

const float = (value: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(value);
  return b.toString('hex');
};

describe('BACnet simulator: encodings of ASHRAE 135, byte for byte', () => {
  it('answers a Who-Is with an I-Am of its instance, max APDU, segmentation and vendor', async () => {
    const sim = await simulator({ deviceInstance: 1234, maxApdu: 1476, segmentation: 'none' });
    const raw = await rawSocket();
    // BVLC Original-Unicast-NPDU, NPDU version 1 no flags, unconfirmed request Who-Is (8).
    raw.send('810a0008 0100 1008', sim.address);
    await waitUntil('an I-Am', () => raw.received.length === 1);
    // I-Am (0): device 1234 (object identifier 0x020004d2), max APDU 1476 (unsigned, 2 octets),
    // segmentation no-segmentation (enumerated 3), vendor 0.
    expect(raw.received[0]!.toString('hex')).toBe('810a0014' + '0100' + '1000' + 'c4020004d2' + '2205c4' + '9103' + '2100');
  });

  it('answers a ReadProperty with a Complex-ACK, and a service it does not offer with a Reject', async () => {
    const sim = await simulator({ readPropertyMultiple: false });
    const raw = await rawSocket();
    // Confirmed request, max APDU 1476, invoke id 7, ReadProperty (12) of analog-input 1 present-value (85).
    raw.send('810a0011 0104 0005070c 0c00000001 1955', sim.address);
    await waitUntil('the answer', () => raw.received.length === 1);
    expect(raw.received[0]!.toString('hex')).toBe('810a0017' + '0100' + '30070c' + '0c00000001' + '1955' + '3e' + '44' + float(19) + '3f');
    // ReadPropertyMultiple (14), which this device does not execute: Reject, unrecognized-service (9).
    raw.send('810a0013 0104 0005080e 0c00000001 1e 0955 1f', sim.address);
    await waitUntil('the reject', () => raw.received.length === 2);
    expect(raw.received[1]!.toString('hex')).toBe('810a0009' + '0100' + '600809');
  });

  it('sends unconfirmed COV notifications with present-value and status-flags, without array indexes', async () => {
    const sim = await simulator();
    const raw = await rawSocket();
    // SubscribeCOV (5), invoke id 9: process 18, analog-input 1, unconfirmed, lifetime 60 s.
    raw.send('810a0015 0104 00050905 0912 1c00000001 2900 393c', sim.address);
    await waitUntil('the ack and the first notification', () => raw.received.length === 2);
    expect(raw.received[0]!.toString('hex')).toBe('810a0009' + '0100' + '200905');
    const notification = raw.received[1]!.toString('hex');
    // Unconfirmed COV notification (2): process 18, device 1234, analog-input 1, time remaining ~60 s,
    // then present-value REAL 19 and status-flags (4 bits, all false).
    expect(notification).toMatch(
      new RegExp(
        '^810a....' +
          '0100' +
          '1002' +
          '0912' +
          '1c020004d2' +
          '2c00000001' +
          '39(3c|3b)' +
          '4e' +
          '0955' +
          '2e44' +
          float(19) +
          '2f' +
          '096f' +
          '2e8204002f' +
          '4f$',
      ),
    );
  });
});

describe('BACnet simulator: behaviour', () => {
  it('answers ReadPropertyMultiple of ALL, REQUIRED and OPTIONAL, and the device by the wildcard instance', async () => {
    const sim = await simulator();
    const c = await libraryClient();
    const result = await c.readPropertyMultiple({ address: sim.address }, [
      { objectId: { type: AI, instance: 1 }, properties: [{ id: P.ALL, index: ARRAY_ALL }] },
      { objectId: { type: ObjectType.ANALOG_VALUE, instance: 1 }, properties: [{ id: P.REQUIRED, index: ARRAY_ALL }] },
      { objectId: { type: ObjectType.ANALOG_VALUE, instance: 1 }, properties: [{ id: P.OPTIONAL, index: ARRAY_ALL }] },
      { objectId: { type: ObjectType.DEVICE, instance: 4194303 }, properties: [{ id: P.OBJECT_IDENTIFIER, index: ARRAY_ALL }] },
      { objectId: { type: ObjectType.DEVICE, instance: sim.deviceInstance }, properties: [{ id: P.ALL, index: ARRAY_ALL }] },
    ]);
    const device = new Map(result.values[4]!.values.map((v) => [v.id, v.value]));
    expect(device.get(P.DEVICE_ADDRESS_BINDING)).toEqual([]);
    expect(device.get(P.MAX_APDU_LENGTH_ACCEPTED)?.[0]?.value).toBe(1476);
    expect(device.get(P.OBJECT_LIST)).toHaveLength(sim.objectList.length);
    const ids = result.values.map((o) => o.values.map((v) => v.id));
    expect(ids[0]).toEqual(
      expect.arrayContaining([P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.PRESENT_VALUE, P.STATUS_FLAGS, P.UNITS, P.DESCRIPTION, P.COV_INCREMENT]),
    );
    expect(ids[1]).toEqual(expect.arrayContaining([P.PRESENT_VALUE, P.STATUS_FLAGS, P.UNITS]));
    expect(ids[1]).not.toContain(P.PRIORITY_ARRAY);
    expect(ids[2]).toEqual(expect.arrayContaining([P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT, P.DESCRIPTION]));
    expect(ids[2]).not.toContain(P.PRESENT_VALUE);
    expect(result.values[3]!.values[0]!.value[0]!.value).toEqual({ type: ObjectType.DEVICE, instance: sim.deviceInstance });
    // The library itself says it accepts segmented answers (our client clears that bit).
    expect(sim.stats.segmentedResponseAccepted).toBe(1);
  });

  it('sends an answer longer than one APDU in segments to a requester that accepts them, if it segments', async () => {
    const sim = await simulator({ maxApdu: 206, segmentation: 'both', generatedAnalogInputs: 300 });
    const c = await libraryClient();
    const list = await c.readProperty({ address: sim.address }, { type: ObjectType.DEVICE, instance: sim.deviceInstance }, P.OBJECT_LIST);
    expect(list.values.map((v) => v.value)).toEqual(sim.objectList);
    // 313 identifiers of 5 octets in segments of at most 201 octets.
    expect(sim.stats.segmentedAnswers).toBe(1);
    expect(sim.stats.segmentsSent).toBe(Math.ceil((313 * 5 + 5 + 2 + 2) / 201));
    expect(sim.stats.largestApdu).toBeLessThanOrEqual(206);
    expect(sim.stats.largestApdu).toBeGreaterThan(200);

    const unsegmented = await simulator({ maxApdu: 206, segmentation: 'none', generatedAnalogInputs: 300 });
    await expect(
      c.readProperty({ address: unsegmented.address }, { type: ObjectType.DEVICE, instance: unsegmented.deviceInstance }, P.OBJECT_LIST),
    ).rejects.toThrow(/BacnetAbort - Reason:4/);
  });

  it('sends a confirmed COV notification again until the subscriber acknowledges it', async () => {
    const sim = await simulator({ covAckTimeoutMs: 200, covRetries: 5 });
    const c = await libraryClient();
    let seen = 0;
    c.on('covNotify', (content) => {
      seen++;
      // The third copy is acknowledged.
      if (seen === 3 && content.header?.sender && content.invokeId !== undefined) c.simpleAckResponse(content.header.sender, 1, content.invokeId);
    });
    await c.subscribeCov({ address: sim.address }, { type: AI, instance: 1 }, 5, false, true, 60);
    await waitUntil('acknowledged', () => sim.stats.covAcks === 1);
    expect(sim.stats.covResends).toBe(2);
    expect(seen).toBe(3);
  });

  it('without a load curve from its caller, runs the building at a steady full load without noise', () => {
    const find = (objects: ReturnType<typeof buildingObjects>, type: ObjectType, instance: number) =>
      objects.find((o) => o.type === type && o.instance === instance)!;
    const steady = buildingObjects();
    expect([tuesday(3), tuesday(11)].map((t) => find(steady, AI, 4).move!(30, t, 1000))).toEqual([120, 120]);
    expect(find(steady, ObjectType.BINARY_INPUT, 1).move!(0, tuesday(3), 1000)).toBe(1);
    const quiet = buildingObjects(0, { load: () => 0.25, noise: () => 0 });
    expect(find(quiet, AI, 4).move!(120, tuesday(11), 1000)).toBe(30);
    expect(find(quiet, ObjectType.BINARY_INPUT, 1).move!(1, tuesday(11), 1000)).toBe(0);
  });

  it('moves values with its clock, and keeps still while out of service', async () => {
    let now = tuesday(3);
    const sim = await simulator({ tickMs: 5, now: () => now, load, noise });
    await waitUntil('a tick at night', () => sim.get(ObjectType.BINARY_INPUT, 1) === 0 && sim.get(AI, 4) !== 30);
    const energy = sim.get(ObjectType.ANALOG_VALUE, 2);
    now = tuesday(4); // one hour at night: a quarter of 120 kW
    await waitUntil('the night hour counted', () => sim.get(ObjectType.ANALOG_VALUE, 2) >= energy + 30 - 1e-6);
    expect(sim.get(ObjectType.ANALOG_VALUE, 2)).toBeCloseTo(energy + 30, 6);
    sim.setStatus(AI, 4, { outOfService: true });
    sim.set(AI, 4, 1);
    now = tuesday(11);
    await waitUntil('the fan started', () => sim.get(ObjectType.BINARY_INPUT, 1) === 1);
    expect(sim.get(AI, 4)).toBe(1);
  });

  it('restarts on the same port with its values, and refuses what it does not have', async () => {
    const sim = new BacnetSimulator({ tickMs: 3_600_000 });
    cleanup.push(() => sim.stop());
    const first = await sim.start();
    sim.set(ObjectType.ANALOG_VALUE, 1, 23);
    await sim.stop();
    expect(() => sim.address).toThrow(/not started/);
    expect(await sim.start()).toEqual(first);
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(23);
    expect(() => sim.get(AI, 12345)).toThrow(/no object/);
    await expect(sim.start()).rejects.toThrow(/already started/);
    expect(() => new BacnetSimulator({ maxApdu: 300 as never })).toThrow(/maxApdu 300/);
  });
});

describe('a simulated restart', () => {
  it('forgets the subscriptions and the values, keeps its port, and broadcasts an I-Am when it starts again', async () => {
    const raw = await rawSocket();
    const listener = `127.0.0.1:${(raw.socket.address() as { port: number }).port}`;
    const sim = await simulator({
      broadcastAddress: listener,
      objects: [{ type: ObjectType.ANALOG_VALUE, instance: 1, name: 'SP', description: 'set-point', initial: 19, commandable: true }],
    });
    // The I-Am of its first start: BVLC Original-Broadcast-NPDU, unconfirmed request i-Am.
    await waitUntil('the I-Am of the start', () => raw.received.length === 1);
    expect(raw.received[0]!.subarray(0, 2).toString('hex')).toBe('810b');
    expect(raw.received[0]!.subarray(6, 8).toString('hex')).toBe('1000');
    const client = new BacnetClient({ interface: '127.0.0.1', port: 0, timeoutMs: 1000 });
    cleanup.push(() => client.close());
    const device = { address: sim.address };
    await client.subscribeCov(device, { type: ObjectType.ANALOG_VALUE, instance: 1 }, { lifetimeSeconds: 600, onNotification: () => undefined });
    await client.writeProperty(device, { objectType: ObjectType.ANALOG_VALUE, instance: 1 }, 23, { priority: 8 });
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(23);
    expect(sim.covSubscriptions).toHaveLength(1);

    await sim.restart({ values: [{ objectType: ObjectType.ANALOG_VALUE, instance: 1, value: 17 }], databaseRevision: 2 });
    expect(sim.address).toBe(device.address);
    expect(sim.covSubscriptions).toEqual([]);
    expect(sim.get(ObjectType.ANALOG_VALUE, 1)).toBe(17);
    expect(sim.priorityArray(ObjectType.ANALOG_VALUE, 1).every((v) => v === null)).toBe(true);
    await waitUntil('the I-Am of the restart', () => raw.received.length === 2);
    const [revision] = await client.readProperty(device, { objectType: ObjectType.DEVICE, instance: sim.deviceInstance, property: P.DATABASE_REVISION });
    expect(revision!.value).toBe(2);
  });
});
