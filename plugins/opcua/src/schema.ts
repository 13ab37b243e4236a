import { Type, type Static } from '@sinclair/typebox';
import { Duration, StringEnum } from '@citypilot/sdk';

/**
 * The OPC UA plugin's parts of a device block. One device block is one server endpoint (one
 * session); its points are variables of that server.
 */
export const opcuaConnection = Type.Object(
  {
    endpointUrl: Type.String({
      pattern: '^opc\\.tcp://',
      expected: 'an OPC UA endpoint URL such as opc.tcp://192.168.1.20:4840',
      description: "The server's endpoint URL, as its documentation or `citypilot gateway discover opcua` gives it.",
    }),
    securityMode: StringEnum(['None', 'Sign', 'SignAndEncrypt'] as const, {
      default: 'SignAndEncrypt',
      description:
        "None sends everything in clear (only for a server on an isolated network that offers nothing else); Sign signs each message; SignAndEncrypt signs and encrypts. Sign and SignAndEncrypt need the server's certificate trusted (`citypilot gateway opcua-certificates`) and ours trusted by the server.",
    }),
    securityPolicy: Type.Optional(
      StringEnum(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const, {
        description: 'Algorithms of the secure channel. Default: None with securityMode None, Basic256Sha256 otherwise.',
      }),
    ),
    identity: Type.Union(
      [
        Type.Object({ type: Type.Literal('anonymous') }, { additionalProperties: false }),
        Type.Object(
          {
            type: Type.Literal('userName'),
            userName: Type.String({ minLength: 1 }),
            /** Exactly one of password and passwordEnv: create() checks it. */
            password: Type.Optional(Type.String({ description: 'The password, in clear in this file; prefer passwordEnv.' })),
            passwordEnv: Type.Optional(
              Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Name of the environment variable that holds the password.' }),
            ),
          },
          { additionalProperties: false },
        ),
        Type.Object(
          {
            type: Type.Literal('certificate'),
            // Relative to the plugin's folder in the data folder, not to the configuration file:
            // a driver does not know where the file is, and the user key belongs with the
            // plugin's other keys (pki/).
            certificateFile: Type.String({ minLength: 1, description: 'PEM or DER user certificate: absolute, or relative to <dataDir>/plugins/opcua.' }),
            privateKeyFile: Type.String({ minLength: 1, description: 'Its PEM private key: absolute, or relative to <dataDir>/plugins/opcua.' }),
          },
          { additionalProperties: false },
        ),
      ],
      {
        default: { type: 'anonymous' },
        description:
          'Who the session is opened for: anonymous; a user name with its password (passwordEnv: an environment variable of the gateway); or a user certificate and its key (relative files are in <dataDir>/plugins/opcua).',
        expected: 'an identity: { type: anonymous }, { type: userName, userName, passwordEnv } or { type: certificate, certificateFile, privateKeyFile }',
      },
    ),
    mode: StringEnum(['subscribe', 'poll'] as const, {
      default: 'subscribe',
      description:
        'subscribe: the server sends changes (monitored items) and the gateway samples the latest value at each interval; points the server refuses to monitor are read instead. poll: every point is read at each interval, for servers without subscriptions.',
    }),
    publishingInterval: Type.Optional(
      Duration({
        description:
          "How often the server sends the changes of the subscription. Default: the shortest sampling interval of the device's monitored points, within 100 ms to 1 s, so that a change reaches the gateway before the slot it belongs to.",
      }),
    ),
  },
  { additionalProperties: false, description: 'How to reach the OPC UA server.' },
);

export const opcuaAddress = Type.Object(
  {
    nodeId: Type.String({ minLength: 1, expected: 'an OPC UA node id such as ns=2;s=AHU1.SupplyTemp or ns=3;i=1001', description: "The variable's node id." }),
    index: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'For a variable whose value is an array: the element this point reads (0 the first). A point on an array without it is refused.',
      }),
    ),
    read: StringEnum(['device', 'poll'] as const, {
      default: 'device',
      description: "device: as the connection's mode says; poll: always read at each interval, never monitored.",
    }),
    samplingInterval: Type.Optional(
      Duration({
        description:
          "How often the server samples the variable for the subscription. Default: a tenth of the point's interval, within 100 ms to 1 s (see the README).",
      }),
    ),
    queueSize: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      description: 'Changes the server keeps between two publishes; the gateway keeps the latest.',
    }),
    deadband: Type.Optional(
      Type.Number({ minimum: 0, description: "Smallest change the server notifies, in the variable's unit (absolute deadband; numbers only)." }),
    ),
    deadbandPercent: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: "Smallest change the server notifies, in % of the variable's EURange (percent deadband; AnalogItems only). Not with deadband.",
      }),
    ),
  },
  { additionalProperties: false, description: 'Which variable of the server.' },
);

/** An OPC UA device's `connection` block, defaults applied. */
export type OpcuaConnectionConfig = Static<typeof opcuaConnection>;
/** An OPC UA point's `address` block, defaults applied. */
export type OpcuaAddressConfig = Static<typeof opcuaAddress>;
