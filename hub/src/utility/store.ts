/**
 * Utility readings as samples of their building's points, so that rollups, objectives,
 * completeness and the dashboard use them as they use a gateway's.
 *
 * Each delivery point (an Enedis PRM, a GRDF PCE) is a source of its own, registered like a
 * gateway whose id cannot be a real gateway's (`utility:enedis:<PRM>`: a colon is outside the
 * gateways' id pattern, so no gateway's credentials can ever write there), serving the delivery
 * point's building, with these points:
 * - `consumption`: what the utility says was consumed each day (or month), in kWh, one sample
 *   at the start of each period, exactly as read: the source of truth, corrected in place with
 *   the replaced version kept (sample_history);
 * - `meter`: the meter's index in kWh, derived from `consumption` (0 at the start of the first
 *   period, then the running sum at the end of each), tagged like a gateway's meter
 *   (`<energy> meter energy`): what objectives read with `delta(…)`. After a period the utility
 *   has not given yet, the next index counts it as 0 and says so (quality uncertain); it is
 *   recomputed whenever a period comes or changes;
 * - `power` (electricity): the load curve, average kW over each step, one sample at the step's start.
 * Bills are sources of their own too (`utility:bills:<building>-<energy>`): `billed-energy` (kWh)
 * and `billed-amount` (€) per bill period, and the indexes `bill-energy` and `bill-cost` derived
 * from them (tags `<energy> bill energy` and `<energy> bill cost`): `delta("elec bill cost")`
 * spreads each bill over the months it covers.
 */
import type { PointDefinition } from '@citypilot/sdk';
import type { SeriesWriteResult, Storage } from '../storage/storage.js';
import { addDays, dayStart, localDay } from './local-time.js';
import type { BillLine, ConsumptionReading, PowerReading, ReadingQuality, UtilityEnergy } from './readings.js';

/** Who reads a delivery point: `other` for a meter known only from files. */
export type Utility = 'enedis' | 'grdf' | 'other';

export interface DeliveryPoint {
  utility: Utility;
  /** PRM (Enedis, 14 digits), PCE (GRDF) or the supplier's meter reference. */
  id: string;
  energy: UtilityEnergy;
  /** The catalog's building key. */
  building: string;
}

/** The counts of a write: what was new, what the utility corrected, what was already there. */
export interface WriteCounts {
  readings: number;
  inserted: number;
  corrected: number;
  unchanged: number;
}

const DAY_MS = 86_400_000;
/** Points are named for the city's people, in French first, as its catalog is. */
const UTILITY_NAMES: Record<Utility, string> = { enedis: 'Enedis', grdf: 'GRDF', other: 'Compteur' };

/** The source id a delivery point's samples are stored under (never a gateway's: see the module's comment). */
export function utilityGatewayId(point: Pick<DeliveryPoint, 'utility' | 'id'>): string {
  return `utility:${point.utility}:${point.id}`;
}

/** The source id of a building's bills for one energy. */
export function billsGatewayId(building: string, energy: UtilityEnergy): string {
  return `utility:bills:${building}-${energy}`;
}

/** The points of a delivery point, as the catalog registers them. */
export function deliveryPointDefinitions(point: DeliveryPoint): PointDefinition[] {
  const who = UTILITY_NAMES[point.utility];
  const source = (series: string) => ({
    plugin: 'utility',
    device: `${point.utility}:${point.id}`,
    address: { utility: point.utility, deliveryPoint: point.id, series },
  });
  const definitions: PointDefinition[] = [
    {
      id: 'consumption',
      name: `${who} ${point.id} : consommation par période`,
      unit: 'kWh',
      kind: 'number',
      tags: [point.energy, 'consumption', 'utility', point.utility],
      source: source('consumption'),
      intervalMs: DAY_MS,
    },
    {
      id: 'meter',
      name: `${who} ${point.id} : index du compteur (relevés du distributeur)`,
      unit: 'kWh',
      kind: 'number',
      tags: [point.energy, 'meter', 'energy', 'utility', point.utility],
      source: source('meter'),
      intervalMs: DAY_MS,
    },
  ];
  if (point.energy === 'elec') {
    definitions.push({
      id: 'power',
      name: `${who} ${point.id} : courbe de charge (puissance moyenne)`,
      unit: 'kW',
      kind: 'number',
      tags: ['elec', 'power', 'loadCurve', 'utility', point.utility],
      source: source('power'),
      intervalMs: 30 * 60_000,
    });
  }
  return definitions;
}

function billDefinitions(building: string, energy: UtilityEnergy): PointDefinition[] {
  const source = (series: string) => ({ plugin: 'utility', device: `bills:${building}-${energy}`, address: { utility: 'bills', energy, series } });
  const point = (id: string, name: string, unit: string, tags: string[]): PointDefinition => ({
    id,
    name: `Factures ${energy} : ${name}`,
    unit,
    kind: 'number',
    tags: [energy, 'bill', 'utility', ...tags],
    source: source(id),
  });
  return [
    point('billed-energy', 'énergie par période facturée', 'kWh', ['consumption']),
    point('billed-amount', 'montant par période facturée', '€', ['amount']),
    point('bill-energy', 'index de l’énergie facturée', 'kWh', ['energy']),
    point('bill-cost', 'index des montants facturés', '€', ['cost']),
  ];
}

/** A period's value as a cumulative series derives it. */
interface Period {
  start: number;
  end: number;
  value: number;
  quality: ReadingQuality;
}

/**
 * The index of consecutive periods: 0 at the first one's start, then the running sum at each
 * one's end. A sample after periods not given yet counts them as 0 and says so.
 */
export function cumulate(periods: readonly Period[], unit: string): { time: number; value: number; quality: 'good' | 'uncertain'; reason?: string }[] {
  if (!periods.length) return [];
  const samples: ReturnType<typeof cumulate> = [{ time: periods[0]!.start, value: 0, quality: 'good' }];
  let index = 0;
  let end = periods[0]!.start;
  for (const p of periods) {
    if (p.start < end) continue; // overlapping the previous period: the first one counts
    const gap = p.start - end;
    // Kept to the Wh (the utilities' unit): a float sum of thousands of periods drifts in its last digits.
    index = Math.round((index + p.value) * 1000) / 1000;
    const reason = gap > 0 ? `${describeGap(gap)} before this reading not given by the utility yet: counted as 0 ${unit}` : undefined;
    samples.push({ time: p.end, value: index, quality: gap > 0 || p.quality === 'uncertain' ? 'uncertain' : 'good', ...(reason ? { reason } : {}) });
    end = p.end;
  }
  return samples;
}

function describeGap(ms: number): string {
  const days = Math.round(ms / DAY_MS);
  return days >= 1 ? `${days} day${days > 1 ? 's' : ''}` : `${Math.round(ms / 60_000)} minutes`;
}

/** Round a reading to what its source carries: Wh for kWh, W for kW (the utilities' integers). */
const milli = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Writes utility readings through the storage: registers each delivery point's source and
 * points once per process, writes readings in order, recomputes the derived indexes.
 */
export class UtilityStore {
  /** Point ids of each registered source: `<source>\0<point>`. */
  private readonly ids = new Map<string, number>();

  constructor(private readonly storage: Storage) {}

  /** Registers the delivery point's source and points (idempotent), returning their ids. */
  async register(point: DeliveryPoint): Promise<void> {
    await this.registerSource(utilityGatewayId(point), point.building, deliveryPointDefinitions(point));
  }

  private async registerSource(gateway: string, building: string, points: PointDefinition[]): Promise<void> {
    if (points.every((p) => this.ids.has(`${gateway}\0${p.id}`))) return;
    await this.storage.writeBatches([{ v: 1, gateway, seq: 1, createdAt: Date.now(), building, points, samples: [] }]);
    const { rows } = await this.storage.pool.query<{ id: string; point_key: string }>(`SELECT id, point_key FROM points WHERE gateway_id = $1`, [gateway]);
    for (const r of rows) this.ids.set(`${gateway}\0${r.point_key}`, Number(r.id));
  }

  private id(gateway: string, point: string): number {
    const id = this.ids.get(`${gateway}\0${point}`);
    if (id === undefined) throw new Error(`point ${gateway}/${point} is not registered`);
    return id;
  }

  /**
   * Stores consumption readings (days or months) of a delivery point and recomputes its meter
   * index from the first period that changed. A reading already stored with the same value is
   * left; a different one replaces it, the previous version kept with `run`.
   */
  async writeConsumption(point: DeliveryPoint, readings: readonly ConsumptionReading[], run: number): Promise<WriteCounts> {
    await this.register(point);
    const gateway = utilityGatewayId(point);
    const sorted = uniqueByStart(readings);
    const timezone = this.storage.rollups.timezone;
    const samples = sorted.map((r) => {
      const reason = periodReason(r.start, r.end, timezone, r.volume && `${milli(r.volume.m3)} m³ × ${r.volume.kWhPerM3} kWh/m³`);
      return { time: r.start, value: milli(r.kWh), quality: r.quality, ...(reason ? { reason } : {}) };
    });
    const [result] = await this.storage.writeSeries([{ pointId: this.id(gateway, 'consumption'), samples, replacedBy: run }]);
    if (result!.changed) await this.recomputeIndex(gateway, 'consumption', 'meter', 'kWh');
    return counts(readings.length, result!);
  }

  /**
   * Stores load-curve readings (average kW per step) of an electricity delivery point. With
   * `bulk` (a file's import: years of steps), their rollups are queued with them and rebuilt
   * set-based a moment later (Storage.writeSeries's deferRollups).
   */
  async writePower(point: DeliveryPoint, readings: readonly PowerReading[], run: number, options: { bulk?: boolean } = {}): Promise<WriteCounts> {
    await this.register(point);
    const samples = uniqueByStart(readings).map((r) => ({ time: r.start, value: milli(r.kW), quality: r.quality }));
    const pointId = this.id(utilityGatewayId(point), 'power');
    const [result] = await this.storage.writeSeries([{ pointId, samples, replacedBy: run }], { deferRollups: options.bulk });
    return counts(readings.length, result!);
  }

  /** Stores bill lines of one building and energy, and recomputes the bills' indexes. */
  async writeBills(building: string, energy: UtilityEnergy, lines: readonly BillLine[], run: number): Promise<WriteCounts> {
    const gateway = billsGatewayId(building, energy);
    await this.registerSource(gateway, building, billDefinitions(building, energy));
    // The lines of one period (a bill's peak and off-peak hours, its subscription) add up.
    const byStart = new Map<number, BillLine>();
    for (const l of lines) {
      const same = byStart.get(l.start);
      if (!same) byStart.set(l.start, { ...l });
      else {
        same.end = Math.max(same.end, l.end);
        same.kWh += l.kWh;
        same.amountEur += l.amountEur;
        if (l.invoice && !same.invoice?.split(', ').includes(l.invoice)) same.invoice = same.invoice ? `${same.invoice}, ${l.invoice}` : l.invoice;
      }
    }
    const sorted = [...byStart.values()].sort((a, b) => a.start - b.start);
    const timezone = this.storage.rollups.timezone;
    const reason = (l: BillLine) => periodReason(l.start, l.end, timezone, `${l.supplier}${l.invoice ? `, invoice ${l.invoice}` : ''}`);
    const results = await this.storage.writeSeries([
      {
        pointId: this.id(gateway, 'billed-energy'),
        samples: sorted.map((l) => ({ time: l.start, value: milli(l.kWh), quality: 'good', reason: reason(l) })),
        replacedBy: run,
      },
      {
        pointId: this.id(gateway, 'billed-amount'),
        samples: sorted.map((l) => ({ time: l.start, value: Math.round(l.amountEur * 100) / 100, quality: 'good', reason: reason(l) })),
        replacedBy: run,
      },
    ]);
    if (results.some((r) => r.changed)) {
      await this.recomputeIndex(gateway, 'billed-energy', 'bill-energy', 'kWh');
      await this.recomputeIndex(gateway, 'billed-amount', 'bill-cost', '€');
    }
    const [energyResult] = results;
    return counts(lines.length, energyResult!);
  }

  /**
   * Recomputes a derived index from its periods: every period of the series is read (a delivery
   * point has a few thousand at most), the index computed whole and written where it differs.
   * A period's end is the next one's start, or its own `until` for bills, or a day later.
   */
  private async recomputeIndex(gateway: string, from: string, to: string, unit: string): Promise<void> {
    const { rows } = await this.storage.pool.query<{ t: number; value: number; quality: ReadingQuality; reason: string | null }>(
      `SELECT (extract(epoch FROM time) * 1000)::float8 AS t, value, quality::text AS quality, reason FROM samples WHERE point_id = $1 AND value IS NOT NULL ORDER BY time`,
      [this.id(gateway, from)],
    );
    const periods = rows.map((r) => ({ start: r.t, end: periodEnd(r.t, r.reason, this.storage.rollups.timezone), value: r.value, quality: r.quality }));
    const samples = cumulate(periods, unit);
    if (!samples.length) return;
    // Periods are never removed: the index only grows at its ends, and within them is rewritten where it changed.
    await this.storage.writeSeries([{ pointId: this.id(gateway, to), samples, replaceRange: { from: samples[0]!.time, to: samples.at(-1)!.time + 1 } }]);
  }
}

/**
 * The end of a stored period: the reason says it when the period is not one local day (`until
 * <ISO time>` at its end: a month, a bill's period); otherwise the next local midnight.
 */
export function periodEnd(start: number, reason: string | null, timezone: string): number {
  const until = reason ? /until (\S+)$/.exec(reason) : null;
  if (until) return Date.parse(until[1]!);
  return dayStart(addDays(localDay(start, timezone), 1), timezone);
}

/** What a period's sample says of it: a volume's conversion, and its end unless it is one local day. */
function periodReason(start: number, end: number, timezone: string, what?: string): string | undefined {
  const oneDay = end === dayStart(addDays(localDay(start, timezone), 1), timezone);
  const parts = [what, oneDay ? undefined : `until ${new Date(end).toISOString()}`].filter((x) => x !== undefined);
  return parts.length ? parts.join(', ') : undefined;
}

/** The readings in time order, the first of each start kept (a file's are usually in order already: then they are returned as they are). */
function uniqueByStart<T extends { start: number }>(readings: readonly T[]): readonly T[] {
  let ordered = true;
  for (let i = 1; i < readings.length && ordered; i++) ordered = readings[i]!.start > readings[i - 1]!.start;
  if (ordered) return readings;
  const byStart = new Map<number, T>();
  for (const r of readings) if (!byStart.has(r.start)) byStart.set(r.start, r);
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

function counts(readings: number, result: SeriesWriteResult): WriteCounts {
  return { readings, inserted: result.inserted, corrected: result.corrected, unchanged: result.unchanged };
}
