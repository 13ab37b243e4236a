import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import type pg from 'pg';
import { ConfigFileError, ID_PATTERN, parseYaml, StringEnum, validate, type Batch, type ConfigIssue } from '@citypilot/sdk';

/**
 * The city's catalog: its organisation, sites and buildings (with what objectives need: floor
 * area, usage, reference year), the equipment gateways read, and the link from points to all of
 * these. Buildings come from a catalog file maintained by the hub operator; gateways and
 * equipment register themselves from the gateways' announcements.
 */

/** What a building is used for: comparisons and targets are made between buildings of one usage. */
export const BUILDING_USAGES = [
  'town-hall',
  'offices',
  'school',
  'nursery',
  'gymnasium',
  'swimming-pool',
  'library',
  'cultural',
  'social',
  'technical',
  'other',
] as const;

const id = (example: string) => Type.String({ pattern: ID_PATTERN, expected: `an id of lowercase letters, digits, - and _ (such as ${example})` });
const place = {
  address: Type.Optional(Type.String({ minLength: 1 })),
  latitude: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
  longitude: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
};

/** Schema of a catalog file (YAML). */
export const CatalogSchema = Type.Object(
  {
    organisation: Type.Object({ id: id('ville-exemple'), name: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    sites: Type.Array(
      Type.Object(
        {
          id: id('centre-ville'),
          name: Type.String({ minLength: 1 }),
          ...place,
          buildings: Type.Array(
            Type.Object(
              {
                /** The id gateway configurations name in `gateway.building`. */
                id: id('town-hall'),
                name: Type.String({ minLength: 1 }),
                usage: StringEnum(BUILDING_USAGES),
                /** Heated floor area in m², for indicators per m². */
                area: Type.Number({ exclusiveMinimum: 0, expected: 'a floor area in m², greater than 0' }),
                ...place,
                /** Reference year of the building's energy objectives. */
                energyReferenceYear: Type.Optional(Type.Integer({ minimum: 2000, maximum: 2100 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

export type Catalog = Static<typeof CatalogSchema>;

/**
 * Reads and checks a catalog file.
 * @throws ConfigFileError naming the file, line and path of every problem
 */
export function loadCatalog(file: string): Catalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, [`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`], NOT_IMPORTED);
  }
  let source;
  try {
    source = parseYaml(text, file);
  } catch (error) {
    throw error instanceof ConfigFileError ? new ConfigFileError(file, error.problems, NOT_IMPORTED) : error;
  }
  const result = validate(CatalogSchema, source.data);
  if (!result.ok) throw new ConfigFileError(file, source.describe(result.issues), NOT_IMPORTED);
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, string>();
  result.value.sites.forEach((site, s) => {
    const siteWhere = `sites[${s}]`;
    if (seen.has(`site:${site.id}`)) issues.push({ path: ['sites', s, 'id'], message: `${JSON.stringify(site.id)} is already the id of ${seen.get(`site:${site.id}`)}` });
    seen.set(`site:${site.id}`, siteWhere);
    site.buildings.forEach((b, i) => {
      const where = `${siteWhere}.buildings[${i}]`;
      const key = `building:${b.id}`;
      if (seen.has(key)) issues.push({ path: ['sites', s, 'buildings', i, 'id'], message: `${JSON.stringify(b.id)} is already the id of ${seen.get(key)}` });
      seen.set(key, where);
    });
  });
  if (issues.length) throw new ConfigFileError(file, source.describe(issues), NOT_IMPORTED);
  return result.value;
}

const NOT_IMPORTED = 'nothing was imported';

/** What an import changed. */
export interface CatalogImport {
  sites: number;
  buildings: number;
  /** Buildings in the database that the file does not list (kept: history refers to them). */
  notInFile: string[];
}

/**
 * Writes a catalog into the database in one transaction: creates what is new and updates what
 * changed, by id. Nothing is deleted: a building missing from the file is reported, not removed.
 */
export async function importCatalog(pool: pg.Pool, catalog: Catalog): Promise<CatalogImport> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const org = await client.query<{ id: string }>(
      `INSERT INTO organisations (key, name) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET name = excluded.name RETURNING id`,
      [catalog.organisation.id, catalog.organisation.name],
    );
    let buildings = 0;
    for (const site of catalog.sites) {
      const s = await client.query<{ id: string }>(
        `INSERT INTO sites (organisation_id, key, name, address, latitude, longitude) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET organisation_id = excluded.organisation_id, name = excluded.name,
           address = excluded.address, latitude = excluded.latitude, longitude = excluded.longitude
         RETURNING id`,
        [org.rows[0]!.id, site.id, site.name, site.address ?? null, site.latitude ?? null, site.longitude ?? null],
      );
      for (const b of site.buildings) {
        await client.query(
          `INSERT INTO buildings (site_id, key, name, usage, area_m2, address, latitude, longitude, energy_reference_year)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (key) DO UPDATE SET site_id = excluded.site_id, name = excluded.name, usage = excluded.usage,
             area_m2 = excluded.area_m2, address = excluded.address, latitude = excluded.latitude,
             longitude = excluded.longitude, energy_reference_year = excluded.energy_reference_year`,
          [s.rows[0]!.id, b.id, b.name, b.usage, b.area, b.address ?? null, b.latitude ?? null, b.longitude ?? null, b.energyReferenceYear ?? null],
        );
        buildings++;
      }
    }
    const listed = catalog.sites.flatMap((s) => s.buildings.map((b) => b.id));
    const missing = await client.query<{ key: string }>(`SELECT key FROM buildings WHERE NOT (key = ANY($1)) ORDER BY key`, [listed]);
    await client.query('COMMIT');
    return { sites: catalog.sites.length, buildings, notInFile: missing.rows.map((r) => r.key) };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The catalog side of a gateway's announcement (its complete point list), applied inside the
 * ingest transaction after the points were upserted: the gateway's building, its devices as
 * equipment, and points it no longer lists marked retired (those it lists again, un-retired).
 */
export async function applyAnnouncement(client: pg.ClientBase, batch: Batch): Promise<void> {
  const points = batch.points ?? [];
  const keys = points.map((p) => p.id);
  if (batch.building !== undefined) await client.query('UPDATE gateways SET building_key = $2 WHERE id = $1', [batch.gateway, batch.building]);
  const devices = [...new Map(points.map((p) => [p.source.device, p.source.plugin])).entries()];
  await client.query(
    `INSERT INTO equipment (gateway_id, key, plugin) SELECT $1, d, p FROM unnest($2::text[], $3::text[]) AS u(d, p)
     ON CONFLICT (gateway_id, key) DO UPDATE SET plugin = excluded.plugin`,
    [batch.gateway, devices.map(([d]) => d), devices.map(([, p]) => p)],
  );
  await client.query(
    `UPDATE points p SET equipment_id = e.id FROM equipment e
      WHERE p.gateway_id = $1 AND e.gateway_id = $1 AND e.key = p.source->>'device'
        AND p.point_key = ANY($2) AND p.equipment_id IS DISTINCT FROM e.id`,
    [batch.gateway, keys],
  );
  await client.query(
    `UPDATE points SET retired_at = CASE WHEN point_key = ANY($2) THEN NULL ELSE now() END
      WHERE gateway_id = $1 AND (retired_at IS NULL) <> (point_key = ANY($2))`,
    [batch.gateway, keys],
  );
}

/** A building as listed by the API. */
export interface BuildingSummary {
  id: string;
  name: string;
  site: string;
  usage: string;
  areaM2: number | null;
  energyReferenceYear: number | null;
  gateways: string[];
  points: number;
}

/** Buildings with their site, the gateways that serve them, and their active points. */
export async function listBuildings(pool: pg.Pool): Promise<BuildingSummary[]> {
  const { rows } = await pool.query(
    `SELECT b.key, b.name, s.key AS site, b.usage, b.area_m2, b.energy_reference_year,
            coalesce(array_agg(DISTINCT g.id) FILTER (WHERE g.id IS NOT NULL), '{}') AS gateways,
            count(p.id) FILTER (WHERE p.retired_at IS NULL)::int AS points
       FROM buildings b JOIN sites s ON s.id = b.site_id
       LEFT JOIN gateways g ON g.building_key = b.key
       LEFT JOIN points p ON p.gateway_id = g.id
      GROUP BY b.id, s.key ORDER BY b.key`,
  );
  return rows.map((r) => ({
    id: r.key,
    name: r.name,
    site: r.site,
    usage: r.usage,
    areaM2: r.area_m2,
    energyReferenceYear: r.energy_reference_year,
    gateways: r.gateways,
    points: r.points,
  }));
}
