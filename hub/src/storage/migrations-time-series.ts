/**
 * Migrations 1 to 5: the time series' own tables (gateways, points, samples, the catalog, the
 * rollups and the months' partitions). The hub's schema is their list followed by
 * migrations-city.ts's, applied by migrations.ts. Never edit a migration that has shipped: add one.
 */
import { createPartitionSql, monthOf } from './partitions.js';
import type { Migration } from './types.js';

export const timeSeriesMigrations: readonly Migration[] = [
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
  {
    id: 3,
    name: 'hourly, daily and monthly rollups of samples in the city time zone',
    async up(client, { timescale, timezone = 'Europe/Paris' }) {
      const tz = client.escapeLiteral(timezone);
      // The time zone the buckets were cut in; the hub refuses to start with another one.
      await client.query(`
        CREATE TABLE rollup_settings (
          singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          timezone   text NOT NULL
        );
        INSERT INTO rollup_settings (timezone) VALUES (${tz});
      `);
      // Only numeric values are rolled up. first/last value and time serve meter deltas.
      const columns = `n, sum, min, max, first_time, first_value, last_time, last_value`;
      const hypertable =
        timescale &&
        ((await client.query(`SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() AND hypertable_name = 'samples'`))
          .rowCount ?? 0) > 0;
      if (hypertable) {
        // Hierarchical continuous aggregates (hour -> day -> month), real-time (materialized_only
        // = false); time_bucket with a time zone cuts local days and months, 23 or 25 h long on
        // DST change days. Hours are UTC hours, which are the local hours of every zone whose
        // offset is whole hours (the repeated autumn hour stays two real hours): TimescaleDB 2.28
        // loses the hour at chunk boundaries when it refreshes late data into hourly buckets cut
        // with a time zone.
        await client.query(`
          CREATE MATERIALIZED VIEW rollup_hour WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT point_id, time_bucket(INTERVAL '1 hour', time) AS bucket,
                   count(value) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max,
                   min(time) AS first_time, first(value, time) AS first_value,
                   max(time) AS last_time, last(value, time) AS last_value
              FROM samples WHERE value IS NOT NULL
             GROUP BY point_id, time_bucket(INTERVAL '1 hour', time)
          WITH NO DATA;
        `);
        for (const [name, parent, width] of [
          ['rollup_day', 'rollup_hour', '1 day'],
          ['rollup_month', 'rollup_day', '1 month'],
        ] as const) {
          await client.query(`
            CREATE MATERIALIZED VIEW ${name} WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
              SELECT point_id, time_bucket(INTERVAL '${width}', bucket, ${tz}) AS bucket,
                     sum(n)::bigint AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                     min(first_time) AS first_time, first(first_value, first_time) AS first_value,
                     max(last_time) AS last_time, last(last_value, last_time) AS last_value
                FROM ${parent}
               GROUP BY point_id, time_bucket(INTERVAL '${width}', bucket, ${tz})
            WITH NO DATA;
          `);
        }
        // Backstop for writes the hub does not refresh itself (other processes, manual loads):
        // the whole range, which only recomputes the buckets TimescaleDB recorded as invalidated.
        for (const [name, every] of [
          ['rollup_hour', '5 minutes'],
          ['rollup_day', '15 minutes'],
          ['rollup_month', '1 hour'],
        ]) {
          await client.query(
            `SELECT add_continuous_aggregate_policy('${name}', start_offset => NULL, end_offset => NULL, schedule_interval => INTERVAL '${every}')`,
          );
        }
        return;
      }
      // Plain PostgreSQL: tables the hub keeps up to date in the transaction that inserts samples.
      for (const name of ['rollup_hour', 'rollup_day', 'rollup_month']) {
        await client.query(`
          CREATE TABLE ${name} (
            point_id     bigint NOT NULL,
            -- Start of the bucket: a local hour, local midnight, or local midnight of the 1st.
            bucket       timestamptz NOT NULL,
            n            bigint NOT NULL,
            sum          double precision NOT NULL,
            min          double precision NOT NULL,
            max          double precision NOT NULL,
            first_time   timestamptz NOT NULL,
            first_value  double precision NOT NULL,
            last_time    timestamptz NOT NULL,
            last_value   double precision NOT NULL,
            PRIMARY KEY (point_id, bucket)
          );
        `);
      }
      // Samples stored before this migration.
      await client.query(`
        INSERT INTO rollup_hour (point_id, bucket, ${columns})
        SELECT point_id, date_trunc('hour', time, ${tz}), count(*), sum(value), min(value), max(value),
               min(time), (array_agg(value ORDER BY time))[1], max(time), (array_agg(value ORDER BY time DESC))[1]
          FROM samples WHERE value IS NOT NULL GROUP BY 1, 2;
      `);
      for (const [name, parent, field] of [
        ['rollup_day', 'rollup_hour', 'day'],
        ['rollup_month', 'rollup_day', 'month'],
      ]) {
        await client.query(`
          INSERT INTO ${name} (point_id, bucket, ${columns})
          SELECT point_id, date_trunc('${field}', bucket, ${tz}), sum(n), sum(sum), min(min), max(max),
                 min(first_time), (array_agg(first_value ORDER BY first_time))[1], max(last_time), (array_agg(last_value ORDER BY last_time DESC))[1]
            FROM ${parent} GROUP BY 1, 2;
        `);
      }
    },
  },
  {
    id: 4,
    name: 'samples partitioned by month on plain PostgreSQL; compression settings on TimescaleDB',
    async up(client, { timescale }) {
      const hypertable =
        timescale &&
        ((await client.query(`SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() AND hypertable_name = 'samples'`))
          .rowCount ?? 0) > 0;
      if (hypertable) {
        // Chunks are compressed by a policy the hub applies at start (its age is a setting).
        // Segments per point, ordered by time: what the rollups and the point queries read.
        await client.query(
          `ALTER TABLE samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'point_id', timescaledb.compress_orderby = 'time')`,
        );
        return;
      }
      const { rows: kind } = await client.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE oid = 'samples'::regclass`);
      if (kind[0]?.relkind === 'p') return; // partitioned already (by hand)
      // Partitions are UTC months, made on demand by SamplePartitions before each write. There
      // is no DEFAULT partition on purpose: once a default partition holds rows of a month,
      // creating that month's partition fails (PostgreSQL refuses a partition whose range has
      // rows in the default one), so a single early write would block the month for good.
      // The rows move in this transaction: for a large table it takes a while and needs the
      // table's size again in free disk until it commits.
      await client.query(`
        ALTER TABLE samples RENAME TO samples_unpartitioned;
        ALTER TABLE samples_unpartitioned RENAME CONSTRAINT samples_pkey TO samples_unpartitioned_pkey;
        CREATE TABLE samples (
          point_id    bigint NOT NULL,
          time        timestamptz NOT NULL,
          value       double precision,
          text_value  text,
          quality     sample_quality NOT NULL,
          reason      text,
          PRIMARY KEY (point_id, time)
        ) PARTITION BY RANGE (time);
      `);
      const { rows } = await client.query<{ month: Date }>(
        `SELECT DISTINCT date_trunc('month', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM samples_unpartitioned ORDER BY 1`,
      );
      for (const { month } of rows) await client.query(createPartitionSql(monthOf(month.getTime())));
      await client.query(`
        INSERT INTO samples (point_id, time, value, text_value, quality, reason)
        SELECT point_id, time, value, text_value, quality, reason FROM samples_unpartitioned;
        DROP TABLE samples_unpartitioned;
      `);
    },
  },
  {
    id: 5,
    name: 'points keep no latest sample; rollup tables leave room to update rows in place',
    async up(client) {
      // Rewriting thousands of point rows at every write cost more than the samples' own
      // insert; Storage.points() finds each point's latest sample in the primary key's index.
      await client.query(`ALTER TABLE points DROP COLUMN last_time, DROP COLUMN last_value, DROP COLUMN last_text, DROP COLUMN last_quality`);
      // Plain PostgreSQL: every write adds to rollup rows. With free room on its page, a row is
      // updated in place (a HOT update: no new index entry); full pages force a new index entry
      // at every update. Applies to pages written from now on.
      const { rows } = await client.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relkind = 'r' AND relname IN ('rollup_hour', 'rollup_day', 'rollup_month') AND relnamespace = current_schema()::regnamespace`,
      );
      for (const { relname } of rows) await client.query(`ALTER TABLE ${relname} SET (fillfactor = 70)`);
    },
  },
];
