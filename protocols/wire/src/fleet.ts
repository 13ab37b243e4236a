/**
 * The fleet: what gateways tell the hub about themselves, and the plugin packages the hub assigns
 * them. Produced and consumed as follows:
 *  - **Inventory.** A gateway publishes an {@link InventoryReport} on `<prefix>.fleet.inventory.<g>`
 *    (core NATS, no JetStream) at start and every `hub.reportInterval` (30 s by default)
 *    (gateway/src/fleet/); the hub subscribes to `<prefix>.fleet.inventory.*` in a queue group,
 *    checks each report with {@link decodeInventory} and keeps the fleet in its database
 *    (hub/src/fleet/). The gateway is the subject's, never the report's: NATS permissions let a
 *    gateway's credentials publish only its own subject (hub/src/services/nats-auth.ts).
 *  - **Silence.** The hub publishes a {@link FleetAlert} on `<prefix>.fleet.alerts` when a gateway
 *    misses three reports in a row (silent) and when it reports again (online).
 *  - **Plugin packages.** The hub keeps signed packages (npm `.tgz` files, see
 *    {@link PluginPackageManifest}) in a JetStream object store (default {@link DEFAULT_PLUGIN_BUCKET},
 *    object {@link pluginObjectName}), and each gateway's assigned versions as a JSON
 *    {@link PluginAssignments} under key `<g>` of a key-value bucket (default
 *    {@link DEFAULT_FLEET_BUCKET}); it announces a change on `<prefix>.fleet.assign.<g>`. A gateway
 *    reads its key with a direct get (as for its configuration, config-push.ts) and an object's
 *    chunks with direct gets on the object store's stream ({@link objectDirectGetSubject}): read
 *    only, no consumer of its own, which is all its credentials allow.
 *  - **Signature.** Ed25519 (node:crypto) over {@link pluginSignedMessage}: the package's id,
 *    version, SDK range and SHA-256. A gateway installs a package only when the bytes it read have
 *    that SHA-256 and the signature verifies with one of the public keys it trusts.
 */
import { createHash, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { checked, parseJsonMessage } from './decode.js';
import { DecodeError } from './errors.js';
import { ID_PATTERN } from './ids.js';

/** The object store of a deployment that names none (`CITYPILOT_PLUGIN_BUCKET`, gateway `hub.pluginBucket`). */
export const DEFAULT_PLUGIN_BUCKET = 'citypilot-plugins';

/** The key-value bucket of the gateways' plugin assignments (`CITYPILOT_FLEET_BUCKET`, gateway `hub.fleetBucket`). */
export const DEFAULT_FLEET_BUCKET = 'citypilot-fleet';

/** Largest plugin package the hub accepts and a gateway downloads, in bytes. */
export const MAX_PLUGIN_PACKAGE_BYTES = 20 * 1024 * 1024;

/** Largest inventory report the hub reads, in bytes (a report is a few KB). */
export const MAX_INVENTORY_BYTES = 64 * 1024;

/** Default interval between two inventory reports of a gateway, in seconds. */
export const DEFAULT_REPORT_INTERVAL_S = 30;

/** Reports a gateway may miss before the hub calls it silent. */
export const MISSED_REPORTS_BEFORE_SILENT = 3;

/** The fleet's NATS subjects under a deployment's prefix (see the module comment). */
export function fleetSubjects(prefix = 'citypilot') {
  const inventoryHead = `${prefix}.fleet.inventory.`;
  return {
    /** Where gateway `gateway` publishes its inventory. */
    inventory: (gateway: string) => `${inventoryHead}${gateway}`,
    /** What the hub subscribes to: every gateway's inventory. */
    inventoryAll: `${inventoryHead}*`,
    /** The gateway an inventory subject belongs to (its sender's identity), or undefined when it is not one. */
    inventoryGateway: (subject: string): string | undefined => {
      if (!subject.startsWith(inventoryHead)) return undefined;
      const gateway = subject.slice(inventoryHead.length);
      return new RegExp(ID_PATTERN).test(gateway) ? gateway : undefined;
    },
    /** Where the hub tells gateway `gateway` that its assignments changed (payload ignored). */
    assign: (gateway: string) => `${prefix}.fleet.assign.${gateway}`,
    /** Where the hub publishes {@link FleetAlert}s. */
    alerts: `${prefix}.fleet.alerts`,
  };
}

/** The JetStream stream behind object store `bucket`. */
export function objectStoreStream(bucket: string): string {
  return `OBJ_${bucket}`;
}

/**
 * The subject of a direct get (request body `{"last_by_subj"}` or `{"seq","next_by_subj"}`) on
 * object store `bucket`'s stream: how a gateway reads an object's description and its chunks.
 */
export function objectDirectGetSubject(bucket: string): string {
  return `$JS.API.DIRECT.GET.${objectStoreStream(bucket)}`;
}

/** The name of a package's object in the plugin bucket. */
export function pluginObjectName(id: string, version: string): string {
  return `${id}@${version}.tgz`;
}

/**
 * The bytes an operator's Ed25519 key signs for a package: a fixed header, then the package's id,
 * version, SDK range and the SHA-256 (hex) of its `.tgz`, one per line.
 */
export function pluginSignedMessage(p: { id: string; version: string; sdk: string; sha256: string }): Buffer {
  return Buffer.from(`citypilot-plugin/1\n${p.id}\n${p.version}\n${p.sdk}\n${p.sha256}\n`, 'utf8');
}

/** What a key id looks like: 16 hexadecimal digits ({@link pluginKeyId}). */
export const KEY_ID_PATTERN = '^[0-9a-f]{16}$';

/** A public key's id: the first 16 hexadecimal digits of the SHA-256 of its DER (SPKI) encoding. */
export function pluginKeyId(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Signs a package's {@link pluginSignedMessage} with an Ed25519 private key: the base64 signature. */
export function signPluginPackage(p: { id: string; version: string; sdk: string; sha256: string }, privateKey: KeyObject): string {
  return cryptoSign(null, pluginSignedMessage(p), privateKey).toString('base64');
}

/** Whether `signature` (base64) is `publicKey`'s Ed25519 signature of the package's {@link pluginSignedMessage}. */
export function verifyPluginSignature(p: { id: string; version: string; sdk: string; sha256: string }, signature: string, publicKey: KeyObject): boolean {
  try {
    return cryptoVerify(null, pluginSignedMessage(p), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * The manifest of a plugin package, under `citypilot` in its `package.json` (besides `name`,
 * `version` and `main`, which npm's own fields give):
 * ```json
 * "citypilot": { "id": "http-json", "sdk": "^0.1.0", "protocol": "http", "description": "…", "schema": "schema.json" }
 * ```
 * `schema` names a JSON file of the package holding `{ "connection": <JSON Schema>, "address": <JSON Schema> }`:
 * the plugin's parts of a device block, with which the hub checks a configuration it pushes
 * without running the plugin. The module `main` default-exports the `DriverPlugin`, whose own
 * manifest must say the same id, version and SDK range.
 */
export const PluginPackageManifestSchema = Type.Object({
  id: Type.String({ pattern: ID_PATTERN }),
  sdk: Type.String({ minLength: 1, maxLength: 100 }),
  protocol: Type.String({ minLength: 1, maxLength: 100 }),
  description: Type.String({ maxLength: 500 }),
  schema: Type.String({ minLength: 1, maxLength: 200 }),
});
export type PluginPackageManifest = Static<typeof PluginPackageManifestSchema>;

/** A package as the hub describes it to a gateway: what to fetch and how to check it. */
export const PluginAssignmentSchema = Type.Object({
  id: Type.String({ pattern: ID_PATTERN }),
  version: Type.String({ minLength: 1, maxLength: 100 }),
  sdk: Type.String({ minLength: 1, maxLength: 100 }),
  /** The object's name in the plugin bucket ({@link pluginObjectName}). */
  object: Type.String({ minLength: 1, maxLength: 300 }),
  /** SHA-256 of the `.tgz`, hexadecimal. */
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  size: Type.Integer({ minimum: 1, maximum: MAX_PLUGIN_PACKAGE_BYTES }),
  /** Ed25519 signature of {@link pluginSignedMessage}, base64. */
  signature: Type.String({ minLength: 1, maxLength: 200 }),
  /** Id of the key that signed ({@link KEY_ID_PATTERN}). */
  keyId: Type.String({ pattern: KEY_ID_PATTERN }),
});
export type PluginAssignment = Static<typeof PluginAssignmentSchema>;

/** The value of a gateway's key in the fleet bucket: the installed plugins it should run, one version per id. */
export const PluginAssignmentsSchema = Type.Object({
  v: Type.Literal(1),
  plugins: Type.Array(PluginAssignmentSchema, { maxItems: 100 }),
});
export type PluginAssignments = Static<typeof PluginAssignmentsSchema>;

const shortText = (maxLength: number) => Type.String({ maxLength });
const isoTime = Type.String({ maxLength: 40 });
const count = Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 });

/** What a gateway did with an assigned package, the latest attempt per id. */
export const PluginInstallSchema = Type.Object({
  id: Type.String({ pattern: ID_PATTERN }),
  version: shortText(100),
  /**
   * `installed`: running now; `refused`: not run at all (signature, digest, SDK range, package
   * content); `failed`: it loaded but its drivers could not be created (`create()` threw), the
   * previous version kept running.
   */
  state: Type.Union([Type.Literal('installed'), Type.Literal('refused'), Type.Literal('failed')]),
  at: isoTime,
  /** Why it was refused or failed. */
  reason: Type.Optional(shortText(2000)),
});
export type PluginInstall = Static<typeof PluginInstallSchema>;

/** Inventory format version gateways write. */
export const INVENTORY_VERSION = 1;

/** JSON Schema of an inventory report; every string and list bounded, so that a report stays small. */
export const InventoryReportSchema = Type.Object({
  v: Type.Literal(INVENTORY_VERSION),
  software: Type.Object({ version: shortText(100), sdk: shortText(100), node: shortText(100) }),
  host: Type.Object({ hostname: shortText(255), platform: shortText(50), arch: shortText(50) }),
  /** When the gateway process started (ISO 8601). */
  startedAt: isoTime,
  uptimeS: Type.Number({ minimum: 0, maximum: 1e10 }),
  /** Seconds until the next report: the hub calls the gateway silent after {@link MISSED_REPORTS_BEFORE_SILENT} of them. */
  reportIntervalS: Type.Number({ minimum: 1, maximum: 86_400 }),
  plugins: Type.Array(
    Type.Object({
      id: Type.String({ pattern: ID_PATTERN }),
      version: shortText(100),
      source: Type.Union([Type.Literal('builtin'), Type.Literal('installed')]),
    }),
    { maxItems: 100 },
  ),
  config: Type.Object({
    source: Type.Union([Type.Literal('file'), Type.Literal('hub')]),
    /** The hub bucket's revision (a number) or the file's digest (12 hex digits). */
    revision: Type.Union([Type.Integer({ minimum: 0 }), shortText(64), Type.Null()]),
    appliedAt: isoTime,
    /** The latest configuration refused, while its source has given no valid one since. */
    refused: Type.Union([
      Type.Object({
        source: Type.Union([Type.Literal('file'), Type.Literal('hub')]),
        revision: Type.Union([Type.Integer({ minimum: 0 }), shortText(64), Type.Null()]),
        at: isoTime,
        message: shortText(8000),
      }),
      Type.Null(),
    ]),
  }),
  outbox: Type.Object({ depth: count }),
  devices: Type.Object({
    total: count,
    failing: count,
    /** Per plugin id: its devices, and how many of them fail. */
    byPlugin: Type.Record(Type.String({ pattern: ID_PATTERN }), Type.Object({ total: count, failing: count }), { maxProperties: 100 }),
    /** The failing devices (the first 50) with their error. */
    failingDevices: Type.Array(Type.Object({ id: shortText(100), plugin: shortText(100), error: shortText(500) }), { maxItems: 50 }),
  }),
  /** The gateway's latest error (a device's, the connection's, a configuration's), if any. */
  lastError: Type.Union([Type.Object({ at: isoTime, message: shortText(2000) }), Type.Null()]),
  /** The latest attempt at each assigned package. */
  installs: Type.Array(PluginInstallSchema, { maxItems: 100 }),
});
export type InventoryReport = Static<typeof InventoryReportSchema>;

/** What the hub publishes on `<prefix>.fleet.alerts`. */
export interface FleetAlert {
  gateway: string;
  state: 'silent' | 'online';
  /** When the hub last heard the gateway (ISO 8601). */
  lastSeen: string;
  at: string;
}

const inventoryCheck = TypeCompiler.Compile(InventoryReportSchema);
const assignmentsCheck = TypeCompiler.Compile(PluginAssignmentsSchema);

/** Encodes a report for the wire (UTF-8 JSON). */
export function encodeInventory(report: InventoryReport): Uint8Array {
  return Buffer.from(JSON.stringify(report), 'utf8');
}

/**
 * Decodes and checks an inventory report received from the network.
 * @throws DecodeError saying what is wrong and where
 */
export function decodeInventory(data: Uint8Array): InventoryReport {
  if (data.byteLength > MAX_INVENTORY_BYTES) throw new DecodeError(`inventory report of ${data.byteLength} bytes: at most ${MAX_INVENTORY_BYTES} are read`);
  return checked(parseJsonMessage(data, 'inventory report'), inventoryCheck, 'inventory report');
}

/** Encodes a gateway's assignments for the fleet bucket. */
export function encodeAssignments(assignments: PluginAssignments): string {
  return JSON.stringify(assignments);
}

/**
 * Decodes a gateway's assignments read from the fleet bucket.
 * @throws DecodeError saying what is wrong and where
 */
export function decodeAssignments(data: Uint8Array): PluginAssignments {
  return checked(parseJsonMessage(data, 'plugin assignments'), assignmentsCheck, 'plugin assignments');
}
