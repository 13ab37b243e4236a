import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeBatch, type Sample } from '@citypilot/sdk';
import { OUTBOX_FILE } from '../pipeline/outbox-store.js';

/** What an outbox file holds: samples waiting for a batch, and batches not yet acknowledged. */
export interface OutboxContents {
  queued: Sample[];
  batches: { seq: number; samples: Sample[] }[];
}

/**
 * Reads the outbox file of a gateway that is not running (killed or stopped), for tests that
 * check what it had accepted. Opening it replays its write-ahead log, as the gateway's next
 * start would; it changes nothing else. An absent file reads as empty.
 */
export function readOutboxFile(dataDir: string): OutboxContents {
  const file = join(dataDir, OUTBOX_FILE);
  if (!existsSync(file)) return { queued: [], batches: [] };
  const db = new Database(file, { fileMustExist: true });
  try {
    const queued = db
      .prepare<[], { sample: string }>('SELECT sample FROM samples ORDER BY id')
      .all()
      .map((r) => JSON.parse(r.sample) as Sample);
    const batches = db
      .prepare<[], { seq: number; payload: Uint8Array }>('SELECT seq, payload FROM batches ORDER BY seq')
      .all()
      .map((r) => ({ seq: r.seq, samples: decodeBatch(new Uint8Array(r.payload)).samples }));
    return { queued, batches };
  } finally {
    db.close();
  }
}

export { syntheticDevices, syntheticGatewayYaml, type SyntheticDevice, type SyntheticGatewaySettings, type SyntheticPoint } from './synthetic-site.js';
export { HTTP_JSON_PLUGIN_DIR, packPluginPackage, type PluginPackageEdit } from './plugin-package.js';
