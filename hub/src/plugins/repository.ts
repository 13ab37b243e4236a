/**
 * The hub's plugin repository: packages an operator publishes (`citypilot hub plugin publish`),
 * checked (package-file.ts), signed with the operator's Ed25519 key, their bytes in the JetStream
 * object store (default citypilot-plugins, object `<id>@<version>.tgz`) and their description in
 * `plugin_packages`. A version once published keeps its bytes: publishing it again with the same
 * bytes changes nothing, with other bytes is refused.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { objectStoreStream, pluginKeyId, pluginObjectName, signPluginPackage, type PluginPackageDescription } from '@citypilot/wire';
import { ensureDirectGet } from '../services/config-push.js';
import { PluginPackageError, readPluginPackage } from './package-file.js';

/** A published package, as `plugin list` and the API show it. */
export interface PublishedPackage {
  id: string;
  version: string;
  sdk: string;
  protocol: string;
  description: string;
  /** SHA-256 of the `.tgz`, hexadecimal. */
  sha256: string;
  /** Bytes of the `.tgz`. */
  size: number;
  /** Id of the key that signed it (pluginKeyId). */
  keyId: string;
  /** Ed25519 signature of pluginSignedMessage, base64. */
  signature: string;
  /** ISO 8601. */
  publishedAt: string;
  publishedBy: string;
}

export interface RepositoryOptions {
  pool: pg.Pool;
  nc: NatsConnection;
  /** The object store of the packages (default citypilot-plugins); created when missing, with direct get. */
  bucket: string;
}

/** The result of a publication: the package, and whether it was new (false: the same bytes were already published). */
export interface PublishResult {
  package: PublishedPackage;
  created: boolean;
}

export class PluginRepository {
  constructor(private readonly options: RepositoryOptions) {}

  /**
   * Checks, signs and stores a package. `privateKey` is the operator's Ed25519 private key;
   * `actor` is recorded as the publisher (and in fleet_events, `plugin-published`).
   * @throws PluginPackageError when the package or the key is refused; nothing is stored then
   */
  async publish(bytes: Uint8Array, privateKey: KeyObject, actor: string): Promise<PublishResult> {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519')
      throw new PluginPackageError(`the signing key must be an Ed25519 private key, not a ${privateKey.asymmetricKeyType ?? 'secret'} ${privateKey.type} key`);
    const description = await readPluginPackage(bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const signed = { id: description.id, version: description.version, sdk: description.sdk, sha256 };
    const signature = signPluginPackage(signed, privateKey);
    const keyId = pluginKeyId(createPublicKey(privateKey));
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      // The row first: it claims the version, so that a concurrent publication of other bytes
      // waits here and is refused, and never overwrites the object.
      const inserted = await client.query<PackageRow>(
        `INSERT INTO plugin_packages (id, version, sdk, protocol, description, sha256, size, key_id, signature, schema, published_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id, version) DO NOTHING RETURNING ${PACKAGE_COLUMNS}`,
        [
          description.id,
          description.version,
          description.sdk,
          description.protocol,
          description.description,
          sha256,
          bytes.byteLength,
          keyId,
          signature,
          JSON.stringify(description.schema),
          actor,
        ],
      );
      if (!inserted.rows[0]) {
        await client.query('ROLLBACK');
        const existing = (await this.find(description.id, description.version))!;
        if (existing.sha256 !== sha256)
          throw new PluginPackageError(
            `${description.id} ${description.version} is already published with other bytes (sha256 ${existing.sha256}, by ${existing.publishedBy}): publish a new version`,
          );
        return { package: existing, created: false };
      }
      const store = await this.objectStore();
      const info = await store.putBlob({ name: pluginObjectName(description.id, description.version) }, bytes);
      if (info.size !== bytes.byteLength) throw new Error(`the object store kept ${info.size} bytes of ${bytes.byteLength}`);
      await client.query(`INSERT INTO fleet_events (gateway, kind, actor, detail) VALUES (NULL, 'plugin-published', $1, $2)`, [
        actor,
        JSON.stringify({ plugin: description.id, version: description.version, sha256, keyId }),
      ]);
      await client.query('COMMIT');
      return { package: packageOf(inserted.rows[0]), created: true };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** One published package, or undefined. */
  async find(id: string, version: string): Promise<PublishedPackage | undefined> {
    const { rows } = await this.options.pool.query<PackageRow>(`SELECT ${PACKAGE_COLUMNS} FROM plugin_packages WHERE id = $1 AND version = $2`, [id, version]);
    return rows[0] && packageOf(rows[0]);
  }

  /** Every published package, by id then publication. */
  list(): Promise<PublishedPackage[]> {
    return listPackages(this.options.pool);
  }

  /** The packages assigned to `gateway` now, described for a configuration check (GatewayConfigValidator). */
  packagesForGateway(gateway: string): Promise<PluginPackageDescription[]> {
    return packagesForGateway(this.options.pool, gateway);
  }

  private async objectStore() {
    const store = await new Objm(this.options.nc).create(this.options.bucket);
    // Gateways read the chunks with direct gets only: the stream must allow them.
    await ensureDirectGet(this.options.nc, objectStoreStream(this.options.bucket));
    return store;
  }
}

const PACKAGE_COLUMNS = 'id, version, sdk, protocol, description, sha256, size, key_id, signature, published_at, published_by';

interface PackageRow {
  id: string;
  version: string;
  sdk: string;
  protocol: string;
  description: string;
  sha256: string;
  size: number;
  key_id: string;
  signature: string;
  published_at: Date;
  published_by: string;
}

function packageOf(r: PackageRow): PublishedPackage {
  return {
    id: r.id,
    version: r.version,
    sdk: r.sdk,
    protocol: r.protocol,
    description: r.description,
    sha256: r.sha256,
    size: r.size,
    keyId: r.key_id,
    signature: r.signature,
    publishedAt: r.published_at.toISOString(),
    publishedBy: r.published_by,
  };
}

/** Every published package, by id then publication. */
export async function listPackages(pool: pg.Pool): Promise<PublishedPackage[]> {
  const { rows } = await pool.query<PackageRow>(`SELECT ${PACKAGE_COLUMNS} FROM plugin_packages ORDER BY id, published_at, version`);
  return rows.map(packageOf);
}

/** The packages assigned to `gateway` now, with their schemas. */
export async function packagesForGateway(pool: pg.Pool, gateway: string): Promise<PluginPackageDescription[]> {
  const { rows } = await pool.query<PluginPackageDescription>(
    `SELECT p.id, p.version, p.sdk, p.protocol, p.description, p.schema
       FROM plugin_assignments a JOIN plugin_packages p ON p.id = a.plugin AND p.version = a.version
      WHERE a.gateway = $1 ORDER BY p.id`,
    [gateway],
  );
  return rows;
}
