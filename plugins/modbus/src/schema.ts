/**
 * The Modbus plugin's configuration schema: a device's `connection` block and a point's `address`
 * block, as the gateway validates a YAML file against them (defaults applied). plugin.ts checks
 * what a schema cannot say (bounds that depend on the addressing and the type's size).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Duration, StringEnum } from '@citypilot/sdk';
import { DATA_TYPES, WORD_ORDERS } from '@citypilot/protocol-modbus';

export const connection = Type.Object(
  {
    transport: StringEnum(['tcp', 'rtu', 'rtu-over-tcp'] as const, {
      default: 'tcp',
      description:
        'How the device is reached: tcp, Modbus TCP to the device or a Modbus TCP gateway; rtu, a serial line (RS-485) on this machine, at serialPort; rtu-over-tcp, RTU frames through a serial-to-Ethernet gateway in transparent mode, at host and port. Devices on one serial line (or gateway) share it, one request at a time.',
    }),
    // Required, or refused, depending on transport: create() checks it.
    host: Type.Optional(
      Type.String({ minLength: 1, description: 'For tcp and rtu-over-tcp: IP address or host name of the device, or of the gateway in front of it.' }),
    ),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 502,
      description: 'For tcp and rtu-over-tcp: TCP port of the device or gateway (serial-to-Ethernet gateways often use 4001 or 8899).',
    }),
    serialPort: Type.Optional(
      Type.String({ minLength: 1, description: 'For rtu: path of the serial port, such as /dev/ttyUSB0 or /dev/serial/by-id/… (stable across reboots).' }),
    ),
    baudRate: Type.Integer({
      minimum: 300,
      maximum: 921600,
      default: 9600,
      description: 'For rtu: bits per second of the serial line; every device on the line uses the same.',
    }),
    parity: StringEnum(['none', 'even', 'odd'] as const, {
      default: 'even',
      description: 'For rtu: parity of the serial line. Even is the Modbus RTU default; many meters ship with none (then usually with 2 stop bits).',
    }),
    dataBits: Type.Integer({ minimum: 7, maximum: 8, default: 8, description: 'For rtu: data bits per character; Modbus RTU uses 8.' }),
    stopBits: Type.Integer({ minimum: 1, maximum: 2, default: 1, description: 'For rtu: stop bits per character.' }),
    pauseBetweenRequests: Duration({
      default: '0ms',
      description:
        'Silence kept on the line after each request to this device before the next one, such as 50ms: for slow devices and RS-485 converters that switch direction slowly.',
    }),
    retries: Type.Integer({
      minimum: 0,
      maximum: 5,
      default: 0,
      description:
        'Times a request that got no answer within the timeout is sent again before the device is marked bad; each retry adds up to the timeout to the read.',
    }),
    unitId: Type.Integer({
      minimum: 0,
      maximum: 255,
      default: 1,
      description: 'Unit id (slave address) of the device; on a serial line or behind a gateway, its address on the line.',
    }),
    writeFunctions: StringEnum(['single-when-possible', 'multiple-only'] as const, {
      default: 'single-when-possible',
      description:
        'Write functions used: single-when-possible writes a coil with function 5 and a one-register value with function 6, longer values with 16; multiple-only always uses 15 and 16, for devices without 5 and 6.',
    }),
    addressing: StringEnum(['zero-based', 'one-based'] as const, {
      default: 'zero-based',
      description:
        'How the addresses of this device are written: zero-based, as sent on the wire; or one-based, as in manuals that number registers from 1 (address 1 is register 0).',
    }),
    maxRegistersPerRequest: Type.Integer({
      minimum: 1,
      maximum: 125,
      default: 125,
      description: 'Most registers read in one request; lower it for devices that refuse long reads.',
    }),
    maxGap: Type.Integer({
      minimum: 0,
      maximum: 125,
      default: 0,
      description:
        'Unused registers (or bits) a request may read between two points to save a request; only for devices that answer for addresses they do not map.',
    }),
  },
  { additionalProperties: false, description: 'How to reach the device.' },
);

export const address = Type.Object(
  {
    table: StringEnum(['holding', 'input', 'coil', 'discrete'] as const, {
      description: 'Modbus table: holding registers (function 3), input registers (4), coils (1) or discrete inputs (2).',
    }),
    // The exact upper bound depends on `addressing` and on the type's size: create() checks it.
    address: Type.Integer({ minimum: 0, description: 'First register (or bit) of the value: 0..65535 when zero-based, 1..65536 when one-based.' }),
    type: StringEnum(DATA_TYPES, { default: 'uint16', description: 'How the registers are decoded; bool for coils and discrete inputs, and only for them.' }),
    order: StringEnum(WORD_ORDERS, {
      default: 'ABCD',
      description:
        'Byte and word order of values over several registers: ABCD big-endian, CDAB words swapped ("low word first"), BADC bytes swapped, DCBA both.',
    }),
    length: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 125, description: 'Length of a string in registers (two characters each); required for strings, only for them.' }),
    ),
    bit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 15,
        description: 'For a flag packed in a register (a status or alarm word): the bit to read, 0 the least significant; the point reads true or false.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Where the value is on the device and how it is encoded.' },
);

/** A Modbus device's `connection` block, defaults applied. */
export type ModbusConnectionConfig = Static<typeof connection>;
/** A Modbus point's `address` block, defaults applied. */
export type ModbusAddressConfig = Static<typeof address>;
