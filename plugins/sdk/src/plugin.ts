import { Type, type Static, type TSchema } from '@sinclair/typebox';
import semver from 'semver';
import type { Quality, ValueKind } from './model.js';
import { ID_PATTERN } from './model.js';
import { Duration, StringEnum } from './schema.js';

/** Version of this SDK. A plugin's manifest states the range of SDK versions it works with. */
export const SDK_VERSION = '0.1.0';

/** What a driver plugin says about itself. Checked by the registry before anything starts. */
export interface PluginManifest {
  /** Lowercase id, unique among a gateway's plugins; the `plugin:` value of a device block. */
  id: string;
  /** The plugin's own version (semver). */
  version: string;
  /** Semver range of SDK versions the plugin works with, e.g. `^0.1.0`. */
  sdk: string;
  /** Protocols the plugin speaks, e.g. `modbus-tcp`, `bacnet-ip`. */
  protocol: string;
  /** One line for listings and the hub's plugin page. */
  description: string;
}

/** What an aggregated point can send per window. */
export const AGGREGATE_FUNCTIONS = ['avg', 'min', 'max', 'last', 'count', 'delta'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

/** Settings every point has, whatever its plugin; the plugin adds the point's `address`. */
export const pointCoreProperties = {
  /** Id within its device; the point's stable id is `<device id>.<point id>`. */
  id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as energy-total)' }),
  /** Human-readable name; defaults to the id. */
  name: Type.Optional(Type.String({ minLength: 1 })),
  /** Unit after scaling (kWh, °C, m3/h …). */
  unit: Type.Optional(Type.String({ minLength: 1 })),
  /** Kind of value after decoding. */
  kind: StringEnum(['number', 'boolean', 'string'] as const, { default: 'number' }),
  /** Haystack-style marker tags, e.g. [elec, meter, energy]. */
  tags: Type.Array(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_-]*$', expected: 'a tag name such as energy or air-temp' }), { default: [] }),
  /** Engineering value = raw × scale + offset (numbers only). */
  scale: Type.Number({ default: 1 }),
  offset: Type.Number({ default: 0 }),
  /** Whether the gateway may write to this point. */
  writable: Type.Boolean({ default: false }),
  /**
   * Lowest and highest value the gateway may write to this point, in its unit (after scale and
   * offset; numbers only). A write outside is refused before the device sees it; a writable
   * number point without both cannot be written at all.
   */
  min: Type.Optional(Type.Number({ expected: "the lowest value the gateway may write, in the point's unit" })),
  max: Type.Optional(Type.Number({ expected: "the highest value the gateway may write, in the point's unit" })),
  /**
   * Name of one of the gateway's `pollGroups`: the point is read at that group's interval, on
   * its own grid, instead of its device's `interval`.
   */
  group: Type.Optional(Type.String({ pattern: ID_PATTERN, expected: "the name of one of the gateway's pollGroups (such as fast)" })),
  /**
   * Local aggregation: the gateway sends, per clock-aligned window, the first function's value
   * under the point's own id and each other function as the point `<device>.<point>.<function>`,
   * instead of every reading.
   */
  aggregate: Type.Optional(
    Type.Object(
      {
        /** Length of a window, aligned to the clock (a 15m window closes at :00, :15, :30, :45). */
        window: Duration({ expected: 'a window length such as 1m, 15m or 1h' }),
        /** What is sent per window; the first goes under the point's own id. */
        functions: Type.Array(StringEnum(AGGREGATE_FUNCTIONS), { minItems: 1 }),
        /**
         * For `delta` of a counter that wraps: the value (in engineering units, after scale) at
         * which it goes back to 0, e.g. 65536 for a uint16 counter with scale 1. A decrease is
         * then a wrap when that makes a delta under half of it; any other decrease is a reset.
         */
        rollover: Type.Optional(Type.Number({ exclusiveMinimum: 0, expected: 'a positive number: the value at which the counter goes back to 0' })),
      },
      { additionalProperties: false },
    ),
  ),
  /**
   * Change-of-value filtering of a point that is not aggregated: a reading is sent when it
   * differs from the last one sent by more than the deadbands, when its quality changes, or
   * when nothing was sent for `heartbeat`.
   */
  filter: Type.Optional(
    Type.Object(
      {
        /** Smallest change sent, in the point's unit (numbers only). Default 0: any change. */
        deadband: Type.Optional(Type.Number({ minimum: 0 })),
        /** Smallest change sent, in % of the last value sent (numbers only); with `deadband`, the larger applies. */
        deadbandPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
        /** Longest silence: an unchanged value is sent again after this long. */
        heartbeat: Duration({ default: '15m' }),
      },
      { additionalProperties: false },
    ),
  ),
};

/** Schema of one point of a device whose plugin addresses points with `address`. */
export function pointConfigSchema<A extends TSchema>(address: A) {
  return Type.Object({ ...pointCoreProperties, address }, { additionalProperties: false });
}

/** Settings every device block has; the plugin adds `connection` and the points' `address`. */
export function deviceConfigSchema<C extends TSchema, A extends TSchema>(connection: C, address: A) {
  return Type.Object(
    {
      id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as main-meter)' }),
      name: Type.Optional(Type.String({ minLength: 1 })),
      /** Id of the driver plugin that talks to this device. */
      plugin: Type.String({ pattern: ID_PATTERN }),
      /**
       * Id of the device profile (the model's point table) the device's points come from; the
       * gateway has already merged them into `points` when a driver sees the block.
       */
      profile: Type.Optional(Type.String({ pattern: ID_PATTERN, expected: 'the id of a device profile (such as eastron-sdm630)' })),
      /** How often the gateway reads every point of the device. */
      interval: Duration({ default: '15s' }),
      /** Time allowed for one request before the device is counted as not answering. */
      timeout: Duration({ default: '2s' }),
      connection,
      points: Type.Array(pointConfigSchema(address), { minItems: 1 }),
    },
    { additionalProperties: false },
  );
}

/** A device block after validation, with the plugin's connection and address types. */
export type DeviceConfig<C extends TSchema = TSchema, A extends TSchema = TSchema> = Static<ReturnType<typeof deviceConfigSchema<C, A>>>;

/** A point block after validation. */
export type PointConfig<A extends TSchema = TSchema> = Static<ReturnType<typeof pointConfigSchema<A>>>;

/** Minimal structured logger (pino's signature), so plugins need no logging library. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything: for checks that must stay quiet (validation, bootstrap). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What the gateway core hands a driver when it creates one. */
export interface DriverContext {
  /** Time allowed for one request to the device, in milliseconds. */
  timeoutMs: number;
  logger: Logger;
  /**
   * A folder of the plugin's own in the gateway's data folder (`<dataDir>/plugins/<plugin id>`),
   * kept across restarts and shared by the plugin's devices: certificates, trust lists, state a
   * driver must not lose. Absent when the driver is only created to check a configuration. The
   * driver creates it if needed, at its first I/O, never in `create`.
   */
  stateDir?: string;
  /**
   * Milliseconds between two reads of a point: its poll group's interval, else its device's.
   * For drivers that ask the device to sample at the pace the gateway reads (OPC UA monitored
   * items). Absent when the gateway does not know (a check of a configuration): the device's
   * `interval` then.
   */
  pointIntervalMs?(pointId: string): number;
}

/** A raw value read by a driver, before the core's scaling. */
export interface Reading {
  /** The point's id within its device. */
  point: string;
  /** Raw decoded value; null when the point could not be read. */
  value: number | boolean | string | null;
  quality: Quality;
  /** Why the quality is not `good`. */
  reason?: string;
  /** Device timestamp in ms since the epoch, when the device gives one; else the core stamps it. */
  time?: number;
  /**
   * For a value a driver holds from a notification (OPC UA subscription, BACnet COV) and answers
   * without asking the device: when the device says the value was sampled or last changed (OPC
   * UA SourceTimestamp), in ms since the epoch. Unlike `time` it does not date the sample, which
   * stays at the slot (the value is current there), and an old one is not staleness: a value
   * that does not change is not notified again. Whether held values are still current is the
   * driver's to say, in the quality, from what its protocol tells it (a subscription's
   * keep-alive). The core keeps it in the point's status (`sourceTime` in /api/status) so that a
   * technician can see since when the device's value has not changed.
   */
  sourceTime?: number;
}

/** A point found by discovery, for a technician to review before it goes into a config. */
export interface PointDraft {
  id: string;
  name: string;
  unit?: string;
  kind: ValueKind;
  tags: string[];
  address: unknown;
}

/**
 * A live connection to one device, created by {@link DriverPlugin.create}. The core calls its
 * methods one at a time (never concurrently) and owns timing, scaling, quality and buffering.
 *
 * A protocol that pushes changes (OPC UA subscriptions, BACnet change-of-value) is used the same
 * way: the driver subscribes at its first `read`, keeps the latest value each notification
 * brought, and answers later reads from those, asking the device only for the points without a
 * live subscription (refused, lapsed, or configured to be polled). The core still samples every
 * point on its grid, so a point keeps one sample per slot, at the slot's time, and the device
 * is spared the polling. Such a reading carries no `time`: the value holds at the slot.
 */
export interface Driver {
  /**
   * Reads the device's points once and returns one reading per point it could address: every
   * point when `points` is undefined, else only those whose ids it lists (a poll group), at the
   * cost of those only. A device has few distinct lists (one per poll group), each given in
   * the same order at every call, so a driver may plan its requests once per list, at its first
   * read. Drivers written before `points` existed read everything, which the core tolerates.
   * A failure of a single point is that reading's quality; a failure of the whole device
   * (unreachable, timeout) rejects with a typed error (`DeviceTimeoutError`, …) and the core
   * marks all the device's points bad with its message.
   */
  read(points?: readonly string[]): Promise<Reading[]>;
  /** Writes a raw value (the core has already removed scale and offset) to a writable point. */
  write?(point: string, value: number | boolean | string): Promise<void>;
  /**
   * Gives up the gateway's command of a writable point, for protocols that command by priority
   * (BACnet writes NULL at the point's priority: a lower priority, or the object's relinquish
   * default, takes over). The core refuses a relinquish to a driver without this method.
   */
  relinquish?(point: string): Promise<void>;
  /** Lists the points the device offers, as drafts. */
  discover?(): Promise<PointDraft[]>;
  /**
   * What the technician should know of the device besides its errors, for the status page: a
   * few short lines, newest last (a BACnet device's restart detected, …). Cheap, no I/O; may be
   * called at any time, also while a read is under way.
   */
  notes?(): string[];
  /** Releases sockets and timers. Called once; the driver is not used afterwards. */
  close(): Promise<void>;
}

/** A driver plugin: its manifest, its config schema, and a factory of drivers. */
export interface DriverPlugin<C extends TSchema = TSchema, A extends TSchema = TSchema> {
  readonly manifest: PluginManifest;
  /** Schemas of the plugin's parts of a device block: `connection`, and each point's `address`. */
  readonly schema: { readonly connection: C; readonly address: A };
  /** Absolute path of the folder of device profiles the plugin ships (`<profile id>.yaml`), if any. */
  readonly profilesDir?: string;
  /**
   * Starts a simulated device that serves `points` (a profile's, typically) with values that
   * move like real ones, for demos, tests and trying a configuration without the equipment.
   */
  simulate?(points: PointConfig<A>[], options: SimulateOptions): Promise<RunningSimulator>;
  /**
   * Finds the devices reachable with some connection settings and drafts their device blocks
   * (`citypilot gateway discover <plugin>`), for a technician to review before they go into a
   * configuration.
   */
  readonly discovery?: Discovery;
  /**
   * Checks the cross-field rules the schema cannot express and plans the requests, without any
   * I/O (no socket is opened before the first `read`).
   * @throws ConfigError with paths relative to the device block.
   */
  create(device: DeviceConfig<C, A>, context: DriverContext): Driver;
}

/** A plugin's way of finding devices. */
export interface Discovery<O extends TSchema = TSchema> {
  /**
   * The options of `citypilot gateway discover <plugin> --<option> <value> …`: each property's
   * `description` is its help line, and strings from the command line are converted to the
   * property's type before validation.
   */
  readonly options: O;
  /**
   * Looks for devices; never writes to them. Resolves with what answered, possibly nothing.
   * @throws a typed error when the network or line itself cannot be used (port refused, …)
   */
  run(options: Static<O>, context: DiscoveryContext): Promise<DiscoveredDevice[]>;
}

/** What the gateway core hands a discovery. */
export interface DiscoveryContext {
  /** Time allowed for one request, in milliseconds. */
  timeoutMs: number;
  /** The device profiles available to the plugin, so that a found device can be matched to its model. */
  profiles: readonly DeviceProfile[];
  logger: Logger;
}

/** A device found by discovery. */
export interface DiscoveredDevice {
  /** A draft device block (id, name, plugin, connection, and a profile or points), ready to edit. */
  device: Record<string, unknown>;
  /** What the technician should check before using it (several profiles fit, unit id ignored, …). */
  notes: string[];
}

/** Where a simulated device listens, and the connection settings of the points it serves. */
export interface SimulateOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The connection settings the points were written for (addressing, …), as in a device block. */
  connection?: Record<string, unknown>;
  /**
   * Where the protocol library's own messages go, at debug level (node-opcua's warnings about
   * the platform, which nobody running a demo can act on). Without it, the library's default.
   */
  logger?: Logger;
}

/** A simulated device that is running. */
export interface RunningSimulator {
  /** What a device block's connection needs to reach it, e.g. `{ host: '127.0.0.1', port: 41234 }`. */
  connection: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Declares a plugin with its types inferred from its schemas. */
export function definePlugin<C extends TSchema, A extends TSchema>(plugin: DriverPlugin<C, A>): DriverPlugin<C, A> {
  return plugin;
}

/** The full schema of a device block for `plugin`: core settings plus the plugin's own. */
export function pluginDeviceSchema(plugin: DriverPlugin) {
  return deviceConfigSchema(plugin.schema.connection, plugin.schema.address);
}

/**
 * Schema of a device profile: the point table of one device model, written once from its
 * published register map (or object list) and reused by every device of that model. A profile
 * may also fix connection settings that belong to the model (its addressing convention, the
 * largest request it accepts); a device using the profile cannot set those again.
 */
export function profileSchema(plugin: DriverPlugin) {
  return Type.Object(
    {
      id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as eastron-sdm630)' }),
      /** The plugin whose devices use this profile. */
      plugin: Type.Literal(plugin.manifest.id),
      /** Human-readable name of the model. */
      name: Type.String({ minLength: 1 }),
      manufacturer: Type.Optional(Type.String({ minLength: 1 })),
      model: Type.Optional(Type.String({ minLength: 1 })),
      /** The document the table was written from (title, version), so it can be checked. */
      source: Type.String({ minLength: 1, expected: 'the title and version of the register map the profile was written from' }),
      description: Type.Optional(Type.String()),
      /** Connection settings of the model, checked against the plugin's schema once merged. */
      connection: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      points: Type.Array(pointConfigSchema(plugin.schema.address), { minItems: 1 }),
    },
    { additionalProperties: false },
  );
}

/** A device profile after validation. */
export type DeviceProfile = Static<ReturnType<typeof profileSchema>>;

/** Why a plugin cannot be loaded by this SDK, or undefined when it can. */
export function manifestProblem(manifest: PluginManifest, sdkVersion = SDK_VERSION): string | undefined {
  if (!new RegExp(ID_PATTERN).test(manifest.id)) return `plugin id ${JSON.stringify(manifest.id)} must be lowercase letters, digits, - and _`;
  if (!semver.valid(manifest.version)) return `plugin ${manifest.id}: version ${JSON.stringify(manifest.version)} is not semver`;
  if (!semver.validRange(manifest.sdk)) return `plugin ${manifest.id}: sdk range ${JSON.stringify(manifest.sdk)} is not a semver range`;
  if (!semver.satisfies(sdkVersion, manifest.sdk)) return `plugin ${manifest.id} ${manifest.version} needs SDK ${manifest.sdk}, this gateway has ${sdkVersion}`;
  return undefined;
}

/**
 * What a driver works out once per list of point ids that `read` is given (a poll group's: the
 * same list, in the same order, at every call): `plan` makes it from the points the list names,
 * in the driver's own order, at the list's first read. `undefined` stands for every point.
 */
export class PlansPerList<P extends { id: string }, T> {
  private readonly plans = new Map<string, T>();

  constructor(
    private readonly points: readonly P[],
    private readonly plan: (points: readonly P[]) => T,
  ) {}

  get(ids: readonly string[] | undefined): T {
    const key = ids === undefined ? '*' : ids.join(',');
    let plan = this.plans.get(key);
    if (plan === undefined) {
      const wanted = ids && new Set(ids);
      plan = this.plan(wanted ? this.points.filter((p) => wanted.has(p.id)) : this.points);
      this.plans.set(key, plan);
    }
    return plan;
  }
}
