import { Type, type Static } from '@sinclair/typebox';
import { ApplicationTag, ObjectType } from '@bacnet-js/client';
import {
  BACNET_PORT,
  BacnetClient,
  BacnetError,
  BacnetSocketError,
  formatObjectId,
  type BacnetDevice,
  type BacnetObjectInfo as WireObjectInfo,
  type IAm,
} from '@citypilot/protocol-bacnet';
import { DeviceUnreachableError, Duration, parseDuration, type DiscoveredDevice, type Discovery, type DiscoveryContext } from '@citypilot/sdk';
import { draftDevice, uniqueDeviceIds, type BacnetObjectInfo } from './draft.js';

const ADDRESS_PATTERN = '^[0-9.]+(:[0-9]+)?$';

/** What `citypilot gateway discover bacnet` takes. */
const discoverOptions = Type.Object(
  {
    interface: Type.String({
      default: '0.0.0.0',
      description: 'Local IPv4 address to bind: 0.0.0.0 (all) hears broadcast I-Ams, which a socket bound to one address does not.',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 47808,
      description: 'Local UDP port; 0 for any free one (enough with --address, not for broadcast answers). Stop a gateway using 47808 first.',
    }),
    broadcastAddress: Type.String({
      default: '255.255.255.255',
      description: "Where the Who-Is broadcast goes: the subnet's broadcast, such as 192.168.10.255, on port 47808 unless given as ip:port.",
    }),
    address: Type.Optional(
      Type.String({
        pattern: ADDRESS_PATTERN,
        expected: 'an IPv4 address, with :port when not 47808',
        description: 'Ask one device only (a directed Who-Is), at this IP (and :port when not 47808).',
      }),
    ),
    low: Type.Optional(Type.Integer({ minimum: 0, maximum: 4194302, description: 'Lowest device instance asked.' })),
    high: Type.Optional(Type.Integer({ minimum: 0, maximum: 4194302, description: 'Highest device instance asked.' })),
    wait: Duration({ default: '3s', description: 'How long to collect I-Am answers.' }),
  },
  { additionalProperties: false },
);

const VALUE_TYPES: Partial<Record<number, BacnetObjectInfo['presentValueType']>> = {
  [ApplicationTag.REAL]: 'real',
  [ApplicationTag.DOUBLE]: 'double',
  [ApplicationTag.UNSIGNED_INTEGER]: 'unsigned',
  [ApplicationTag.SIGNED_INTEGER]: 'signed',
  [ApplicationTag.BOOLEAN]: 'boolean',
  [ApplicationTag.ENUMERATED]: 'enumerated',
  [ApplicationTag.CHARACTER_STRING]: 'character-string',
};

/**
 * Finds BACnet/IP devices with a Who-Is (broadcast, or directed with --address), then reads
 * each one's Device object, object list and its objects' names, descriptions, units and state
 * texts, and drafts one device block per device with a point per object (draft.ts, shared with
 * the EDE import). It only reads.
 */
export function bacnetDiscovery(): Discovery<typeof discoverOptions> {
  return {
    options: discoverOptions,
    async run(options: Static<typeof discoverOptions>, context: DiscoveryContext): Promise<DiscoveredDevice[]> {
      const client = new BacnetClient({
        interface: options.interface,
        port: options.port,
        broadcastAddress: whoIsDestination(options.broadcastAddress),
        timeoutMs: context.timeoutMs,
      });
      try {
        try {
          await client.open();
        } catch (error) {
          if (error instanceof BacnetSocketError) throw new DeviceUnreachableError(error.message, { cause: error });
          throw error;
        }
        const found = await client.whoIs({ address: options.address, lowLimit: options.low, highLimit: options.high, waitMs: parseDuration(options.wait) });
        const drafts: (DiscoveredDevice & { device: { id: string } })[] = [];
        for (const iAm of found) drafts.push(await describe(client, iAm, context));
        uniqueDeviceIds(drafts);
        return drafts;
      } finally {
        client.close();
      }
    },
  };
}

/**
 * Where a discovery's Who-Is goes: the address given, on BACnet/IP's port 47808 when it names
 * none. (The client would send it to its own port, which discovery often takes at random.)
 */
export function whoIsDestination(broadcastAddress: string): string {
  return broadcastAddress.includes(':') ? broadcastAddress : `${broadcastAddress}:${BACNET_PORT}`;
}

async function describe(client: BacnetClient, iAm: IAm, context: DiscoveryContext) {
  const address = iAm.address.endsWith(':47808') ? iAm.address.slice(0, -':47808'.length) : iAm.address;
  const device: BacnetDevice = { address: iAm.address, deviceInstance: iAm.deviceInstance, maxRequestsInFlight: 1 };
  const notes: string[] = [];
  try {
    const info = await client.readDeviceInfo(device);
    const objects = (await client.readObjectList(device)).filter((o) => o.type !== ObjectType.DEVICE);
    const wire = await client.readObjectsInfo(device, objects);
    const what = [info.vendorName, info.modelName].filter(Boolean).join(' ');
    if (what)
      notes.push(
        `${what}, max APDU ${info.maxApdu}, segmentation ${info.segmentation}${info.supportsReadPropertyMultiple ? '' : ', no ReadPropertyMultiple'}${info.supportsCov ? '' : ', no COV'}`,
      );
    const unreadable = wire.filter((o) => o.error).map((o) => `${formatObjectId(o)} (${o.error!.message})`);
    if (unreadable.length) notes.push(`objects that could not be read, left out: ${unreadable.join('; ')}`);
    const objectInfos = wire.filter((o) => !o.error).map((o) => toDraftInfo(o, info.supportsCov));
    return draftDevice({ deviceInstance: iAm.deviceInstance, name: info.name, address }, objectInfos, notes);
  } catch (error) {
    if (!(error instanceof BacnetError) || error instanceof BacnetSocketError) throw error;
    context.logger.warn(
      { device: iAm.deviceInstance, address, err: error.message },
      'BACnet discovery: the device answered Who-Is but its objects could not be read',
    );
    return draftDevice(
      { deviceInstance: iAm.deviceInstance, address },
      [],
      [`answered Who-Is, but its objects could not be read (${error.message}): list its points from its EDE file (citypilot gateway import-ede)`],
    );
  }
}

function toDraftInfo(o: WireObjectInfo, deviceCov: boolean): BacnetObjectInfo {
  const info: BacnetObjectInfo = { objectType: o.type, instance: o.instance, objectName: o.name?.trim() || formatObjectId(o) };
  if (o.description) info.description = o.description;
  if (o.units !== undefined) info.units = o.units;
  if (o.presentValueTag !== undefined && VALUE_TYPES[o.presentValueTag]) info.presentValueType = VALUE_TYPES[o.presentValueTag];
  if (o.stateText?.length) info.stateTexts = o.stateText;
  if (!deviceCov) info.supportsCov = false;
  return info;
}
