/**
 * Helpers for tests that talk to the real services found or started by the test run's global
 * setup (`scripts/test-services.ts`): each test file gets its own database and JetStream names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import type {} from 'vitest';
import { startNatsServer, withDatabase } from '../services/local-services.js';
import { ensureNatsCredentials } from '../services/nats-auth.js';
import { waitFor } from '@citypilot/sdk';
import { deadLetterStream, type StreamNames } from '../ingest/ingest.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** NATS server with JetStream for this test run. */
    natsUrl: string;
    /** PostgreSQL URL whose user may create databases. */
    adminDatabaseUrl: string;
    /** A PostgreSQL server that preloads TimescaleDB (same kind of URL), or '' when none can be had. */
    timescaleDatabaseUrl: string;
    /** Names what a test run shares between its files and drops at its end (the demo city's seed). */
    testRunId: string;
  }
}

/** Path of the built `citypilot` command, to run hubs and gateways as real processes. */
export const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'citypilot', 'dist', 'cli.js');

/** A short random suffix for names that must not collide between test files and runs. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A fresh database on the test server, empty or a copy of `template`; `drop()` removes it (closing
 * leftover connections).
 */
export async function createTestDatabase(adminUrl: string, label: string, template?: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `cp_test_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${uniqueSuffix()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`);
  await admin.end();
  return {
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      // pg's Pool.end() resolves before its clients' connections have closed: wait for them (up
      // to 2 s), so that FORCE ends only connections left open, never one already closing, whose
      // client would then meet the server's "terminating connection" as an uncaught error.
      for (let i = 0; i < 40; i++) {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (!rows[0]?.n) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * The two storage engines a storage test runs its cases on: plain PostgreSQL on `adminUrl`, and
 * TimescaleDB on CITYPILOT_TEST_TIMESCALE_URL or else `timescaleUrl` (inject('adminDatabaseUrl')
 * and inject('timescaleDatabaseUrl') in a test file), with the reason to skip it when it cannot
 * run TimescaleDB.
 */
export async function storageEngines(
  adminUrl: string,
  timescaleUrl: string,
): Promise<{ mode: 'postgresql' | 'timescaledb'; adminUrl: string; skip: string | undefined }[]> {
  const timescaleAdminUrl = process.env.CITYPILOT_TEST_TIMESCALE_URL || timescaleUrl || adminUrl;
  return [
    { mode: 'postgresql', adminUrl, skip: undefined },
    { mode: 'timescaledb', adminUrl: timescaleAdminUrl, skip: await timescaleUnavailable(timescaleAdminUrl) },
  ];
}

/** Why the server of `adminUrl` cannot run TimescaleDB, or undefined when it can. */
export async function timescaleUnavailable(adminUrl: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const available = await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
    if (!available.rowCount) return 'the test server has no timescaledb extension';
    const { rows } = await client.query<{ libs: string }>(`SELECT current_setting('shared_preload_libraries') AS libs`);
    if (!/(^|[\s,])timescaledb([\s,]|$)/.test(rows[0]!.libs)) return 'the test server does not preload timescaledb';
    return undefined;
  } finally {
    await client.end();
  }
}

/** JetStream names of a test file's own: subject prefix, stream and durable consumer. */
export function uniqueStreamNames(label: string): StreamNames {
  const suffix = uniqueSuffix();
  const safe = label.replace(/[^a-z0-9]/gi, '').toLowerCase();
  return { prefix: `cptest.${safe}.${suffix}`, stream: `CPTEST_${safe.toUpperCase()}_${suffix}`, durable: 'hub-ingest' };
}

/** Deletes a test's streams (the dead-letter one too), leaving nothing behind on the server. */
export async function deleteStreams(natsUrl: string, names: StreamNames): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of [names.stream, deadLetterStream(names)]) await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

export async function natsConnection(natsUrl: string): Promise<NatsConnection> {
  return connect({ servers: natsUrl });
}

/**
 * Starts `citypilot hub run` with `env` and resolves once its API on `port` answers /healthz.
 * @throws when it does not within `timeoutMs`, with what the process printed
 */
export async function startHubProcess(env: NodeJS.ProcessEnv, port: number, timeoutMs = 30_000): Promise<CliProcess> {
  const hub = spawnCli(['hub', 'run'], env);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    timeoutMs,
    () => `hub did not start: ${hub.output()}`,
  );
  return hub;
}

/** A NATS server of a test's own, secured as in production: a user for the hub and one per gateway. */
export interface SecuredTestNats {
  url: string;
  /** The hub's credentials file: NATS_CREDENTIALS of a hub process. */
  hubCredentials: string;
  /** Each gateway's credentials file (its config's `hub.credentials`), by gateway id. */
  gatewayCredentials: Record<string, string>;
  stop: () => Promise<void>;
}

/**
 * Starts a project-local nats-server (JetStream, data in `dir`, a free loopback port) whose users
 * are the hub and `gateways`, each allowed only what nats-auth.ts gives it under `names.prefix`:
 * the permissions the demo and a city run with, so that tests exercise them too.
 */
export async function startSecuredTestNats(dir: string, gateways: readonly string[], names: StreamNames): Promise<SecuredTestNats> {
  const creds = ensureNatsCredentials(join(dir, 'credentials'), gateways, { prefix: names.prefix });
  const server = await startNatsServer({
    dir: join(dir, 'nats'),
    auth: { authorization: creds.authorization, credentials: creds.hub.file },
    log: () => undefined,
  });
  return {
    url: server.url,
    hubCredentials: creds.hub.file,
    gatewayCredentials: Object.fromEntries(creds.gateways.map((g) => [g.id, g.file])),
    stop: server.stop,
  };
}

/** The environment that points a hub process at a test's own database and stream. */
export function hubEnv(databaseUrl: string, natsUrl: string, names: StreamNames, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    NATS_URL: natsUrl,
    HUB_PORT: String(port),
    CITYPILOT_SUBJECT_PREFIX: names.prefix,
    CITYPILOT_STREAM: names.stream,
    CITYPILOT_DURABLE: names.durable,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
}

/** A `citypilot` process with its output collected. */
export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Sends SIGTERM (or `signal`) and waits for the exit. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export { waitFor } from '@citypilot/sdk';

/**
 * An objective definition as the API and Objectives.define take it: monthly electricity per
 * building, with `overrides` for what a test is about.
 */
export function objectiveDefinition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key: 'test',
    theme: 'energy',
    label: { fr: 'Test', en: 'Test' },
    unit: 'kWh',
    formula: 'delta("elec meter energy")',
    scope: { level: 'building' },
    period: 'month',
    target: { kind: 'value', value: 100 },
    direction: 'down',
    tolerance: 0.1,
    owner: 'Direction des bâtiments',
    methodology: 'Test data.',
    published: true,
    ...overrides,
  };
}

/**
 * Local midnight starting `day` of `month` (0-based, may overflow into the next year as
 * Date.UTC allows) in `timezone`, as epoch ms: the instant a local calendar period begins,
 * daylight saving included (Europe/Paris: 23:00 UTC the day before in winter, 22:00 in summer).
 */
export function localMidnight(timezone: string, year: number, month: number, day = 1): number {
  const utc = Date.UTC(year, month, day);
  // The offset at UTC midnight is the one at local midnight: no time zone changes its offset between the two.
  const offset = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(utc))
    .find((p) => p.type === 'timeZoneName')!.value;
  const match = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(offset);
  if (!match) throw new Error(`localMidnight: unexpected offset ${offset} for ${timezone}`);
  const minutes = match[1] ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
  return utc - minutes * 60_000;
}

export { signInAtProvider, startOidcProvider, TEST_OIDC_FORM, type TestOidcAccount, type TestOidcProvider } from './oidc-provider.js';
