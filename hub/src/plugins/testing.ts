/**
 * Helpers of the plugins' tests: a package built as `npm pack` would, and gateways' reports sent
 * through the fleet's real intake.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeInventory, fleetSubjects, type InventoryReport, type PluginInstall } from '@citypilot/wire';
import type { Fleet } from '../fleet/fleet.js';

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

/**
 * Publishes `report` on gateway `gateway`'s inventory subject, as the gateway does, and resolves
 * once the fleet's intake (hub/src/fleet) has stored it and told its listeners.
 */
export async function sendReport(nc: NatsConnection, fleet: Fleet, prefix: string, gateway: string, report: InventoryReport): Promise<void> {
  const stored = new Promise<void>((resolve) => {
    const stop = fleet.onReport((g, r) => {
      if (g !== gateway || JSON.stringify(r) !== JSON.stringify(report)) return;
      stop();
      resolve();
    });
  });
  nc.publish(fleetSubjects(prefix).inventory(gateway), encodeInventory(report));
  await nc.flush();
  await stored;
}
