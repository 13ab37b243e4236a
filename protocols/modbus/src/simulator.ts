import modbusSerial from 'modbus-serial';
import type { AddressInfo, Server, Socket } from 'node:net';
import { decodeRegisters, encodeValue, INTEGER_RANGES, registerCount, type DataType, type WordOrder } from './codec.js';
import { isBitTable, type Table } from './tables.js';

const { ServerTCP } = modbusSerial;
type ServerTCP = InstanceType<typeof ServerTCP>;

/**
 * How a simulated value moves. Values are in engineering units: the device holds value / scale.
 * Moving values follow the simulator's clock, updated every tick, and the building's load and
 * noise its caller gives ({@link SimulatedDeviceOptions.load}, {@link SimulatedDeviceOptions.noise}).
 */
export type SimulatedBehaviour =
  /** A fixed value; only writes change it. */
  | { kind: 'constant'; value: number | boolean | string }
  /**
   * A counter that starts at `startValue` and advances by `kWhPerHour` per hour at full load, in
   * its own engineering unit (kWh for an energy meter, m3 for a gas meter).
   */
  | { kind: 'meter'; startValue: number; kWhPerHour: number }
  /** A demand (power, flow): `peak` at full load, with ±5 % of noise. */
  | { kind: 'load'; peak: number }
  /** A temperature around `mean`, warmest at 15:00 and coolest at 03:00, with ±5 % of `dailyAmplitude` of noise. */
  | { kind: 'temperature'; mean: number; dailyAmplitude: number };

/** One value a simulated device holds. */
export interface SimulatedPoint {
  table: Table;
  /** First register (or bit), zero-based. */
  address: number;
  /** `bool` for coils and discrete inputs. */
  type: DataType;
  /** Default `ABCD`. */
  order?: WordOrder;
  /** String length in registers. */
  length?: number;
  /** The device holds value / scale (0.1 for a temperature in tenths of °C). Default 1. */
  scale?: number;
  behaviour: SimulatedBehaviour;
}

/** A simulated device's register map and clock, whatever line it answers on. */
export interface SimulatedDeviceOptions {
  points: readonly SimulatedPoint[];
  /** The clock, in milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * The building's load at a time (milliseconds since the epoch): the share of full load, 0..1,
   * that meters count at and demands follow. Default: a steady full load (1). The plugins' and
   * the demo's simulators pass the curve of a municipal building's week.
   */
  load?: (time: number) => number;
  /**
   * Noise in -1..1 for a time and a seed (the point's address), the same for the same arguments
   * so that runs with a fixed clock repeat. Default: none (0).
   */
  noise?: (time: number, seed: number) => number;
  /**
   * A register value (0..65535) to answer reads of every address no point covers with, in every
   * table (bits: on when not 0), as a device with a flat register map, or a gateway that answers
   * for anything, does. Writes there are still refused. Default: exception 2, as real devices.
   */
  fill?: number;
}

export interface ModbusSimulatorOptions extends SimulatedDeviceOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port chosen by the system, given by {@link ModbusSimulator.start}. */
  port?: number;
  /** Answer only this unit id (1..254); requests for others get no answer. Default: any. */
  unitId?: number;
  /** How often moving values are updated, in milliseconds. Default 1000. */
  tickMs?: number;
}

const FLOAT32_LIMITS = [-3.4028234663852886e38, 3.4028234663852886e38] as const;

/** A Modbus exception as modbus-serial's server expects it from a handler. */
const illegalAddress = () => ({ modbusErrorCode: 2, msg: 'illegal data address' });

/**
 * The register bank of one simulated device: its points fill and move it, and it answers
 * exception 2 (illegal data address) for any address no point covers, as real devices do. Clients
 * may write holding registers and coils; a written point keeps the value (a meter counts on from
 * it, a temperature is overwritten at the next tick). It does no I/O: a {@link ModbusSimulator}
 * serves one on TCP, a {@link ModbusRtuSimulator} several on a serial line.
 */
export class SimulatedDevice {
  private readonly banks: Record<Table, Map<number, number>> = { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map() };
  /** Which point covers each address. */
  private readonly owners: Record<Table, Map<number, SimulatedPoint>> = { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map() };
  /** Each point's value in engineering units, kept at full precision between ticks. */
  private readonly values = new Map<SimulatedPoint, number | boolean | string>();
  private readonly now: () => number;
  private readonly load: (time: number) => number;
  private readonly noise: (time: number, seed: number) => number;
  private lastTick: number;
  private silent = false;

  /** @throws RangeError for points that overlap, leave 0..65535, or do not fit their type, or a bad `fill` */
  constructor(private readonly options: SimulatedDeviceOptions) {
    if (options.fill !== undefined && !(Number.isInteger(options.fill) && options.fill >= 0 && options.fill <= 65535))
      throw new RangeError(`fill ${options.fill} is not a register value (0..65535)`);
    this.now = options.now ?? Date.now;
    this.load = options.load ?? (() => 1);
    this.noise = options.noise ?? (() => 0);
    this.lastTick = this.now();
    for (const p of options.points) {
      if (isBitTable(p.table) !== (p.type === 'bool')) throw new RangeError(`${p.table} ${p.address}: ${p.type} does not suit a ${p.table}`);
      const count = registerCount(p.type, p.length);
      for (let a = p.address; a < p.address + count; a++) {
        if (!Number.isInteger(a) || a < 0 || a > 65535) throw new RangeError(`${p.table} ${p.address}: ${p.type} leaves 0..65535`);
        if (this.owners[p.table].has(a)) throw new RangeError(`${p.table} ${a} belongs to two points`);
        this.owners[p.table].set(a, p);
      }
      const b = p.behaviour;
      this.values.set(p, b.kind === 'constant' ? b.value : b.kind === 'meter' ? b.startValue : 0);
      this.store(p);
    }
    this.tick();
  }

  /** While on, requests get no answer at all, as from a device that died or a cut cable. */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** True while {@link silence}d. */
  get silenced(): boolean {
    return this.silent;
  }

  /**
   * Writes a raw value (before scaling) at an address, as the device's own logic would; the
   * points whose registers it covers take their new values from them.
   * @throws RangeError when no point covers the registers, or the value does not fit `type`
   */
  set(table: Table, address: number, value: number | boolean | string, type: DataType, order: WordOrder = 'ABCD', length?: number): void {
    const words = isBitTable(table) ? [value ? 1 : 0] : encodeValue(value, type, order, length);
    if (!this.covers(table, address, words.length)) throw new RangeError(`no point covers ${table} ${address}..${address + words.length - 1}`);
    this.write(table, address, words);
  }

  /**
   * The raw value (before scaling) at an address, decoded as `type`.
   * @throws RangeError when no point covers the registers
   */
  get(table: Table, address: number, type: DataType, order: WordOrder = 'ABCD', length?: number): number | boolean | string {
    const count = isBitTable(table) ? 1 : registerCount(type, length);
    if (!this.covers(table, address, count)) throw new RangeError(`no point covers ${table} ${address}..${address + count - 1}`);
    const words = this.read(table, address, count);
    return isBitTable(table) ? words[0] === 1 : decodeRegisters(words, type, order, length);
  }

  /** Moves every moving value to the clock's time; the servers call it every `tickMs`. */
  tick(): void {
    const now = this.now();
    const hours = Math.max(0, now - this.lastTick) / 3_600_000;
    this.lastTick = now;
    const clock = new Date(now);
    const hour = clock.getHours() + clock.getMinutes() / 60;
    for (const p of this.options.points) {
      const b = p.behaviour;
      // Constants are stored once, by the constructor, and then only changed by writes.
      if (b.kind === 'constant') continue;
      if (b.kind === 'meter') this.values.set(p, (this.values.get(p) as number) + b.kWhPerHour * this.load(now) * hours);
      if (b.kind === 'load') this.values.set(p, b.peak * this.load(now) * (1 + 0.05 * this.noise(now, p.address)));
      if (b.kind === 'temperature') {
        const daily = Math.sin((2 * Math.PI * (hour - 9)) / 24);
        this.values.set(p, b.mean + b.dailyAmplitude * daily + 0.05 * b.dailyAmplitude * this.noise(now, p.address));
      }
      this.store(p);
    }
  }

  /**
   * Words (or bits, as 0 and 1) for a request.
   * @throws modbus-serial's exception 2 when no point covers them (and there is no `fill`)
   */
  read(table: Table, address: number, count: number): number[] {
    const { fill } = this.options;
    if (fill !== undefined) {
      if (address < 0 || address + count > 65536) throw illegalAddress();
      const word = isBitTable(table) ? (fill ? 1 : 0) : fill;
      return Array.from({ length: count }, (_, i) => this.banks[table].get(address + i) ?? word);
    }
    if (!this.covers(table, address, count)) throw illegalAddress();
    return Array.from({ length: count }, (_, i) => this.banks[table].get(address + i)!);
  }

  /**
   * Writes words and gives every point they touch its new value.
   * @throws modbus-serial's exception 2 when no point covers them
   */
  write(table: Table, address: number, words: readonly number[]): void {
    if (!this.covers(table, address, words.length)) throw illegalAddress();
    words.forEach((w, i) => this.banks[table].set(address + i, w));
    const touched = new Set(words.map((_, i) => this.owners[table].get(address + i)!));
    for (const p of touched) {
      const count = registerCount(p.type, p.length);
      const raw = isBitTable(table)
        ? this.banks[table].get(p.address) === 1
        : decodeRegisters(this.read(table, p.address, count), p.type, p.order ?? 'ABCD', p.length);
      this.values.set(p, typeof raw === 'number' ? raw * (p.scale ?? 1) : raw);
    }
  }

  /** Puts a point's value into the bank, rounded and clamped to what its type can hold. */
  private store(p: SimulatedPoint): void {
    const value = this.values.get(p)!;
    if (isBitTable(p.table)) {
      this.banks[p.table].set(p.address, value ? 1 : 0);
      return;
    }
    let raw = value;
    if (typeof value === 'number') {
      raw = value / (p.scale ?? 1);
      const limits = INTEGER_RANGES[p.type] ?? (p.type === 'float32' ? FLOAT32_LIMITS : undefined);
      if (limits) raw = Math.min(limits[1], Math.max(limits[0], p.type === 'float32' ? raw : Math.round(raw)));
    }
    encodeValue(raw, p.type, p.order ?? 'ABCD', p.length).forEach((w, i) => this.banks[p.table].set(p.address + i, w));
  }

  private covers(table: Table, address: number, count: number): boolean {
    for (let a = address; a < address + count; a++) if (!this.owners[table].has(a)) return false;
    return true;
  }
}

/**
 * modbus-serial's server handlers (for ServerTCP and ServerSerial alike) over the devices that
 * `deviceFor` finds by unit id. A request for a unit no device answers, or for a silenced device,
 * gets no answer: its handler's promises stay pending forever.
 */
export function simulatorVector(deviceFor: (unitId: number) => SimulatedDevice | undefined) {
  const never = <T>() => new Promise<T>(() => undefined);
  const answer = <T>(unitId: number, fn: (device: SimulatedDevice) => T): T | Promise<T> => {
    const device = deviceFor(unitId);
    return !device || device.silenced ? never<T>() : fn(device);
  };
  const many = (table: Table, address: number, length: number, unitId: number) => {
    const device = deviceFor(unitId);
    return !device || device.silenced ? Array.from({ length }, () => never<number>()) : device.read(table, address, length);
  };
  return {
    getCoil: (address: number, unitId: number) => answer(unitId, (d) => d.read('coil', address, 1)[0] === 1),
    getDiscreteInput: (address: number, unitId: number) => answer(unitId, (d) => d.read('discrete', address, 1)[0] === 1),
    getHoldingRegister: (address: number, unitId: number) => answer(unitId, (d) => d.read('holding', address, 1)[0]!),
    getInputRegister: (address: number, unitId: number) => answer(unitId, (d) => d.read('input', address, 1)[0]!),
    getMultipleHoldingRegisters: (address: number, length: number, unitId: number) => many('holding', address, length, unitId),
    getMultipleInputRegisters: (address: number, length: number, unitId: number) => many('input', address, length, unitId),
    setCoil: (address: number, value: boolean, unitId: number) => answer(unitId, (d) => d.write('coil', address, [value ? 1 : 0])),
    setRegister: (address: number, value: number, unitId: number) => answer(unitId, (d) => d.write('holding', address, [value])),
    setRegisterArray: (address: number, values: number[], unitId: number) => answer(unitId, (d) => d.write('holding', address, values)),
  };
}

/**
 * A Modbus TCP device on a real socket, for tests and the demo: one {@link SimulatedDevice}
 * answering any unit id (or the configured one).
 */
export class ModbusSimulator {
  /** The register bank this simulator serves. */
  readonly device: SimulatedDevice;
  private server: ServerTCP | undefined;
  private timer: NodeJS.Timeout | undefined;
  private garbled = false;
  private received = 0;

  /** @throws RangeError for points that overlap, leave 0..65535, or do not fit their type */
  constructor(private readonly options: ModbusSimulatorOptions) {
    this.device = new SimulatedDevice(options);
  }

  /**
   * Starts listening and updating values.
   * @returns the address to connect to
   */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('the simulator is already started');
    const host = this.options.host ?? '127.0.0.1';
    // modbus-serial reads a port of 0 as its default, 502; the string '0' reaches net.listen as
    // 0, which picks a free port without a window for another process to take it.
    const port = this.options.port || ('0' as unknown as number);
    // ServerTCP itself drops requests for other unit ids when it has one.
    const server = new ServerTCP(
      simulatorVector(() => this.device),
      { host, port, unitID: this.options.unitId ?? 255 },
    );
    this.server = server;
    // Clients that vanish are their own business: never crash the process for them.
    server.on('socketError', () => undefined);
    server.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('initialized', () => resolve());
        server.once('serverError', reject);
      });
    } catch (error) {
      this.server = undefined;
      throw error;
    }
    this.timer = setInterval(() => this.device.tick(), this.options.tickMs ?? 1000);
    const listener = (server as unknown as { _server: Server })._server;
    listener.on('connection', (socket: Socket) => this.watch(socket));
    const address = listener.address() as AddressInfo;
    return { host, port: address.port };
  }

  /** Stops the timer, closes every connection and the listening socket. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** While on, requests get no answer at all, as from a device that died or a cut cable. */
  silence(on: boolean): void {
    this.device.silence(on);
  }

  /**
   * While on, every answer is a malformed frame: one byte short of what its byte count (or its
   * function) promises, as from a faulty device or gateway.
   */
  garble(on: boolean): void {
    this.garbled = on;
  }

  /** Requests received since the simulator was created, answered or not. */
  get requests(): number {
    return this.received;
  }

  /** Counts a connection's requests and, while {@link garble}d, cuts its answers short. */
  private watch(socket: Socket): void {
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      // A Modbus TCP frame: a 6-byte header whose last field is the length of what follows.
      while (pending.length >= 6 && pending.length >= 6 + pending.readUInt16BE(4)) {
        this.received++;
        pending = pending.subarray(6 + pending.readUInt16BE(4));
      }
    });
    const write = socket.write.bind(socket) as (frame: Buffer) => boolean;
    socket.write = ((frame: Buffer) => {
      if (!this.garbled) return write(frame);
      const cut = Buffer.from(frame.subarray(0, frame.length - 1));
      cut.writeUInt16BE(cut.length - 6, 4);
      return write(cut);
    }) as typeof socket.write;
  }

  /** {@link SimulatedDevice.set} on this simulator's device. */
  set(table: Table, address: number, value: number | boolean | string, type: DataType, order: WordOrder = 'ABCD', length?: number): void {
    this.device.set(table, address, value, type, order, length);
  }

  /** {@link SimulatedDevice.get} on this simulator's device. */
  get(table: Table, address: number, type: DataType, order: WordOrder = 'ABCD', length?: number): number | boolean | string {
    return this.device.get(table, address, type, order, length);
  }
}
