import modbusSerial from 'modbus-serial';

// modbus-serial is CommonJS; its class is both the module and its `default`.
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;
import { ModbusConnectionError, ModbusExceptionError, ModbusTimeoutError } from './errors.js';

export type RegisterTable = 'holding' | 'input';
export type BitTable = 'coil' | 'discrete';

export interface ModbusTcpClientOptions {
  host: string;
  /** Default 502. */
  port?: number;
  /** Time allowed for connecting and for each request, in milliseconds. */
  timeoutMs: number;
}

/**
 * A Modbus TCP client with one request in flight at a time (calls are queued, so callers may
 * share it freely). It connects on the first request and, after a connection failure or a
 * timeout, reconnects on the next one.
 */
export class ModbusTcpClient {
  /** The open connection; replaced by a new instance after every failure (see disconnect()). */
  private client: ModbusRTU | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ModbusTcpClientOptions) {}

  readRegisters(unitId: number, table: RegisterTable, address: number, count: number): Promise<number[]> {
    return this.request(unitId, async (c) => (table === 'holding' ? await c.readHoldingRegisters(address, count) : await c.readInputRegisters(address, count)).data);
  }

  readBits(unitId: number, table: BitTable, address: number, count: number): Promise<boolean[]> {
    return this.request(unitId, async (c) => {
      const result = table === 'coil' ? await c.readCoils(address, count) : await c.readDiscreteInputs(address, count);
      // Bits come in whole bytes: keep the ones asked for.
      return result.data.slice(0, count);
    });
  }

  async writeRegisters(unitId: number, address: number, values: number[]): Promise<void> {
    await this.request(unitId, (c) => c.writeRegisters(address, values));
  }

  async writeCoils(unitId: number, address: number, values: boolean[]): Promise<void> {
    await this.request(unitId, (c) => c.writeCoils(address, values));
  }

  /** Closes the connection; pending requests finish first. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.disconnect();
  }

  private request<T>(unitId: number, fn: (c: ModbusRTU) => Promise<T>): Promise<T> {
    const run = async () => {
      if (this.closed) throw new ModbusConnectionError('client closed');
      const client = await this.connect();
      client.setID(unitId);
      try {
        return await fn(client);
      } catch (error) {
        throw await this.translate(error);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async connect(): Promise<ModbusRTU> {
    if (this.client?.isOpen) return this.client;
    await this.disconnect();
    const { host, port = 502, timeoutMs } = this.options;
    const client = new ModbusRTU();
    // A broken socket surfaces here as well as in the pending request; the request reports it.
    client.on('error', () => undefined);
    this.client = client;
    try {
      await client.connectTCP(host, { port, timeout: timeoutMs });
    } catch (error) {
      await this.disconnect();
      const e = error as { errno?: string; message?: string };
      throw e.errno === 'ETIMEDOUT' || /timed? ?out/i.test(e.message ?? '')
        ? new ModbusTimeoutError(`no connection to ${host}:${port} within ${timeoutMs} ms`, { cause: error })
        : new ModbusConnectionError(`cannot connect to ${host}:${port}: ${e.message ?? e.errno}`, { cause: error });
    }
    client.setTimeout(timeoutMs);
    return client;
  }

  private async translate(error: unknown): Promise<Error> {
    const e = error as { modbusCode?: number; errno?: string; message?: string };
    if (typeof e.modbusCode === 'number') return new ModbusExceptionError(e.modbusCode, { cause: error });
    // Whatever else happened, the connection's state is unknown: start afresh next time.
    await this.disconnect();
    const { host, port = 502, timeoutMs } = this.options;
    if (e.errno === 'ETIMEDOUT' || /timed out/i.test(e.message ?? '')) {
      return new ModbusTimeoutError(`${host}:${port} did not answer within ${timeoutMs} ms`, { cause: error });
    }
    return new ModbusConnectionError(`${host}:${port}: ${e.message ?? e.errno ?? 'connection failed'}`, { cause: error });
  }

  /**
   * Drops the current connection. modbus-serial reports a closed socket as open for a moment
   * after close(), so a connection is never reused once it failed: the next request makes a new one.
   */
  private disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return Promise.resolve();
    return new Promise((resolve) => client.destroy(() => resolve()));
  }
}
