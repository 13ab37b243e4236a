import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  Duration,
  ID_PATTERN,
  parseDuration,
  pluginDeviceSchema,
  silentLogger,
  validate,
  type ConfigIssue,
  type DeviceConfig,
  type DeviceProfile,
  type DriverPlugin,
} from '@citypilot/sdk';
import { NODE_RED_SOURCE, NodeRedConfigSchema, checkNodeRedConfig } from '@citypilot/plugin-node-red';
import { ProfileLibrary, type LoadedProfile } from './profiles.js';
import type { PluginRegistry } from './registry.js';
import { ConfigFileError as GatewayConfigError, parseYaml } from '@citypilot/sdk';
import { ClockSchema, PollGroupsSchema, pointSettingIssues, pollGroupIssues } from './point-settings.js';
import { isLoopbackHost } from '../write/loopback.js';
import { DEFAULT_CONFIG_BUCKET, DEFAULT_FLEET_BUCKET, DEFAULT_PLUGIN_BUCKET, DEFAULT_REPORT_INTERVAL_S } from '@citypilot/wire';
import { readTrustedKey, TrustedKeyError } from '../fleet/trusted-keys.js';
import { readWriteTokens, WriteTokenError, writeTokensFile } from '../write/write-tokens.js';

/** A gateway configuration or device profile that cannot be used (see ConfigFileError). */
export { GatewayConfigError };

/** The gateway's own settings; each device block is checked against its plugin's schema. */
export const GatewayConfigSchema = Type.Object(
  {
    gateway: Type.Object(
      {
        /** The gateway's id: its NATS subjects and the hub's records are named after it. */
        id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as town-hall)' }),
        name: Type.Optional(Type.String({ minLength: 1 })),
        /** The building this gateway serves: its id in the hub's catalog. */
        building: Type.Optional(Type.String({ pattern: ID_PATTERN, expected: 'a building id of the hub catalog (such as town-hall)' })),
      },
      { additionalProperties: false },
    ),
    hub: Type.Object(
      {
        /** NATS server of the hub. Default: the NATS_URL environment variable, else nats://127.0.0.1:4222. */
        natsUrl: Type.Optional(Type.String({ pattern: '^(nats|tls)://', expected: 'a URL such as nats://hub.example.org:4222' })),
        /**
         * File holding this gateway's NATS credentials (its nkey seed), given by the hub operator;
         * relative paths start at the config file's folder. Without it the gateway connects
         * anonymously, which only a NATS server without authorization accepts.
         */
        credentials: Type.Optional(Type.String({ minLength: 1, expected: 'the path of a credentials file (such as town-hall.nk)' })),
        /** Subject prefix shared with the hub. */
        subjectPrefix: Type.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', default: 'citypilot' }),
        /** Largest batch sent to the hub, in samples. */
        batchMaxSamples: Type.Integer({ minimum: 1, maximum: 50_000, default: 1000 }),
        /** Longest a sample waits for its batch to fill before it is sent. */
        batchMaxDelay: Duration({ default: '1s' }),
        /**
         * Whether this gateway runs the configuration the hub pushes for it (`citypilot hub
         * push-config`), see live-config.ts. Off: only this file configures the gateway.
         */
        remoteConfig: Type.Boolean({ default: false }),
        /** Key-value bucket of the configurations pushed by the hub (the hub's CITYPILOT_CONFIG_BUCKET). */
        configBucket: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: DEFAULT_CONFIG_BUCKET, expected: 'a bucket name of letters, digits, - and _' }),
        /** How often the gateway checks the bucket besides the hub's notifications, as a safety net. */
        configCheckInterval: Duration({ default: '5m' }),
        /** How often the gateway reports its inventory (plugins, devices, errors) to the hub's fleet page. */
        reportInterval: Duration({ default: `${DEFAULT_REPORT_INTERVAL_S}s` }),
        /** Object store of the plugin packages the hub distributes (the hub's CITYPILOT_PLUGIN_BUCKET). */
        pluginBucket: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: DEFAULT_PLUGIN_BUCKET, expected: 'a bucket name of letters, digits, - and _' }),
        /** Key-value bucket of the plugin versions the hub assigns to each gateway (the hub's CITYPILOT_FLEET_BUCKET). */
        fleetBucket: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: DEFAULT_FLEET_BUCKET, expected: 'a bucket name of letters, digits, - and _' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Plugins installed from the hub's signed packages (gateway/src/fleet/). */
    plugins: Type.Object(
      {
        /**
         * Files of the Ed25519 public keys (PEM, SPKI) whose signatures this gateway accepts on a
         * plugin package, relative to the config file's folder. None: every package is refused.
         */
        trustedKeys: Type.Array(Type.String({ minLength: 1, expected: 'the path of a PEM public key file (such as keys/city-plugins.pub)' }), {
          default: [],
          maxItems: 20,
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Folder for the gateway's state (the outbox file, outbox.sqlite). Relative paths start at the config file's folder. */
    dataDir: Type.String({ minLength: 1, default: 'data' }),
    /** Folders of device profiles of this site, searched after the plugins' own (relative to this file). */
    profileDirs: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    outbox: Type.Object(
      {
        /**
         * Samples held on disk while the hub cannot be reached, the batch in flight included.
         * When full, new samples are refused and counted (drop newest): accepted ones are kept.
         */
        maxSamples: Type.Integer({ minimum: 1000, default: 1_000_000 }),
        /** Bytes of sample data held at most (the file is somewhat larger); same policy when reached. */
        maxBytes: Type.Integer({ minimum: 1_048_576, default: 536_870_912 }),
        /** Forwarding rate limit in samples per second, so that a gateway catching up does not flood the hub. */
        maxSamplesPerSecond: Type.Integer({ minimum: 1, default: 5000 }),
        /**
         * How long samples may wait with nothing forwarded before /healthz and the status say
         * forwarding is stalled (degraded): far above a batch's delay, so that a hiccup (a NATS
         * reconnection, a hub restarting) does not make it flap.
         */
        stallAfter: Duration({ default: '2m' }),
      },
      { additionalProperties: false, default: {} },
    ),
    status: Type.Object(
      {
        /** Address of the local status page and API; loopback unless you mean otherwise. */
        host: Type.String({ default: '127.0.0.1' }),
        /** Port of the status page; 0 picks a free one. */
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
        /**
         * Other names or addresses technicians reach the status page by (a DNS name of the
         * gateway): requests whose Host header is none of these, a loopback name or the listen
         * address are refused, so that a web page of another site cannot reach the API (DNS rebinding).
         */
        hostnames: Type.Array(
          Type.String({ pattern: '^[A-Za-z0-9.:_-]+$', expected: 'a host name or address, without port (such as gw-town-hall.example.org)' }),
          { default: [] },
        ),
        /**
         * Whether POST /api/points/<id>/write may change writable points, to holders of a write
         * token (citypilot gateway write-token create). Off unless you mean it; on a non-loopback
         * `host`, only once a write token exists.
         */
        allowWrites: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Node-RED hosted by the gateway (see plugins/node-red): off by default. */
    nodeRed: NodeRedConfigSchema,
    /** Named poll groups (interval, jitter) that points join with `group:`. */
    pollGroups: PollGroupsSchema,
    /** Guards on timestamps: device clocks and jumps of the gateway's own clock. */
    clock: ClockSchema,
    devices: Type.Array(Type.Object({ plugin: Type.String({ expected: 'the id of a driver plugin' }) }, { additionalProperties: true }), {
      minItems: 1,
    }),
  },
  { additionalProperties: false },
);

type CoreConfig = Static<typeof GatewayConfigSchema>;

/** A validated gateway configuration, each device paired with its plugin. */
export interface GatewayConfig extends Omit<CoreConfig, 'devices'> {
  /** Absolute path of the data folder. */
  dataDir: string;
  /** Absolute paths of the site's profile folders. */
  profileDirs: string[];
  hub: CoreConfig['hub'] & {
    /** Absolute path of the credentials file, when there is one. */
    credentials?: string;
  };
  /** `flowsFile` is an absolute path. */
  nodeRed: CoreConfig['nodeRed'];
  /** `trustedKeys` are absolute paths of files that held valid Ed25519 public keys when the configuration was read. */
  plugins: CoreConfig['plugins'];
  devices: { config: DeviceConfig; plugin: DriverPlugin }[];
}

/** Reads, parses and validates a gateway configuration file, plugins' own checks included. */
export function loadGatewayConfig(file: string, registry: PluginRegistry): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(file, [`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  return parseGatewayConfig(text, file, registry);
}

/**
 * Like {@link loadGatewayConfig}, from text; `file` names it in messages and anchors the relative
 * paths it contains (`dataDir`, `profileDirs`, `hub.credentials`), unless `baseDir` is given (a
 * configuration pushed by the hub is named after its revision and anchored at the local file's
 * folder). Every problem found is reported at once, those of the device profiles it uses with
 * their own file and line.
 */
export function parseGatewayConfig(text: string, file: string, registry: PluginRegistry, baseDir?: string, options: ParseOptions = {}): GatewayConfig {
  const source = parseYaml(text, file);
  const base = baseDir ?? dirname(resolve(file));
  const core = validate(GatewayConfigSchema, source.data);
  const problems: string[] = core.ok ? [] : source.describe(core.issues);
  const fail = (issues: readonly ConfigIssue[]) => problems.push(...source.describe(issues));
  if (core.ok) fail(pollGroupIssues(core.value.pollGroups));

  // Report the devices' problems along with the rest, whenever the list itself is readable.
  const rawDevices = core.ok ? core.value.devices : (source.data as { devices?: unknown }).devices;
  const profileDirs = core.ok ? core.value.profileDirs.map((d) => resolve(base, d)) : [];
  const profiles = new ProfileLibrary(profileDirs);
  const devices: GatewayConfig['devices'] = [];
  const seenIds = new Map<string, number>();
  (Array.isArray(rawDevices) ? rawDevices : []).forEach((raw: Record<string, unknown>, index) => {
    if (!raw || typeof raw !== 'object' || typeof raw.plugin !== 'string') return; // reported by the core schema
    const at = (...path: (string | number)[]) => ['devices', index, ...path];
    const plugin = registry.get(raw.plugin);
    if (!plugin) {
      fail([
        {
          path: at('plugin'),
          message: `unknown plugin ${JSON.stringify(raw.plugin)}: expected one of ${registry
            .ids()
            .map((i) => JSON.stringify(i))
            .join(', ')}`,
        },
      ]);
      return;
    }
    let merged: Record<string, unknown> = raw;
    let profile: LoadedProfile | undefined;
    if (typeof raw.profile === 'string') {
      try {
        profile = profiles.get(plugin, raw.profile);
      } catch (error) {
        if (!(error instanceof GatewayConfigError)) throw error;
        problems.push(...error.problems);
        return;
      }
      if (!profile) {
        const known = profiles.ids(plugin);
        fail([
          {
            path: at('profile'),
            message: `unknown profile ${JSON.stringify(raw.profile)} for plugin ${plugin.manifest.id}: expected one of ${known.map((i) => JSON.stringify(i)).join(', ') || '(none)'}`,
          },
        ]);
        return;
      }
      const { id, connection: fixed } = profile.profile;
      const result = mergeProfile(raw, profile.profile);
      if (result.conflicts.length) {
        fail(
          result.conflicts.map((key) => ({ path: at('connection', key), message: `is set by profile ${id} (${JSON.stringify(fixed![key])}): remove it here` })),
        );
        return;
      }
      merged = result.merged;
    }
    const ownPoints = Array.isArray(raw.points) ? raw.points.length : 0;
    // A problem in one of the profile's points is shown at its line in the profile file.
    const report = (issues: readonly ConfigIssue[]) => {
      for (const issue of issues) {
        const [k, ...rest] = issue.path;
        if (k === 'points' && typeof rest[0] === 'number' && rest[0] >= ownPoints && profile) {
          const original = profile.profile.points.findIndex((p) => p.id === (merged.points as { id: string }[])[rest[0] as number]!.id);
          problems.push(...profile.source.describe([{ path: ['points', original, ...rest.slice(1)], message: `${issue.message} (in devices[${index}])` }]));
        } else {
          fail([{ path: at(...issue.path), message: issue.message }]);
        }
      }
    };
    const result = validate(pluginDeviceSchema(plugin), merged);
    if (!result.ok) return report(result.issues);
    const device = result.value as DeviceConfig;
    const earlier = seenIds.get(device.id);
    if (earlier !== undefined) return fail([{ path: at('id'), message: `${JSON.stringify(device.id)} is already the id of devices[${earlier}]` }]);
    seenIds.set(device.id, index);
    const settings = pointSettingIssues(device, core.ok ? core.value.pollGroups : undefined);
    if (settings.length) return report(settings);
    try {
      // create() validates cross-field rules and plans requests without I/O; the driver it
      // returns is dropped at once.
      void plugin.create(device, { timeoutMs: parseDuration(device.timeout), logger: silentLogger }).close();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return report(error.issues);
    }
    devices.push({ config: device, plugin });
  });
  if (core.ok) {
    const nodeRed = core.value.nodeRed;
    fail(checkNodeRedConfig(nodeRed).map((issue) => ({ path: ['nodeRed', ...issue.path], message: issue.message })));
    const clash = seenIds.get(NODE_RED_SOURCE);
    if (nodeRed.enabled && nodeRed.points.length && clash !== undefined) {
      fail([{ path: ['devices', clash, 'id'], message: `"${NODE_RED_SOURCE}" names the Node-RED virtual points (nodeRed.points): choose another device id` }]);
    }
  }
  if (core.ok) fail(writeCredentialIssues(core.value.status, resolve(base, core.value.dataDir)));
  if (core.ok && options.readKeyFiles !== false) fail(trustedKeyIssues(core.value.plugins.trustedKeys, base));
  if (!core.ok || problems.length) throw new GatewayConfigError(file, problems);
  const config = core.value;
  const hub = { ...config.hub, ...(config.hub.credentials ? { credentials: resolve(base, config.hub.credentials) } : {}) };
  const nodeRed = { ...config.nodeRed, flowsFile: resolve(base, config.nodeRed.flowsFile) };
  const plugins = { trustedKeys: config.plugins.trustedKeys.map((k) => resolve(base, k)) };
  return { ...config, hub, nodeRed, plugins, dataDir: resolve(base, config.dataDir), profileDirs, devices };
}

/** How {@link parseGatewayConfig} treats the files a configuration names. */
export interface ParseOptions {
  /**
   * Whether the `plugins.trustedKeys` files are read and checked (default true). False where they
   * are not this machine's to read: the hub checking a configuration before pushing it.
   */
  readKeyFiles?: boolean;
}

/** Each trusted key file that cannot be read or holds no Ed25519 public key. */
function trustedKeyIssues(keys: readonly string[], base: string): ConfigIssue[] {
  return keys.flatMap((key, index) => {
    try {
      readTrustedKey(resolve(base, key));
      return [];
    } catch (error) {
      if (!(error instanceof TrustedKeyError)) throw error;
      return [{ path: ['plugins', 'trustedKeys', index], message: error.message }];
    }
  });
}

/**
 * Merges a profile into a device block: the profile's connection settings under the device's,
 * the device's own points first (so their indexes match the file), then the profile's points it
 * does not redefine. `conflicts` lists the connection keys both set, which is an error: what a
 * profile fixes belongs to the model.
 */
function mergeProfile(raw: Record<string, unknown>, profile: DeviceProfile): { merged: Record<string, unknown>; conflicts: string[] } {
  const connection = (raw.connection ?? {}) as Record<string, unknown>;
  const fixed = profile.connection ?? {};
  const own = (Array.isArray(raw.points) ? raw.points : []) as { id?: unknown }[];
  const ownIds = new Set(own.map((p) => p.id));
  return {
    merged: { ...raw, connection: { ...fixed, ...connection }, points: [...own, ...profile.points.filter((p) => !ownIds.has(p.id))] },
    conflicts: Object.keys(connection).filter((k) => k in fixed),
  };
}

/**
 * Writes allowed on an address other machines reach need write credentials: at least one
 * technician's write token in the data folder. (Every write needs a token anyway; this refuses
 * to start a gateway whose write API would only answer "no" to the network, or that someone
 * believes open.) On loopback, writes stay refused until a token exists.
 */
function writeCredentialIssues(status: CoreConfig['status'], dataDir: string): ConfigIssue[] {
  if (!status.allowWrites || isLoopbackHost(status.host)) return [];
  let tokens: number;
  try {
    tokens = readWriteTokens(dataDir).length;
  } catch (error) {
    if (!(error instanceof WriteTokenError)) throw error;
    return [{ path: ['status', 'allowWrites'], message: `writes on ${status.host} need write tokens, and ${error.message}` }];
  }
  if (tokens) return [];
  return [
    {
      path: ['status', 'allowWrites'],
      message: `writes on a non-loopback address (status.host: ${status.host}) need write credentials, and ${writeTokensFile(dataDir)} holds none: create a technician's token with citypilot gateway write-token create <this file> --name <technician>, or set status.host to 127.0.0.1`,
    },
  ];
}
