import { basename } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Duration, ID_PATTERN, StringEnum, parseDuration, repeatedIdIssues, type ConfigIssue, type PointDefinition } from '@citypilot/sdk';

/**
 * The `plugin` (and `device`) of the virtual points in the hub's catalog, and the first part of
 * their stable ids: a point declared with id `power-w` is `node-red.power-w`.
 */
export const NODE_RED_SOURCE = 'node-red';

/** A virtual point that flows may publish: declared here so that it is validated and announced like a device point. */
export const VirtualPointSchema = Type.Object(
  {
    /** Id among the virtual points; the stable id is `node-red.<id>`. */
    id: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as power-w)' }),
    /** Human-readable name; defaults to the id. */
    name: Type.Optional(Type.String({ minLength: 1 })),
    unit: Type.Optional(Type.String({ minLength: 1 })),
    /** What a flow may publish: "point out" refuses anything else. */
    kind: StringEnum(['number', 'boolean', 'string'] as const, { default: 'number' }),
    tags: Type.Array(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_-]*$', expected: 'a tag name such as energy or air-temp' }), { default: [] }),
    /** How often the flow is expected to publish it, for the hub's completeness and staleness; unset: no expectation. */
    interval: Type.Optional(Duration()),
  },
  { additionalProperties: false },
);

/** Settings the host sets itself: `nodeRed.settings` may not override them. */
export const RESERVED_SETTINGS = [
  'userDir',
  'flowFile',
  'nodesDir',
  'coreNodesDir',
  'httpAdminRoot',
  'httpNodeRoot',
  'uiHost',
  'uiPort',
  'logging',
  'citypilot',
  'diagnostics',
  'telemetry',
  'externalModules',
] as const;

/** The gateway's `nodeRed` section. */
export const NodeRedConfigSchema = Type.Object(
  {
    /** Whether the gateway runs Node-RED. Off unless you mean it. */
    enabled: Type.Boolean({ default: false }),
    /** Address of the editor and of the admin API; loopback unless adminAuth is set. */
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    /** Port of the editor, the admin API and the flows' HTTP endpoints; 0 picks a free one. */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 1880 }),
    /** The flows, relative to the gateway's config file: they are stored with its configuration. */
    flowsFile: Type.String({ minLength: 1, default: 'flows.json' }),
    /** The virtual points flows may publish with "citypilot point out". */
    points: Type.Array(VirtualPointSchema, { default: [] }),
    /**
     * Passed to Node-RED as they are (adminAuth, httpNodeAuth, credentialSecret,
     * functionGlobalContext …), except the keys in {@link RESERVED_SETTINGS}.
     */
    settings: Type.Record(Type.String(), Type.Unknown(), { default: {}, expected: 'a map of Node-RED settings (such as adminAuth)' }),
  },
  { additionalProperties: false, default: {} },
);

export type NodeRedConfig = Static<typeof NodeRedConfigSchema>;
export type VirtualPointConfig = Static<typeof VirtualPointSchema>;

/** `node-red.<id>`. */
export function virtualPointId(id: string): string {
  return `${NODE_RED_SOURCE}.${id}`;
}

/**
 * The rules the schema cannot express, with paths relative to the section: unique point ids,
 * no reserved setting, and no editor outside loopback without a login (adminAuth).
 */
export function checkNodeRedConfig(config: NodeRedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = repeatedIdIssues(config.points);
  for (const key of Object.keys(config.settings)) {
    if ((RESERVED_SETTINGS as readonly string[]).includes(key)) {
      issues.push({ path: ['settings', key], message: `is set by the gateway: remove it (the gateway sets ${RESERVED_SETTINGS.join(', ')})` });
    }
  }
  if (config.enabled && !isLoopback(config.host) && !config.settings.adminAuth) {
    issues.push({
      path: ['host'],
      message: `${JSON.stringify(config.host)} is not a loopback address: set settings.adminAuth too, or anyone who reaches this port can change the flows`,
    });
  }
  return issues;
}

/** The virtual points as the gateway announces them to the hub. */
export function virtualPointDefinitions(config: NodeRedConfig): PointDefinition[] {
  return config.points.map((p) => {
    const def: PointDefinition = {
      id: virtualPointId(p.id),
      name: p.name ?? p.id,
      kind: p.kind,
      tags: p.tags,
      source: { plugin: NODE_RED_SOURCE, device: NODE_RED_SOURCE, address: { flowsFile: basename(config.flowsFile) } },
    };
    if (p.unit) def.unit = p.unit;
    if (p.interval) def.intervalMs = parseDuration(p.interval);
    return def;
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
