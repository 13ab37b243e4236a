import modbusSerial from 'modbus-serial';
import { ModbusConnectionError, ModbusError, ModbusExceptionError, ModbusProtocolError, ModbusTimeoutError } from './errors.js';
import { PROTOCOL_LIMITS, type BitTable, type RegisterTable } from './tables.js';

// modbus-serial is CommonJS; its client class is both the module and its `default`.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

/**
 * A link to Modbus devices: one TCP connection today, a serial line later. Addresses are
 * zero-based, as on the wire. Requests are served one at a time in call order, so callers may
 * share a client freely. Requests reject with a {@link ModbusError}, or a RangeError for
 * arguments outside the protocol's limits (nothing is sent then).
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
  /**
   * Lets the request in flight finish, refuses the ones not sent yet (and any later one), and
   * releases the connection.
   */
  close(): Promise<void>;
}

export interface ModbusTcpClientOptions {
  host: string;
  /** TCP port. Default 502. */
  port?: number;
  /**
   * Time allowed to open the connection, and then to each request for its answer, in
   * milliseconds (so a request that must connect first may take up to twice as long).
   */
  timeoutMs: number;
}

/**
 * A Modbus TCP client over one connection, with one request in flight at a time (an internal
 * queue: modbus-serial mixes up concurrent requests). It connects on the first request. After a
 * timeout or any failure other than an exception answer, it drops the connection (a half-open
 * connection is never noticed otherwise, and gateways often recover only on a new one) and
 * connects again on the next request. A connection broken while a request waits surfaces as that
 * request's timeout.
 */
export class ModbusTcpClient implements ModbusClient {
  private readonly link: ModbusRTU = new ModbusRTU();
  private readonly where: string;
  private queue: Promise<void> = Promise.resolve();
  /** Ours, not modbus-serial's `isOpen`, which stays true until a destroyed socket's close event. */
  private connected = false;
  private closed = false;

  constructor(private readonly options: ModbusTcpClientOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    this.where = `${options.host}:${options.port ?? 502}`;
    this.link.setTimeout(options.timeoutMs);
    // modbus-serial may also emit errors that the pending request reports: nothing to do here.
    this.link.on('error', () => undefined);
  }

  async readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<number[]> {
    checkRequest(unitId, address, count, PROTOCOL_LIMITS.readRegisters);
    return this.request(unitId, async (link) => {
      const { data } = table === 'holding' ? await link.readHoldingRegisters(address, count) : await link.readInputRegisters(address, count);
      if (data.length !== count) throw new ModbusProtocolError(`${this.where} unit ${unitId}: asked for ${count} registers, got ${data.length}`);
      return data;
    });
  }

  async readBits(unitId: number, table: BitTable, address: number, count: number): Promise<boolean[]> {
    checkRequest(unitId, address, count, PROTOCOL_LIMITS.readBits);
    return this.request(unitId, async (link) => {
      const { data } = table === 'coil' ? await link.readCoils(address, count) : await link.readDiscreteInputs(address, count);
      // Bits travel in whole bytes: the padding is not part of the answer.
      if (data.length < count) throw new ModbusProtocolError(`${this.where} unit ${unitId}: asked for ${count} bits, got ${data.length}`);
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

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.disconnect();
  }

  private request<T>(unitId: number, fn: (link: ModbusRTU) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new ModbusConnectionError(`${this.where}: the client is closed`);
      await this.connect();
      this.link.setID(unitId);
      try {
        return await fn(this.link);
      } catch (error) {
        throw await this.failure(error, unitId);
      }
    };
    const result = this.queue.then(run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async connect(): Promise<void> {
    // The device may have closed an idle connection since the last request.
    if (this.connected && this.link.isOpen) return;
    const { host, port = 502, timeoutMs } = this.options;
    try {
      await this.link.connectTCP(host, { port, timeout: timeoutMs });
      this.connected = true;
    } catch (error) {
      await this.disconnect();
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (/timed out/i.test(String(message))) throw new ModbusTimeoutError(`${this.where}: no connection within ${timeoutMs} ms`, { cause: error });
      throw new ModbusConnectionError(`${this.where}: cannot connect (${typeof code === 'string' ? code : String(message)})`, { cause: error });
    }
  }

  /** The typed error for a failed request; drops the connection unless the device answered. */
  private async failure(error: unknown, unitId: number): Promise<ModbusError> {
    const e = error as { modbusCode?: unknown; errno?: unknown; code?: unknown; name?: unknown; message?: unknown };
    if (typeof e.modbusCode === 'number') return new ModbusExceptionError(e.modbusCode, { cause: error });
    await this.disconnect();
    if (error instanceof ModbusError) return error;
    if (e.errno === 'ETIMEDOUT') return new ModbusTimeoutError(`${this.where} unit ${unitId}: no answer within ${this.options.timeoutMs} ms`, { cause: error });
    if (e.name === 'PortNotOpenError' || typeof e.code === 'string') {
      return new ModbusConnectionError(`${this.where}: connection lost (${typeof e.code === 'string' ? e.code : String(e.message)})`, { cause: error });
    }
    return new ModbusProtocolError(`${this.where} unit ${unitId}: invalid answer (${String(e.message)})`, { cause: error });
  }

  /** Closes the socket at once (no graceful end: a dead peer would never acknowledge it). */
  private disconnect(): Promise<void> {
    this.connected = false;
    return new Promise((resolve) => this.link.destroy(() => resolve()));
  }
}

function checkRequest(unitId: number, address: number, count: number, max: number): void {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) throw new RangeError(`unit id ${unitId} is outside 0..255`);
  if (!Number.isInteger(count) || count < 1 || count > max) throw new RangeError(`${count} values per request: expected 1..${max}`);
  if (!Number.isInteger(address) || address < 0 || address + count > 65536) throw new RangeError(`${count} values from address ${address} do not fit 0..65535`);
}
