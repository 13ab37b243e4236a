// What the OPC UA connection's callers see (security, identities, endpoints, values, variables,
// monitored items, subscriptions), and the small conversions its modules share: a DataValue as
// an OpcuaValue, a data type's name, a node-opcua error's status and first line.
import { DataType, VariantArrayType, type DataValue, type NodeId } from 'node-opcua-client';

export type OpcuaSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
export type OpcuaSecurityPolicy = 'None' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'Aes256_Sha256_RsaPss' | 'Basic256' | 'Basic128Rsa15';
export const OPCUA_SECURITY_MODES: readonly OpcuaSecurityMode[] = ['None', 'Sign', 'SignAndEncrypt'];

/** Who the session is for: nobody in particular, a user, or the holder of a certificate. */
export type OpcuaIdentity = 'anonymous' | { userName: string; password: string } | { certificateFile: string; privateKeyFile: string };

export interface OpcuaConnectOptions {
  /** Default `None`. */
  securityMode?: OpcuaSecurityMode;
  /** Default `None` with mode None, else `Basic256Sha256`. */
  securityPolicy?: OpcuaSecurityPolicy;
  /** Default anonymous. */
  identity?: OpcuaIdentity;
  /**
   * Our certificate store: our application certificate and key (created if missing, in
   * `own/`), the server certificates trusted (`trusted/certs`) and refused (`rejected`).
   */
  pkiDir: string;
  /** Our application name, in our certificate and the server's session list. Default `CityPilot gateway`. */
  applicationName?: string;
  /** Delays between reconnection attempts after the connection breaks, in milliseconds. Default 250 doubling up to 5000. */
  reconnectDelayMs?: { initial: number; max: number };
  /** Timeout of each request, in milliseconds. Default 10000. */
  requestTimeoutMs?: number;
  /** References a browse asks per node in one answer; the server sends the rest on BrowseNext. Default 1000. */
  maxReferencesPerNode?: number;
}

/** An endpoint the server offers. */
export interface OpcuaEndpoint {
  endpointUrl: string;
  securityMode: OpcuaSecurityMode;
  securityPolicy: OpcuaSecurityPolicy;
  /** Identities the endpoint accepts. */
  userTokenTypes: ('anonymous' | 'userName' | 'certificate' | 'issuedToken')[];
  /** Thumbprint of the server's certificate, when the endpoint has one. */
  serverCertificateThumbprint?: string;
}

/** A value read or notified, with its status and the time the source gave it. */
export interface OpcuaValue {
  nodeId: string;
  /** The value: number, bigint-like [high, low] pair for 64-bit integers as node-opcua gives them, boolean, string, Date, or an array. */
  value: unknown;
  /** Built-in type of the value (`Double`, `Int64`, `LocalizedText`, `ByteString`, `ExtensionObject`, …); `Null` when there is none. */
  dataType: string;
  /** Whether the value is an array (or a matrix) of `dataType` rather than one value. */
  array: boolean;
  /** StatusCode name: `Good`, `BadSensorFailure`, `UncertainLastUsableValue`, … */
  statusCode: string;
  /** `good`, `uncertain` or `bad`: the StatusCode's severity. */
  quality: 'good' | 'uncertain' | 'bad';
  sourceTimestamp?: Date;
  serverTimestamp?: Date;
}

/** Engineering units of an AnalogItem (OPC UA EUInformation; unitId is a UNECE code). */
export interface OpcuaEngineeringUnits {
  namespaceUri: string;
  unitId: number;
  /** E.g. `°C`. */
  displayName: string;
  /** E.g. `degree Celsius`. */
  description: string;
}

/** A variable found by {@link OpcuaConnection.browse}. */
export interface OpcuaVariable {
  nodeId: string;
  /** Browse names from the start node (excluded), joined by `/`: `Building/AHU1/FanSpeed`. */
  browsePath: string;
  displayName: string;
  /** Built-in type name (`Double`, `UInt32`, `Boolean`, `String`, `DateTime`, …) or the data type's node id. */
  dataType: string;
  /** -1 for a scalar, 1 for a one-dimensional array, … (OPC UA ValueRank). */
  valueRank: number;
  /** Lengths of the dimensions of an array; absent for a scalar or when the server does not say. */
  arrayDimensions?: number[];
  /** The current user may write its value. */
  writable: boolean;
  engineeringUnits?: OpcuaEngineeringUnits;
  euRange?: { low: number; high: number };
}

/** One node to monitor. */
export interface OpcuaMonitoredItemRequest {
  nodeId: string;
  /** How often the server samples the value, in milliseconds. */
  samplingIntervalMs: number;
  /** Notifications kept by the server between publishes; the oldest are dropped beyond. Default 1. */
  queueSize?: number;
  /**
   * Changes smaller than this are not notified: `absolute` in the value's unit, `percent` of
   * the node's EURange (the server refuses percent for nodes without one).
   */
  deadband?: { type: 'absolute' | 'percent'; value: number };
}

/** A subscription's monitored items, alive across reconnections until closed. */
export interface OpcuaSubscription {
  /** Items the server refused, with the reason (`BadNodeIdUnknown`, `BadFilterNotAllowed`, …) and their index in the items asked. */
  readonly refused: readonly { nodeId: string; reason: string; index: number }[];
  /**
   * The sampling interval the server chose for the item at `index` of the items asked, in
   * milliseconds: the one asked, or coarser (a node's MinimumSamplingInterval, a server's
   * fastest rate); as revised again if the item was recreated after a reconnection. Undefined
   * for an item refused.
   */
  samplingIntervalMs(index: number): number | undefined;
  /** The publishing interval the server chose, in milliseconds. */
  publishingIntervalMs(): number;
  /**
   * The longest the server stays silent: it sends a keep-alive after this many milliseconds
   * without a change to send (its revised MaxKeepAliveCount × its publishing interval).
   */
  keepAliveMs(): number;
  /** When the server last sent this subscription anything (changes or a keep-alive), `Date.now()` milliseconds. */
  lastHeardAt(): number;
  close(): Promise<void>;
}

/** Name of the first `Bad…`/`Uncertain…` status in an error's message, if any. */
export function statusName(err: unknown): string | undefined {
  const text = err instanceof Error ? err.message : String(err);
  return /\b(Bad[A-Za-z]+)/.exec(text)?.[1];
}

/** An error's first line, for a message. */
export function reason(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/** A DataValue as the connection hands it on. */
export function toValue(nodeId: string, dv: DataValue): OpcuaValue {
  const code = dv.statusCode;
  return {
    nodeId,
    value: dv.value?.value ?? null,
    dataType: DataType[dv.value?.dataType ?? DataType.Null] ?? 'Null',
    array: (dv.value?.arrayType ?? VariantArrayType.Scalar) !== VariantArrayType.Scalar,
    statusCode: code.name,
    // The two high bits of a StatusCode are its severity: 00 good, 01 uncertain, 10 bad.
    quality: code.value >>> 30 === 0 ? 'good' : code.value >>> 30 === 1 ? 'uncertain' : 'bad',
    ...(dv.sourceTimestamp ? { sourceTimestamp: dv.sourceTimestamp } : {}),
    ...(dv.serverTimestamp ? { serverTimestamp: dv.serverTimestamp } : {}),
  };
}

/** A data type's name: the built-in type's for namespace 0, else its node id. */
export function dataTypeName(id: NodeId): string {
  if (id.namespace === 0 && typeof id.value === 'number' && DataType[id.value] !== undefined && id.value <= 25) return DataType[id.value]!;
  return id.toString();
}
