// The BACnet client's request plumbing: the one UDP socket and the library client over it, our
// own invoke ids matched to the peer each request went to, the bound on requests in flight per
// device, retries after timeouts, and the library's plain error messages turned into typed
// errors. Discovery, reads, writes, COV and foreign-device registration send through it.
import { ConfirmedServiceChoice, RejectReason } from '@bacnet-js/client';
import { BacnetAbortError, BacnetError, BacnetProtocolError, BacnetRejectError, BacnetServiceError, BacnetSocketError, BacnetTimeoutError } from './errors.js';
import { LibraryClient } from './library.js';
import { normalizeAddress, type BacnetClientOptions, type BacnetDevice } from './client-types.js';
import { peekApdu, rejectDatagram, UdpTransport } from './transport.js';

/** A per-device bound on requests in flight: the rest wait their turn in order. */
class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  max = 1;

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/**
 * The socket and the transactions on it, shared by every device reached through one client.
 * The library's 'iAm' and COV notification events are for the modules that listen to them
 * ({@link library}); answers to our requests come back through {@link request}.
 */
export class RequestChannel {
  readonly transport: UdpTransport;
  readonly library: LibraryClient;
  readonly options: Required<BacnetClientOptions>;
  private readonly limiters = new Map<string, Limiter>();
  /** The peer (`ip:port`) each invoke id in use was sent to. */
  private readonly pendingPeers = new Map<number, string>();
  private nextInvokeId = 0;
  /** Reject or Abort received for an invoke id: the library reports both as "BacnetAbort". */
  private readonly naks = new Map<number, 'reject' | 'abort'>();
  private opened: Promise<{ address: string; port: number }> | undefined;
  private isClosed = false;

  constructor(options: BacnetClientOptions = {}) {
    this.options = {
      interface: options.interface ?? '0.0.0.0',
      port: options.port ?? 47808,
      broadcastAddress: options.broadcastAddress ?? '255.255.255.255',
      timeoutMs: options.timeoutMs ?? 3000,
      retries: options.retries ?? 1,
    };
    this.transport = new UdpTransport({
      interface: this.options.interface,
      port: this.options.port,
      broadcastAddress: this.options.broadcastAddress,
      inspectOutgoing: (buffer, length) => {
        // Tell devices we do not accept segmented answers (clause 20.1.2.4: SA bit clear, max
        // segments unspecified): the library reassembles segments in one store for all
        // transactions of the socket, so two segmented answers at once would be mixed into wrong
        // values. Reads are planned to fit one APDU; an answer that does not fit is aborted by the
        // device with segmentation-not-supported, and the request is split.
        const apdu = peekApdu(buffer.subarray(0, length));
        if (apdu && apdu.pduType === 0x00) {
          buffer[apdu.offset] = buffer[apdu.offset]! & ~0x02;
          buffer[apdu.offset + 1] = buffer[apdu.offset + 1]! & 0x0f;
        }
        return true;
      },
      inspect: (buffer, from) => {
        const apdu = peekApdu(buffer);
        if (!apdu || apdu.invokeId === undefined) return true;
        if (apdu.pduType === 0x00) {
          if (apdu.service === ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION) return true;
          // We serve nothing but COV notifications: others get the standard's Reject (the
          // library would answer an Error PDU of its own making).
          this.transport.sendDatagram(rejectDatagram(apdu.invokeId, RejectReason.UNRECOGNIZED_SERVICE), from);
          return false;
        }
        // An answer (ack, error, reject, abort, segment ack) belongs to the transaction of its
        // peer and invoke id (clause 5.4). The library matches invoke ids alone: drop an answer
        // from anyone but the device the request went to, or it could be taken for its answer.
        if (this.pendingPeers.get(apdu.invokeId) !== from) return false;
        if (apdu.pduType === 0x60 || apdu.pduType === 0x70) this.naks.set(apdu.invokeId, apdu.pduType === 0x60 ? 'reject' : 'abort');
        return true;
      },
    });
    this.library = new LibraryClient({ transport: this.transport, apduTimeout: this.options.timeoutMs });
    // Socket errors (a send to an unreachable host) come as 'error' events, which would
    // throw without a listener; the requests concerned time out.
    this.library.on('error', () => undefined);
    this.transport.on('error', () => undefined);
  }

  /** Binds the socket; resolves with the bound address and port. Rejects with {@link BacnetSocketError} when the port is taken. */
  async open(): Promise<{ address: string; port: number }> {
    this.opened ??= this.transport.open().catch((error: unknown) => {
      throw new BacnetSocketError(`cannot open the BACnet/IP socket on ${this.options.interface}:${this.options.port}: ${(error as Error).message}`, {
        cause: error,
      });
    });
    return this.opened;
  }

  /** The local `ip:port` once open. */
  get localAddress(): string | undefined {
    const a = this.transport.address;
    return a ? `${a.address}:${a.port}` : undefined;
  }

  /** True once {@link close}d: requests fail, renewals stop. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Closes the socket; pending requests fail. */
  close(): void {
    this.isClosed = true;
    this.library.close();
  }

  private limiter(device: BacnetDevice): Limiter {
    const address = normalizeAddress(device.address);
    let limiter = this.limiters.get(address);
    if (!limiter) this.limiters.set(address, (limiter = new Limiter()));
    limiter.max = Math.max(1, device.maxRequestsInFlight ?? 1);
    return limiter;
  }

  private allocateInvokeId(peer: string): number {
    // 1..255: the library replaces an invoke id of 0 by one of its own.
    for (let i = 0; i < 255; i++) {
      const id = ((this.nextInvokeId + i) % 255) + 1;
      if (!this.pendingPeers.has(id)) {
        this.nextInvokeId = id % 255;
        this.pendingPeers.set(id, peer);
        return id;
      }
    }
    throw new BacnetError('BACNET_BUSY', 'more than 255 requests in flight on one BACnet/IP socket');
  }

  /**
   * Sends a confirmed request through the device's in-flight bound, with our own invoke ids (the
   * library's counter would hand out an id still in use after 256 requests, and matching a Reject
   * to its request needs the id), again after each timeout, and turns the library's errors, which
   * are plain messages, into typed ones.
   *
   * The device's timeout is ours to keep (the library has one per socket, the client's
   * `timeoutMs`): an attempt given up keeps its invoke id reserved until the library gives it up
   * too, so that a late answer cannot be taken for the answer to a later request.
   */
  async request<T>(device: BacnetDevice, what: string, send: (invokeId: number) => Promise<T>): Promise<T> {
    if (this.isClosed) throw new BacnetSocketError(`${what}: the BACnet client is closed`);
    await this.open();
    const attempts = (device.retries ?? this.options.retries) + 1;
    const timeoutMs = Math.min(device.timeoutMs ?? this.options.timeoutMs, this.options.timeoutMs);
    return this.limiter(device).run(async () => {
      let last: unknown;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (this.isClosed) throw new BacnetSocketError(`${what}: the BACnet client is closed`);
        const invokeId = this.allocateInvokeId(normalizeAddress(device.address));
        this.naks.delete(invokeId);
        const sent = send(invokeId);
        sent.then(
          () => this.pendingPeers.delete(invokeId),
          () => this.pendingPeers.delete(invokeId),
        );
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), timeoutMs)));
        try {
          const outcome = await Promise.race([sent.then((value) => ({ value })), expired]);
          if (outcome === 'expired') {
            last = new Error('ERR_TIMEOUT');
            continue;
          }
          return outcome.value;
        } catch (error) {
          last = error;
          const message = (error as Error)?.message ?? String(error);
          if (message === 'ERR_TIMEOUT') continue;
          throw this.translate(what, invokeId, error);
        } finally {
          clearTimeout(timer);
        }
      }
      if (this.isClosed) throw new BacnetSocketError(`${what}: the BACnet client is closed`, { cause: last });
      throw new BacnetTimeoutError(`${what}: no answer after ${attempts} attempt${attempts > 1 ? 's' : ''} of ${timeoutMs} ms`, { cause: last });
    });
  }

  private translate(what: string, invokeId: number, error: unknown): BacnetError {
    const message = (error as Error)?.message ?? String(error);
    const serviceError = /BacnetError - Class:(\d+) - Code:(\d+)/.exec(message);
    if (serviceError) return new BacnetServiceError(what, Number(serviceError[1]), Number(serviceError[2]), { cause: error });
    const abort = /BacnetAbort - Reason:(\d+)/.exec(message);
    if (abort) {
      const kind = this.naks.get(invokeId);
      this.naks.delete(invokeId);
      return kind === 'reject'
        ? new BacnetRejectError(what, Number(abort[1]), { cause: error })
        : new BacnetAbortError(what, Number(abort[1]), { cause: error });
    }
    return new BacnetProtocolError(`${what}: the answer could not be decoded (${message})`, { cause: error });
  }
}
