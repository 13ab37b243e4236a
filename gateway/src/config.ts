import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import {
  CityPilotError,
  ConfigError,
  Duration,
  formatPath,
  ID_PATTERN,
  parseDuration,
  pluginDeviceSchema,
  validate,
  type ConfigIssue,
  type ConfigPath,
  type DeviceConfig,
  type DriverPlugin,
} from '@citypilot/sdk';
import type { PluginRegistry } from './registry.js';

/** The gateway's own settings; each device block is checked against its plugin's schema. */
export const GatewayConfigSchema = Type.Object(
  {
    gateway: Type.Object(
      {
        /** The gateway's id: its NATS subjects and the hub's records are named after it. */
        id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as town-hall)' }),
        name: Type.Optional(Type.String({ minLength: 1 })),
        /** The building this gateway serves, as the hub knows it. */
        building: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    hub: Type.Object(
      {
        /** NATS server of the hub. Default: the NATS_URL environment variable, else nats://127.0.0.1:4222. */
        natsUrl: Type.Optional(Type.String({ pattern: '^(nats|tls)://', expected: 'a URL such as nats://hub.example.org:4222' })),
        /** Subject prefix shared with the hub. */
        subjectPrefix: Type.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', default: 'citypilot' }),
        /** Largest batch sent to the hub, in samples. */
        batchMaxSamples: Type.Integer({ minimum: 1, maximum: 50_000, default: 1000 }),
        /** Longest a sample waits for its batch to fill before it is sent. */
        batchMaxDelay: Duration({ default: '1s' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Folder for the gateway's state (batch sequence). Relative paths start at the config file's folder. */
    dataDir: Type.String({ minLength: 1, default: 'data' }),
    outbox: Type.Object(
      {
        /** Samples held while the hub cannot be reached; beyond that, new samples are dropped and counted. */
        maxSamples: Type.Integer({ minimum: 1000, default: 1_000_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    status: Type.Object(
      {
        /** Address of the local status page and API; loopback unless you mean otherwise. */
        host: Type.String({ default: '127.0.0.1' }),
        /** Port of the status page; 0 picks a free one. */
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
      },
      { additionalProperties: false, default: {} },
    ),
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
  devices: { config: DeviceConfig; plugin: DriverPlugin }[];
}

/**
 * A configuration file that cannot be used. Its message lists every problem as
 * `file:line:column path: what was expected`, ready to show a technician as it is.
 */
export class GatewayConfigError extends CityPilotError {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super('CONFIG_INVALID', `${problems.join('\n')}\n${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}; nothing was started.`);
  }
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

/** Like {@link loadGatewayConfig}, from text; `file` names it in messages and anchors `dataDir`. */
export function parseGatewayConfig(text: string, file: string, registry: PluginRegistry): GatewayConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new GatewayConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col} YAML syntax: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const where = (path: ConfigPath) => {
    const offset = locate(doc.contents, path);
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const fail = (issues: readonly ConfigIssue[]): never => {
    throw new GatewayConfigError(file, issues.map((i) => `${where(i.path)} ${formatPath(i.path)}: ${i.message}`));
  };

  const data: unknown = doc.toJS() ?? {};
  const core = validate(GatewayConfigSchema, data);
  // Report the devices' problems along with the rest, whenever the list itself is readable.
  const issues: ConfigIssue[] = core.ok ? [] : [...core.issues];
  const rawDevices = core.ok ? core.value.devices : (data as { devices?: unknown }).devices;
  const devices: GatewayConfig['devices'] = [];
  const seenIds = new Map<string, number>();
  (Array.isArray(rawDevices) ? rawDevices : []).forEach((raw: { plugin?: unknown }, index) => {
    if (!raw || typeof raw !== 'object' || typeof raw.plugin !== 'string') return; // reported by the core schema
    const plugin = registry.get(raw.plugin);
    if (!plugin) {
      issues.push({ path: ['devices', index, 'plugin'], message: `unknown plugin ${JSON.stringify(raw.plugin)}: expected one of ${registry.ids().map((i) => JSON.stringify(i)).join(', ')}` });
      return;
    }
    const result = validate(pluginDeviceSchema(plugin), raw);
    if (!result.ok) {
      issues.push(...result.issues.map((i) => ({ path: ['devices', index, ...i.path], message: i.message })));
      return;
    }
    const device = result.value as DeviceConfig;
    const earlier = seenIds.get(device.id);
    if (earlier !== undefined) {
      issues.push({ path: ['devices', index, 'id'], message: `${JSON.stringify(device.id)} is already the id of devices[${earlier}]` });
      return;
    }
    seenIds.set(device.id, index);
    try {
      // create() validates cross-field rules and plans requests without I/O; the driver it
      // returns is dropped at once.
      void plugin.create(device, { timeoutMs: parseDuration(device.timeout), logger: silentLogger }).close();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues.push(...error.prefixed(['devices', index]).issues);
      return;
    }
    devices.push({ config: device, plugin });
  });
  if (!core.ok || issues.length) fail(issues);
  const config = (core as { value: CoreConfig }).value;
  return { ...config, dataDir: resolve(dirname(resolve(file)), config.dataDir), devices };
}

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Offset in the text of the deepest node on `path`: the key of the last property reached (so an
 * unknown or wrong setting points at its name), or the item of a list.
 */
function locate(root: YamlNode | null, path: ConfigPath): number {
  let node: unknown = root;
  let offset = (root as YamlNode | null)?.range?.[0] ?? 0;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part];
      offset = (node as YamlNode).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}
