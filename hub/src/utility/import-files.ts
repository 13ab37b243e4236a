/**
 * Files utilities give their customers, imported into their delivery points' readings: Enedis's
 * exports (daily consumption, load curve), GRDF's (gas in kWh, from m³ when needed) and bill
 * lines of any supplier. Read as a stream (imports/: parsed in chunks, never whole in memory);
 * each chunk stored as it comes (a reading already there left, a corrected one replaced with its
 * previous version kept); a bad row reported by line and column, the good ones kept; the run
 * recorded with the file's name, its SHA-256 and who sent it.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { RunSummary } from './connector-types.js';
import type { UtilityConnectors } from './connectors.js';
import { parseBillsCsv, parseEnedisCsv, parseGrdfCsv, ROW_ERRORS_LISTED, type ImportedBillLine } from './imports/index.js';
import type { BillLine, PowerReading, RowError, UtilityEnergy } from './readings.js';
import type { DeliveryPoint, UtilityStore, WriteCounts } from './store.js';

export const IMPORT_FORMATS = ['enedis', 'grdf', 'bills'] as const;

/** A load curve's readings of one delivery point written in one transaction, at most (about 3 MB in memory). */
const BULK_READINGS = 50_000;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export interface ImportFileOptions {
  format: ImportFormat;
  fileName: string;
  /** Who sent it (the principal's id). */
  submittedBy: string;
  contentType?: string;
  maxBytes?: number;
}

export class UtilityImports {
  constructor(private readonly options: { pool: pg.Pool; store: UtilityStore; connectors: UtilityConnectors; timezone: string; onImported?: () => void }) {}

  /**
   * Imports one file. A file that is not of its format is refused whole (UtilityImportError,
   * nothing stored); otherwise every good row is stored and the bad ones listed in the run.
   */
  async importFile(bytes: AsyncIterable<Uint8Array | string>, options: ImportFileOptions): Promise<RunSummary> {
    const hash = createHash('sha256');
    async function* hashed() {
      for await (const chunk of bytes) {
        hash.update(chunk);
        yield chunk;
      }
    }
    const { connectors, timezone } = this.options;
    const run = await connectors.beginRun({
      connector: null,
      via: 'csv',
      format: options.format,
      fileName: options.fileName,
      submittedBy: options.submittedBy,
    });
    const totals: WriteCounts = { readings: 0, inserted: 0, corrected: 0, unchanged: 0 };
    const errors: RunSummary['errors'] = [];
    let errorCount = 0;
    const report = (list: readonly RowError[]) => {
      errorCount += list.length;
      for (const e of list) if (errors.length < ROW_ERRORS_LISTED) errors.push(e);
    };
    const add = (c: WriteCounts) => {
      totals.readings += c.readings;
      totals.inserted += c.inserted;
      totals.corrected += c.corrected;
      totals.unchanged += c.unchanged;
    };
    const parse = { timezone, contentType: options.contentType, maxBytes: options.maxBytes };
    // The write in flight while the next chunks are read (see below); awaited before the run ends, however it ends.
    let writing: Promise<void> = Promise.resolve();
    try {
      if (options.format === 'bills') {
        for await (const chunk of parseBillsCsv(hashed(), parse)) {
          if ('omittedErrors' in chunk) {
            errorCount += chunk.omittedErrors;
            continue;
          }
          report(chunk.errors);
          const { groups, unknown } = await this.billGroups(chunk.lines);
          report(unknown);
          for (const [key, lines] of groups) {
            const [building, energy] = key.split('\0') as [string, UtilityEnergy];
            add(await this.options.store.writeBills(building, energy, lines, run));
          }
        }
      } else {
        const utility = options.format;
        const chunks = utility === 'enedis' ? parseEnedisCsv(hashed(), parse) : parseGrdfCsv(hashed(), parse);
        const points = new Map<string, DeliveryPoint | undefined>();
        // One write goes to the database while the next chunks are read: the database and the
        // parsing each use a core. A load curve's chunks are gathered into writes of up to
        // BULK_READINGS of one delivery point: fewer transactions, each committed once.
        let gathered: { point: DeliveryPoint; power: PowerReading[] } | undefined;
        const write = async (job: () => Promise<void>) => {
          await writing;
          writing = job();
          // Awaited at the next write or below; a failure meanwhile is not left unhandled.
          writing.catch(() => undefined);
        };
        const flushPower = async () => {
          if (!gathered) return;
          const { point, power } = gathered;
          gathered = undefined;
          await write(async () => add(await this.options.store.writePower(point, power, run, { bulk: true })));
        };
        for await (const chunk of chunks) {
          if ('omittedErrors' in chunk) {
            errorCount += chunk.omittedErrors;
            continue;
          }
          report(chunk.errors);
          const id = 'prm' in chunk ? chunk.prm : chunk.pce;
          const readings = (chunk.consumption?.length ?? 0) + ('power' in chunk ? (chunk.power?.length ?? 0) : 0);
          if (!id || !readings) continue;
          if (!points.has(id)) points.set(id, await this.deliveryPoint(utility, id));
          const point = points.get(id);
          if (!point) {
            // Once per delivery point, however many chunks it has.
            if (!errors.some((e) => e.deliveryPoint === id)) {
              errorCount++;
              errors.push({ deliveryPoint: id, message: unlinked(utility, id) });
            }
            continue;
          }
          if (chunk.consumption?.length) {
            const consumption = chunk.consumption;
            await write(async () => add(await this.options.store.writeConsumption(point, consumption, run)));
          }
          if ('power' in chunk && chunk.power?.length) {
            if (gathered && gathered.point !== point) await flushPower();
            if (!gathered) gathered = { point, power: [] };
            for (const reading of chunk.power) gathered.power.push(reading);
            if (gathered.power.length >= BULK_READINGS) await flushPower();
          }
        }
        await flushPower();
        await writing;
      }
    } catch (error) {
      // What was being written when the file failed is stored or not, and counted, before the run ends.
      await writing.catch((failure: Error) => {
        if (failure !== error) errors.push({ message: failure.message });
      });
      await connectors.finishRun(run, { ...totals, ok: false, errors: [{ message: (error as Error).message }, ...errors], errorCount: errorCount + 1 });
      throw error;
    }
    await this.options.pool.query(`UPDATE utility_runs SET file_sha256 = $2 WHERE id = $1`, [run, hash.digest('hex')]);
    const summary = await connectors.finishRun(run, { ...totals, ok: true, errors, errorCount });
    if (totals.inserted || totals.corrected) this.options.onImported?.();
    return summary;
  }

  /** The delivery point `id` and its building, or undefined when it is linked to none. */
  private async deliveryPoint(utility: 'enedis' | 'grdf', id: string): Promise<DeliveryPoint | undefined> {
    const { rows } = await this.options.pool.query<{ energy: UtilityEnergy; building_key: string }>(
      `SELECT energy, building_key FROM utility_delivery_points WHERE utility = $1 AND id = $2`,
      [utility, id],
    );
    return rows[0] ? { utility, id, energy: rows[0].energy, building: rows[0].building_key } : undefined;
  }

  /** Bill lines by building and energy: a line names its building, or a delivery point linked to one. */
  private async billGroups(lines: readonly ImportedBillLine[]): Promise<{ groups: Map<string, BillLine[]>; unknown: RowError[] }> {
    const groups = new Map<string, BillLine[]>();
    const unknown: RowError[] = [];
    const buildings = new Set(
      (
        await this.options.pool.query<{ key: string }>(`SELECT key FROM buildings WHERE key = ANY ($1)`, [
          lines.flatMap((l) => (l.building ? [l.building] : [])),
        ])
      ).rows.map((r) => r.key),
    );
    // The buildings of the delivery points the lines name, in one query (not one a line).
    const named = [...new Set(lines.flatMap((l) => (!l.building && l.deliveryPoint ? [l.deliveryPoint] : [])))];
    const buildingOf = new Map(
      (
        await this.options.pool.query<{ id: string; building_key: string }>(
          `SELECT DISTINCT ON (id) id, building_key FROM utility_delivery_points WHERE id = ANY ($1) ORDER BY id, utility`,
          [named],
        )
      ).rows.map((r) => [r.id, r.building_key]),
    );
    for (const line of lines) {
      let building = line.building;
      if (!building && line.deliveryPoint) {
        building = buildingOf.get(line.deliveryPoint);
        if (!building) {
          unknown.push({
            row: line.row,
            column: 'pdl',
            message: `delivery point ${line.deliveryPoint} is not linked to a building: link it on the utility meters page, or name the building`,
          });
          continue;
        }
      } else if (!building || !buildings.has(building)) {
        unknown.push({ row: line.row, column: 'building', message: `building ${JSON.stringify(building ?? '')} is not in the catalog` });
        continue;
      }
      const key = `${building}\0${line.energy}`;
      (groups.get(key) ?? groups.set(key, []).get(key)!).push(line);
    }
    return { groups, unknown };
  }
}

function unlinked(utility: 'enedis' | 'grdf', id: string): string {
  const what = utility === 'enedis' ? `PRM ${id}` : `PCE ${id}`;
  return `${what} is not linked to a building: link it on the utility meters page (or PUT /api/utility/delivery-points/${utility}/${id}), then import the file again; its readings were not imported`;
}
