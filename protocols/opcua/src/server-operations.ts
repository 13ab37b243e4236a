// Requests within the server's operation limits: Read and Browse split into as many requests as
// its MaxNodesPerRead and MaxNodesPerBrowse allow (many building systems refuse a longer request
// whole), BrowseNext until every reference is in, and the limits themselves, read once.
import { AttributeIds, type BrowseDescriptionOptions, type BrowseResult, type ClientSession, type DataValue, type NodeId } from 'node-opcua-client';

/** Operations a server takes in one request (Infinity: it sets no limit, or does not say). */
export interface OperationLimits {
  maxNodesPerRead: number;
  maxMonitoredItemsPerCall: number;
  maxNodesPerBrowse: number;
}

/** One session's requests, within the server's limits. */
export class ServerOperations {
  /** The server's operation limits, asked at the first read, browse or subscription. */
  private limits: Promise<OperationLimits> | undefined;

  constructor(private readonly session: ClientSession) {}

  /**
   * Reads attributes in as few Read requests as the server's MaxNodesPerRead allows (read once
   * from its OperationLimits; none given, one request): many servers of building systems cap
   * it at a few hundred or a thousand, and refuse a longer request whole.
   */
  async readAttributes(nodesToRead: { nodeId: string | NodeId; attributeId: number }[]): Promise<DataValue[]> {
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
  async browseAll(nodesToBrowse: BrowseDescriptionOptions[]): Promise<BrowseResult[]> {
    const perRequest = (await this.operationLimits()).maxNodesPerBrowse;
    const results: BrowseResult[] = [];
    for (let from = 0; from < nodesToBrowse.length; from += perRequest)
      results.push(...(await this.session.browse(nodesToBrowse.slice(from, from + perRequest))));
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
  operationLimits(): Promise<OperationLimits> {
    this.limits ??= this.session
      .read([
        { nodeId: 'ns=0;i=11705', attributeId: AttributeIds.Value }, // Server_ServerCapabilities_OperationLimits_MaxNodesPerRead
        { nodeId: 'ns=0;i=11714', attributeId: AttributeIds.Value }, // …_MaxMonitoredItemsPerCall
        { nodeId: 'ns=0;i=11710', attributeId: AttributeIds.Value }, // …_MaxNodesPerBrowse
      ])
      .then(
        (values) => {
          const limit = (dv: DataValue | undefined) =>
            dv?.statusCode.isGood() && typeof dv.value.value === 'number' && dv.value.value > 0 ? dv.value.value : Infinity;
          return { maxNodesPerRead: limit(values[0]), maxMonitoredItemsPerCall: limit(values[1]), maxNodesPerBrowse: limit(values[2]) };
        },
        () => ({ maxNodesPerRead: Infinity, maxMonitoredItemsPerCall: Infinity, maxNodesPerBrowse: Infinity }),
      );
    return this.limits;
  }
}
