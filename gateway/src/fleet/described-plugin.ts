import { Type, type TSchema } from '@sinclair/typebox';
import type { DriverPlugin } from '@citypilot/sdk';
import type { PluginPackageDescription } from '@citypilot/wire';

/**
 * A plugin made from a package's description only (its manifest and the JSON Schemas of its
 * `schema` file), for checking a configuration that uses an installed plugin without running it
 * (the hub's validator, config-validator.ts). Its drivers do nothing and are never run.
 */
export function describedPlugin(description: PluginPackageDescription): DriverPlugin {
  const { id, version, sdk, protocol } = description;
  return {
    manifest: { id, version, sdk, protocol, description: description.description },
    schema: { connection: fromJsonSchema(description.schema.connection), address: fromJsonSchema(description.schema.address) },
    create: () => ({ read: async () => [], close: async () => {} }),
  };
}

/** Keywords carried over as they are: TypeBox's checks read them from the schema's own object. */
const CARRIED = [
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'default',
  'description',
  'title',
  'expected',
] as const;

/**
 * TypeBox's form of a plain JSON Schema (what the SDK's validate() reads): types, properties and
 * required ones, additionalProperties, items, enum, const, anyOf/oneOf/allOf and the usual
 * bounds. A keyword it does not know is not checked; a part it cannot read accepts anything.
 * Depth is bounded: a description comes from a package file.
 */
export function fromJsonSchema(schema: unknown, depth = 0): TSchema {
  if (depth > 32 || !schema || typeof schema !== 'object' || Array.isArray(schema)) return Type.Unknown();
  const s = schema as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const k of CARRIED) if (k in s) options[k] = s[k];
  const sub = (v: unknown) => fromJsonSchema(v, depth + 1);
  if ('const' in s) return Type.Literal(s.const as string | number | boolean, options);
  if (Array.isArray(s.enum))
    return Type.Union(
      (s.enum as (string | number | boolean)[]).map((v) => Type.Literal(v)),
      options,
    );
  for (const key of ['anyOf', 'oneOf'] as const) if (Array.isArray(s[key])) return Type.Union((s[key] as unknown[]).map(sub), options);
  if (Array.isArray(s.allOf)) return Type.Intersect((s.allOf as unknown[]).map(sub), options);
  const type = Array.isArray(s.type) ? s.type : [s.type];
  const parts = type.map((t): TSchema => {
    switch (t) {
      case 'string':
        return Type.String(options);
      case 'number':
        return Type.Number(options);
      case 'integer':
        return Type.Integer(options);
      case 'boolean':
        return Type.Boolean(options);
      case 'null':
        return Type.Null(options);
      case 'array':
        return Type.Array(sub(s.items ?? {}), options);
      case 'object': {
        const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
        const properties = s.properties && typeof s.properties === 'object' ? (s.properties as Record<string, unknown>) : {};
        const props = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, required.has(k) ? sub(v) : Type.Optional(sub(v))]));
        const extra = s.additionalProperties;
        return Type.Object(props, { ...options, additionalProperties: typeof extra === 'object' && extra !== null ? sub(extra) : extra !== false });
      }
      default:
        return Type.Unknown(options);
    }
  });
  return parts.length === 1 ? parts[0]! : Type.Union(parts);
}
