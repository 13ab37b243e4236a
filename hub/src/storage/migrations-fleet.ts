/**
 * Migrations 18 onwards: the fleet's plugin packages, their rollouts and the gateways'
 * assignments (hub/src/plugins), after the city's (migrations-city.ts, whose file is full). The
 * next migration goes at the end of this list. Never edit a migration that has shipped: add one.
 */
import type { Migration } from './types.js';

export const fleetMigrations: readonly Migration[] = [
  {
    id: 18,
    name: 'plugin packages, their staged rollouts, groups of gateways and the assignments',
    async up(client) {
      // hub/src/plugins: signed plugin packages (their bytes are in the JetStream object store),
      // the versions each gateway should run (mirrored in the fleet key-value bucket, which the
      // gateways read), and rollouts that assign a version to a first stage of gateways, then to
      // all, or roll it back. fleet_gateways and fleet_events belong to migration 17 (hub/src/fleet).
      await client.query(`
        CREATE TABLE plugin_packages (
          id            text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          version       text NOT NULL CHECK (length(version) BETWEEN 1 AND 100),
          sdk           text NOT NULL,
          protocol      text NOT NULL,
          description   text NOT NULL,
          sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
          size          integer NOT NULL CHECK (size > 0),
          key_id        text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
          signature     text NOT NULL,
          -- The package's schema file: { connection, address }, JSON Schemas.
          schema        jsonb NOT NULL,
          published_at  timestamptz NOT NULL DEFAULT now(),
          published_by  text NOT NULL,
          PRIMARY KEY (id, version)
        );
        CREATE TABLE plugin_rollouts (
          id               bigserial PRIMARY KEY,
          plugin           text NOT NULL,
          version          text NOT NULL,
          -- superseded: a newer rollout of the same plugin started while this one ran.
          state            text NOT NULL CHECK (state IN ('canary', 'all', 'completed', 'rolled-back', 'superseded')),
          -- The gateways of the first stage.
          canary           text[] NOT NULL CHECK (cardinality(canary) > 0),
          -- Seconds of health of every canary gateway before every gateway gets the version; null: the first stage only.
          promote_after_s  integer CHECK (promote_after_s > 0),
          healthy_since    timestamptz,
          started_at       timestamptz NOT NULL DEFAULT now(),
          updated_at       timestamptz NOT NULL DEFAULT now(),
          started_by       text NOT NULL,
          reason           text,
          -- Per gateway the rollout assigned: { previous: version or null, failing: its failing
          -- devices of the plugin then, install: the "at" of its latest install of the plugin then }.
          baseline         jsonb NOT NULL DEFAULT '{}',
          FOREIGN KEY (plugin, version) REFERENCES plugin_packages (id, version)
        );
        -- At most one running rollout per plugin; a newer one supersedes it.
        CREATE UNIQUE INDEX plugin_rollouts_running ON plugin_rollouts (plugin) WHERE state IN ('canary', 'all');
        CREATE TABLE plugin_groups (
          name     text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          gateway  text NOT NULL CHECK (gateway ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          PRIMARY KEY (name, gateway)
        );
        -- What each gateway's key in the fleet bucket says: one version per plugin.
        CREATE TABLE plugin_assignments (
          gateway      text NOT NULL CHECK (gateway ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          plugin       text NOT NULL,
          version      text NOT NULL,
          rollout      bigint REFERENCES plugin_rollouts (id),
          assigned_at  timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (gateway, plugin),
          FOREIGN KEY (plugin, version) REFERENCES plugin_packages (id, version)
        );
      `);
    },
  },
];
