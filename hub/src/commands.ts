import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DEFAULT_CONFIG_BUCKET, natsCredentialsOptions, type GatewayConfigValidator } from '@citypilot/wire';
import { createLogger, describeFailure, processIo, type CliIo } from './cli-io.js';
import { Hub } from './hub.js';
import { defaultStreamNames, type StreamNames } from './ingest/ingest.js';
import { InvalidStorageSettingError, type LifecycleOptions, type LifecycleSetting } from './storage/lifecycle.js';
import { Storage } from './storage/storage.js';
import { importCatalog, loadCatalog } from './storage/catalog.js';
import { ConfigFileError, silentLogger } from '@citypilot/sdk';
import { DEGREE_DAY_METHODS, type DegreeDayMethod } from './objectives/data.js';
import { loadObjectivesFile } from './objectives/file.js';
import { Objectives } from './objectives/objectives.js';
import { operatExport } from './objectives/operat.js';
import { monthsAgo } from './objectives/routes.js';
import { importOutdoorTemperatures, WeatherFileError } from './objectives/weather.js';
import { loadProjectsFile } from './projects/file.js';
import { Projects } from './projects/store.js';
import { runAccountCli } from './auth/account-command.js';
import type { OidcOptions } from './auth/oidc.js';
import { runTokenCli } from './auth/token-command.js';
import { runPluginCli } from './plugins/command.js';
import { ensureNatsCredentials } from './services/nats-auth.js';
import { pushGatewayConfig, validatePushedConfig } from './services/config-push.js';
import { connect } from '@nats-io/transport-node';

/** The `hub …` commands, as `citypilot help` lists them with the others. */
export const HUB_COMMANDS_USAGE = `  hub run                   run the hub (ingest, storage, HTTP API)
  hub migrate               bring the database schema up to date, then exit
  hub catalog import FILE   create or update the organisation, sites and buildings of a catalog file
  hub objectives apply FILE define the objectives of a file (hub/objectives/ holds templates)
  hub objectives evaluate [--from YYYY-MM]
                            evaluate every objective again (default: the last 12 months)
  hub objectives operat --year YYYY
                            the year's energy per building for OPERAT (CSV on standard output)
  hub projects import FILE  define the projects of a file (hub/projects.sample.yaml shows how)
  hub weather import FILE   daily mean outdoor temperatures (CSV: date;mean_c) for degree-days
  hub token create --role ROLE --label TEXT [--sites SITE,…]
                            make an API token, printed once; roles: admin, operator, technician
                            (with --sites), director, elected, agent
  hub nats-auth DIR GATEWAY…
                            NATS credentials of the hub and of each gateway in DIR (made once,
                            kept after), and DIR/nats-auth.conf, the nats-server authorization
                            that lets each gateway publish and read only its own subjects
  hub push-config FILE      validate the gateway configuration FILE as its gateway would, then
                            push it to that gateway through NATS (key-value bucket
                            CITYPILOT_CONFIG_BUCKET, key = its gateway.id); a gateway whose
                            own file sets hub.remoteConfig: true applies it if valid
  hub token list            the API tokens (never their secrets)
  hub token revoke ID       stop accepting an API token
  hub account add USERNAME --role ROLE [--name "…"] [--sites SITE,…] [--email …]
                            a person's account for the dashboard; password from CITYPILOT_PASSWORD,
                            or made up and printed once
  hub account list          the accounts (never a password)
  hub account disable USERNAME
                            the person can no longer sign in; their sessions end
  hub plugin keygen DIR     the operator's plugin signing key: DIR/plugin-signing.key (private) and
                            DIR/plugin-signing.pub (for each gateway's plugins.trustedKeys)
  hub plugin publish FILE.tgz --key KEYFILE
                            check, sign and store a plugin package (key also CITYPILOT_PLUGIN_KEY)
  hub plugin list           the plugin packages and their rollouts
  hub plugin assign ID VERSION (--gateways G,G… | --group NAME) [--promote-after 10m]
                            give a version to a first stage of gateways, then to every gateway
                            after that long in good health; rolled back on failure
  hub plugin group NAME GATEWAY…
                            set the gateways of a group`;

/** The hub's environment variables, as `citypilot help` lists them. */
export const HUB_ENVIRONMENT_USAGE = `Hub environment:
  DATABASE_URL      PostgreSQL database (required)
  NATS_URL          NATS server with JetStream (default nats://127.0.0.1:4222)
  NATS_CREDENTIALS  the hub's NATS credentials file, for a server with per-gateway users
  HUB_HOST, HUB_PORT  HTTP API address (default 127.0.0.1:8080)
  HUB_INGEST_WORKERS  ingest loops in this process (default 1)
  HUB_ANONYMOUS_READS, HUB_ANONYMOUS_WRITES  requests per minute per address without a token
                    (default 600 reads, 30 writes; a token's holder gets 20 times as many)
  HUB_STATEMENT_TIMEOUT_MS  longest database query of an API request (default 10000)
  HUB_TRUST_PROXY   addresses of reverse proxies (comma-separated, CIDR allowed) whose
                    X-Forwarded-For names the client for the rate limits (default none)
  HUB_SECURE_COOKIES  auto (default: Secure session cookies when the request came over HTTPS)
                    or always (behind a TLS proxy not named in HUB_TRUST_PROXY)
  OIDC_ISSUER       sign-in through the city's OpenID Connect provider (e.g. ProConnect): its
                    issuer URL; with OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, and OIDC_REDIRECT_URI
                    (default HUB_PUBLIC_URL + /api/session/oidc/callback)
  OIDC_LABEL, OIDC_ROLE_CLAIM, OIDC_SITES_CLAIM, OIDC_SCOPES  the sign-in button's words (default
                    ProConnect), the claims of the role (default citypilot_role) and of a
                    technician's sites (default none), the scopes (default openid email profile)
  CITYPILOT_SUBJECT_PREFIX, CITYPILOT_STREAM  JetStream names (default citypilot, CITYPILOT_TELEMETRY)
  CITYPILOT_CONFIG_BUCKET  key-value bucket of the gateways' configurations (default citypilot-config)
  CITYPILOT_FLEET_BUCKET, CITYPILOT_PLUGIN_BUCKET  key-value bucket of the gateways' plugin assignments
                    and object store of the plugin packages (default citypilot-fleet, citypilot-plugins)
  CITYPILOT_TIMESCALE  auto (default) or off
  CITYPILOT_TIMEZONE  the city's time zone for rollups (default Europe/Paris; fixed once rollups exist)
  CITYPILOT_SECRET_KEY, CITYPILOT_SECRET_KEY_FILE  the key (32 bytes in base64, or a file holding
                    it) the utility connectors' secrets are encrypted with; without one, none
                    can be stored
  HUB_PUBLIC_URL    the hub's address as browsers reach it: where Enedis's consent page sends
                    customers back (HUB_PUBLIC_URL/api/utility/consent/callback), and the
                    addresses of the open-data catalogue (default: each request's own)
  CITYPILOT_DISCOUNT_RATE  discount rate of projects' net present value, per year: a fraction
                    from 0 to 0.5 (default 0.04, 4 %)
  CITYPILOT_DEGREE_DAYS  how a day's degree-days are computed: mean (of the day's readings, default)
                    or min-max ((Tmin + Tmax) / 2, as Météo-France)
  CITYPILOT_COMPRESS_AFTER  age at which TimescaleDB compresses samples (default 7 days)
  CITYPILOT_RETENTION_SAMPLES, CITYPILOT_RETENTION_HOUR, CITYPILOT_RETENTION_DAY, CITYPILOT_RETENTION_MONTH
                    how long raw samples and hourly, daily, monthly rollups are kept: a PostgreSQL
                    interval such as '3 years', or 'forever' (defaults 3 years, 10 years, forever, forever)
  LOG_LEVEL         debug, info (default), warn, error`;

const USAGE = `Usage: citypilot hub <command>

Commands:
${HUB_COMMANDS_USAGE}

${HUB_ENVIRONMENT_USAGE}`;

/** The JetStream names from the environment (tests and several hubs on one NATS set their own). */
export function streamNamesFromEnv(env: NodeJS.ProcessEnv): StreamNames {
  return {
    prefix: env.CITYPILOT_SUBJECT_PREFIX ?? defaultStreamNames.prefix,
    stream: env.CITYPILOT_STREAM ?? defaultStreamNames.stream,
    durable: env.CITYPILOT_DURABLE ?? defaultStreamNames.durable,
  };
}

/** The environment variable of each lifecycle setting. */
const LIFECYCLE_ENV: Readonly<Record<LifecycleSetting, string>> = {
  compressAfter: 'CITYPILOT_COMPRESS_AFTER',
  'retention.samples': 'CITYPILOT_RETENTION_SAMPLES',
  'retention.hour': 'CITYPILOT_RETENTION_HOUR',
  'retention.day': 'CITYPILOT_RETENTION_DAY',
  'retention.month': 'CITYPILOT_RETENTION_MONTH',
};

/** Compression and retention from the environment; unset variables keep their defaults. Checked by Storage.open. */
export function lifecycleFromEnv(env: NodeJS.ProcessEnv): LifecycleOptions {
  const retention: NonNullable<LifecycleOptions['retention']> = {};
  for (const dataClass of ['samples', 'hour', 'day', 'month'] as const) {
    const value = env[LIFECYCLE_ENV[`retention.${dataClass}`]];
    if (value !== undefined) retention[dataClass] = value;
  }
  const compressAfter = env[LIFECYCLE_ENV.compressAfter];
  return { ...(compressAfter !== undefined ? { compressAfter } : {}), retention };
}

/** What `citypilot hub …` needs from the packages composed with it. */
export interface HubCliOptions {
  /**
   * Loads the gateway's validator of a configuration (`gatewayConfigValidator()` of
   * @citypilot/gateway), for `hub push-config` and the fleet API's checks and pushes of `hub run`:
   * the hub checks with it what it pushes, without importing any driver, and `hub run` loads it
   * at its first check only.
   */
  loadGatewayConfigValidator?: () => Promise<GatewayConfigValidator>;
}

/** `citypilot hub …` (`args` are those after `hub`): resolves with the process exit code. */
export async function runHubCli(args: readonly string[], io: CliIo = processIo, options: HubCliOptions = {}): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'run' && !rest.length) return await runHub(io, options);
    if (sub === 'migrate' && !rest.length) return await migrateOnly(io);
    if (sub === 'catalog' && rest[0] === 'import' && rest.length === 2) return await catalogImport(rest[1]!, io);
    if (sub === 'objectives') return await objectivesCommand(rest, io);
    if (sub === 'projects' && rest[0] === 'import' && rest.length === 2) return await projectsImport(rest[1]!, io);
    if (sub === 'weather' && rest[0] === 'import' && rest.length === 2) return await weatherImport(rest[1]!, io);
    if (sub === 'nats-auth' && rest.length >= 2) return natsAuthCommand(rest[0]!, rest.slice(1), io);
    if (sub === 'push-config' && rest.length === 1) return await pushConfigCommand(rest[0]!, io, options);
    if (sub === 'token') return await runTokenCli(rest, io, () => requireDatabaseUrl(io));
    if (sub === 'account') return await runAccountCli(rest, io, () => requireDatabaseUrl(io));
    if (sub === 'plugin') return await runPluginCli(rest, io, () => requireDatabaseUrl(io));
    if (sub === 'help' || sub === '--help' || sub === '-h') {
      io.out(USAGE);
      return 0;
    }
    io.err(USAGE);
    return 2;
  } catch (error) {
    io.err(describeFailure(error));
    return 1;
  }
}

/** The gateways' configuration bucket: the same for `nats-auth` (permissions) and `push-config`. */
function configBucketFromEnv(env: NodeJS.ProcessEnv): string {
  return env.CITYPILOT_CONFIG_BUCKET || DEFAULT_CONFIG_BUCKET;
}

/** `citypilot hub push-config FILE`: nothing is sent unless the gateway's own validator accepts FILE. */
async function pushConfigCommand(file: string, io: CliIo, options: HubCliOptions): Promise<number> {
  if (!options.loadGatewayConfigValidator) {
    io.err(`${file}: this command line has no gateway validator to check the file with; nothing was pushed.`);
    return 2;
  }
  let text: string;
  let gateway: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    io.err(`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); nothing was pushed.`);
    return 2;
  }
  try {
    gateway = validatePushedConfig(text, file, await options.loadGatewayConfigValidator());
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    io.err(error.message);
    return 2;
  }
  const env = process.env;
  const servers = env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const nc = await connect({ servers, name: 'citypilot-hub push-config', ...(env.NATS_CREDENTIALS ? natsCredentialsOptions(env.NATS_CREDENTIALS) : {}) });
  try {
    const bucket = configBucketFromEnv(env);
    const revision = await pushGatewayConfig(nc, gateway, text, { prefix: streamNamesFromEnv(env).prefix, bucket });
    io.out(
      `${file}: pushed to gateway ${gateway} as revision ${revision} (bucket ${bucket}); its /api/status shows config.revision ${revision} once it runs it.`,
    );
    return 0;
  } finally {
    await nc.close();
  }
}

function natsAuthCommand(dir: string, gateways: string[], io: CliIo): number {
  const prefix = process.env.CITYPILOT_SUBJECT_PREFIX ?? defaultStreamNames.prefix;
  const env = process.env;
  const result = ensureNatsCredentials(dir, gateways, {
    prefix,
    configBucket: configBucketFromEnv(env),
    fleetBucket: env.CITYPILOT_FLEET_BUCKET || undefined,
    pluginBucket: env.CITYPILOT_PLUGIN_BUCKET || undefined,
  });
  const conf = join(dir, 'nats-auth.conf');
  writeFileSync(conf, result.authorization);
  io.out(`Wrote ${conf} (public keys and permissions only): add \`include ${JSON.stringify(conf)}\` to the nats-server configuration and reload it.`);
  io.out(`The hub's credentials: ${result.hub.file} (run the hub with NATS_CREDENTIALS=${result.hub.file}).`);
  for (const g of result.gateways) io.out(`Gateway ${g.id}: ${g.file} (copy it to the gateway; its config's hub.credentials names it).`);
  return 0;
}

function requireDatabaseUrl(io: CliIo): string | undefined {
  const url = process.env.DATABASE_URL;
  if (!url) io.err('DATABASE_URL is not set: give the hub its PostgreSQL database, e.g. postgres://user@127.0.0.1:5432/citypilot');
  return url;
}

/** CITYPILOT_DEGREE_DAYS, checked: undefined (the default) or a method; an error said on `io` otherwise. */
function degreeDayMethodFromEnv(io: CliIo): { method?: DegreeDayMethod } | undefined {
  const text = process.env.CITYPILOT_DEGREE_DAYS;
  if (text === undefined || text === '') return {};
  if ((DEGREE_DAY_METHODS as readonly string[]).includes(text)) return { method: text as DegreeDayMethod };
  io.err(`CITYPILOT_DEGREE_DAYS: ${JSON.stringify(text)} is not a degree-day method; expected one of ${DEGREE_DAY_METHODS.join(', ')}`);
  return undefined;
}

/**
 * The sessions' settings of `hub run` from HUB_SECURE_COOKIES and the OIDC_* variables, checked;
 * undefined after saying on `io` what is wrong.
 */
function sessionsFromEnv(env: NodeJS.ProcessEnv, io: CliIo): { secureCookies?: 'auto' | 'always'; oidc?: OidcOptions } | undefined {
  const secure = env.HUB_SECURE_COOKIES || 'auto';
  if (secure !== 'auto' && secure !== 'always') {
    io.err(`HUB_SECURE_COOKIES: ${JSON.stringify(secure)} is not auto or always`);
    return undefined;
  }
  const issuer = env.OIDC_ISSUER;
  if (!issuer) return { secureCookies: secure };
  const publicUrl = env.HUB_PUBLIC_URL?.replace(/\/+$/, '');
  const redirectUri = env.OIDC_REDIRECT_URI || (publicUrl ? `${publicUrl}/api/session/oidc/callback` : undefined);
  const problem =
    (!URL.canParse(issuer) && `OIDC_ISSUER: ${JSON.stringify(issuer)} is not a URL (the provider's issuer, e.g. https://auth.agentconnect.gouv.fr/api/v2)`) ||
    (!env.OIDC_CLIENT_ID && 'OIDC_CLIENT_ID is required with OIDC_ISSUER: the client id the provider gave the hub') ||
    (!env.OIDC_CLIENT_SECRET && 'OIDC_CLIENT_SECRET is required with OIDC_ISSUER: the client secret the provider gave the hub') ||
    (!redirectUri &&
      'OIDC_REDIRECT_URI (or HUB_PUBLIC_URL) is required with OIDC_ISSUER: https://<the hub>/api/session/oidc/callback, as registered at the provider') ||
    (redirectUri && !URL.canParse(redirectUri) && `OIDC_REDIRECT_URI: ${JSON.stringify(redirectUri)} is not a URL`);
  if (problem) {
    io.err(problem);
    return undefined;
  }
  return {
    secureCookies: secure,
    oidc: {
      issuer,
      clientId: env.OIDC_CLIENT_ID!,
      clientSecret: env.OIDC_CLIENT_SECRET!,
      redirectUri: redirectUri!,
      label: env.OIDC_LABEL || undefined,
      roleClaim: env.OIDC_ROLE_CLAIM || undefined,
      sitesClaim: env.OIDC_SITES_CLAIM || undefined,
      scope: env.OIDC_SCOPES || undefined,
    },
  };
}

async function runHub(io: CliIo, options: HubCliOptions): Promise<number> {
  const databaseUrl = requireDatabaseUrl(io);
  if (!databaseUrl) return 2;
  const degreeDays = degreeDayMethodFromEnv(io);
  if (!degreeDays) return 2;
  const env = process.env;
  const logger = createLogger('citypilot-hub');
  const limits: Record<string, number | undefined> = {};
  for (const name of ['HUB_ANONYMOUS_READS', 'HUB_ANONYMOUS_WRITES', 'HUB_STATEMENT_TIMEOUT_MS']) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    if (!/^[1-9]\d{0,8}$/.test(text)) {
      io.err(`${name}: ${JSON.stringify(text)} is not a whole number from 1 to 999999999`);
      return 2;
    }
    limits[name] = Number(text);
  }
  const sessions = sessionsFromEnv(env, io);
  if (!sessions) return 2;
  const rateText = env.CITYPILOT_DISCOUNT_RATE;
  const discountRate = rateText === undefined || rateText === '' ? undefined : Number(rateText);
  if (discountRate !== undefined && !(/^\d+(\.\d+)?$/.test(rateText!) && discountRate <= 0.5)) {
    io.err(`CITYPILOT_DISCOUNT_RATE: ${JSON.stringify(rateText)} is not a rate per year from 0 to 0.5 (0.04 for 4 %)`);
    return 2;
  }
  const reads = limits.HUB_ANONYMOUS_READS;
  const writes = limits.HUB_ANONYMOUS_WRITES;
  let hub: Hub;
  try {
    hub = await Hub.start({
      databaseUrl,
      natsUrl: env.NATS_URL ?? 'nats://127.0.0.1:4222',
      natsCredentials: env.NATS_CREDENTIALS || undefined,
      logger,
      names: streamNamesFromEnv(env),
      http: { host: env.HUB_HOST, port: env.HUB_PORT === undefined ? undefined : Number(env.HUB_PORT) },
      ingestWorkers: env.HUB_INGEST_WORKERS ? Number(env.HUB_INGEST_WORKERS) : undefined,
      timescale: env.CITYPILOT_TIMESCALE === 'off' ? 'off' : 'auto',
      timezone: env.CITYPILOT_TIMEZONE,
      utility: { publicUrl: env.HUB_PUBLIC_URL?.replace(/\/+$/, '') || undefined },
      degreeDayMethod: degreeDays.method,
      discountRate,
      lifecycle: lifecycleFromEnv(env),
      plugins: { bucket: env.CITYPILOT_PLUGIN_BUCKET || undefined, fleetBucket: env.CITYPILOT_FLEET_BUCKET || undefined },
      // The validator is loaded at the first check through the API: a hub that checks no
      // configuration never loads the gateway's drivers.
      fleet: { validator: options.loadGatewayConfigValidator, configBucket: configBucketFromEnv(env) },
      api: {
        rateLimits: {
          ...(reads ? { anonymousReads: reads, authenticatedReads: 20 * reads } : {}),
          ...(writes ? { anonymousWrites: writes, authenticatedWrites: 40 * writes } : {}),
        },
        pools: { statementTimeoutMs: limits.HUB_STATEMENT_TIMEOUT_MS },
        trustProxy: env.HUB_TRUST_PROXY || undefined,
        openData: { publicUrl: env.HUB_PUBLIC_URL?.replace(/\/+$/, '') || undefined },
        sessions,
      },
    });
  } catch (error) {
    // Checked before anything starts: say which variable is wrong, as for DATABASE_URL.
    if (!(error instanceof InvalidStorageSettingError)) throw error;
    io.err(`${LIFECYCLE_ENV[error.setting]}: ${JSON.stringify(error.value)} ${error.problem}`);
    return 2;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({}, 'stopping');
  await hub.stop();
  logger.info({}, 'stopped');
  return 0;
}

async function catalogImport(file: string, io: CliIo): Promise<number> {
  const databaseUrl = requireDatabaseUrl(io);
  if (!databaseUrl) return 2;
  let catalog;
  try {
    catalog = loadCatalog(file);
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    io.err(error.message);
    return 2;
  }
  const storage = await Storage.open({ databaseUrl, logger: createLogger('citypilot-hub'), timezone: process.env.CITYPILOT_TIMEZONE });
  try {
    const result = await importCatalog(storage.pool, catalog);
    io.out(`${file}: ${result.sites} site(s), ${result.buildings} building(s) imported.`);
    if (result.notInFile.length) io.out(`In the database but not in the file (kept): ${result.notInFile.join(', ')}.`);
    for (const w of result.warnings) io.out(`Warning: ${w}.`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function migrateOnly(io: CliIo): Promise<number> {
  const databaseUrl = requireDatabaseUrl(io);
  if (!databaseUrl) return 2;
  const storage = await Storage.open({ databaseUrl, logger: createLogger('citypilot-hub'), timezone: process.env.CITYPILOT_TIMEZONE });
  io.out(`Database schema up to date (storage: ${storage.mode}).`);
  await storage.close();
  return 0;
}

/** `citypilot hub objectives apply FILE | evaluate [--from YYYY-MM] | operat --year YYYY`. */
async function objectivesCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args;
  const usage = () => {
    io.err('Usage: citypilot hub objectives apply FILE | evaluate [--from YYYY-MM] | operat --year YYYY');
    return 2;
  };
  const option = (name: string, pattern: RegExp) => {
    const i = rest.indexOf(name);
    if (i < 0) return undefined;
    const value = rest[i + 1];
    return value !== undefined && pattern.test(value) ? value : null;
  };
  if (action === 'apply' && rest.length === 1) {
    const definitions = loadObjectivesFile(rest[0]!); // before any connection: a bad file changes nothing
    return withObjectives(io, async (objectives) => {
      for (const definition of definitions) {
        const { objective, created } = await objectives.define(definition, 'cli');
        io.out(`${objective.key}: ${created ? `version ${objective.version}` : `unchanged (version ${objective.version})`}`);
      }
    });
  }
  if (action === 'evaluate' && (rest.length === 0 || rest.length === 2)) {
    const from = rest.length ? option('--from', /^\d{4}-(0[1-9]|1[0-2])$/) : undefined;
    if (from === null || (rest.length && from === undefined)) return usage();
    return withObjectives(io, async (objectives, timezone) => {
      const summary = await objectives.evaluate({ fromMonth: from ?? monthsAgo(12, timezone) });
      for (const w of summary.meterWarnings) io.err(`warning: ${w}`);
      io.out(`${summary.objectives} objectives, ${summary.results} results, ${summary.changes.length} status changes`);
    });
  }
  if (action === 'operat' && rest.length === 2) {
    const year = option('--year', /^\d{4}$/);
    if (!year) return usage();
    return withObjectives(io, async (objectives, timezone, storage) =>
      io.out((await operatExport(storage.pool, timezone, Number(year), { degreeDayMethod: objectives.degreeDayMethod })).trimEnd()),
    );
  }
  return usage();
}

async function withObjectives(io: CliIo, run: (objectives: Objectives, timezone: string, storage: Storage) => Promise<void>): Promise<number> {
  const databaseUrl = requireDatabaseUrl(io);
  if (!databaseUrl) return 2;
  const degreeDays = degreeDayMethodFromEnv(io);
  if (!degreeDays) return 2;
  // Quiet: `operat` writes its CSV on standard output.
  const storage = await Storage.open({ databaseUrl, logger: silentLogger, timezone: process.env.CITYPILOT_TIMEZONE });
  try {
    await run(
      new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone, degreeDayMethod: degreeDays.method }),
      storage.rollups.timezone,
      storage,
    );
    return 0;
  } finally {
    await storage.close();
  }
}

/** `citypilot hub projects import FILE`: every project of the file defined (a new version where it changed), or none when the file has a mistake. */
async function projectsImport(file: string, io: CliIo): Promise<number> {
  const definitions = loadProjectsFile(file); // before any connection: a bad file changes nothing
  return withObjectives(io, async (_objectives, _timezone, storage) => {
    const projects = new Projects(storage.pool);
    for (const definition of definitions) {
      const { project, created } = await projects.define(definition, 'cli');
      io.out(`${project.key}: ${created ? `version ${project.version}` : `unchanged (version ${project.version})`}`);
    }
  });
}

/** `citypilot hub weather import FILE`: bad rows are listed with their row and column, the others stored. */
async function weatherImport(file: string, io: CliIo): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    io.err(`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return 2;
  }
  let status = 0;
  const code = await withObjectives(io, async (_objectives, _timezone, storage) => {
    try {
      const { stored, errors } = await importOutdoorTemperatures(storage.pool, text, basename(file));
      for (const e of errors) io.err(`${file}: ${e.message}`);
      io.out(`${file}: ${stored} days stored${errors.length ? `, ${errors.length} problems (those rows were not stored)` : ''}`);
      if (errors.length) status = 1;
    } catch (error) {
      if (!(error instanceof WeatherFileError)) throw error;
      io.err(`${file}: ${error.message}; nothing was imported`);
      status = 2;
    }
  });
  return code || status;
}
