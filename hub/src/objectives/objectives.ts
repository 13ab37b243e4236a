import type pg from 'pg';
import type { Formula } from './formula.js';
import { DEGREE_DAY_METHODS, loadObjectiveData, type DegreeDayMethod, type ServiceDataReader } from './data.js';
import { evaluateObjective, type Result, type Status } from './engine.js';
import { checkObjective, type ObjectiveDefinition, type Theme } from './model.js';

/** A version of an objective's definition, as stored. */
export interface StoredObjective {
  /** Id of this version (results point to it). */
  id: number;
  key: string;
  version: number;
  definition: ObjectiveDefinition;
  createdAt: string;
  createdBy: string;
}

/** A result whose status differs from the one stored before: published on NATS. */
export interface StatusChange {
  objective: string;
  version: number;
  scope: string;
  period: string;
  from: string | null;
  to: string;
  value: number | null;
  target: number | null;
}

export interface ObjectivesOptions {
  pool: pg.Pool;
  /** The city's time zone: periods are its local months, quarters and years. */
  timezone: string;
  services?: ServiceDataReader;
  /** How a day's degree-days are computed (see DegreeDayMethod). Default `mean`: the mean of the day's readings. */
  degreeDayMethod?: DegreeDayMethod;
  /** Called once per evaluation with the statuses that changed. */
  onStatusChanges?: (changes: StatusChange[]) => void;
}

export interface EvaluationSummary {
  objectives: number;
  results: number;
  changes: StatusChange[];
  /**
   * What the meters' roles leave to a default or declare twice (a building with two electricity
   * meters and no main one declared, …): the same sentences as `citypilot hub catalog import`,
   * now that the gateways have announced their points.
   */
  meterWarnings: string[];
  /** Milliseconds spent loading data, computing, and storing. */
  timings: { loadMs: number; computeMs: number; storeMs: number };
}

/**
 * Objectives: their versioned definitions, their evaluation over the city's data, and the
 * results stored per version, scope and period.
 */
export class Objectives {
  constructor(private readonly options: ObjectivesOptions) {
    const method = options.degreeDayMethod;
    if (method !== undefined && !DEGREE_DAY_METHODS.includes(method)) {
      throw new RangeError(`degreeDayMethod: ${JSON.stringify(method)} is not a degree-day method; expected one of ${DEGREE_DAY_METHODS.join(', ')}`);
    }
  }

  /** How the degree-days of the objectives are computed, for the exports that must agree with them (OPERAT). */
  get degreeDayMethod(): DegreeDayMethod {
    return this.options.degreeDayMethod ?? 'mean';
  }

  /** Grows whenever this process changes a definition or stores results: readers' caches key on it. */
  generation = 0;

  /**
   * Stores `input` as the objective's new version when it differs from the current one (checked
   * first: ObjectiveDefinitionError says what is wrong and nothing is stored). Results of older
   * versions are kept.
   */
  async define(input: unknown, by: string): Promise<{ objective: StoredObjective; created: boolean }> {
    const { definition } = checkObjective(input);
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`citypilot-objective:${definition.key}`]);
      const current = await client.query<Row>(`SELECT * FROM objectives WHERE key = $1 AND superseded_at IS NULL`, [definition.key]);
      if (current.rows[0] && canonical(current.rows[0].definition) === canonical(definition)) {
        await client.query('COMMIT');
        return { objective: fromRow(current.rows[0]), created: false };
      }
      await client.query(`UPDATE objectives SET superseded_at = now() WHERE key = $1 AND superseded_at IS NULL`, [definition.key]);
      const { rows } = await client.query<Row>(
        `INSERT INTO objectives (key, version, definition, published, created_by)
         VALUES ($1, coalesce((SELECT max(version) FROM objectives WHERE key = $1), 0) + 1, $2, $3, $4) RETURNING *`,
        [definition.key, JSON.stringify(definition), definition.published, by],
      );
      await client.query('COMMIT');
      this.generation++;
      return { objective: fromRow(rows[0]!), created: true };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /** Current versions, by theme then key; only published ones unless asked. */
  async list(options: { includeUnpublished: boolean; theme?: Theme }): Promise<StoredObjective[]> {
    const { rows } = await this.options.pool.query<Row>(
      `SELECT * FROM objectives WHERE superseded_at IS NULL AND ($1 OR published) AND ($2::text IS NULL OR definition->>'theme' = $2)
        ORDER BY definition->>'theme', key`,
      [options.includeUnpublished, options.theme ?? null],
    );
    return rows.map(fromRow);
  }

  /** Every version of an objective, newest first. */
  async versions(key: string): Promise<StoredObjective[]> {
    const { rows } = await this.options.pool.query<Row>(`SELECT * FROM objectives WHERE key = $1 ORDER BY version DESC`, [key]);
    return rows.map(fromRow);
  }

  /**
   * Evaluates the current version of every objective (or of `keys`) for the periods starting
   * from `fromMonth` (`YYYY-MM`, local) up to the one holding `now`, stores the results, and
   * reports the statuses that changed. Evaluating again is harmless: results are replaced.
   */
  async evaluate(options: { fromMonth: string; now?: Date; keys?: readonly string[] }): Promise<EvaluationSummary> {
    const now = options.now ?? new Date();
    const started = performance.now();
    const objectives = (await this.list({ includeUnpublished: true })).filter((o) => !options.keys || options.keys.includes(o.key));
    const checked = objectives.map((o) => ({ stored: o, formula: checkObjective(o.definition).formula }));
    const dependencies = checked.map((c) => c.formula.dependencies);
    // Through the end of the year in progress, so that its quarter and year are whole periods.
    const lastMonth = `${localMonth(now, this.options.timezone).slice(0, 4)}-12`;
    // Earlier data for baselines and last year's values.
    const baselineYears = objectives
      .map((o) => o.definition.target)
      .flatMap((t) => (t.kind === 'value' ? [] : t.baseline === 'reference-year' ? [] : [t.baseline]));
    const referenceYears = objectives.some((o) => o.definition.target.kind !== 'value' && o.definition.target.baseline === 'reference-year')
      ? (await this.options.pool.query<{ y: number | null }>(`SELECT min(energy_reference_year) AS y FROM buildings`)).rows[0]!.y
      : null;
    const firstYear = Math.min(Number(options.fromMonth.slice(0, 4)) - 1, ...baselineYears, ...(referenceYears ? [referenceYears] : []));
    const data = await loadObjectiveData(
      this.options.pool,
      this.options.timezone,
      {
        firstMonth: `${firstYear}-01`,
        lastMonth,
        tagSets: [
          ...dependencies.flatMap((d) => d.points.map((p) => p.tags)),
          ...objectives.flatMap((o) => (o.definition.scope.tags ? [o.definition.scope.tags] : [])),
        ],
        serviceMetrics: [...new Set(dependencies.flatMap((d) => [...d.services.map((s) => s.metric), ...(d.openingHours ? ['opening.hours'] : [])]))],
        degreeDayBases: [...new Set(dependencies.flatMap((d) => d.degreeDayBases))],
        degreeDayMethod: this.options.degreeDayMethod ?? 'mean',
        now,
      },
      this.options.services,
    );
    const loaded = performance.now();
    const computed: { stored: StoredObjective; results: Result[] }[] = checked.map(({ stored, formula }) => ({
      stored,
      results: evaluateObjective(stored.definition, formula as Formula, data, { firstPeriodMonth: options.fromMonth, now }),
    }));
    const evaluated = performance.now();
    const changes = await this.store(computed);
    this.generation++;
    const stored = performance.now();
    if (changes.length) this.options.onStatusChanges?.(changes);
    return {
      objectives: objectives.length,
      results: computed.reduce((n, c) => n + c.results.length, 0),
      changes,
      meterWarnings: data.meterWarnings,
      timings: { loadMs: loaded - started, computeMs: evaluated - loaded, storeMs: stored - evaluated },
    };
  }

  /** Replaces the stored results, in one statement; returns the statuses that changed. */
  private async store(computed: { stored: StoredObjective; results: Result[] }[]): Promise<StatusChange[]> {
    const rows = computed.flatMap(({ stored, results }) => results.map((r) => ({ stored, r })));
    if (!rows.length) return [];
    const col = <T>(f: (x: (typeof rows)[number]) => T) => rows.map(f);
    const { rows: changed } = await this.options.pool.query<{ objective_id: string; scope: string; period: string; old_status: string | null; status: Status }>(
      `WITH input AS (
         SELECT objective_id, scope, parent, period, to_timestamp(s / 1000.0) AS period_start, to_timestamp(e / 1000.0) AS period_end, value, target,
                status, previous_value, last_year_value, forecast, complete, level, missing_days, unbracketed_hours
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                       $9::text[], $10::float8[], $11::float8[], $12::float8[], $13::boolean[], $14::text[], $15::int[], $16::float8[])
                  AS u(objective_id, scope, parent, period, s, e, value, target, status, previous_value, last_year_value, forecast, complete, level,
                       missing_days, unbracketed_hours)
       ), old AS (
         SELECT r.objective_id, r.scope, r.period_start, r.status FROM objective_results r JOIN input i USING (objective_id, scope, period_start)
       ), upserted AS (
         INSERT INTO objective_results AS r (objective_id, scope, parent, level, period, period_start, period_end, value, target, status,
                                             previous_value, last_year_value, forecast, complete, missing_days, unbracketed_hours, computed_at)
         SELECT objective_id, scope, parent, level, period, period_start, period_end, value, target, status,
                previous_value, last_year_value, forecast, complete, missing_days, unbracketed_hours, now()
           FROM input ORDER BY objective_id, scope, period_start
         ON CONFLICT (objective_id, scope, period_start) DO UPDATE SET
           value = excluded.value, target = excluded.target, status = excluded.status, previous_value = excluded.previous_value,
           last_year_value = excluded.last_year_value, forecast = excluded.forecast, complete = excluded.complete,
           missing_days = excluded.missing_days, unbracketed_hours = excluded.unbracketed_hours, computed_at = now()
         -- Evaluated again with the same outcome: the row is left as it is.
         WHERE (r.value, r.target, r.status, r.previous_value, r.last_year_value, r.forecast, r.complete, r.missing_days, r.unbracketed_hours)
               IS DISTINCT FROM (excluded.value, excluded.target, excluded.status, excluded.previous_value, excluded.last_year_value, excluded.forecast,
                                 excluded.complete, excluded.missing_days, excluded.unbracketed_hours)
       )
       SELECT i.objective_id, i.scope, i.period, o.status AS old_status, i.status
         FROM input i LEFT JOIN old o USING (objective_id, scope, period_start)
        WHERE o.status IS DISTINCT FROM i.status`,
      [
        numbers(col((x) => x.stored.id)),
        col((x) => x.r.scope),
        col((x) => x.r.parent ?? null),
        col((x) => x.r.period),
        numbers(col((x) => x.r.start.getTime())),
        numbers(col((x) => x.r.end.getTime())),
        numbers(col((x) => x.r.value)),
        numbers(col((x) => x.r.target)),
        col((x) => x.r.status),
        numbers(col((x) => x.r.previous)),
        numbers(col((x) => x.r.lastYear)),
        numbers(col((x) => x.r.forecast)),
        col((x) => x.r.complete),
        col((x) => x.r.level),
        col((x) => x.r.gaps.missingDays),
        col((x) => x.r.gaps.unbracketedHours),
      ],
    );
    const byId = new Map(computed.map((c) => [c.stored.id, c]));
    return changed.map((c) => {
      const { stored, results } = byId.get(Number(c.objective_id))!;
      const r = results.find((x) => x.scope === c.scope && x.period === c.period)!;
      return {
        objective: stored.key,
        version: stored.version,
        scope: c.scope,
        period: c.period,
        from: c.old_status,
        to: c.status,
        value: r.value,
        target: r.target,
      };
    });
  }
}

interface Row {
  id: string;
  key: string;
  version: number;
  definition: ObjectiveDefinition;
  created_at: Date;
  created_by: string;
}

function fromRow(r: Row): StoredObjective {
  return { id: Number(r.id), key: r.key, version: r.version, definition: r.definition, createdAt: r.created_at.toISOString(), createdBy: r.created_by };
}

/** `YYYY-MM` of `instant` in `timezone`. */
export function localMonth(instant: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit' }).formatToParts(instant);
  return `${parts.find((p) => p.type === 'year')!.value}-${parts.find((p) => p.type === 'month')!.value}`;
}

/** JSON with object keys sorted: jsonb does not keep the order they were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Numbers as a PostgreSQL array literal: far cheaper than the client's conversion of an array. */
function numbers(values: readonly (number | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : String(v))).join(',')}}`;
}
