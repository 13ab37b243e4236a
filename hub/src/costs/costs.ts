/**
 * The cost of services, between the API and the database: imports of spending lines (csv.ts),
 * the metric each service is measured by, and a year's spending of a scope with its figures per
 * unit (€ per m², € per visitor received…), so that a city shows what a service costs next to
 * how well it performs.
 *
 * What counts as spending in a year:
 * - budget lines (table budget_lines), each prorated by the days of its period in the year;
 * - energy bills imported by the utility module (hub/src/utility/store.ts: samples of the
 *   `billed-amount` points, in €, of the sources `utility:bills:<building>-<energy>`), read where
 *   they are, prorated the same way over their bill period, counted as nature `energy` and
 *   service `energie`. A city that imports its energy bills there should not enter them again
 *   as budget lines: they would count twice.
 *
 * A scope's spending is its own lines and those of what it holds: a site's are the site's lines
 * and its buildings'; the city's are every line. Its area is its buildings' heated floor area
 * from the catalog (m²), and a service's quantity is the sum, over the year, of the current
 * values of the service's metric (service data) at the scope and what it holds. A metric summed
 * must be a count (visitors, calls answered), not an average (waiting minutes).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { decodeUploadText } from '../http/upload-text.js';
import { periodEnd } from '../utility/store.js';
import { addDays, dayStart, localDay } from '../utility/local-time.js';
import { openBudgetCsv, type BudgetRow, type RowProblem } from './csv.js';
import { cents, CostsError, ENERGY_SERVICE, prorate, show, type Nature, type SpendingLine } from './model.js';

/** Row problems an import lists; beyond, only their count. */
export const ROW_ERRORS_LISTED = 1000;
/** Rows written per statement of an import: what an import holds in memory at most. */
const IMPORT_CHUNK_ROWS = 2000;
/** How far before a year a bill may start and still reach into it (bills run a month or two, a year at most). */
const BILL_LOOKBACK_DAYS = 3 * 366;

/** What an import did, in counts: its size does not grow with the file's. */
export interface CostImportSummary {
  id: number;
  file: string;
  delimiter: string;
  /** Data rows in the file (blank rows are not counted). */
  rows: number;
  /** Lines stored. */
  stored: number;
  rowsInError: number;
  errorCount: number;
  /** The first ROW_ERRORS_LISTED problems, by row. */
  errors: RowProblem[];
}

/** An import as recorded. */
export interface CostImportRun {
  id: number;
  file: string;
  sha256: string;
  submittedBy: string;
  submittedAt: string;
  rows: number;
  stored: number;
  errorCount: number;
  errors: RowProblem[];
}

/** The metric a service's costs are divided by. */
export interface CostUnit {
  service: string;
  /** A service-data metric whose values are counts (visitors, calls.answered). */
  metric: string;
  /** The unit in words, singular: `visiteur reçu`. */
  unit: string;
}

export interface SpendingQuery {
  year: number;
  /** `city` (default), `site:<key>` or `building:<key>` of the catalog. */
  scope?: string;
  /** Only this service. */
  service?: string;
}

/** A year's spending of one scope (of the lines', not rolled up), service and nature, from one source. */
export interface SpendingRow {
  scope: string;
  service: string;
  nature: Nature;
  /** `budget`: budget lines; `bills`: the utility bills. */
  source: 'budget' | 'bills';
  /** €, prorated to the year, to the cent. */
  amountEur: number;
}

/** A service's figures for the whole scope asked. */
export interface ServiceCost {
  service: string;
  amountEur: number;
  /** € per m² of the scope's heated floor area; null without an area. */
  eurPerM2: number | null;
  /** The service's unit (PUT /api/costs/units) and what the year counted of it; null when none is named. */
  perUnit: { metric: string; unit: string; quantity: number; eurPerUnit: number | null } | null;
}

export interface SpendingReport {
  year: number;
  scope: string;
  service: string | null;
  /** Heated floor area of the scope's buildings, m²; null when none has one. */
  areaM2: number | null;
  /** Buildings of the scope without an area in the catalog (their spending counts, their area does not). */
  buildingsWithoutArea: string[];
  spending: SpendingRow[];
  services: ServiceCost[];
  totalEur: number;
  eurPerM2: number | null;
}

export interface CostsOptions {
  /** For imports and the units' mapping. */
  pool: pg.Pool;
  /** For reads (the API's pool, with its statement timeout); default `pool`. */
  readPool?: pg.Pool;
  /** The city's time zone: the year's bounds for bills and service data. */
  timezone: string;
}

export class Costs {
  private readonly read: pg.Pool;

  constructor(private readonly options: CostsOptions) {
    this.read = options.readPool ?? options.pool;
  }

  /**
   * Imports a CSV file of spending lines in one transaction: every good row is stored, the bad
   * ones counted and the first ROW_ERRORS_LISTED listed, the run recorded. A file refused whole
   * (not CSV, header lacking a column, too large, bad encoding) stores nothing.
   * @throws CostsError COSTS_FILE_REFUSED, COSTS_FILE_TOO_LARGE
   */
  async importCsv(
    bytes: AsyncIterable<Uint8Array | string>,
    options: { fileName: string; submittedBy: string; contentType?: string; maxBytes?: number },
  ): Promise<CostImportSummary> {
    const hash = createHash('sha256');
    async function* hashed() {
      for await (const chunk of bytes) {
        hash.update(chunk);
        yield chunk;
      }
    }
    const text = decodeUploadText(hashed(), {
      contentType: options.contentType,
      maxBytes: options.maxBytes,
      tooLarge: (max) =>
        new CostsError('COSTS_FILE_TOO_LARGE', `the file is larger than ${max} bytes, the most this hub takes; split it; nothing was imported`),
      notUtf8: (near) =>
        new CostsError(
          'COSTS_FILE_REFUSED',
          `the file is not UTF-8 throughout (its start is, its bytes near ${near} are not): save it in UTF-8 or in Windows-1252 throughout; nothing was imported`,
        ),
    });
    const file = await openBudgetCsv(text);
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows: runRows } = await client.query<{ id: string }>(
        `INSERT INTO cost_imports (file_name, file_sha256, submitted_by) VALUES ($1, '', $2) RETURNING id`,
        [options.fileName, options.submittedBy],
      );
      const id = Number(runRows[0]!.id);
      const summary: CostImportSummary = {
        id,
        file: options.fileName,
        delimiter: file.delimiter,
        rows: 0,
        stored: 0,
        rowsInError: 0,
        errorCount: 0,
        errors: [],
      };
      let chunk: BudgetRow[] = [];
      const flush = async () => {
        const rows = chunk;
        chunk = [];
        await resolveScopes(client, rows);
        const good: { row: number; line: SpendingLine }[] = [];
        for (const r of rows) {
          if (r.problems.length) {
            summary.rowsInError++;
            summary.errorCount += r.problems.length;
            for (const p of r.problems) if (summary.errors.length < ROW_ERRORS_LISTED) summary.errors.push(p);
          } else good.push({ row: r.row, line: r.line! });
        }
        if (!good.length) return;
        await client.query(
          `INSERT INTO budget_lines (period_from, period_to, scope, service, nature, amount_eur, label, import_id, import_row)
           SELECT f, t, s, v, n, a, l, $8, r FROM unnest($1::date[], $2::date[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[], $9::int[])
             AS u(f, t, s, v, n, a, l, r)`,
          [
            good.map((g) => g.line.from),
            good.map((g) => g.line.to),
            good.map((g) => g.line.scope),
            good.map((g) => g.line.service),
            good.map((g) => g.line.nature),
            good.map((g) => g.line.amountEur.toFixed(2)),
            good.map((g) => g.line.label),
            id,
            good.map((g) => g.row),
          ],
        );
        summary.stored += good.length;
      };
      for await (const row of file.rows) {
        summary.rows++;
        chunk.push(row);
        if (chunk.length >= IMPORT_CHUNK_ROWS) await flush();
      }
      await flush();
      await client.query(`UPDATE cost_imports SET file_sha256 = $2, rows = $3, stored = $4, error_count = $5, errors = $6 WHERE id = $1`, [
        id,
        hash.digest('hex'),
        summary.rows,
        summary.stored,
        summary.errorCount,
        JSON.stringify(summary.errors),
      ]);
      await client.query('COMMIT');
      return summary;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The latest imports, newest first (at most `limit`). */
  async imports(limit = 100): Promise<CostImportRun[]> {
    const { rows } = await this.read.query<{
      id: string;
      file_name: string;
      file_sha256: string;
      submitted_by: string;
      submitted_at: Date;
      rows: number;
      stored: number;
      error_count: number;
      errors: RowProblem[];
    }>(`SELECT * FROM cost_imports ORDER BY id DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({
      id: Number(r.id),
      file: r.file_name,
      sha256: r.file_sha256,
      submittedBy: r.submitted_by,
      submittedAt: r.submitted_at.toISOString(),
      rows: r.rows,
      stored: r.stored,
      errorCount: r.error_count,
      errors: r.errors,
    }));
  }

  /**
   * Withdraws an import and its lines (a file imported twice, or by mistake).
   * @throws CostsError COSTS_IMPORT_UNKNOWN
   */
  async removeImport(id: number): Promise<{ lines: number }> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query(`DELETE FROM budget_lines WHERE import_id = $1`, [id]);
      const run = await client.query(`DELETE FROM cost_imports WHERE id = $1`, [id]);
      if (!run.rowCount) throw new CostsError('COSTS_IMPORT_UNKNOWN', `no import ${id} (GET /api/costs/imports lists them)`);
      await client.query('COMMIT');
      return { lines: rowCount ?? 0 };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The metric each service is measured by, by service. */
  async units(): Promise<CostUnit[]> {
    const { rows } = await this.read.query<CostUnit>(`SELECT service, metric, unit FROM cost_units ORDER BY service`);
    return rows;
  }

  /**
   * Replaces the whole mapping of services to their metric.
   * @throws CostsError COSTS_UNITS_INVALID when a service is given twice
   */
  async setUnits(units: readonly CostUnit[], by: string): Promise<CostUnit[]> {
    const seen = new Set<string>();
    for (const [i, u] of units.entries()) {
      if (seen.has(u.service)) throw new CostsError('COSTS_UNITS_INVALID', `units[${i}].service: ${show(u.service)} is given twice`);
      seen.add(u.service);
    }
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM cost_units');
      await client.query(
        `INSERT INTO cost_units (service, metric, unit, updated_by) SELECT s, m, u, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS x(s, m, u)`,
        [units.map((u) => u.service), units.map((u) => u.metric), units.map((u) => u.unit), by],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return this.units();
  }

  /**
   * A year's spending of a scope, by scope of the lines, service, nature and source, and its
   * figures per m² and per unit of each service.
   * @throws CostsError COSTS_REQUEST_INVALID for a site or building the catalog does not have
   */
  async spending(query: SpendingQuery): Promise<SpendingReport> {
    const { year, service } = query;
    const scope = query.scope ?? 'city';
    const { timezone } = this.options;
    const buildings = await this.buildingsOf(scope);
    // The lines' scopes within the scope asked; null: every one (the city).
    const scopes = scope === 'city' ? null : scope.startsWith('site:') ? [scope, ...buildings.map((b) => `building:${b.key}`)] : [scope];
    const from = `${year}-01-01`;
    const to = `${year + 1}-01-01`;

    const { rows: lines } = await this.read.query<{ scope: string; service: string; nature: Nature; eur: number }>(
      `SELECT scope, service, nature,
              sum(amount_eur::float8 * (least(period_to, $2::date) - greatest(period_from, $1::date)) / (period_to - period_from)) AS eur
         FROM budget_lines
        WHERE period_from < $2::date AND period_to > $1::date
          AND ($3::text[] IS NULL OR scope = ANY ($3::text[])) AND ($4::text IS NULL OR service = $4)
        GROUP BY scope, service, nature`,
      [from, to, scopes, service ?? null],
    );
    const spending: SpendingRow[] = lines.map((l) => ({ scope: l.scope, service: l.service, nature: l.nature, source: 'budget', amountEur: cents(l.eur) }));
    if (service === undefined || service === ENERGY_SERVICE) spending.push(...(await this.bills(year, scope === 'city' ? null : buildings.map((b) => b.key))));
    spending.sort(
      (a, b) => a.scope.localeCompare(b.scope) || a.service.localeCompare(b.service) || a.nature.localeCompare(b.nature) || a.source.localeCompare(b.source),
    );

    const withArea = buildings.filter((b) => b.area !== null);
    const areaM2 = withArea.length ? withArea.reduce((sum, b) => sum + b.area!, 0) : null;
    const perM2 = (eur: number) => (areaM2 ? round4(eur / areaM2) : null);

    const byService = new Map<string, number>();
    for (const row of spending) byService.set(row.service, (byService.get(row.service) ?? 0) + row.amountEur);
    const units = new Map((await this.units()).map((u) => [u.service, u]));
    const measured = [...byService.keys()].flatMap((s) => (units.has(s) ? [units.get(s)!.metric] : []));
    const quantities = await this.quantities(measured, scopes, dayStart(from, timezone), dayStart(to, timezone));
    const services: ServiceCost[] = [...byService.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, eur]) => {
        const unit = units.get(name);
        const quantity = unit ? (quantities.get(unit.metric) ?? 0) : 0;
        return {
          service: name,
          amountEur: cents(eur),
          eurPerM2: perM2(eur),
          perUnit: unit ? { metric: unit.metric, unit: unit.unit, quantity, eurPerUnit: quantity > 0 ? round4(eur / quantity) : null } : null,
        };
      });
    const total = [...byService.values()].reduce((a, b) => a + b, 0);
    return {
      year,
      scope,
      service: service ?? null,
      areaM2,
      buildingsWithoutArea: buildings.filter((b) => b.area === null).map((b) => b.key),
      spending,
      services,
      totalEur: cents(total),
      eurPerM2: perM2(total),
    };
  }

  /** The buildings a scope holds, with their area (m²). */
  private async buildingsOf(scope: string): Promise<{ key: string; area: number | null }[]> {
    const [kind, key] = scope === 'city' ? ['city', null] : [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1)];
    const { rows } = await this.read.query<{ key: string; area: number | null }>(
      `SELECT b.key, b.area_m2 AS area FROM buildings b JOIN sites s ON s.id = b.site_id
        WHERE $1 = 'city' OR ($1 = 'site' AND s.key = $2) OR ($1 = 'building' AND b.key = $2) ORDER BY b.key`,
      [kind, key],
    );
    if (kind === 'building' && !rows.length) throw new CostsError('COSTS_REQUEST_INVALID', `scope: ${show(scope)} is not a building of the catalog`);
    if (kind === 'site' && !rows.length) {
      const site = await this.read.query(`SELECT 1 FROM sites WHERE key = $1`, [key]);
      if (!site.rowCount) throw new CostsError('COSTS_REQUEST_INVALID', `scope: ${show(scope)} is not a site of the catalog`);
    }
    return rows;
  }

  /** The utility bills' amounts (€) in the year, by building (`null`: every building), prorated by local days. */
  private async bills(year: number, buildings: string[] | null): Promise<SpendingRow[]> {
    const { timezone } = this.options;
    const yearStart = dayStart(`${year}-01-01`, timezone);
    const { rows } = await this.read.query<{ building: string; t: number; value: number; reason: string | null }>(
      `SELECT g.building_key AS building, (extract(epoch FROM s.time) * 1000)::float8 AS t, s.value, s.reason
         FROM points p JOIN gateways g ON g.id = p.gateway_id JOIN samples s ON s.point_id = p.id
        WHERE p.gateway_id LIKE 'utility:bills:%' AND p.point_key = 'billed-amount' AND s.value IS NOT NULL
          AND g.building_key IS NOT NULL AND ($3::text[] IS NULL OR g.building_key = ANY ($3::text[]))
          AND s.time >= $1 AND s.time < $2`,
      [new Date(dayStart(addDays(`${year}-01-01`, -BILL_LOOKBACK_DAYS), timezone)), new Date(dayStart(`${year + 1}-01-01`, timezone)), buildings],
    );
    const byBuilding = new Map<string, number>();
    for (const r of rows) {
      const end = periodEnd(r.t, r.reason, timezone);
      if (end <= yearStart) continue;
      const eur = prorate(r.value, localDay(r.t, timezone), localDay(end, timezone), year);
      byBuilding.set(r.building, (byBuilding.get(r.building) ?? 0) + eur);
    }
    return [...byBuilding.entries()].map(([building, eur]) => ({
      scope: `building:${building}`,
      service: ENERGY_SERVICE,
      nature: 'energy' as const,
      source: 'bills' as const,
      amountEur: cents(eur),
    }));
  }

  /** The year's sums of current service-data values of each metric at `scopes` (null: every scope). */
  private async quantities(metrics: string[], scopes: string[] | null, from: number, to: number): Promise<Map<string, number>> {
    if (!metrics.length) return new Map();
    const { rows } = await this.read.query<{ metric: string; total: number }>(
      `SELECT metric, sum(value) AS total FROM service_values
        WHERE superseded_at IS NULL AND metric = ANY ($1::text[]) AND period_start >= $2 AND period_start < $3
          AND ($4::text[] IS NULL OR scope = ANY ($4::text[]))
        GROUP BY metric`,
      [metrics, new Date(from), new Date(to), scopes],
    );
    return new Map(rows.map((r) => [r.metric, r.total]));
  }
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/**
 * Turns each good row's bare key into `building:<key>` or `site:<key>` as the catalog has it,
 * and adds a problem to each row whose building or site the catalog does not have.
 */
async function resolveScopes(client: pg.ClientBase, rows: BudgetRow[]): Promise<void> {
  const keyOf = (scope: string) => scope.slice(scope.indexOf(':') + 1);
  const keys = [...new Set(rows.flatMap((r) => (r.line && r.line.scope !== 'city' ? [keyOf(r.line.scope)] : [])))];
  if (!keys.length) return;
  const { rows: found } = await client.query<{ k: string; building: boolean; site: boolean }>(
    `SELECT u.k, EXISTS (SELECT 1 FROM buildings WHERE key = u.k) AS building, EXISTS (SELECT 1 FROM sites WHERE key = u.k) AS site FROM unnest($1::text[]) AS u(k)`,
    [keys],
  );
  const known = new Map(found.map((f) => [f.k, f]));
  for (const r of rows) {
    const line = r.line;
    if (!line || line.scope === 'city') continue;
    const k = known.get(keyOf(line.scope))!;
    let problem: string | undefined;
    if (line.scope.startsWith('building:')) problem = k.building ? undefined : `${show(keyOf(line.scope))} is not a building of the catalog`;
    else if (line.scope.startsWith('site:')) problem = k.site ? undefined : `${show(keyOf(line.scope))} is not a site of the catalog`;
    else if (k.building && k.site)
      problem = `${show(line.scope)} is both a building and a site of the catalog: write building:${line.scope} or site:${line.scope}`;
    else if (k.building) line.scope = `building:${line.scope}`;
    else if (k.site) line.scope = `site:${line.scope}`;
    else problem = `${show(line.scope)} is neither a building nor a site of the catalog`;
    if (problem) {
      r.problems.push({ row: r.row, column: r.scopeColumn, message: `row ${r.row}, column ${show(r.scopeColumn)}: ${problem}` });
      delete r.line;
    }
  }
}
