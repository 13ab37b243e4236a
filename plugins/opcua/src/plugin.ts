import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkEachPoint,
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
  writablePoint,
} from '@citypilot/sdk';
import type { OpcuaConnectOptions, OpcuaConnection, OpcuaIdentity, OpcuaMonitoredItemRequest, OpcuaSubscription, OpcuaValue } from '@citypilot/protocol-opcua';
import { loadOpcuaProtocol, nodeIdProblem, type OpcuaProtocol } from './protocol.js';
import { opcuaAddress, opcuaConnection, type OpcuaConnectionConfig } from './schema.js';
import { toReading, type ValueTarget } from './values.js';
import { simulate } from './simulate.js';
import { opcuaDiscovery } from './discover.js';

export type OpcuaDevice = DeviceConfig<typeof opcuaConnection, typeof opcuaAddress>;

/** A point as the driver reads it. */
interface PlannedPoint extends ValueTarget {
  /** Index in the device's `points`, for error paths. */
  position: number;
  nodeId: string;
  writable: boolean;
  /** Index in the driver's monitored items, when the point is monitored (mode subscribe, read device). */
  item?: number;
  /** Milliseconds between two reads of the point by the gateway (its poll group's or device's interval). */
  intervalMs?: number;
}

/**
 * The sampling interval asked for a monitored point without `samplingInterval`: a tenth of the
 * point's interval, within 100 ms (faster is load on the server for nothing a slot can hold)
 * and 1 s. With the publishing interval under the same bound (see {@link publishingIntervalFor}),
 * the value the gateway holds at a slot was current at the server at most two of these before:
 * 1 s for a 5 s point, 2 s for a 15 min meter — never one interval old.
 */
export function samplingIntervalFor(pointIntervalMs: number): number {
  return Math.min(1000, Math.max(100, Math.round(pointIntervalMs / 10)));
}

/** `250 ms`, `1.5 s`, `15 min`: an interval for a message. */
function describeMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000 || ms % 60_000 !== 0) return `${Math.round(ms / 100) / 10} s`;
  return `${ms / 60_000} min`;
}

/** The publishing interval of a subscription without `publishingInterval`: its shortest sampling interval, within 100 ms to 1 s. */
export function publishingIntervalFor(samplingIntervalsMs: readonly number[]): number {
  return Math.min(1000, Math.max(100, ...(samplingIntervalsMs.length ? [Math.min(...samplingIntervalsMs)] : [1000])));
}

/**
 * The folder of our certificate store: our application certificate and key, the server
 * certificates trusted and refused. `citypilot gateway opcua-certificates` works on it.
 */
export function opcuaPkiDir(stateDir: string): string {
  return join(stateDir, 'pki');
}

/**
 * The OPC UA driver plugin. Devices keep no shared state (one session per device block), so
 * the gateway's {@link opcuaPlugin} and new instances behave alike.
 */
export function createOpcuaPlugin() {
  return definePlugin({
    manifest: {
      id: 'opcua',
      version: '0.1.0',
      sdk: '^0.1.0',
      protocol: 'opcua',
      description: 'OPC UA servers (building management systems, heating substations, PLCs): subscriptions or polling, security, browse discovery.',
    },
    schema: { connection: opcuaConnection, address: opcuaAddress },
    profilesDir: fileURLToPath(new URL('../profiles/', import.meta.url)),
    simulate,
    discovery: opcuaDiscovery,
    create(device, context): Driver {
      const issues = connectionIssues(device.connection);
      const points = checkPoints(device, issues);
      if (issues.length > 0) throw new ConfigError(issues);
      return new OpcuaDriver(device, points, context);
    },
  });
}

/** The plugin the gateway registers. */
export const opcuaPlugin = createOpcuaPlugin();

/** The connection's rules the schema cannot express, with their paths in the device block. */
function connectionIssues(c: OpcuaConnectionConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const issue = (path: string[], message: string) => issues.push({ path: ['connection', ...path], message });
  if (c.securityPolicy === 'None' && c.securityMode !== 'None')
    issue(
      ['securityPolicy'],
      `None cannot ${c.securityMode === 'Sign' ? 'sign' : 'sign and encrypt'}: give Basic256Sha256 (or another policy the server offers), or securityMode None`,
    );
  if (c.securityPolicy !== undefined && c.securityPolicy !== 'None' && c.securityMode === 'None')
    issue(['securityPolicy'], `${c.securityPolicy} applies to securityMode Sign or SignAndEncrypt; with securityMode None, leave it out`);
  const identity = c.identity;
  if (identity.type === 'userName') {
    if (identity.password === undefined && identity.passwordEnv === undefined)
      issue(['identity', 'passwordEnv'], 'is required for a userName identity (or password): the environment variable that holds the password');
    if (identity.password !== undefined && identity.passwordEnv !== undefined)
      issue(['identity', 'password'], 'give password or passwordEnv, not both (passwordEnv keeps the password out of this file)');
  }
  if (c.publishingInterval !== undefined && parseDuration(c.publishingInterval) <= 0) issue(['publishingInterval'], 'must be longer than 0');
  return issues;
}

/** The points' rules the schema cannot express, pushed onto `issues`; the points planned. */
function checkPoints(device: OpcuaDevice, issues: ConfigIssue[]): PlannedPoint[] {
  const planned: PlannedPoint[] = [];
  checkEachPoint(device.points, issues, (p, position, issue) => {
    const a = p.address;
    if (nodeIdProblem(a.nodeId) !== undefined)
      issue(['address', 'nodeId'], `${JSON.stringify(a.nodeId)} is not an OPC UA node id: expected such as ns=2;s=AHU1.SupplyTemp or ns=3;i=1001`);
    if (a.deadband !== undefined && a.deadbandPercent !== undefined)
      issue(['address', 'deadbandPercent'], 'give deadband (absolute) or deadbandPercent, not both');
    for (const key of ['deadband', 'deadbandPercent'] as const) {
      if (a[key] !== undefined && p.kind !== 'number') issue(['address', key], `applies to numbers only, not to a point of kind ${p.kind}`);
    }
    if (a.read === 'poll') {
      for (const key of ['samplingInterval', 'deadband', 'deadbandPercent'] as const) {
        if (a[key] !== undefined) issue(['address', key], 'applies to monitored points, not to one with read: poll');
      }
    }
    if (a.samplingInterval !== undefined && parseDuration(a.samplingInterval) < 0) issue(['address', 'samplingInterval'], 'must not be negative');
    if (a.index !== undefined && p.writable) {
      issue(['writable'], 'a point on one element of an array (address.index) cannot be written: the gateway writes whole values only');
    }
    planned.push({ id: p.id, position, kind: p.kind, ...(a.index !== undefined ? { index: a.index } : {}), nodeId: a.nodeId, writable: p.writable });
  });
  return planned;
}

/** The settings of one monitored item, which points on the same node with the same settings share. */
interface MonitoredItem extends OpcuaMonitoredItemRequest {
  points: PlannedPoint[];
}

/**
 * One session with one server. Connects at the first read (or write); in mode subscribe, it
 * then creates one subscription with a monitored item per point and answers the reads from the
 * values the server notified, reading only the points without one.
 *
 * Across a lost connection: reads reject (the gateway marks the points bad) from the moment
 * node-opcua reports the loss until it is back, and the values notified before are forgotten:
 * nothing from before the loss is served as current. Once node-opcua has restored the
 * subscription (the same items, not new ones), the points are read from the server until
 * their first notification arrives.
 */
class OpcuaDriver implements Driver {
  private readonly byId: Map<string, PlannedPoint>;
  private readonly items: MonitoredItem[] = [];
  /** The points of each list of ids read (a poll group's), found once per list. */
  private readonly lists: PlansPerList<PlannedPoint, readonly PlannedPoint[]>;
  private readonly connection: OpcuaConnectionConfig;
  private session: OpcuaConnection | undefined;
  private connecting: Promise<OpcuaConnection> | undefined;
  private online = false;
  private subscription: OpcuaSubscription | undefined;
  /** Whether the subscription was asked for: once, at the first read after connecting. */
  private subscribed = false;
  /** Items the server monitors (not refused), by index. */
  private readonly live = new Set<number>();
  /** The latest value each live item was notified with, since the connection was last (re)established. */
  private readonly latest = new Map<number, OpcuaValue>();
  private closed = false;
  private allReported = false;
  /** Whether the silence of the subscription (nothing, not even a keep-alive, within its bound) was logged: once until it speaks again. */
  private silenceLogged = false;
  /** When the connection was last (re)established, `Date.now()` ms: a subscription's silence counts from then at the earliest. */
  private connectedAt = 0;

  constructor(
    private readonly device: OpcuaDevice,
    private readonly points: PlannedPoint[],
    private readonly context: DriverContext,
  ) {
    this.connection = device.connection;
    this.byId = new Map(points.map((p) => [p.id, p]));
    this.lists = new PlansPerList(points, (list) => list);
    if (this.connection.mode === 'subscribe') this.planItems();
  }

  private get logger(): Logger {
    return this.context.logger;
  }

  /** Groups the monitored points into items: one per node and settings. */
  private planItems(): void {
    const byKey = new Map<string, number>();
    for (const p of this.points) {
      const a = this.device.points[p.position]!.address;
      if (a.read === 'poll') continue;
      p.intervalMs = this.context.pointIntervalMs?.(p.id) ?? parseDuration(this.device.interval);
      const samplingIntervalMs = a.samplingInterval !== undefined ? parseDuration(a.samplingInterval) : samplingIntervalFor(p.intervalMs);
      const deadband =
        a.deadband !== undefined
          ? ({ type: 'absolute', value: a.deadband } as const)
          : a.deadbandPercent !== undefined
            ? ({ type: 'percent', value: a.deadbandPercent } as const)
            : undefined;
      const key = JSON.stringify([a.nodeId, samplingIntervalMs, a.queueSize, deadband]);
      let item = byKey.get(key);
      if (item === undefined) {
        item = this.items.length;
        byKey.set(key, item);
        this.items.push({ nodeId: a.nodeId, samplingIntervalMs, queueSize: a.queueSize, ...(deadband ? { deadband } : {}), points: [] });
      }
      this.items[item]!.points.push(p);
      p.item = item;
    }
  }

  async read(ids?: readonly string[]): Promise<Reading[]> {
    const points = this.lists.get(ids);
    const session = await this.connect();
    if (this.connection.mode === 'subscribe' && !this.subscribed) await this.subscribe(session);
    if (!this.online) throw new DeviceUnreachableError(`the connection to ${this.connection.endpointUrl} is lost; reconnecting`);
    const readings = new Map<PlannedPoint, Reading>();
    const toRead: PlannedPoint[] = [];
    const heard = this.subscriptionHeard();
    for (const p of points) {
      const value = heard && p.item !== undefined && this.live.has(p.item) ? this.latest.get(p.item) : undefined;
      if (value) readings.set(p, this.notified(p, value));
      else toRead.push(p);
    }
    if (toRead.length > 0) {
      const nodeIds = [...new Set(toRead.map((p) => p.nodeId))];
      const values = await this.request(`reading ${nodeIds.length} node(s)`, () => session.read(nodeIds));
      const byNode = new Map(values.map((v) => [v.nodeId, v]));
      for (const p of toRead) readings.set(p, toReading(p, byNode.get(p.nodeId)!));
    }
    return points.map((p) => readings.get(p)!);
  }

  /**
   * Writes a raw value as the node's data type, which OpcuaConnection reads once (DataType and
   * ValueRank) and checks the value against before sending it: an integer type takes integers
   * within its range, Float a number within its range, Boolean true or false, String a string.
   * @throws ConfigError for an unknown or read-only point, one on an array element, or a value
   *   the node cannot hold (the reason in words: `2.5 is not an integer: node … is Int32`)
   * @throws DeviceProtocolError when the server refuses the write (its status name, in words)
   */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    const p = writablePoint(this.byId, pointId, (point) => point.position);
    if (p.index !== undefined)
      throw new ConfigError([{ path: ['points', p.position, 'address', 'index'], message: 'one element of an array cannot be written' }]);
    const session = await this.connect();
    if (!this.online) throw new DeviceUnreachableError(`the connection to ${this.connection.endpointUrl} is lost; reconnecting`);
    const opcua = await loadOpcuaProtocol();
    try {
      await this.request(`writing ${p.nodeId}`, () => session.write(p.nodeId, value));
      // The value notified before the write is no longer the server's: the read back after it
      // (and any read before the write's own notification) asks the server.
      if (p.item !== undefined) this.latest.delete(p.item);
    } catch (error) {
      if (error instanceof DeviceProtocolError && error.cause instanceof opcua.OpcuaWriteRefusedError) {
        throw new ConfigError([{ path: ['points', p.position], message: error.cause.message }], { cause: error.cause });
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session ?? (await this.connecting?.catch(() => undefined));
    await this.subscription?.close();
    await session?.close();
  }

  /** The session, opened at the first call; a failed attempt is tried again at the next call. */
  private async connect(): Promise<OpcuaConnection> {
    if (this.session) return this.session;
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return await this.connecting;
  }

  private async open(): Promise<OpcuaConnection> {
    const c = this.connection;
    const opcua = await loadOpcuaProtocol();
    // node-opcua's warnings go to the gateway's log, not to stdout.
    opcua.routeOpcuaLibraryLogs(this.logger);
    const stateDir = this.context.stateDir;
    // Only a driver created to check a configuration has none, and it never connects.
    if (stateDir === undefined)
      throw new DeviceUnreachableError('no data folder for the OPC UA certificates: the driver was created to check a configuration only');
    const options: OpcuaConnectOptions = {
      pkiDir: opcuaPkiDir(stateDir),
      securityMode: c.securityMode,
      identity: identityOf(c, stateDir),
      // Connecting (and the first certificate) takes longer than a read: at least 10 s.
      requestTimeoutMs: Math.max(this.context.timeoutMs, 10_000),
    };
    if (c.securityPolicy !== undefined) options.securityPolicy = c.securityPolicy;
    let session: OpcuaConnection;
    try {
      session = await opcua.OpcuaConnection.connect(c.endpointUrl, options);
    } catch (error) {
      throw connectError(opcua, error);
    }
    if (this.closed) {
      await session.close();
      throw new DeviceUnreachableError('the driver is closed');
    }
    session.onConnectionState((state) => {
      this.online = state === 'connected';
      if (this.online) this.connectedAt = Date.now();
      // Values notified before the loss must not be served as current after it.
      this.latest.clear();
      this.allReported = false;
      if (state === 'reconnecting') this.logger.warn({ device: this.device.id, endpointUrl: c.endpointUrl }, 'OPC UA connection lost; reconnecting');
      else this.logger.info({ device: this.device.id, endpointUrl: c.endpointUrl }, 'OPC UA connection back; subscription restored');
    });
    this.online = true;
    this.connectedAt = Date.now();
    this.session = session;
    return session;
  }

  /** Creates the subscription, once; a refusal of the whole subscription leaves every point read instead. */
  private async subscribe(session: OpcuaConnection): Promise<void> {
    this.subscribed = true;
    if (this.items.length === 0) return;
    try {
      this.subscription = await session.subscribe(
        this.items,
        (value, index) => {
          if (!this.online) return;
          this.latest.set(index, value);
          this.checkAllReported();
        },
        {
          publishingIntervalMs:
            this.connection.publishingInterval !== undefined
              ? parseDuration(this.connection.publishingInterval)
              : publishingIntervalFor(this.items.map((i) => i.samplingIntervalMs)),
        },
      );
    } catch (error) {
      if (!this.online) {
        // Not refused: the connection broke meanwhile. Subscribe at a read once it is back.
        this.subscribed = false;
        throw new DeviceUnreachableError(`the connection to ${this.connection.endpointUrl} was lost while subscribing; reconnecting`, { cause: error });
      }
      this.logger.warn({ device: this.device.id, err: (error as Error).message }, 'OPC UA subscription refused: every point is read at each interval instead');
      return;
    }
    const refused = new Set(this.subscription.refused.map((r) => r.index));
    this.items.forEach((_, i) => {
      if (!refused.has(i)) this.live.add(i);
    });
    this.checkAllReported();
    this.logRevisedSampling();
    if (refused.size > 0) {
      const listed = this.subscription.refused
        .slice(0, 20)
        .map((r) => ({ points: this.items[r.index]!.points.map((p) => p.id), nodeId: r.nodeId, reason: r.reason }));
      this.logger.warn(
        { device: this.device.id, refused: refused.size, items: listed },
        `the OPC UA server refused to monitor ${refused.size} node(s): they are read at each interval instead`,
      );
    }
  }

  /**
   * A reading from the value last notified for `p`'s item, with the notification's source time.
   * `uncertain` when the server samples the node every point's interval or slower (it revised
   * the sampling interval asked up to that): the value held at a slot may then be up to that
   * old, which the slot's time would hide.
   */
  private notified(p: PlannedPoint, value: OpcuaValue): Reading {
    const reading = toReading(p, value);
    if (reading.quality !== 'bad' && value.sourceTimestamp !== undefined && Number.isFinite(value.sourceTimestamp.getTime()))
      reading.sourceTime = value.sourceTimestamp.getTime();
    const samplingMs = this.subscription?.samplingIntervalMs(p.item!);
    if (reading.quality === 'good' && samplingMs !== undefined && p.intervalMs !== undefined && samplingMs >= p.intervalMs) {
      reading.quality = 'uncertain';
      reading.reason = `the server samples ${p.nodeId} only every ${describeMs(samplingMs)}, not under the point's interval of ${describeMs(p.intervalMs)}: the value may be up to ${describeMs(samplingMs)} old`;
    }
    return reading;
  }

  /**
   * Whether the subscription has spoken (changes or keep-alive) within its bound: twice the
   * server's keep-alive period plus the request timeout. A value that does not change is not
   * notified again, so the held values are current only while the server says it is there; a
   * silent subscription (the server dropped it, its publishing stalled) sends the reads to the
   * server instead, with a warning once, until it speaks again.
   */
  private subscriptionHeard(): boolean {
    const s = this.subscription;
    if (!s) return true;
    const boundMs = 2 * s.keepAliveMs() + this.context.timeoutMs;
    // Nothing is published while the connection is down: the silence counts from its return.
    const silentMs = Date.now() - Math.max(s.lastHeardAt(), this.connectedAt);
    if (silentMs <= boundMs) {
      if (this.silenceLogged) this.logger.info({ device: this.device.id }, 'OPC UA subscription heard again: points answered from its notifications');
      this.silenceLogged = false;
      return true;
    }
    if (!this.silenceLogged) {
      this.logger.warn(
        { device: this.device.id, silentMs, keepAliveMs: s.keepAliveMs() },
        `the OPC UA server has sent nothing for this subscription, not even a keep-alive, for ${describeMs(silentMs)}: points are read from the server until it does`,
      );
      this.silenceLogged = true;
    }
    return false;
  }

  /** Logs once, after subscribing, the items whose sampling interval the server revised beyond the one asked. */
  private logRevisedSampling(): void {
    const revised = this.items.flatMap((item, i) => {
      const ms = this.live.has(i) ? this.subscription?.samplingIntervalMs(i) : undefined;
      return ms !== undefined && ms > item.samplingIntervalMs
        ? [{ nodeId: item.nodeId, askedMs: item.samplingIntervalMs, revisedMs: ms, points: item.points.map((p) => p.id) }]
        : [];
    });
    if (revised.length === 0) return;
    const slow = revised.filter((r) => r.points.some((id) => r.revisedMs >= (this.byId.get(id)!.intervalMs ?? Infinity)));
    const message =
      `the OPC UA server samples ${revised.length} node(s) slower than asked` +
      (slow.length ? `; ${slow.length} not under their points' interval: those readings are uncertain` : '');
    this.logger[slow.length ? 'warn' : 'info']({ device: this.device.id, items: revised.slice(0, 20) }, message);
  }

  /** Logs (debug) once per connection when every live item has reported a value: from then on, reads need the server only for the others. */
  private checkAllReported(): void {
    if (this.allReported || this.live.size === 0 || this.latest.size < this.live.size) return;
    this.allReported = true;
    this.logger.debug({ device: this.device.id, items: this.live.size }, 'OPC UA subscription: every monitored item has reported its value');
  }

  /** Runs one request to the server within the device's timeout, with the SDK's errors. */
  private async request<T>(what: string, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DeviceTimeoutError(`${what}: no answer from ${this.connection.endpointUrl} within ${this.device.timeout}`)),
        this.context.timeoutMs,
      );
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      if (error instanceof DeviceTimeoutError) throw error;
      if (!this.online) throw new DeviceUnreachableError(`the connection to ${this.connection.endpointUrl} is lost; reconnecting`, { cause: error });
      throw new DeviceProtocolError((error as Error).message, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The session's identity. A password from the environment is read here, at each connection,
 * so that the variable may be set after the configuration was checked. Relative certificate
 * files are in the plugin's folder of the data folder (`<dataDir>/plugins/opcua`).
 */
function identityOf(c: OpcuaConnectionConfig, stateDir: string): OpcuaIdentity {
  const identity = c.identity;
  if (identity.type === 'anonymous') return 'anonymous';
  if (identity.type === 'userName') {
    if (identity.password !== undefined) return { userName: identity.userName, password: identity.password };
    const password = process.env[identity.passwordEnv!];
    if (password === undefined) {
      throw new ConfigError([
        {
          path: ['connection', 'identity', 'passwordEnv'],
          message: `the environment variable ${identity.passwordEnv} is not set: the gateway needs the password of ${JSON.stringify(identity.userName)} in it`,
        },
      ]);
    }
    return { userName: identity.userName, password };
  }
  const file = (f: string) => (isAbsolute(f) ? f : resolve(stateDir, f));
  return { certificateFile: file(identity.certificateFile), privateKeyFile: file(identity.privateKeyFile) };
}

/** The SDK's error for a connection that could not be opened, with the OPC UA error as its cause. */
function connectError(opcua: OpcuaProtocol, error: unknown): unknown {
  if (!(error instanceof opcua.OpcuaError)) {
    // A user certificate file that cannot be read, for instance.
    return error instanceof Error && 'code' in error && typeof (error as NodeJS.ErrnoException).path === 'string'
      ? new DeviceUnreachableError(`cannot read ${(error as NodeJS.ErrnoException).path}: ${(error as NodeJS.ErrnoException).code}`, { cause: error })
      : error;
  }
  if (error instanceof opcua.OpcuaServerCertificateUntrustedError) {
    return new DeviceUnreachableError(`${error.message} (citypilot gateway opcua-certificates trust CONFIG ${error.thumbprint})`, { cause: error });
  }
  if (error instanceof opcua.OpcuaBadCredentialsError || error instanceof opcua.OpcuaIdentityRejectedError)
    return new DeviceProtocolError(error.message, { cause: error });
  return new DeviceUnreachableError(error.message, { cause: error });
}
