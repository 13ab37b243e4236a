/**
 * Utility import benchmark: `npm run bench:utility` at the repository root.
 *
 * Imports 200 delivery points × 3 years of 30-minute load curves (about 10.5 million readings)
 * as Enedis's customer-space exports, one file per PRM, through the hub's import
 * (UtilityImports.importFile: parsing, checks, storage with rollups), and in the same run loads
 * the same rows into the samples of another fresh database with one raw COPY per PRM (the
 * baseline: no parsing, no check, no rollup). Both are timed from the first byte to the last
 * commit. Ends with one JSON line: {"readings", "readingsPerSecond", "copyRowsPerSecond", "ratio"}
 * (target: ratio ≥ 0.5).
 *
 * Runs on the PostgreSQL of DATABASE_URL, or the one on the standard port, or one it starts (like
 * `citypilot demo`); creates its own databases and drops them. Options: --points N, --days N.
 */
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { from as copyFrom } from 'pg-copy-streams';
import { machineDescription, wholeNumberOptions } from '@citypilot/sdk/bench';
import { ensureServices, type Services } from '../services/local-services.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { UtilityConnectors } from '../utility/connectors.js';
import { UtilityImports } from '../utility/import-files.js';
import { addDays, dayStart, localDay, zoneOffset } from '../utility/local-time.js';
import { UtilityStore, utilityGatewayId } from '../utility/store.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const STEP_MS = 30 * 60_000;
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

const prmOf = (i: number) => `3000${String(i).padStart(10, '0')}`;

/** A municipal building's half-hour average power in W: deterministic, a base load, occupied hours, winter. */
function watts(prm: number, t: number): number {
  const hour = (t / 3_600_000 + 1) % 24;
  const day = Math.floor(t / 86_400_000);
  const occupied = day % 7 < 5 && hour >= 8 && hour < 18;
  const winter = 1 + 0.4 * Math.cos(((day % 365) / 365) * 2 * Math.PI);
  return Math.round((3000 + (prm % 17) * 200 + (occupied ? 9000 : 0)) * winter + ((t / STEP_MS) % 13) * 10);
}

/** A file's bytes in pieces of 256 KiB, as an upload arrives. */
async function* upload(file: Buffer): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < file.length; at += 256 * 1024) yield file.subarray(at, at + 256 * 1024);
}

/** `text` in pieces of 256 KiB, as a COPY stream is sent. */
function* pieces(text: string): Generator<string> {
  for (let i = 0; i < text.length; i += 256 * 1024) yield text.slice(i, i + 256 * 1024);
}

/**
 * One PRM's customer-space export of its load curve from `from` to `to` (epoch ms, local
 * midnights): the header block, then `Horodate;Valeur` with each step's end (local time with its
 * offset) and its W. Made before the clock starts: the benchmark times the import, not this.
 */
function enedisFile(prm: number, from: number, to: number, timezone: string): string {
  const day = (t: number) => localDay(t, timezone).split('-').reverse().join('/');
  const lines = [
    'Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes',
    `${prmOf(prm)};Courbe de charge;${day(from)};${day(to - 1)};Energie active;Consommation;Comptage Brut;W;30`,
    '',
    'Horodate;Valeur',
  ];
  const offsets = new Map<number, number>();
  for (let t = from; t < to; t += STEP_MS) {
    const end = t + STEP_MS;
    const hour = Math.floor(end / 3_600_000);
    let offset = offsets.get(hour);
    if (offset === undefined) offsets.set(hour, (offset = zoneOffset(end, timezone)));
    const sign = offset >= 0 ? '+' : '-';
    const hh = String(Math.floor(Math.abs(offset) / 3_600_000)).padStart(2, '0');
    const mm = String((Math.abs(offset) / 60_000) % 60).padStart(2, '0');
    lines.push(`${new Date(end + offset).toISOString().slice(0, 19)}${sign}${hh}:${mm};${watts(prm, t)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The same rows as the raw COPY baseline loads them: point id, step start, kW, quality. */
function copyRows(pointId: number, prm: number, from: number, to: number): string {
  const lines: string[] = [];
  for (let t = from; t < to; t += STEP_MS) lines.push(`${pointId}\t${new Date(t).toISOString()}\t${watts(prm, t) / 1000}\tgood`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), { points: 200, days: 1096 });
  let services: Services | undefined;
  const drops: (() => Promise<void>)[] = [];
  const storages: Storage[] = [];
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const open = async (label: string) => {
      const db = await createTestDatabase(services!.databaseUrl, label);
      drops.push(db.drop);
      const storage = await Storage.open({ databaseUrl: db.url, logger: quiet, poolSize: 4 });
      storages.push(storage);
      return storage;
    };
    const imported = await open('bench_utility_import');
    const copied = await open('bench_utility_copy');
    const tz = imported.rollups.timezone;
    const version = (await imported.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    console.log(`machine: ${machineDescription()}`);
    console.log(`software: PostgreSQL ${version}, storage ${imported.mode} (${imported.modeDetail}), time zone ${tz}`);
    const lastDay = '2026-11-30';
    const firstDay = addDays(lastDay, -o.days);
    const from = dayStart(firstDay, tz);
    const to = dayStart(lastDay, tz);
    const perPoint = (to - from) / STEP_MS;
    console.log(
      `load: ${o.points} delivery points × ${o.days} days (${firstDay} to ${lastDay}) of 30-minute load curve = ${(o.points * perPoint).toLocaleString('en')} readings`,
    );

    // Both databases know the same buildings and delivery points (their points registered).
    const catalog = {
      organisation: { id: 'city', name: 'City' },
      sites: [
        {
          id: 'all',
          name: 'All',
          buildings: Array.from({ length: o.points }, (_, i) => ({ id: `b${i}`, name: `Building ${i}`, usage: 'school' as const, area: 1000 })),
        },
      ],
    };
    const pointIds: number[] = [];
    for (const storage of [imported, copied]) {
      await importCatalog(storage.pool, catalog);
      const store = new UtilityStore(storage);
      for (let i = 0; i < o.points; i++) {
        const point = { utility: 'enedis' as const, id: prmOf(i), energy: 'elec' as const, building: `b${i}` };
        await storage.pool.query(`INSERT INTO utility_delivery_points (utility, id, energy, building_key, since) VALUES ('enedis', $1, 'elec', $2, $3)`, [
          point.id,
          point.building,
          firstDay,
        ]);
        await store.register(point);
        if (storage === copied) {
          const { rows } = await storage.pool.query(`SELECT id FROM points WHERE gateway_id = $1 AND point_key = 'power'`, [utilityGatewayId(point)]);
          pointIds.push(Number(rows[0].id));
        }
      }
      await storage.partitions.ensurePartitions(from, to);
    }

    // The baseline: one raw COPY per PRM, straight into samples (each PRM's rows made before its clock starts).
    let copyS = 0;
    for (let i = 0; i < o.points; i++) {
      const rows = copyRows(pointIds[i]!, i, from, to);
      const started = performance.now();
      const client = await copied.pool.connect();
      try {
        await pipeline(Readable.from(pieces(rows)), client.query(copyFrom(`COPY samples (point_id, time, value, quality) FROM STDIN`)));
      } finally {
        client.release();
      }
      copyS += (performance.now() - started) / 1000;
    }
    const copyRowsPerSecond = (o.points * perPoint) / copyS;
    console.log(
      `raw COPY: ${(o.points * perPoint).toLocaleString('en')} rows in ${copyS.toFixed(1)} s: ${Math.round(copyRowsPerSecond).toLocaleString('en')} rows/s`,
    );

    // The hub's import of the same rows, file by file.
    const store = new UtilityStore(imported);
    const connectors = new UtilityConnectors({ pool: imported.pool, store, timezone: tz, logger: quiet, clients: () => ({}) as never });
    const imports = new UtilityImports({ pool: imported.pool, store, connectors, timezone: tz });
    let readings = 0;
    let refused = 0;
    let importS = 0;
    for (let i = 0; i < o.points; i++) {
      const file = Buffer.from(enedisFile(i, from, to, tz));
      const started = performance.now();
      const run = await imports.importFile(upload(file), { format: 'enedis', fileName: `${prmOf(i)}.csv`, submittedBy: 'bench' });
      importS += (performance.now() - started) / 1000;
      readings += run.inserted;
      refused += run.errorCount;
      if ((i + 1) % 20 === 0) console.log(`imported ${i + 1} of ${o.points} files: ${readings.toLocaleString('en')} readings in ${importS.toFixed(1)} s`);
    }
    const readingsPerSecond = readings / importS;
    if (refused) throw new Error(`the import refused ${refused} rows of generated files`);
    if (readings !== o.points * perPoint) throw new Error(`the import stored ${readings} readings, not ${o.points * perPoint}`);
    const stored = Number((await imported.pool.query(`SELECT count(*) AS n FROM samples`)).rows[0].n);
    if (stored !== readings) throw new Error(`the database holds ${stored} samples, not ${readings}`);
    const ratio = readingsPerSecond / copyRowsPerSecond;
    console.log(
      `import: ${readings.toLocaleString('en')} readings in ${importS.toFixed(1)} s: ${Math.round(readingsPerSecond).toLocaleString('en')} readings/s`,
    );
    // Their rollups were queued with them (plain PostgreSQL) and are rebuilt set-based: timed
    // apart, and said, since the hub does it right after each import and before any query.
    const settleStarted = performance.now();
    await imported.rollups.settle();
    const settleS = (performance.now() - settleStarted) / 1000;
    const rolled = Number((await imported.pool.query(`SELECT count(*) AS n FROM rollup_hour`)).rows[0].n);
    console.log(
      `rollups of the import rebuilt after it in ${settleS.toFixed(1)} s (${rolled.toLocaleString('en')} hours); import and rollups together: ${Math.round(readings / (importS + settleS)).toLocaleString('en')} readings/s, ratio ${(readings / (importS + settleS) / copyRowsPerSecond).toFixed(2)}`,
    );
    console.log(`ratio import / raw COPY: ${ratio.toFixed(2)} (target ≥ 0.5: ${ratio >= 0.5 ? 'met' : 'MISSED'})`);
    console.log(
      JSON.stringify({
        readings,
        readingsPerSecond: Math.round(readingsPerSecond),
        copyRowsPerSecond: Math.round(copyRowsPerSecond),
        ratio: Math.round(ratio * 100) / 100,
      }),
    );
  } finally {
    for (const s of storages) await s.close().catch(() => undefined);
    for (const drop of drops) await drop().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench:utility failed: ${error.message}`);
  process.exitCode = 1;
});
