// The client's requests, byte for byte, against ASHRAE 135's encodings, with a plain UDP socket
// playing the device and answering with datagrams built by hand: what the client sends and
// understands is the standard's, not only what the library's own decoder (the simulator's) takes.
import { createSocket, type Socket } from 'node:dgram';
import { ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import { afterEach, describe, expect, it } from 'vitest';
import { BacnetClient } from './client.js';
import { BacnetProtocolError } from './errors.js';
import { waitUntil } from './testing/index.js';

const P = PropertyIdentifier;
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface FakeDevice {
  address: string;
  received: { data: Buffer; from: string }[];
  answer(hex: string, to: string): void;
}

async function fakeDevice(): Promise<FakeDevice> {
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: false });
  const received: { data: Buffer; from: string }[] = [];
  socket.on('message', (data, rinfo) => received.push({ data, from: `${rinfo.address}:${rinfo.port}` }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    received,
    answer(hex, to) {
      const body = Buffer.from(hex.replaceAll(' ', ''), 'hex');
      const bvlc = Buffer.from([0x81, 0x0a, 0, 0]);
      bvlc.writeUInt16BE(body.length + 4, 2);
      const [host, port] = to.split(':');
      socket.send(Buffer.concat([bvlc, body]), Number(port), host);
    },
  };
}

async function client(): Promise<BacnetClient> {
  const c = new BacnetClient({ interface: '127.0.0.1', port: 0, timeoutMs: 3000, retries: 0 });
  cleanup.push(() => c.close());
  await c.open();
  return c;
}

/** The APDU of the n-th datagram received, as hex, with its invoke id (third octet of a confirmed request). */
function request(device: FakeDevice, n: number): { hex: string; invokeId: number; from: string } {
  const { data, from } = device.received[n]!;
  expect(data.subarray(0, 2).toString('hex')).toBe('810a'); // Original-Unicast-NPDU
  expect(data.readUInt16BE(2)).toBe(data.length);
  expect(data.subarray(4, 6).toString('hex')).toBe('0104'); // NPDU version 1, expecting reply
  return { hex: data.subarray(6).toString('hex'), invokeId: data[8]!, from };
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

describe('BACnet client on the wire', () => {
  it('sends ReadPropertyMultiple as the standard encodes it, without accepting segments, and decodes a hand-built answer with a per-property error', async () => {
    const device = await fakeDevice();
    const c = await client();
    const reading = c.readPoints({ address: device.address, readMethod: 'rpm', maxApdu: 480 }, [
      { objectType: ObjectType.ANALOG_INPUT, instance: 1, withStatus: false },
      { objectType: ObjectType.ANALOG_INPUT, instance: 1, property: P.STATUS_FLAGS },
      { objectType: ObjectType.BINARY_VALUE, instance: 3, property: P.OBJECT_NAME },
    ]);
    await waitUntil('the request', () => device.received.length === 1);
    const { hex, invokeId, from } = request(device, 0);
    // Confirmed request without SA, max segments unspecified, max APDU 1476 (code 5), service 14;
    // analog-input 1 { present-value (85), status-flags (111) }, binary-value 3 { object-name (77) }.
    expect(hex).toBe('0005' + hex2(invokeId) + '0e' + '0c00000001' + '1e' + '0955' + '096f' + '1f' + '0c01400003' + '1e' + '094d' + '1f');
    // Complex-ACK: present-value REAL 21.5, status-flags {fault}, and for the name an error
    // object/unknown-object (class 1, code 31).
    device.answer(
      '0100' +
        '30' +
        hex2(invokeId) +
        '0e' +
        '0c00000001' +
        '1e' +
        '2955' +
        '4e' +
        '4441ac0000' +
        '4f' +
        '296f' +
        '4e' +
        '820440' +
        '4f' +
        '1f' +
        '0c01400003' +
        '1e' +
        '294d' +
        '5e' +
        '9101' +
        '911f' +
        '5f' +
        '1f',
      from,
    );
    const [pv, flags, name] = await reading;
    expect(pv!.value).toBe(21.5);
    expect(flags!.values?.[0]?.value).toMatchObject({ bitsUsed: 4 });
    expect(name!.error).toMatchObject({ code: 'BACNET_ERROR', errorClass: 'object', errorCode: 'unknown-object' });
  });

  it('sends WriteProperty with a priority, NULL to relinquish, and takes the Simple-ACK', async () => {
    const device = await fakeDevice();
    const c = await client();
    const writing = c.writeProperty({ address: device.address }, { objectType: ObjectType.ANALOG_VALUE, instance: 1 }, 22.5, { priority: 8 });
    await waitUntil('the write', () => device.received.length === 1);
    let r = request(device, 0);
    // Service 15: analog-value 1 (0x00800001), present-value, value REAL 22.5 in tags 3, priority 8 in tag 4.
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '0f' + '0c00800001' + '1955' + '3e' + '4441b40000' + '3f' + '4908');
    device.answer('0100' + '20' + hex2(r.invokeId) + '0f', r.from);
    await writing;
    const relinquishing = c.writeProperty({ address: device.address }, { objectType: ObjectType.ANALOG_VALUE, instance: 1 }, null, { priority: 8 });
    await waitUntil('the relinquish', () => device.received.length === 2);
    r = request(device, 1);
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '0f' + '0c00800001' + '1955' + '3e' + '00' + '3f' + '4908');
    device.answer('0100' + '20' + hex2(r.invokeId) + '0f', r.from);
    await relinquishing;
  });

  it('sends SubscribeCOV with its process id, confirmation and lifetime, and acknowledges a hand-built confirmed notification', async () => {
    const device = await fakeDevice();
    const c = await client();
    const notifications: unknown[] = [];
    const subscribing = c.subscribeCov(
      { address: device.address },
      { type: ObjectType.ANALOG_INPUT, instance: 2 },
      { processId: 77, confirmed: true, lifetimeSeconds: 600, onNotification: (n) => notifications.push(n) },
    );
    await waitUntil('the subscription', () => device.received.length === 1);
    const r = request(device, 0);
    // Service 5: process 77, analog-input 2, confirmed TRUE, lifetime 600 (0x0258).
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '05' + '094d' + '1c00000002' + '2901' + '3a0258');
    device.answer('0100' + '20' + hex2(r.invokeId) + '05', r.from);
    const subscription = await subscribing;
    // ConfirmedCOVNotification (1), invoke id 0x33: process 77, device 1234, analog-input 2,
    // 598 s left, present-value REAL 20, status-flags all false.
    device.answer(
      '0104' +
        '0005' +
        '33' +
        '01' +
        '094d' +
        '1c020004d2' +
        '2c00000002' +
        '3a0256' +
        '4e' +
        '0955' +
        '2e' +
        '4441a00000' +
        '2f' +
        '096f' +
        '2e' +
        '820400' +
        '2f' +
        '4f',
      r.from,
    );
    await waitUntil('the acknowledgement', () => device.received.length === 2);
    // Simple-ACK (0x20) of invoke id 0x33, service 1; NPDU without expecting-reply.
    expect(device.received[1]!.data.toString('hex')).toBe('810a0009' + '0100' + '203301');
    expect(notifications).toEqual([
      expect.objectContaining({
        deviceInstance: 1234,
        object: { type: ObjectType.ANALOG_INPUT, instance: 2 },
        timeRemaining: 598,
        presentValue: { tag: 4, value: 20 },
        confirmed: true,
        statusFlags: { inAlarm: false, fault: false, overridden: false, outOfService: false },
      }),
    ]);
    expect(subscription.processId).toBe(77);
  });

  it("reads an array's length (index 0) with ReadProperty, which the library would drop from ReadPropertyMultiple", async () => {
    const device = await fakeDevice();
    const c = await client();
    const reading = c.readPoints({ address: device.address, readMethod: 'rpm', maxApdu: 480 }, [
      { objectType: ObjectType.ANALOG_VALUE, instance: 1, property: P.PRIORITY_ARRAY, arrayIndex: 0 },
    ]);
    await waitUntil('the request', () => device.received.length === 1);
    const r = request(device, 0);
    // ReadProperty (12): analog-value 1, priority-array (87), index 0 in tag 2.
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '0c' + '0c00800001' + '1957' + '2900');
    device.answer('0100' + '30' + hex2(r.invokeId) + '0c' + '0c00800001' + '1957' + '2900' + '3e' + '2110' + '3f', r.from);
    expect((await reading)[0]!.value).toBe(16);
  });

  it('reads again by ReadProperty a property that a partly decoded ReadPropertyMultiple answer left out', async () => {
    // As the BACnet Stack project's demo server answers: the present value of a
    // credential-data-input (type 37) is a BACnetAuthenticationFactor, which the library decodes
    // generically, running past its closing tag into the next object's object-name.
    const device = await fakeDevice();
    const c = await client();
    const reading = c.readPoints({ address: device.address, readMethod: 'rpm', maxApdu: 480 }, [
      { objectType: 37, instance: 0, property: P.PRESENT_VALUE },
      { objectType: 37, instance: 1, property: P.OBJECT_NAME },
    ]);
    await waitUntil('the request', () => device.received.length === 1);
    let r = request(device, 0);
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '0e' + '0c09400000' + '1e' + '0955' + '1f' + '0c09400001' + '1e' + '094d' + '1f');
    // present-value { format-type [0] 0, format-class [1] 0, value [2] '' }; object-name "CDI 1".
    device.answer(
      '0100' +
        '30' +
        hex2(r.invokeId) +
        '0e' +
        '0c09400000' +
        '1e' +
        '2955' +
        '4e' +
        '0900' +
        '1900' +
        '28' +
        '4f' +
        '1f' +
        '0c09400001' +
        '1e' +
        '294d' +
        '4e' +
        '7506' +
        '00' +
        Buffer.from('CDI 1').toString('hex') +
        '4f' +
        '1f',
      r.from,
    );
    await waitUntil('the ReadProperty of the name', () => device.received.length === 2);
    r = request(device, 1);
    expect(r.hex).toBe('0005' + hex2(r.invokeId) + '0c' + '0c09400001' + '194d');
    device.answer('0100' + '30' + hex2(r.invokeId) + '0c' + '0c09400001' + '194d' + '3e' + '7506' + '00' + Buffer.from('CDI 1').toString('hex') + '3f', r.from);
    const [, name] = await reading;
    expect(name).toMatchObject({ value: 'CDI 1' });
    expect(name!.error).toBeUndefined();
  });

  it('asks again point by point when a ReadPropertyMultiple answer cannot be decoded at all, so that only the point at fault fails', async () => {
    const device = await fakeDevice();
    const c = await client();
    const reading = c.readPoints({ address: device.address, readMethod: 'rpm', maxApdu: 480 }, [
      { objectType: ObjectType.ANALOG_INPUT, instance: 2 },
      { objectType: 37, instance: 0 },
    ]);
    // The credential-data-input's present value last in the answer: the library's generic decoder
    // runs past the end of the answer and gives nothing at all of it (as from the BACnet Stack
    // project's demo server). Analog-input 2 alone is answered as it should.
    const fine = '0c00000002' + '1e' + '2955' + '4e' + '4441b00000' + '4f' + '1f';
    const constructed = '0900' + '1900' + '28';
    const asked: string[] = [];
    let done = false;
    void reading.finally(() => (done = true));
    while (!done) {
      await waitUntil('a request or the end of the read', () => done || device.received.length > asked.length);
      if (done) break;
      const r = request(device, asked.length);
      asked.push(r.hex.slice(6));
      if (r.hex.slice(6, 8) === '0c') device.answer('0100' + '30' + hex2(r.invokeId) + '0c' + '0c09400000' + '1955' + '3e' + constructed + '3f', r.from);
      else
        device.answer(
          '0100' +
            '30' +
            hex2(r.invokeId) +
            '0e' +
            (r.hex.includes('0c00000002') ? fine : '') +
            (r.hex.includes('0c09400000') ? '0c09400000' + '1e' + '2955' + '4e' + constructed + '4f' + '1f' : ''),
          r.from,
        );
    }
    // The whole, each half, then the credential-data-input by ReadProperty.
    expect(asked).toEqual([
      '0e' + '0c00000002' + '1e' + '0955' + '1f' + '0c09400000' + '1e' + '0955' + '1f',
      '0e' + '0c00000002' + '1e' + '0955' + '1f',
      '0e' + '0c09400000' + '1e' + '0955' + '1f',
      '0c' + '0c09400000' + '1955',
    ]);
    const [analog, credential] = await reading;
    expect(analog).toMatchObject({ value: 22 });
    expect(analog!.error).toBeUndefined();
    expect(credential!.error).toBeInstanceOf(BacnetProtocolError);
  });

  it('rejects a confirmed request it does not serve, as the standard says', async () => {
    const device = await fakeDevice();
    const c = await client();
    // A ReadProperty (12), invoke id 0x21, sent to the client as if it were a device.
    device.answer('0104' + '000521' + '0c' + '0c00000001' + '1955', c.localAddress!);
    await waitUntil('the reject', () => device.received.length === 1);
    expect(device.received[0]!.data.toString('hex')).toBe('810a0009' + '0100' + '60' + '21' + '09');
  });

  it('tells a Reject from an Abort, which the library reports alike', async () => {
    const device = await fakeDevice();
    const c = await client();
    const target = { objectType: ObjectType.ANALOG_INPUT, instance: 1, property: P.PRESENT_VALUE };
    const rejected = c.readProperty({ address: device.address }, target);
    await waitUntil('the first request', () => device.received.length === 1);
    let r = request(device, 0);
    device.answer('0100' + '60' + hex2(r.invokeId) + '04', r.from); // Reject, invalid-tag
    await expect(rejected).rejects.toMatchObject({ code: 'BACNET_REJECT', reason: 'invalid-tag' });
    const aborted = c.readProperty({ address: device.address }, target);
    await waitUntil('the second request', () => device.received.length === 2);
    r = request(device, 1);
    device.answer('0100' + '71' + hex2(r.invokeId) + '04', r.from); // Abort from the server, segmentation-not-supported
    await expect(aborted).rejects.toMatchObject({ code: 'BACNET_ABORT', reason: 'segmentation-not-supported' });
  });
});
