/**
 * Helpers of the plugins' tests: a package built as `npm pack` would, the fleet's tables as
 * migration 17 (hub/src/fleet) makes them, reports, and a ReportSource fed by hand.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import type pg from 'pg';
import type { InventoryReport, PluginInstall } from '@citypilot/wire';
import type { ReportSource } from './rollouts.js';

/** A `.tgz` holding package/package.json (with `pkg` merged in), package/index.js, package/schema.json and `files`. */
export async function buildPackage(pkg: Record<string, unknown> = {}, files: Record<string, string | Buffer> = {}): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-plugin-'));
  try {
    const manifest = { id: 'http-json', sdk: '^0.1.0', protocol: 'http', description: 'HTTP JSON devices', schema: 'schema.json' };
    const contents: Record<string, string | Buffer> = {
      'package.json': JSON.stringify({ name: '@city/plugin-http-json', version: '1.0.0', main: 'index.js', type: 'module', citypilot: manifest, ...pkg }),
      'index.js': 'export default {};\n',
      'schema.json': JSON.stringify({ connection: { type: 'object' }, address: { type: 'object' } }),
      ...files,
    };
    mkdirSync(join(dir, 'package'));
    for (const [name, content] of Object.entries(contents)) writeFileSync(join(dir, 'package', name), content);
    const file = join(dir, 'out.tgz');
    await create(
      { gzip: true, cwd: dir, file, portable: true },
      Object.keys(contents).map((n) => `package/${n}`),
    );
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** fleet_gateways and fleet_events as migration 17 makes them, until it is merged. */
export async function createFleetTables(pool: pg.Pool): Promise<void> {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS fleet_gateways (id text PRIMARY KEY, state text NOT NULL DEFAULT 'online', last_seen timestamptz NOT NULL DEFAULT now(), report jsonb);
    CREATE TABLE IF NOT EXISTS fleet_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), gateway text NULL, kind text NOT NULL, actor text NOT NULL, detail jsonb);
  `);
}

/** A gateway's report: the plugins it runs, its installs, and failing devices per plugin. */
export function inventory(options: {
  plugins?: { id: string; version: string; source?: 'builtin' | 'installed' }[];
  installs?: PluginInstall[];
  failing?: Record<string, number>;
}): InventoryReport {
  const byPlugin = Object.fromEntries(Object.entries(options.failing ?? {}).map(([id, failing]) => [id, { total: 5, failing }]));
  return {
    v: 1,
    software: { version: '0.1.0', sdk: '0.1.0', node: 'v20' },
    host: { hostname: 'gw', platform: 'linux', arch: 'x64' },
    startedAt: '2026-12-01T00:00:00Z',
    uptimeS: 100,
    reportIntervalS: 30,
    plugins: (options.plugins ?? []).map((p) => ({ id: p.id, version: p.version, source: p.source ?? 'installed' })),
    config: { source: 'file', revision: null, appliedAt: '2026-12-01T00:00:00Z', refused: null },
    outbox: { depth: 0 },
    devices: { total: 5, failing: 0, byPlugin, failingDevices: [] },
    lastError: null,
    installs: options.installs ?? [],
  };
}

/** Reports written into fleet_gateways, then given to the listeners, as the fleet's intake would. */
export class TestReports implements ReportSource {
  private readonly listeners = new Set<(gateway: string, report: InventoryReport) => void>();

  constructor(private readonly pool: pg.Pool) {}

  onReport(listener: (gateway: string, report: InventoryReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async report(gateway: string, report: InventoryReport, state: 'online' | 'silent' = 'online'): Promise<void> {
    await this.pool.query(
      `INSERT INTO fleet_gateways (id, state, report) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, report = EXCLUDED.report, last_seen = now()`,
      [gateway, state, JSON.stringify(report)],
    );
    if (state === 'online') for (const listener of this.listeners) listener(gateway, report);
  }
}
