import { Type, type Static } from '@sinclair/typebox';
import { Duration, StringEnum } from '@citypilot/sdk';

/** Object types a point may name, as in EDE files and the standard's text (ASHRAE 135 clause 21). */
export const BACNET_OBJECT_TYPES = [
  'analog-input',
  'analog-output',
  'analog-value',
  'binary-input',
  'binary-output',
  'binary-value',
  'multi-state-input',
  'multi-state-output',
  'multi-state-value',
  'accumulator',
  'pulse-converter',
  'integer-value',
  'positive-integer-value',
  'large-analog-value',
  'characterstring-value',
  'loop',
] as const;
export type BacnetObjectTypeName = (typeof BACNET_OBJECT_TYPES)[number];

/**
 * The BACnet/IP plugin's parts of a device block. One device block is one BACnet device (one
 * device instance). Every device reached through the same local `interface` and `port` shares
 * one UDP socket (BACnet/IP answers to the port it was asked from), so their `network` blocks
 * must agree: create() checks it.
 */
export const bacnetConnection = Type.Object(
  {
    deviceInstance: Type.Integer({
      minimum: 0,
      maximum: 4194302,
      description: "The device's instance number (its Device object), unique on the BACnet internetwork.",
    }),
    address: Type.Optional(
      Type.String({
        pattern: '^[0-9.]+(:[0-9]+)?$',
        expected: 'an IPv4 address, with :port when not 47808 (such as 192.168.10.21 or 192.168.10.21:47809)',
        description: "The device's IP address (and port when not 47808). Without it, the gateway finds the device by a Who-Is for its instance.",
      }),
    ),
    network: Type.Object(
      {
        interface: Type.String({
          default: '0.0.0.0',
          description: "Local IPv4 address the gateway's BACnet socket binds to: the one of the building network's interface; 0.0.0.0 for all.",
        }),
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 47808, description: 'Local UDP port (47808 is BAC0 and the standard one).' }),
        broadcastAddress: Type.String({
          default: '255.255.255.255',
          description: "Where Who-Is broadcasts go: the subnet's directed broadcast, such as 192.168.10.255.",
        }),
        bbmd: Type.Optional(
          Type.Object(
            {
              address: Type.String({ pattern: '^[0-9.]+(:[0-9]+)?$', expected: "the BBMD's IPv4 address, with :port when not 47808" }),
              ttl: Duration({ default: '10m', description: 'Time-to-live of the registration as a foreign device; renewed before it ends.' }),
            },
            {
              additionalProperties: false,
              description:
                'For a gateway on another subnet than the devices: register as a foreign device with this BBMD, which forwards broadcasts both ways.',
            },
          ),
        ),
      },
      { additionalProperties: false, default: {}, description: "The gateway's own BACnet/IP socket; shared by every device on the same interface and port." },
    ),
    mode: StringEnum(['cov', 'poll'] as const, {
      default: 'cov',
      description:
        'cov: subscribe to change-of-value notifications and sample the latest value at each interval, reading the points the device refuses to subscribe or while it is silent; poll: read every point at each interval.',
    }),
    covLifetime: Duration({ default: '10m', description: 'Lifetime asked for each COV subscription; renewed before it ends.' }),
    confirmedNotifications: Type.Boolean({
      default: false,
      description: 'Ask the device for confirmed COV notifications (each acknowledged) instead of unconfirmed ones.',
    }),
    readMethod: StringEnum(['auto', 'rpm', 'rp'] as const, {
      default: 'auto',
      description: 'auto: ReadPropertyMultiple if the device supports it (its protocol-services-supported), else ReadProperty; rpm or rp to force one.',
    }),
    maxApdu: Type.Optional(
      Type.Integer({ minimum: 50, maximum: 1476, description: 'Largest APDU the device accepts. Default: what the device announced in its I-Am.' }),
    ),
    maxRequestsInFlight: Type.Integer({
      minimum: 1,
      maximum: 16,
      default: 2,
      description: 'Requests sent to the device without waiting for their answers; small controllers want 1.',
    }),
    retries: Type.Integer({ minimum: 0, maximum: 5, default: 1, description: 'Times a request without an answer within the timeout is sent again.' }),
  },
  { additionalProperties: false, description: 'Which BACnet device, and how to reach it.' },
);

export const bacnetAddress = Type.Object(
  {
    objectType: Type.Union([StringEnum(BACNET_OBJECT_TYPES), Type.Integer({ minimum: 0, maximum: 1023 })], {
      expected: 'an object type such as analog-input, binary-value, multi-state-value, or its number',
      description: "The object's type, by name or by number (proprietary types are 128 and above).",
    }),
    instance: Type.Integer({ minimum: 0, maximum: 4194302, description: "The object's instance number." }),
    property: Type.Union([Type.Literal('present-value'), Type.Integer({ minimum: 0, maximum: 4194303 })], {
      default: 'present-value',
      description: 'The property read: present-value, or a property identifier number.',
    }),
    read: StringEnum(['device', 'poll'] as const, {
      default: 'device',
      description: "device: as the connection's mode says; poll: always read at each interval, never subscribed.",
    }),
    covIncrement: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: "For analog objects: the smallest change notified, written to the object's COV_Increment when it differs.",
      }),
    ),
    priority: Type.Integer({
      minimum: 1,
      maximum: 16,
      default: 16,
      description: "Priority of the gateway's writes in the object's priority array (1 highest, 16 lowest; 8 is manual operator).",
    }),
  },
  { additionalProperties: false, description: 'Which property of which object of the device.' },
);

/** A BACnet device's `connection` block, defaults applied. */
export type BacnetConnectionConfig = Static<typeof bacnetConnection>;
/** A BACnet point's `address` block, defaults applied. */
export type BacnetAddressConfig = Static<typeof bacnetAddress>;
