import pg from 'pg';

export interface ApiPoolOptions {
  /** Longest a query of an API request may run before PostgreSQL cancels it, ms. Default 10,000. */
  statementTimeoutMs?: number;
  /** Connections for the API's queries. Default 4. */
  connections?: number;
}

/** The API's own connections to the hub's database, apart from ingest's and the storage jobs'. */
export interface ApiPools {
  /** For the routes' queries: each statement cancelled after `statementTimeoutMs` (SQLSTATE 57014). */
  api: pg.Pool;
  /** One connection for /healthz alone, so that it never waits behind the routes' queries. */
  health: pg.Pool;
  end(): Promise<void>;
}

/**
 * Opens the API's pools on the same database as `base` (storage's pool, whose connection
 * settings are reused). Storage's pool keeps no statement timeout: ingest, migrations and the
 * storage jobs may rightly run longer than any request should.
 */
export function openApiPools(base: pg.Pool, options: ApiPoolOptions = {}): ApiPools {
  const { statementTimeoutMs = 10_000, connections = 4 } = options;
  const settings = base.options;
  // No JIT compilation for the routes' queries: they are short and a person waits for them, and
  // PostgreSQL compiles whenever a plan's estimate passes jit_above_cost (a completeness query
  // over the partitions of years of samples did), 50 to 200 ms, more than the query itself.
  const connectionOptions = [settings.options, '-c jit=off'].filter(Boolean).join(' ');
  const api = new pg.Pool({ ...settings, options: connectionOptions, max: connections, statement_timeout: statementTimeoutMs, idleTimeoutMillis: 30_000 });
  const health = new pg.Pool({ ...settings, max: 1, statement_timeout: 2000, query_timeout: 3000, connectionTimeoutMillis: 3000 });
  // An idle connection that fails is dropped by the pool; the next query opens another.
  for (const pool of [api, health]) pool.on('error', () => undefined);
  return {
    api,
    health,
    end: async () => {
      await Promise.all([api.end(), health.end()]);
    },
  };
}
