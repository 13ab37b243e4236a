import type pg from 'pg';
import type { Attribute, PointAggregate, ServiceAggregate } from './formula.js';
import type { ServiceData } from '../service-data/index.js';
import { matchesQuery, resolveMeters, type MeterDeclaration, type ResolvedMeter } from './meters.js';

/**
 * The data objectives are computed from, loaded in bulk for a range of local months: the
 * catalog (sites, buildings, their points), monthly rollups of the points formulas name, daily
 * outdoor temperatures for degree-days, and service data per month. Everything is keyed by
 * local month (`YYYY-MM` in the city's time zone), the unit every period is made of.
 */

/** Tags of the outdoor air temperature points degree-days are computed from. */
export const OUTDOOR_TEMPERATURE_TAGS = ['outside', 'temp'] as const;

export interface CatalogBuilding {
  key: string;
  site: string;
  usage: string;
  areaM2: number | null;
  lightPoints: number | null;
  referenceYear: number | null;
  /** The catalog's declarations of the building's meters (roles, conversion coefficients). */
  meters: MeterDeclaration[];
}

export interface CatalogPoint {
  id: number;
  building: string;
  /** Effective tags for a meter (see meters.ts: `submeter` for a sub-meter, `energy` once converted to kWh). */
  tags: ReadonlySet<string>;
  /** Role, energy and kWh conversion of a meter point. */
  meter?: ResolvedMeter;
}

/** One local month of the city's calendar. */
export interface Month {
  /** `YYYY-MM`, local. */
  key: string;
  start: Date;
  end: Date;
  /** Real length: 743 or 745 hours in the months of a daylight-saving change. */
  hours: number;
  /** Start (epoch ms) of each local day of the month, in order. */
  dayStarts: number[];
}

/**
 * How a day's heating degree-days are computed from its outdoor temperatures: `mean`, base
 * minus the mean of the day's readings; `min-max`, base minus (Tmin + Tmax) / 2, as
 * Météo-France computes its DJU. Either is floored at 0. Imported daily temperatures are means.
 */
export type DegreeDayMethod = 'mean' | 'min-max';

export const DEGREE_DAY_METHODS: readonly DegreeDayMethod[] = ['mean', 'min-max'];

/**
 * Default base of cooling degree-days ("DJU climatisation"), °C: a day counts max(0, its
 * temperature − 18). 18 °C is the threshold Météo-France computes its published degree-days from,
 * heating and cooling alike, so that the figures a city buys compare with ours. Other bases are
 * in use (infoclimat counts cooling above 22 °C; comfort-cooling studies often above 26 °C):
 * projects take theirs from the hub's setting (projects/evaluate.ts, coolingBase).
 */
export const COOLING_DEGREE_DAY_BASE = 18;

/** A point's numeric samples in one month (from the monthly rollup). */
export interface PointMonth {
  n: number;
  sum: number;
  min: number;
  max: number;
  firstValue: number;
  lastValue: number;
  /** Times (epoch ms) of the first and last samples: the readings nearest the month's boundaries. */
  firstTime: number;
  lastTime: number;
  /** Local days of the month with samples: bit d − 1 for day d. */
  days: number;
}

/** Service data of one metric, scope key and month. */
export interface ServiceMonth {
  sum: number;
  min: number;
  max: number;
  count: number;
}

/** Where service data comes from: the service-data module (serviceDataReader). */
export interface ServiceDataReader {
  /** Current values per metric, scope (`city`, `site:<key>`, `building:<key>`) and local month. */
  monthly(query: {
    metrics: readonly string[];
    from: Date;
    to: Date;
    timezone: string;
  }): Promise<{ metric: string; scope: string; month: string; sum: number; min: number; max: number; count: number }[]>;
}

export interface ObjectiveData {
  timezone: string;
  months: Month[];
  buildings: Map<string, CatalogBuilding>;
  points: CatalogPoint[];
  /** Monthly rollups by point id, then month key. */
  pointMonths: Map<number, Map<string, PointMonth>>;
  /**
   * Heating degree-days: `building:<key>` (buildings with an outdoor sensor) or `city` → base
   * (°C) → month → degree-days. The day holding `LoadRequest.now` counts for the share of its
   * hours gone by, later days not at all.
   */
  degreeDays: Map<string, Map<number, Map<string, number>>>;
  /**
   * Cooling degree-days, when asked (LoadRequest.coolingDegreeDayBases): the same scopes, bases
   * and rules as `degreeDays`, each day counting max(0, its temperature − base).
   */
  coolingDegreeDays?: Map<string, Map<number, Map<string, number>>>;
  /** Local days with an outdoor temperature, per degree-day scope and month (bit d − 1 for day d). */
  degreeDayDays: Map<string, Map<string, number>>;
  /** Service data: metric → scope (`city`, `site:<key>`, `building:<key>`) → month → values. */
  services: Map<string, Map<string, Map<string, ServiceMonth>>>;
  /** What meters.ts had to decide for the operator (several main meters, none declared). */
  meterWarnings: string[];
}

export interface LoadRequest {
  /** Local months `YYYY-MM`, first included, last included. */
  firstMonth: string;
  lastMonth: string;
  /** Points whose tags include one of these tag sets are loaded (plus outdoor temperatures when degree-days are needed). */
  tagSets: readonly (readonly string[])[];
  serviceMetrics: readonly string[];
  /** Bases (°C) of the heating degree-days formulas ask for. */
  degreeDayBases: readonly number[];
  /**
   * Bases (°C) of cooling degree-days (projects' baseline models; objectives ask for none): see
   * COOLING_DEGREE_DAY_BASE. Degree-days are computed the same way as heating ones (same method,
   * same sensors, same imported daily means).
   */
  coolingDegreeDayBases?: readonly number[];
  /** Default `mean`. */
  degreeDayMethod?: DegreeDayMethod;
  /**
   * Whether to load the local days each point has samples on (PointMonth.days, for the gaps of
   * objectives' results). Default true; projects, which read meter advances only, skip it.
   */
  dayCoverage?: boolean;
  /** The evaluation's time: degree-days of the day holding it are prorated by its hours gone by, later days left out. Default: none left out. */
  now?: Date;
  /**
   * Only these buildings (catalog keys) and their points, for a page about one building. Their
   * degree-days are the same as with the whole city: their own outdoor sensors when each has
   * one, else every sensor of the city is read for the city's degree-days. Default: every building.
   */
  buildings?: readonly string[];
}

/** Loads what `request` needs in five queries, whatever the number of buildings and months. */
export async function loadObjectiveData(
  pool: Pick<pg.Pool, 'query'>,
  timezone: string,
  request: LoadRequest,
  services?: ServiceDataReader,
): Promise<ObjectiveData> {
  const months = (
    await pool.query<{ key: string; start: Date; end: Date; hours: number; day_starts: number[] }>(
      `SELECT to_char(d, 'YYYY-MM') AS key, d AT TIME ZONE $3 AS start, (d + INTERVAL '1 month') AT TIME ZONE $3 AS end,
              extract(epoch FROM ((d + INTERVAL '1 month') AT TIME ZONE $3) - (d AT TIME ZONE $3)) / 3600 AS hours,
              ARRAY(SELECT extract(epoch FROM day AT TIME ZONE $3)::float8 * 1000
                      FROM generate_series(d, d + INTERVAL '1 month' - INTERVAL '1 day', INTERVAL '1 day') AS day) AS day_starts
         FROM generate_series(($1 || '-01')::timestamp, ($2 || '-01')::timestamp, INTERVAL '1 month') AS d`,
      [request.firstMonth, request.lastMonth, timezone],
    )
  ).rows.map((r) => ({ key: r.key, start: r.start, end: r.end, hours: Number(r.hours), dayStarts: r.day_starts.map(Number) }));
  const from = months[0]!.start;
  const to = months.at(-1)!.end;

  const buildings = new Map<string, CatalogBuilding>();
  for (const r of (
    await pool.query<{
      key: string;
      site: string;
      usage: string;
      area_m2: number | null;
      light_points: number | null;
      energy_reference_year: number | null;
      meters: MeterDeclaration[] | null;
    }>(`SELECT b.key, s.key AS site, b.usage, b.area_m2, b.light_points, b.energy_reference_year, b.meters FROM buildings b JOIN sites s ON s.id = b.site_id`)
  ).rows) {
    if (request.buildings && !request.buildings.includes(r.key)) continue;
    buildings.set(r.key, {
      key: r.key,
      site: r.site,
      usage: r.usage,
      areaM2: r.area_m2,
      lightPoints: r.light_points,
      referenceYear: r.energy_reference_year,
      meters: r.meters ?? [],
    });
  }

  const coolingBases = request.coolingDegreeDayBases ?? [];
  const anyDegreeDays = request.degreeDayBases.length > 0 || coolingBases.length > 0;
  const tagSets = anyDegreeDays ? [...request.tagSets, OUTDOOR_TEMPERATURE_TAGS] : request.tagSets;
  // Every meter is loaded, whatever the query: which ones it matches depends on the roles of all
  // the meters of its building (meters.ts), then the tag sets are matched on effective tags.
  const candidates = (
    await pool.query<{ id: string; building: string; gateway: string; key: string; unit: string | null; tags: string[] }>(
      `SELECT p.id, g.building_key AS building, g.id AS gateway, p.point_key AS key, p.unit, p.tags FROM points p JOIN gateways g ON g.id = p.gateway_id
        WHERE g.building_key IS NOT NULL AND p.retired_at IS NULL
          AND (p.tags && ARRAY['meter', 'submeter'] OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS t(set) WHERE p.tags @> string_to_array(t.set, ' ')))
          AND ($2::text[] IS NULL OR g.building_key = ANY ($2::text[]) OR p.tags @> $3::text[])`,
      [tagSets.map((t) => t.join(' ')), request.buildings ?? null, OUTDOOR_TEMPERATURE_TAGS],
    )
  ).rows.map((r) => ({ id: Number(r.id), building: r.building, gateway: r.gateway, key: r.key, unit: r.unit, tags: new Set(r.tags) }));
  const resolved = resolveMeters(candidates, new Map([...buildings.values()].map((b) => [b.key, b.meters])));
  let points: CatalogPoint[] = [];
  for (const c of candidates) {
    const meter = resolved.meters.get(c.id);
    const tags = meter?.tags ?? c.tags;
    if (tagSets.some((set) => matchesQuery(set, tags, meter))) points.push({ id: c.id, building: c.building, tags, ...(meter ? { meter } : {}) });
  }
  if (request.buildings) {
    // Other buildings' outdoor sensors make the city's degree-days, needed only by a building without its own.
    const asked = new Set(request.buildings);
    const isOutdoor = (p: CatalogPoint) => OUTDOOR_TEMPERATURE_TAGS.every((t) => p.tags.has(t));
    const ownSensors = [...asked].every((b) => points.some((p) => p.building === b && isOutdoor(p)));
    points = points.filter((p) => asked.has(p.building) || (!ownSensors && anyDegreeDays && isOutdoor(p)));
  }

  const pointMonths = new Map<number, Map<string, PointMonth>>();
  // Monthly rollups of the points the request's tag sets name: not of the outdoor sensors loaded
  // only for degree-days, which are read day by day below.
  const monthlyPoints = points.filter((p) => request.tagSets.some((set) => matchesQuery(set, p.tags, p.meter)));
  // The months before the first and after the last, for the readings on the far side of the
  // range's boundaries that meter advances are interpolated from.
  const around = (
    await pool.query<{ before: Date; after: Date }>(
      `SELECT (($1::timestamptz AT TIME ZONE $3) - INTERVAL '1 month') AT TIME ZONE $3 AS before, (($2::timestamptz AT TIME ZONE $3) + INTERVAL '1 month') AT TIME ZONE $3 AS after`,
      [from, to, timezone],
    )
  ).rows[0]!;
  for (const r of (
    await pool.query<{
      point_id: string;
      month: string;
      n: string;
      sum: number;
      min: number;
      max: number;
      first_value: number;
      last_value: number;
      first_time: number;
      last_time: number;
    }>(
      `SELECT point_id, to_char(bucket AT TIME ZONE $4, 'YYYY-MM') AS month, n, sum, min, max, first_value, last_value,
              -- Epoch ms as numbers: cheaper to read than timestamps, for tens of thousands of rows.
              extract(epoch FROM first_time)::float8 * 1000 AS first_time, extract(epoch FROM last_time)::float8 * 1000 AS last_time
         FROM rollup_month WHERE point_id = ANY ($1::bigint[]) AND bucket >= $2 AND bucket < $3`,
      [monthlyPoints.map((p) => p.id), around.before, around.after, timezone],
    )
  ).rows) {
    const id = Number(r.point_id);
    let byMonth = pointMonths.get(id);
    if (!byMonth) pointMonths.set(id, (byMonth = new Map()));
    byMonth.set(r.month, {
      n: Number(r.n),
      sum: r.sum,
      min: r.min,
      max: r.max,
      firstValue: r.first_value,
      lastValue: r.last_value,
      firstTime: r.first_time,
      lastTime: r.last_time,
      days: 0,
    });
  }
  for (const r of request.dayCoverage === false
    ? []
    : (
        await pool.query<{ point_id: string; month: string; days: number }>(
          `SELECT point_id, to_char(bucket AT TIME ZONE $4, 'YYYY-MM') AS month, bit_or(1 << (extract(day FROM bucket AT TIME ZONE $4)::int - 1)) AS days
         FROM rollup_day WHERE point_id = ANY ($1::bigint[]) AND bucket >= $2 AND bucket < $3 AND n > 0 GROUP BY 1, 2`,
          [points.map((p) => p.id), from, to, timezone],
        )
      ).rows) {
    const pm = pointMonths.get(Number(r.point_id))?.get(r.month);
    if (pm) pm.days = r.days;
  }

  const degreeDays = new Map<string, Map<number, Map<string, number>>>();
  const coolingDegreeDays = new Map<string, Map<number, Map<string, number>>>();
  const degreeDayDays = new Map<string, Map<string, number>>();
  if (anyDegreeDays) {
    // Heating bases count base − temperature (sign 1), cooling bases temperature − base (sign −1).
    const bases = [...request.degreeDayBases, ...coolingBases];
    const signs = [...request.degreeDayBases.map(() => 1), ...coolingBases.map(() => -1)];
    const method = request.degreeDayMethod ?? 'mean';
    if (!DEGREE_DAY_METHODS.includes(method)) throw new RangeError(`degreeDayMethod: ${String(method)} is not one of ${DEGREE_DAY_METHODS.join(', ')}`);
    const now = request.now ?? null;
    const outdoor = points.filter((p) => OUTDOOR_TEMPERATURE_TAGS.every((t) => p.tags.has(t)));
    // Heating degree-days of each outdoor sensor per month and base: the sum over its days of
    // max(0, base − the day's temperature), the day holding `now` weighted by its share of hours
    // gone by (so that the rest of the month is forecast at the pace of the hours, as
    // everything else), later days left out. Grouped per sensor first, without joins, then
    // averaged here: a building's degree-days are the mean of its sensors', the city's the mean
    // of all sensors'.
    // One pass over the days, one column per base (heating: base − temperature; cooling:
    // temperature − base), grouped by local month: the day's month and day bit come from its
    // local time, not from a time-zone-aware date_trunc, the costliest part of the query. Only
    // a day that may hold `now` (a day lasts at most 25 hours) is prorated; the others weigh 1.
    const columns = bases.map((_, i) => `sum(greatest(0, ($8::int[])[${i + 1}] * (($5::float8[])[${i + 1}] - t)) * w) AS dd${i}`).join(', ');
    const { rows } = await pool.query<{ point_id: string; month: string; days: number } & Record<`dd${number}`, number>>(
      `SELECT point_id, to_char(m, 'YYYY-MM') AS month, ${columns}, bit_or(bit) AS days FROM (
         SELECT point_id, date_trunc('month', bucket AT TIME ZONE $4) AS m,
                CASE WHEN $6 = 'min-max' THEN (min + max) / 2 ELSE sum / n END AS t,
                CASE WHEN $7::timestamptz IS NULL OR bucket + INTERVAL '25 hours' <= $7::timestamptz THEN 1
                     ELSE least(1, extract(epoch FROM $7::timestamptz - bucket)
                                   / extract(epoch FROM ((bucket AT TIME ZONE $4) + INTERVAL '1 day') AT TIME ZONE $4 - bucket)) END AS w,
                1 << (extract(day FROM bucket AT TIME ZONE $4)::int - 1) AS bit
           FROM rollup_day
          WHERE point_id = ANY ($1::bigint[]) AND bucket >= $2 AND bucket < $3 AND n > 0 AND bucket < coalesce($7::timestamptz, 'infinity')) AS per_day
        GROUP BY point_id, m`,
      [outdoor.map((p) => p.id), from, to, timezone, bases, method, now, signs],
    );
    const addDays = (scope: string, month: string, days: number) => {
      let byMonth = degreeDayDays.get(scope);
      if (!byMonth) degreeDayDays.set(scope, (byMonth = new Map()));
      byMonth.set(month, (byMonth.get(month) ?? 0) | days);
    };
    const buildingOf = new Map(outdoor.map((p) => [p.id, p.building]));
    /** scope → base → month → [sum of sensors' degree-days, sensors]. */
    const sums = new Map<string, Map<number, Map<string, [number, number]>>>();
    const coolingSums = new Map<string, Map<number, Map<string, [number, number]>>>();
    const add = (scope: string, base: number, month: string, dd: number, sign = 1) => {
      const target = sign === 1 ? sums : coolingSums;
      let byBase = target.get(scope);
      if (!byBase) target.set(scope, (byBase = new Map()));
      let byMonth = byBase.get(base);
      if (!byMonth) byBase.set(base, (byMonth = new Map()));
      const acc = byMonth.get(month) ?? [0, 0];
      byMonth.set(month, [acc[0] + dd, acc[1] + 1]);
    };
    for (const r of rows) {
      bases.forEach((base, i) => {
        add(`building:${buildingOf.get(Number(r.point_id))}`, base, r.month, r[`dd${i}`], signs[i]);
        add('city', base, r.month, r[`dd${i}`], signs[i]);
      });
      addDays(`building:${buildingOf.get(Number(r.point_id))}`, r.month, r.days);
      addDays('city', r.month, r.days);
    }
    // Daily means imported from a weather service stand in for the months no sensor measured.
    const imported = await pool.query<{ month: string; base: number; sign: number; dd: number; days: number }>(
      `SELECT to_char(day, 'YYYY-MM') AS month, base, sign,
              sum(greatest(0, sign * (base - mean_c))
                  * CASE WHEN $5::timestamptz IS NULL THEN 1
                         ELSE least(1, extract(epoch FROM $5::timestamptz - (day::timestamp AT TIME ZONE $4))
                                       / extract(epoch FROM ((day::timestamp + INTERVAL '1 day') AT TIME ZONE $4) - (day::timestamp AT TIME ZONE $4))) END) AS dd,
              bit_or(1 << (extract(day FROM day)::int - 1)) AS days
         FROM outdoor_temperatures, unnest($3::float8[], $6::int[]) AS b(base, sign)
        WHERE day >= ($1::timestamptz AT TIME ZONE $4)::date AND day < ($2::timestamptz AT TIME ZONE $4)::date
          AND day::timestamp AT TIME ZONE $4 < coalesce($5::timestamptz, 'infinity')
        GROUP BY 1, 2, 3`,
      [from, to, bases, timezone, now, signs],
    );
    const measured = new Set(rows.map((r) => r.month));
    for (const r of imported.rows) {
      if (measured.has(r.month)) continue;
      add('city', r.base, r.month, r.dd, r.sign);
      addDays('city', r.month, r.days);
    }
    for (const [target, source] of [
      [degreeDays, sums],
      [coolingDegreeDays, coolingSums],
    ] as const) {
      for (const [scope, byBase] of source) {
        target.set(scope, new Map([...byBase].map(([base, byMonth]) => [base, new Map([...byMonth].map(([month, [sum, n]]) => [month, sum / n]))])));
      }
    }
  }

  const serviceMap = new Map<string, Map<string, Map<string, ServiceMonth>>>();
  if (request.serviceMetrics.length && services) {
    for (const r of await services.monthly({ metrics: request.serviceMetrics, from, to, timezone })) {
      let byScope = serviceMap.get(r.metric);
      if (!byScope) serviceMap.set(r.metric, (byScope = new Map()));
      let byMonth = byScope.get(r.scope);
      if (!byMonth) byScope.set(r.scope, (byMonth = new Map()));
      byMonth.set(r.month, { sum: r.sum, min: r.min, max: r.max, count: r.count });
    }
  }
  return {
    timezone,
    months,
    buildings,
    points,
    pointMonths,
    degreeDays,
    ...(coolingBases.length ? { coolingDegreeDays } : {}),
    degreeDayDays,
    services: serviceMap,
    meterWarnings: resolved.warnings,
  };
}

export type { Attribute, PointAggregate, ServiceAggregate };

/** The service data module as the objectives read it: monthly aggregates of current values. */
export function serviceDataReader(serviceData: ServiceData): ServiceDataReader {
  return {
    monthly: async ({ metrics, from, to, timezone }) =>
      (await serviceData.aggregate({ metrics: [...metrics], from, to, step: 'month', timezone })).map((r) => ({
        metric: r.metric,
        scope: r.scope,
        // Buckets are local starts such as 2026-10-01T00:00:00+02:00.
        month: r.bucket.slice(0, 7),
        sum: r.sum,
        min: r.min,
        max: r.max,
        count: r.count,
      })),
  };
}
