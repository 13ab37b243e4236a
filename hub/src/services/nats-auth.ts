import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityPilotError, ID_PATTERN, subjects } from '@citypilot/sdk';
import {
  createNatsUser,
  DEFAULT_CONFIG_BUCKET,
  DEFAULT_FLEET_BUCKET,
  DEFAULT_PLUGIN_BUCKET,
  directGetSubject,
  fleetSubjects,
  natsPublicKey,
  objectDirectGetSubject,
  readNatsSeed,
} from '@citypilot/wire';

/**
 * NATS security of a CityPilot deployment: one NATS user (an nkey) per gateway and one for the
 * hub, and the nats-server `authorization` block that gives each only what it needs. A gateway
 * `<g>` may:
 *  - publish its batches to `<prefix>.telemetry.<g>`, with JetStream acknowledgements (a publish
 *    to a stream's subject needs no access to the JetStream API; the ack is a reply);
 *  - receive replies under its own inbox prefix `_INBOX_<g>.>` only (the gateway connects with
 *    `inboxPrefix`), so that no gateway can read another's acks;
 *  - read its own configuration: subscribe to `<prefix>.config.<g>`, and fetch key `<g>` of the
 *    deployment's configuration key-value bucket through JetStream's direct get
 *    (`$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<g>`, the only form of a KV read that names the
 *    key in the subject, hence the only one permissions can restrict to one key; the bucket needs
 *    `allow_direct`, as buckets made by current clients have);
 *  - report its inventory on `<prefix>.fleet.inventory.<g>` (the hub takes the gateway from the
 *    subject), read its plugin assignments (key `<g>` of the fleet bucket, by direct get, as its
 *    configuration) and hear of their changes on `<prefix>.fleet.assign.<g>`, and read the plugin
 *    packages' objects by direct gets on the plugin object store's stream (read only; the packages
 *    are signed, so reading any of them gives nothing away);
 * and nothing else: every other publish or subscription is a permissions violation.
 * The hub may use the JetStream API, acknowledge messages, publish dead letters, objectives'
 * status changes, the gateways' configurations, the fleet's subjects, assignments and packages,
 * take the gateways' inventory reports in a queue group, and receive replies on `_INBOX.>`.
 * Accepted by nats-server 2.9 and later.
 */

/** A list of gateways no configuration can be made for (an invalid or repeated id). */
export class NatsAuthError extends CityPilotError {
  constructor(message: string) {
    super('NATS_AUTH_INVALID', message);
  }
}

export interface NatsAuthOptions {
  /** Subject prefix of the deployment (default `citypilot`). */
  prefix?: string;
  /** Key-value bucket of the gateways' configurations (default `citypilot-config`). */
  configBucket?: string;
  /** Key-value bucket of the gateways' plugin assignments (default `citypilot-fleet`). */
  fleetBucket?: string;
  /** Object store of the plugin packages (default `citypilot-plugins`). */
  pluginBucket?: string;
}

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** What gateway `gateway` may do on NATS (see the module comment). */
export function gatewayPermissions(gateway: string, options: NatsAuthOptions = {}): NatsPermissions {
  const subj = subjects(options.prefix);
  const fleet = fleetSubjects(options.prefix);
  const bucket = options.configBucket ?? DEFAULT_CONFIG_BUCKET;
  return {
    publish: {
      allow: [
        subj.telemetry(gateway),
        directGetSubject(bucket, gateway),
        fleet.inventory(gateway),
        directGetSubject(options.fleetBucket ?? DEFAULT_FLEET_BUCKET, gateway),
        objectDirectGetSubject(options.pluginBucket ?? DEFAULT_PLUGIN_BUCKET),
      ],
    },
    subscribe: { allow: [`${subj.inbox(gateway)}.>`, subj.config(gateway), fleet.assign(gateway)] },
  };
}

/** What the hub may do on NATS. */
export function hubPermissions(options: NatsAuthOptions = {}): NatsPermissions {
  const prefix = options.prefix ?? 'citypilot';
  const bucket = options.configBucket ?? DEFAULT_CONFIG_BUCKET;
  const pluginBucket = options.pluginBucket ?? DEFAULT_PLUGIN_BUCKET;
  return {
    publish: {
      allow: [
        '$JS.API.>',
        '$JS.ACK.>',
        // Flow control of the push consumers that watch a bucket (the fleet's pushed revisions).
        '$JS.FC.>',
        `$KV.${bucket}.>`,
        `${prefix}.config.>`,
        `${prefix}.deadletter.>`,
        `${prefix}.objectives.>`,
        `${prefix}.fleet.>`,
        `$KV.${options.fleetBucket ?? DEFAULT_FLEET_BUCKET}.>`,
        `$O.${pluginBucket}.>`,
      ],
    },
    // A queue subscription needs the subscribe permission on its subject.
    subscribe: { allow: ['_INBOX.>', fleetSubjects(prefix).inventoryAll] },
  };
}

export interface NatsUserKey {
  /** The user's nkey public key (`U…`). */
  publicKey: string;
}

/**
 * The `authorization { … }` block of a nats-server configuration for these users (public keys
 * only: the file holds no secret). Include it in the server's configuration file.
 */
export function natsAuthorization(users: { hub: NatsUserKey; gateways: (NatsUserKey & { id: string })[] }, options: NatsAuthOptions = {}): string {
  const entries = [
    { nkey: users.hub.publicKey, permissions: hubPermissions(options) },
    ...users.gateways.map((g) => ({ nkey: g.publicKey, permissions: gatewayPermissions(g.id, options) })),
  ];
  const ids = users.gateways.map((g) => g.id);
  checkGatewayIds(ids);
  // JSON is valid nats-server configuration syntax; quoted strings keep `$JS…` from being read as variables.
  return `# Written by CityPilot: the hub, then the gateways ${ids.join(', ')}.\nauthorization ${JSON.stringify({ users: entries }, null, 2)}\n`;
}

/** Where a deployment's credentials are kept: `<dir>/hub.nk`, `<dir>/gateways/<g>.nk`. */
export interface NatsCredentialFiles {
  hub: { file: string; publicKey: string };
  gateways: { id: string; file: string; publicKey: string }[];
  /** The `authorization` block for these users. */
  authorization: string;
}

/**
 * The credentials of the hub and of each gateway in `dir`, created (random, file mode 0600) for
 * those that have none yet and kept for the others, so that running it again for a new gateway
 * changes no one else's credentials.
 * @throws NatsCredentialsError when an existing file is unreadable or holds no seed
 */
export function ensureNatsCredentials(dir: string, gateways: readonly string[], options: NatsAuthOptions = {}): NatsCredentialFiles {
  checkGatewayIds(gateways);
  mkdirSync(join(dir, 'gateways'), { recursive: true, mode: 0o700 });
  const user = (file: string, who: string) => {
    if (!existsSync(file)) {
      const { seed } = createNatsUser();
      writeFileSync(file, `# NATS credentials (nkey seed) of ${who} for CityPilot. Keep secret.\n${seed}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    return { file, publicKey: natsPublicKey(readNatsSeed(file)) };
  };
  const hub = user(join(dir, 'hub.nk'), 'the hub');
  const list = gateways.map((id) => ({ id, ...user(join(dir, 'gateways', `${id}.nk`), `gateway ${id}`) }));
  return { hub, gateways: list, authorization: natsAuthorization({ hub, gateways: list }, options) };
}

/** Ids name subjects and files: nothing but what a gateway's config accepts, each once. */
function checkGatewayIds(ids: readonly string[]): void {
  const pattern = new RegExp(ID_PATTERN);
  const invalid = ids.find((id) => !pattern.test(id));
  if (invalid !== undefined)
    throw new NatsAuthError(`${JSON.stringify(invalid)} is not a gateway id: expected lowercase letters, digits, - and _ (such as town-hall)`);
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated !== undefined) throw new NatsAuthError(`gateway ${repeated} is listed twice`);
}
