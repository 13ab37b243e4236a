import type { FastifyInstance } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import type pg from 'pg';
import { errorSchema } from './http/errors.js';
import { loadObjectiveData, type DegreeDayMethod } from './objectives/data.js';
import { evaluateObjective, kWhDefinition, trajectoryChange, type Result } from './objectives/engine.js';
import { parseFormula } from './objectives/formula.js';
import { ENERGIES, meterSource, resolveMeters, type Energy, type MeterDeclaration, type ResolvedMeter } from './objectives/meters.js';
import type { ObjectiveDefinition } from './objectives/model.js';

/**
 * What the dashboard's page of one building shows, from the catalog and the objectives' data
 * layer: its catalog entry, its meters with their latest reading, its energy per m² (the last 12
 * complete months and the current year so far), its tertiary-decree trajectory against its
 * reference year, and how complete and how fresh its data is. The energies are counted as the
 * energy objectives count them (objectives/meters.ts: main meters only, gas and fuels converted to
 * kWh), and the trajectory normalised to the climate as the `tertiary-decree` objective and the
 * OPERAT export do.
 */

/** Heating degree-days base (°C) and reference climate (DJU) of the normalisation, as hub/objectives/energy.yaml's tertiary-decree objective. */
export const NORMALISATION = { baseC: 18, referenceDegreeDays: 2500 } as const;

/** The tertiary decree's steps: consumption against the reference year. */
export const TERTIARY_DECREE_STEPS = [
  { year: 2030, change: -0.4 },
  { year: 2040, change: -0.5 },
  { year: 2050, change: -0.6 },
] as const;

export interface BuildingPageOptions {
  /** The city's time zone: months, years and days are its local ones. */
  timezone: string;
  /** As the objectives compute degree-days (Objectives.degreeDayMethod). Default `mean`. */
  degreeDayMethod?: DegreeDayMethod;
  /** Default: the current time. */
  now?: Date;
}

export interface EnergyTotal {
  /** `total` for every energy's main meters together. */
  energy: Energy | 'total';
  kWh: number | null;
  /** kWh / heated floor area; null without an area. */
  kWhPerM2: number | null;
}

export interface EnergyPeriod {
  /** First and last local months `YYYY-MM`, both included. */
  from: string;
  to: string;
  /** Months of the range with a value of every main meter; fewer than the range's: the figures are partial. */
  monthsWithData: number;
  months: number;
  energies: EnergyTotal[];
}

export interface TrajectoryYear {
  year: number;
  /** Main meters' energy of the year (so far for the current year), kWh. */
  kWh: number | null;
  /** The same as a year at the reference climate, kWh (null without a baseline: fewer than 6 months of meter and degree-day data). */
  normalisedKWh: number | null;
  /** The year's target on the trajectory (linear between the decree's steps), kWh, on the same basis as the reference. */
  targetKWh: number | null;
  complete: boolean;
}

/**
 * Loads the page of building `key`, or undefined when the catalog has no such building. The same
 * few queries whatever the building's history: its catalog entry and latest sample first, then at
 * once its meters, the objectives' data (loadObjectiveData, limited to the building) and its
 * completeness.
 */
export async function buildingPage(pool: pg.Pool, key: string, options: BuildingPageOptions) {
  const { timezone } = options;
  const now = options.now ?? new Date();
  const { rows: found } = await pool.query<{
    key: string;
    name: string;
    site: string;
    site_name: string;
    usage: string;
    area_m2: number | null;
    energy_reference_year: number | null;
    address: string | null;
    meters: MeterDeclaration[] | null;
    latest: Date | null;
    month: string;
    today: Date;
    days_ago_30: Date;
  }>(
    `SELECT b.key, b.name, s.key AS site, s.name AS site_name, b.usage, b.area_m2, b.energy_reference_year, b.address, b.meters,
            (SELECT max(s.time) FROM points p JOIN gateways g ON g.id = p.gateway_id
               CROSS JOIN LATERAL (SELECT time FROM samples WHERE point_id = p.id ORDER BY time DESC LIMIT 1) s
              WHERE g.building_key = b.key AND p.retired_at IS NULL) AS latest,
            to_char($2::timestamptz AT TIME ZONE $3, 'YYYY-MM') AS month,
            date_trunc('day', $2::timestamptz AT TIME ZONE $3) AT TIME ZONE $3 AS today,
            (date_trunc('day', $2::timestamptz AT TIME ZONE $3) - INTERVAL '30 days') AT TIME ZONE $3 AS days_ago_30
       FROM buildings b JOIN sites s ON s.id = b.site_id WHERE b.key = $1`,
    [key, now, timezone],
  );
  const b = found[0];
  if (!b) return undefined;

  // Meters, the objectives' data and the completeness at once, each on a connection of its own.
  const currentMonth = b.month;
  const currentYear = Number(currentMonth.slice(0, 4));
  const last12From = addMonths(currentMonth, -12);
  const last12To = addMonths(currentMonth, -1);
  const referenceYear = b.energy_reference_year !== null && b.energy_reference_year <= currentYear ? b.energy_reference_year : null;
  const firstMonth = referenceYear !== null && `${referenceYear}-01` < last12From ? `${referenceYear}-01` : last12From;
  const meterQuery = pool.query<{
    id: string;
    gateway: string;
    point: string;
    name: string;
    unit: string | null;
    tags: string[];
    last_time: Date | null;
    last_value: number | null;
    last_quality: string | null;
  }>(
    // The latest sample of each meter in the samples' primary key index, newest first (as Storage.points).
    `SELECT p.id, p.gateway_id AS gateway, p.point_key AS point, p.name, p.unit, p.tags, s.time AS last_time, s.value AS last_value, s.quality AS last_quality
       FROM points p JOIN gateways g ON g.id = p.gateway_id
       LEFT JOIN LATERAL (SELECT time, value, quality FROM samples WHERE point_id = p.id ORDER BY time DESC LIMIT 1) s ON true
      WHERE g.building_key = $1 AND p.retired_at IS NULL AND p.tags && ARRAY['meter', 'submeter']
      ORDER BY 2, 3`,
    [key],
  );
  const dataQuery = loadObjectiveData(pool, timezone, {
    firstMonth,
    lastMonth: currentMonth,
    tagSets: [['meter', 'energy'], ...ENERGIES.map((e) => [e, 'meter', 'energy'])],
    serviceMetrics: [],
    degreeDayBases: [NORMALISATION.baseC],
    degreeDayMethod: options.degreeDayMethod ?? 'mean',
    now,
    buildings: [key],
  });
  const completenessQuery = dailyCompleteness(pool, key, b.days_ago_30, b.today, timezone);
  const [{ rows: meterRows }, data, days] = await Promise.all([meterQuery, dataQuery, completenessQuery]);
  const roles = resolveMeters(
    meterRows.map((m) => ({ id: Number(m.id), building: key, gateway: m.gateway, key: m.point, unit: m.unit, tags: new Set(m.tags) })),
    new Map([[key, b.meters ?? []]]),
  ).meters;
  const ageSeconds = (t: Date | null) => (t ? Math.max(0, Math.round((now.getTime() - t.getTime()) / 1000)) : null);
  const meters = meterRows.map((m) => {
    const resolved = roles.get(Number(m.id));
    return {
      gateway: m.gateway,
      point: m.point,
      name: m.name,
      unit: m.unit,
      tags: m.tags,
      energy: resolved?.energy ?? null,
      role: resolved?.role ?? null,
      source: sourceOf(m.gateway, resolved),
      lastValue: m.last_value,
      lastTime: m.last_time?.toISOString() ?? null,
      quality: m.last_quality,
      ageSeconds: ageSeconds(m.last_time),
    };
  });
  const energies = ENERGIES.filter((e) => meters.some((m) => m.energy === e && m.role === 'main'));

  const definition = (period: ObjectiveDefinition['period']) => kWhDefinition('building-page', { level: 'building', keys: [key] }, period);
  const evaluate = (period: ObjectiveDefinition['period'], source: string, from = firstMonth): Result[] =>
    evaluateObjective(definition(period), parseFormula(source), data, { firstPeriodMonth: from, now });
  const monthly = new Map<Energy | 'total', Map<string, number | null>>(
    (['total', ...energies] as const).map((e) => [
      e,
      new Map(evaluate('month', `delta("${e === 'total' ? '' : `${e} `}meter energy")`, last12From).map((r) => [r.period, r.value])),
    ]),
  );
  const area = b.area_m2;
  const energyPeriod = (from: string, to: string): EnergyPeriod => {
    const months = monthRange(from, to);
    const totals = (['total', ...energies] as const).map((energy) => {
      const values = months.map((m) => monthly.get(energy)?.get(m) ?? null);
      const known = values.filter((v): v is number => v !== null);
      const kWh = known.length ? known.reduce((s, v) => s + v, 0) : null;
      return { energy, kWh: round(kWh), kWhPerM2: kWh !== null && area ? round(kWh / area, 2) : null };
    });
    const monthsWithData = months.filter((m) => (['total', ...energies] as const).every((e) => (monthly.get(e)?.get(m) ?? null) !== null)).length;
    return { from, to, monthsWithData, months: months.length, energies: totals };
  };

  let trajectory = null;
  if (referenceYear !== null) {
    const raw = evaluate('year', 'delta("meter energy")', `${referenceYear}-01`);
    const normalised = new Map(
      evaluate('year', `normalised("meter energy", ${NORMALISATION.baseC}, ${NORMALISATION.referenceDegreeDays})`, `${referenceYear}-01`).map((r) => [
        r.period,
        r,
      ]),
    );
    const reference = raw.find((r) => r.period === String(referenceYear));
    const referenceNormalised = normalised.get(String(referenceYear))?.value ?? null;
    const basis = referenceNormalised !== null ? 'normalised' : 'raw';
    const referenceKWh = basis === 'normalised' ? referenceNormalised : (reference?.value ?? null);
    const target = { kind: 'trajectory' as const, baseline: referenceYear, steps: TERTIARY_DECREE_STEPS.map((s) => ({ ...s })) };
    const targetOf = (year: number) => (referenceKWh === null ? null : round(referenceKWh * (1 + trajectoryChange(target, referenceYear, year))));
    trajectory = {
      referenceYear,
      basis,
      reference: { kWh: round(reference?.value ?? null), normalisedKWh: round(referenceNormalised), complete: reference?.complete ?? false },
      targets: TERTIARY_DECREE_STEPS.map((s) => ({ year: s.year, change: s.change, kWh: referenceKWh === null ? null : round(referenceKWh * (1 + s.change)) })),
      years: raw.map((r): TrajectoryYear => ({
        year: Number(r.period),
        kWh: round(r.value),
        normalisedKWh: round(normalised.get(r.period)?.value ?? null),
        targetKWh: targetOf(Number(r.period)),
        complete: r.complete,
      })),
    };
  }

  const share = (rows: typeof days) => {
    const received = rows.reduce((s, r) => s + r.received, 0);
    const expected = rows.reduce((s, r) => s + r.expected, 0);
    return { received, expected, ratio: expected > 0 ? Math.min(1, received / expected) : null };
  };

  return {
    key: b.key,
    name: b.name,
    site: b.site,
    siteName: b.site_name,
    usage: b.usage,
    areaM2: area,
    energyReferenceYear: b.energy_reference_year,
    address: b.address,
    meters,
    energy: { last12Months: energyPeriod(last12From, last12To), yearToDate: energyPeriod(`${currentYear}-01`, currentMonth) },
    trajectory,
    completeness: {
      last7Days: share(days.slice(-7)),
      last30Days: share(days),
      days: days.map((d) => ({ day: d.bucket.slice(0, 10), ratio: d.expected > 0 ? d.ratio : null })),
    },
    latestSample: { time: b.latest?.toISOString() ?? null, ageSeconds: ageSeconds(b.latest) },
  };
}

/**
 * Samples received against expected from each point's poll interval, per local day from `from`
 * to `to` (local midnights), for the points of one building: the same figures as
 * /api/completeness (storage/completeness.ts) but the numbers and booleans counted from the
 * daily rollups rather than sample by sample, which a month of minute readings of a building's
 * points made 200 ms (texts, which rollups leave out, are still counted from the samples).
 */
async function dailyCompleteness(pool: pg.Pool, building: string, from: Date, to: Date, timezone: string) {
  const { rows } = await pool.query<{ day: string; received: string; expected: string }>(
    `WITH days AS (
       SELECT to_char(d, 'YYYY-MM-DD') AS day, d AT TIME ZONE $3 AS start_at, (d + INTERVAL '1 day') AT TIME ZONE $3 AS end_at
         FROM generate_series($1::timestamptz AT TIME ZONE $3, ($2::timestamptz AT TIME ZONE $3) - INTERVAL '1 day', INTERVAL '1 day') AS d
     ), pts AS (
       SELECT p.id, p.kind, p.interval_ms FROM points p JOIN gateways g ON g.id = p.gateway_id
        WHERE g.building_key = $4 AND p.retired_at IS NULL AND p.interval_ms IS NOT NULL
     )
     SELECT days.day,
            sum(CASE WHEN pts.kind = 'string'
                     THEN (SELECT count(*) FROM samples s WHERE s.point_id = pts.id AND s.time >= days.start_at AND s.time < days.end_at AND s.time >= $1 AND s.time < $2)
                     ELSE coalesce(r.n, 0) END) AS received,
            sum(extract(epoch FROM days.end_at - days.start_at) * 1000 / pts.interval_ms) AS expected
       FROM days CROSS JOIN pts LEFT JOIN rollup_day r ON r.point_id = pts.id AND r.bucket = days.start_at
      GROUP BY days.day ORDER BY days.day`,
    [from, to, timezone, building],
  );
  return rows.map((r) => {
    const received = Number(r.received);
    const expected = Number(r.expected);
    return { bucket: r.day, received, expected, ratio: expected > 0 ? Math.min(1, received / expected) : 0 };
  });
}

/** `YYYY-MM` `n` months after `month` (before when negative). */
function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Every month from `from` to `to`, both included. */
function monthRange(from: string, to: string): string[] {
  const months: string[] = [];
  for (let m = from; m <= to; m = addMonths(m, 1)) months.push(m);
  return months;
}

function round(value: number | null, digits = 0): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface BuildingRoutesOptions {
  pool: pg.Pool;
  timezone: string;
  degreeDayMethod?: DegreeDayMethod;
}

/** GET /api/buildings/:key, the page of one building (see buildingPage). Registered by buildApi. */
export function buildingRoutes(app: FastifyInstance, { pool, timezone, degreeDayMethod }: BuildingRoutesOptions): void {
  app.get<{ Params: { key: string } }>(
    '/api/buildings/:key',
    {
      // A technician asking for a building of another site is told what an unknown key is told.
      config: { access: { roles: ['public'], sites: { filter: true } } },
      schema: {
        summary: "A building's page: catalog, meters, energy per m², tertiary-decree trajectory, data completeness",
        description:
          'The catalog entry of a building (no RNB id: the catalog has none yet); its meters (points tagged `meter` or `submeter`) with their energy, their role as the ' +
          "energy objectives count them (`main`: the building's meter of that energy; `sub`: a part of it), latest value, time, quality and age; its energy, kWh and kWh/m² per " +
          'energy and in total (main meters only, gas m³ and fuels converted to kWh as the objectives do), over the 12 complete months before the current one and over the ' +
          "current year so far; its tertiary-decree trajectory: each year's consumption since the energy reference year, raw and climate-normalised (base 18 °C, 2,500 DJU: " +
          "the tertiary-decree objective's and the OPERAT export's method), the reference (`basis`: `normalised`, or `raw` when the reference year has no baseline) and the " +
          "targets -40 % in 2030, -50 % in 2040, -60 % in 2050, linear in between for each year's target; the completeness of its data (samples received against expected) " +
          'over the last 7 and 30 whole local days and per day; the time and age of its latest sample. Anyone may read it; a technician only the buildings of its sites (404 otherwise, as for an unknown key).',
        tags: ['catalog'],
        params: {
          type: 'object',
          required: ['key'],
          properties: { key: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 200, description: "The building's catalog key" } },
        },
        response: { 200: BuildingPageSchema, 404: errorSchema("No such building, or not within the caller's sites") },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const page = (await request.siteScope.hasBuilding(key)) ? await buildingPage(pool, key, { timezone, degreeDayMethod }) : undefined;
      if (!page) return reply.code(404).send({ error: `no building ${JSON.stringify(key)}` });
      return page;
    },
  );
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const kWh = (description: string) => nullable(Type.Number({ description }));
const EnergyPeriodSchema = Type.Object({
  from: Type.String({ description: 'First local month, YYYY-MM' }),
  to: Type.String({ description: 'Last local month, YYYY-MM (included)' }),
  months: Type.Integer(),
  monthsWithData: Type.Integer({ description: 'Months with a value of every main meter; fewer than `months`: partial figures' }),
  energies: Type.Array(
    Type.Object({
      energy: Type.String({ description: '`total`, then elec, gas, heat, chilled, oil or wood' }),
      kWh: kWh('Final energy, kWh'),
      kWhPerM2: kWh('kWh per m² of heated floor area; null without an area'),
    }),
  ),
});
const Share = Type.Object({
  received: Type.Number(),
  expected: Type.Number(),
  ratio: nullable(Type.Number({ minimum: 0, maximum: 1, description: 'null when no sample was expected' })),
});

const BuildingPageSchema = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    site: Type.String({ description: "The site's key" }),
    siteName: Type.String(),
    usage: Type.String(),
    areaM2: nullable(Type.Number({ description: 'Heated floor area, m²' })),
    energyReferenceYear: nullable(Type.Integer()),
    address: nullable(Type.String()),
    meters: Type.Array(
      Type.Object({
        gateway: Type.String(),
        point: Type.String({ description: '<device>.<point>' }),
        name: Type.String(),
        unit: nullable(Type.String()),
        tags: Type.Array(Type.String()),
        energy: nullable(Type.String({ description: 'elec, gas, heat, chilled, oil or wood; null for a meter of no energy (water …)' })),
        role: nullable(Type.String({ enum: ['main', 'sub'], description: 'As objectives/meters.ts decides; null for a meter of no energy' })),
        source: Type.Object(
          {
            kind: Type.String({ enum: ['bms', 'utility'], description: "bms: read by the building's gateway; utility: read by the utility (Enedis, GRDF)" }),
            utility: nullable(Type.String({ enum: ['enedis', 'grdf', 'other'], description: 'For a utility meter: whose' })),
            deliveryPoint: nullable(Type.String({ description: 'For a utility meter: its PRM (Enedis) or PCE (GRDF)' })),
            read: Type.Boolean({
              description:
                'Whether objectives that name no source read this meter: the BMS where it measures the energy, else the utility (objectives/meters.ts)',
            }),
          },
          { description: 'Where the readings come from' },
        ),
        lastValue: nullable(Type.Number()),
        lastTime: nullable(Type.String({ format: 'date-time' })),
        quality: nullable(Type.String({ enum: ['good', 'uncertain', 'bad', 'stale'] })),
        ageSeconds: nullable(Type.Integer({ description: 'Seconds since the latest sample' })),
      }),
    ),
    energy: Type.Object({ last12Months: EnergyPeriodSchema, yearToDate: EnergyPeriodSchema }),
    trajectory: nullable(
      Type.Object(
        {
          referenceYear: Type.Integer(),
          basis: Type.String({
            enum: ['normalised', 'raw'],
            description: 'What the reference and the targets are: the climate-normalised reference year, or its raw consumption when it has no baseline',
          }),
          reference: Type.Object({ kWh: kWh('The reference year, measured'), normalisedKWh: kWh('The reference year at 2,500 DJU'), complete: Type.Boolean() }),
          targets: Type.Array(Type.Object({ year: Type.Integer(), change: Type.Number(), kWh: kWh('The reference × (1 + change)') })),
          years: Type.Array(
            Type.Object({
              year: Type.Integer(),
              kWh: kWh('Measured, so far for the current year'),
              normalisedKWh: kWh('At 2,500 DJU; null without a baseline (fewer than 6 months of meter and degree-day data)'),
              targetKWh: kWh("The year's target on the trajectory"),
              complete: Type.Boolean(),
            }),
          ),
        },
        { description: 'null without an energy reference year in the catalog' },
      ),
    ),
    completeness: Type.Object({
      last7Days: Share,
      last30Days: Share,
      days: Type.Array(Type.Object({ day: Type.String({ description: 'Local day, YYYY-MM-DD' }), ratio: nullable(Type.Number()) }), {
        description: 'The last 30 whole local days, oldest first',
      }),
    }),
    latestSample: Type.Object(
      { time: nullable(Type.String({ format: 'date-time' })), ageSeconds: nullable(Type.Integer()) },
      { description: 'The latest sample of any point of the building' },
    ),
  },
  { description: 'The page of one building' },
);

/** Where a meter's readings come from, for the page: a utility source's id is `utility:<utility>:<delivery point>`. */
function sourceOf(gateway: string, resolved: ResolvedMeter | undefined) {
  const kind = meterSource(gateway);
  const [, utility, deliveryPoint] = kind === 'utility' ? gateway.split(':') : [];
  return { kind, utility: utility ?? null, deliveryPoint: deliveryPoint ?? null, read: resolved?.read ?? true };
}
