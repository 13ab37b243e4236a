import modbusSerial from 'modbus-serial';
import { ModbusConnectionError, ModbusError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError } from './errors.js';
import { PROTOCOL_LIMITS, type BitTable, type RegisterTable } from './tables.js';

// modbus-serial is CommonJS; its client class is both the module and its `default`.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

/**
 * A client of Modbus devices over a link: a TCP connection or a serial line. Addresses are
 * zero-based, as on the wire. Requests are served one at a time in call order (across every
 * client of a shared link), so callers may share a client freely. Requests reject with a
 * {@link ModbusError}, or a RangeError for arguments outside the protocol's limits (nothing is
 * sent then).
 */
export interface ModbusClient {
  /** Reads 1..125 registers. */
  readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<number[]>;
  /** Reads 1..2000 bits. */
  readBits(unitId: number, table: BitTable, address: number, count: number): Promise<boolean[]>;
  /** Writes 1..123 holding registers (FC 16). */
  writeRegisters(unitId: number, address: number, values: readonly number[]): Promise<void>;
  /** Writes 1..1968 coils (FC 15). */
  writeCoils(unitId: number, address: number, values: readonly boolean[]): Promise<void>;
  /** Writes one holding register (FC 6), for devices that take single writes only. */
  writeRegister(unitId: number, address: number, value: number): Promise<void>;
  /** Writes one coil (FC 5). */
  writeCoil(unitId: number, address: number, value: boolean): Promise<void>;
  /**
   * Lets the request in flight finish, refuses the ones not sent yet (and any later one), and
   * releases the connection.
   */
  close(): Promise<void>;
}

/** Parity of a serial line. */
export type SerialParity = 'none' | 'even' | 'odd';

/** How the client reaches its devices. */
export type ModbusTransport =
  /** Modbus TCP (MBAP framing) to a device or a Modbus TCP gateway. */
  | { kind: 'tcp'; host: string; /** Default 502. */ port?: number }
  /**
   * RTU frames, CRC included, over a serial line: RS-485 through a USB adapter or a built-in
   * port. Defaults: 9600 baud, even parity (the Modbus RTU default), 8 data bits, 1 stop bit.
   */
  | { kind: 'rtu'; path: string; baudRate?: number; parity?: SerialParity; dataBits?: 7 | 8; stopBits?: 1 | 2 }
  /**
   * RTU frames over a raw TCP connection, as serial-to-Ethernet gateways in "transparent" or
   * "TCP server" mode pass them to their serial line. Default port 502 (many such gateways use
   * 4001 or 8899: check yours).
   */
  | { kind: 'rtu-over-tcp'; host: string; /** Default 502. */ port?: number };

export interface ModbusClientOptions {
  transport: ModbusTransport;
  /**
   * Time allowed to open the connection, and then to each request for its answer, in
   * milliseconds (so a request that must connect first may take up to twice as long).
   */
  timeoutMs: number;
  /** Times a request that timed out is sent again before it fails. Default 1. */
  retries?: number;
  /** Wait before the first retry, in milliseconds, doubled for each further one. Default 50. */
  retryBackoffMs?: number;
  /**
   * Silence kept on the link after each of this client's requests (answered or not) before the
   * next request on the link, in milliseconds: for slow devices and RS-485 turnaround. Default 0.
   */
  pauseMs?: number;
}

export interface ModbusTcpClientOptions {
  host: string;
  /** TCP port. Default 502. */
  port?: number;
  /** As {@link ModbusClientOptions.timeoutMs}. */
  timeoutMs: number;
  /** As {@link ModbusClientOptions.retries}. Default 1. */
  retries?: number;
  /** As {@link ModbusClientOptions.pauseMs}. Default 0. */
  pauseMs?: number;
}

/** A Modbus client of its own over one link: see {@link ModbusLinks} for links shared by several devices. */
export function createModbusClient(options: ModbusClientOptions): ModbusClient {
  const line = new ModbusLine(options.transport);
  return new LineClient(line, options, () => line.close());
}

/** `host:port`, or the serial port's path: how errors name a link. */
export function describeTransport(transport: ModbusTransport): string {
  return transport.kind === 'rtu' ? transport.path : `${transport.host}:${transport.port ?? 502}`;
}

/** A Modbus TCP client over a connection of its own: {@link createModbusClient} with a `tcp` transport. */
export class ModbusTcpClient implements ModbusClient {
  private readonly client: ModbusClient;

  constructor(options: ModbusTcpClientOptions) {
    const { host, port, ...rest } = options;
    this.client = createModbusClient({ transport: { kind: 'tcp', host, port }, ...rest });
  }

  readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<number[]> {
    return this.client.readRegisters(unitId, table, address, count);
  }

  readBits(unitId: number, table: BitTable, address: number, count: number): Promise<boolean[]> {
    return this.client.readBits(unitId, table, address, count);
  }

  writeRegisters(unitId: number, address: number, values: readonly number[]): Promise<void> {
    return this.client.writeRegisters(unitId, address, values);
  }

  writeCoils(unitId: number, address: number, values: readonly boolean[]): Promise<void> {
    return this.client.writeCoils(unitId, address, values);
  }

  writeRegister(unitId: number, address: number, value: number): Promise<void> {
    return this.client.writeRegister(unitId, address, value);
  }

  writeCoil(unitId: number, address: number, value: boolean): Promise<void> {
    return this.client.writeCoil(unitId, address, value);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * One device's view of a link: its own timeout, retries and pause, its requests queued on the
 * link with those of every other client of the same link. Internal: see {@link createModbusClient}.
 */
export class LineClient implements ModbusClient {
  private closed = false;
  /** This client's last request: close() waits for it. */
  private last: Promise<unknown> = Promise.resolve();

  /** @param release called once, by close(), after this client's last request */
  constructor(
    private readonly line: ModbusLine,
    private readonly options: ModbusClientOptions,
    private readonly release: () => Promise<void>,
  ) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    if (options.retries !== undefined && !(Number.isInteger(options.retries) && options.retries >= 0))
      throw new RangeError(`retries must be a whole number, got ${options.retries}`);
    if (options.pauseMs !== undefined && !(options.pauseMs >= 0)) throw new RangeError(`pauseMs must not be negative, got ${options.pauseMs}`);
  }

  async readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<number[]> {
    checkRequest(unitId, address, count, PROTOCOL_LIMITS.readRegisters);
    return this.request(unitId, async (link) => {
      const { data } = table === 'holding' ? await link.readHoldingRegisters(address, count) : await link.readInputRegisters(address, count);
      if (data.length !== count) throw new ModbusProtocolError(`${this.line.where} unit ${unitId}: asked for ${count} registers, got ${data.length}`);
      return data;
    });
  }

  async readBits(unitId: number, table: BitTable, address: number, count: number): Promise<boolean[]> {
    checkRequest(unitId, address, count, PROTOCOL_LIMITS.readBits);
    return this.request(unitId, async (link) => {
      const { data } = table === 'coil' ? await link.readCoils(address, count) : await link.readDiscreteInputs(address, count);
      // Bits travel in whole bytes: the padding is not part of the answer.
      if (data.length < count) throw new ModbusProtocolError(`${this.line.where} unit ${unitId}: asked for ${count} bits, got ${data.length}`);
      return data.slice(0, count);
    });
  }

  async writeRegisters(unitId: number, address: number, values: readonly number[]): Promise<void> {
    checkRequest(unitId, address, values.length, PROTOCOL_LIMITS.writeRegisters);
    for (const v of values) if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`register value ${v} is outside 0..65535`);
    await this.request(unitId, (link) => link.writeRegisters(address, [...values]));
  }

  async writeCoils(unitId: number, address: number, values: readonly boolean[]): Promise<void> {
    checkRequest(unitId, address, values.length, PROTOCOL_LIMITS.writeCoils);
    await this.request(unitId, (link) => link.writeCoils(address, [...values]));
  }

  async writeRegister(unitId: number, address: number, value: number): Promise<void> {
    checkRequest(unitId, address, 1, 1);
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`register value ${value} is outside 0..65535`);
    await this.request(unitId, (link) => link.writeRegister(address, value));
  }

  async writeCoil(unitId: number, address: number, value: boolean): Promise<void> {
    checkRequest(unitId, address, 1, 1);
    await this.request(unitId, (link) => link.writeCoil(address, value));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.last;
    await this.release();
  }

  /** Sends a request, and again after a timeout while retries remain, with a growing backoff. */
  private async request<T>(unitId: number, fn: (link: ModbusRTU) => Promise<T>): Promise<T> {
    const { timeoutMs, retries = 1, retryBackoffMs = 50, pauseMs = 0 } = this.options;
    for (let attempt = 0; ; attempt++) {
      const result = this.line.run(unitId, timeoutMs, pauseMs, () => this.closed, fn);
      this.last = result.catch(() => undefined);
      try {
        return await result;
      } catch (error) {
        if (!(error instanceof ModbusTimeoutError) || attempt >= retries || this.closed) throw error;
      }
      // The link is free meanwhile: other devices' requests go first.
      await new Promise((resolve) => setTimeout(resolve, retryBackoffMs * 2 ** attempt));
    }
  }
}

/**
 * One link to Modbus devices — a TCP connection or a serial port — with one request in flight at
 * a time (an internal queue: modbus-serial mixes up concurrent requests, and a serial line
 * carries one frame at a time anyway). It connects on the first request. After a failure other
 * than an exception answer it drops the connection (a half-open connection is never noticed
 * otherwise, and gateways often recover only on a new one) and connects again on the next
 * request; a serial port, though, stays open after a timeout, since one silent device on a line
 * must not disturb the others. A connection broken while a request waits surfaces as that
 * request's timeout. Not exported from the package: clients reach it through
 * {@link createModbusClient} and {@link ModbusLinks}.
 */
export class ModbusLine {
  readonly where: string;
  private readonly link: ModbusRTU = new ModbusRTU();
  private queue: Promise<void> = Promise.resolve();
  /** Ours, not modbus-serial's `isOpen`, which stays true until a destroyed socket's close event. */
  private connected = false;
  private closed = false;
  /** When the pause after the last request ends, in ms since the epoch. */
  private quietUntil = 0;

  /** @param after resolves once an earlier link to the same place is closed: a serial port opens once */
  constructor(
    readonly transport: ModbusTransport,
    private readonly after: Promise<void> = Promise.resolve(),
  ) {
    this.where = describeTransport(transport);
    // modbus-serial may also emit errors that the pending request reports: nothing to do here.
    this.link.on('error', () => undefined);
  }

  /**
   * Runs `fn` alone on the link, once the requests before it and their pauses are over.
   * @param isClosed true when the client that asked was closed meanwhile: the request is refused
   */
  run<T>(unitId: number, timeoutMs: number, pauseMs: number, isClosed: () => boolean, fn: (link: ModbusRTU) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed || isClosed()) throw new ModbusConnectionError(`${this.where}: the client is closed`);
      const wait = this.quietUntil - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        this.link.setTimeout(timeoutMs);
        await this.connect(timeoutMs);
        this.link.setID(unitId);
        this.discardStaleBytes();
        try {
          return await fn(this.link);
        } catch (error) {
          throw await this.failure(error, unitId, timeoutMs);
        }
      } finally {
        this.quietUntil = Date.now() + pauseMs;
      }
    };
    const result = this.queue.then(run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Lets the request in flight finish, refuses the ones not sent yet, and releases the link. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.disconnect();
  }

  private async connect(timeoutMs: number): Promise<void> {
    // The device may have closed an idle connection since the last request.
    if (this.connected && this.link.isOpen) return;
    await this.after;
    const t = this.transport;
    try {
      if (t.kind === 'tcp') await this.link.connectTCP(t.host, { port: t.port ?? 502, timeout: timeoutMs });
      // modbus-serial's "telnet" port is raw RTU over TCP; its connectTcpRTUBuffered speaks MBAP.
      else if (t.kind === 'rtu-over-tcp') await this.link.connectTelnet(t.host, { port: t.port ?? 502, timeout: timeoutMs });
      else
        await this.link.connectRTUBuffered(t.path, {
          baudRate: t.baudRate ?? 9600,
          parity: t.parity ?? 'even',
          dataBits: t.dataBits ?? 8,
          stopBits: t.stopBits ?? 1,
        });
      this.connected = true;
    } catch (error) {
      await this.disconnect();
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (/timed out/i.test(String(message))) throw new ModbusTimeoutError(`${this.where}: no connection within ${timeoutMs} ms`, { cause: error });
      const why = typeof code === 'string' ? code : String(message);
      throw new ModbusConnectionError(`${this.where}: ${t.kind === 'rtu' ? 'cannot open' : 'cannot connect'} (${why})`, { cause: error });
    }
  }

  /**
   * Drops bytes received since the last answer — a late answer to a request that timed out — so
   * that they are not taken for the start of the next one. modbus-serial's RTU ports keep them in
   * a private buffer and offer no way to clear it.
   */
  private discardStaleBytes(): void {
    if (this.transport.kind === 'tcp') return;
    const port = (this.link as unknown as { _port?: { _buffer?: unknown } })._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
  }

  /** The typed error for a failed request; drops the connection unless the device answered. */
  private async failure(error: unknown, unitId: number, timeoutMs: number): Promise<ModbusError> {
    const e = error as { modbusCode?: unknown; errno?: unknown; code?: unknown; name?: unknown; message?: unknown };
    if (typeof e.modbusCode === 'number') return new ModbusExceptionError(e.modbusCode, { cause: error });
    const timedOut = e.errno === 'ETIMEDOUT';
    if (!(timedOut && this.transport.kind === 'rtu')) await this.disconnect();
    if (error instanceof ModbusError) return error;
    if (timedOut) return new ModbusTimeoutError(`${this.where} unit ${unitId}: no answer within ${timeoutMs} ms`, { cause: error });
    if (e.name === 'PortNotOpenError' || typeof e.code === 'string') {
      return new ModbusConnectionError(`${this.where}: connection lost (${typeof e.code === 'string' ? e.code : String(e.message)})`, { cause: error });
    }
    return new ModbusProtocolError(`${this.where} unit ${unitId}: invalid answer (${String(e.message)})`, { cause: error });
  }

  /**
   * Closes the socket at once (no graceful end: a dead peer would never acknowledge it), or the
   * serial port (modbus-serial's destroy() leaves a serial port open).
   */
  private disconnect(): Promise<void> {
    this.connected = false;
    if (this.transport.kind === 'rtu') return new Promise((resolve) => this.link.close(() => resolve()));
    return new Promise((resolve) => this.link.destroy(() => resolve()));
  }
}

function checkRequest(unitId: number, address: number, count: number, max: number): void {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) throw new RangeError(`unit id ${unitId} is outside 0..255`);
  if (!Number.isInteger(count) || count < 1 || count > max) throw new RangeError(`${count} values per request: expected 1..${max}`);
  if (!Number.isInteger(address) || address < 0 || address + count > 65536) throw new RangeError(`${count} values from address ${address} do not fit 0..65535`);
}
