import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigFileError } from '@citypilot/sdk';
import { configBucketStream, encodeConfigNotice, subjects, type GatewayConfigValidator } from '@citypilot/wire';

/**
 * Configurations pushed to gateways (the format is @citypilot/wire's config-push.ts, the gateway
 * side gateway/src/config/hub-config.ts): the YAML of
 * gateway `<g>` is the value of key `<g>` of a JetStream key-value bucket (default
 * `citypilot-config`, keeping {@link CONFIG_HISTORY} revisions per gateway), and a message on
 * `<prefix>.config.<g>` tells the gateway to fetch it. A gateway that accepts pushed
 * configurations (`hub.remoteConfig: true`) applies a revision if it is valid for it, and keeps
 * the one it runs otherwise; its status API reports the revision it runs.
 */

/** Revisions kept per gateway in the bucket (the latest is the one gateways read). */
export const CONFIG_HISTORY = 10;

export interface ConfigPushOptions {
  /** Subject prefix of the deployment. */
  prefix: string;
  /** The configurations' bucket; created when missing. */
  bucket: string;
}

/**
 * Checks a gateway configuration with the gateway's own validator (plugins' rules included),
 * before anything is sent; the hub knows no plugin, so `validate` comes from whoever composes the
 * `citypilot` command (the gateway's `gatewayConfigValidator()`). Relative paths in it are the
 * gateway's business (they resolve against its local configuration file's folder), but device
 * profiles must be found here too: a pushed file should use the plugins' profiles or ones the hub
 * also has at the same relative place. Resolves with the id of the gateway it configures.
 * @throws ConfigFileError listing every problem as file:line:column path: expected
 */
export function validatePushedConfig(text: string, file: string, validate: GatewayConfigValidator): string {
  const check = validate(text, file);
  if (!check.ok) throw new ConfigFileError(file, check.problems, 'nothing was pushed');
  return check.gateway;
}

/**
 * Puts `text` as gateway `gateway`'s configuration and notifies it; resolves with the revision
 * the gateway will report once it runs it. The bucket is made when missing (with direct get,
 * which is the only way a gateway may read its key).
 */
export async function pushGatewayConfig(nc: NatsConnection, gateway: string, text: string, options: ConfigPushOptions): Promise<number> {
  const kv = await new Kvm(nc).create(options.bucket, { history: CONFIG_HISTORY, allow_direct: true });
  await ensureDirectGet(nc, configBucketStream(options.bucket));
  const revision = await kv.put(gateway, text);
  nc.publish(subjects(options.prefix).config(gateway), encodeConfigNotice({ revision }));
  await nc.flush();
  return revision;
}

/**
 * Turns on direct get for `stream` when it is off: a bucket or object store made by another tool
 * (or an older client) without it could not be read by gateways, whose NATS users may read only
 * through direct gets (nats-auth.ts). Used for the configuration and fleet buckets and the
 * plugins' object store.
 */
export async function ensureDirectGet(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  if (!info.config.allow_direct) await jsm.streams.update(stream, { ...info.config, allow_direct: true });
}
