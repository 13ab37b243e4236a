/**
 * The API fuzzer (testing/api-fuzz.ts) against the hub's whole API, built as the hub builds it,
 * on a database with a catalog, readings, service data and the shipped objectives: every
 * operation of GET /api/openapi.json, as every role and anonymously. It must find no 5xx, no
 * hung or oversized answer, no internal detail (stack trace, database error), and the hub must
 * answer /healthz 200 after each operation and at the end.
 *
 * About a minute by default; CITYPILOT_FUZZ_SECONDS=600 fuzzes for ten minutes, and
 * CITYPILOT_FUZZ_SEED replays a run. Prints the requests made per operation and role.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { gatewayConfigValidator } from '@citypilot/gateway';
import { configBucketStream } from '@citypilot/wire';
import { BATCH_VERSION, type Batch } from '@citypilot/sdk';
import { buildApi } from './api.js';
import { TOKEN_ROLES, createToken } from './auth/tokens.js';
import { backfillDemoServiceData } from './demo-history.js';
import { createHubMetrics } from './metrics.js';
import { serviceDataReader } from './objectives/data.js';
import { loadObjectivesFile } from './objectives/file.js';
import { Objectives } from './objectives/objectives.js';
import { monthsAgo } from './objectives/routes.js';
import { EnergyPrices } from './projects/energy-prices.js';
import { Projects } from './projects/store.js';
import { ServiceData } from './service-data/index.js';
import { importCatalog, loadCatalog } from './storage/catalog.js';
import { Storage } from './storage/storage.js';
import { fuzzApi, type FuzzReport, type OpenApiDocument } from './testing/api-fuzz.js';
import { createTestDatabase, objectiveDefinition, uniqueStreamNames, uniqueSuffix } from './testing/index.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const hubRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOUR = 3_600_000;

/** Seconds of fuzzing: CITYPILOT_FUZZ_SECONDS, default 60. */
function fuzzSeconds(): number {
  const text = process.env.CITYPILOT_FUZZ_SECONDS;
  if (text === undefined || text === '') return 60;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`CITYPILOT_FUZZ_SECONDS must be a positive number of seconds, not ${JSON.stringify(text)}`);
  return seconds;
}

/**
 * The fast-check seed: CITYPILOT_FUZZ_SEED, a whole number, or `random` for new cases at each
 * run. Default FIXED_SEED, so that `npm test` asks the same requests at every run (as far as its
 * time allows) and a red run is the code's doing, replayable; the long runs that look for new
 * failures say `random`.
 */
function fuzzSeed(): number | undefined {
  const text = process.env.CITYPILOT_FUZZ_SEED;
  if (text === undefined || text === '') return FIXED_SEED;
  if (text === 'random') return undefined;
  const seed = Number(text);
  if (!Number.isInteger(seed)) throw new Error(`CITYPILOT_FUZZ_SEED must be a whole number or random, not ${JSON.stringify(text)}`);
  return seed;
}

const FIXED_SEED = 20_261_207;

/** Two buildings' meters and temperatures, hourly for the last four days. */
function readings(now: number): Batch[] {
  const end = now - (now % HOUR);
  return ['town-hall', 'school'].map((building, b) => {
    const points = [
      { id: 'meters.elec', name: 'Electricity', unit: 'kWh', tags: ['elec', 'meter', 'energy'] },
      { id: 'meters.heat', name: 'Heat', unit: 'kWh', tags: ['heat', 'meter', 'energy'] },
      { id: 'meters.outdoor-temp', name: 'Outdoor temperature', unit: '°C', tags: ['air', 'temp', 'outside', 'sensor'] },
    ];
    const samples = points.flatMap((p, i) =>
      Array.from({ length: 96 }, (_, h) => ({
        point: p.id,
        time: end - (96 - h) * HOUR,
        value: p.unit === 'kWh' ? 1000 * (b + 1) + h * (10 + i) : 8 + (h % 24) / 3,
        quality: 'good' as const,
      })),
    );
    return {
      v: BATCH_VERSION,
      gateway: building,
      seq: 1,
      createdAt: now,
      building,
      points: points.map((p) => ({ ...p, kind: 'number' as const, source: { plugin: 'modbus', device: 'meters', address: {} }, intervalMs: HOUR })),
      samples,
    };
  });
}

describe('hub API fuzzer: every operation of the OpenAPI document, every role', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let app: FastifyInstance;
  let nc: NatsConnection;
  /** The fleet's configuration bucket, the test's own. */
  const configBucket = `cptest-fuzz-${uniqueSuffix()}`;
  const tokens: Record<string, string | undefined> = { public: undefined, 'unknown-token': `cp_999999_${'A'.repeat(43)}` };
  /** Each principal's role; the unknown token has none: it must be refused everywhere. */
  const principals: Record<string, string | null> = { public: 'public', 'unknown-token': null };

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'api_fuzz');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    const timezone = storage.rollups.timezone;
    await importCatalog(storage.pool, loadCatalog(join(hubRoot, 'demo', 'catalog.yaml')));
    const now = Date.now();
    await storage.partitions.ensurePartitions(now - 5 * 24 * HOUR, now);
    await storage.writeBatches(readings(now));
    await storage.rollups.rebuild({ from: new Date(now - 5 * 24 * HOUR), to: new Date(now) });
    const serviceData = await ServiceData.open(storage.pool);
    await backfillDemoServiceData(serviceData, timezone, now);
    for (const source of ['reception-town-hall', 'calls-town-hall']) {
      const mapping = JSON.parse(readFileSync(join(hubRoot, 'demo', 'service-data', `${source}.mapping.json`), 'utf8'));
      await serviceData.defineSource(source, source, mapping);
    }
    const objectives = new Objectives({ pool: storage.pool, timezone, services: serviceDataReader(serviceData) });
    for (const file of ['energy.yaml', 'services.yaml'])
      for (const d of loadObjectivesFile(join(hubRoot, 'objectives', file))) await objectives.define(d, 'fuzz');
    await objectives.evaluate({ fromMonth: monthsAgo(2, timezone) });
    // Limits out of the way: every fuzzed request must reach its route's checks and handler, not
    // stop at the rate limiter or come from the cache of public reads (both have tests of their own).
    const unlimited = 1_000_000_000;
    nc = await connect({ servers: inject('natsUrl') });
    app = buildApi({
      storage,
      metrics: createHubMetrics(),
      natsConnected: () => true,
      objectives,
      serviceData,
      projects: { projects: new Projects(storage.pool), prices: new EnergyPrices(storage.pool) },
      rateLimits: { anonymousReads: unlimited, anonymousWrites: unlimited, authenticatedReads: unlimited, authenticatedWrites: unlimited },
      authFailures: { failures: unlimited },
      publicCache: { ttlMs: 0 },
      fleet: { nc, prefix: uniqueStreamNames('fuzz').prefix, configBucket, validator: async () => gatewayConfigValidator() },
    });
    for (const role of TOKEN_ROLES) {
      principals[role] = role;
      tokens[role] = (
        await createToken(storage.pool, { role, label: `fuzzing as ${role}`, sites: role === 'technician' ? ['centre'] : undefined }, 'test')
      ).token;
    }
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(configBucketStream(configBucket)).catch(() => undefined);
      await nc.close();
    }
    await storage?.close();
    await db?.drop();
  });

  const seconds = fuzzSeconds();
  it(
    `finds no 5xx, hang, oversized answer or internal detail in ${seconds} s, and leaves the hub healthy`,
    { timeout: 2 * seconds * 1000 + 300_000 },
    async () => {
      const document = (await app.inject({ url: '/api/openapi.json' })).json() as OpenApiDocument;
      const objectiveKeys = (await storage.pool.query<{ key: string }>('SELECT DISTINCT key FROM objectives')).rows.map((r) => r.key);
      const seed = fuzzSeed();
      const statuses = new Map<number, number>();
      const report = await fuzzApi({
        document,
        principals,
        send: async (request) => {
          const token = tokens[request.principal];
          const answer = await app.inject({
            method: request.method as 'GET',
            url: request.url,
            headers: token ? { ...request.headers, authorization: `Bearer ${token}` } : request.headers,
            payload: request.body,
          });
          statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
          return { status: answer.statusCode, body: answer.body };
        },
        context: {
          knownStrings: [
            ...objectiveKeys,
            'city',
            'site:centre',
            'building:town-hall',
            'building:school',
            'town-hall',
            'school',
            'centre',
            'meters.elec',
            'meters.outdoor-temp',
            'reception-town-hall',
            'calls-town-hall',
            'demo-reception',
            'visitors',
            'reception.wait_minutes',
            'calls.offered',
            monthsAgo(1, storage.rollups.timezone),
            monthsAgo(0, storage.rollups.timezone),
          ],
        },
        examples: {
          'PUT /api/objectives/{key}': objectiveDefinition({ key: 'fuzzed' }),
          'POST /api/service-data': {
            values: [{ source: 'demo-reception', metric: 'visitors', scope: 'building:town-hall', period: '2026-10-12', value: 14 }],
          },
          'PUT /api/service-data/sources/{key}': {
            name: 'Accueil',
            mapping: { period: 'date', scope: 'building:town-hall', columns: { visiteurs: 'visitors' } },
          },
          'POST /api/objectives/evaluate': { fromMonth: monthsAgo(1, storage.rollups.timezone) },
        },
        budgetMs: seconds * 1000,
        seed,
        healthy: async () => {
          const health = await app.inject({ url: '/healthz' });
          return health.statusCode === 200 ? undefined : `/healthz answered ${health.statusCode}: ${health.body}`;
        },
      });
      console.log(describeReport(report, seconds, seed));
      console.log(
        `answers by status: ${[...statuses]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => `${status}: ${n}`)
          .join(', ')}`,
      );
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
      expect(report.total).toBeGreaterThan(0);
      expect(report.failures.length, `the fuzzer's failures:\n${describeFailures(report)}`).toBe(0);
    },
  );
});

/** Requests per operation and principal, as a table for the test's output. */
function describeReport(report: FuzzReport, seconds: number, seed: number | undefined): string {
  const principals = [...new Set(Object.values(report.counts).flatMap((c) => Object.keys(c)))];
  const lines = Object.entries(report.counts).map(
    ([op, c]) => `${op.padEnd(44)} ${principals.map((p) => String(c[p] ?? 0).padStart(Math.max(6, p.length))).join(' ')}`,
  );
  return [
    `API fuzzer: ${report.total} requests in ${seconds} s (seed ${seed ?? 'random, one per operation'}), ${report.failures.length} failure(s)`,
    `${'operation'.padEnd(44)} ${principals.map((p) => p.padStart(Math.max(6, p.length))).join(' ')}`,
    ...lines,
    describeFailures(report),
  ].join('\n');
}

function describeFailures(report: FuzzReport): string {
  return report.failures
    .map((f, i) =>
      [
        `failure ${i + 1}: ${f.operation} as ${f.principal}: ${f.problem} (seed ${f.seed})`,
        `  request: ${f.request.method} ${f.request.url}${f.request.contentType ? ` [${f.request.contentType}]` : ''}`,
        f.request.body === undefined ? '' : `  body: ${f.request.body}`,
        f.answer ? `  answer: ${f.answer.status} ${f.answer.body}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    )
    .join('\n');
}
