import { EventEmitter } from 'node:events';
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { decode as decodeNpdu } from '@bacnet-js/client/dist/lib/npdu.js';

/** BACnet/IP's standard UDP port (0xBAC0). */
export const BACNET_PORT = 47808;

/** An APDU's first fields, read from a datagram without decoding the service. */
export interface PeekedApdu {
  /** PDU type, high nibble of the APDU's first octet (0x00 confirmed request … 0x70 abort). */
  pduType: number;
  /** Flags of the first octet (low nibble): segmented, more follows, … */
  flags: number;
  invokeId?: number;
  /** Service choice of confirmed and unconfirmed requests, simple and complex acks. */
  service?: number;
  /** Reject or abort reason. */
  reason?: number;
  /** Sequence number and window size of a segment ack. */
  sequenceNumber?: number;
  windowSize?: number;
  /** Max-APDU-length-accepted code (0..5) and max-segments code (0..7) of a confirmed request. */
  maxApduCode?: number;
  maxSegmentsCode?: number;
  /** Where the APDU starts in the datagram. */
  offset: number;
}

/**
 * Reads the BVLC and NPDU headers of a BACnet/IP datagram and the first fields of its APDU.
 * Undefined for anything that is not a BACnet/IP NPDU carrying an APDU (BVLC results, network
 * layer messages, garbage).
 */
export function peekApdu(buffer: Buffer): PeekedApdu | undefined {
  if (buffer.length < 6 || buffer[0] !== 0x81) return undefined;
  const func = buffer[1];
  // Original-Unicast-NPDU, Original-Broadcast-NPDU, Distribute-Broadcast-To-Network: 4 octets;
  // Forwarded-NPDU carries the original sender's B/IP address (6 more octets).
  const npduOffset = func === 0x0a || func === 0x0b || func === 0x09 ? 4 : func === 0x04 ? 10 : -1;
  if (npduOffset < 0 || buffer.length <= npduOffset + 2) return undefined;
  let npdu;
  try {
    npdu = decodeNpdu(buffer, npduOffset);
  } catch {
    return undefined;
  }
  if (!npdu || npdu.funct & 0x80) return undefined;
  const o = npduOffset + npdu.len;
  if (o >= buffer.length) return undefined;
  const first = buffer[o];
  const pduType = first & 0xf0;
  const flags = first & 0x0f;
  const at = (i: number) => (o + i < buffer.length ? buffer[o + i] : undefined);
  switch (pduType) {
    case 0x00: {
      const segmented = (flags & 0x08) !== 0;
      const octet1 = at(1) ?? 0;
      return { pduType, flags, offset: o, maxSegmentsCode: (octet1 >> 4) & 0x07, maxApduCode: octet1 & 0x0f, invokeId: at(2), service: at(segmented ? 5 : 3) };
    }
    case 0x10:
      return { pduType, flags, offset: o, service: at(1) };
    case 0x20:
      return { pduType, flags, offset: o, invokeId: at(1), service: at(2) };
    case 0x30:
      return { pduType, flags, offset: o, invokeId: at(1), service: at((flags & 0x08) !== 0 ? 4 : 2) };
    case 0x40:
      return { pduType, flags, offset: o, invokeId: at(1), sequenceNumber: at(2), windowSize: at(3) };
    case 0x50:
      return { pduType, flags, offset: o, invokeId: at(1), service: at(2) };
    case 0x60:
    case 0x70:
      return { pduType, flags, offset: o, invokeId: at(1), reason: at(2) };
    default:
      return { pduType, flags, offset: o };
  }
}

/**
 * A whole BACnet/IP datagram rejecting a confirmed request (clause 18.8): BVLC
 * Original-Unicast-NPDU, NPDU without routing, Reject PDU with the invoke id and reason.
 */
export function rejectDatagram(invokeId: number, reason: number): Buffer {
  return Buffer.from([0x81, 0x0a, 0x00, 0x09, 0x01, 0x00, 0x60, invokeId & 0xff, reason & 0xff]);
}

export interface UdpTransportOptions {
  /** Local IPv4 address to bind: 127.0.0.1 in tests, the building network's interface, or 0.0.0.0. */
  interface: string;
  /** Local UDP port; 0 lets the system choose a free one (read it from {@link UdpTransport.open}). */
  port: number;
  /** Where broadcasts go (Who-Is without an address): `ip`, sent to our own port, or `ip:port`. */
  broadcastAddress: string;
  /**
   * Sees each datagram before the library does, with its sender as `ip:port`; returning false
   * drops it. Never throws.
   */
  inspect?: (buffer: Buffer, from: string) => boolean;
  /** Sees each datagram sent, before it goes; returning false drops it (a device gone silent). */
  inspectOutgoing?: (buffer: Buffer, length: number, to: string) => boolean;
}

/**
 * The UDP socket under @bacnet-js/client, given to it as its `transport` option instead of its own,
 * because the library's own transport does not fit a gateway or a test:
 *
 * - it binds with SO_REUSEADDR on: a second client on a port already taken binds silently and
 *   steals part of the traffic. Here a taken port fails with EADDRINUSE.
 * - it turns port 0 into 47808, so tests cannot ask the system for a free port. Here 0 is 0.
 * - it names a sender on port 47808 by its IP alone, and then drops every request from
 *   "127.0.0.1" as its own. Here a sender is always `ip:port`, and only what this very socket
 *   sent comes back to be dropped (its own broadcasts).
 *
 * Loopback measurements (Linux, Node 20): a socket bound to 127.0.0.1 receives no broadcast at
 * all, neither to 127.255.255.255 nor to 255.255.255.255; a socket bound to 0.0.0.0 receives
 * both. So a Who-Is test over loopback either goes directed to the device's ip:port, or binds the
 * device to 0.0.0.0 and broadcasts to 127.255.255.255 on the device's port.
 */
export class UdpTransport extends EventEmitter {
  private socket: Socket | undefined;
  private bound: { address: string; port: number } | undefined;
  private readonly localAddresses = new Set<string>();
  private readonly settings: UdpTransportOptions;
  private openPromise: Promise<{ address: string; port: number }> | undefined;

  constructor(options: UdpTransportOptions) {
    super();
    this.settings = options;
  }

  /** The bound address and port, once {@link open} has resolved. */
  get address(): { address: string; port: number } | undefined {
    return this.bound;
  }

  /** Binds the socket; resolves with the bound address and port, rejects when the port is taken. Called by the library without waiting. */
  open(): Promise<{ address: string; port: number }> {
    this.openPromise ??= new Promise((resolve, reject) => {
      const socket = createSocket({ type: 'udp4', reuseAddr: false });
      this.socket = socket;
      const onBindError = (error: Error) => {
        this.socket = undefined;
        reject(error);
      };
      socket.once('error', onBindError);
      socket.on('message', (message, rinfo) => this.receive(message, rinfo.address, rinfo.port));
      socket.bind(this.settings.port, this.settings.interface, () => {
        socket.off('error', onBindError);
        socket.on('error', (error) => this.emit('error', error));
        socket.setBroadcast(true);
        const { address, port } = socket.address();
        this.bound = { address, port };
        for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4') this.localAddresses.add(i.address);
        this.emit('listening', this.bound);
        resolve(this.bound);
      });
    });
    // The library calls open() and ignores its result: keep an unhandled rejection from
    // crashing the process; whoever awaits open() gets the error.
    this.openPromise.catch(() => undefined);
    return this.openPromise;
  }

  private receive(message: Buffer, address: string, port: number): void {
    const bound = this.bound;
    // Our own broadcasts come back to us: drop them (anything from our own ip:port).
    if (bound && port === bound.port && (address === bound.address || (bound.address === '0.0.0.0' && this.localAddresses.has(address)))) return;
    const from = `${address}:${port}`;
    if (this.settings.inspect) {
      let keep = true;
      try {
        keep = this.settings.inspect(message, from);
      } catch {
        keep = true;
      }
      if (!keep) return;
    }
    try {
      this.emit('message', message, from);
    } catch (error) {
      // The library's decoders throw on some truncated datagrams (reads past the end of the
      // buffer); thrown from the socket's handler that would end the process. A datagram the
      // library cannot decode is dropped, as a lost one would be.
      this.emit('undecodable', message, from, error);
    }
  }

  getBroadcastAddress(): string {
    return this.settings.broadcastAddress;
  }

  /** The largest BVLL the library may build: a 1476-octet APDU with its NPDU and BVLC headers. */
  getMaxPayload(): number {
    return 1482 + 21;
  }

  /** Sends `length` octets of `buffer` to `receiver` (`ip` or `ip:port`), or broadcasts them without one. */
  send(buffer: Buffer, length: number, receiver?: string): void {
    const socket = this.socket;
    if (!socket || !this.bound) return;
    // BACnet/IP devices of a network share one port (47808), so a broadcast goes to our own port
    // unless the broadcast address names another one (tests: each simulated device has its own).
    const broadcast = this.settings.broadcastAddress;
    const to = receiver ?? (broadcast.includes(':') ? broadcast : `${broadcast}:${this.bound.port}`);
    if (this.settings.inspectOutgoing && !this.settings.inspectOutgoing(buffer, length, to)) return;
    const [host, portText] = to.split(':');
    const port = Number(portText) || BACNET_PORT;
    socket.send(buffer, 0, length, port, host, (error) => {
      // A send to an unreachable address is the same as a lost datagram for BACnet: the
      // request times out. Report it without crashing.
      if (error) this.emit('error', error);
    });
  }

  /** Sends a whole datagram built elsewhere (a Reject) to `ip:port`. */
  sendDatagram(datagram: Buffer, to: string): void {
    const [host, portText] = to.split(':');
    this.socket?.send(datagram, Number(portText) || BACNET_PORT, host, (error) => {
      if (error) this.emit('error', error);
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    try {
      socket.close(() => this.emit('close'));
    } catch {
      // already closed
    }
  }
}
