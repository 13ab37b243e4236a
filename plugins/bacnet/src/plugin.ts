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
  type PointResult,
  type TypedValue,
} from '@citypilot/protocol-bacnet';
import {
  ConfigError,
  definePlugin,
  DeviceProtocolError,
  DeviceTimeoutError,
  DeviceUnreachableError,
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
      const points = checkPoints(device, issues);
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
function checkPoints(device: BacnetDeviceConfig, issues: ConfigIssue[]): PlannedPoint[] {
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
    });
  });
  return planned;
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
    for (const p of points) if (p.subscribe) this.cov.set(p.id, { status: {}, needsStatus: false, retryAt: 0, incrementDone: false });
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
    const quiet = this.heard === this.heardAtLastRead;
    await this.connect(client);
    if (this.connection.mode === 'cov' && !this.silent) await this.subscribe(client, points);

    const readings = new Map<string, Reading>();
    const toRead: PlannedPoint[] = [];
    for (const p of points) {
      const state = this.cov.get(p.id);
      if (state?.subscription && state.value && !state.needsStatus) readings.set(p.id, toReading(p.id, p.kind, state.value, state.status));
      else toRead.push(p);
    }
    if (toRead.length > 0) {
      const results = await this.readPoints(client, toRead);
      toRead.forEach((p, i) => readings.set(p.id, this.resultReading(p, results[i]!)));
    } else if (quiet) {
      // Every point comes from notifications, and nothing came since the last read ended: ask
      // the device something small, so that one switched off is noticed within one interval,
      // not at the next renewal (up to covLifetime later).
      await this.probe(client);
    }
    if (this.silent) {
      this.silent = false;
      this.log('state', 'info', 'answers again', {});
    }
    this.heardAtLastRead = this.heard;
    return points.map((p) => readings.get(p.id)!);
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
      const found = await client.whoIs({ lowLimit: instance, highLimit: instance, waitMs: this.context.timeoutMs });
      const iAm = found.find((i) => i.deviceInstance === instance);
      if (!iAm) {
        const hint = this.connection.network.interface !== '0.0.0.0' ? `; a socket bound to ${this.connection.network.interface} receives no broadcast I-Am: use interface 0.0.0.0 or set connection.address` : '; set connection.address if broadcasts do not reach it';
        this.fallSilent();
        throw new DeviceTimeoutError(`device ${instance} did not answer a Who-Is sent to ${this.connection.network.broadcastAddress} within ${this.context.timeoutMs} ms${hint}`);
      }
      this.address = iAm.address;
      this.heard++;
      this.log('address', 'info', `found at ${iAm.address} by Who-Is`, { address: iAm.address });
    }
    if (this.infoRead) return;
    try {
      const info = await client.readDeviceInfo(this.device);
      this.infoRead = true;
      this.heard++;
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
      return new DeviceTimeoutError(`${where}: ${error.message}`, { cause: error });
    }
    if (error instanceof BacnetSocketError) return new DeviceUnreachableError(`${where}: ${error.message}`, { cause: error });
    return new DeviceProtocolError(`${where}: ${error.message}`, { cause: error });
  }

  // ---- reading -----------------------------------------------------------------------------

  private async readPoints(client: BacnetClient, points: readonly PlannedPoint[]): Promise<PointResult[]> {
    let results: PointResult[];
    try {
      results = await client.readPoints(
        this.device,
        points.map((p) => ({ objectType: p.objectType, instance: p.instance, property: p.property, withStatus: p.property === P.PRESENT_VALUE })),
      );
    } catch (error) {
      throw this.deviceError(error);
    }
    // Every point failed the same way (no answer, nothing decodable): the device failed, not its points.
    const errors = results.map((r) => r.error);
    if (errors.every((e) => e instanceof BacnetTimeoutError)) throw this.deviceError(errors[0]);
    if (errors.every((e) => e instanceof BacnetProtocolError)) throw this.deviceError(errors[0]);
    this.heard++;
    return results;
  }

  private resultReading(p: PlannedPoint, result: PointResult): Reading {
    if (result.error) return { point: p.id, value: null, quality: 'bad', reason: errorReason(result.error) };
    const values = result.values ?? [];
    if (values.length !== 1) return { point: p.id, value: null, quality: 'bad', reason: `the property holds ${values.length} values: a point holds one` };
    const status: ObjectStatus = { statusFlags: result.statusFlags, reliability: result.reliability, outOfService: result.outOfService };
    const state = this.cov.get(p.id);
    if (state?.subscription) {
      // Read while subscribed (a fault's reliability, or no notification yet): it is the latest value.
      state.value = values[0];
      state.status = status;
      state.needsStatus = false;
    }
    return toReading(p.id, p.kind, values[0], status);
  }

  private async probe(client: BacnetClient): Promise<void> {
    try {
      await client.readProperty(this.device, { objectType: ObjectType.DEVICE, instance: this.connection.deviceInstance, property: P.SYSTEM_STATUS });
    } catch (error) {
      // An Error answer is an answer: the device is there.
      if (!(error instanceof BacnetServiceError || error instanceof BacnetRejectError)) throw this.deviceError(error);
    }
    this.heard++;
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
      this.heard++;
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
    this.heard++;
    const state = this.cov.get(p.id)!;
    if (n.presentValue) state.value = n.presentValue;
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
    try {
      await client.writeProperty(this.device, { objectType: p.objectType, instance: p.instance, property: p.property }, value, { priority: p.priority });
      this.heard++;
    } catch (error) {
      if (error instanceof BacnetServiceError || error instanceof BacnetRejectError) {
        throw new DeviceProtocolError(`${value === null ? 'relinquish' : 'write'} of ${p.object} refused: ${errorReason(error)}`, { cause: error });
      }
      throw this.deviceError(error);
    }
  }

  /** Logs a message once per key until it changes, as the core does for device errors. */
  private log(key: string, level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void {
    if (this.logged.get(key) === message) return;
    this.logged.set(key, message);
    this.logger[level]({ device: this.deviceId, deviceInstance: this.connection.deviceInstance, ...fields }, `BACnet device ${this.connection.deviceInstance}: ${message}`);
  }
}

