import type pg from 'pg';

/** What a migration may depend on: whether the database has TimescaleDB. */
export interface MigrationContext {
  timescale: boolean;
}

export interface Migration {
  /** Sequence number; migrations run in this order, each exactly once per database. */
  id: number;
  name: string;
  up(client: pg.ClientBase, context: MigrationContext): Promise<void>;
}

/**
 * The hub's schema, as an ordered list. Never edit a migration that has shipped: add one.
 */
export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'gateways, points and samples',
    async up(client, { timescale }) {
      await client.query(`
        CREATE TABLE gateways (
          id          text PRIMARY KEY,
          first_seen  timestamptz NOT NULL DEFAULT now(),
          last_seen   timestamptz,
          -- Highest batch sequence number received from this gateway.
          last_seq    bigint NOT NULL DEFAULT 0
        );
        CREATE TABLE points (
          id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          gateway_id   text NOT NULL REFERENCES gateways (id),
          -- The point's id as the gateway knows it: <device>.<point>.
          point_key    text NOT NULL,
          name         text NOT NULL,
          unit         text,
          kind         text NOT NULL DEFAULT 'number' CHECK (kind IN ('number', 'boolean', 'string')),
          tags         text[] NOT NULL DEFAULT '{}',
          source       jsonb,
          interval_ms  integer,
          created_at   timestamptz NOT NULL DEFAULT now(),
          updated_at   timestamptz NOT NULL DEFAULT now(),
          -- Latest sample, kept here so that status pages do not scan the samples.
          last_time    timestamptz,
          last_value   double precision,
          last_text    text,
          last_quality text,
          UNIQUE (gateway_id, point_key)
        );
        CREATE TYPE sample_quality AS ENUM ('good', 'uncertain', 'bad', 'stale');
        CREATE TABLE samples (
          point_id    bigint NOT NULL,
          time        timestamptz NOT NULL,
          -- Numbers, and booleans as 0/1; strings go to text_value.
          value       double precision,
          text_value  text,
          quality     sample_quality NOT NULL,
          reason      text,
          -- One sample per point and instant: what makes every insert idempotent.
          PRIMARY KEY (point_id, time)
        );
      `);
      if (timescale) {
        await client.query(`SELECT create_hypertable('samples', by_range('time', INTERVAL '7 days'))`);
      }
    },
  },
  {
    id: 2,
    name: 'catalog: organisation, sites, buildings, equipment; retired points',
    async up(client) {
      await client.query(`
        CREATE TABLE organisations (
          id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          key   text NOT NULL UNIQUE,
          name  text NOT NULL
        );
        CREATE TABLE sites (
          id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          organisation_id  bigint NOT NULL REFERENCES organisations (id),
          key              text NOT NULL UNIQUE,
          name             text NOT NULL,
          address          text,
          latitude         double precision CHECK (latitude BETWEEN -90 AND 90),
          longitude        double precision CHECK (longitude BETWEEN -180 AND 180)
        );
        CREATE TABLE buildings (
          id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          site_id                bigint NOT NULL REFERENCES sites (id),
          key                    text NOT NULL UNIQUE,
          name                   text NOT NULL,
          -- school, town-hall, gymnasium …: what the building is used for (comparisons, targets).
          usage                  text NOT NULL,
          -- Heated floor area, for normalised indicators (kWh/m²).
          area_m2                double precision CHECK (area_m2 > 0),
          address                text,
          latitude               double precision CHECK (latitude BETWEEN -90 AND 90),
          longitude              double precision CHECK (longitude BETWEEN -180 AND 180),
          -- Reference year of energy objectives (the French tertiary decree's baseline).
          energy_reference_year  integer CHECK (energy_reference_year BETWEEN 2000 AND 2100)
        );
        -- A device a gateway reads: registered from the gateway's announcements.
        CREATE TABLE equipment (
          id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          gateway_id  text NOT NULL REFERENCES gateways (id),
          key         text NOT NULL,
          plugin      text,
          UNIQUE (gateway_id, key)
        );
        -- The building a gateway serves, by the key its configuration names (it may be announced
        -- before the catalog has the building: the link is made by key, not by a foreign key).
        ALTER TABLE gateways ADD COLUMN building_key text;
        ALTER TABLE points ADD COLUMN equipment_id bigint REFERENCES equipment (id);
        -- When the gateway's announced point list stopped including the point; null while it does.
        ALTER TABLE points ADD COLUMN retired_at timestamptz;
      `);
    },
  },
];

const LOCK_KEY = 'citypilot-hub-migrations';

/**
 * Applies the migrations a database lacks, in one transaction, under an advisory lock so that
 * hub processes starting together do not race. Returns the ids applied.
 */
export async function migrate(client: pg.ClientBase, context: MigrationContext): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations');
    const done = new Set(rows.map((r) => r.id));
    const applied: number[] = [];
    for (const m of migrations) {
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
