import type pg from 'pg';
import { loadObjectiveData, type DegreeDayMethod, type ServiceDataReader } from '../objectives/data.js';
import { evaluateObjective, kWhDefinition } from '../objectives/engine.js';
import { parseFormula } from '../objectives/formula.js';
import { ENERGIES } from '../objectives/meters.js';
import { localMonth } from '../objectives/objectives.js';
import type { EnergyPrices } from '../projects/energy-prices.js';
import { DEFAULT_DISCOUNT_RATE, evaluateProjects } from '../projects/evaluate.js';
import type { Projects } from '../projects/store.js';

/**
 * The two datasets computed by the objectives' engine rather than read by one query: each
 * building's monthly energy (the main meters, with the same conversions and the same rules as the
 * dashboard's building page) and the published projects' monthly savings. Stored in
 * open_data_building_energy and open_data_project_savings so that downloads and pages stream them
 * from the database like the others; a row's computed_at changes only when its values do, which
 * is what Last-Modified says.
 */
export interface DerivedOptions {
  pool: pg.Pool;
  timezone: string;
  degreeDayMethod?: DegreeDayMethod;
  /** Projects and prices; without them the project savings are left as they are. */
  projects?: { projects: Projects; prices: EnergyPrices; discountRate?: number };
  services?: ServiceDataReader;
  /** Years of months kept before the current one. Default 3. */
  years?: number;
}

export interface RefreshSummary {
  buildingRows: number;
  projectRows: number;
  /** Rows inserted, changed or removed. */
  changed: number;
}

/** Recomputes both tables; concurrent calls in other processes are serialised by an advisory lock. */
export async function refreshDerived(options: DerivedOptions, now = new Date()): Promise<RefreshSummary> {
  const energy = await buildingEnergyRows(options, now);
  const savings = options.projects ? await projectSavingsRows(options, now) : undefined;
  const client = await options.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('citypilot-open-data-derived'))`);
    let changed = await replaceRows(client, 'open_data_building_energy', ['building_key', 'month', 'energy'], ['kwh', 'complete'], energy);
    if (savings) {
      changed += await replaceRows(
        client,
        'open_data_project_savings',
        ['project_key', 'month', 'energy'],
        ['title_fr', 'title_en', 'method', 'baseline_kwh', 'measured_kwh', 'avoided_kwh', 'avoided_eur', 'avoided_tco2e'],
        savings,
      );
    }
    await client.query('COMMIT');
    return { buildingRows: energy.length, projectRows: savings?.length ?? 0, changed };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

type Row = Record<string, unknown>;

/**
 * Makes `table` hold exactly `rows`: inserts the new, updates the changed (computed_at with them),
 * deletes the rest. The rows are read as the table's own record type (jsonb_populate_recordset).
 */
async function replaceRows(client: pg.PoolClient, table: string, keys: readonly string[], columns: readonly string[], rows: readonly Row[]): Promise<number> {
  const all = [...keys, ...columns];
  const given = `jsonb_populate_recordset(NULL::${table}, $1::jsonb)`;
  const json = JSON.stringify(rows);
  const upsert = await client.query(
    `INSERT INTO ${table} (${all.join(', ')}) SELECT ${all.join(', ')} FROM ${given}
     ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${columns.map((c) => `${c} = excluded.${c}`).join(', ')}, computed_at = now()
      WHERE (${columns.map((c) => `${table}.${c}`).join(', ')}) IS DISTINCT FROM (${columns.map((c) => `excluded.${c}`).join(', ')})`,
    [json],
  );
  const removed = await client.query(
    `DELETE FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM ${given} x WHERE ${keys.map((c) => `x.${c} = t.${c}`).join(' AND ')})`,
    [json],
  );
  return (upsert.rowCount ?? 0) + (removed.rowCount ?? 0);
}

/** Every building's main meters' kWh per energy and local month, as the building page computes them. */
async function buildingEnergyRows(options: DerivedOptions, now: Date): Promise<Row[]> {
  const current = localMonth(now, options.timezone);
  const firstMonth = `${Number(current.slice(0, 4)) - (options.years ?? 3)}-01`;
  const data = await loadObjectiveData(options.pool, options.timezone, {
    firstMonth,
    lastMonth: current,
    tagSets: ENERGIES.map((e) => [e, 'meter', 'energy']),
    serviceMetrics: [],
    degreeDayBases: [],
    degreeDayMethod: options.degreeDayMethod ?? 'mean',
    now,
  });
  const rows: Row[] = [];
  for (const energy of ENERGIES) {
    const definition = kWhDefinition('open-data', { level: 'building' }, 'month');
    for (const r of evaluateObjective(definition, parseFormula(`delta("${energy} meter energy")`), data, { firstPeriodMonth: firstMonth, now })) {
      if (r.value === null || r.level !== 'building') continue;
      rows.push({
        building_key: r.scope.slice('building:'.length),
        month: `${r.period}-01`,
        energy,
        kwh: Math.round(r.value * 10) / 10,
        complete: r.complete && r.dataComplete,
      });
    }
  }
  return rows;
}

/** The published projects' monthly savings per energy, as their pages show them. */
async function projectSavingsRows(options: DerivedOptions, now: Date): Promise<Row[]> {
  const { projects, prices, discountRate = DEFAULT_DISCOUNT_RATE } = options.projects!;
  const [list, tariffs, factors] = await Promise.all([projects.list({ includeUnpublished: false }), prices.tariffs(), prices.factors()]);
  const published = list.filter((p) => p.supersededAt === null && p.definition.published);
  const { projects: evaluations } = await evaluateProjects(
    options.pool,
    published,
    { tariffs, factors },
    { timezone: options.timezone, discountRate, degreeDayMethod: options.degreeDayMethod, now },
    options.services,
  );
  const titles = new Map(published.map((p) => [p.key, p.definition.title]));
  const round = (x: number | null, digits: number) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);
  return evaluations.flatMap((e) =>
    e.energies.flatMap((s) =>
      s.months.map((m) => ({
        project_key: e.key,
        month: `${m.period}-01`,
        energy: s.energy,
        title_fr: titles.get(e.key)!.fr,
        title_en: titles.get(e.key)!.en,
        method: s.method,
        baseline_kwh: round(m.adjustedBaseline, 1),
        measured_kwh: round(m.measured, 1),
        avoided_kwh: round(m.avoidedKWh, 1),
        avoided_eur: round(m.euros, 2),
        avoided_tco2e: round(m.tCO2e, 4),
      })),
    ),
  );
}
