// First: node-opcua's warnings off stdout from the moment it is loaded.
import './logging.js';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  ClientSubscription,
  type ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  MessageSecurityMode,
  NodeClass,
  OPCUAClient,
  makeApplicationUrn,
  resolveNodeId,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  VariantArrayType,
  type ClientSession,
  type DataValue,
  type EndpointDescription,
  type NodeId,
  type ReferenceDescription,
  type BrowseDescriptionOptions,
  type BrowseResult,
  type UserIdentityInfo,
} from 'node-opcua-client';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { keyOperationsFromPrivateKey, readPrivateKey } from 'node-opcua-crypto';
import { certificateThumbprint, listServerCertificates, openCertificateStore, readCertificateFile } from './certificates.js';
import {
  OpcuaBadCredentialsError,
  OpcuaClientCertificateRejectedError,
  OpcuaConnectionError,
  OpcuaIdentityRejectedError,
  OpcuaRequestError,
  OpcuaServerCertificateUntrustedError,
  OpcuaWriteRefusedError,
} from './errors.js';
import { writableValue, writeRefusal, type OpcuaNodeType } from './write-values.js';

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

const DEFAULT_APPLICATION_NAME = 'CityPilot gateway';

/** Operations a server takes in one request (Infinity: it sets no limit, or does not say). */
interface OperationLimits {
  maxNodesPerRead: number;
  maxMonitoredItemsPerCall: number;
  maxNodesPerBrowse: number;
}

/** Most monitored items created by one request: a few hundred keeps each request and its answer small. */
export const MONITORED_ITEMS_PER_REQUEST = 500;

/** Our application URI: in our certificate and in the session, which must agree. */
function applicationUri(applicationName: string): string {
  // What node-opcua's client announces for this name, whatever its options say.
  return makeApplicationUrn(hostname(), applicationName);
}

/** Where our application certificate and private key are in a store. */
export function clientCertificatePaths(pkiDir: string): { certificateFile: string; privateKeyFile: string } {
  return { certificateFile: join(pkiDir, 'own', 'certs', 'client_certificate.pem'), privateKeyFile: join(pkiDir, 'own', 'private', 'private_key.pem') };
}

/**
 * Creates our application certificate in `pkiDir` if it is missing (a few seconds), and gives
 * its paths: the certificate to hand to a server's administrator for trust.
 */
export async function ensureClientCertificate(
  pkiDir: string,
  applicationName = DEFAULT_APPLICATION_NAME,
): Promise<{ certificateFile: string; privateKeyFile: string }> {
  const paths = clientCertificatePaths(pkiDir);
  const store = await openCertificateStore(pkiDir);
  try {
    if (!existsSync(paths.certificateFile)) {
      await store.createSelfSignedCertificate({
        applicationUri: applicationUri(applicationName),
        dns: [hostname()],
        subject: `/CN=${applicationName}/O=CityPilot`,
        startDate: new Date(),
        validity: 365 * 10,
        outputFile: paths.certificateFile,
      });
    }
  } finally {
    await store.dispose();
  }
  return paths;
}

const MODE_NAMES: Record<number, OpcuaSecurityMode> = {
  [MessageSecurityMode.None]: 'None',
  [MessageSecurityMode.Sign]: 'Sign',
  [MessageSecurityMode.SignAndEncrypt]: 'SignAndEncrypt',
};

const TOKEN_NAMES: Record<number, OpcuaEndpoint['userTokenTypes'][number]> = {
  [UserTokenType.Anonymous]: 'anonymous',
  [UserTokenType.UserName]: 'userName',
  [UserTokenType.Certificate]: 'certificate',
  [UserTokenType.IssuedToken]: 'issuedToken',
};

function describeEndpoint(e: EndpointDescription): OpcuaEndpoint {
  const policy = (e.securityPolicyUri ?? '').split('#').at(-1) as OpcuaSecurityPolicy;
  return {
    endpointUrl: e.endpointUrl ?? '',
    securityMode: MODE_NAMES[e.securityMode] ?? 'None',
    securityPolicy: policy,
    userTokenTypes: [...new Set((e.userIdentityTokens ?? []).map((t) => TOKEN_NAMES[t.tokenType]!).filter(Boolean))],
    ...(e.serverCertificate && e.serverCertificate.length > 0 ? { serverCertificateThumbprint: certificateThumbprint(firstCertificate(e.serverCertificate)) } : {}),
  };
}

/** The first certificate of a DER chain (a server may send its certificate with its issuers). */
function firstCertificate(chain: Buffer): Buffer {
  // DER SEQUENCE: 0x30, then a length in short or long form.
  if (chain[0] !== 0x30) return chain;
  const first = chain[1]!;
  if (first < 0x80) return chain.subarray(0, 2 + first);
  const bytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < bytes; i++) length = length * 256 + chain[2 + i]!;
  return chain.subarray(0, 2 + bytes + length);
}

/** Name of the first `Bad…`/`Uncertain…` status in an error's message, if any. */
function statusName(err: unknown): string | undefined {
  const text = err instanceof Error ? err.message : String(err);
  return /\b(Bad[A-Za-z]+)/.exec(text)?.[1];
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

async function fetchEndpoints(endpointUrl: string, store: OPCUACertificateManager, requestTimeoutMs: number): Promise<EndpointDescription[]> {
  const client = OPCUAClient.create({
    applicationName: DEFAULT_APPLICATION_NAME,
    endpointMustExist: false,
    clientCertificateManager: store,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    requestedSessionTimeout: requestTimeoutMs,
  });
  try {
    await client.connect(endpointUrl);
    return await client.getEndpoints();
  } catch (err) {
    throw new OpcuaConnectionError(`cannot reach the OPC UA server at ${endpointUrl}: ${reason(err)}`, { cause: err });
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

/**
 * The endpoints a server offers, with their security modes, policies and the identities they
 * accept (OPC UA GetEndpoints over an unsecured channel, as the standard allows for discovery).
 */
export async function discoverEndpoints(endpointUrl: string, options: { pkiDir: string; requestTimeoutMs?: number }): Promise<OpcuaEndpoint[]> {
  const store = await openCertificateStore(options.pkiDir);
  try {
    return (await fetchEndpoints(endpointUrl, store, options.requestTimeoutMs ?? 10_000)).map(describeEndpoint);
  } finally {
    await store.dispose();
  }
}

function toValue(nodeId: string, dv: DataValue): OpcuaValue {
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

function dataTypeName(id: NodeId): string {
  if (id.namespace === 0 && typeof id.value === 'number' && DataType[id.value] !== undefined && id.value <= 25) return DataType[id.value]!;
  return id.toString();
}

/**
 * A session with an OPC UA server, secured as asked, that reconnects by itself when the
 * connection breaks: node-opcua reopens the channel, reactivates the session or creates a new
 * one, and transfers or recreates its subscriptions and their monitored items.
 */
export class OpcuaConnection {
  private readonly client: OPCUAClient;
  private readonly session: ClientSession;
  private readonly nodeTypes = new Map<string, Promise<OpcuaNodeType>>();
  /** The server's operation limits, asked at the first read, browse or subscription. */
  private limits: Promise<OperationLimits> | undefined;
  /** Our application certificate, the one the server must trust for Sign and SignAndEncrypt. */
  readonly certificateFile: string;

  private constructor(client: OPCUAClient, session: ClientSession, certificateFile: string) {
    this.client = client;
    this.session = session;
    this.certificateFile = certificateFile;
  }

  /**
   * Connects and opens a session. Throws {@link OpcuaServerCertificateUntrustedError} when we do
   * not trust the server's certificate (it is then in our store's `rejected` folder),
   * {@link OpcuaClientCertificateRejectedError} when the server does not trust ours,
   * {@link OpcuaBadCredentialsError} for a wrong user name or password,
   * {@link OpcuaIdentityRejectedError} for another refused identity and
   * {@link OpcuaConnectionError} otherwise.
   */
  static async connect(endpointUrl: string, options: OpcuaConnectOptions): Promise<OpcuaConnection> {
    const mode = options.securityMode ?? 'None';
    const policy = options.securityPolicy ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
    const applicationName = options.applicationName ?? DEFAULT_APPLICATION_NAME;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const { certificateFile, privateKeyFile } = await ensureClientCertificate(options.pkiDir, applicationName);
    const store = await openCertificateStore(options.pkiDir);
    if (mode !== 'None' || policy !== 'None') {
      // Check the server's certificate ourselves, before the secure channel: node-opcua would
      // refuse it too, but with a message that does not tell a technician what to do.
      const endpoints = await fetchEndpoints(endpointUrl, store, requestTimeoutMs).catch(async (err: unknown) => {
        await store.dispose();
        throw err;
      });
      const endpoint = endpoints.find((e) => MODE_NAMES[e.securityMode] === mode && e.securityPolicyUri?.endsWith(`#${policy}`));
      if (!endpoint) {
        await store.dispose();
        const offered = endpoints.map(describeEndpoint).map((e) => `${e.securityMode}/${e.securityPolicy}`);
        throw new OpcuaConnectionError(`the server at ${endpointUrl} offers no endpoint with security ${mode}/${policy}; it offers ${[...new Set(offered)].join(', ')}`);
      }
      const serverCertificate = firstCertificate(endpoint.serverCertificate);
      const status = await store.checkCertificate(serverCertificate);
      if (!status.isGood()) {
        const thumbprint = certificateThumbprint(serverCertificate);
        if (!listServerCertificates(options.pkiDir).some((c) => c.thumbprint === thumbprint)) await store.rejectCertificate(serverCertificate);
        await store.dispose();
        const seen = listServerCertificates(options.pkiDir).find((c) => c.thumbprint === thumbprint);
        throw new OpcuaServerCertificateUntrustedError({
          thumbprint,
          subject: seen?.subject ?? '(unreadable subject)',
          file: seen?.file ?? join(options.pkiDir, 'rejected'),
          status: status.name,
        });
      }
    }
    const client = OPCUAClient.create({
      applicationName,
      applicationUri: applicationUri(applicationName),
      clientCertificateManager: store,
      certificateFile,
      privateKeyFile,
      securityMode: MessageSecurityMode[mode],
      securityPolicy: SecurityPolicy[policy],
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      // One retry for the first connection, so that a wrong address or a refusal is reported
      // soon (maxRetry 0 would also turn off reconnection). Once a connection breaks,
      // node-opcua retries forever with these delays.
      connectionStrategy: { maxRetry: 1, initialDelay: options.reconnectDelayMs?.initial ?? 250, maxDelay: options.reconnectDelayMs?.max ?? 5000 },
      transportTimeout: requestTimeoutMs,
    });
    try {
      await client.connect(endpointUrl);
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      const status = statusName(err);
      if (mode !== 'None' && status && /^Bad(Certificate|SecurityChecksFailed)/.test(status)) {
        throw new OpcuaClientCertificateRejectedError(certificateFile, status, { cause: err });
      }
      throw new OpcuaConnectionError(`cannot connect to the OPC UA server at ${endpointUrl} (${mode}/${policy}): ${reason(err)}`, { cause: err });
    }
    const identity = options.identity ?? 'anonymous';
    let userIdentity: UserIdentityInfo;
    if (identity === 'anonymous') userIdentity = { type: UserTokenType.Anonymous };
    else if ('userName' in identity) userIdentity = { type: UserTokenType.UserName, userName: identity.userName, password: identity.password };
    else {
      userIdentity = {
        type: UserTokenType.Certificate,
        certificateData: readCertificateFile(identity.certificateFile),
        keyOperations: keyOperationsFromPrivateKey(readPrivateKey(identity.privateKeyFile)),
      };
    }
    try {
      const session = await client.createSession(userIdentity);
      session.requestedMaxReferencesPerNode = options.maxReferencesPerNode ?? 1000;
      return new OpcuaConnection(client, session, certificateFile);
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      const status = statusName(err) ?? 'refused';
      if (identity !== 'anonymous' && 'userName' in identity) {
        throw new OpcuaBadCredentialsError(`the server at ${endpointUrl} refused user "${identity.userName}": wrong user name or password (${status})`, { cause: err });
      }
      if (identity !== 'anonymous') {
        throw new OpcuaIdentityRejectedError(
          `the server at ${endpointUrl} refused the user certificate ${identity.certificateFile} (${status}); the server must trust it as a user certificate`,
          { cause: err },
        );
      }
      throw new OpcuaIdentityRejectedError(`the server at ${endpointUrl} refused an anonymous session (${status}); give a user name and password or a certificate`, {
        cause: err,
      });
    }
  }

  /** Reads the values of these nodes, in order; a node's failure is in its status, not thrown. */
  async read(nodeIds: readonly string[]): Promise<OpcuaValue[]> {
    if (nodeIds.length === 0) return [];
    try {
      const values = await this.readAttributes(nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
      return values.map((dv, i) => toValue(nodeIds[i]!, dv));
    } catch (err) {
      throw new OpcuaRequestError(`reading ${nodeIds.length} node(s) failed: ${reason(err)}`, { cause: err });
    }
  }

  /**
   * Reads attributes in as few Read requests as the server's MaxNodesPerRead allows (read once
   * from its OperationLimits; none given, one request): many servers of building systems cap
   * it at a few hundred or a thousand, and refuse a longer request whole.
   */
  private async readAttributes(nodesToRead: { nodeId: string | NodeId; attributeId: number }[]): Promise<DataValue[]> {
    const perRequest = (await this.operationLimits()).maxNodesPerRead;
    if (nodesToRead.length <= perRequest) return await this.session.read(nodesToRead, 0);
    const values: DataValue[] = [];
    for (let from = 0; from < nodesToRead.length; from += perRequest) values.push(...(await this.session.read(nodesToRead.slice(from, from + perRequest), 0)));
    return values;
  }

  /**
   * Browses these nodes in as few Browse requests as the server's MaxNodesPerBrowse allows, and
   * follows continuation points (BrowseNext) until every reference is in: a folder of a
   * building system holds more references than a server returns in one answer.
   */
  private async browseAll(nodesToBrowse: BrowseDescriptionOptions[]): Promise<BrowseResult[]> {
    const perRequest = (await this.operationLimits()).maxNodesPerBrowse;
    const results: BrowseResult[] = [];
    for (let from = 0; from < nodesToBrowse.length; from += perRequest) results.push(...(await this.session.browse(nodesToBrowse.slice(from, from + perRequest))));
    let pending = results.flatMap((r, index) => (r.continuationPoint && r.continuationPoint.length > 0 ? [{ index, point: r.continuationPoint }] : []));
    while (pending.length > 0) {
      const next: typeof pending = [];
      for (let from = 0; from < pending.length; from += perRequest) {
        const chunk = pending.slice(from, from + perRequest);
        const more = await this.session.browseNext(
          chunk.map((p) => p.point),
          false,
        );
        more.forEach((r, i) => {
          const { index } = chunk[i]!;
          results[index]!.references = [...(results[index]!.references ?? []), ...(r.references ?? [])];
          if (r.continuationPoint && r.continuationPoint.length > 0) next.push({ index, point: r.continuationPoint });
        });
      }
      pending = next;
    }
    return results;
  }

  /**
   * The server's MaxNodesPerRead and MaxMonitoredItemsPerCall (Infinity when it sets none or
   * does not say), read once. Two nodes read by themselves: node-opcua's readOperationLimits
   * reads a dozen in one request, which a server with a limit under that refuses.
   */
  private operationLimits(): Promise<OperationLimits> {
    this.limits ??= this.session
      .read([
        { nodeId: 'ns=0;i=11705', attributeId: AttributeIds.Value }, // Server_ServerCapabilities_OperationLimits_MaxNodesPerRead
        { nodeId: 'ns=0;i=11714', attributeId: AttributeIds.Value }, // …_MaxMonitoredItemsPerCall
        { nodeId: 'ns=0;i=11710', attributeId: AttributeIds.Value }, // …_MaxNodesPerBrowse
      ])
      .then(
        (values) => {
          const limit = (dv: DataValue | undefined) => (dv?.statusCode.isGood() && typeof dv.value.value === 'number' && dv.value.value > 0 ? dv.value.value : Infinity);
          return { maxNodesPerRead: limit(values[0]), maxMonitoredItemsPerCall: limit(values[1]), maxNodesPerBrowse: limit(values[2]) };
        },
        () => ({ maxNodesPerRead: Infinity, maxMonitoredItemsPerCall: Infinity, maxNodesPerBrowse: Infinity }),
      );
    return this.limits;
  }

  /**
   * The built-in data type (the base of a subtype: `UtcTime` is a DateTime, an enumeration an
   * Int32) and ValueRank of a variable, read once per node and kept.
   * @throws OpcuaRequestError when the server does not describe the node (unknown node id, …)
   */
  async nodeType(nodeId: string): Promise<OpcuaNodeType> {
    let type = this.nodeTypes.get(nodeId);
    if (!type) {
      type = this.describeNodeType(nodeId);
      this.nodeTypes.set(nodeId, type);
      // A failure (the connection lost meanwhile) is asked again at the next write.
      type.catch(() => this.nodeTypes.delete(nodeId));
    }
    return await type;
  }

  private async describeNodeType(nodeId: string): Promise<OpcuaNodeType> {
    let rank: DataValue;
    try {
      [rank] = await this.session.read([{ nodeId, attributeId: AttributeIds.ValueRank }]);
    } catch (err) {
      throw new OpcuaRequestError(`cannot read the type of ${nodeId}: ${statusName(err) ?? 'the request failed'}`, { cause: err });
    }
    if (!rank!.statusCode.isGood()) throw new OpcuaRequestError(`cannot read the type of ${nodeId}: ${rank!.statusCode.name}`);
    let dataType: DataType;
    try {
      dataType = await this.session.getBuiltInDataType(resolveNodeId(nodeId));
    } catch (err) {
      throw new OpcuaRequestError(`cannot read the data type of ${nodeId}: ${statusName(err) ?? 'the server did not describe it'}`, { cause: err });
    }
    return { dataType: DataType[dataType] ?? 'Null', valueRank: typeof rank!.value.value === 'number' ? rank!.value.value : -1 };
  }

  /**
   * Writes a value to a writable node, as the node's data type ({@link nodeType}), after
   * checking that the node can hold it.
   * @throws OpcuaWriteRefusedError for a value the node cannot hold, before anything is sent
   * @throws OpcuaRequestError with the server's status, in words, when it refuses the write
   */
  async write(nodeId: string, value: number | boolean | string): Promise<void> {
    const type = await this.nodeType(nodeId);
    const checked = writableValue(nodeId, type, value);
    if ('refused' in checked) throw new OpcuaWriteRefusedError(checked.refused);
    let status;
    try {
      status = await this.session.write({ nodeId, attributeId: AttributeIds.Value, value: { value: { dataType: DataType[type.dataType as keyof typeof DataType], value: checked.value } } });
    } catch (err) {
      // node-opcua's own text (an encoding's internals) is for the log, not for a caller.
      throw new OpcuaRequestError(`writing ${nodeId} failed: ${statusName(err) ?? 'the request was not answered'}`, { cause: err });
    }
    if (status.isNotGood()) throw new OpcuaRequestError(writeRefusal(nodeId, status.name));
  }

  /**
   * The variables under `from` (default the Objects folder), depth first, with their data types,
   * access, array dimensions and engineering units. The server's own nodes (namespace 0) below
   * the start are skipped.
   */
  async browse(from = 'ns=0;i=85', options: { maxDepth?: number } = {}): Promise<OpcuaVariable[]> {
    const maxDepth = options.maxDepth ?? 10;
    const variables: OpcuaVariable[] = [];
    let level: { nodeId: string; path: string }[] = [{ nodeId: from, path: '' }];
    for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
      const results = await this.browseAll(
        level.map((n) => ({
          nodeId: n.nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          nodeClassMask: NodeClass.Object | NodeClass.Variable,
          resultMask: 63,
        })),
      );
      const next: typeof level = [];
      const found: { ref: ReferenceDescription; path: string }[] = [];
      results.forEach((result, i) => {
        for (const ref of result.references ?? []) {
          if (ref.nodeId.namespace === 0) continue;
          // Properties (EngineeringUnits, EURange) describe their parent, they are not points.
          if (ref.referenceTypeId.namespace === 0 && ref.referenceTypeId.value === 46) continue;
          const path = level[i]!.path ? `${level[i]!.path}/${ref.browseName.name}` : `${ref.browseName.name}`;
          if (ref.nodeClass === NodeClass.Variable) found.push({ ref, path });
          else next.push({ nodeId: ref.nodeId.toString(), path });
        }
      });
      variables.push(...(await this.describeVariables(found)));
      level = next;
    }
    return variables;
  }

  private async describeVariables(found: { ref: ReferenceDescription; path: string }[]): Promise<OpcuaVariable[]> {
    if (found.length === 0) return [];
    const attributes = [AttributeIds.DataType, AttributeIds.ValueRank, AttributeIds.ArrayDimensions, AttributeIds.UserAccessLevel];
    const values = await this.readAttributes(found.flatMap((f) => attributes.map((attributeId) => ({ nodeId: f.ref.nodeId, attributeId }))));
    const properties = await this.browseAll(
      found.map((f) => ({ nodeId: f.ref.nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HasProperty', includeSubtypes: true, resultMask: 63 })),
    );
    const wanted: { index: number; name: 'EngineeringUnits' | 'EURange'; nodeId: NodeId }[] = [];
    properties.forEach((result, index) => {
      for (const ref of result.references ?? []) {
        if (ref.browseName.name === 'EngineeringUnits' || ref.browseName.name === 'EURange') wanted.push({ index, name: ref.browseName.name, nodeId: ref.nodeId });
      }
    });
    const propertyValues = wanted.length ? await this.readAttributes(wanted.map((w) => ({ nodeId: w.nodeId, attributeId: AttributeIds.Value }))) : [];
    return found.map((f, i) => {
      const [dataType, valueRank, arrayDimensions, userAccessLevel] = values.slice(i * 4, i * 4 + 4) as [DataValue, DataValue, DataValue, DataValue];
      const variable: OpcuaVariable = {
        nodeId: f.ref.nodeId.toString(),
        browsePath: f.path,
        displayName: f.ref.displayName.text ?? f.ref.browseName.name ?? '',
        dataType: dataType.statusCode.isGood() ? dataTypeName(dataType.value.value as NodeId) : 'unknown',
        valueRank: valueRank.statusCode.isGood() ? (valueRank.value.value as number) : -1,
        writable: userAccessLevel.statusCode.isGood() && ((userAccessLevel.value.value as number) & 2) !== 0,
      };
      const dims = arrayDimensions.statusCode.isGood() ? (arrayDimensions.value.value as ArrayLike<number> | null) : null;
      if (dims && dims.length > 0) variable.arrayDimensions = Array.from(dims);
      wanted.forEach((w, j) => {
        if (w.index !== i || !propertyValues[j]?.statusCode.isGood()) return;
        const v = propertyValues[j]!.value.value as Record<string, unknown> | null;
        if (!v) return;
        if (w.name === 'EURange') variable.euRange = { low: v.low as number, high: v.high as number };
        else {
          variable.engineeringUnits = {
            namespaceUri: (v.namespaceUri as string) ?? '',
            unitId: v.unitId as number,
            displayName: (v.displayName as { text?: string } | null)?.text ?? '',
            description: (v.description as { text?: string } | null)?.text ?? '',
          };
        }
      });
      return variable;
    });
  }

  /**
   * Monitors these nodes in one subscription; `onValue` gets each notification with the index
   * of its item in `items`, the initial value first. After a reconnection node-opcua restores
   * the subscription on the server (transferred, or recreated with the same items); nothing is
   * added twice.
   *
   * Items are created in batches, one CreateMonitoredItems request per batch of items that
   * share their parameters (sampling interval, queue size, deadband) and at most
   * {@link MONITORED_ITEMS_PER_REQUEST} (or the server's own limit) items: a building's
   * thousands of points take a few round trips, not one each.
   */
  async subscribe(
    items: readonly OpcuaMonitoredItemRequest[],
    onValue: (value: OpcuaValue, index: number) => void,
    options: { publishingIntervalMs?: number } = {},
  ): Promise<OpcuaSubscription> {
    const publishingIntervalMs = options.publishingIntervalMs ?? Math.max(100, Math.min(...items.map((i) => i.samplingIntervalMs), 1000));
    const subscription = ClientSubscription.create(this.session, {
      requestedPublishingInterval: publishingIntervalMs,
      requestedLifetimeCount: 600,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    let heardAt = Date.now();
    const heard = () => void (heardAt = Date.now());
    subscription.on('keepalive', heard);
    subscription.on('received_notifications', heard);
    await new Promise<void>((resolve, reject) => {
      subscription.once('started', () => resolve());
      subscription.once('internal_error', (err: Error) => reject(new OpcuaRequestError(`the server refused the subscription: ${reason(err)}`, { cause: err })));
    });
    const perRequest = Math.min(MONITORED_ITEMS_PER_REQUEST, (await this.operationLimits()).maxMonitoredItemsPerCall);
    // Items with the same parameters, by their parameters, each with its index in `items`.
    const batches = new Map<string, number[]>();
    items.forEach((item, index) => {
      const key = JSON.stringify([item.samplingIntervalMs, item.queueSize ?? 1, item.deadband?.type, item.deadband?.value]);
      const batch = batches.get(key);
      if (batch) batch.push(index);
      else batches.set(key, [index]);
    });
    const refused: { nodeId: string; reason: string; index: number }[] = [];
    const monitored = new Map<number, ClientMonitoredItemGroup['monitoredItems'][number]>();
    for (const indexes of batches.values()) {
      for (let from = 0; from < indexes.length; from += perRequest) {
        const chunk = indexes.slice(from, from + perRequest);
        const first = items[chunk[0]!]!;
        const filter = first.deadband
          ? new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: first.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
              deadbandValue: first.deadband.value,
            })
          : null;
        let group: ClientMonitoredItemGroup;
        try {
          group = await subscription.monitorItems(
            chunk.map((i) => ({ nodeId: items[i]!.nodeId, attributeId: AttributeIds.Value })),
            { samplingInterval: first.samplingIntervalMs, queueSize: first.queueSize ?? 1, discardOldest: true, filter },
            TimestampsToReturn.Both,
          );
        } catch (err) {
          // The whole request failed (a node id that does not parse, too many operations, …).
          const why = statusName(err) ?? reason(err);
          for (const i of chunk) refused.push({ nodeId: items[i]!.nodeId, reason: why, index: i });
          continue;
        }
        // node-opcua resolves with every item, those the server refused included: it has
        // already dropped those from the subscription, so they are not recreated on reconnection.
        group.monitoredItems.forEach((item, j) => {
          if (item.statusCode.isNotGood()) refused.push({ nodeId: items[chunk[j]!]!.nodeId, reason: item.statusCode.name, index: chunk[j]! });
          else monitored.set(chunk[j]!, item);
        });
        group.on('changed', (_monitored, dv: DataValue, j: number) => onValue(toValue(items[chunk[j]!]!.nodeId, dv), chunk[j]!));
      }
    }
    return {
      refused,
      // node-opcua keeps the server's revised values on its objects, recreated items included.
      samplingIntervalMs: (index) => monitored.get(index)?.monitoringParameters.samplingInterval,
      publishingIntervalMs: () => subscription.publishingInterval,
      keepAliveMs: () => subscription.maxKeepAliveCount * subscription.publishingInterval,
      lastHeardAt: () => heardAt,
      close: async () => {
        await subscription.terminate().catch(() => undefined);
      },
    };
  }

  /**
   * Calls `listener` when the connection breaks (`reconnecting`: values are stale until
   * `connected`) and when it is back with its session and subscriptions.
   */
  onConnectionState(listener: (state: 'reconnecting' | 'connected') => void): void {
    this.client.on('connection_lost', () => listener('reconnecting'));
    this.client.on('connection_reestablished', () => listener('connected'));
  }

  /** Closes the session and the connection; no reconnection after this. */
  async close(): Promise<void> {
    await this.session.close().catch(() => undefined);
    await this.client.disconnect().catch(() => undefined);
  }
}
