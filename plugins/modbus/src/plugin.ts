import { Type } from '@sinclair/typebox';
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
  ModbusExceptionError,
  ModbusTcpClient,
  ModbusTimeoutError,
  planReads,
  registerCount,
  WORD_ORDERS,
  type DataType,
  type ReadRequest,
  type WordOrder,
} from '@citypilot/protocol-modbus';

const connection = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'IP address or host name of the device (or of its Modbus TCP gateway).' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 502, description: 'TCP port.' }),
    unitId: Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'Unit id (slave address) of the device.' }),
    addressing: StringEnum(['zero-based', 'one-based'] as const, {
      default: 'zero-based',
      description: 'How addresses in this block are written: as on the wire (zero-based), or as in manuals that start at 1 (one-based: 1 means register 0).',
    }),
    maxRegistersPerRequest: Type.Integer({ minimum: 1, maximum: 125, default: 125, description: 'Largest register read to send; lower it for devices that need smaller requests.' }),
    maxGap: Type.Integer({ minimum: 0, maximum: 124, default: 0, description: 'Unused registers the gateway may read between two points to save a request.' }),
  },
  { additionalProperties: false },
);

const address = Type.Object(
  {
    table: StringEnum(['holding', 'input', 'coil', 'discrete'] as const, { description: 'Holding or input registers, coils or discrete inputs.' }),
    // The upper bound depends on `addressing` and the type's size: create() checks it.
    address: Type.Integer({ minimum: 0, description: 'First register (or bit): 0..65535 zero-based, 1..65536 one-based.' }),
    type: StringEnum(DATA_TYPES, { default: 'uint16', description: 'How the registers are decoded; bool for coils and discrete inputs.' }),
    order: StringEnum(WORD_ORDERS, { default: 'ABCD', description: 'Byte and word order of multi-register values: ABCD (big-endian), CDAB, BADC, DCBA.' }),
    length: Type.Optional(Type.Integer({ minimum: 1, maximum: 125, description: 'Length of a string, in registers (two characters each).' })),
  },
  { additionalProperties: false },
);

type Connection = typeof connection;
type Address = typeof address;
type ModbusDevice = DeviceConfig<Connection, Address>;

interface PlannedPoint {
  id: string;
  type: DataType;
  order: WordOrder;
  length: number;
}

/**
 * Modbus TCP driver: reads holding and input registers, coils and discrete inputs in the fewest
 * requests the protocol allows, and decodes every common type in every byte order.
 */
export const modbusPlugin = definePlugin({
  manifest: {
    id: 'modbus',
    version: '0.1.0',
    sdk: '^0.1.0',
    protocol: 'modbus-tcp',
    description: 'Modbus TCP devices: energy and heat meters, controllers.',
  },
  schema: { connection, address },
  create(device, context): Driver {
    const plan = planDevice(device);
    const client = new ModbusTcpClient({ host: device.connection.host, port: device.connection.port, timeoutMs: context.timeoutMs });
    return new ModbusDriver(device, plan, client);
  },
});

/** Checks what the schema cannot (overlaps, types per table, ranges) and plans the requests. */
function planDevice(device: ModbusDevice): { requests: ReadRequest<PlannedPoint>[]; byId: Map<string, { point: PlannedPoint; table: string; address: number }> } {
  const issues: ConfigIssue[] = [];
  const base = device.connection.addressing === 'one-based' ? 1 : 0;
  const items: { key: PlannedPoint; table: 'holding' | 'input' | 'coil' | 'discrete'; address: number; count: number; index: number }[] = [];
  const byId = new Map<string, { point: PlannedPoint; table: string; address: number }>();
  device.points.forEach((p, index) => {
    const path = (...rest: (string | number)[]) => ['points', index, ...rest];
    if (byId.has(p.id)) {
      issues.push({ path: path('id'), message: `${JSON.stringify(p.id)} is already the id of another point of this device` });
      return;
    }
    const a = p.address;
    const bits = a.table === 'coil' || a.table === 'discrete';
    if (bits && a.type !== 'bool') issues.push({ path: path('address', 'type'), message: `${a.table} holds single bits: expected "bool", got ${JSON.stringify(a.type)}` });
    if (!bits && a.type === 'bool') issues.push({ path: path('address', 'type'), message: `a ${a.table} register is not a bool: use uint16 (or a coil or discrete input)` });
    if (a.type === 'string' && a.length === undefined) issues.push({ path: path('address', 'length'), message: 'is required for a string: its length in registers' });
    if (a.type !== 'string' && a.length !== undefined) issues.push({ path: path('address', 'length'), message: `applies to strings only, not ${a.type}` });
    const wire = a.address - base;
    const count = bits ? 1 : registerCount(a.type, a.length ?? 1);
    if (wire < 0 || wire + count - 1 > 65535) {
      issues.push({ path: path('address', 'address'), message: `${a.address} is outside ${base}..${65535 + base - count + 1} (${device.connection.addressing}, ${count} register(s))` });
      return;
    }
    if (count > device.connection.maxRegistersPerRequest && !bits) {
      issues.push({ path: path('address', 'length'), message: `${count} registers exceed maxRegistersPerRequest (${device.connection.maxRegistersPerRequest})` });
      return;
    }
    const point: PlannedPoint = { id: p.id, type: a.type, order: a.order, length: a.length ?? 1 };
    const overlap = items.find((o) => o.table === a.table && wire < o.address + o.count && o.address < wire + count);
    if (overlap) {
      issues.push({ path: path('address'), message: `overlaps point ${JSON.stringify(overlap.key.id)} (${a.table} ${overlap.address + base}..${overlap.address + overlap.count - 1 + base})` });
      return;
    }
    items.push({ key: point, table: a.table, address: wire, count, index });
    byId.set(p.id, { point, table: a.table, address: wire });
  });
  if (issues.length) throw new ConfigError(issues);
  const requests = planReads(items, { maxRegisters: device.connection.maxRegistersPerRequest, maxGap: device.connection.maxGap });
  return { requests, byId };
}

class ModbusDriver implements Driver {
  constructor(
    private readonly device: ModbusDevice,
    private readonly plan: ReturnType<typeof planDevice>,
    private readonly client: ModbusTcpClient,
  ) {}

  /**
   * Runs the planned requests in order. An exception answer fails only that request's points;
   * a timeout or a broken connection fails the whole device.
   */
  async read(): Promise<Reading[]> {
    const readings: Reading[] = [];
    const unit = this.device.connection.unitId;
    for (const request of this.plan.requests) {
      let words: number[] | boolean[];
      try {
        words =
          request.table === 'coil' || request.table === 'discrete'
            ? await this.client.readBits(unit, request.table, request.address, request.count)
            : await this.client.readRegisters(unit, request.table, request.address, request.count);
      } catch (error) {
        if (error instanceof ModbusExceptionError) {
          for (const item of request.items) readings.push({ point: item.key.id, value: null, quality: 'bad', reason: error.message });
          continue;
        }
        throw toDeviceError(error, this.device);
      }
      if (words.length < request.count) throw new DeviceProtocolError(`${request.table} ${request.address}: expected ${request.count} values, got ${words.length}`);
      for (const item of request.items) readings.push(decodeItem(item.key, words, item.offset, item.count));
    }
    return readings;
  }

  async write(pointId: string, value: number | boolean | string): Promise<void> {
    const point = this.device.points.find((p) => p.id === pointId);
    const planned = this.plan.byId.get(pointId);
    if (!point || !planned) throw new ConfigError([{ path: ['points'], message: `no point ${JSON.stringify(pointId)} on device ${this.device.id}` }]);
    if (!point.writable) throw new ConfigError([{ path: ['points', this.device.points.indexOf(point), 'writable'], message: 'the point is not writable' }]);
    const unit = this.device.connection.unitId;
    const { table, address: wire, point: p } = planned;
    try {
      if (table === 'coil') {
        await this.client.writeCoils(unit, wire, [Boolean(value)]);
        const [back] = await this.client.readBits(unit, 'coil', wire, 1);
        if (back !== Boolean(value)) throw new DeviceProtocolError(`coil ${wire} reads back ${back} after writing ${Boolean(value)}`);
        return;
      }
      if (table !== 'holding') throw new ConfigError([{ path: ['points', this.device.points.indexOf(point), 'address', 'table'], message: `${table} cannot be written` }]);
      const words = encodeValue(value, p.type, p.order, p.length);
      await this.client.writeRegisters(unit, wire, words);
      const back = await this.client.readRegisters(unit, 'holding', wire, words.length);
      if (back.some((w, i) => w !== words[i])) throw new DeviceProtocolError(`holding ${wire} reads back [${back}] after writing [${words}]`);
    } catch (error) {
      if (error instanceof ConfigError || error instanceof DeviceProtocolError) throw error;
      if (error instanceof ModbusExceptionError) throw new DeviceProtocolError(`write refused: ${error.message}`, { cause: error });
      throw toDeviceError(error, this.device);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function decodeItem(point: PlannedPoint, words: number[] | boolean[], offset: number, count: number): Reading {
  try {
    if (typeof words[0] === 'boolean') return { point: point.id, value: words[offset] as boolean, quality: 'good' };
    const value = decodeRegisters((words as number[]).slice(offset, offset + count), point.type, point.order, point.length);
    if (typeof value === 'number' && !Number.isFinite(value)) return { point: point.id, value: null, quality: 'bad', reason: 'not a number' };
    return { point: point.id, value, quality: 'good' };
  } catch (error) {
    return { point: point.id, value: null, quality: 'bad', reason: `cannot decode: ${(error as Error).message}` };
  }
}

function toDeviceError(error: unknown, device: ModbusDevice): Error {
  const where = `${device.id} (${device.connection.host}:${device.connection.port} unit ${device.connection.unitId})`;
  if (error instanceof ModbusTimeoutError) return new DeviceTimeoutError(`${where}: ${error.message}`, { cause: error });
  return new DeviceUnreachableError(`${where}: ${(error as Error).message}`, { cause: error });
}
