import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_FLEET_BUCKET, DEFAULT_PLUGIN_BUCKET, MAX_PLUGIN_PACKAGE_BYTES, natsCredentialsOptions, pluginKeyId } from '@citypilot/wire';
import { parseDuration, printTable, silentLogger, type CliIo } from '@citypilot/sdk';
import { cliUser, instant, withStorage } from '../auth/token-command.js';
import { defaultStreamNames } from '../ingest/ingest.js';
import type { Storage } from '../storage/storage.js';
import { PluginAssignmentStore } from './assignments.js';
import { PluginPackageError } from './package-file.js';
import { listPackages, PluginRepository } from './repository.js';
import { listRollouts, PluginRolloutError, Rollouts, setPluginGroup } from './rollouts.js';

export const PLUGIN_USAGE = `Usage:
  citypilot hub plugin keygen DIR
                            make the operator's signing key: DIR/plugin-signing.key (private, keep
                            it safe) and DIR/plugin-signing.pub (copy it to each gateway's
                            plugins.trustedKeys)
  citypilot hub plugin publish FILE.tgz --key KEYFILE
                            check, sign (key: --key or CITYPILOT_PLUGIN_KEY) and store a package
  citypilot hub plugin list the packages and the rollouts
  citypilot hub plugin assign ID VERSION (--gateways G,G… | --group NAME) [--promote-after 10m]
                            give a version to a first stage of gateways; with --promote-after, to
                            every gateway once they have run it that long in good health
  citypilot hub plugin group NAME GATEWAY…
                            set the gateways of a group`;

/** The key files `keygen` writes in its folder. */
export const PLUGIN_KEY_FILE = 'plugin-signing.key';
export const PLUGIN_PUBLIC_KEY_FILE = 'plugin-signing.pub';

/**
 * `citypilot hub plugin …`: resolves with the exit code, 2 for a bad argument (said before any
 * connection), 1 for a refused package or rollout (one line on `io.err`).
 * @param databaseUrl the hub's database URL, or undefined after saying that it is missing
 */
export async function runPluginCli(args: readonly string[], io: CliIo, databaseUrl: () => string | undefined): Promise<number> {
  const [action, ...rest] = args;
  try {
    if (action === 'keygen') return rest.length === 1 ? keygen(rest[0]!, io) : usage(io, 'hub plugin keygen takes one folder');
    if (action === 'publish') return await publish(rest, io, databaseUrl);
    if (action === 'list') return rest.length ? usage(io, 'hub plugin list takes no argument') : await withStorage(io, databaseUrl, (s) => list(s, io));
    if (action === 'assign') return await assign(rest, io, databaseUrl);
    if (action === 'group') {
      if (rest.length < 2) return usage(io, 'hub plugin group takes a group name and its gateways');
      return await withStorage(io, databaseUrl, async (storage) => {
        await setPluginGroup(storage.pool, rest[0]!, rest.slice(1), cliUser());
        io.out(`group ${rest[0]}: ${[...new Set(rest.slice(1))].join(', ')}`);
        return 0;
      });
    }
    return usage(io, action === undefined ? undefined : `unknown plugin command ${JSON.stringify(action)}`);
  } catch (error) {
    if (!(error instanceof PluginPackageError) && !(error instanceof PluginRolloutError)) throw error;
    io.err(`citypilot hub plugin: ${error.message}`);
    return 1;
  }
}

function keygen(dir: string, io: CliIo): number {
  const keyFile = join(dir, PLUGIN_KEY_FILE);
  const pubFile = join(dir, PLUGIN_PUBLIC_KEY_FILE);
  for (const file of [keyFile, pubFile])
    if (existsSync(file)) {
      io.err(`citypilot hub plugin: ${file} exists: a signing key is never overwritten (move it away first)`);
      return 1;
    }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  io.out(`key ${pluginKeyId(publicKey)}: ${keyFile} (private, mode 0600) and ${pubFile} (add it to each gateway's plugins.trustedKeys)`);
  return 0;
}

async function publish(args: string[], io: CliIo, databaseUrl: () => string | undefined): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { key: { type: 'string' } }, strict: true, allowPositionals: true });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  if (parsed.positionals.length !== 1) return usage(io, 'hub plugin publish takes one package file');
  const file = parsed.positionals[0]!;
  const keyFile = parsed.values.key ?? process.env.CITYPILOT_PLUGIN_KEY;
  if (!keyFile) return usage(io, 'the signing key is missing: --key KEYFILE or CITYPILOT_PLUGIN_KEY (made by citypilot hub plugin keygen)');
  const key = readKey(keyFile, io);
  if (!key) return 1;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    io.err(`citypilot hub plugin: ${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return 1;
  }
  if (bytes.byteLength > MAX_PLUGIN_PACKAGE_BYTES) throw new PluginPackageError(`${file}: ${bytes.byteLength} bytes, at most ${MAX_PLUGIN_PACKAGE_BYTES}`);
  return withStorage(io, databaseUrl, (storage) =>
    withNats(async (nc) => {
      const repository = new PluginRepository({ pool: storage.pool, nc, bucket: process.env.CITYPILOT_PLUGIN_BUCKET || DEFAULT_PLUGIN_BUCKET });
      const { package: p, created } = await repository.publish(bytes, key, cliUser());
      io.out(`${created ? 'published' : 'already published'} ${p.id} ${p.version} (sha256 ${p.sha256}, key ${p.keyId})`);
      return 0;
    }),
  );
}

function readKey(file: string, io: CliIo): KeyObject | undefined {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (error) {
    io.err(`citypilot hub plugin: ${file}: cannot read the key (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return undefined;
  }
  try {
    const key = createPrivateKey(text);
    if (key.asymmetricKeyType === 'ed25519') return key;
    io.err(`citypilot hub plugin: ${file}: a ${key.asymmetricKeyType} key, expected the Ed25519 private key of citypilot hub plugin keygen`);
  } catch {
    io.err(`citypilot hub plugin: ${file}: not a private key in PEM (expected the ${PLUGIN_KEY_FILE} of citypilot hub plugin keygen)`);
  }
  return undefined;
}

async function list(storage: Storage, io: CliIo): Promise<number> {
  const packages = await listPackages(storage.pool);
  if (!packages.length) io.out('No plugin package published.');
  else
    printTable(io, [
      ['PLUGIN', 'VERSION', 'SDK', 'SIZE', 'SHA256', 'KEY', 'PUBLISHED', 'BY'],
      ...packages.map((p) => [p.id, p.version, p.sdk, String(p.size), p.sha256.slice(0, 12), p.keyId, instant(new Date(p.publishedAt)), p.publishedBy]),
    ]);
  const list = await listRollouts(storage.pool);
  io.out('');
  if (!list.length) io.out('No rollout.');
  else
    printTable(io, [
      ['ROLLOUT', 'PLUGIN', 'VERSION', 'STATE', 'CANARY', 'PROMOTE', 'STARTED', 'BY', 'REASON'],
      ...list.map((r) => [
        String(r.id),
        r.plugin,
        r.version,
        r.state,
        r.canary.join(','),
        r.promoteAfterS === null ? '-' : `${r.promoteAfterS}s`,
        instant(new Date(r.startedAt)),
        r.startedBy,
        r.reason ?? '-',
      ]),
    ]);
  return 0;
}

async function assign(args: string[], io: CliIo, databaseUrl: () => string | undefined): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { gateways: { type: 'string' }, group: { type: 'string' }, 'promote-after': { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 2) return usage(io, 'hub plugin assign takes a plugin id and a version');
  if ((values.gateways === undefined) === (values.group === undefined)) return usage(io, 'name the first stage: --gateways G,G… or --group NAME');
  let promoteAfterS: number | undefined;
  if (values['promote-after'] !== undefined) {
    try {
      promoteAfterS = Math.ceil(parseDuration(values['promote-after']) / 1000);
    } catch {
      return usage(io, `--promote-after: expected a duration such as 30s, 10m or 1h, not ${JSON.stringify(values['promote-after'])}`);
    }
  }
  const gateways = values.gateways?.split(',').filter(Boolean);
  return withStorage(io, databaseUrl, (storage) =>
    withNats(async (nc) => {
      const rollout = await rollouts(storage, nc).assign({
        plugin: positionals[0]!,
        version: positionals[1]!,
        ...(gateways ? { gateways } : { group: values.group! }),
        ...(promoteAfterS !== undefined ? { promoteAfterS } : {}),
        actor: cliUser(),
      });
      io.out(
        `rollout ${rollout.id}: ${rollout.plugin} ${rollout.version} assigned to ${rollout.canary.join(', ')}` +
          (rollout.promoteAfterS === null ? '' : `; every gateway after ${rollout.promoteAfterS} s of good health (a running hub promotes it)`),
      );
      return 0;
    }),
  );
}

/** Rollouts on the command's connections. */
function rollouts(storage: Storage, nc: NatsConnection): Rollouts {
  const env = process.env;
  const assignments = new PluginAssignmentStore({
    nc,
    pool: storage.pool,
    prefix: env.CITYPILOT_SUBJECT_PREFIX ?? defaultStreamNames.prefix,
    bucket: env.CITYPILOT_FLEET_BUCKET || DEFAULT_FLEET_BUCKET,
  });
  return new Rollouts({ pool: storage.pool, assignments, logger: silentLogger });
}

async function withNats(action: (nc: NatsConnection) => Promise<number>): Promise<number> {
  const env = process.env;
  const nc = await connect({
    servers: env.NATS_URL ?? 'nats://127.0.0.1:4222',
    name: 'citypilot-hub plugin',
    ...(env.NATS_CREDENTIALS ? natsCredentialsOptions(env.NATS_CREDENTIALS) : {}),
  });
  try {
    return await action(nc);
  } finally {
    await nc.close();
  }
}

function usage(io: CliIo, problem: string | undefined): number {
  io.err(problem ? `citypilot hub plugin: ${problem}\n\n${PLUGIN_USAGE}` : PLUGIN_USAGE);
  return 2;
}
