import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { DATASETS, datasetById, type DatasetDefinition } from './datasets.js';
import { datasetStatement, makeCursor, type DatasetQuery } from './query.js';

/** The licences a dataset may be published under. */
export const LICENCES = {
  'etalab-2.0': {
    uri: 'https://www.etalab.gouv.fr/licence-ouverte-open-licence/',
    title: { fr: 'Licence Ouverte / Open Licence version 2.0 (Etalab)', en: 'Licence Ouverte / Open Licence version 2.0 (Etalab)' },
  },
  'odbl-1.0': {
    uri: 'https://opendatacommons.org/licenses/odbl/1-0/',
    title: { fr: 'Open Database License (ODbL) 1.0', en: 'Open Database License (ODbL) 1.0' },
  },
} as const;
export type Licence = keyof typeof LICENCES;
export const DEFAULT_LICENCE: Licence = 'etalab-2.0';

export interface DatasetSwitch {
  id: string;
  enabled: boolean;
  licence: Licence;
  updatedBy: string | null;
  updatedAt: string | null;
}

/** Who publishes, as the catalogue names them. */
export interface Publisher {
  publisher: string;
  homepage: string | null;
  contactEmail: string | null;
  /** The commune's INSEE code. */
  inseeCode: string | null;
  updatedAt: string | null;
}

export interface PublishedPoint {
  pointId: number;
  gateway: string;
  point: string;
  name: string;
  unit: string | null;
  building: string | null;
  publishedBy: string;
  publishedAt: string;
}

/** When a dataset's content last changed, and the validator its answers carry. */
export interface DatasetVersion {
  /** Null when nothing says (Last-Modified is then left out). */
  modified: Date | null;
  /** Changes whenever the content may have. */
  tag: string;
}

export class OpenDataError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: 'NO_SUCH_DATASET' | 'NO_SUCH_POINT' | 'TOO_MANY_DOWNLOADS',
    message: string,
  ) {
    super(message);
    this.name = 'OpenDataError';
    this.statusCode = code === 'TOO_MANY_DOWNLOADS' ? 429 : 404;
  }
}

export interface OpenDataOptions {
  /** The hub's database, for the switches (writes). */
  pool: pg.Pool;
  /** Where reads go (the API's pool, whose statement timeout bounds a page). Default `pool`. */
  readPool?: pg.Pool;
  /** The city's time zone: local days and months. */
  timezone: string;
  /** Downloads at once, each on a connection of its own. Default 3. */
  downloads?: number;
  /** Longest a download may take before PostgreSQL cancels it, ms. Default 30 minutes. */
  downloadTimeoutMs?: number;
}

/**
 * What the city publishes: the datasets switched on with their licence, the points published,
 * the publisher; and the reading of a dataset as pages (keyset) or as a whole file streamed from
 * PostgreSQL's COPY, never held in memory.
 */
export class OpenData {
  readonly timezone: string;
  private readonly readPool: pg.Pool;
  private readonly downloadPool: pg.Pool;
  private readonly tz: string;

  constructor(private readonly options: OpenDataOptions) {
    this.timezone = options.timezone;
    this.readPool = options.readPool ?? options.pool;
    this.tz = pg.escapeLiteral(options.timezone);
    const base = options.pool.options;
    this.downloadPool = new pg.Pool({
      ...base,
      options: [base.options, '-c jit=off'].filter(Boolean).join(' '),
      max: options.downloads ?? 3,
      statement_timeout: options.downloadTimeoutMs ?? 30 * 60_000,
      // A download waits this long for a connection before the client is told to come back.
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
    });
    this.downloadPool.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.downloadPool.end();
  }

  /** Every dataset with its switch (a dataset never switched is off, under the default licence). */
  async switches(): Promise<DatasetSwitch[]> {
    const { rows } = await this.readPool.query<{ id: string; enabled: boolean; licence: Licence; updated_by: string; updated_at: Date }>(
      `SELECT id, enabled, licence, updated_by, updated_at FROM open_data_datasets`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return DATASETS.map((d) => {
      const r = byId.get(d.id);
      return {
        id: d.id,
        enabled: r?.enabled ?? false,
        licence: r?.licence ?? DEFAULT_LICENCE,
        updatedBy: r?.updated_by ?? null,
        updatedAt: r?.updated_at.toISOString() ?? null,
      };
    });
  }

  /** The dataset and its switch when it is published; undefined otherwise (unknown or off). */
  async published(id: string): Promise<{ dataset: DatasetDefinition; switch: DatasetSwitch } | undefined> {
    const dataset = datasetById(id);
    if (!dataset) return undefined;
    const state = (await this.switches()).find((s) => s.id === id)!;
    return state.enabled ? { dataset, switch: state } : undefined;
  }

  /** Switches a dataset on or off, or changes its licence. */
  async setDataset(id: string, change: { enabled: boolean; licence?: Licence }, by: string): Promise<DatasetSwitch> {
    if (!datasetById(id))
      throw new OpenDataError('NO_SUCH_DATASET', `no dataset ${JSON.stringify(id)}; the datasets are ${DATASETS.map((d) => d.id).join(', ')}`);
    await this.options.pool.query(
      `INSERT INTO open_data_datasets (id, enabled, licence, updated_by) VALUES ($1, $2, coalesce($3, $4), $5)
       ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, licence = coalesce($3, open_data_datasets.licence), updated_by = excluded.updated_by, updated_at = now()`,
      [id, change.enabled, change.licence ?? null, DEFAULT_LICENCE, by],
    );
    return (await this.switches()).find((s) => s.id === id)!;
  }

  async publisher(): Promise<Publisher> {
    const { rows } = await this.readPool.query<{
      publisher: string;
      homepage: string | null;
      contact_email: string | null;
      insee_code: string | null;
      updated_at: Date | null;
    }>(
      `SELECT s.publisher, s.homepage, s.contact_email, s.insee_code, s.updated_at FROM open_data_settings s
       UNION ALL SELECT o.name, NULL, NULL, NULL, NULL FROM (SELECT name FROM organisations ORDER BY id LIMIT 1) o
       UNION ALL SELECT 'CityPilot', NULL, NULL, NULL, NULL LIMIT 1`,
    );
    const r = rows[0]!;
    return {
      publisher: r.publisher,
      homepage: r.homepage,
      contactEmail: r.contact_email,
      inseeCode: r.insee_code,
      updatedAt: r.updated_at?.toISOString() ?? null,
    };
  }

  async setPublisher(value: Omit<Publisher, 'updatedAt'> & { contactEmail: string }, by: string): Promise<Publisher> {
    await this.options.pool.query(
      `INSERT INTO open_data_settings (publisher, homepage, contact_email, insee_code, updated_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (singleton) DO UPDATE SET publisher = excluded.publisher, homepage = excluded.homepage, contact_email = excluded.contact_email,
         insee_code = excluded.insee_code, updated_by = excluded.updated_by, updated_at = now()`,
      [value.publisher, value.homepage, value.contactEmail, value.inseeCode, by],
    );
    return this.publisher();
  }

  async points(): Promise<PublishedPoint[]> {
    const { rows } = await this.readPool.query<{
      point_id: string;
      gateway: string;
      point: string;
      name: string;
      unit: string | null;
      building: string | null;
      published_by: string;
      published_at: Date;
    }>(
      `SELECT op.point_id, p.gateway_id AS gateway, p.point_key AS point, p.name, p.unit, g.building_key AS building, op.published_by, op.published_at
         FROM open_data_points op JOIN points p ON p.id = op.point_id JOIN gateways g ON g.id = p.gateway_id ORDER BY op.point_id`,
    );
    return rows.map((r) => ({
      pointId: Number(r.point_id),
      gateway: r.gateway,
      point: r.point,
      name: r.name,
      unit: r.unit,
      building: r.building,
      publishedBy: r.published_by,
      publishedAt: r.published_at.toISOString(),
    }));
  }

  /** Publishes a point's hourly values (or stops): true when that changed something. */
  async setPoint(gateway: string, point: string, published: boolean, by: string): Promise<boolean> {
    const found = await this.options.pool.query<{ id: string }>(`SELECT id FROM points WHERE gateway_id = $1 AND point_key = $2`, [gateway, point]);
    const id = found.rows[0]?.id;
    if (id === undefined) throw new OpenDataError('NO_SUCH_POINT', `gateway ${JSON.stringify(gateway)} has announced no point ${JSON.stringify(point)}`);
    const result = published
      ? await this.options.pool.query(`INSERT INTO open_data_points (point_id, published_by) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [id, by])
      : await this.options.pool.query(`DELETE FROM open_data_points WHERE point_id = $1`, [id]);
    return (result.rowCount ?? 0) > 0;
  }

  /** When `dataset`'s content last changed (its own data, its switch, the publisher). */
  async version(dataset: DatasetDefinition, state: DatasetSwitch): Promise<DatasetVersion> {
    const [{ rows }, publisher] = await Promise.all([this.readPool.query<{ modified: Date | null; tag: string | null }>(dataset.version), this.publisher()]);
    const times = [rows[0]?.modified, state.updatedAt ? new Date(state.updatedAt) : null, publisher.updatedAt ? new Date(publisher.updatedAt) : null].filter(
      (t): t is Date => t instanceof Date,
    );
    const modified = times.length ? new Date(Math.max(...times.map((t) => t.getTime()))) : null;
    const tag = createHash('sha256')
      .update(JSON.stringify([dataset.id, state.licence, state.updatedAt, publisher.updatedAt, rows[0]?.modified?.toISOString() ?? null, rows[0]?.tag ?? null]))
      .digest('base64url')
      .slice(0, 27);
    return { modified, tag };
  }

  /** The least and greatest values of the dataset's temporal field, as written (null without rows or such a field). */
  async coverage(dataset: DatasetDefinition): Promise<{ from: string; to: string } | null> {
    const field = dataset.fields.find((f) => f.name === dataset.temporal);
    if (!field) return null;
    const last = field.type === 'yearmonth' ? `(max(${field.sql}) + INTERVAL '1 month - 1 day')::date` : `max(${field.sql})`;
    const range = dataset.coverage?.(this.tz) ?? `SELECT min(${field.sql}) AS from, ${last} AS to ${dataset.from(this.tz)}`;
    const { rows } = await this.readPool.query<{ from: string | null; to: string | null }>(
      // Days of times in UTC, as the downloads write times; dates and months as they are.
      field.type === 'datetime'
        ? `SELECT to_char(r.from AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS from, to_char(r.to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS to FROM (${range}) r`
        : `SELECT to_char(r.from, 'YYYY-MM-DD') AS from, to_char(r.to, 'YYYY-MM-DD') AS to FROM (${range}) r`,
    );
    return rows[0]?.from && rows[0].to ? { from: rows[0].from, to: rows[0].to } : null;
  }

  /** One page of rows, and the cursor of the next one (null after the last). */
  async page(dataset: DatasetDefinition, query: DatasetQuery): Promise<{ rows: Record<string, unknown>[]; next: string | null }> {
    const statement = datasetStatement(dataset, query, this.tz, 'json', { limit: query.limit + 1 });
    const { rows } = await this.readPool.query<unknown[]>({ text: statement.text, values: statement.values, rowMode: 'array' });
    const more = rows.length > query.limit;
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      rows: page.map((r) => r[0] as Record<string, unknown>),
      next: more && last ? makeCursor(query.sort, last.slice(1).map(String)) : null,
    };
  }

  /**
   * The whole dataset (filtered and sorted as asked) as CSV with a header row, or as a JSON array
   * of objects, streamed from COPY: each chunk PostgreSQL sends is written on as it comes, so
   * memory stays flat whatever the size. Throws TOO_MANY_DOWNLOADS when every download
   * connection stays busy for 5 s. The stream's destruction (the client went away) closes the
   * connection, which ends the COPY.
   */
  async download(dataset: DatasetDefinition, query: DatasetQuery, format: 'csv' | 'json'): Promise<Readable> {
    const statement = datasetStatement(dataset, query, this.tz, format === 'csv' ? 'columns' : 'json', { inline: true });
    let client: pg.PoolClient;
    try {
      client = await this.downloadPool.connect();
    } catch {
      throw new OpenDataError('TOO_MANY_DOWNLOADS', 'every download slot of the hub is busy: try again in a minute');
    }
    // CSV: comma, header, double quotes where needed. JSON: one object per line, never quoted
    // (CSV quoting is set to a character JSON text never holds raw: control characters are
    // escaped in JSON strings).
    const copy =
      format === 'csv'
        ? `COPY (${statement.text}) TO STDOUT WITH (FORMAT csv, HEADER true)`
        : `COPY (${statement.text}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
    const source = client.query(copyTo(copy));
    let released = false;
    const release = (error?: Error) => {
      if (released) return;
      released = true;
      client.release(error);
    };
    source.on('end', () => release());
    source.on('error', (error: Error) => release(error));
    source.on('close', () => release(source.readableEnded ? undefined : new Error('download stopped')));
    if (format === 'csv') return source;
    const json = jsonArray();
    source.on('error', (error: Error) => json.destroy(error));
    json.on('close', () => {
      if (!source.readableEnded) source.destroy();
    });
    return source.pipe(json);
  }
}

/** Lines of JSON objects into one JSON array: `[`, the objects separated by `,`, `]`. */
function jsonArray(): Transform {
  let started = false;
  let pendingNewline = false;
  const NEWLINE = 0x0a;
  const SEPARATOR = Buffer.from(',\n');
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const parts: Buffer[] = [];
      if (!started) parts.push(Buffer.from('[\n'));
      started = true;
      // The newline ending the previous chunk was between two objects: this chunk holds another.
      if (pendingNewline && chunk.length) parts.push(SEPARATOR);
      let body = chunk;
      pendingNewline = body[body.length - 1] === NEWLINE;
      if (pendingNewline) body = body.subarray(0, body.length - 1);
      let from = 0;
      for (let i = body.indexOf(NEWLINE); i !== -1; i = body.indexOf(NEWLINE, i + 1)) {
        parts.push(body.subarray(from, i), SEPARATOR);
        from = i + 1;
      }
      parts.push(body.subarray(from));
      callback(null, Buffer.concat(parts));
    },
    flush(callback) {
      callback(null, Buffer.from(started ? '\n]\n' : '[]\n'));
    },
  });
}
