// First: node-opcua's warnings off stdout from the moment it is loaded.
import './logging.js';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { DataType, MessageSecurityMode, SecurityPolicy, StatusCodes, Variant, VariantArrayType, type StatusCode } from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { OPCUAServer } from 'node-opcua-server';
import { buildingVariables, type BuildingActivity, type BuildingVariable, type SimulatedValue } from './building.js';
import { readCertificateFile } from './certificates.js';

/** A user the simulator accepts, with its password. */
export interface SimulatedUser {
  userName: string;
  password: string;
}

export interface OpcuaSimulatorOptions {
  /**
   * The server's certificate store (own certificate and key, trusted, rejected); created if
   * missing. Creating the certificate takes seconds: reuse the folder to start fast.
   */
  pkiDir: string;
  /** Default 0: a free port, chosen once and kept across {@link OpcuaSimulator.stop} and start. */
  port?: number;
  /** Users accepted with user name and password. Default none. */
  users?: readonly SimulatedUser[];
  /** Whether anonymous sessions are accepted. Default true. */
  allowAnonymous?: boolean;
  /**
   * Client application certificates (PEM or DER files) trusted at start, for secure channels
   * and for X.509 user identities. Any other client certificate is refused and put in the
   * `rejected` folder of {@link pkiDir}.
   */
  trustedClientCertificates?: readonly string[];
  /**
   * Variables served besides the building's, under Objects/Building too: unusual types and
   * arrays for tests of a client's conversions.
   */
  extraVariables?: readonly BuildingVariable[];
  /**
   * The server's operation limits (OperationLimits in its ServerCapabilities): operations a
   * request may hold, beyond which the server refuses it whole, as many building systems' do.
   * Default: node-opcua's.
   */
  operationLimits?: { maxNodesPerRead?: number; maxMonitoredItemsPerCall?: number; maxNodesPerBrowse?: number };
  /** How often moving values are updated, in milliseconds. Default 1000. */
  tickMs?: number;
  /** The clock, in milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /** The building's load curve (see {@link BuildingActivity}). Default: a steady full load (1). */
  load?: BuildingActivity['load'];
  /** The building's noise (see {@link BuildingActivity}). Default: none (0). */
  noise?: BuildingActivity['noise'];
  /**
   * Numeric variables served besides the building's, for load tests: `count` Doubles under
   * Objects/Building/Bench, paths `Bench.V1` … `Bench.V<count>` (node ids
   * `ns=1;s=Building.Bench.V1` …), V<i> starting at i and all growing by 1 every
   * `changeEveryMs` (default 1000), so that each change is a new value to notify.
   */
  generatedVariables?: { count: number; changeEveryMs?: number };
  /**
   * Serves `Clock.Seconds` (node id `ns=1;s=Building.Clock.Seconds`), a UInt32 whose value is
   * always the whole seconds of {@link now} since the epoch, read from the clock at each read
   * and each sampling: a value that changes every second and whose value at any time a test
   * can compute. Default false.
   */
  clockVariable?: boolean;
  /**
   * The MinimumSamplingInterval of every variable, in milliseconds: the server samples none
   * faster (it revises a subscription's sampling interval up to it). Default 100.
   */
  minimumSamplingIntervalMs?: number;
}

/** The security policies offered, besides None: the current ones of OPC UA 1.04/1.05. */
export const SIMULATOR_SECURITY_POLICIES: readonly SecurityPolicy[] = [
  SecurityPolicy.Basic256Sha256,
  SecurityPolicy.Aes128_Sha256_RsaOaep,
  SecurityPolicy.Aes256_Sha256_RsaPss,
];

const SIMULATOR_APPLICATION_URI = 'urn:citypilot:opcua-simulator';

/** Namespace of the building's nodes: node ids are `ns=1;s=Building.<path>`. */
export const BUILDING_NAMESPACE_INDEX = 1;

/** The node id of a building variable from its path under Objects/Building, e.g. `AHU1.FanSpeed`. */
export function buildingNodeId(path: string): string {
  return `ns=${BUILDING_NAMESPACE_INDEX};s=Building.${path}`;
}

type UAVariable = ReturnType<ReturnType<NonNullable<OPCUAServer['engine']['addressSpace']>['getOwnNamespace']>['addVariable']>;

/**
 * An OPC UA server on 127.0.0.1 with a building's address space under Objects/Building: air
 * handling units, a boiler and meters whose values move with the time of day and the load
 * curve its caller gives. Security
 * policies None, Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss in modes
 * None, Sign and SignAndEncrypt; anonymous, user name and X.509 certificate identities.
 *
 * Values survive {@link stop} and {@link start}: a restart is the same building on the same
 * port with the same certificate, as a real server that reboots.
 */
export class OpcuaSimulator {
  private readonly options: OpcuaSimulatorOptions;
  private readonly variables: Map<string, BuildingVariable>;
  private readonly values = new Map<string, SimulatedValue>();
  private readonly statuses = new Map<string, StatusCode>();
  private readonly nodes = new Map<string, UAVariable>();
  private readonly trusted: string[];
  private server: OPCUAServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generatedTimer: NodeJS.Timeout | undefined;
  private port: number;
  private lastTick: number;

  constructor(options: OpcuaSimulatorOptions) {
    this.options = options;
    this.port = options.port ?? 0;
    this.trusted = [...(options.trustedClientCertificates ?? [])];
    this.variables = new Map([...buildingVariables({ load: options.load, noise: options.noise }), ...(options.extraVariables ?? [])].map((v) => [v.path, v]));
    this.lastTick = this.now();
    for (const v of generatedVariables(options.generatedVariables?.count ?? 0)) this.variables.set(v.path, v);
    for (const v of this.variables.values()) this.values.set(v.path, v.initial(this.lastTick));
  }

  /** The endpoint URL, once started. */
  get endpointUrl(): string {
    if (!this.server) throw new Error('the simulator is not started');
    return `opc.tcp://127.0.0.1:${this.port}`;
  }

  /** The server's own certificate (PEM), for a client that trusts it ahead of time. */
  get certificateFile(): string {
    return `${this.options.pkiDir}/own/certs/certificate.pem`;
  }

  /** Paths of the building's variables under Objects/Building, e.g. `AHU1.SupplyAirTemperature`. */
  get paths(): string[] {
    return [...this.variables.keys()];
  }

  /** Starts listening (again, on the same port after a stop). */
  async start(): Promise<{ endpointUrl: string; port: number }> {
    if (this.server) throw new Error('the simulator is already started');
    mkdirSync(this.options.pkiDir, { recursive: true });
    if (this.port === 0) this.port = await freePort();
    const certificateManager = new OPCUACertificateManager({ rootFolder: this.options.pkiDir, automaticallyAcceptUnknownCertificate: false });
    await certificateManager.initialize();
    if (!existsSync(this.certificateFile)) {
      // node-opcua would make one too, but with its author's organisation and town in the subject.
      await certificateManager.createSelfSignedCertificate({
        applicationUri: SIMULATOR_APPLICATION_URI,
        dns: [hostname(), 'localhost'],
        ip: ['127.0.0.1'],
        subject: '/CN=CityPilot OPC UA simulator/O=CityPilot',
        startDate: new Date(),
        validity: 365 * 10,
        outputFile: this.certificateFile,
      });
    }
    for (const file of this.trusted) await certificateManager.trustCertificate(readCertificateFile(file));
    const users = this.options.users ?? [];
    const server = new OPCUAServer({
      port: this.port,
      host: '127.0.0.1',
      hostname: '127.0.0.1',
      serverCertificateManager: certificateManager,
      userCertificateManager: certificateManager,
      certificateFile: this.certificateFile,
      privateKeyFile: `${this.options.pkiDir}/own/private/private_key.pem`,
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, ...SIMULATOR_SECURITY_POLICIES],
      allowAnonymous: this.options.allowAnonymous ?? true,
      userManager: { isValidUser: (userName: string, password: string) => users.some((u) => u.userName === userName && u.password === password) },
      buildInfo: { productName: 'CityPilot OPC UA simulator', manufacturerName: 'CityPilot' },
      ...(this.options.operationLimits ? { serverCapabilities: { operationLimits: this.options.operationLimits } } : {}),
      serverInfo: { applicationName: { text: 'CityPilot OPC UA simulator' }, applicationUri: SIMULATOR_APPLICATION_URI },
    });
    try {
      await server.initialize();
      this.buildAddressSpace(server);
      await server.start();
    } catch (err) {
      await server.shutdown().catch(() => undefined);
      this.nodes.clear();
      throw err;
    }
    this.server = server;
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 1000);
    if (this.options.generatedVariables?.count)
      this.generatedTimer = setInterval(() => this.changeGenerated(), this.options.generatedVariables.changeEveryMs ?? 1000);
    return { endpointUrl: this.endpointUrl, port: this.port };
  }

  /** Stops the server, closing its sessions at once. Values and the port are kept for a start. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.generatedTimer);
    this.timer = undefined;
    this.generatedTimer = undefined;
    const server = this.server;
    this.server = undefined;
    this.nodes.clear();
    if (server) await server.shutdown(0);
  }

  /** A variable's current value. */
  get(path: string): SimulatedValue {
    this.variable(path);
    return this.values.get(path)!;
  }

  /** Sets a variable's value, as the equipment would (moving values move on from there). */
  set(path: string, value: SimulatedValue): void {
    this.variable(path);
    this.values.set(path, value);
    this.publish(path);
  }

  /**
   * Gives a variable a status: `BadSensorFailure` for a broken sensor, `Good` for repaired.
   * Its value is kept and reported with the status.
   */
  setStatus(path: string, status: StatusCode): void {
    this.variable(path);
    if (status.isGood()) this.statuses.delete(path);
    else this.statuses.set(path, status);
    this.publish(path);
  }

  /** Trusts a client certificate (PEM or DER file) from now on and after restarts. */
  async trustClientCertificate(file: string): Promise<void> {
    this.trusted.push(file);
    if (this.server) await (this.server.serverCertificateManager as OPCUACertificateManager).trustCertificate(readCertificateFile(file));
  }

  /**
   * Monitored items of all subscriptions of all sessions on the server, by node id: the
   * number of times each node is monitored, to check that a client does not duplicate them.
   */
  monitoredItems(): Map<string, number> {
    const counts = new Map<string, number>();
    if (!this.server) return counts;
    for (const session of this.server.engine.getSessions()) {
      for (const subscription of session.publishEngine.subscriptions) {
        for (const handle of subscription.getMonitoredItems().serverHandles) {
          const key = subscription.getMonitoredItem(handle)?.node?.nodeId.toString() ?? '?';
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
    }
    return counts;
  }

  /**
   * Data change notifications the server has sent so far to each session open now (all its
   * subscriptions), with the client's application name: what a client has been delivered, as
   * the server counts it (OPC UA SubscriptionDiagnostics.DataChangeNotificationsCount).
   */
  notificationsSent(): { clientApplicationName: string; sessionName: string; dataChangeNotifications: number }[] {
    if (!this.server) return [];
    return this.server.engine.getSessions().map((session) => ({
      clientApplicationName: session.clientDescription?.applicationName?.text ?? '',
      sessionName: session.sessionName,
      dataChangeNotifications: session.publishEngine.subscriptions.reduce((n, s) => n + s.subscriptionDiagnostics.dataChangeNotificationsCount, 0),
    }));
  }

  private variable(path: string): BuildingVariable {
    const v = this.variables.get(path);
    if (!v) throw new Error(`no variable ${path} in the simulated building`);
    return v;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private tick(): void {
    const now = this.now();
    const elapsedMs = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    for (const v of this.variables.values()) {
      if (!v.move) continue;
      this.values.set(
        v.path,
        v.move(this.values.get(v.path)!, now, elapsedMs, (p) => this.values.get(p)!),
      );
      this.publish(v.path);
    }
  }

  private changeGenerated(): void {
    for (let i = 1; i <= (this.options.generatedVariables?.count ?? 0); i++) {
      const path = generatedPath(i);
      this.values.set(path, (this.values.get(path) as number) + 1);
      this.publish(path);
    }
  }

  private publish(path: string): void {
    const node = this.nodes.get(path);
    if (!node) return;
    const v = this.variable(path);
    node.setValueFromSource(variantOf(v, this.values.get(path)!), this.statuses.get(path) ?? StatusCodes.Good, new Date(this.now()));
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace!;
    const namespace = addressSpace.getOwnNamespace();
    const folders = new Map<string, ReturnType<typeof namespace.addObject>>();
    const building = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Building', nodeId: 's=Building' });
    const folderOf = (path: string) => {
      const parts = path.split('.').slice(0, -1);
      let parent = building;
      for (let i = 0; i < parts.length; i++) {
        const key = parts.slice(0, i + 1).join('.');
        let folder = folders.get(key);
        if (!folder) {
          folder = namespace.addObject({ componentOf: parent, browseName: parts[i]!, nodeId: `s=Building.${key}` });
          folders.set(key, folder);
        }
        parent = folder;
      }
      return parent;
    };
    for (const v of this.variables.values()) {
      const common = {
        componentOf: folderOf(v.path),
        browseName: v.path.split('.').at(-1)!,
        nodeId: `s=Building.${v.path}`,
        dataType: DataType[v.dataType],
        ...(v.arrayLength !== undefined ? { valueRank: 1, arrayDimensions: [v.arrayLength] } : {}),
        accessLevel: v.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: v.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        minimumSamplingInterval: this.options.minimumSamplingIntervalMs ?? 100,
      } as const;
      const node: UAVariable = v.unit
        ? namespace.addAnalogDataItem({ ...common, engineeringUnits: v.unit, ...(v.range ? { engineeringUnitsRange: v.range } : {}) })
        : namespace.addVariable(common);
      node.setValueFromSource(variantOf(v, this.values.get(v.path)!), this.statuses.get(v.path) ?? StatusCodes.Good);
      if (v.writable) {
        // A client's write changes the equipment: keep it, so that it survives a restart.
        node.on('value_changed', (dataValue) => {
          if (dataValue.statusCode.isGood() && dataValue.value.value !== null) this.values.set(v.path, dataValue.value.value as SimulatedValue);
        });
      }
      this.nodes.set(v.path, node);
    }
    if (this.options.clockVariable) {
      namespace.addVariable({
        componentOf: folderOf(CLOCK_PATH),
        browseName: 'Seconds',
        nodeId: `s=Building.${CLOCK_PATH}`,
        dataType: 'UInt32',
        minimumSamplingInterval: this.options.minimumSamplingIntervalMs ?? 100,
        value: { get: () => new Variant({ dataType: DataType.UInt32, value: Math.floor(this.now() / 1000) }) },
      });
    }
  }
}

/** The path of the {@link OpcuaSimulatorOptions.clockVariable}. */
export const CLOCK_PATH = 'Clock.Seconds';

const generatedPath = (index: number) => `Bench.V${index}`;

/** The variables of {@link OpcuaSimulatorOptions.generatedVariables}: plain Doubles, no units, moved by the simulator's own timer. */
function generatedVariables(count: number): BuildingVariable[] {
  return Array.from({ length: count }, (_, i) => ({ path: generatedPath(i + 1), dataType: DataType.Double, initial: () => i + 1 }));
}

const TYPED_ARRAYS: Partial<
  Record<
    DataType,
    Float64ArrayConstructor | Float32ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor
  >
> = {
  [DataType.Double]: Float64Array,
  [DataType.Float]: Float32Array,
  [DataType.Int32]: Int32Array,
  [DataType.UInt32]: Uint32Array,
  [DataType.Int16]: Int16Array,
  [DataType.UInt16]: Uint16Array,
};

/** The OPC UA value of a variable: one value, or an array. */
function variantOf(v: BuildingVariable, value: SimulatedValue): Variant {
  if (v.arrayLength !== undefined) {
    // Typed arrays for numbers: node-opcua checks (and warns about) every element of a plain one.
    const Typed = TYPED_ARRAYS[v.dataType];
    return new Variant({ dataType: v.dataType, arrayType: VariantArrayType.Array, value: Typed ? Typed.from(value as number[]) : value });
  }
  // Explicit: node-opcua cannot tell a 64-bit integer's [high, low] pair from an array.
  return new Variant({ dataType: v.dataType, arrayType: VariantArrayType.Scalar, value });
}

/** A TCP port free on 127.0.0.1 now. */
async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
