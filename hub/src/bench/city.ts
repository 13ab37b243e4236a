/**
 * The benchmarks' city (bench:objectives, bench:dashboard): `buildings` buildings on 10 sites
 * (site-1 … site-10, buildings b001 …), each with an electricity meter, a heat meter and an
 * outdoor temperature sensor read daily since 2024-01-01 (or `from`), rollups built.
 */
import type { Storage } from '../storage/storage.js';

/**
 * The city: catalog, one gateway per building, daily readings from 2024 to now, rollups.
 * Into an empty database (Storage.open has migrated it).
 */
export async function generateBenchCity(storage: Storage, o: { buildings: number; from?: Date }): Promise<{ samples: number }> {
  const pool = storage.pool;
  await pool.query(`INSERT INTO organisations (key, name) VALUES ('bench-city', 'Bench city')`);
  await pool.query(
    `INSERT INTO sites (organisation_id, key, name) SELECT o.id, format('site-%s', s), format('Site %s', s) FROM organisations o, generate_series(1, 10) s`,
  );
  await pool.query(
    `INSERT INTO buildings (site_id, key, name, usage, area_m2, energy_reference_year, light_points)
     SELECT s.id, format('b%s', lpad(b::text, 3, '0')), format('Building %s', b), (ARRAY['school', 'town-hall', 'gymnasium', 'library', 'offices'])[1 + b % 5],
            800 + (b * 37) % 4000, 2024, CASE WHEN b % 20 = 0 THEN 400 END
       FROM generate_series(1, $1) b JOIN sites s ON s.key = format('site-%s', 1 + b % 10)`,
    [o.buildings],
  );
  await pool.query(`INSERT INTO gateways (id, building_key) SELECT key, key FROM buildings`);
  await pool.query(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags)
     SELECT g.id, p.key, p.key, p.unit, 'number', p.tags FROM gateways g CROSS JOIN (VALUES
       ('elec.energy', 'kWh', '{elec,meter,energy}'::text[]), ('heat.energy', 'kWh', '{heat,meter,energy}'::text[]), ('outdoor.temp', '°C', '{air,temp,outside,sensor}'::text[])
     ) AS p(key, unit, tags)`,
  );
  const from = o.from ?? new Date(Date.UTC(2024, 0, 1));
  const to = new Date();
  await storage.partitions.ensurePartitions(from.getTime(), to.getTime());
  const { rowCount } = await pool.query(
    `INSERT INTO samples (point_id, time, value, quality)
     SELECT p.id, t,
            CASE WHEN p.point_key = 'outdoor.temp' THEN 11 - 8 * cos(2 * pi() * extract(doy FROM t) / 365)
                 ELSE k * (50 + p.id % 40) * (CASE WHEN p.point_key = 'heat.energy' THEN 1.5 ELSE 1 END) * (1 - 0.00005 * k) END,
            'good'
       FROM points p, LATERAL generate_series($1::timestamptz, $2::timestamptz, INTERVAL '1 day') WITH ORDINALITY AS g(t, k)`,
    [from, to],
  );
  await storage.rollups.rebuild({ from, to });
  for (const t of storage.mode === 'timescaledb' ? ['samples'] : ['samples', 'rollup_hour', 'rollup_day', 'rollup_month'])
    await pool.query(`VACUUM ANALYZE ${t}`);
  return { samples: rowCount ?? 0 };
}
