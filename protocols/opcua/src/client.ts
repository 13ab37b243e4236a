// First: node-opcua's warnings off stdout from the moment it is loaded.
import './logging.js';
// The OPC UA connection: one object for a gateway's driver, composed of the modules that do each
// job: session.ts (certificates, endpoints, secure channel and session), server-operations.ts
// (requests within the server's limits), browse.ts and subscriptions.ts; reads and writes of
// values are here. Its types are declared in client-types.ts and exported from here.
import { AttributeIds, DataType, resolveNodeId, type ClientSession, type DataValue, type OPCUAClient } from 'node-opcua-client';
import { OpcuaRequestError, OpcuaWriteRefusedError } from './errors.js';
import { writableValue, writeRefusal, type OpcuaNodeType } from './write-values.js';
import { browseVariables } from './browse.js';
import {
  reason,
  statusName,
  toValue,
  type OpcuaConnectOptions,
  type OpcuaMonitoredItemRequest,
  type OpcuaSubscription,
  type OpcuaValue,
  type OpcuaVariable,
} from './client-types.js';
import { ServerOperations } from './server-operations.js';
import { openSession } from './session.js';
import { subscribe } from './subscriptions.js';

/**
 * A session with an OPC UA server, secured as asked, that reconnects by itself when the
 * connection breaks: node-opcua reopens the channel, reactivates the session or creates a new
 * one, and transfers or recreates its subscriptions and their monitored items.
 */
export class OpcuaConnection {
  private readonly client: OPCUAClient;
  private readonly session: ClientSession;
  private readonly operations: ServerOperations;
  private readonly nodeTypes = new Map<string, Promise<OpcuaNodeType>>();
  /** Our application certificate, the one the server must trust for Sign and SignAndEncrypt. */
  readonly certificateFile: string;

  private constructor(client: OPCUAClient, session: ClientSession, certificateFile: string) {
    this.client = client;
    this.session = session;
    this.operations = new ServerOperations(session);
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
    const { client, session, certificateFile } = await openSession(endpointUrl, options);
    return new OpcuaConnection(client, session, certificateFile);
  }

  /** Reads the values of these nodes, in order; a node's failure is in its status, not thrown. */
  async read(nodeIds: readonly string[]): Promise<OpcuaValue[]> {
    if (nodeIds.length === 0) return [];
    try {
      const values = await this.operations.readAttributes(nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
      return values.map((dv, i) => toValue(nodeIds[i]!, dv));
    } catch (err) {
      throw new OpcuaRequestError(`reading ${nodeIds.length} node(s) failed: ${reason(err)}`, { cause: err });
    }
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
      status = await this.session.write({
        nodeId,
        attributeId: AttributeIds.Value,
        value: { value: { dataType: DataType[type.dataType as keyof typeof DataType], value: checked.value } },
      });
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
    return browseVariables(this.operations, from, options);
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
    return subscribe(this.session, this.operations, items, onValue, options);
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
