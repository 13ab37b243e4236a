/**
 * The configurations the hub pushes to gateways. Produced by the hub (`citypilot hub push-config`,
 * hub/src/services/config-push.ts), consumed by a gateway whose own file sets
 * `hub.remoteConfig: true` (gateway/src/config/hub-config.ts, gateway/src/config/live-config.ts):
 *  - a JetStream key-value bucket (default {@link DEFAULT_CONFIG_BUCKET}, direct get allowed)
 *    holds each gateway's YAML configuration under the key = its gateway id; a value's revision
 *    is the bucket's sequence number, which the gateway reports in its status once it runs it;
 *  - the hub announces a new revision with a {@link ConfigNotice} on `<prefix>.config.<gateway>`
 *    (subjects.ts); the gateway then fetches its key;
 *  - a gateway reads only its own key, with JetStream's direct get whose subject names the key
 *    ({@link directGetSubject}): nats-server 2.9 cannot restrict a key-value watch to one key, but
 *    it can restrict this subject, so that is all a gateway's NATS user may use
 *    (hub/src/services/nats-auth.ts).
 * The hub checks a configuration with the gateway's own validator before pushing it, through a
 * {@link GatewayConfigValidator} its caller gives it: the hub itself knows no driver plugin.
 */

/** The bucket of a deployment that names none (`hub.configBucket`, `CITYPILOT_CONFIG_BUCKET`). */
export const DEFAULT_CONFIG_BUCKET = 'citypilot-config';

/** The JetStream stream behind key-value bucket `bucket`. */
export function configBucketStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** The subject of the direct get of `key` (a gateway id) in `bucket`. */
export function directGetSubject(bucket: string, key: string): string {
  return `$JS.API.DIRECT.GET.${configBucketStream(bucket)}.$KV.${bucket}.${key}`;
}

/** A configuration the hub pushed: its YAML and its revision (the bucket's sequence number). */
export interface PushedConfig {
  revision: number;
  text: string;
}

/**
 * The message on `<prefix>.config.<gateway>` that tells a gateway a new revision is in the bucket.
 * Gateways read the bucket whatever it says (a notice may be lost; they also check at start).
 */
export interface ConfigNotice {
  revision: number;
}

/** A notice encoded for the wire (UTF-8 JSON). */
export function encodeConfigNotice(notice: ConfigNotice): string {
  return JSON.stringify(notice);
}

/**
 * What a gateway's validator says of a configuration: the id of the gateway it configures, or
 * every problem found, each as `file:line:column path: what was expected`.
 */
export type GatewayConfigCheck = { ok: true; gateway: string } | { ok: false; problems: string[] };

/**
 * Checks the YAML text of a gateway configuration as the gateway would (schemas and each plugin's
 * own rules), without I/O. `file` names the text in the problems; relative paths in it are
 * resolved against its folder (device profiles must be found there).
 */
export type GatewayConfigValidator = (yamlText: string, file: string, packages?: readonly PluginPackageDescription[]) => GatewayConfigCheck;

/**
 * A plugin the gateway installs from a package (fleet.ts), as the hub knows it without running
 * it: its manifest and the JSON Schemas of its parts of a device block (the package's `schema`
 * file). A validator given such packages accepts their devices when they match these schemas;
 * the plugin's own cross-field rules are checked by the gateway when it applies the configuration.
 */
export interface PluginPackageDescription {
  id: string;
  version: string;
  sdk: string;
  protocol: string;
  description: string;
  schema: { connection: unknown; address: unknown };
}
