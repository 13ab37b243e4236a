/**
 * Migrations 6 to 17: what the city adds to its time series (service data, API tokens and
 * audit, objectives, meters, accounts, utility meters, projects and prices, budget lines, the
 * fleet). The file is full: the next migration goes at the end of migrations-fleet.ts. Never
 * edit a migration that has shipped: add one.
 */
import type { Migration } from './types.js';

export const cityMigrations: readonly Migration[] = [
  {
    id: 6,
    name: 'service data: sources and values submitted by municipal agents, with their corrections',
    async up(client) {
      // Service data (hub/src/service-data/): values the municipal services submit, such as
      // reception waiting times or calls answered, by API or CSV file. The period of a value is
      // (period_start, granularity): a local day or month of the city starts at its local
      // midnight (of the 1st), and an instantaneous value has granularity 'instant' and its exact
      // time. A correction never updates a value: it inserts a new row and marks the previous
      // one superseded, so that every version stays with who submitted it, when and how.
      await client.query(`
        CREATE TABLE service_sources (
          key         text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          name        text NOT NULL CHECK (name <> ''),
          -- Column mapping of the source's CSV files (CsvMapping); null until one is saved.
          mapping     jsonb,
          created_at  timestamptz NOT NULL DEFAULT now(),
          updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE service_values (
          id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          source_key    text NOT NULL REFERENCES service_sources (key),
          metric        text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$' AND length(metric) <= 100),
          -- 'city', 'site:<site key>' or 'building:<building key>': catalog keys as text, no
          -- foreign key (data may come before the catalog knows the building).
          scope         text NOT NULL CHECK (scope ~ '^(city|(site|building):[a-z0-9][a-z0-9_-]{0,62})$'),
          period_start  timestamptz NOT NULL,
          granularity   text NOT NULL CHECK (granularity IN ('instant', 'day', 'month')),
          value         double precision NOT NULL CHECK (value <> 'NaN' AND value NOT IN ('Infinity', '-Infinity')),
          -- Provenance: the principal id, when, and how (an API call, or a CSV file and its row).
          submitted_by  text NOT NULL,
          submitted_at  timestamptz NOT NULL DEFAULT now(),
          via           text NOT NULL CHECK (via IN ('api', 'csv')),
          file_name     text,
          file_row      integer,
          -- The version this one corrects; that one's superseded_at is this one's submitted_at.
          supersedes    bigint REFERENCES service_values (id),
          -- Null while this is the current version.
          superseded_at timestamptz,
          CHECK ((via = 'csv') = (file_name IS NOT NULL AND file_row IS NOT NULL))
        );
        -- One current version per (source, metric, scope, period); the write path's lookup.
        CREATE UNIQUE INDEX service_values_current ON service_values (source_key, metric, scope, period_start, granularity)
          WHERE superseded_at IS NULL;
        -- Reads and aggregates: current values of some metrics (and scopes) over a time range.
        CREATE INDEX service_values_by_metric ON service_values (metric, scope, period_start) INCLUDE (value, granularity)
          WHERE superseded_at IS NULL;
        -- Every version of one value, for its history.
        CREATE INDEX service_values_versions ON service_values (source_key, metric, scope, period_start);
      `);
    },
  },
  {
    id: 7,
    name: 'API tokens with roles, and the audit of API writes',
    async up(client) {
      // The roles are spelled out rather than taken from ROLES: a shipped migration must not
      // change when the code's list does. `public` is having no token, so no token has it.
      await client.query(`
        CREATE TABLE api_tokens (
          id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          label         text NOT NULL CHECK (label <> ''),
          role          text NOT NULL CHECK (role IN ('admin', 'operator', 'technician', 'director', 'elected', 'agent')),
          -- Site keys a technician's token is limited to; NULL (every site) for the other roles.
          sites         text[] CHECK ((role = 'technician') = (sites IS NOT NULL AND cardinality(sites) > 0)),
          -- SHA-256 of the token's secret. The secret is shown once, when the token is created,
          -- and stored nowhere.
          secret_hash   bytea NOT NULL CHECK (length(secret_hash) = 32),
          created_at    timestamptz NOT NULL DEFAULT now(),
          created_by    text NOT NULL,
          -- Updated at most once a minute: a day-level "is it still used", not a request log.
          last_used_at  timestamptz,
          revoked_at    timestamptz,
          revoked_by    text
        );
        -- One row per API request that may change something (any method but GET, HEAD, OPTIONS)
        -- and reached a route, whatever its outcome.
        CREATE TABLE api_audit (
          id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          -- When the response was sent.
          at            timestamptz NOT NULL,
          -- The token's id, or 'anonymous'; never the token.
          principal_id  text NOT NULL,
          role          text NOT NULL,
          method        text NOT NULL,
          -- The route as declared (/api/objectives/:id) and the path requested (/api/objectives/12).
          route         text NOT NULL,
          target        text NOT NULL,
          status_code   smallint NOT NULL,
          -- What was changed, in short: the route's own summary, or the top level of the body,
          -- secrets redacted.
          summary       jsonb
        );
        CREATE INDEX api_audit_at ON api_audit (at);
        CREATE INDEX api_audit_principal_at ON api_audit (principal_id, at);
      `);
    },
  },
  {
    id: 8,
    name: 'objectives, their versions and results; light points; imported outdoor temperatures',
    async up(client) {
      await client.query(`
        -- One row per version of an objective's definition; the current one is not superseded.
        CREATE TABLE objectives (
          id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          key            text NOT NULL,
          version        integer NOT NULL,
          definition     jsonb NOT NULL,
          published      boolean NOT NULL,
          created_at     timestamptz NOT NULL DEFAULT now(),
          created_by     text NOT NULL,
          superseded_at  timestamptz,
          UNIQUE (key, version)
        );
        CREATE UNIQUE INDEX objectives_current ON objectives (key) WHERE superseded_at IS NULL;
        -- Results per version, scope (city, site:<key>, building:<key>) and period.
        CREATE TABLE objective_results (
          objective_id     bigint NOT NULL REFERENCES objectives (id),
          scope            text NOT NULL,
          parent           text,
          level            text NOT NULL,
          period           text NOT NULL,
          period_start     timestamptz NOT NULL,
          period_end       timestamptz NOT NULL,
          value            double precision,
          target           double precision,
          status           text NOT NULL CHECK (status IN ('green', 'amber', 'red', 'unknown')),
          previous_value   double precision,
          last_year_value  double precision,
          -- For a period in progress: where it is heading.
          forecast         double precision,
          complete         boolean NOT NULL,
          -- When the result last changed (an evaluation with the same outcome leaves the row).
          computed_at      timestamptz NOT NULL,
          PRIMARY KEY (objective_id, scope, period_start)
        );
        CREATE INDEX objective_results_parent ON objective_results (objective_id, parent, period_start);
        -- Public lighting: the light points a building (a lighting cabinet, a district) serves.
        ALTER TABLE buildings ADD COLUMN light_points integer CHECK (light_points >= 0);
        -- Daily mean outdoor temperatures imported from a weather service, for degree-days where
        -- no outdoor sensor reports.
        CREATE TABLE outdoor_temperatures (
          day     date PRIMARY KEY,
          mean_c  double precision NOT NULL,
          source  text NOT NULL
        );
      `);
    },
  },
  {
    id: 9,
    name: 'the gateways that may serve a building',
    async up(client) {
      await client.query(`
        -- The ids of the gateways the catalog lets announce this building (the catalog file's
        -- gateways); null: any gateway may.
        ALTER TABLE buildings ADD COLUMN gateways text[];
      `);
    },
  },
  {
    id: 10,
    name: "the roles and conversion coefficients of a building's meters",
    async up(client) {
      await client.query(`
        -- The catalog file's meters of the building: [{ point, role: main | sub, submeterOf?,
        -- conversions?: [{ from: YYYY-MM, kWhPerUnit, source }] }] (objectives/meters.ts); null:
        -- none declared (roles from point tags, else the default).
        ALTER TABLE buildings ADD COLUMN meters jsonb;
      `);
    },
  },
  {
    id: 11,
    name: 'what the data leaves uncovered in an objective result',
    async up(client) {
      await client.query(`
        -- Local days gone by in the period without data from a source the formula reads, and
        -- hours at the period's ends no meter reading brackets (see Gaps in objectives/engine.ts).
        ALTER TABLE objective_results
          ADD COLUMN missing_days integer NOT NULL DEFAULT 0 CHECK (missing_days >= 0),
          ADD COLUMN unbracketed_hours double precision NOT NULL DEFAULT 0 CHECK (unbracketed_hours >= 0);
      `);
    },
  },
  {
    id: 12,
    name: 'people: accounts, their sessions and sign-ins through OpenID Connect',
    async up(client) {
      // The roles are listed as in api_tokens: a new role is a new migration.
      await client.query(`
        -- A person who signs in to the dashboard (machines use api_tokens).
        CREATE TABLE accounts (
          username       text PRIMARY KEY CHECK (username ~ '^[a-z0-9._-]{1,64}$'),
          -- The display name, recorded with every write of the person.
          name           text NOT NULL CHECK (name <> ''),
          email          text,
          role           text NOT NULL CHECK (role IN ('admin', 'operator', 'technician', 'director', 'elected', 'agent')),
          -- Site keys a technician is limited to; NULL (every site) for the other roles.
          sites          text[] CHECK ((role = 'technician') = (sites IS NOT NULL AND cardinality(sites) > 0)),
          -- scrypt$<N>$<r>$<p>$<salt>$<hash> (auth/passwords.ts); NULL: no password, sign-in through
          -- OpenID Connect only.
          password_hash  text,
          -- The identity provider's issuer and subject, once the person has signed in through it.
          oidc_issuer    text,
          oidc_subject   text,
          created_at     timestamptz NOT NULL DEFAULT now(),
          created_by     text NOT NULL,
          updated_at     timestamptz NOT NULL DEFAULT now(),
          disabled_at    timestamptz,
          CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL)),
          UNIQUE (oidc_issuer, oidc_subject)
        );
        CREATE UNIQUE INDEX accounts_email ON accounts (lower(email)) WHERE email IS NOT NULL;
        -- A signed-in browser: the SHA-256 of its cookie's random id, never the id.
        CREATE TABLE sessions (
          id_hash              bytea PRIMARY KEY CHECK (length(id_hash) = 32),
          username             text NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
          -- Sent back in x-csrf-token with every write made with the session.
          csrf_token           text NOT NULL,
          method               text NOT NULL CHECK (method IN ('password', 'oidc')),
          created_at           timestamptz NOT NULL DEFAULT now(),
          last_seen_at         timestamptz NOT NULL DEFAULT now(),
          -- Idle expiry, pushed back on use but never past absolute_expires_at.
          expires_at           timestamptz NOT NULL,
          absolute_expires_at  timestamptz NOT NULL
        );
        CREATE INDEX sessions_username ON sessions (username);
        CREATE INDEX sessions_expires ON sessions (expires_at);
        -- A sign-in through OpenID Connect under way: what the callback must find again, bound to
        -- the browser by the SHA-256 of a cookie's random id. Minutes long, used once.
        CREATE TABLE oidc_logins (
          id_hash        bytea PRIMARY KEY CHECK (length(id_hash) = 32),
          state          text NOT NULL,
          nonce          text NOT NULL,
          code_verifier  text NOT NULL,
          return_to      text NOT NULL,
          expires_at     timestamptz NOT NULL
        );
        -- The display name of the person who made a write in a session (principal_id is then
        -- account:<username>); NULL for tokens and anonymous callers.
        ALTER TABLE api_audit ADD COLUMN principal_name text;
      `);
    },
  },
  {
    id: 13,
    name: 'utility meters: connectors, delivery points, collection runs, replaced readings',
    async up(client) {
      await client.query(`
        -- A utility's API the city has access to (hub/src/utility): Enedis Data Connect, GRDF ADICT.
        CREATE TABLE utility_connectors (
          key            text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
          kind           text NOT NULL CHECK (kind IN ('enedis', 'grdf')),
          name           text NOT NULL CHECK (name <> ''),
          base_url       text NOT NULL,
          -- The page where a customer consents to the city reading a delivery point (Enedis: its
          -- customer space's authorize page, on another host than the API); null: base_url's.
          authorize_url  text,
          client_id      text NOT NULL,
          -- The client secret, AES-256-GCM under the hub's secret key (utility/secrets.ts); never read back by the API.
          client_secret  bytea,
          enabled        boolean NOT NULL DEFAULT true,
          -- Local hour at which it collects each day (utilities publish yesterday's data in the morning).
          collect_hour   integer NOT NULL DEFAULT 7 CHECK (collect_hour BETWEEN 0 AND 23),
          -- Days read again at each run, for the corrections utilities make after the fact.
          lookback_days  integer NOT NULL DEFAULT 7 CHECK (lookback_days BETWEEN 0 AND 60),
          -- The hub collecting it now, and until when its lease holds (renewed at each window):
          -- several hubs on one database never collect one connector twice at once.
          lease_holder   text,
          lease_until    timestamptz,
          created_at     timestamptz NOT NULL DEFAULT now(),
          updated_at     timestamptz NOT NULL DEFAULT now()
        );
        -- A utility meter (Enedis PRM, GRDF PCE) and the building it measures. Fed by a connector,
        -- by imported files, or both.
        CREATE TABLE utility_delivery_points (
          utility        text NOT NULL CHECK (utility IN ('enedis', 'grdf', 'other')),
          id             text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$'),
          energy         text NOT NULL CHECK (energy IN ('elec', 'gas', 'heat', 'chilled', 'oil', 'wood')),
          building_key   text NOT NULL,
          connector_key  text REFERENCES utility_connectors (key) ON DELETE SET NULL,
          -- Whether the connector also collects the load curve (Enedis: a consent and a meter setting of its own).
          load_curve     boolean NOT NULL DEFAULT false,
          -- First local day to collect; catch-up never asks before it.
          since          date NOT NULL,
          -- Until when the customer's consent runs, when known.
          consent_until  date,
          last_error     text,
          created_at     timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (utility, id)
        );
        -- Each collection by a connector and each imported file: who, when, what it brought.
        CREATE TABLE utility_runs (
          id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          connector_key  text REFERENCES utility_connectors (key) ON DELETE SET NULL,
          via            text NOT NULL CHECK (via IN ('api', 'csv')),
          format         text,
          file_name      text,
          file_sha256    text,
          submitted_by   text NOT NULL,
          started_at     timestamptz NOT NULL DEFAULT now(),
          finished_at    timestamptz,
          ok             boolean,
          readings       bigint NOT NULL DEFAULT 0,
          inserted       bigint NOT NULL DEFAULT 0,
          corrected      bigint NOT NULL DEFAULT 0,
          unchanged      bigint NOT NULL DEFAULT 0,
          -- Row errors of a file ({row, column?, message}[], at most a thousand) or the run's failures.
          errors         jsonb NOT NULL DEFAULT '[]',
          error_count    integer NOT NULL DEFAULT 0,
          days_missing   integer
        );
        CREATE INDEX utility_runs_by_connector ON utility_runs (connector_key, started_at DESC);
        -- Every sample a later reading replaced (a utility's correction), with the run that replaced it.
        CREATE TABLE sample_history (
          point_id     bigint NOT NULL,
          time         timestamptz NOT NULL,
          value        double precision,
          text_value   text,
          quality      sample_quality NOT NULL,
          reason       text,
          replaced_at  timestamptz NOT NULL DEFAULT now(),
          replaced_by  bigint REFERENCES utility_runs (id)
        );
        CREATE INDEX sample_history_by_point ON sample_history (point_id, time);
        -- Rollups to rebuild after a bulk load of samples on plain PostgreSQL (rollups.ts,
        -- queueRebuild): queued with the samples, drained by queries and by the hub.
        CREATE TABLE rollup_rebuilds (
          id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          point_ids  bigint[] NOT NULL,
          from_time  timestamptz NOT NULL,
          to_time    timestamptz NOT NULL
        );
        -- A consent asked of a delivery point's customer, until the utility's page sends them back
        -- with it: what the callback must find again. Minutes long, used once.
        CREATE TABLE utility_consents (
          state          text PRIMARY KEY,
          connector_key  text NOT NULL REFERENCES utility_connectors (key) ON DELETE CASCADE,
          delivery_point text NOT NULL,
          duration       text NOT NULL,
          asked_by       text NOT NULL,
          expires_at     timestamptz NOT NULL
        );
      `);
    },
  },
  {
    id: 14,
    name: 'projects: versioned definitions, energy tariffs and their bill imports, emission factors',
    async up(client) {
      // Projects (hub/src/projects/): the city's actions with their costs, versioned as
      // objectives are: a change inserts a new row and marks the current one superseded. A
      // deleted project has no current row; its versions stay, with who deleted it and when.
      // Prices (€/kWh per energy and range of local days, with their source) and emission
      // factors (kgCO2e/kWh per energy and year) turn its measured kWh into € and tCO2e.
      await client.query(`
        CREATE TABLE projects (
          id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          key            text NOT NULL,
          version        integer NOT NULL,
          definition     jsonb NOT NULL,
          published      boolean NOT NULL,
          created_at     timestamptz NOT NULL DEFAULT now(),
          created_by     text NOT NULL,
          superseded_at  timestamptz,
          deleted_by     text,
          UNIQUE (key, version)
        );
        CREATE UNIQUE INDEX projects_current ON projects (key) WHERE superseded_at IS NULL;
        -- Each CSV file of supplier bill lines imported: who, when, what it brought.
        CREATE TABLE energy_price_imports (
          id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          file_name     text NOT NULL,
          submitted_by  text NOT NULL,
          submitted_at  timestamptz NOT NULL DEFAULT now(),
          rows          integer NOT NULL DEFAULT 0,
          stored        integer NOT NULL DEFAULT 0,
          error_count   integer NOT NULL DEFAULT 0,
          -- The first row errors ({row, column, message}[]).
          errors        jsonb NOT NULL DEFAULT '[]'
        );
        CREATE TABLE energy_tariffs (
          id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          energy          text NOT NULL,
          valid_from      date NOT NULL,
          valid_to        date CHECK (valid_to IS NULL OR valid_to >= valid_from),
          euros_per_kwh   double precision NOT NULL CHECK (euros_per_kwh >= 0),
          source          text NOT NULL CHECK (source <> ''),
          import_id       bigint REFERENCES energy_price_imports (id) ON DELETE SET NULL,
          created_by      text NOT NULL,
          created_at      timestamptz NOT NULL DEFAULT now(),
          UNIQUE (energy, valid_from)
        );
        CREATE TABLE emission_factors (
          energy            text NOT NULL,
          year              integer NOT NULL,
          kg_co2e_per_kwh   double precision NOT NULL CHECK (kg_co2e_per_kwh >= 0),
          source            text NOT NULL CHECK (source <> ''),
          created_by        text NOT NULL,
          created_at        timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (energy, year)
        );
      `);
    },
  },
  {
    id: 15,
    name: 'budget lines: spending per scope, service and nature, their imports, and the metric each service is measured by',
    async up(client) {
      // The cost of services (hub/src/costs). Energy bills stay where the utility module stores
      // them (samples of billed-amount points) and are read from there, never copied here.
      await client.query(`
        -- Each CSV file of spending lines imported: who sent which file, when, what it brought.
        CREATE TABLE cost_imports (
          id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          file_name     text NOT NULL,
          file_sha256   text NOT NULL,
          submitted_by  text NOT NULL,
          submitted_at  timestamptz NOT NULL DEFAULT now(),
          rows          integer NOT NULL DEFAULT 0,
          stored        integer NOT NULL DEFAULT 0,
          error_count   integer NOT NULL DEFAULT 0,
          -- The first row errors ({row, column?, message}[], at most a thousand).
          errors        jsonb NOT NULL DEFAULT '[]'
        );
        -- A spending line: an amount in € over local days of the city [period_from, period_to).
        CREATE TABLE budget_lines (
          id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          period_from  date NOT NULL,
          period_to    date NOT NULL CHECK (period_to > period_from),
          -- 'city', 'site:<key>' or 'building:<key>', checked against the catalog when imported.
          scope        text NOT NULL CHECK (scope ~ '^(city|(site|building):[a-z0-9][a-z0-9_-]{0,62})$'),
          service      text NOT NULL CHECK (service ~ '^[a-z][a-z0-9_-]{0,62}$'),
          nature       text NOT NULL CHECK (nature IN ('energy', 'maintenance', 'staff', 'rent', 'other')),
          -- €, to the cent; negative for a credit.
          amount_eur   numeric(14, 2) NOT NULL,
          label        text NOT NULL DEFAULT '',
          -- Provenance: the import and the file's row (the header is row 1).
          import_id    bigint NOT NULL REFERENCES cost_imports (id) ON DELETE CASCADE,
          import_row   integer NOT NULL
        );
        CREATE INDEX budget_lines_period ON budget_lines (period_from, period_to);
        CREATE INDEX budget_lines_import ON budget_lines (import_id);
        -- The service-data metric a service's costs are divided by (accueil: visitors).
        CREATE TABLE cost_units (
          service     text PRIMARY KEY CHECK (service ~ '^[a-z][a-z0-9_-]{0,62}$'),
          metric      text NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$' AND length(metric) <= 100),
          -- The unit in words, singular (visiteur reçu, appel décroché).
          unit        text NOT NULL CHECK (unit <> ''),
          updated_by  text NOT NULL,
          updated_at  timestamptz NOT NULL DEFAULT now()
        );
      `);
    },
  },
  {
    id: 16,
    name: 'open data: datasets switched on, points published, derived monthly tables, the publisher; the national building identifier',
    async up(client) {
      // hub/src/open-data: what the city publishes. A dataset not listed in open_data_datasets
      // is not published; points are published one by one; the building energy and project
      // savings tables are recomputed from the objectives' engine after each evaluation.
      await client.query(`
        -- The building's identifier in the national building register (RNB), such as PG46YY6YWCX8.
        ALTER TABLE buildings ADD COLUMN rnb_id text CHECK (rnb_id ~ '^[0-9A-Z]{12}$');
        CREATE TABLE open_data_datasets (
          id          text PRIMARY KEY,
          enabled     boolean NOT NULL,
          licence     text NOT NULL CHECK (licence IN ('etalab-2.0', 'odbl-1.0')),
          updated_by  text NOT NULL,
          updated_at  timestamptz NOT NULL DEFAULT now()
        );
        -- Points whose hourly values are published (point-hourly dataset).
        CREATE TABLE open_data_points (
          point_id      bigint PRIMARY KEY REFERENCES points (id),
          published_by  text NOT NULL,
          published_at  timestamptz NOT NULL DEFAULT now()
        );
        -- Who publishes: named in the DCAT-AP catalogue (dct:publisher, dcat:contactPoint, dct:spatial).
        CREATE TABLE open_data_settings (
          singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          publisher      text NOT NULL CHECK (publisher <> ''),
          homepage       text,
          contact_email  text NOT NULL CHECK (contact_email ~ '^[^@\\s]+@[^@\\s]+$'),
          -- The city's INSEE code (commune), for the spatial coverage.
          insee_code     text CHECK (insee_code ~ '^[0-9][0-9AB][0-9]{3}$'),
          updated_by     text NOT NULL,
          updated_at     timestamptz NOT NULL DEFAULT now()
        );
        -- Main meters' energy per building, local month and energy, as the dashboard computes it.
        CREATE TABLE open_data_building_energy (
          building_key  text NOT NULL,
          month         date NOT NULL,
          energy        text NOT NULL,
          kwh           double precision NOT NULL,
          complete      boolean NOT NULL,
          -- When the row last changed.
          computed_at   timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (building_key, month, energy)
        );
        -- Published projects' measured savings per energy and local month of their reporting period.
        CREATE TABLE open_data_project_savings (
          project_key        text NOT NULL,
          month              date NOT NULL,
          energy             text NOT NULL,
          title_fr           text NOT NULL,
          title_en           text NOT NULL,
          method             text NOT NULL,
          baseline_kwh       double precision,
          measured_kwh       double precision,
          avoided_kwh        double precision,
          avoided_eur        double precision,
          avoided_tco2e      double precision,
          computed_at        timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (project_key, month, energy)
        );
      `);
    },
  },
  {
    id: 17,
    name: "fleet: the gateways as their inventory reports show them, and the fleet's history",
    async up(client) {
      // hub/src/fleet: the latest inventory report of each gateway (as decodeInventory accepted
      // it) and whether it reports on time; fleet_events is the fleet's history and audit, written
      // by the inventory intake, the silence check, configuration pushes and plugin rollouts.
      await client.query(`
        CREATE TABLE fleet_gateways (
          id                 text PRIMARY KEY,
          state              text NOT NULL CHECK (state IN ('online', 'silent')),
          state_since        timestamptz NOT NULL,
          first_seen         timestamptz NOT NULL,
          last_seen          timestamptz NOT NULL,
          -- The report's own interval: silent after MISSED_REPORTS_BEFORE_SILENT of them.
          report_interval_s  real NOT NULL,
          report             jsonb NOT NULL
        );
        CREATE INDEX fleet_gateways_online_seen ON fleet_gateways (last_seen) WHERE state = 'online';
        CREATE TABLE fleet_events (
          id       bigserial PRIMARY KEY,
          at       timestamptz NOT NULL DEFAULT now(),
          -- Null for an event of the whole fleet (a plugin published).
          gateway  text NULL,
          kind     text NOT NULL,
          -- 'gateway:<id>', 'hub' (automatic), a token's or person's name, 'cli:<os user>'.
          actor    text NOT NULL,
          detail   jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX fleet_events_gateway_at ON fleet_events (gateway, at DESC);
      `);
    },
  },
];
