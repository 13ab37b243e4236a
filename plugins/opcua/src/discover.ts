import { join, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  DeviceProtocolError,
  DeviceUnreachableError,
  ID_PATTERN,
  type DiscoveredDevice,
  type Discovery,
  type DiscoveryContext,
} from '@citypilot/sdk';
import type { OpcuaConnectOptions, OpcuaConnection, OpcuaVariable } from '@citypilot/protocol-opcua';
import { loadOpcuaProtocol, nodeIdProblem, type OpcuaProtocol } from './protocol.js';
import { opcuaConnection } from './schema.js';

/** Elements of an array drafted as points; beyond, a note says how many were left out. */
export const MAX_ARRAY_ELEMENTS = 32;

const options = Type.Object(
  {
    endpointUrl: opcuaConnection.properties.endpointUrl,
    securityMode: opcuaConnection.properties.securityMode,
    securityPolicy: opcuaConnection.properties.securityPolicy,
    userName: Type.Optional(Type.String({ minLength: 1, description: 'A user name for the session (with --password-env); anonymous without it.' })),
    passwordEnv: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'Name of the environment variable that holds the password of --user-name (never the password itself).',
      }),
    ),
    dataDir: Type.String({
      minLength: 1,
      default: 'data',
      description:
        "The gateway's data folder (dataDir of its configuration): our certificate and the trusted server certificates are in its plugins/opcua/pki.",
    }),
    from: Type.String({ minLength: 1, default: 'ns=0;i=85', description: 'The node to browse from, such as ns=2;s=Plant; ns=0;i=85 is the Objects folder.' }),
  },
  { additionalProperties: false },
);

type DiscoverOptions = Static<typeof options>;

/**
 * Browses one server's address space below `from` and drafts one device block of its
 * variables. It only reads: browse and attribute reads, no writes, no subscriptions.
 */
export const opcuaDiscovery: Discovery<typeof options> = {
  options,
  async run(o: DiscoverOptions, context: DiscoveryContext): Promise<DiscoveredDevice[]> {
    if (nodeIdProblem(o.from) !== undefined)
      throw new ConfigError([{ path: ['from'], message: `${JSON.stringify(o.from)} is not an OPC UA node id: expected such as ns=2;s=Plant` }]);
    if (o.passwordEnv !== undefined && o.userName === undefined) throw new ConfigError([{ path: ['passwordEnv'], message: 'goes with --user-name' }]);
    if (o.userName !== undefined && o.passwordEnv === undefined)
      throw new ConfigError([{ path: ['passwordEnv'], message: 'is required with --user-name: the environment variable that holds the password' }]);
    const opcua = await loadOpcuaProtocol();
    opcua.routeOpcuaLibraryLogs(context.logger);
    const connect: OpcuaConnectOptions = {
      pkiDir: join(resolve(o.dataDir), 'plugins', 'opcua', 'pki'),
      securityMode: o.securityMode,
      requestTimeoutMs: Math.max(context.timeoutMs, 10_000),
    };
    if (o.securityPolicy !== undefined) connect.securityPolicy = o.securityPolicy;
    if (o.userName !== undefined) {
      const password = process.env[o.passwordEnv!];
      if (password === undefined) throw new ConfigError([{ path: ['passwordEnv'], message: `the environment variable ${o.passwordEnv} is not set` }]);
      connect.identity = { userName: o.userName, password };
    }
    let session: OpcuaConnection;
    try {
      session = await opcua.OpcuaConnection.connect(o.endpointUrl, connect);
    } catch (error) {
      throw discoveryError(opcua, error);
    }
    let variables: OpcuaVariable[];
    try {
      variables = await session.browse(o.from);
    } finally {
      await session.close();
    }
    return [draftDevice(o, variables)];
  },
};

function discoveryError(opcua: OpcuaProtocol, error: unknown): unknown {
  if (error instanceof opcua.OpcuaServerCertificateUntrustedError) {
    return new DeviceUnreachableError(
      `${error.message}: check it is the right server, then trust it with \`citypilot gateway opcua-certificates trust CONFIG ${error.thumbprint}\` (or, before a configuration exists, move ${error.file} into the trusted/certs folder next to it) and run the discovery again`,
      { cause: error },
    );
  }
  if (error instanceof opcua.OpcuaBadCredentialsError || error instanceof opcua.OpcuaIdentityRejectedError)
    return new DeviceProtocolError(error.message, { cause: error });
  if (error instanceof opcua.OpcuaError) return new DeviceUnreachableError(error.message, { cause: error });
  return error;
}

const NUMBER_TYPES = new Set(['SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64', 'UInt64', 'Float', 'Double']);
const STRING_TYPES = new Set(['String', 'LocalizedText', 'DateTime']);

/** The point kind a built-in data type reads as, or undefined for types the plugin does not read. */
function kindOf(dataType: string): 'number' | 'boolean' | 'string' | undefined {
  if (NUMBER_TYPES.has(dataType)) return 'number';
  if (dataType === 'Boolean') return 'boolean';
  if (STRING_TYPES.has(dataType)) return 'string';
  return undefined;
}

/** One device block of the variables found, with what the technician must check. */
export function draftDevice(
  o: Pick<DiscoverOptions, 'endpointUrl' | 'securityMode' | 'securityPolicy' | 'userName' | 'passwordEnv'>,
  variables: readonly OpcuaVariable[],
): DiscoveredDevice {
  const notes: string[] = [];
  const left: string[] = [];
  const writable: string[] = [];
  const ids = new Set<string>();
  const points: Record<string, unknown>[] = [];
  // Browse paths start alike (Building/…): the common folders are left out of ids and names.
  const paths = variables.map((v) => v.browsePath.split('/'));
  let common = 0;
  while (paths.length > 0 && paths.every((p) => p.length > common + 1 && p[common] === paths[0]![common])) common++;
  variables.forEach((v, i) => {
    const segments = paths[i]!.slice(common);
    const kind = kindOf(v.dataType);
    if (!kind) {
      left.push(`${v.browsePath} (${v.dataType}${/^(ns=|i=)/.test(v.dataType) ? ': a structure or enumeration' : ''})`);
      return;
    }
    const base = uniqueId(idFrom(segments), ids);
    const name = [...segments.slice(0, -1), v.displayName].join(' ');
    const unit = v.engineeringUnits?.displayName || undefined;
    const tags = suggestTags(unit, segments);
    const point = (id: string, pointName: string, address: Record<string, unknown>) => {
      points.push({ id, name: pointName, ...(unit ? { unit } : {}), kind, tags, address });
      if (v.writable) writable.push(id);
    };
    if (v.valueRank === -1 || v.valueRank === -3) {
      point(base, name, { nodeId: v.nodeId });
      return;
    }
    const length = v.valueRank === 1 ? v.arrayDimensions?.[0] : undefined;
    if (length === undefined || length === 0) {
      left.push(
        `${v.browsePath} (${v.valueRank === 1 ? 'an array of unknown length: add points with address.index by hand' : `an array of ${v.valueRank === 0 || v.valueRank === -2 ? 'unknown' : v.valueRank} dimensions`})`,
      );
      ids.delete(base);
      return;
    }
    for (let e = 0; e < Math.min(length, MAX_ARRAY_ELEMENTS); e++) point(uniqueId(`${base}-${e}`, ids), `${name} [${e}]`, { nodeId: v.nodeId, index: e });
    ids.delete(base);
    if (length > MAX_ARRAY_ELEMENTS)
      notes.push(
        `${v.browsePath} is an array of ${length} values: only its first ${MAX_ARRAY_ELEMENTS} are drafted (${base}-0 … ${base}-${MAX_ARRAY_ELEMENTS - 1}); add the others with address.index if needed`,
      );
  });
  if (left.length) notes.push(`left out, of types the plugin does not read: ${left.join(', ')}`);
  if (writable.length)
    notes.push(`writable on the server (drafted with writable: false; set writable: true for those the gateway may write): ${writable.join(', ')}`);
  notes.push("units and tags are suggestions from the server's EngineeringUnits and names: check them; remove the points not wanted");
  const connection: Record<string, unknown> = { endpointUrl: o.endpointUrl, securityMode: o.securityMode };
  if (o.securityPolicy !== undefined) connection.securityPolicy = o.securityPolicy;
  if (o.userName !== undefined) connection.identity = { type: 'userName', userName: o.userName, passwordEnv: o.passwordEnv };
  const url = new URL(o.endpointUrl.replace(/^opc\.tcp:/, 'http:'));
  const device: Record<string, unknown> = {
    id: uniqueId(idFrom([`opcua-${url.hostname}-${url.port || '4840'}`]), new Set()),
    name: `OPC UA server at ${o.endpointUrl}`,
    plugin: 'opcua',
    connection,
    points,
  };
  if (points.length === 0) notes.push('no variable of a readable type was found below the node browsed: try another --from');
  return { device, notes };
}

/** Accents off (`Température` → `Temperature`): ids and tags are ASCII. */
function ascii(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
}

/** `['AHU1', 'SupplyAirTemperature']` → `ahu1-supply-air-temperature`, within ID_PATTERN's 63 characters. */
export function idFrom(segments: readonly string[]): string {
  const words = ascii(segments.join('-'))
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .replace(/-{2,}/g, '-');
  return (words || 'point').slice(0, 56).replace(/[-_]+$/, '');
}

function uniqueId(id: string, taken: Set<string>): string {
  let candidate = id;
  for (let n = 2; taken.has(candidate); n++) candidate = `${id}-${n}`;
  if (!new RegExp(ID_PATTERN).test(candidate)) candidate = `p-${candidate}`.slice(0, 63);
  taken.add(candidate);
  return candidate;
}

const UNIT_TAGS: Record<string, string[]> = {
  '°C': ['temp'],
  '°F': ['temp'],
  K: ['temp'],
  kWh: ['elec', 'energy'],
  Wh: ['elec', 'energy'],
  MWh: ['elec', 'energy'],
  kW: ['power'],
  W: ['power'],
  MW: ['power'],
  kvar: ['elec', 'reactive', 'power'],
  A: ['elec', 'current'],
  V: ['elec', 'volt'],
  Hz: ['elec', 'freq'],
  'm3/h': ['flow'],
  'm³/h': ['flow'],
  'l/s': ['flow'],
  'l/h': ['flow'],
  m3: ['volume'],
  'm³': ['volume'],
  l: ['volume'],
  Pa: ['pressure'],
  kPa: ['pressure'],
  bar: ['pressure'],
  ppm: ['co2'],
  '%RH': ['humidity'],
  lx: ['illuminance'],
};

const WORD_TAGS: [RegExp, string][] = [
  [/supply|discharge|soufflage|depart/, 'supply'],
  [/return|reprise|retour/, 'return'],
  [/outside|outdoor|exterior|exterieur/, 'outside'],
  [/setpoint|consigne|^sp$/, 'sp'],
  [/fan|ventilat/, 'fan'],
  [/valve|vanne/, 'valve'],
  [/damper/, 'damper'],
  [/pump|pompe/, 'pump'],
  [/boiler|chaudiere/, 'boiler'],
  [/^(ahu|cta)\d*$/, 'ahu'],
  [/^meters?$|compteur/, 'meter'],
  [/^air$/, 'air'],
  [/water|^eau$/, 'water'],
  [/temp/, 'temp'],
  [/humid/, 'humidity'],
  [/co2/, 'co2'],
  [/pressure/, 'pressure'],
  [/energy|energie/, 'energy'],
  [/power|puissance/, 'power'],
  [/running|^run$/, 'run'],
  [/alarm|alarme|fault|defaut/, 'alarm'],
];

/** Haystack-style tags suggested by a unit and the words of a browse path. */
export function suggestTags(unit: string | undefined, segments: readonly string[]): string[] {
  const tags = new Set<string>(unit ? (UNIT_TAGS[unit] ?? []) : []);
  const words = segments
    .flatMap((s) =>
      ascii(s)
        .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
        .toLowerCase()
        .split(/[^a-z0-9]+/),
    )
    .filter(Boolean);
  for (const word of words) for (const [pattern, tag] of WORD_TAGS) if (pattern.test(word)) tags.add(tag);
  return [...tags];
}
