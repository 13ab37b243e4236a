import { fileURLToPath } from 'node:url';
import { simulate } from './simulate.js';
import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  definePlugin,
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  StringEnum,
  type ConfigIssue,
  type DeviceConfig,
  type Driver,
  type Reading,
} from '@citypilot/sdk';
import {
  DATA_TYPES,
  decodeRegisters,
  encodeValue,
  isBitTable,
  ModbusError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusTcpClient,
  ModbusTimeoutError,
  planReads,
  registerCount,
  WORD_ORDERS,
  type DataType,
  type ModbusClient,
  type ReadRequest,
  type Table,
  type WordOrder,
} from '@citypilot/protocol-modbus';

const connection = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'IP address or host name of the device, or of the Modbus TCP gateway in front of it.' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 502, description: 'TCP port of the device.' }),
    unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'Unit id (slave address) of the device; behind a TCP-to-RTU gateway, its address on the serial line.' }),
    addressing: StringEnum(['zero-based', 'one-based'] as const, {
      default: 'zero-based',
      description: 'How the addresses of this device are written: zero-based, as sent on the wire; or one-based, as in manuals that number registers from 1 (address 1 is register 0).',
    }),
    maxRegistersPerRequest: Type.Integer({ minimum: 1, maximum: 125, default: 125, description: 'Most registers read in one request; lower it for devices that refuse long reads.' }),
    maxGap: Type.Integer({
      minimum: 0,
      maximum: 125,
      default: 0,
      description: 'Unused registers (or bits) a request may read between two points to save a request; only for devices that answer for addresses they do not map.',
    }),
  },
  { additionalProperties: false, description: 'How to reach the device.' },
);

const address = Type.Object(
  {
    table: StringEnum(['holding', 'input', 'coil', 'discrete'] as const, {
      description: 'Modbus table: holding registers (function 3), input registers (4), coils (1) or discrete inputs (2).',
    }),
    // The exact upper bound depends on `addressing` and on the type's size: create() checks it.
    address: Type.Integer({ minimum: 0, description: 'First register (or bit) of the value: 0..65535 when zero-based, 1..65536 when one-based.' }),
    type: StringEnum(DATA_TYPES, { default: 'uint16', description: 'How the registers are decoded; bool for coils and discrete inputs, and only for them.' }),
    order: StringEnum(WORD_ORDERS, {
      default: 'ABCD',
      description: 'Byte and word order of values over several registers: ABCD big-endian, CDAB words swapped ("low word first"), BADC bytes swapped, DCBA both.',
    }),
    length: Type.Optional(Type.Integer({ minimum: 1, maximum: 125, description: 'Length of a string in registers (two characters each); required for strings, only for them.' })),
  },
  { additionalProperties: false, description: 'Where the value is on the device and how it is encoded.' },
);

/** A Modbus device's `connection` block, defaults applied. */
export type ModbusConnectionConfig = Static<typeof connection>;
/** A Modbus point's `address` block, defaults applied. */
export type ModbusAddressConfig = Static<typeof address>;

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
  writable: boolean;
}

/**
 * Modbus TCP driver: holding and input registers, coils and discrete inputs, every common type in
 * every byte order, read in the fewest requests the device allows.
 */
export const modbusPlugin = definePlugin({
  manifest: {
    id: 'modbus',
    version: '0.1.0',
    sdk: '^0.1.0',
    protocol: 'modbus-tcp',
    description: 'Modbus TCP devices: energy, heat and gas meters, controllers.',
  },
  schema: { connection, address },
  // Device profiles of common meters, next to the package's dist/ folder.
  profilesDir: fileURLToPath(new URL('../profiles/', import.meta.url)),
  simulate,
  create(device, context): Driver {
    const points = checkPoints(device);
    const requests = planReads(
      points.map((p) => ({ key: p, table: p.table, address: p.address, count: p.count })),
      { maxRegisters: device.connection.maxRegistersPerRequest, maxGap: device.connection.maxGap },
    );
    const { host, port, unitId } = device.connection;
    // No I/O here: the client connects on the first request.
    return new ModbusDriver(points, requests, unitId, new ModbusTcpClient({ host, port, timeoutMs: context.timeoutMs }));
  },
});

/**
 * The rules the schema cannot express, each reported with its path in the device block.
 * @throws ConfigError listing every problem found
 */
function checkPoints(device: ModbusDevice): PlannedPoint[] {
  const issues: ConfigIssue[] = [];
  const { addressing, maxRegistersPerRequest } = device.connection;
  const base = addressing === 'one-based' ? 1 : 0;
  const planned: PlannedPoint[] = [];
  const ids = new Map<string, number>();
  device.points.forEach((p, index) => {
    const issue = (path: (string | number)[], message: string) => issues.push({ path: ['points', index, ...path], message });
    const first = ids.get(p.id);
    if (first !== undefined) issue(['id'], `${JSON.stringify(p.id)} is already the id of points[${first}]`);
    else ids.set(p.id, index);

    const a = p.address;
    const before = issues.length;
    const bits = isBitTable(a.table);
    if (bits && a.type !== 'bool') issue(['address', 'type'], `a ${a.table} holds one bit: expected "bool", got ${JSON.stringify(a.type)}`);
    if (!bits && a.type === 'bool') issue(['address', 'type'], `"bool" is for coils and discrete inputs: read a ${a.table} register as uint16 (with kind: boolean for true/false)`);
    if (a.type === 'string' && a.length === undefined) issue(['address', 'length'], 'is required for a string: its length in registers (two characters each)');
    if (a.type !== 'string' && a.length !== undefined) issue(['address', 'length'], `applies to strings only, not to ${a.type}`);
    if (a.type === 'string' && p.kind !== 'string') issue(['kind'], `must be "string" for a string register, got ${JSON.stringify(p.kind)}`);
    if (p.writable && (a.table === 'input' || a.table === 'discrete')) issue(['writable'], `${a.table === 'input' ? 'input registers' : 'discrete inputs'} are read-only`);
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
      issue(['address', a.type === 'string' ? 'length' : 'type'], `takes ${count} registers, more than connection.maxRegistersPerRequest (${maxRegistersPerRequest})`);
      return;
    }
    const overlap = planned.find((o) => o.table === a.table && wire < o.address + o.count && o.address < wire + count);
    if (overlap) {
      const range = (o: { address: number; count: number }) => (o.count === 1 ? `${o.address + base}` : `${o.address + base}..${o.address + o.count - 1 + base}`);
      issue(['address'], `${a.table} ${range({ address: wire, count })} overlaps point ${JSON.stringify(overlap.id)} (${a.table} ${range(overlap)})`);
      return;
    }
    planned.push({ id: p.id, index, table: a.table, address: wire, count, type: a.type, order: a.order, length: a.length, writable: p.writable });
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return planned;
}

class ModbusDriver implements Driver {
  private readonly byId: Map<string, PlannedPoint>;

  constructor(
    private readonly points: readonly PlannedPoint[],
    private readonly requests: readonly ReadRequest<PlannedPoint>[],
    private readonly unitId: number,
    private readonly client: ModbusClient,
  ) {
    this.byId = new Map(points.map((p) => [p.id, p]));
  }

  /**
   * Runs the planned requests one after another and returns one reading per point, in the
   * order of the device's points. An exception answer fails only its request's points; a
   * timeout, a lost connection or a garbled answer fails the whole read.
   */
  async read(): Promise<Reading[]> {
    const readings = new Map<PlannedPoint, Reading>();
    for (const request of this.requests) {
      let values: number[] | boolean[];
      try {
        values = isBitTable(request.table)
          ? await this.client.readBits(this.unitId, request.table, request.address, request.count)
          : await this.client.readRegisters(this.unitId, request.table, request.address, request.count);
      } catch (error) {
        if (!(error instanceof ModbusExceptionError) || isGatewayFailure(error)) throw deviceError(error);
        for (const item of request.items) readings.set(item.key, { point: item.key.id, value: null, quality: 'bad', reason: error.message });
        continue;
      }
      for (const item of request.items) readings.set(item.key, decode(item.key, values.slice(item.offset, item.offset + item.count)));
    }
    return this.points.map((p) => readings.get(p)!);
  }

  /**
   * Writes a raw value to a writable holding register (or registers) or coil, then reads it back.
   * @throws ConfigError for an unknown or read-only point, or a value its type cannot hold
   * @throws DeviceProtocolError when the device refuses the write or reads back something else
   */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    const p = this.byId.get(pointId);
    if (!p) throw new ConfigError([{ path: ['points'], message: `the device has no point ${JSON.stringify(pointId)}` }]);
    if (!p.writable) throw new ConfigError([{ path: ['points', p.index, 'writable'], message: 'is false: the gateway may not write this point' }]);
    let words: number[];
    try {
      words = encodeValue(value, p.type, p.order, p.length);
    } catch (error) {
      throw new ConfigError([{ path: ['points', p.index], message: `cannot write ${JSON.stringify(value)}: ${(error as Error).message}` }], { cause: error });
    }
    try {
      if (p.table === 'coil') {
        const bit = words[0] === 1;
        await this.client.writeCoils(this.unitId, p.address, [bit]);
        const [back] = await this.client.readBits(this.unitId, 'coil', p.address, 1);
        if (back !== bit) throw new DeviceProtocolError(`coil ${p.address} reads back ${back} after writing ${bit}`);
        return;
      }
      await this.client.writeRegisters(this.unitId, p.address, words);
      const back = await this.client.readRegisters(this.unitId, 'holding', p.address, words.length);
      if (back.some((w, i) => w !== words[i])) throw new DeviceProtocolError(`holding ${p.address} reads back [${back.join(', ')}] after writing [${words.join(', ')}]`);
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
  const value = decodeRegisters(values as number[], p.type, p.order, p.length);
  if (typeof value === 'number' && !Number.isFinite(value)) return { point: p.id, value: null, quality: 'bad', reason: 'not a number' };
  if ((p.type === 'int64' || p.type === 'uint64') && !Number.isSafeInteger(value)) {
    return { point: p.id, value, quality: 'uncertain', reason: 'beyond 2^53: rounded to the nearest double' };
  }
  return { point: p.id, value, quality: 'good' };
}

/** The SDK's error for a failure of the whole device, with the Modbus error as its cause. */
function deviceError(error: unknown): unknown {
  if (!(error instanceof ModbusError)) return error;
  if (error instanceof ModbusTimeoutError || (error instanceof ModbusExceptionError && error.exceptionCode === 11)) return new DeviceTimeoutError(error.message, { cause: error });
  if (error instanceof ModbusProtocolError) return new DeviceProtocolError(error.message, { cause: error });
  return new DeviceUnreachableError(error.message, { cause: error });
}
