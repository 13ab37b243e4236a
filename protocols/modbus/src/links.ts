import { createModbusClient, describeTransport, LineClient, ModbusLine, type ModbusClient, type ModbusClientOptions, type ModbusTransport } from './client.js';

/** Two devices give different settings for one serial line (or serial gateway). */
export class ModbusLinkConflictError extends RangeError {
  /** The setting that differs: `baudRate`, `parity`, `dataBits` or `stopBits`. */
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
    this.name = 'ModbusLinkConflictError';
  }
}

const SERIAL_SETTINGS = ['baudRate', 'parity', 'dataBits', 'stopBits'] as const;
const SERIAL_DEFAULTS = { baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 } as const;

/**
 * The links of one owner (a plugin instance, a test), so that devices behind one serial line —
 * the same serial port, or the same serial-to-Ethernet gateway (`rtu-over-tcp` to one host and
 * port) — share one link with one request in flight across all of them, as the line carries one
 * frame at a time. Each {@link get} hands out a client of its own (its own timeout, retries and
 * pause); closing the last client of a link closes the link. Modbus TCP devices keep a connection
 * each, as before: TCP gateways serve several connections. Creating clients does no I/O.
 */
export class ModbusLinks {
  private readonly shared = new Map<string, { line: ModbusLine; users: number }>();
  /** Links being closed, by key: a new link to the same place opens only after. */
  private readonly closing = new Map<string, Promise<void>>();

  /**
   * A client for one device.
   * @throws ModbusLinkConflictError when the serial settings differ from those of a device
   *   already on the same serial port
   */
  get(options: ModbusClientOptions): ModbusClient {
    const key = linkKey(options.transport);
    if (key === undefined) return createModbusClient(options);
    let entry = this.shared.get(key);
    if (entry) {
      checkSameLine(entry.line.transport, options.transport);
    } else {
      entry = { line: new ModbusLine(options.transport, this.closing.get(key)), users: 0 };
      this.shared.set(key, entry);
    }
    const held = entry;
    held.users++;
    return new LineClient(held.line, options, () => {
      if (--held.users > 0) return Promise.resolve();
      // Forgotten at once, so that a client asked for meanwhile gets a new link, opened after.
      if (this.shared.get(key) === held) this.shared.delete(key);
      const closed = held.line.close();
      const done = closed.finally(() => {
        if (this.closing.get(key) === done) this.closing.delete(key);
      });
      this.closing.set(key, done);
      return closed;
    });
  }

  /** How many clients share each open link, by `describeTransport` name: for tests and status pages. */
  users(): Map<string, number> {
    return new Map([...this.shared.values()].map(({ line, users }) => [line.where, users]));
  }
}

/** What identifies a shared link; undefined for Modbus TCP, which is never shared. */
function linkKey(transport: ModbusTransport): string | undefined {
  if (transport.kind === 'tcp') return undefined;
  return `${transport.kind} ${describeTransport(transport)}`;
}

function checkSameLine(existing: ModbusTransport, wanted: ModbusTransport): void {
  if (existing.kind !== 'rtu' || wanted.kind !== 'rtu') return;
  for (const setting of SERIAL_SETTINGS) {
    const a = existing[setting] ?? SERIAL_DEFAULTS[setting];
    const b = wanted[setting] ?? SERIAL_DEFAULTS[setting];
    if (a !== b)
      throw new ModbusLinkConflictError(
        setting,
        `${wanted.path} is already used with ${setting} ${a} by another device: devices on one serial line share its settings`,
      );
  }
}
