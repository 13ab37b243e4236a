import { Type, type Static } from '@sinclair/typebox';
import type pg from 'pg';
import { resolveMeters } from '../objectives/meters.js';
import { ConfigFileError, ID_PATTERN, readYamlFile, StringEnum, validate, type Batch, type ConfigIssue } from '@citypilot/sdk';
import { PointIds } from './types.js';

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
                /** Public light points the building serves (a lighting cabinet), for energy per light point. */
                lightPoints: Type.Optional(Type.Integer({ minimum: 0 })),
                /** The building's identifier in the national building register (RNB, rnb.beta.gouv.fr), published with its open data. */
                rnbId: Type.Optional(
                  Type.String({ pattern: '^[0-9A-Z]{12}$', expected: 'an RNB identifier: 12 capital letters and digits (such as PG46YY6YWCX8)' }),
                ),
                /**
                 * The ids of the gateways that serve the building: only they may name it in
                 * their `gateway.building` (the hub refuses another's point list). Left out, any
                 * gateway may.
                 */
                gateways: Type.Optional(Type.Array(id('town-hall'), { uniqueItems: true, expected: 'a list of gateway ids, each once (such as [town-hall])' })),
                /**
                 * Roles of the building's energy meters: for each energy, one main meter (the
                 * building's: energy objectives count it) and sub-meters of it (counted in
                 * breakdowns only, `submeter` queries), and the kWh conversion coefficients of
                 * meters counting a volume (gas m³). Left out: roles from the points' tags
                 * (`siteMeter`, `submeter`), else one main meter per energy chosen with a warning.
                 */
                meters: Type.Optional(
                  Type.Array(
                    Type.Object(
                      {
                        /** The point's id as its gateway announces it (meters.elec-energy). */
                        point: Type.String({ minLength: 1, expected: 'a point id as its gateway announces it (such as meters.elec-energy)' }),
                        role: StringEnum(['main', 'sub'] as const),
                        /** For a sub-meter, the point of the meter it is part of. */
                        submeterOf: Type.Optional(Type.String({ minLength: 1 })),
                        /** kWh per unit counted (kWh/m³ for gas), each from a local month on: the supplier's coefficients. */
                        conversions: Type.Optional(
                          Type.Array(
                            Type.Object(
                              {
                                from: Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])$', expected: 'a local month YYYY-MM (such as 2025-01)' }),
                                kWhPerUnit: Type.Number({
                                  exclusiveMinimum: 0,
                                  expected: 'kWh per unit counted, greater than 0 (such as 11.23 for gas in m³)',
                                }),
                                source: Type.String({ minLength: 1, expected: 'where the coefficient comes from (such as "GRDF invoice January 2025")' }),
                              },
                              { additionalProperties: false },
                            ),
                            { minItems: 1 },
                          ),
                        ),
                      },
                      { additionalProperties: false },
                    ),
                  ),
                ),
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
  const source = readYamlFile(file, NOT_IMPORTED);
  const result = validate(CatalogSchema, source.data);
  if (!result.ok) throw new ConfigFileError(file, source.describe(result.issues), NOT_IMPORTED);
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, string>();
  result.value.sites.forEach((site, s) => {
    const siteWhere = `sites[${s}]`;
    if (seen.has(`site:${site.id}`))
      issues.push({ path: ['sites', s, 'id'], message: `${JSON.stringify(site.id)} is already the id of ${seen.get(`site:${site.id}`)}` });
    seen.set(`site:${site.id}`, siteWhere);
    site.buildings.forEach((b, i) => {
      const where = `${siteWhere}.buildings[${i}]`;
      const key = `building:${b.id}`;
      if (seen.has(key)) issues.push({ path: ['sites', s, 'buildings', i, 'id'], message: `${JSON.stringify(b.id)} is already the id of ${seen.get(key)}` });
      seen.set(key, where);
      const points = new Set<string>();
      const froms = (b.meters ?? []).map((m) => m.conversions?.map((c) => c.from) ?? []);
      (b.meters ?? []).forEach((m, j) => {
        const at = ['sites', s, 'buildings', i, 'meters', j];
        if (points.has(m.point)) issues.push({ path: [...at, 'point'], message: `${JSON.stringify(m.point)} is declared twice` });
        points.add(m.point);
        if (m.role === 'main' && m.submeterOf !== undefined)
          issues.push({ path: [...at, 'submeterOf'], message: 'a main meter is a sub-meter of no other; remove submeterOf or make the role sub' });
        if (m.submeterOf === m.point) issues.push({ path: [...at, 'submeterOf'], message: 'a meter cannot be a sub-meter of itself' });
        if (new Set(froms[j]).size !== froms[j]!.length)
          issues.push({ path: [...at, 'conversions'], message: 'two coefficients from the same month; give each month once' });
      });
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
  /**
   * What the operator should fix in the meters' roles, from the file and the points gateways
   * announced so far: two main meters of one energy in a building, several meters of one energy
   * and none declared main (meters.ts chose one).
   */
  warnings: string[];
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
          `INSERT INTO buildings (site_id, key, name, usage, area_m2, address, latitude, longitude, energy_reference_year, light_points, gateways, meters, rnb_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (key) DO UPDATE SET site_id = excluded.site_id, name = excluded.name, usage = excluded.usage,
             area_m2 = excluded.area_m2, address = excluded.address, latitude = excluded.latitude,
             longitude = excluded.longitude, energy_reference_year = excluded.energy_reference_year, light_points = excluded.light_points,
             gateways = excluded.gateways, meters = excluded.meters, rnb_id = excluded.rnb_id`,
          [
            s.rows[0]!.id,
            b.id,
            b.name,
            b.usage,
            b.area,
            b.address ?? null,
            b.latitude ?? null,
            b.longitude ?? null,
            b.energyReferenceYear ?? null,
            b.lightPoints ?? null,
            b.gateways ?? null,
            b.meters ? JSON.stringify(b.meters) : null,
            b.rnbId ?? null,
          ],
        );
        buildings++;
      }
    }
    const listed = catalog.sites.flatMap((s) => s.buildings.map((b) => b.id));
    const missing = await client.query<{ key: string }>(`SELECT key FROM buildings WHERE NOT (key = ANY($1)) ORDER BY key`, [listed]);
    await client.query('COMMIT');
    return { sites: catalog.sites.length, buildings, notInFile: missing.rows.map((r) => r.key), warnings: await meterWarnings(pool, catalog) };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The meters' warnings of the file's buildings: two main meters declared for one energy (known
 * from the file alone), and those that depend on the points announced so far (meters.ts).
 */
async function meterWarnings(pool: pg.Pool, catalog: Catalog): Promise<string[]> {
  const keys = catalog.sites.flatMap((s) => s.buildings.map((b) => b.id));
  const { rows } = await pool.query<{ id: string; building: string; gateway: string; key: string; unit: string | null; tags: string[] }>(
    `SELECT p.id, g.building_key AS building, g.id AS gateway, p.point_key AS key, p.unit, p.tags FROM points p JOIN gateways g ON g.id = p.gateway_id
      WHERE g.building_key = ANY ($1::text[]) AND p.retired_at IS NULL AND p.tags && ARRAY['meter', 'submeter']`,
    [keys],
  );
  const declarations = new Map(catalog.sites.flatMap((s) => s.buildings.map((b) => [b.id, b.meters ?? []] as const)));
  return resolveMeters(
    rows.map((r) => ({ ...r, id: Number(r.id), tags: new Set(r.tags) })),
    declarations,
  ).warnings;
}

/** A point as a gateway announces it. */
export type AnnouncedPoint = NonNullable<Batch['points']>[number];

/**
 * What the announcements (complete point lists) of one write say, as if they were applied one by
 * one in each gateway's order: a point's definition is the one of the latest announcement that
 * names it, and a gateway's list, building and retirements are those of its latest announcement.
 */
export interface Announcements {
  /** Every point announced, once, sorted by gateway and point id. */
  points: { gateway: string; point: AnnouncedPoint }[];
  /** The latest announcement of each gateway that announced, sorted by gateway. */
  latest: Batch[];
}

export function collectAnnouncements(batches: readonly Batch[]): Announcements {
  const announcing = batches.filter((b) => b.points?.length).sort((a, b) => (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : a.seq - b.seq));
  const points = new Map<string, { gateway: string; point: AnnouncedPoint }>();
  const latest = new Map<string, Batch>();
  for (const batch of announcing) {
    // A list sent in parts says what it retires with its last part only (see Batch.pointsPart).
    if (!batch.pointsPart || batch.pointIds) latest.set(batch.gateway, batch);
    for (const point of batch.points!) points.set(`${batch.gateway}\0${point.id}`, { gateway: batch.gateway, point });
  }
  const byKey = (a: { gateway: string; point: AnnouncedPoint }, b: { gateway: string; point: AnnouncedPoint }) =>
    a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : a.point.id < b.point.id ? -1 : a.point.id > b.point.id ? 1 : 0;
  return { points: [...points.values()].sort(byKey), latest: [...latest.values()] };
}

/**
 * The catalog side of gateways' announcements, applied inside the ingest transaction after the
 * points were upserted: each gateway's building, its devices as equipment, and points it no
 * longer lists marked retired (those it lists again, un-retired). A few statements, however many
 * gateways announce in the write.
 */
export async function applyAnnouncements(client: pg.ClientBase, announcements: Announcements): Promise<void> {
  const { points, latest } = announcements;
  if (!points.length) return;
  const withBuilding = latest.filter((b) => b.building !== undefined);
  if (withBuilding.length) {
    await client.query(
      `UPDATE gateways g SET building_key = u.b FROM unnest($1::text[], $2::text[]) AS u(g, b) WHERE g.id = u.g AND g.building_key IS DISTINCT FROM u.b`,
      [withBuilding.map((b) => b.gateway), withBuilding.map((b) => b.building)],
    );
  }
  // Devices: the plugin of a device is the one its latest-defined point names.
  const devices = new Map<string, [string, string, string]>();
  for (const { gateway, point } of points) devices.set(`${gateway}\0${point.source.device}`, [gateway, point.source.device, point.source.plugin]);
  const d = [...devices.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  await client.query(
    `INSERT INTO equipment (gateway_id, key, plugin) SELECT g, k, p FROM unnest($1::text[], $2::text[], $3::text[]) AS u(g, k, p)
     ON CONFLICT (gateway_id, key) DO UPDATE SET plugin = excluded.plugin WHERE equipment.plugin IS DISTINCT FROM excluded.plugin`,
    [d.map((x) => x[0]), d.map((x) => x[1]), d.map((x) => x[2])],
  );
  await client.query(
    `UPDATE points p SET equipment_id = e.id
       FROM unnest($1::text[], $2::text[]) AS u(g, k), equipment e
      WHERE p.gateway_id = u.g AND p.point_key = u.k AND e.gateway_id = u.g AND e.key = p.source->>'device'
        AND p.equipment_id IS DISTINCT FROM e.id`,
    [points.map((x) => x.gateway), points.map((x) => x.point.id)],
  );
  // Every point announced is in use again, a part's included.
  await client.query(
    `UPDATE points p SET retired_at = NULL FROM unnest($1::text[], $2::text[]) AS u(g, k)
      WHERE p.gateway_id = u.g AND p.point_key = u.k AND p.retired_at IS NOT NULL`,
    [points.map((x) => x.gateway), points.map((x) => x.point.id)],
  );
  if (!latest.length) return;
  const listed = latest.flatMap((b) => (b.pointIds ?? b.points!.map((p) => p.id)).map((id) => [b.gateway, id] as const));
  const lists = [listed.map(([g]) => g), listed.map(([, k]) => k)];
  await client.query(
    `UPDATE points p SET retired_at = now()
      WHERE p.gateway_id = ANY ($3::text[]) AND p.retired_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS u(g, k) WHERE u.g = p.gateway_id AND u.k = p.point_key)`,
    [...lists, latest.map((b) => b.gateway)],
  );
}

/**
 * The catalog step of a write (see types.ts), inside its transaction: records each gateway's
 * contact and latest sequence and, when `points` is given, registers what the write says of its
 * points: the points announced (upserted, then applyAnnouncements), and a minimal entry for every
 * point its samples name that neither `points.known` nor an announcement knows. The ids of the
 * points registered are put in `points.learnt`.
 *
 * Lock order (see Storage.writeBatches): the gateways' rows, sorted by id, before any row of
 * their points.
 */
export async function recordInCatalog(client: pg.ClientBase, batches: readonly Batch[], points?: { known: PointIds; learnt: PointIds }): Promise<void> {
  await upsertGateways(client, batches);
  if (!points) return;
  const announced = collectAnnouncements(batches);
  if (announced.points.length) {
    await upsertPoints(client, announced, points.learnt);
    await applyAnnouncements(client, announced);
  }
  await resolveUnknownPoints(client, batches, points.known, points.learnt);
}

/** Records the gateways' latest contact and sequence. */
async function upsertGateways(client: pg.ClientBase, batches: readonly Batch[]): Promise<void> {
  const maxSeq = new Map<string, number>();
  for (const b of batches) maxSeq.set(b.gateway, Math.max(maxSeq.get(b.gateway) ?? 0, b.seq));
  // Sorted: concurrent writers lock the rows in the same order (see Storage.writeBatches).
  const ids = [...maxSeq.keys()].sort();
  await client.query(
    `INSERT INTO gateways (id, last_seen, last_seq)
     SELECT g, now(), s FROM unnest($1::text[], $2::bigint[]) AS u(g, s)
     ON CONFLICT (id) DO UPDATE SET last_seen = now(), last_seq = GREATEST(gateways.last_seq, excluded.last_seq)`,
    [ids, ids.map((id) => maxSeq.get(id)!)],
  );
}

/** Registers or updates the points gateways announce (name, unit, tags, source). */
async function upsertPoints(client: pg.ClientBase, announced: Announcements, learnt: PointIds): Promise<void> {
  const { points } = announced;
  const { rows } = await client.query<{ id: string; gateway_id: string; point_key: string }>(
    `INSERT INTO points (gateway_id, point_key, name, unit, kind, tags, source, interval_ms)
     SELECT g, k, n, u, kd, ARRAY(SELECT jsonb_array_elements_text(tg)), src, iv
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::int[]) AS x(g, k, n, u, kd, tg, src, iv)
     ON CONFLICT (gateway_id, point_key) DO UPDATE SET
       name = excluded.name, unit = excluded.unit, kind = excluded.kind, tags = excluded.tags,
       source = excluded.source, interval_ms = excluded.interval_ms, updated_at = now()
     RETURNING id, gateway_id, point_key`,
    [
      points.map((x) => x.gateway),
      points.map((x) => x.point.id),
      points.map((x) => x.point.name),
      points.map((x) => x.point.unit ?? null),
      points.map((x) => x.point.kind),
      points.map((x) => JSON.stringify(x.point.tags)),
      points.map((x) => JSON.stringify(x.point.source)),
      points.map((x) => x.point.intervalMs ?? null),
    ],
  );
  for (const r of rows) learnt.set(r.gateway_id, r.point_key, Number(r.id));
}

/** Points that samples name but no announcement has registered yet get a minimal entry. */
async function resolveUnknownPoints(client: pg.ClientBase, batches: readonly Batch[], known: PointIds, learnt: PointIds): Promise<void> {
  const gateways: string[] = [];
  const keys: string[] = [];
  const unknown = new PointIds();
  for (const batch of batches) {
    for (const s of batch.samples) {
      if (learnt.get(batch.gateway, s.point) || known.get(batch.gateway, s.point) || unknown.get(batch.gateway, s.point)) continue;
      unknown.set(batch.gateway, s.point, 1);
      gateways.push(batch.gateway);
      keys.push(s.point);
    }
  }
  if (!keys.length) return;
  await client.query(
    `INSERT INTO points (gateway_id, point_key, name)
     SELECT g, k, k FROM unnest($1::text[], $2::text[]) AS u(g, k)
     ON CONFLICT (gateway_id, point_key) DO NOTHING`,
    [gateways, keys],
  );
  const { rows } = await client.query<{ id: string; gateway_id: string; point_key: string }>(
    `SELECT p.id, p.gateway_id, p.point_key FROM points p
       JOIN unnest($1::text[], $2::text[]) AS u(g, k) ON p.gateway_id = u.g AND p.point_key = u.k`,
    [gateways, keys],
  );
  for (const r of rows) learnt.set(r.gateway_id, r.point_key, Number(r.id));
}

/** A gateway naming a building in its point list. */
export interface BuildingClaim {
  gateway: string;
  building: string;
}

/** Why the catalog refuses a claim: it does not know the building, or lists other gateways for it. */
export type BuildingRefusal = { reason: 'unknown' } | { reason: 'other-gateways'; gateways: string[] };

/**
 * The claims the catalog refuses, keyed by {@link buildingClaimKey}: a building it does not know
 * (none while it holds no building at all: before its first import, gateways may announce their
 * building first, linked to it by key), or one whose `gateways` do not list the claiming gateway.
 */
export async function refusedBuildingClaims(pool: pg.Pool, claims: readonly BuildingClaim[]): Promise<Map<string, BuildingRefusal>> {
  const { rows } = await pool.query<{ g: string; b: string; known: boolean; gateways: string[] | null }>(
    `SELECT u.g, u.b, b.key IS NOT NULL AS known, b.gateways
       FROM unnest($1::text[], $2::text[]) AS u(g, b) LEFT JOIN buildings b ON b.key = u.b
      WHERE (b.key IS NULL AND EXISTS (SELECT 1 FROM buildings)) OR NOT (u.g = ANY (coalesce(b.gateways, ARRAY[u.g])))`,
    [claims.map((c) => c.gateway), claims.map((c) => c.building)],
  );
  return new Map(
    rows.map((r) => [
      buildingClaimKey({ gateway: r.g, building: r.b }),
      r.known ? { reason: 'other-gateways', gateways: r.gateways ?? [] } : { reason: 'unknown' },
    ]),
  );
}

export function buildingClaimKey(claim: BuildingClaim): string {
  return `${claim.gateway}\0${claim.building}`;
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
