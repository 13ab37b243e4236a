import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ApplicationTag, ObjectType, PropertyIdentifier } from '@bacnet-js/client';
import {
  BacnetError,
  BacnetProtocolError,
  BacnetRejectError,
  BacnetServiceError,
  BacnetSocketError,
  BacnetTimeoutError,
  formatObjectId,
  type BacnetClient,
  type BacnetDevice,
  type CovNotification,
  type CovSubscription,
  normalizeAddress,
  type PointRead,
  type PointResult,
  type StatusFlagsValue,
  type TypedValue,
} from '@citypilot/protocol-bacnet';
import {
  ConfigError,
  definePlugin,
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
  float32Decimal,
  parseDuration,
  PlansPerList,
  type ConfigIssue,
  type DeviceConfig,
  type Driver,
  type DriverContext,
  type Logger,
  type Reading,
  type ValueKind,
} from '@citypilot/sdk';
import { bacnetDiscovery } from './discover.js';
import { objectTypeNumber, pointObjectType } from './object-types.js';
import { bacnetAddress, bacnetConnection, type BacnetConnectionConfig } from './schema.js';
import { simulate } from './simulate.js';
import { BacnetSockets, type SharedSocket, type SocketSettings } from './sockets.js';
import { errorReason, toReading, type ObjectStatus } from './values.js';

type BacnetDeviceConfig = DeviceConfig<typeof bacnetConnection, typeof bacnetAddress>;

const P = PropertyIdentifier;

/** Object types whose present value and status flags a device reports by COV (ASHRAE 135 table 13-1); the others are read. */
const COV_OBJECT_TYPES = new Set<number>([
  ObjectType.ANALOG_INPUT,
  ObjectType.ANALOG_OUTPUT,
  ObjectType.ANALOG_VALUE,
  ObjectType.BINARY_INPUT,
  ObjectType.BINARY_OUTPUT,
  ObjectType.BINARY_VALUE,
  ObjectType.MULTI_STATE_INPUT,
  ObjectType.MULTI_STATE_OUTPUT,
  ObjectType.MULTI_STATE_VALUE,
  ObjectType.LOOP,
  ObjectType.PULSE_CONVERTER,
  ObjectType.LARGE_ANALOG_VALUE,
  ObjectType.INTEGER_VALUE,
  ObjectType.POSITIVE_INTEGER_VALUE,
  ObjectType.CHARACTERSTRING_VALUE,
]);

/**
 * A subscribed point's value is confirmed by a read at least every `CONFIRM_INTERVALS` of its
 * intervals, and at least every `CONFIRM_CAP_MS`: a device that restarted and forgot its
 * subscriptions is found out within that bound (README, "A device that restarts").
 */
const CONFIRM_INTERVALS = 12;
const CONFIRM_CAP_MS = 5 * 60_000;

/** Largest magnitude of a REAL (IEEE 754 single precision). */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Object types with a COV_Increment, and the datatype it is written in. */
const COV_INCREMENT_TAGS = new Map<number, number>([
  [ObjectType.ANALOG_INPUT, ApplicationTag.REAL],
  [ObjectType.ANALOG_OUTPUT, ApplicationTag.REAL],
  [ObjectType.ANALOG_VALUE, ApplicationTag.REAL],
  [ObjectType.PULSE_CONVERTER, ApplicationTag.REAL],
  [ObjectType.LARGE_ANALOG_VALUE, ApplicationTag.DOUBLE],
  [ObjectType.INTEGER_VALUE, ApplicationTag.UNSIGNED_INTEGER],
  [ObjectType.POSITIVE_INTEGER_VALUE, ApplicationTag.UNSIGNED_INTEGER],
]);

/** Inputs: their present value follows the field and is written only while out of service (clause 12.2.4). */
const INPUT_TYPES = new Set<number>([ObjectType.ANALOG_INPUT, ObjectType.BINARY_INPUT, ObjectType.MULTI_STATE_INPUT]);

/** Properties that are lists, arrays or structures: no point can hold them. */
const NOT_A_VALUE = new Map<number, string>([
  [P.OBJECT_IDENTIFIER, 'object-identifier'],
  [P.OBJECT_LIST, 'object-list'],
  [P.PRIORITY_ARRAY, 'priority-array'],
  [P.PROPERTY_LIST, 'property-list'],
  [P.STATE_TEXT, 'state-text'],
  [P.STATUS_FLAGS, 'status-flags'],
  [P.EVENT_TIME_STAMPS, 'event-time-stamps'],
]);

/** A point as the driver reads it: numbers resolved, what it is subscribed for decided. */
interface PlannedPoint {
  id: string;
  /** Index in the device's `points`, for error paths. */
  index: number;
  kind: ValueKind;
  objectType: number;
  instance: number;
  property: number;
  /** `analog-input:1`, for messages. */
  object: string;
  /** Subscribed to COV in mode cov: present-value of an object type that reports changes, not `read: poll`. */
  subscribe: boolean;
  covIncrement?: { value: number; tag: number };
  priority: number;
  writable: boolean;
  /** Subscribed points: a value not confirmed (by a notification or a read) within this many ms is read again, and never served as good. */
  confirmWithinMs: number;
  /** The point's interval, in ms. */
  intervalMs: number;
}

/**
 * A BACnet/IP driver plugin with sockets of its own: the devices it creates on one local
 * interface and port share one socket. The gateway uses {@link bacnetPlugin}; tests and a
 * configuration validated while another runs create their own.
 */
export function createBacnetPlugin() {
  const sockets = new BacnetSockets();
  const plugin = definePlugin({
    manifest: {
      id: 'bacnet',
      version: '0.1.0',
      sdk: '^0.1.0',
      protocol: 'bacnet-ip',
      description: 'BACnet/IP devices (heating, ventilation, lighting controllers): ReadPropertyMultiple, change-of-value subscriptions, writes with priority, discovery.',
    },
    schema: { connection: bacnetConnection, address: bacnetAddress },
    profilesDir: fileURLToPath(new URL('../profiles/', import.meta.url)),
    simulate,
    discovery: bacnetDiscovery(),
    create(device, context): Driver {
      const c = device.connection;
      const settings: SocketSettings = { interface: c.network.interface, port: c.network.port, broadcastAddress: c.network.broadcastAddress };
      if (c.network.bbmd) settings.bbmd = { address: c.network.bbmd.address, ttlSeconds: parseDuration(c.network.bbmd.ttl) / 1000 };
      // Every problem at once, in the order of the block. The socket's settings are checked
      // against the devices created before this one and not closed yet: the gateway's check of
      // a file creates each device and closes it later (close() leaves the socket only after
      // an await), so two devices of one file that disagree are told apart there too.
      const issues: ConfigIssue[] = connectionIssues(c);
      const conflict = sockets.conflict(settings);
      if (conflict) issues.push({ path: ['connection', 'network', conflict.setting], message: conflict.message });
      const deviceIntervalMs = parseDuration(device.interval);
      const points = checkPoints(device, issues, (id) => context.pointIntervalMs?.(id) ?? deviceIntervalMs);
      if (issues.length > 0) throw new ConfigError(issues);
      const socket: SharedSocket = sockets.join(settings, device.id, context.timeoutMs, context.logger);
      return new BacnetDriver(device.id, c, points, socket, context);
    },
  });
  return Object.assign(plugin, { sockets });
}

/**
 * The plugin the gateway registers. Module state, but the plugin instance itself: its sockets
 * are those of the devices it creates.
 */
export const bacnetPlugin = createBacnetPlugin();

function connectionIssues(c: BacnetConnectionConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const issue = (path: string[], message: string) => issues.push({ path: ['connection', ...path], message });
  const endpoint = (path: string[], text: string, what: string) => {
    const [ip, port] = text.split(':');
    if (!isIPv4(ip!)) issue(path, `${JSON.stringify(text)} is not an IPv4 address (four numbers 0..255): expected ${what}`);
    else if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) issue(path, `port ${port} is outside 1..65535`);
  };
  if (c.address !== undefined) endpoint(['address'], c.address, 'the device\'s address, such as 192.168.10.21 or 192.168.10.21:47809');
  if (!isIPv4(c.network.interface)) issue(['network', 'interface'], `${JSON.stringify(c.network.interface)} is not an IPv4 address: expected the gateway's address on the building network, or 0.0.0.0 for all`);
  endpoint(['network', 'broadcastAddress'], c.network.broadcastAddress, 'the subnet\'s broadcast address, such as 192.168.10.255');
  if (c.network.bbmd) {
    endpoint(['network', 'bbmd', 'address'], c.network.bbmd.address, 'the BBMD\'s address, such as 10.20.30.1');
    const ttl = parseDuration(c.network.bbmd.ttl) / 1000;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 65535) issue(['network', 'bbmd', 'ttl'], `${c.network.bbmd.ttl} is not a whole number of seconds from 1s to 65535s (18h12m15s)`);
  }
  const lifetime = parseDuration(c.covLifetime) / 1000;
  if (!Number.isInteger(lifetime) || lifetime < 1) issue(['covLifetime'], `${c.covLifetime} is not a whole number of seconds of at least 1s`);
  return issues;
}

/** The rules the schema cannot express, into `issues`; the points planned. */
function checkPoints(device: BacnetDeviceConfig, issues: ConfigIssue[], intervalMs: (pointId: string) => number): PlannedPoint[] {
  const planned: PlannedPoint[] = [];
  const ids = new Map<string, number>();
  device.points.forEach((p, index) => {
    const before = issues.length;
    const issue = (path: (string | number)[], message: string) => issues.push({ path: ['points', index, ...path], message });
    const first = ids.get(p.id);
    if (first !== undefined) issue(['id'], `${JSON.stringify(p.id)} is already the id of points[${first}]`);
    else ids.set(p.id, index);
    const a = p.address;
    const objectType = typeof a.objectType === 'number' ? a.objectType : objectTypeNumber(a.objectType)!;
    const property = a.property === 'present-value' ? P.PRESENT_VALUE : a.property;
    const presentValue = property === P.PRESENT_VALUE;
    const known = pointObjectType(objectType);
    const typeName = known?.name ?? `object type ${objectType}`;
    if (objectType === ObjectType.DEVICE) issue(['address', 'objectType'], 'is the Device object: a point reads a property of one of the device\'s other objects');
    const notValue = NOT_A_VALUE.get(property);
    if (notValue) issue(['address', 'property'], `${property} is ${notValue}, a list or structure that no point can hold: expected present-value or a property with a single value`);
    if (presentValue && known) {
      const fits = known.kind === p.kind || (known.kind === 'boolean' && p.kind === 'number');
      if (!fits) {
        const expected = known.kind === 'boolean' ? 'boolean (or number for 0/1)' : known.kind;
        issue(['kind'], `the present value of a ${typeName} is a ${known.kind === 'boolean' ? 'binary state' : known.kind}: expected kind ${expected}, got ${p.kind}`);
      }
    }
    if (a.covIncrement !== undefined) {
      if (!COV_INCREMENT_TAGS.has(objectType)) issue(['address', 'covIncrement'], `applies to analog objects (analog-input, -output, -value, large-analog-value, integer-value, positive-integer-value, pulse-converter), not to a ${typeName}`);
      else if (!presentValue) issue(['address', 'covIncrement'], 'applies to points that read present-value, the property COV reports');
      else if (a.read === 'poll') issue(['address', 'covIncrement'], 'applies to subscribed points: this one is read: poll');
    }
    if (p.writable) {
      if (INPUT_TYPES.has(objectType) && presentValue) issue(['writable'], `the present value of a ${typeName} follows the field and cannot be commanded: write to an output or value object`);
    } else if (a.priority !== 16) {
      issue(['address', 'priority'], 'applies to the gateway\'s writes, and the point is not writable (writable: true to write it)');
    }
    if (issues.length > before) return;
    const covTag = COV_INCREMENT_TAGS.get(objectType);
    const interval = intervalMs(p.id);
    planned.push({
      id: p.id,
      index,
      kind: p.kind,
      objectType,
      instance: a.instance,
      property,
      object: formatObjectId({ type: objectType, instance: a.instance }),
      subscribe: device.connection.mode === 'cov' && a.read === 'device' && presentValue && COV_OBJECT_TYPES.has(objectType),
      ...(a.covIncrement !== undefined && covTag !== undefined ? { covIncrement: { value: a.covIncrement, tag: covTag } } : {}),
      priority: a.priority,
      writable: p.writable,
      intervalMs: interval,
      confirmWithinMs: confirmBound(interval),
    });
  });
  return planned;
}

/**
 * How long a subscribed point's value may go without a notification or a read before it is read
 * again: 12 of its intervals, at most 5 minutes, and never less than one interval (a point read
 * less often than the cap is read at each of its reads).
 */
export function confirmBound(intervalMs: number): number {
  return Math.max(intervalMs, Math.min(CONFIRM_INTERVALS * intervalMs, CONFIRM_CAP_MS));
}

/** What the driver keeps of one point's subscription. */
interface CovState {
  subscription?: CovSubscription;
  /** A subscribe request is on its way. */
  pending?: boolean;
  /** Latest present value and status flags notified (or read while subscribed). */
  value?: TypedValue;
  status: ObjectStatus;
  /** The status flags say fault: the reliability, which notifications do not carry, is read once. */
  needsStatus: boolean;
  /** Not before this time (ms) is a refused subscription asked again. */
  retryAt: number;
  /** The covIncrement has been written (or found equal, or refused). */
  incrementDone: boolean;
  /** When (ms) the value was last confirmed: a notification, or a read. */
  confirmedAt: number;
  /** The object's COV_Increment as last read (analog objects), the change below which the device does not notify. */
  deviceIncrement?: number;
}

/**
 * One BACnet device. The socket opens at the first read; the device's address comes from the
 * configuration or a Who-Is for its instance; its Device object says how to read it (max APDU,
 * ReadPropertyMultiple, segmentation). In mode cov, points are subscribed at the first read and
 * later reads answer from the latest notified values; the rest is read with ReadPropertyMultiple
 * (or ReadProperty). Never called concurrently (the core serializes reads, writes and close).
 */
class BacnetDriver implements Driver {
  private readonly byId: Map<string, PlannedPoint>;
  private readonly cov = new Map<string, CovState>();
  /** The points of each list of ids read (a poll group's), found once per list. */
  private readonly lists: PlansPerList<PlannedPoint, readonly PlannedPoint[]>;
  private readonly logger: Logger;
  private readonly lifetimeSeconds: number;
  /** The device's address: configured, or found by Who-Is (then forgotten when it falls silent). */
  private address: string | undefined;
  private infoRead = false;
  /** The device stopped answering: every point is read (and fails) until it answers again. */
  private silent = false;
  /** The device rejected SubscribeCOV as a service: not asked again before this time. */
  private covRefusedUntil = 0;
  /**
   * Answers and notifications received from the device, counted, and the count when the last
   * read ended: whether anything came since does not depend on the clock's resolution.
   */
  private heard = 0;
  private heardAtLastRead = -1;
  /** When (ms) the device last answered or notified anything; undefined before its first answer. */
  private lastAnswerAt: number | undefined;
  /** The Device object's database-revision as last read; undefined when unknown or absent. */
  private databaseRevision: number | undefined;
  /** The Device object has no database-revision or system-status: not asked again. */
  private deviceCheck = { databaseRevision: true, systemStatus: true };
  /** An I-Am came from the device while subscribed (it started, or answered another's Who-Is): subscribed again at the next read. */
  private iAmHeard = false;
  /** The driver's own Who-Is is under way: the I-Am answering it is not news. */
  private askingWhoIs = false;
  private stopListening: (() => void) | undefined;
  /** What the status page shows of the device besides errors: the restarts detected, newest last. */
  private readonly recentNotes: string[] = [];
  /** Number-of-states of the writable multi-state points, read at their first write. */
  private readonly states = new Map<string, number>();
  private closed = false;
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly deviceId: string,
    private readonly connection: BacnetConnectionConfig,
    private readonly points: readonly PlannedPoint[],
    private readonly socket: SharedSocket,
    private readonly context: DriverContext,
  ) {
    this.byId = new Map(points.map((p) => [p.id, p]));
    this.lists = new PlansPerList(points, (list) => list);
    this.logger = context.logger;
    this.lifetimeSeconds = parseDuration(connection.covLifetime) / 1000;
    this.address = connection.address;
    for (const p of points) if (p.subscribe) this.cov.set(p.id, { status: {}, needsStatus: false, retryAt: 0, incrementDone: false, confirmedAt: 0 });
  }

  private get device(): BacnetDevice {
    const c = this.connection;
    return {
      address: this.address!,
      deviceInstance: c.deviceInstance,
      ...(c.maxApdu !== undefined ? { maxApdu: c.maxApdu } : {}),
      readMethod: c.readMethod,
      maxRequestsInFlight: c.maxRequestsInFlight,
      retries: c.retries,
      timeoutMs: this.context.timeoutMs,
    };
  }

  async read(ids?: readonly string[]): Promise<Reading[]> {
    const points = this.lists.get(ids);
    const client = await this.client();
    this.listen(client);
    const quiet = this.heard === this.heardAtLastRead;
    await this.connect(client);
    if (this.iAmHeard) {
      this.iAmHeard = false;
      if ([...this.cov.values()].some((state) => state.subscription)) this.restarted('it sent an I-Am');
    }
    if (this.connection.mode === 'cov' && !this.silent) await this.subscribe(client, points);

    const readings = new Map<string, Reading>();
    const toRead: PlannedPoint[] = [];
    const toConfirm: PlannedPoint[] = [];
    const now = Date.now();
    for (const p of points) {
      const state = this.cov.get(p.id);
      if (!state?.subscription || !state.value || state.needsStatus) toRead.push(p);
      // Read now when the value would be older than its bound at the next read.
      else if (now - state.confirmedAt + p.intervalMs > p.confirmWithinMs) toConfirm.push(p);
      else readings.set(p.id, this.cachedReading(p, state, now));
    }
    // Every point comes from notifications and nothing came since the last read ended: ask the
    // device something small, so that one switched off is noticed within one interval, not at
    // the next renewal. The same question goes with every confirmation: a changed database
    // revision is a restart (or a new configuration) that the values may not show.
    const checkDevice = toConfirm.length > 0 || (toRead.length === 0 && quiet);
    if (toRead.length > 0 || checkDevice) {
      const { results, increments, device } = await this.readPoints(client, [...toRead, ...toConfirm], checkDevice);
      toRead.forEach((p, i) => readings.set(p.id, this.resultReading(p, results[i]!)));
      const restart = this.restartEvidence(toConfirm, results.slice(toRead.length), increments, device);
      toConfirm.forEach((p, i) => readings.set(p.id, this.resultReading(p, results[toRead.length + i]!)));
      if (restart) {
        this.restarted(restart);
        // The values served from notifications are those the device forgot: read them too.
        const cached = points.filter((p) => !toRead.includes(p) && !toConfirm.includes(p));
        if (cached.length > 0) {
          const again = await this.readPoints(client, cached, false);
          cached.forEach((p, i) => readings.set(p.id, this.resultReading(p, again.results[i]!)));
        }
        if (this.connection.mode === 'cov' && !this.silent) await this.subscribe(client, points);
      }
    }
    if (this.silent) {
      this.silent = false;
      this.log('state', 'info', 'answers again', {});
    }
    this.heardAtLastRead = this.heard;
    return points.map((p) => readings.get(p.id)!);
  }

  /** What the status page shows of the device besides errors: the restarts detected (at most 3, newest last). */
  notes(): string[] {
    return [...this.recentNotes];
  }

  /** Writes a raw value to a writable point at its priority. */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    await this.command(pointId, value);
  }

  /** Relinquishes the gateway's command: writes NULL at the point's priority, so a lower priority (or the relinquish default) takes over. */
  async relinquish(pointId: string): Promise<void> {
    await this.command(pointId, null);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening?.();
    const subscriptions = [...this.cov.values()].flatMap((s) => (s.subscription ? [s.subscription] : []));
    for (const s of this.cov.values()) s.subscription = undefined;
    // Tell the device to stop notifying, unless it is silent (the cancels would only time out).
    if (!this.silent) await Promise.allSettled(subscriptions.map((s) => s.cancel()));
    else for (const s of subscriptions) void s.cancel().catch(() => undefined);
    // Left after an await, always: the gateway's check of a file creates each device and closes
    // it without waiting, and the next devices must still meet its socket's settings (create()).
    await Promise.resolve();
    this.socket.leave();
  }

  // ---- connection --------------------------------------------------------------------------

  private async client(): Promise<BacnetClient> {
    try {
      return await this.socket.client();
    } catch (error) {
      if (error instanceof BacnetError) throw new DeviceUnreachableError(error.message, { cause: error });
      throw error;
    }
  }

  /** Finds the device's address (Who-Is) and reads its Device object, once, and again after a silence. */
  private async connect(client: BacnetClient): Promise<void> {
    const instance = this.connection.deviceInstance;
    if (this.address === undefined) {
      this.askingWhoIs = true;
      let found;
      try {
        found = await client.whoIs({ lowLimit: instance, highLimit: instance, waitMs: this.context.timeoutMs });
      } finally {
        this.askingWhoIs = false;
      }
      const iAm = found.find((i) => i.deviceInstance === instance);
      if (!iAm) {
        const whoIs = `a Who-Is sent to ${this.connection.network.broadcastAddress} got no answer within ${this.context.timeoutMs} ms`;
        this.fallSilent();
        // A device that answered before and now says nothing is off or cut off: the settings
        // that found it then are not the problem. Only one never heard may be out of their reach.
        if (this.lastAnswerAt !== undefined) throw new DeviceTimeoutError(`device ${instance} silent since ${new Date(this.lastAnswerAt).toISOString()}: ${whoIs}`);
        const hint = this.connection.network.interface !== '0.0.0.0' ? `; a socket bound to ${this.connection.network.interface} receives no broadcast I-Am: use interface 0.0.0.0 or set connection.address` : '; set connection.address if broadcasts do not reach it';
        throw new DeviceTimeoutError(`device ${instance} did not answer a Who-Is sent to ${this.connection.network.broadcastAddress} within ${this.context.timeoutMs} ms${hint}`);
      }
      this.address = iAm.address;
      this.answered();
      this.log('address', 'info', `found at ${iAm.address} by Who-Is`, { address: iAm.address });
    }
    if (this.infoRead) return;
    try {
      const info = await client.readDeviceInfo(this.device);
      this.infoRead = true;
      this.answered();
      this.log('info', 'info', 'device info read', {
        address: info.address,
        name: info.name,
        maxApdu: this.connection.maxApdu ?? info.maxApdu,
        segmentation: info.segmentation,
        readPropertyMultiple: info.supportsReadPropertyMultiple,
        cov: info.supportsCov,
      });
    } catch (error) {
      throw this.deviceError(error);
    }
  }

  /** The device answers nothing: subscriptions are dropped, every point is read until it answers again. */
  private fallSilent(): void {
    for (const state of this.cov.values()) {
      // Stops the renewals at once; the cancel request itself will most likely get no answer.
      if (state.subscription) void state.subscription.cancel().catch(() => undefined);
      state.subscription = undefined;
      state.value = undefined;
      state.retryAt = 0;
    }
    // Read again when it comes back: it may have restarted with other settings, or another address.
    this.infoRead = false;
    if (this.connection.address === undefined) this.address = undefined;
    if (!this.silent) this.log('state', 'warn', 'not answering: subscriptions dropped, every point is read until it answers', {});
    this.silent = true;
  }

  /** The SDK's error for a failure of the whole device. */
  private deviceError(error: unknown): unknown {
    if (!(error instanceof BacnetError)) return error;
    const where = `device ${this.connection.deviceInstance} (${this.address ?? 'address unknown'})`;
    if (error instanceof BacnetTimeoutError) {
      this.fallSilent();
      const since = this.lastAnswerAt !== undefined ? ` silent since ${new Date(this.lastAnswerAt).toISOString()}` : '';
      return new DeviceTimeoutError(`${where}${since}: ${error.message}`, { cause: error });
    }
    if (error instanceof BacnetSocketError) return new DeviceUnreachableError(`${where}: ${error.message}`, { cause: error });
    return new DeviceProtocolError(`${where}: ${error.message}`, { cause: error });
  }

  // ---- reading -----------------------------------------------------------------------------

  /**
   * Reads `points` (with their status), in as few requests as the device allows; with `checkDevice`,
   * the Device object's database-revision and system-status too, and the COV_Increment of the
   * subscribed analog points whose increment is not known yet (what a value may move unnotified).
   */
  private async readPoints(client: BacnetClient, points: readonly PlannedPoint[], checkDevice: boolean): Promise<{ results: PointResult[]; increments: Map<string, number>; device: { databaseRevision?: number; systemStatus?: number } }> {
    const reads: PointRead[] = points.map((p) => ({ objectType: p.objectType, instance: p.instance, property: p.property, withStatus: p.property === P.PRESENT_VALUE }));
    const incrementOf = checkDevice ? points.filter((p) => COV_INCREMENT_TAGS.has(p.objectType) && !p.covIncrement && this.cov.get(p.id)?.subscription && this.cov.get(p.id)?.deviceIncrement === undefined) : [];
    for (const p of incrementOf) reads.push({ objectType: p.objectType, instance: p.instance, property: P.COV_INCREMENT });
    const deviceProperties = checkDevice ? [...(this.deviceCheck.databaseRevision ? [P.DATABASE_REVISION] : []), ...(this.deviceCheck.systemStatus ? [P.SYSTEM_STATUS] : [])] : [];
    // A device without either is still asked its system-status (required of every device): an Error is an answer.
    if (checkDevice && deviceProperties.length === 0) deviceProperties.push(P.SYSTEM_STATUS);
    for (const property of deviceProperties) reads.push({ objectType: ObjectType.DEVICE, instance: this.connection.deviceInstance, property });
    let all: PointResult[];
    try {
      all = await client.readPoints(this.device, reads);
    } catch (error) {
      throw this.deviceError(error);
    }
    // Every read failed the same way (no answer, nothing decodable): the device failed, not its points.
    const errors = all.map((r) => r.error);
    if (errors.every((e) => e instanceof BacnetTimeoutError)) throw this.deviceError(errors[0]);
    if (errors.every((e) => e instanceof BacnetProtocolError)) throw this.deviceError(errors[0]);
    this.answered();
    const increments = new Map<string, number>();
    incrementOf.forEach((p, i) => {
      const value = Number(all[points.length + i]!.values?.[0]?.value);
      increments.set(p.id, Number.isFinite(value) && value >= 0 ? value : 0);
    });
    const device: { databaseRevision?: number; systemStatus?: number } = {};
    deviceProperties.forEach((property, i) => {
      const r = all[points.length + incrementOf.length + i]!;
      const value = r.values?.[0]?.value;
      const name = property === P.DATABASE_REVISION ? 'databaseRevision' : 'systemStatus';
      if (r.error instanceof BacnetServiceError) this.deviceCheck[name] = false;
      else if (typeof value === 'number') device[name] = value;
    });
    return { results: all.slice(0, points.length), increments, device };
  }

  private resultReading(p: PlannedPoint, result: PointResult): Reading {
    if (result.error) return { point: p.id, value: null, quality: 'bad', reason: errorReason(result.error) };
    const values = result.values ?? [];
    if (values.length !== 1) return { point: p.id, value: null, quality: 'bad', reason: `the property holds ${values.length} values: a point holds one` };
    const status: ObjectStatus = { statusFlags: result.statusFlags, reliability: result.reliability, outOfService: result.outOfService };
    const state = this.cov.get(p.id);
    if (state?.subscription) {
      // Read while subscribed (a fault's reliability, no notification yet, a confirmation): it is the latest value.
      state.value = values[0];
      state.status = status;
      state.needsStatus = false;
      state.confirmedAt = Date.now();
    }
    return toReading(p.id, p.kind, values[0], status);
  }

  /** A subscribed point's reading from its latest notification: `uncertain` once older than its bound (its confirmation read failed). */
  private cachedReading(p: PlannedPoint, state: CovState, now: number): Reading {
    const reading = toReading(p.id, p.kind, state.value, state.status);
    const age = now - state.confirmedAt;
    if (reading.quality !== 'good' || age <= p.confirmWithinMs) return reading;
    return { ...reading, quality: 'uncertain', reason: `not confirmed for ${Math.round(age / 1000)} s (no notification, no read): the device may have forgotten its subscription` };
  }

  /**
   * Why the confirmation read says the device restarted (or lost its subscriptions), if it does:
   * a database revision other than the last one read, or a point whose value or status changed
   * by more than the device notifies without having notified it.
   */
  private restartEvidence(points: readonly PlannedPoint[], results: readonly PointResult[], increments: Map<string, number>, device: { databaseRevision?: number }): string | undefined {
    let evidence: string | undefined;
    if (device.databaseRevision !== undefined) {
      if (this.databaseRevision !== undefined && device.databaseRevision !== this.databaseRevision) evidence = `its database revision went from ${this.databaseRevision} to ${device.databaseRevision}`;
      this.databaseRevision = device.databaseRevision;
    }
    points.forEach((p, i) => {
      const state = this.cov.get(p.id);
      const increment = increments.get(p.id);
      if (state && increment !== undefined) state.deviceIncrement = increment;
      const r = results[i]!;
      if (evidence || !state?.value || r.error || r.values?.length !== 1) return;
      const read = r.values[0]!;
      const known = state.value;
      const flags = (f?: StatusFlagsValue) => (f ? `${f.inAlarm}${f.fault}${f.overridden}${f.outOfService}` : '');
      let moved: boolean;
      if (read.tag !== known.tag) moved = true;
      else if (typeof read.value === 'number' && typeof known.value === 'number') {
        // An analog value moves below its COV increment without a notification; a change of at least the increment is always notified.
        const tolerance = p.covIncrement?.value ?? state.deviceIncrement ?? 0;
        const change = Math.abs(read.value - known.value);
        moved = change > 0 && change >= tolerance * (1 - 1e-6);
      } else moved = read.value !== known.value;
      if (moved) evidence = `${p.object} reads ${describeValue(read)} while its last notification said ${describeValue(known)}`;
      else if (r.statusFlags && state.status.statusFlags && flags(r.statusFlags) !== flags(state.status.statusFlags)) evidence = `the status flags of ${p.object} changed without a notification`;
    });
    return evidence;
  }

  /**
   * The device restarted, or forgot its subscriptions: every subscription is made again and
   * every point read (the values notified before are the device's old ones). Logged once, and
   * kept for the status page.
   */
  private restarted(reason: string): void {
    for (const state of this.cov.values()) {
      // The device most likely no longer has them; the cancels stop the renewals of the old ones.
      if (state.subscription) void state.subscription.cancel().catch(() => undefined);
      state.subscription = undefined;
      state.value = undefined;
      state.needsStatus = false;
      state.retryAt = 0;
      state.confirmedAt = 0;
      // It may have lost a COV_Increment written before.
      state.incrementDone = false;
      state.deviceIncrement = undefined;
    }
    this.covRefusedUntil = 0;
    const at = new Date().toISOString();
    this.recentNotes.push(`restart detected at ${at}: ${reason}; subscribed again and every point read`);
    if (this.recentNotes.length > 3) this.recentNotes.shift();
    this.log('restart', 'info', `restart detected (${reason}): COV subscriptions made again and every point read`, { reason, at });
  }

  /** The device answered (or notified, or announced itself). */
  private answered(): void {
    this.heard++;
    this.lastAnswerAt = Date.now();
  }

  /** Hears the I-Ams of the socket: one from the device while subscribed means it may have restarted. */
  private listen(client: BacnetClient): void {
    if (this.stopListening) return;
    const instance = this.connection.deviceInstance;
    this.stopListening = client.onIAm((iAm) => {
      if (this.closed || iAm.deviceInstance !== instance || this.askingWhoIs) return;
      const configured = this.connection.address;
      if (configured !== undefined && iAm.address !== normalizeAddress(configured)) return;
      // Found by Who-Is: a device that restarts may come back at another address.
      if (configured === undefined && this.address !== undefined && iAm.address !== normalizeAddress(this.address)) this.address = iAm.address;
      this.answered();
      this.iAmHeard = true;
    });
  }

  // ---- COV ---------------------------------------------------------------------------------

  /** Subscribes the points of `points` that should be and are not (first read, refused a while ago, dropped in a silence). */
  private async subscribe(client: BacnetClient, points: readonly PlannedPoint[]): Promise<void> {
    const now = Date.now();
    if (now < this.covRefusedUntil) return;
    const due = points.filter((p) => {
      const state = this.cov.get(p.id);
      return state && !state.subscription && !state.pending && state.retryAt <= now;
    });
    if (due.length === 0) return;
    // The first asks alone: a device without COV rejects it, and one that does not answer
    // costs one timeout, not one per point; the read that follows tells whether it is silent.
    const [first, ...rest] = due;
    if ((await this.subscribeOne(client, first!)) !== 'answered') return;
    await Promise.all(rest.map((p) => this.subscribeOne(client, p)));
  }

  /** Subscribes one point; says whether the device answered, or refused COV as a service, or did not answer. */
  private async subscribeOne(client: BacnetClient, p: PlannedPoint): Promise<'answered' | 'no-cov' | 'no-answer'> {
    const state = this.cov.get(p.id)!;
    state.pending = true;
    try {
      if (p.covIncrement && !state.incrementDone) await this.applyCovIncrement(client, p, state);
      const subscription = await client.subscribeCov(this.device, { type: p.objectType, instance: p.instance }, {
        confirmed: this.connection.confirmedNotifications,
        lifetimeSeconds: this.lifetimeSeconds,
        onNotification: (n) => this.onNotification(p, n),
        onError: (error) => this.onRenewalError(p, error),
      });
      this.answered();
      if (this.closed || this.silent) {
        void subscription.cancel().catch(() => undefined);
        return 'answered';
      }
      state.subscription = subscription;
      // A refusal logged before is logged again if it comes back.
      this.logged.delete(`cov:${p.id}`);
      this.logged.delete('cov');
      return 'answered';
    } catch (error) {
      const retryAt = Date.now() + this.lifetimeSeconds * 1000;
      // Asked again at the next read.
      if (error instanceof BacnetTimeoutError) return 'no-answer';
      if (error instanceof BacnetRejectError && error.reason === 'unrecognized-service') {
        this.covRefusedUntil = retryAt;
        this.log('cov', 'warn', `does not execute SubscribeCOV: its points are read at each interval; asked again in ${this.connection.covLifetime}`, {});
        return 'no-cov';
      }
      if (!(error instanceof BacnetError)) throw error;
      state.retryAt = retryAt;
      this.log(`cov:${p.id}`, 'warn', `refused the COV subscription of ${p.object}: the point is read at each interval; asked again in ${this.connection.covLifetime}`, { point: p.id, err: errorReason(error) });
      return 'answered';
    } finally {
      state.pending = false;
    }
  }

  private onNotification(p: PlannedPoint, n: CovNotification): void {
    if (this.closed) return;
    this.answered();
    const state = this.cov.get(p.id)!;
    if (n.presentValue) state.value = n.presentValue;
    state.confirmedAt = Date.now();
    // A notification carries the status flags, not the reliability: a fault's reliability is read at the next read.
    state.status = { statusFlags: n.statusFlags };
    state.needsStatus = n.statusFlags?.fault === true;
  }

  private onRenewalError(p: PlannedPoint, error: BacnetError): void {
    if (this.closed) return;
    const state = this.cov.get(p.id)!;
    const subscription = state.subscription;
    state.subscription = undefined;
    state.value = undefined;
    if (subscription) void subscription.cancel().catch(() => undefined);
    // No answer: the point is read at the next read, which tells whether the device is silent.
    if (error instanceof BacnetTimeoutError) return;
    state.retryAt = Date.now() + this.lifetimeSeconds * 1000;
    this.log(`cov:${p.id}`, 'warn', `refused to renew the COV subscription of ${p.object}: the point is read at each interval`, { point: p.id, err: errorReason(error) });
  }

  /** Writes the point's covIncrement to the object's COV_Increment when it differs; a refusal is logged, not fatal. */
  private async applyCovIncrement(client: BacnetClient, p: PlannedPoint, state: CovState): Promise<void> {
    const wanted = p.covIncrement!;
    const target = { objectType: p.objectType, instance: p.instance, property: P.COV_INCREMENT };
    try {
      const [current] = await client.readProperty(this.device, target);
      const value = Number(current?.value);
      if (Number.isFinite(value) && Math.abs(value - wanted.value) <= 1e-6 * Math.max(1, Math.abs(wanted.value))) {
        state.incrementDone = true;
        return;
      }
      await client.writeProperty(this.device, target, { tag: wanted.tag, value: wanted.value });
      state.incrementDone = true;
      this.log(`increment:${p.id}`, 'info', `COV_Increment of ${p.object} set to ${wanted.value} (was ${current?.value})`, { point: p.id });
    } catch (error) {
      if (error instanceof BacnetTimeoutError) throw error;
      if (!(error instanceof BacnetError)) throw error;
      state.incrementDone = true;
      this.log(`increment:${p.id}`, 'warn', `cannot set the COV_Increment of ${p.object} to ${wanted.value}: the device notifies changes by its own increment`, { point: p.id, err: errorReason(error) });
    }
  }

  // ---- writing -----------------------------------------------------------------------------

  private async command(pointId: string, value: number | boolean | string | null): Promise<void> {
    const p = this.byId.get(pointId);
    if (!p) throw new ConfigError([{ path: ['points'], message: `the device has no point ${JSON.stringify(pointId)}` }]);
    if (!p.writable) throw new ConfigError([{ path: ['points', p.index, 'writable'], message: 'is false: the gateway may not write this point' }]);
    const client = await this.client();
    await this.connect(client);
    const sent = value === null ? null : await this.checkWrite(client, p, value);
    try {
      await client.writeProperty(this.device, { objectType: p.objectType, instance: p.instance, property: p.property }, sent, { priority: p.priority });
      this.answered();
      // The value notified before the write is no longer the device's: the read back after it
      // (and any read before the write's own notification) asks the device.
      const state = this.cov.get(pointId);
      if (state) delete state.value;
    } catch (error) {
      if (error instanceof BacnetServiceError || error instanceof BacnetRejectError) {
        throw new DeviceProtocolError(`${value === null ? 'relinquish' : 'write'} of ${p.object} refused: ${errorReason(error)}`, { cause: error });
      }
      throw this.deviceError(error);
    }
  }

  /**
   * The value as the object's present value holds it, or a ConfigError saying why it cannot:
   * REAL within the range of a 32-bit float, Double finite, integers within the range of their
   * datatype, multi-state values a state number 1..number-of-states (read from the device once),
   * binary values true/false or 1/0, texts for characterstring-value. Checked before anything is
   * sent: a device would store 2 for 2.5, or refuse with its own words.
   */
  private async checkWrite(client: BacnetClient, p: PlannedPoint, value: number | boolean | string): Promise<number | boolean | string> {
    // Another property than present-value, or a proprietary object: its datatype is not known here.
    const type = pointObjectType(p.objectType);
    if (p.property !== P.PRESENT_VALUE || !type) return value;
    const what = `${type.name} ${p.instance}`;
    const refuse = (message: string): never => {
      throw new ConfigError([{ path: ['points', p.index], message }]);
    };
    const shown = JSON.stringify(value);
    if (p.objectType === ObjectType.CHARACTERSTRING_VALUE) {
      if (typeof value !== 'string') refuse(`${shown} is not a text: ${what} holds a character string`);
      return value;
    }
    if (typeof value === 'string') refuse(`${shown} is a text: ${what} holds ${type.kind === 'boolean' ? 'true/false (or 1/0)' : 'numbers'}`);
    if (type.kind === 'boolean') {
      if (typeof value === 'boolean') return value;
      if (value !== 0 && value !== 1) refuse(`${value} is not a binary state: ${what} holds 0 (inactive, false) or 1 (active, true)`);
      return value === 1;
    }
    if (typeof value === 'boolean') refuse(`${value} is not a number: ${what} holds numbers`);
    const n = value as number;
    const integer = (low: number, high: number, kind = 'integers') => {
      if (!Number.isInteger(n)) refuse(`${n} is not an integer: ${what} holds ${kind} from ${low} to ${high}`);
      if (n < low || n > high) refuse(`${n} is outside the range of ${what}: ${kind} from ${low} to ${high}`);
    };
    switch (p.objectType) {
      case ObjectType.INTEGER_VALUE:
        integer(-2147483648, 2147483647);
        break;
      case ObjectType.POSITIVE_INTEGER_VALUE:
      case ObjectType.ACCUMULATOR:
        integer(0, 4294967295);
        break;
      case ObjectType.MULTI_STATE_INPUT:
      case ObjectType.MULTI_STATE_OUTPUT:
      case ObjectType.MULTI_STATE_VALUE:
        integer(1, await this.numberOfStates(client, p), 'state numbers');
        break;
      case ObjectType.LARGE_ANALOG_VALUE:
        break;
      default:
        // REAL: beyond a 32-bit float's range the device would hold infinity.
        if (Math.abs(n) > FLOAT32_MAX) refuse(`${n} is outside the range of ${what}: a REAL holds numbers from -3.4e38 to 3.4e38`);
    }
    return n;
  }

  /** A multi-state object's number-of-states, read once; 4294967295 when the device does not say. */
  private async numberOfStates(client: BacnetClient, p: PlannedPoint): Promise<number> {
    const known = this.states.get(p.id);
    if (known !== undefined) return known;
    let states = 4294967295;
    try {
      const [value] = await client.readProperty(this.device, { objectType: p.objectType, instance: p.instance, property: P.NUMBER_OF_STATES });
      if (typeof value?.value === 'number' && Number.isInteger(value.value) && value.value >= 1) states = value.value;
      this.answered();
    } catch (error) {
      if (!(error instanceof BacnetServiceError || error instanceof BacnetRejectError)) throw this.deviceError(error);
    }
    this.states.set(p.id, states);
    return states;
  }

  /** Logs a message once per key until it changes, as the core does for device errors. */
  private log(key: string, level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void {
    if (this.logged.get(key) === message) return;
    this.logged.set(key, message);
    this.logger[level]({ device: this.deviceId, deviceInstance: this.connection.deviceInstance, ...fields }, `BACnet device ${this.connection.deviceInstance}: ${message}`);
  }
}


/** A value as a message shows it: `21.3`, `true`, `"text"`. */
function describeValue(v: TypedValue): string {
  if (typeof v.value === 'number' && v.tag === ApplicationTag.REAL) return String(float32Decimal(v.value));
  return typeof v.value === 'string' ? JSON.stringify(v.value) : String(v.value);
}
