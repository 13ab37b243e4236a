/**
 * The plugin versions each gateway should run: rows of `plugin_assignments` in the database (the
 * hub's record, which the API lists), written out as the JSON `PluginAssignments` under key `<g>`
 * of the fleet key-value bucket (what gateway `<g>` reads, protocols/wire/src/fleet.ts), then
 * announced on `<prefix>.fleet.assign.<g>`.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { ensureDirectGet } from '../services/config-push.js';
import { configBucketStream, encodeAssignments, fleetSubjects, pluginObjectName, type PluginAssignment, type PluginAssignments } from '@citypilot/wire';

/** Revisions kept per gateway in the fleet bucket. */
export const ASSIGNMENT_HISTORY = 5;

export interface AssignmentStoreOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  /** Subject prefix of the deployment. */
  prefix: string;
  /** The fleet key-value bucket (default citypilot-fleet); created when missing, with direct get. */
  bucket: string;
}

/** One change of a gateway's assignments: the version of `plugin` it should run, or null to remove the plugin. */
export interface AssignmentChange {
  plugin: string;
  version: string | null;
}

/** The versions assigned to gateways, as the API lists them. */
export interface AssignmentRow {
  gateway: string;
  plugin: string;
  version: string;
}

/** The gateways' assignments, kept in the database and the fleet bucket. */
export class PluginAssignmentStore {
  private kv: Promise<KV> | undefined;

  constructor(private readonly options: AssignmentStoreOptions) {}

  /**
   * Applies `changes` to gateway `gateway`'s assignments and writes its whole key again, then
   * notifies it. The database rows and the key change together: a key that cannot be written
   * leaves the rows as they were. `rollout` names the rollout that made the change.
   * Every version must be published (plugin_packages). Resolves with the key's revision.
   */
  async apply(gateway: string, changes: readonly AssignmentChange[], rollout: number | null = null): Promise<number> {
    const kv = await this.bucket();
    const client = await this.options.pool.connect();
    let revision: number;
    try {
      await client.query('BEGIN');
      // One writer per gateway's key at a time, so that the key is the rows' latest state.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`plugin-assignments:${gateway}`]);
      for (const change of changes) {
        if (change.version === null) await client.query('DELETE FROM plugin_assignments WHERE gateway = $1 AND plugin = $2', [gateway, change.plugin]);
        else
          await client.query(
            `INSERT INTO plugin_assignments (gateway, plugin, version, rollout) VALUES ($1, $2, $3, $4)
             ON CONFLICT (gateway, plugin) DO UPDATE SET version = EXCLUDED.version, rollout = EXCLUDED.rollout, assigned_at = now()`,
            [gateway, change.plugin, change.version, rollout],
          );
      }
      const assignments = await gatewayAssignments(client, gateway);
      revision = await kv.put(gateway, encodeAssignments(assignments));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    this.options.nc.publish(fleetSubjects(this.options.prefix).assign(gateway), JSON.stringify({ revision }));
    await this.options.nc.flush();
    return revision;
  }

  /** The version of `plugin` assigned to each of `gateways` (those without one are left out). */
  async versions(plugin: string, gateways: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await this.options.pool.query<{ gateway: string; version: string }>(
      'SELECT gateway, version FROM plugin_assignments WHERE plugin = $1 AND gateway = ANY($2)',
      [plugin, gateways],
    );
    return new Map(rows.map((r) => [r.gateway, r.version]));
  }

  private bucket(): Promise<KV> {
    this.kv ??= (async () => {
      const kv = await new Kvm(this.options.nc).create(this.options.bucket, { history: ASSIGNMENT_HISTORY, allow_direct: true });
      await ensureDirectGet(this.options.nc, configBucketStream(this.options.bucket));
      return kv;
    })().catch((error: unknown) => {
      this.kv = undefined;
      throw error;
    });
    return this.kv;
  }
}

/** Every assignment, by gateway then plugin (the API's list). */
export async function listAssignments(pool: pg.Pool): Promise<AssignmentRow[]> {
  const { rows } = await pool.query<AssignmentRow>('SELECT gateway, plugin, version FROM plugin_assignments ORDER BY gateway, plugin');
  return rows;
}

/** A gateway's assignments as its key in the fleet bucket holds them. */
export async function gatewayAssignments(client: pg.ClientBase | pg.Pool, gateway: string): Promise<PluginAssignments> {
  const { rows } = await client.query<{ id: string; version: string; sdk: string; sha256: string; size: number; signature: string; key_id: string }>(
    `SELECT p.id, p.version, p.sdk, p.sha256, p.size, p.signature, p.key_id
       FROM plugin_assignments a JOIN plugin_packages p ON p.id = a.plugin AND p.version = a.version
      WHERE a.gateway = $1 ORDER BY p.id`,
    [gateway],
  );
  const plugins: PluginAssignment[] = rows.map((r) => ({
    id: r.id,
    version: r.version,
    sdk: r.sdk,
    object: pluginObjectName(r.id, r.version),
    sha256: r.sha256,
    size: r.size,
    signature: r.signature,
    keyId: r.key_id,
  }));
  return { v: 1, plugins };
}
