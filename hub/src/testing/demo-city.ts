/**
 * The demo city in a test's own database and streams, with a hub in this process on a free
 * port: what the browser tests, the README's screenshots and the dashboard benchmark look at.
 */
import pg from 'pg';
import { silentLogger } from '@citypilot/sdk';
import { withDatabase } from '../services/local-services.js';
import { DEMO_ACCOUNTS, DEMO_PASSWORD, seedDemoCity, type DemoAccount } from '../demo-seed.js';
import { Hub, type HubOptions } from '../hub.js';
import { monthsAgo } from '../objectives/routes.js';
import { Storage } from '../storage/storage.js';
import { testDemoCity } from './demo-data.js';
import { createTestDatabase, deleteStreams, uniqueStreamNames } from './index.js';
import type { StreamNames } from '@citypilot/wire';

export interface DemoCity {
  /** The hub's base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  databaseUrl: string;
  /** The hub's JetStream names and subject prefix. */
  names: StreamNames;
  hub: Hub;
  /** One account per role (the demo's), all with `password`. */
  accounts: readonly DemoAccount[];
  password: string;
  /** The username of the demo account of `role`. */
  account(role: DemoAccount['role']): string;
  /** Stops the hub, deletes its streams and drops its database. */
  stop(): Promise<void>;
}

export interface DemoCityOptions {
  adminDatabaseUrl: string;
  natsUrl: string;
  /** Names the database and streams (letters and digits). */
  label: string;
  /**
   * Seed the demo city once per test run and copy it for each file (PostgreSQL copies a template
   * database in a second or two, seeding takes half a minute): the run's id, `inject('testRunId')`.
   * Left out, the city is seeded in the file's own database.
   */
  shareSeed?: string;
  /** The hub's port; default a free one. Give it when a provider must know the hub's callback first. */
  port?: number;
  /** People's sessions, e.g. sign-in through a test OpenID Connect provider. */
  sessions?: NonNullable<HubOptions['api']>['sessions'];
  /** The utility connectors' secret key, clients and schedule (default: the hub's). */
  utility?: HubOptions['utility'];
}

/** Name of the seeded demo city a test run's files copy. */
function sharedSeedName(runId: string): string {
  return `cp_demo_seed_${runId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
}

/**
 * The run's seeded demo city, made by the first file that asks (others wait on an advisory lock):
 * seeded under a temporary name and renamed when whole, so that a copy is never of half a seed.
 */
async function sharedSeed(adminUrl: string, runId: string): Promise<string> {
  const name = sharedSeedName(runId);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rows.length) {
      const building = `${name}_building`;
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(building)} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(building)}`);
      const storage = await Storage.open({ databaseUrl: withDatabase(adminUrl, building), logger: silentLogger });
      try {
        await seedDemoCity(storage, testDemoCity());
      } finally {
        await storage.close();
      }
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(building)} RENAME TO ${pg.escapeIdentifier(name)}`);
    }
    return name;
  } finally {
    await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [name]).catch(() => undefined);
    await admin.end();
  }
}

/** Drops the demo city a test run's files shared (the run's global teardown calls it). */
export async function dropSharedDemoCities(adminUrl: string, runId: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const name of [sharedSeedName(runId), `${sharedSeedName(runId)}_building`])
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/**
 * Seeds the demo city (seedDemoCity), starts a hub on it and evaluates every objective over the
 * last 13 months, so that the pages have results from the first load.
 */
export async function startDemoCity(options: DemoCityOptions): Promise<DemoCity> {
  const template = options.shareSeed ? await sharedSeed(options.adminDatabaseUrl, options.shareSeed) : undefined;
  const db = await createTestDatabase(options.adminDatabaseUrl, options.label, template);
  const names = uniqueStreamNames(options.label);
  let hub: Hub | undefined;
  try {
    if (!template) {
      const storage = await Storage.open({ databaseUrl: db.url, logger: silentLogger });
      try {
        await seedDemoCity(storage, testDemoCity());
      } finally {
        await storage.close();
      }
    }
    // The schedule stays out of the way: the test decides when objectives are evaluated.
    hub = await Hub.start({
      databaseUrl: db.url,
      natsUrl: options.natsUrl,
      names,
      logger: silentLogger,
      http: { port: options.port ?? 0 },
      objectivesEveryMs: 3_600_000,
      ...(options.sessions ? { api: { sessions: options.sessions } } : {}),
      ...(options.utility ? { utility: options.utility } : {}),
    });
    await hub.objectives.evaluate({ fromMonth: monthsAgo(12, hub.storage.rollups.timezone) });
  } catch (error) {
    await hub?.stop();
    await deleteStreams(options.natsUrl, names);
    await db.drop();
    throw error;
  }
  const running = hub;
  return {
    url: running.url,
    databaseUrl: db.url,
    names,
    hub: running,
    accounts: DEMO_ACCOUNTS,
    password: DEMO_PASSWORD,
    account: (role) => DEMO_ACCOUNTS.find((a) => a.role === role)!.username,
    async stop() {
      await running.stop();
      await deleteStreams(options.natsUrl, names);
      await db.drop();
    },
  };
}
