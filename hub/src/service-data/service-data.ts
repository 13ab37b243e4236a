import type pg from 'pg';
import type { Principal } from '../auth/principal.js';
import { importRows, notInCatalog, scopesNotInCatalog, type CsvImportSummary, type UnknownScopes } from './csv-import.js';
import { checkMapping, openCsv, type CsvMapping } from './csv.js';
import {
  checkMetric,
  checkScope,
  checkSourceKey,
  checkValue,
  parsePeriod,
  ServiceDataError,
  show,
  type ParsedPeriod,
  type ServiceDataIssue,
  type ServiceValue,
  type ServiceValueInput,
  type SubmitResult,
} from './model.js';

import { checkList, formatOffset, startSql, toBound, toSource, toValue, valueColumns, type ServiceSource, type TimeBound, type ValueRow } from './rows.js';

export type { ServiceSource, TimeBound } from './rows.js';

/** How submitted values came: `rows[i]` is the row of `values[i]` in the CSV file. */
export type SubmitHow = { via: 'api' } | { via: 'csv'; file: string; rows: readonly number[] };

export interface CsvImportOptions {
  /** The mapping of this file; default the source's saved one. */
  mapping?: unknown;
  /**
   * Save `mapping` as the source's for its next imports (once it matched the file's header).
   * Whether the caller may is for the API to decide (routes.ts: the roles that define sources).
   */
  saveMapping?: boolean;
  /** Values of a site or building the catalog does not have: refuse their rows (default) or keep them. */
  unknownScopes?: UnknownScopes;
}

export interface CurrentQuery {
  /** Default every metric. */
  metrics?: readonly string[];
  /** Default every scope. */
  scopes?: readonly string[];
  /** Default every source. */
  sources?: readonly string[];
  /** Values whose period starts at or after `from` and before `to`. */
  from?: TimeBound;
  to?: TimeBound;
  /** At most this many values (by metric, scope, period, source). Default and maximum 100,000. */
  limit?: number;
}

export interface AggregateQuery {
  metrics: readonly string[];
  /** Default every scope. */
  scopes?: readonly string[];
  /** Values whose period starts at or after `from` and before `to`: give bucket starts. */
  from: TimeBound;
  to: TimeBound;
  step: 'day' | 'month';
  /** IANA time zone the buckets are cut in. Default the city's. */
  timezone?: string;
}

/** The current values of one metric and scope whose period starts in one bucket. */
export interface AggregateRow {
  metric: string;
  scope: string;
  /** Start of the bucket, local time with its offset: `2026-10-01T00:00:00+02:00`. */
  bucket: string;
  sum: number;
  /** Plain mean of the values (not weighted). */
  avg: number;
  min: number;
  max: number;
  count: number;
}

const MAX_LIMIT = 100_000;
/** First key of the advisory locks that serialise writers of one source and metric (see write). */
const SERVICE_VALUES_LOCK = 0x5e4d_0001;
const VALUE_FIELDS = ['source', 'metric', 'scope', 'period', 'value'];

/** A value checked, ready to write. */
interface Entry {
  source: string;
  metric: string;
  scope: string;
  period: ParsedPeriod;
  value: number;
  row: number | null;
}

/**
 * Service data in the hub's database (migration 6): sources, values and their corrections.
 *
 * Periods of a day or a month are the city's local days and months, in the time zone the
 * database's rollups are cut in (set at its creation; the hub refuses to start with another).
 * Writes are transactions: a submission is stored whole or not at all; an import stores the
 * values of its good rows together. Concurrent writes of one value, from this process or
 * another hub's, are serialised: each supersedes the version the previous one stored. Safe to
 * share between requests.
 */
export class ServiceData {
  private constructor(
    private readonly pool: pg.Pool,
    /** The city's IANA time zone. */
    readonly timezone: string,
  ) {}

  /** Service data of a migrated database (through migration 6). */
  static async open(pool: pg.Pool): Promise<ServiceData> {
    const { rows } = await pool.query<{ timezone: string }>('SELECT timezone FROM rollup_settings');
    return new ServiceData(pool, rows[0]?.timezone ?? 'Europe/Paris');
  }

  /**
   * Creates a source or renames it. `mapping` replaces the saved one; left out, the saved one is
   * kept; null removes it.
   * @throws ServiceDataError SERVICE_SOURCE_INVALID
   */
  async defineSource(key: string, name: string, mapping?: unknown): Promise<{ source: ServiceSource; created: boolean }> {
    const issues: ServiceDataIssue[] = [];
    const keyProblem = checkSourceKey(key);
    if (keyProblem) issues.push({ path: 'key', message: keyProblem });
    if (typeof name !== 'string' || name.trim() === '') issues.push({ path: 'name', message: `expected a non-empty name, got ${show(name)}` });
    let checked: CsvMapping | null | undefined = mapping === null ? null : undefined;
    if (mapping !== undefined && mapping !== null) {
      try {
        checked = checkMapping(mapping);
      } catch (error) {
        if (!(error instanceof ServiceDataError)) throw error;
        issues.push(...error.issues);
      }
    }
    if (issues.length) throw ServiceDataError.of('SERVICE_SOURCE_INVALID', issues);
    const { rows } = await this.pool.query(
      `INSERT INTO service_sources AS s (key, name, mapping) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET name = excluded.name, updated_at = now(),
         mapping = CASE WHEN $4 THEN s.mapping ELSE excluded.mapping END
       RETURNING s.*, (xmax = 0) AS created`,
      [key, name.trim(), checked === undefined || checked === null ? null : JSON.stringify(checked), checked === undefined],
    );
    return { source: toSource(rows[0]), created: rows[0].created };
  }

  /**
   * Saves the mapping of a source's CSV files.
   * @throws ServiceDataError SERVICE_SOURCE_INVALID, SERVICE_SOURCE_UNKNOWN
   */
  async setMapping(sourceKey: string, mapping: unknown): Promise<ServiceSource> {
    const checked = checkMapping(mapping);
    const { rows } = await this.pool.query(`UPDATE service_sources SET mapping = $2, updated_at = now() WHERE key = $1 RETURNING *`, [
      sourceKey,
      JSON.stringify(checked),
    ]);
    if (!rows.length) throw unknownSource(sourceKey);
    return toSource(rows[0]);
  }

  async sources(): Promise<ServiceSource[]> {
    const { rows } = await this.pool.query(`SELECT * FROM service_sources ORDER BY key`);
    return rows.map(toSource);
  }

  async source(key: string): Promise<ServiceSource | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM service_sources WHERE key = $1`, [key]);
    return rows[0] ? toSource(rows[0]) : undefined;
  }

  /**
   * Stores values, all or none: a value given again for its (source, metric, scope, period)
   * supersedes the current one, unless it is the same number (then it is `unchanged`).
   * @throws ServiceDataError SERVICE_VALUES_INVALID (issues under `values[i]`), SERVICE_SOURCE_UNKNOWN;
   *   nothing is stored
   */
  async submit(principal: Pick<Principal, 'id'>, values: readonly ServiceValueInput[], how: SubmitHow = { via: 'api' }): Promise<SubmitResult> {
    const issues: ServiceDataIssue[] = [];
    if (typeof principal?.id !== 'string' || principal.id === '') throw new TypeError('submit: the principal has no id');
    if (how.via === 'csv' && how.rows.length !== values.length) throw new TypeError('submit: a CSV submission needs the row of every value');
    const entries: Entry[] = [];
    const seen = new Map<string, number>();
    values.forEach((input, i) => {
      const at = `values[${i}]`;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        issues.push({ path: at, message: `expected a value with source, metric, scope, period and value, got ${show(input)}` });
        return;
      }
      const before = issues.length;
      for (const field of Object.keys(input)) {
        if (!VALUE_FIELDS.includes(field)) issues.push({ path: `${at}.${field}`, message: `is not a field of a value (${VALUE_FIELDS.join(', ')})` });
      }
      const problems: [string, string | undefined][] = [
        ['source', checkSourceKey(input.source)],
        ['metric', checkMetric(input.metric)],
        ['scope', checkScope(input.scope)],
        ['value', checkValue(input.value)],
      ];
      for (const [field, problem] of problems) if (problem) issues.push({ path: `${at}.${field}`, message: problem });
      const period = parsePeriod(input.period);
      if (typeof period === 'string') issues.push({ path: `${at}.period`, message: period });
      if (issues.length > before || typeof period === 'string') return;
      const key = `${input.source}\0${input.metric}\0${input.scope}\0${period.granularity}\0${period.text}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        issues.push({ path: at, message: `the same source, metric, scope and period as values[${earlier}]: give each value once` });
        return;
      }
      seen.set(key, i);
      entries.push({
        source: input.source,
        metric: input.metric,
        scope: input.scope,
        period,
        value: input.value,
        row: how.via === 'csv' ? how.rows[i]! : null,
      });
    });
    if (issues.length) throw ServiceDataError.of('SERVICE_VALUES_INVALID', issues);
    if (!entries.length) return { stored: [], superseded: [], unchanged: [] };
    const sources = [...new Set(entries.map((e) => e.source))];
    const { rows } = await this.pool.query<{ key: string }>(`SELECT key FROM service_sources WHERE key = ANY($1)`, [sources]);
    const known = new Set(rows.map((r) => r.key));
    const unknown = values.flatMap((v, i) =>
      known.has(v.source) ? [] : [{ path: `values[${i}].source`, message: `no source ${show(v.source)} is defined (an operator defines sources)` }],
    );
    if (unknown.length) throw ServiceDataError.of('SERVICE_SOURCE_UNKNOWN', unknown);
    return this.transaction((client) => this.write(client, principal.id, entries, how.via === 'csv' ? how.file : null));
  }

  /**
   * Imports a CSV file of a source, read as a stream (memory flat in its size): the values of its
   * good rows are stored (as `submit` would, with the file and row as provenance), together, in
   * one transaction; each bad row writes nothing and is counted, the first ones reported.
   * @throws ServiceDataError CSV_FILE_REFUSED (empty, unreadable, a mapped column missing, no
   *   mapping, the mapping's scope unknown), CSV_FILE_TOO_LARGE, SERVICE_SOURCE_UNKNOWN,
   *   SERVICE_SOURCE_INVALID (the mapping given); nothing is stored
   */
  async importCsv(
    principal: Pick<Principal, 'id'>,
    sourceKey: string,
    fileName: string,
    csv: string | AsyncIterable<string>,
    options: CsvImportOptions = {},
  ): Promise<CsvImportSummary> {
    if (typeof principal?.id !== 'string' || principal.id === '') throw new TypeError('importCsv: the principal has no id');
    if (typeof fileName !== 'string' || fileName.trim() === '' || fileName.length > 255) {
      throw ServiceDataError.of('CSV_FILE_REFUSED', [{ path: 'file', message: `expected a file name of 1 to 255 characters, got ${show(fileName)}` }]);
    }
    const unknownScopes = options.unknownScopes ?? 'refuse';
    const source = await this.source(sourceKey);
    if (!source) throw unknownSource(sourceKey);
    const mapping = options.mapping !== undefined ? checkMapping(options.mapping) : source.mapping;
    if (!mapping) {
      throw new ServiceDataError(
        'CSV_FILE_REFUSED',
        `the source ${show(sourceKey)} has no saved mapping: give the mapping of this file; nothing was imported`,
        [{ path: 'mapping', message: 'is required: the source has no saved mapping' }],
      );
    }
    if (mapping.scope !== undefined && unknownScopes === 'refuse' && (await this.scopesNotInCatalog([mapping.scope])).size) {
      const message = `the scope ${notInCatalog(mapping.scope, 'import')}`;
      throw new ServiceDataError('CSV_FILE_REFUSED', `mapping.scope: ${message}; nothing was imported`, [{ path: 'mapping.scope', message }]);
    }
    const file = await openCsv(typeof csv === 'string' ? textOnce(csv) : csv, mapping);
    const save = options.saveMapping === true && options.mapping !== undefined;
    const summary = await this.transaction(async (client) => {
      if (save) await client.query(`UPDATE service_sources SET mapping = $2, updated_at = now() WHERE key = $1`, [sourceKey, JSON.stringify(mapping)]);
      return importRows(client, file, { source: sourceKey, unknownScopes, write: (entries) => this.write(client, principal.id, entries, fileName) });
    });
    return { source: sourceKey, file: fileName, ...summary, mappingSaved: save };
  }

  /** The scopes among `scopes` that name a site or building the catalog does not have. */
  scopesNotInCatalog(scopes: readonly string[]): Promise<Set<string>> {
    return scopesNotInCatalog(this.pool, scopes);
  }

  /**
   * Current values, ordered by metric, scope, period start and source.
   * @throws ServiceDataError SERVICE_QUERY_INVALID
   */
  async current(query: CurrentQuery = {}): Promise<ServiceValue[]> {
    const issues: ServiceDataIssue[] = [];
    const params: unknown[] = [this.timezone];
    const where = ['v.superseded_at IS NULL'];
    const list = (name: 'metrics' | 'scopes' | 'sources', column: string, check: (x: unknown) => string | undefined) => {
      const items = query[name];
      if (items === undefined || !checkList(items, name, check, issues)) return;
      params.push(items);
      where.push(`${column} = ANY($${params.length}::text[])`);
    };
    list('metrics', 'v.metric', checkMetric);
    list('scopes', 'v.scope', checkScope);
    list('sources', 'v.source_key', checkSourceKey);
    for (const [name, op] of [
      ['from', '>='],
      ['to', '<'],
    ] as const) {
      if (query[name] === undefined) continue;
      const bound = toBound(query[name], name, issues);
      if (!bound) continue;
      params.push(bound.text, bound.granularity);
      where.push(`v.period_start ${op} ${startSql(`$${params.length - 1}::text`, `$${params.length}::text`, '$1')}`);
    }
    const limit = query.limit ?? MAX_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      issues.push({ path: 'limit', message: `expected an integer from 1 to ${MAX_LIMIT}, got ${show(limit)}` });
    if (issues.length) throw ServiceDataError.of('SERVICE_QUERY_INVALID', issues);
    params.push(limit);
    const { rows } = await this.pool.query<ValueRow>(
      `SELECT ${valueColumns('$1')} FROM service_values v WHERE ${where.join(' AND ')}
        ORDER BY v.metric, v.scope, v.period_start, v.granularity, v.source_key LIMIT $${params.length}`,
      params,
    );
    return rows.map(toValue);
  }

  /**
   * Current values per metric, scope and local day or month: sum, mean, min, max and count of the
   * values whose period starts in the bucket, whatever their source. A monthly value has no day:
   * it is left out of daily buckets. Buckets without values are not returned. Ordered by metric,
   * scope, bucket.
   * @throws ServiceDataError SERVICE_QUERY_INVALID (bad arguments, unknown time zone)
   */
  async aggregate(query: AggregateQuery): Promise<AggregateRow[]> {
    const issues: ServiceDataIssue[] = [];
    if (!Array.isArray(query.metrics) || query.metrics.length === 0) issues.push({ path: 'metrics', message: 'expected a list of at least one metric' });
    else checkList(query.metrics, 'metrics', checkMetric, issues);
    if (query.scopes !== undefined) checkList(query.scopes, 'scopes', checkScope, issues);
    if (query.step !== 'day' && query.step !== 'month') issues.push({ path: 'step', message: `expected "day" or "month", got ${show(query.step)}` });
    const timezone = query.timezone ?? this.timezone;
    if (typeof timezone !== 'string' || timezone === '')
      issues.push({ path: 'timezone', message: `expected an IANA time zone such as Europe/Paris, got ${show(timezone)}` });
    const from = toBound(query.from, 'from', issues);
    const to = toBound(query.to, 'to', issues);
    if (issues.length) throw ServiceDataError.of('SERVICE_QUERY_INVALID', issues);
    const params: unknown[] = [timezone, query.step, query.metrics, from!.text, from!.granularity, to!.text, to!.granularity];
    let where = `v.superseded_at IS NULL AND v.metric = ANY($3::text[])
       AND v.period_start >= ${startSql('$4::text', '$5::text', '$1')} AND v.period_start < ${startSql('$6::text', '$7::text', '$1')}`;
    if (query.scopes !== undefined) {
      params.push(query.scopes);
      where += ` AND v.scope = ANY($8::text[])`;
    }
    if (query.step === 'day') where += ` AND v.granularity <> 'month'`;
    try {
      const { rows } = await this.pool.query<{
        metric: string;
        scope: string;
        local: string;
        offset_s: number;
        sum: number;
        avg: number;
        min: number;
        max: number;
        count: number;
      }>(
        `SELECT metric, scope, to_char(bucket AT TIME ZONE $1, 'YYYY-MM-DD"T"HH24:MI:SS') AS local,
                extract(epoch FROM (bucket AT TIME ZONE $1) - (bucket AT TIME ZONE 'UTC'))::int AS offset_s,
                sum, avg, min, max, count
           FROM (SELECT v.metric, v.scope, date_trunc($2, v.period_start, $1) AS bucket,
                        sum(v.value) AS sum, avg(v.value) AS avg, min(v.value) AS min, max(v.value) AS max, count(*)::int AS count
                   FROM service_values v WHERE ${where}
                  GROUP BY 1, 2, 3) AS b
          ORDER BY metric, scope, bucket`,
        params,
      );
      return rows.map((r) => ({
        metric: r.metric,
        scope: r.scope,
        bucket: r.local + formatOffset(r.offset_s),
        sum: r.sum,
        avg: r.avg,
        min: r.min,
        max: r.max,
        count: r.count,
      }));
    } catch (error) {
      if ((error as { code?: string }).code === '22023' && /time zone/.test((error as Error).message)) {
        throw ServiceDataError.of('SERVICE_QUERY_INVALID', [
          { path: 'timezone', message: `${show(timezone)} is not a time zone PostgreSQL knows (such as Europe/Paris)` },
        ]);
      }
      throw error;
    }
  }

  /**
   * Every version of one value, oldest first: the current one last (supersededAt null), unless
   * there is none. Empty when nothing was ever submitted for it.
   * @throws ServiceDataError SERVICE_QUERY_INVALID
   */
  async history(sourceKey: string, metric: string, scope: string, period: string): Promise<ServiceValue[]> {
    const issues: ServiceDataIssue[] = [];
    const problems: [string, string | undefined][] = [
      ['source', checkSourceKey(sourceKey)],
      ['metric', checkMetric(metric)],
      ['scope', checkScope(scope)],
    ];
    for (const [path, message] of problems) if (message) issues.push({ path, message });
    const parsed = parsePeriod(period);
    if (typeof parsed === 'string') issues.push({ path: 'period', message: parsed });
    if (issues.length) throw ServiceDataError.of('SERVICE_QUERY_INVALID', issues);
    const p = parsed as ParsedPeriod;
    const { rows } = await this.pool.query<ValueRow>(
      `SELECT ${valueColumns('$1')} FROM service_values v
        WHERE v.source_key = $2 AND v.metric = $3 AND v.scope = $4 AND v.granularity = $6
          AND v.period_start = ${startSql('$5::text', '$6::text', '$1')}
        ORDER BY v.id`,
      [this.timezone, sourceKey, metric, scope, p.text, p.granularity],
    );
    return rows.map(toValue);
  }

  /** Runs `work` in a transaction. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Writes checked entries (of known sources) in `client`'s transaction. */
  private async write(client: pg.ClientBase, submittedBy: string, entries: readonly Entry[], file: string | null): Promise<SubmitResult> {
    const columns = [
      entries.map((e) => e.source),
      entries.map((e) => e.metric),
      entries.map((e) => e.scope),
      entries.map((e) => e.period.granularity),
      entries.map((e) => e.period.text),
    ];
    // Writers of the same source and metric take turns, until their transaction ends: each one
    // reads the current versions after the previous one committed, and supersedes those. (A lock
    // per value would exhaust the lock table with a large file; a lock per source and metric
    // costs concurrent imports of one source a wait, which is rare.) Taken in one order: no
    // deadlock.
    await client.query(
      `SELECT pg_advisory_xact_lock(${SERVICE_VALUES_LOCK}, k.h)
         FROM (SELECT DISTINCT hashtext(u.s || '/' || u.m) AS h FROM unnest($1::text[], $2::text[]) AS u(s, m) ORDER BY 1) AS k`,
      [columns[0], columns[1]],
    );
    const current = await client.query<ValueRow & { ord: string; id: string }>(
      `WITH input AS (
         SELECT u.ord, u.s, u.m, u.sc, u.g, ${startSql('u.p', 'u.g', '$1')} AS start
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(s, m, sc, g, p, ord)
       )
       SELECT i.ord, v.id, ${valueColumns('$1')}
         FROM input i JOIN service_values v
           ON v.source_key = i.s AND v.metric = i.m AND v.scope = i.sc AND v.period_start = i.start AND v.granularity = i.g
        WHERE v.superseded_at IS NULL`,
      [this.timezone, ...columns],
    );
    const previous = new Map(current.rows.map((r) => [Number(r.ord) - 1, r]));
    const unchanged: ServiceValue[] = [];
    const changed: { entry: Entry; supersedes: string | null }[] = [];
    entries.forEach((entry, i) => {
      const before = previous.get(i);
      if (before && before.value === entry.value) unchanged.push(toValue(before));
      else changed.push({ entry, supersedes: before?.id ?? null });
    });
    if (!changed.length) return { stored: [], superseded: [], unchanged };
    const superseded = await client.query<ValueRow & { id: string }>(
      `UPDATE service_values v SET superseded_at = now() WHERE v.id = ANY($2::bigint[]) RETURNING v.id, ${valueColumns('$1')}`,
      [this.timezone, changed.flatMap((c) => (c.supersedes ? [c.supersedes] : []))],
    );
    const e = changed.map((c) => c.entry);
    const stored = await client.query<ValueRow & { id: string }>(
      `INSERT INTO service_values AS v (source_key, metric, scope, granularity, period_start, value, submitted_by, via, file_name, file_row, supersedes)
       SELECT u.s, u.m, u.sc, u.g, ${startSql('u.p', 'u.g', '$1')}, u.val, $9, $10, $11, u.r, u.sup
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::int[], $12::bigint[])
              WITH ORDINALITY AS u(s, m, sc, g, p, val, r, sup, ord)
        ORDER BY u.ord
       RETURNING v.id, ${valueColumns('$1')}`,
      [
        this.timezone,
        e.map((x) => x.source),
        e.map((x) => x.metric),
        e.map((x) => x.scope),
        e.map((x) => x.period.granularity),
        e.map((x) => x.period.text),
        e.map((x) => x.value),
        e.map((x) => x.row),
        submittedBy,
        file === null ? 'api' : 'csv',
        file,
        changed.map((c) => c.supersedes),
      ],
    );
    const byId = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id);
    return { stored: stored.rows.sort(byId).map(toValue), superseded: superseded.rows.sort(byId).map(toValue), unchanged };
  }
}

async function* textOnce(text: string): AsyncGenerator<string> {
  yield text;
}

function unknownSource(key: string): ServiceDataError {
  return ServiceDataError.of('SERVICE_SOURCE_UNKNOWN', [{ path: 'source', message: `no source ${show(key)} is defined (an operator defines sources)` }]);
}
