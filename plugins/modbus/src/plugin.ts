import { fileURLToPath } from 'node:url';
import { simulate } from './simulate.js';
import { modbusDiscovery } from './discover.js';
import { address, connection, type ModbusConnectionConfig } from './schema.js';
import {
  checkEachPoint,
  ConfigError,
  definePlugin,
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  float32Decimal,
  parseDuration,
  PlansPerList,
  type ConfigIssue,
  type DeviceConfig,
  type Driver,
  type DriverPlugin,
  type Reading,
  writablePoint,
} from '@citypilot/sdk';
import {
  decodeRegisters,
  encodeValue,
  isBitTable,
  ModbusError,
  ModbusExceptionError,
  ModbusLinkConflictError,
  ModbusLinks,
  ModbusProtocolError,
  ModbusTimeoutError,
  planReads,
  registerCount,
  replanRequest,
  splitRequest,
  type DataType,
  type AddressRange,
  type ModbusClient,
  type ModbusTransport,
  type ReadRequest,
  type Table,
  type WordOrder,
} from '@citypilot/protocol-modbus';

export type { ModbusAddressConfig, ModbusConnectionConfig } from './schema.js';

type ModbusDevice = DeviceConfig<typeof connection, typeof address>;

/** A point as the driver reads it: zero-based address and size checked. */
interface PlannedPoint {
  id: string;
  /** Index in the device's `points`, for error paths. */
  index: number;
  table: Table;
  /** Zero-based, as on the wire. */
  address: number;
  /** Registers, or 1 bit. */
  count: number;
  type: DataType;
  order: WordOrder;
  length?: number;
  /** For a flag packed in a register: which bit, 0 the least significant. */
  bit?: number;
  writable: boolean;
}

/**
 * A Modbus driver plugin with links of its own: devices created by it that sit on one serial line
 * (or behind one serial-to-Ethernet gateway) share one link, one request at a time. The gateway
 * uses {@link modbusPlugin}; tests that want links of their own create another.
 */
export function createModbusPlugin() {
  const links = new ModbusLinks();
  // The plugin as its discovery sees it: it probes devices with drivers the plugin creates.
  const self: { plugin?: DriverPlugin } = {};
  const plugin = definePlugin({
    manifest: {
      id: 'modbus',
      version: '0.1.0',
      sdk: '^0.1.0',
      protocol: 'modbus-tcp modbus-rtu',
      description: 'Modbus TCP and RTU devices (serial lines, serial-to-Ethernet gateways): energy, heat and gas meters, controllers.',
    },
    schema: { connection, address },
    // Device profiles of common meters, next to the package's dist/ folder.
    profilesDir: fileURLToPath(new URL('../profiles/', import.meta.url)),
    simulate,
    discovery: modbusDiscovery(connection, () => self.plugin!),
    create(device, context): Driver {
      // Every problem at once, the connection's first (as in the file).
      const issues = connectionIssues(device);
      let points: PlannedPoint[] = [];
      try {
        points = checkPoints(device);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        issues.push(...error.issues);
      }
      if (issues.length > 0) throw new ConfigError(issues);
      const transport = transportOf(device.connection);
      const limits = { maxRegisters: device.connection.maxRegistersPerRequest, maxGap: device.connection.maxGap };
      const plan = (subset: readonly PlannedPoint[]) =>
        planReads(
          subset.map((p) => ({ key: p, table: p.table, address: p.address, count: p.count })),
          limits,
        );
      const { unitId, retries, pauseBetweenRequests } = device.connection;
      // No I/O here: the link opens on the first request.
      let client: ModbusClient;
      try {
        client = links.get({ transport, timeoutMs: context.timeoutMs, retries, pauseMs: parseDuration(pauseBetweenRequests) });
      } catch (error) {
        if (!(error instanceof ModbusLinkConflictError)) throw error;
        throw new ConfigError([{ path: ['connection', error.setting], message: error.message }], { cause: error });
      }
      return new ModbusDriver(points, plan, unitId, client, device.connection.writeFunctions === 'single-when-possible');
    },
  });
  self.plugin = plugin as unknown as DriverPlugin;
  return plugin;
}

/**
 * The plugin the gateway registers. Module state, but the plugin instance itself: its links are
 * those of the devices it creates, as a plugin's own sockets would be.
 */
export const modbusPlugin = createModbusPlugin();

/** The settings a device's transport needs and those it does not take, with their paths in the device block. */
function connectionIssues(device: ModbusDevice): ConfigIssue[] {
  const c = device.connection;
  const issues: ConfigIssue[] = [];
  const issue = (key: string, message: string) => issues.push({ path: ['connection', key], message });
  if (c.transport === 'rtu') {
    if (c.serialPort === undefined) issue('serialPort', 'is required for transport rtu: the path of the serial port, such as /dev/ttyUSB0');
    if (c.host !== undefined) issue('host', 'applies to transports tcp and rtu-over-tcp, not rtu (the device is on serialPort)');
  } else {
    if (c.host === undefined) issue('host', `is required for transport ${c.transport}: the IP address or host name of the device or gateway`);
    if (c.serialPort !== undefined) issue('serialPort', `applies to transport rtu only, not ${c.transport}`);
  }
  return issues;
}

/** The protocol's transport for a connection block that {@link connectionIssues} found complete. */
function transportOf(c: ModbusConnectionConfig): ModbusTransport {
  if (c.transport === 'rtu')
    return { kind: 'rtu', path: c.serialPort!, baudRate: c.baudRate, parity: c.parity, dataBits: c.dataBits as 7 | 8, stopBits: c.stopBits as 1 | 2 };
  return { kind: c.transport, host: c.host!, port: c.port };
}

/**
 * The rules the schema cannot express, each reported with its path in the device block.
 * @throws ConfigError listing every problem found
 */
function checkPoints(device: ModbusDevice): PlannedPoint[] {
  const issues: ConfigIssue[] = [];
  const { addressing, maxRegistersPerRequest } = device.connection;
  const base = addressing === 'one-based' ? 1 : 0;
  const planned: PlannedPoint[] = [];
  checkEachPoint(device.points, issues, (p, index, issue) => {
    const a = p.address;
    const before = issues.length;
    const bits = isBitTable(a.table);
    if (bits && a.type !== 'bool') issue(['address', 'type'], `a ${a.table} holds one bit: expected "bool", got ${JSON.stringify(a.type)}`);
    if (!bits && a.type === 'bool')
      issue(['address', 'type'], `"bool" is for coils and discrete inputs: for a flag in a ${a.table} register, give its bit (bit: 0..15)`);
    if (a.bit !== undefined) {
      if (bits) issue(['address', 'bit'], `applies to holding and input registers, not to a ${a.table}`);
      else if (a.type !== 'uint16' && a.type !== 'int16') issue(['address', 'bit'], `applies to one 16-bit register (type uint16), not to a ${a.type}`);
      if (p.writable) issue(['writable'], 'a bit of a register cannot be written: the write would overwrite the other bits of the register');
    }
    if (a.type === 'string' && a.length === undefined) issue(['address', 'length'], 'is required for a string: its length in registers (two characters each)');
    if (a.type !== 'string' && a.length !== undefined) issue(['address', 'length'], `applies to strings only, not to ${a.type}`);
    if (a.type === 'string' && p.kind !== 'string') issue(['kind'], `must be "string" for a string register, got ${JSON.stringify(p.kind)}`);
    if (p.writable && (a.table === 'input' || a.table === 'discrete'))
      issue(['writable'], `${a.table === 'input' ? 'input registers' : 'discrete inputs'} are read-only`);
    if (issues.length > before) return;

    const count = bits ? 1 : registerCount(a.type, a.length);
    const wire = a.address - base;
    const last = 65535 - count + 1 + base;
    if (wire < 0 || a.address > last) {
      const why = count > 1 ? `: a ${a.type} takes ${count} registers and the last one is ${65535 + base}` : '';
      issue(['address', 'address'], `${a.address} is outside ${base}..${last} (${addressing}${why})`);
      return;
    }
    if (count > maxRegistersPerRequest) {
      issue(
        ['address', a.type === 'string' ? 'length' : 'type'],
        `takes ${count} registers, more than connection.maxRegistersPerRequest (${maxRegistersPerRequest})`,
      );
      return;
    }
    // Flags of one status word may share its register with each other (different bits) and with
    // the word read whole; anything else sharing a register is a mistake in the map.
    const sharesWord = (o: PlannedPoint) =>
      o.address === wire && count === 1 && o.count === 1 && (o.bit !== undefined || a.bit !== undefined) && o.bit !== a.bit;
    const overlap = planned.find((o) => o.table === a.table && wire < o.address + o.count && o.address < wire + count && !sharesWord(o));
    if (overlap) {
      const range = (o: { address: number; count: number }) =>
        o.count === 1 ? `${o.address + base}` : `${o.address + base}..${o.address + o.count - 1 + base}`;
      issue(['address'], `${a.table} ${range({ address: wire, count })} overlaps point ${JSON.stringify(overlap.id)} (${a.table} ${range(overlap)})`);
      return;
    }
    planned.push({ id: p.id, index, table: a.table, address: wire, count, type: a.type, order: a.order, length: a.length, bit: a.bit, writable: p.writable });
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return planned;
}

/** The requests that read a set of points (all of them, or a poll group's). */
interface ReadPlan {
  points: readonly PlannedPoint[];
  requests: readonly ReadRequest<PlannedPoint>[];
  /** `requests` planned again around the driver's `avoid`; stale when `avoid` has grown since. */
  current: readonly ReadRequest<PlannedPoint>[];
  plannedAround: number;
}

class ModbusDriver implements Driver {
  private readonly byId: Map<string, PlannedPoint>;
  /** Addresses this device refused (exception 2) while reading merged requests. */
  private readonly avoid: AddressRange[] = [];
  /**
   * The plan of each list of ids read, made once per list (every point's by create()): a poll
   * group reads only its own points' registers (merged as the connection's maxGap allows), not
   * those of the others.
   */
  private readonly plans: PlansPerList<PlannedPoint, ReadPlan>;

  constructor(
    private readonly points: readonly PlannedPoint[],
    private readonly planReads: (points: readonly PlannedPoint[]) => ReadRequest<PlannedPoint>[],
    private readonly unitId: number,
    private readonly client: ModbusClient,
    private readonly singleWrites: boolean,
  ) {
    this.byId = new Map(points.map((p) => [p.id, p]));
    this.plans = new PlansPerList(points, (list) => {
      const requests = planReads(list);
      return { points: list, requests, current: requests, plannedAround: 0 };
    });
    this.plans.get(undefined);
  }

  /**
   * Runs the planned requests one after another and returns one reading per point, in the
   * order of the device's points; only the points listed in `ids` when given (ids the device
   * does not have are ignored). An exception answer fails only its request's points; a
   * timeout, a lost connection or a garbled answer fails the whole read.
   *
   * A request of several points refused with exception 2 (illegal data address) is split in
   * two, again and again, until the points the device refuses are alone: the others still read
   * in this cycle. The driver remembers the addresses it learnt so, and from the next cycle on
   * reads around them, in as few requests as they allow.
   */
  async read(ids?: readonly string[]): Promise<Reading[]> {
    const plan = this.plans.get(ids);
    if (plan.plannedAround < this.avoid.length) {
      plan.plannedAround = this.avoid.length;
      plan.current = plan.requests.flatMap((r) => replanRequest(r, this.avoid));
    }
    const readings = new Map<PlannedPoint, Reading>();
    for (const request of plan.current) await this.readRequest(request, readings);
    return plan.points.map((p) => readings.get(p)!);
  }

  /**
   * Reads one request into `readings`, splitting it when the device refuses an address in it.
   * @returns whether the device answered the request as it was (not refused, not split)
   * @throws the SDK's device error for anything but an exception answer of the device
   */
  private async readRequest(request: ReadRequest<PlannedPoint>, readings: Map<PlannedPoint, Reading>): Promise<boolean> {
    let values: number[] | boolean[];
    try {
      values = isBitTable(request.table)
        ? await this.client.readBits(this.unitId, request.table, request.address, request.count)
        : await this.client.readRegisters(this.unitId, request.table, request.address, request.count);
    } catch (error) {
      if (!(error instanceof ModbusExceptionError) || isGatewayFailure(error)) throw deviceError(error);
      const halves = error.exceptionCode === 2 ? splitRequest(request) : undefined;
      if (!halves) {
        if (error.exceptionCode === 2) this.learn({ table: request.table, address: request.address, count: request.count });
        for (const item of request.items) readings.set(item.key, { point: item.key.id, value: null, quality: 'bad', reason: error.message });
        return false;
      }
      const [first, second] = halves;
      const firstAnswered = await this.readRequest(first, readings);
      const secondAnswered = await this.readRequest(second, readings);
      // Both halves read, the whole did not: the device refuses what lies between them (or,
      // when they touch, reads across their boundary).
      if (firstAnswered && secondAnswered) {
        const end = first.address + first.count;
        this.learn({ table: request.table, address: end, count: Math.max(0, second.address - end) });
      }
      return false;
    }
    for (const item of request.items) readings.set(item.key, decode(item.key, values.slice(item.offset, item.offset + item.count)));
    return true;
  }

  /** Remembers a range the device refuses, once: a point refused alone is refused every cycle. */
  private learn(range: AddressRange): void {
    if (!this.avoid.some((r) => r.table === range.table && r.address === range.address && r.count === range.count)) this.avoid.push(range);
  }

  /**
   * Writes a raw value to a writable holding register (or registers) or coil, then reads it back.
   * @throws ConfigError for an unknown or read-only point, or a value its type cannot hold
   * @throws DeviceProtocolError when the device refuses the write or reads back something else
   */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    const p = writablePoint(this.byId, pointId, (point) => point.index);
    let words: number[];
    try {
      words = encodeValue(value, p.type, p.order, p.length);
    } catch (error) {
      throw new ConfigError([{ path: ['points', p.index], message: (error as Error).message }], { cause: error });
    }
    try {
      if (p.table === 'coil') {
        const bit = words[0] === 1;
        if (this.singleWrites) await this.client.writeCoil(this.unitId, p.address, bit);
        else await this.client.writeCoils(this.unitId, p.address, [bit]);
        const [back] = await this.client.readBits(this.unitId, 'coil', p.address, 1);
        if (back !== bit) throw new DeviceProtocolError(`coil ${p.address} reads back ${back} after writing ${bit}`);
        return;
      }
      if (this.singleWrites && words.length === 1) await this.client.writeRegister(this.unitId, p.address, words[0]!);
      else await this.client.writeRegisters(this.unitId, p.address, words);
      const back = await this.client.readRegisters(this.unitId, 'holding', p.address, words.length);
      if (back.some((w, i) => w !== words[i]))
        throw new DeviceProtocolError(`holding ${p.address} reads back [${back.join(', ')}] after writing [${words.join(', ')}]`);
    } catch (error) {
      if (error instanceof DeviceProtocolError) throw error;
      if (error instanceof ModbusExceptionError && !isGatewayFailure(error)) throw new DeviceProtocolError(`write refused: ${error.message}`, { cause: error });
      throw deviceError(error);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Exceptions 10 and 11 come from a TCP-to-serial gateway: the device behind it is not there. */
function isGatewayFailure(error: ModbusExceptionError): boolean {
  return error.exceptionCode === 10 || error.exceptionCode === 11;
}

/** A reading of one point from its words (or bit). */
function decode(p: PlannedPoint, values: readonly number[] | readonly boolean[]): Reading {
  if (isBitTable(p.table)) return { point: p.id, value: values[0] as boolean, quality: 'good' };
  if (p.bit !== undefined) return { point: p.id, value: (((values[0] as number) >> p.bit) & 1) === 1, quality: 'good' };
  const decoded = decodeRegisters(values as number[], p.type, p.order, p.length);
  if (typeof decoded === 'number' && !Number.isFinite(decoded)) return { point: p.id, value: null, quality: 'bad', reason: 'not a number' };
  // A float32 widened to a double gains digits the device never had (21.3 reads 21.299999237060547).
  const value = p.type === 'float32' ? float32Decimal(decoded as number) : decoded;
  if ((p.type === 'int64' || p.type === 'uint64') && !Number.isSafeInteger(value)) {
    return { point: p.id, value, quality: 'uncertain', reason: 'beyond 2^53: rounded to the nearest double' };
  }
  return { point: p.id, value, quality: 'good' };
}

/** The SDK's error for a failure of the whole device, with the Modbus error as its cause. */
function deviceError(error: unknown): unknown {
  if (!(error instanceof ModbusError)) return error;
  if (error instanceof ModbusTimeoutError || (error instanceof ModbusExceptionError && error.exceptionCode === 11))
    return new DeviceTimeoutError(error.message, { cause: error });
  if (error instanceof ModbusProtocolError) return new DeviceProtocolError(error.message, { cause: error });
  return new DeviceUnreachableError(error.message, { cause: error });
}
