// Subscriptions: monitored items created in batches of shared parameters (sampling interval,
// queue size, deadband) within MONITORED_ITEMS_PER_REQUEST and the server's own limit, the
// items the server refused with their reasons, and what the server revised.
import {
  AttributeIds,
  ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  type ClientMonitoredItemGroup,
  type ClientSession,
  type DataValue,
} from 'node-opcua-client';
import { OpcuaRequestError } from './errors.js';
import { reason, statusName, toValue, type OpcuaMonitoredItemRequest, type OpcuaSubscription, type OpcuaValue } from './client-types.js';
import type { ServerOperations } from './server-operations.js';

/** Most monitored items created by one request: a few hundred keeps each request and its answer small. */
export const MONITORED_ITEMS_PER_REQUEST = 500;

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
export async function subscribe(
  session: ClientSession,
  ops: ServerOperations,
  items: readonly OpcuaMonitoredItemRequest[],
  onValue: (value: OpcuaValue, index: number) => void,
  options: { publishingIntervalMs?: number } = {},
): Promise<OpcuaSubscription> {
  const publishingIntervalMs = options.publishingIntervalMs ?? Math.max(100, Math.min(...items.map((i) => i.samplingIntervalMs), 1000));
  const subscription = ClientSubscription.create(session, {
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
  const perRequest = Math.min(MONITORED_ITEMS_PER_REQUEST, (await ops.operationLimits()).maxMonitoredItemsPerCall);
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
