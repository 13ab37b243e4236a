import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, closeSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { CityPilotError, freePort } from '@citypilot/sdk';

/** Free local ports have one home, the SDK's; the hub's tests and demo take it from here too. */
export { freePort };
import { natsCredentialsOptions } from '@citypilot/wire';

/**
 * Finds or starts the two services CityPilot needs, NATS with JetStream and PostgreSQL, in this
 * order of preference for each:
 *  1. the URL in the environment (`NATS_URL`, `DATABASE_URL`);
 *  2. a server already listening on the standard loopback port (4222, 5432);
 *  3. a project-local server started from the machine's binaries, with its data in `stateDir`
 *     (git-ignored), listening on 127.0.0.1 only; Debian's `nats-server` / `postgresql`
 *     packages are installed first when missing and we are root.
 * Otherwise it fails with a message that says what to install.
 */

/** How a service was found. */
export type ServiceOrigin = 'environment' | 'standard-port' | 'started' | 'already-running';

export interface Services {
  /** NATS server URL, JetStream enabled. */
  natsUrl: string;
  /** URL of a PostgreSQL database whose user may create databases. */
  databaseUrl: string;
  origin: { nats: ServiceOrigin; postgres: ServiceOrigin };
  /** Stops the servers this call started (none when they were found). Idempotent. */
  stop(): Promise<void>;
}

export interface EnsureServicesOptions {
  /** Folder for the project-local servers' data and logs. */
  stateDir: string;
  /** Progress messages for people ("Starting PostgreSQL 15 on 127.0.0.1:41235 …"). */
  log: (message: string) => void;
  /** Environment to read NATS_URL, DATABASE_URL, PGUSER, PGPASSWORD from. */
  env?: NodeJS.ProcessEnv;
  /**
   * NATS must run with these users (see nats-auth.ts): a server already on the standard port
   * is not used (it does not know them); a project-local one is started with `authorization`.
   * NATS_URL is still used as it is, and must then name a server configured with them.
   */
  natsAuth?: SecuredNats;
}

/** Users of a secured NATS server. */
export interface SecuredNats {
  /** The `authorization { … }` block of the server's configuration. */
  authorization: string;
  /** Credentials file of a user allowed to use the JetStream API (the hub's), to check readiness. */
  credentials: string;
}

/** A required service could be neither found nor started. The message says what to do. */
export class ServiceUnavailableError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SERVICE_UNAVAILABLE', message, options);
  }
}

export async function ensureServices(options: EnsureServicesOptions): Promise<Services> {
  const started: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(started.splice(0).map((child) => stopChild(child)));
  };
  try {
    const nats = await ensureNats(options, started);
    const postgres = await ensurePostgres(options, started);
    return { natsUrl: nats.url, databaseUrl: postgres.url, origin: { nats: nats.origin, postgres: postgres.origin }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A PostgreSQL server with TimescaleDB loaded, for tests of that path: `databaseUrl` itself when
 * its server preloads the extension; otherwise, when the machine has the extension installed, a
 * project-local cluster in `stateDir/timescale` started for the purpose (stopped by the returned
 * `stop`); otherwise undefined, with the reason.
 */
export async function timescaleServer(
  databaseUrl: string,
  options: EnsureServicesOptions,
): Promise<{ url: string; stop: () => Promise<void> } | { url: undefined; reason: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let preloaded: boolean;
  try {
    const { rows } = await client.query<{ libs: string }>(`SELECT current_setting('shared_preload_libraries') AS libs`);
    preloaded = /(^|[\s,])timescaledb([\s,]|$)/.test(rows[0]!.libs);
  } finally {
    await client.end();
  }
  if (preloaded) return { url: databaseUrl, stop: async () => undefined };
  const bin = findPostgresBin();
  if (!bin || !existsSync(join(bin, '..', 'lib', 'timescaledb.so'))) return { url: undefined, reason: 'TimescaleDB is not installed on this machine' };
  const started: ChildProcess[] = [];
  const stop = async () => void (await Promise.all(started.splice(0).map((child) => stopChild(child))));
  try {
    const { url } = await startLocalPostgres(bin, join(options.stateDir, 'timescale'), options, started);
    return { url, stop };
  } catch (error) {
    // Optional: without it the TimescaleDB tests skip, saying why; nothing else depends on it.
    await stop();
    return { url: undefined, reason: `no TimescaleDB server could be started: ${(error as Error).message}` };
  }
}

/** The same server URL with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates `database` on the server of `adminUrl` unless it exists; returns its URL. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, database);
}

// ---------------------------------------------------------------------------------------- NATS

async function natsHasJetStream(url: string, auth: Partial<ConnectionOptions> = {}): Promise<boolean | 'unreachable'> {
  let nc;
  try {
    nc = await connect({ servers: url, timeout: 2000, reconnect: false, ...auth });
  } catch {
    return 'unreachable';
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    await jsm.getAccountInfo();
    return true;
  } catch {
    return false;
  } finally {
    await nc.close();
  }
}

async function ensureNats(options: EnsureServicesOptions, started: ChildProcess[]) {
  const env = options.env ?? process.env;
  if (env.NATS_URL) {
    const state = await natsHasJetStream(env.NATS_URL, options.natsAuth ? natsCredentialsOptions(options.natsAuth.credentials) : {});
    if (state !== true) {
      throw new ServiceUnavailableError(
        state === 'unreachable'
          ? `NATS_URL=${env.NATS_URL}: no NATS server answers there.`
          : `NATS_URL=${env.NATS_URL}: that server has JetStream disabled; start it with -js (or jetstream {} in its config).`,
      );
    }
    options.log(`NATS: ${env.NATS_URL} (from NATS_URL)`);
    return { url: env.NATS_URL, origin: 'environment' as const };
  }
  const standard = 'nats://127.0.0.1:4222';
  if (options.natsAuth) {
    const server = await startNatsServer({ dir: join(options.stateDir, 'nats-secured'), auth: options.natsAuth, log: options.log }, started);
    return { url: server.url, origin: 'started' as const };
  }
  const state = await natsHasJetStream(standard);
  if (state === true) {
    options.log(`NATS: ${standard} (already running)`);
    return { url: standard, origin: 'standard-port' as const };
  }
  if (state === false) options.log(`NATS on ${standard} has no JetStream; starting a project-local server instead.`);
  const server = await startNatsServer({ dir: join(options.stateDir, 'nats'), log: options.log }, started);
  return { url: server.url, origin: 'started' as const };
}

/**
 * Starts the machine's nats-server (installing Debian's package when missing and we are root)
 * on a free port of 127.0.0.1 (`port` when it is free: a server started again on the same `dir`
 * and port is the same server to its clients), JetStream enabled with its data in `dir`, with
 * `auth`'s users when given; resolves once JetStream answers. `stop` stops it (also pushed on
 * `started`), with SIGINT (a clean stop) unless told otherwise.
 */
export async function startNatsServer(
  options: { dir: string; auth?: SecuredNats; log: (message: string) => void; port?: number },
  started: ChildProcess[] = [],
): Promise<{ url: string; port: number; stop: (signal?: NodeJS.Signals) => Promise<void> }> {
  const binary = findBinary('nats-server') ?? installDebianPackage('nats-server', 'nats-server', options) ?? undefined;
  if (!binary) {
    throw new ServiceUnavailableError(
      'NATS with JetStream is needed and none was found. Install it (Debian/Ubuntu: `sudo apt-get install nats-server`), ' +
        'or start one with `nats-server -js`, or set NATS_URL to a server with JetStream.',
    );
  }
  const { dir, auth } = options;
  mkdirSync(dir, { recursive: true });
  const port = await freePort(options.port);
  const url = `nats://127.0.0.1:${port}`;
  const configFile = join(dir, 'nats-server.conf');
  writeFileSync(
    configFile,
    `# Written by CityPilot at each start.
listen: "127.0.0.1:${port}"
jetstream { store_dir: ${JSON.stringify(dir)} }
${auth?.authorization ?? ''}`,
    { mode: 0o600 },
  );
  const logFile = join(dir, 'nats-server.log');
  options.log(`NATS: starting ${binary} on 127.0.0.1:${port}${auth ? ' with per-gateway users' : ''} (data in ${dir})`);
  const child = spawnLogged(binary, ['-c', configFile], logFile);
  started.push(child);
  const credentials = auth ? natsCredentialsOptions(auth.credentials) : {};
  await waitFor(async () => (await natsHasJetStream(url, credentials)) === true, child, 'nats-server', logFile);
  return { url, port, stop: (signal) => stopChild(child, signal) };
}

// ---------------------------------------------------------------------------------- PostgreSQL

async function pgReachable(url: string): Promise<true | Error> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    return error as Error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensurePostgres(options: EnsureServicesOptions, started: ChildProcess[]) {
  const env = options.env ?? process.env;
  if (env.DATABASE_URL) {
    const state = await pgReachable(env.DATABASE_URL);
    if (state !== true) throw new ServiceUnavailableError(`DATABASE_URL: cannot connect (${state.message}).`, { cause: state });
    options.log(`PostgreSQL: ${redact(env.DATABASE_URL)} (from DATABASE_URL)`);
    return { url: env.DATABASE_URL, origin: 'environment' as const };
  }
  const user = env.PGUSER ?? 'postgres';
  const password = env.PGPASSWORD ? `:${encodeURIComponent(env.PGPASSWORD)}` : '';
  const standard = `postgres://${encodeURIComponent(user)}${password}@127.0.0.1:5432/postgres`;
  const state = await pgReachable(standard);
  if (state === true) {
    options.log(`PostgreSQL: 127.0.0.1:5432 as ${user} (already running)`);
    return { url: standard, origin: 'standard-port' as const };
  }
  if (!/ECONNREFUSED|timeout/i.test(state.message)) {
    options.log(`PostgreSQL on 127.0.0.1:5432 refused us (${state.message}); starting a project-local server instead. Set DATABASE_URL to use that one.`);
  }

  const bin = findPostgresBin() ?? (installDebianPackage('postgresql', 'postgres', options) ? findPostgresBin() : undefined);
  if (!bin) {
    throw new ServiceUnavailableError(
      'PostgreSQL 15 or later is needed and none was found. Install it (Debian/Ubuntu: `sudo apt-get install postgresql`), ' +
        'or set DATABASE_URL to a server where the user may create databases.',
    );
  }
  return startLocalPostgres(bin, join(options.stateDir, 'postgres'), options, started);
}

/**
 * A PostgreSQL cluster of its own in `dir` (created on first use) from the machine's binaries, on
 * a free loopback port (`port` when it is free), for tests that must stop and restart the
 * database under a running hub. `stop` stops it: SIGINT is a fast shutdown (`pg_ctl stop -m
 * fast`), SIGQUIT an immediate one; start it again with the same `dir` and `port`.
 */
export async function startPostgresCluster(options: {
  dir: string;
  port?: number;
  log: (message: string) => void;
}): Promise<{ url: string; port: number; stop: (signal?: NodeJS.Signals) => Promise<void> }> {
  const bin = findPostgresBin();
  if (!bin) throw new ServiceUnavailableError('PostgreSQL 15 or later is needed (the postgres and initdb binaries) and none was found.');
  const started: ChildProcess[] = [];
  const { url } = await startLocalPostgres(bin, options.dir, options, started, options.port);
  const child = started[0];
  if (!child) throw new ServiceUnavailableError(`a PostgreSQL server already runs on ${options.dir}: stop it first`);
  return { url, port: Number(new URL(url).port), stop: (signal) => stopChild(child, signal) };
}

/**
 * A project-local PostgreSQL cluster in `dir` (created on first use), on a free loopback port,
 * with TimescaleDB preloaded when the machine has it; reused when a killed run left it running.
 */
async function startLocalPostgres(bin: string, dir: string, options: Pick<EnsureServicesOptions, 'log'>, started: ChildProcess[], preferredPort = 0) {
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  mkdirSync(dir, { recursive: true });
  const runAs = postgresRunAs(dir);

  // A server left running on this data folder (an earlier run that was killed): use it.
  const running = runningPostmasterPort(data);
  if (running) {
    const url = `postgres://postgres@127.0.0.1:${running}/postgres`;
    if ((await pgReachable(url)) === true) {
      options.log(`PostgreSQL: project-local server already running on 127.0.0.1:${running}`);
      return { url, origin: 'already-running' as const };
    }
  }
  if (!existsSync(join(data, 'PG_VERSION'))) {
    options.log(`PostgreSQL: creating a project-local cluster in ${data}`);
    const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'], {
      encoding: 'utf8',
      ...runAs,
    });
    if (init.status !== 0) throw new ServiceUnavailableError(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort(preferredPort);
  const args = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  const timescale = existsSync(join(bin, '..', 'lib', 'timescaledb.so'));
  if (timescale) args.push('-c', 'shared_preload_libraries=timescaledb');
  options.log(`PostgreSQL: starting ${join(bin, 'postgres')} on 127.0.0.1:${port}${timescale ? ' with TimescaleDB preloaded' : ''}`);
  const child = spawnLogged(join(bin, 'postgres'), args, log, runAs);
  started.push(child);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitFor(async () => (await pgReachable(url)) === true, child, 'postgres', log);
  return { url, origin: 'started' as const };
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` system user. */
function postgresRunAs(dir: string): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) {
    throw new ServiceUnavailableError(
      'Running as root, PostgreSQL needs the `postgres` system user, which does not exist (it comes with the postgresql package).',
    );
  }
  chownSync(dir, uid, gid);
  const check = spawnSync('test', ['-w', dir], { uid, gid });
  if (check.status !== 0) {
    throw new ServiceUnavailableError(
      `The postgres user cannot write to ${dir} (a parent folder is not readable by others). Move the project, or set DATABASE_URL.`,
    );
  }
  return { uid, gid };
}

function runningPostmasterPort(data: string): number | undefined {
  const pidFile = join(data, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

function findPostgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => Number(v) >= 15 && existsSync(join(base, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = pgConfig.status === 0 ? pgConfig.stdout.trim() : '';
  return dir && existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')) ? dir : undefined;
}

// ------------------------------------------------------------------------------------- helpers

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];
  return dirs
    .filter((dir) => dir.startsWith('/'))
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path));
}

/** Installs a Debian package when we may (root, apt-get present); returns the binary's path. */
function installDebianPackage(pkg: string, binary: string, options: { log: (message: string) => void }): string | undefined {
  if (process.getuid?.() !== 0 || !findBinary('apt-get')) return undefined;
  options.log(`Installing Debian's ${pkg} package (apt-get install ${pkg}) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', pkg],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (result.status !== 0) {
      options.log(`apt-get ${args.join(' ')} failed (exit ${result.status}).`);
      return undefined;
    }
  }
  return binary === 'postgres' ? findPostgresBin() : findBinary(binary);
}

function spawnLogged(command: string, args: string[], logFile: string, ids: { uid?: number; gid?: number } = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  if (ids.uid !== undefined) chownSync(logFile, ids.uid, ids.gid ?? ids.uid);
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], ...ids });
  closeSync(fd);
  return child;
}

async function waitFor(ready: () => Promise<boolean>, child: ChildProcess, name: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
  await stopChild(child);
  throw new ServiceUnavailableError(`${name} did not become ready within 30 s. Last lines of ${logFile}:\n${tail}`);
}

/**
 * Stops a child process with `signal` and waits for it to exit; SIGKILL after 15 s. The default,
 * SIGINT, is PostgreSQL's fast shutdown and nats-server's clean stop.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
