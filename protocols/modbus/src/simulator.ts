import { ServerTCP } from 'modbus-serial';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { encodeValue, registerCount, type DataType, type WordOrder } from './codec.js';
import type { Table } from './planner.js';

/** How a simulated value moves over time. */
export type SimulatedBehaviour =
  | { kind: 'constant'; value: number | boolean | string }
  /** A counter (energy, volume) advancing by `perHour` at full load, following the building's day. */
  | { kind: 'meter'; startValue: number; perHour: number }
  /** A demand (power, flow) of `peak` at full load, following the building's day. */
  | { kind: 'load'; peak: number }
  /** A temperature around `mean`, warmest mid-afternoon, `dailyAmplitude` above and below. */
  | { kind: 'temperature'; mean: number; dailyAmplitude: number };

/** One value a simulated device holds. */
export interface SimulatedPoint {
  table: Table;
  address: number;
  type: DataType;
  order?: WordOrder;
  /** String length in registers. */
  length?: number;
  /** Engineering value = raw × scale, as in a gateway config: the simulator stores value / scale. */
  scale?: number;
  behaviour: SimulatedBehaviour;
}

export interface ModbusSimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port, given by start(). */
  port?: number;
  points: SimulatedPoint[];
  /** How often moving values are updated, in milliseconds. Default 1000. */
  tickMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

/**
 * Share of full load of a municipal building at `time`: busy on working hours (8 h–18 h on
 * weekdays), low at night and at weekends, with ramps in between.
 */
export function loadShape(time: number): number {
  const d = new Date(time);
  const hour = d.getHours() + d.getMinutes() / 60;
  const weekend = d.getDay() === 0 || d.getDay() === 6;
  const day = hour < 6 || hour >= 21 ? 0 : hour < 8 ? (hour - 6) / 2 : hour < 18 ? 1 : (21 - hour) / 3;
  return weekend ? 0.25 + 0.15 * day : 0.25 + 0.75 * day;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const modbusError = (code: number) => ({ modbusErrorCode: code, msg: 'illegal data address' });

/**
 * A Modbus TCP device on loopback, answering any unit id from a register bank that its points
 * fill and move. Reading or writing an address no point covers answers exception 2 (illegal
 * data address), as real devices do.
 */
export class ModbusSimulator {
  private readonly banks: Record<Table, Map<number, number>> = { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map() };
  private readonly values = new Map<SimulatedPoint, number | boolean | string>();
  private server: ServerTCP | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastTick: number;
  private silent = false;
  private readonly now: () => number;

  constructor(private readonly options: ModbusSimulatorOptions) {
    this.now = options.now ?? Date.now;
    this.lastTick = this.now();
    for (const p of options.points) {
      const b = p.behaviour;
      this.values.set(p, b.kind === 'constant' ? b.value : b.kind === 'meter' ? b.startValue : 0);
    }
    this.tick();
  }

  /** Starts listening; resolves with the address to connect to. */
  async start(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    // modbus-serial reads port 0 as "the default, 502": ask the system for a free port first.
    const server = new ServerTCP(this.vector(), { host, port: this.options.port || (await freePort(host)) });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('initialized', () => resolve());
      server.once('serverError', reject);
    });
    server.on('socketError', () => undefined);
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 1000);
    const port = ((server as unknown as { _server: Server })._server.address() as AddressInfo).port;
    return { host, port };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** While on, requests get no answer at all: a device that fell silent. */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** Sets a point's value (engineering units), as a device's own logic would. */
  set(point: SimulatedPoint, value: number | boolean | string): void {
    this.values.set(point, value);
    this.store(point);
  }

  /** The raw register words (or bits) at an address, undefined where no point is. */
  get(table: Table, address: number): number | undefined {
    return this.banks[table].get(address);
  }

  private tick(): void {
    const now = this.now();
    const hours = Math.max(0, now - this.lastTick) / 3_600_000;
    this.lastTick = now;
    for (const p of this.options.points) {
      const b = p.behaviour;
      if (b.kind === 'meter') this.values.set(p, (this.values.get(p) as number) + b.perHour * loadShape(now) * hours);
      if (b.kind === 'load') this.values.set(p, b.peak * loadShape(now) * (0.95 + 0.1 * Math.random()));
      if (b.kind === 'temperature') {
        const d = new Date(now);
        const hour = d.getHours() + d.getMinutes() / 60;
        this.values.set(p, b.mean + b.dailyAmplitude * Math.sin((2 * Math.PI * (hour - 9)) / 24) + (Math.random() - 0.5) * 0.2);
      }
      this.store(p);
    }
  }

  private store(p: SimulatedPoint): void {
    const value = this.values.get(p)!;
    const bank = this.banks[p.table];
    if (p.table === 'coil' || p.table === 'discrete') {
      bank.set(p.address, value ? 1 : 0);
      return;
    }
    const raw = typeof value === 'number' && p.type !== 'float32' && p.type !== 'float64' ? Math.round(value / (p.scale ?? 1)) : typeof value === 'number' ? value / (p.scale ?? 1) : value;
    const words = encodeValue(raw, p.type, p.order ?? 'ABCD', p.length ?? registerCount(p.type));
    words.forEach((w, i) => bank.set(p.address + i, w));
  }

  private read(table: Table, address: number, count: number): number[] {
    const bank = this.banks[table];
    const out: number[] = [];
    for (let a = address; a < address + count; a++) {
      const w = bank.get(a);
      if (w === undefined) throw modbusError(2);
      out.push(w);
    }
    return out;
  }

  private write(table: 'holding' | 'coil', address: number, words: number[]): void {
    const bank = this.banks[table];
    words.forEach((_, i) => {
      if (!bank.has(address + i)) throw modbusError(2);
    });
    words.forEach((w, i) => bank.set(address + i, w));
  }

  private vector() {
    // Promise-returning handlers: a silenced device never settles them, so the client times out.
    const answer = <T>(fn: () => T): T | Promise<T> => (this.silent ? new Promise<T>(() => undefined) : fn());
    return {
      getHoldingRegister: (addr: number) => answer(() => this.read('holding', addr, 1)[0]!),
      getMultipleHoldingRegisters: (addr: number, length: number) => (this.silent ? Array.from({ length }, () => new Promise<number>(() => undefined)) : this.read('holding', addr, length)),
      getInputRegister: (addr: number) => answer(() => this.read('input', addr, 1)[0]!),
      getMultipleInputRegisters: (addr: number, length: number) => (this.silent ? Array.from({ length }, () => new Promise<number>(() => undefined)) : this.read('input', addr, length)),
      getCoil: (addr: number) => answer(() => this.read('coil', addr, 1)[0] === 1),
      getDiscreteInput: (addr: number) => answer(() => this.read('discrete', addr, 1)[0] === 1),
      setRegister: (addr: number, value: number) => answer(() => this.write('holding', addr, [value])),
      setRegisterArray: (addr: number, values: number[]) => answer(() => this.write('holding', addr, values)),
      setCoil: (addr: number, value: boolean) => answer(() => this.write('coil', addr, [value ? 1 : 0])),
    };
  }
}
