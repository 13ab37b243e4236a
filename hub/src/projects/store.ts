import type pg from 'pg';
import type { Theme } from '../objectives/model.js';
import { checkProject, type ProjectDefinition } from './model.js';

/**
 * Projects' definitions, versioned as objectives' are: defining a project that differs from its
 * current version stores a new version (who, when) and marks the old one superseded; deleting it
 * leaves it without a current version, its history kept. Nothing here computes: see evaluate.ts.
 */

/** A version of a project's definition, as stored. */
export interface StoredProject {
  /** Id of this version. */
  id: number;
  key: string;
  version: number;
  definition: ProjectDefinition;
  createdAt: string;
  createdBy: string;
  /** When this version stopped being the current one (a newer version, or the deletion); null for the current one. */
  supersededAt: string | null;
  /** Who deleted the project, on the version that was current then. */
  deletedBy: string | null;
}

export class Projects {
  /** Grows whenever this process changes a definition, a tariff or a factor: readers' caches key on it. */
  generation = 0;

  constructor(private readonly pool: pg.Pool) {}

  /**
   * Stores `input` as the project's new version when it differs from the current one (checked
   * first: ProjectDefinitionError says what is wrong and nothing is stored). A deleted project
   * defined again continues its numbering.
   */
  async define(input: unknown, by: string): Promise<{ project: StoredProject; created: boolean }> {
    const definition = checkProject(input);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`citypilot-project:${definition.key}`]);
      const current = await client.query<Row>(`SELECT * FROM projects WHERE key = $1 AND superseded_at IS NULL`, [definition.key]);
      if (current.rows[0] && canonical(current.rows[0].definition) === canonical(definition)) {
        await client.query('COMMIT');
        return { project: fromRow(current.rows[0]), created: false };
      }
      await client.query(`UPDATE projects SET superseded_at = now() WHERE key = $1 AND superseded_at IS NULL`, [definition.key]);
      const { rows } = await client.query<Row>(
        `INSERT INTO projects (key, version, definition, published, created_by)
         VALUES ($1, coalesce((SELECT max(version) FROM projects WHERE key = $1), 0) + 1, $2, $3, $4) RETURNING *`,
        [definition.key, JSON.stringify(definition), definition.published, by],
      );
      await client.query('COMMIT');
      this.generation++;
      return { project: fromRow(rows[0]!), created: true };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /** Deletes the project: its current version is superseded with none after it. False when it has none. */
  async remove(key: string, by: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE projects SET superseded_at = now(), deleted_by = $2 WHERE key = $1 AND superseded_at IS NULL`, [
      key,
      by,
    ]);
    if (rowCount) this.generation++;
    return Boolean(rowCount);
  }

  /** Current versions by key; only published ones unless asked. */
  async list(options: { includeUnpublished: boolean; theme?: Theme }): Promise<StoredProject[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM projects WHERE superseded_at IS NULL AND ($1 OR published) AND ($2::text IS NULL OR definition->>'theme' = $2) ORDER BY key`,
      [options.includeUnpublished, options.theme ?? null],
    );
    return rows.map(fromRow);
  }

  /** The current version of `key`, or version `version` of it (a deleted project's too); undefined if none. */
  async get(key: string, version?: number): Promise<StoredProject | undefined> {
    const { rows } = await this.pool.query<Row>(
      version === undefined ? `SELECT * FROM projects WHERE key = $1 AND superseded_at IS NULL` : `SELECT * FROM projects WHERE key = $1 AND version = $2`,
      version === undefined ? [key] : [key, version],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Every version of a project, newest first. */
  async versions(key: string): Promise<StoredProject[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM projects WHERE key = $1 ORDER BY version DESC`, [key]);
    return rows.map(fromRow);
  }
}

interface Row {
  id: string;
  key: string;
  version: number;
  definition: ProjectDefinition;
  created_at: Date;
  created_by: string;
  superseded_at: Date | null;
  deleted_by: string | null;
}

function fromRow(r: Row): StoredProject {
  return {
    id: Number(r.id),
    key: r.key,
    version: r.version,
    definition: r.definition,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    supersededAt: r.superseded_at?.toISOString() ?? null,
    deletedBy: r.deleted_by,
  };
}

/** JSON with object keys sorted: jsonb does not keep the order they were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
