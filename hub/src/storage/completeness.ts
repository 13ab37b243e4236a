import type pg from 'pg';

/** One bucket of completeness: samples received against samples expected from the poll interval. */
export interface CompletenessRow {
  /** `<gateway>/<point>` for a point, the building id for a building. */
  key: string;
  /** Start of the bucket in the city's time zone, e.g. `2026-10-25T00:00:00` (no offset). */
  bucket: string;
  received: number;
  expected: number;
  /** received / expected, at most 1 (a point read faster than configured counts as complete). */
  ratio: number;
}

export interface CompletenessQuery {
  by: 'point' | 'building';
  step: 'hour' | 'day';
  /** Time range, start included, end excluded. */
  from: Date;
  to: Date;
  /** The city's time zone (IANA name). Default Europe/Paris. */
  timezone?: string;
}

/**
 * Share of the samples expected that were received, per point or per building, per hour or per
 * day in the city's time zone. Expected counts come from each point's poll interval and the real
 * length of the bucket: a day of a daylight-saving change has 23 or 25 hours. Points the gateway
 * no longer announces (retired) and points with no known interval are left out; a building's
 * ratio is its points' samples received over samples expected.
 */
export async function completeness(pool: pg.Pool, query: CompletenessQuery): Promise<CompletenessRow[]> {
  const timezone = query.timezone ?? 'Europe/Paris';
  // Buckets as [start, end) instants. Hours are real hours (the zone's offsets are whole hours in
  // the cities we serve); days run from local midnight to the next local midnight.
  const buckets =
    query.step === 'hour'
      ? `SELECT g AS start_at, g + interval '1 hour' AS end_at
           FROM generate_series(date_trunc('hour', $1::timestamptz, $3), $2::timestamptz - interval '1 microsecond', interval '1 hour') AS g`
      : `SELECT (d AT TIME ZONE $3) AS start_at, ((d + interval '1 day') AT TIME ZONE $3) AS end_at
           FROM generate_series(
                  date_trunc('day', $1::timestamptz AT TIME ZONE $3),
                  date_trunc('day', ($2::timestamptz - interval '1 microsecond') AT TIME ZONE $3),
                  interval '1 day') AS d`;
  const key = query.by === 'point' ? `p.gateway_id || '/' || p.point_key` : `g.building_key`;
  const { rows } = await pool.query<{ key: string; bucket: Date | string; received: string; expected: string }>(
    `WITH buckets AS (${buckets}),
          pts AS (
            SELECT p.id, p.interval_ms, ${key} AS key FROM points p JOIN gateways g ON g.id = p.gateway_id
             WHERE p.retired_at IS NULL AND p.interval_ms IS NOT NULL ${query.by === 'building' ? 'AND g.building_key IS NOT NULL' : ''}
          ),
          per_point AS (
            SELECT pts.key, b.start_at,
                   -- The range's own bounds too (a bucket lies within a day of them), so that the
                   -- planner reads only the partitions of the range: over every partition of
                   -- years of samples, its cost estimate called for JIT compilation, 200 ms each time.
                   (SELECT count(*) FROM samples s WHERE s.point_id = pts.id AND s.time >= b.start_at AND s.time < b.end_at
                       AND s.time >= $1::timestamptz - interval '1 day' AND s.time < $2::timestamptz + interval '1 day') AS received,
                   extract(epoch FROM b.end_at - b.start_at) * 1000 / pts.interval_ms AS expected
              FROM pts CROSS JOIN buckets b
          )
     SELECT key, to_char(start_at AT TIME ZONE $3, 'YYYY-MM-DD"T"HH24:MI:SS') AS bucket,
            sum(received) AS received, sum(expected) AS expected
       FROM per_point GROUP BY key, start_at ORDER BY key, start_at`,
    [query.from, query.to, timezone],
  );
  return rows.map((r) => {
    const received = Number(r.received);
    const expected = Number(r.expected);
    return { key: r.key, bucket: String(r.bucket), received, expected, ratio: expected > 0 ? Math.min(1, received / expected) : 0 };
  });
}

/** How many keys (points or buildings) a completeness query would give rows for, per bucket. */
export async function completenessKeys(pool: pg.Pool, by: 'point' | 'building'): Promise<number> {
  const key = by === 'point' ? 'p.id' : 'g.building_key';
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(DISTINCT ${key}) AS n FROM points p JOIN gateways g ON g.id = p.gateway_id
      WHERE p.retired_at IS NULL AND p.interval_ms IS NOT NULL ${by === 'building' ? 'AND g.building_key IS NOT NULL' : ''}`,
  );
  return Number(rows[0]!.n);
}
