import type pg from 'pg';
import { cityMigrations } from './migrations-city.js';
import { fleetMigrations } from './migrations-fleet.js';
import { timeSeriesMigrations } from './migrations-time-series.js';
import type { Migration, MigrationContext } from './types.js';

export type { Migration, MigrationContext };

/**
 * The hub's schema, as an ordered list. Never edit a migration that has shipped: add one.
 */
export const migrations: readonly Migration[] = [...timeSeriesMigrations, ...cityMigrations, ...fleetMigrations];

const LOCK_KEY = 'citypilot-hub-migrations';

/**
 * Applies the migrations a database lacks, in one transaction, under an advisory lock so that
 * hub processes starting together do not race. Returns the ids applied. `through` stops after
 * that migration id (tests of a later migration start from the schema before it).
 */
export async function migrate(client: pg.ClientBase, context: MigrationContext, options: { through?: number } = {}): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations');
    const done = new Set(rows.map((r) => r.id));
    const applied: number[] = [];
    for (const m of migrations) {
      if (options.through !== undefined && m.id > options.through) break;
      if (done.has(m.id)) continue;
      await m.up(client, context);
      await client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      applied.push(m.id);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
