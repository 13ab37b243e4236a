/**
 * Projects benchmark: `npm run bench:projects` at the repository root.
 *
 * A city of 200 buildings on 10 sites, each with an electricity meter, a heat meter and an
 * outdoor temperature sensor read daily for 5 years (rollups built), and 200 energy projects
 * over the whole city (elec and heat), their works spread over those years. Measures evaluating
 * every project (evaluateProjects: one load of the city's data, each building's monthly kWh
 * computed once), median of several runs; baseline in the same run: the naive way, one SQL
 * question per project and month (the scope's kWh of the month).
 * Ends with one JSON line: {"projects", "evaluateMs", "baselineMs"} (the median of
 * evaluating every project, and the naive way's time in the same run), then the city's size: "buildings", "years".
 * Options: --buildings N, --projects N, --years N, --runs N.
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, wholeNumberOptions } from '@citypilot/sdk/bench';
import { ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { localMonth } from '../objectives/objectives.js';
import { generateBenchCity } from './city.js';
import { EnergyPrices } from '../projects/energy-prices.js';
import { addMonths, DEFAULT_DISCOUNT_RATE, evaluateProjects } from '../projects/evaluate.js';
import { Projects } from '../projects/store.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

const DEFAULTS = { buildings: 200, projects: 200, years: 5, runs: 5 };

/** The naive way, for the baseline: one SQL question per project and month, the kWh of the scope's meters that month. */
async function naive(storage: Storage, projects: { first: string; last: string }[]): Promise<{ ms: number; questions: number }> {
  const started = performance.now();
  let questions = 0;
  for (const p of projects) {
    for (let month = p.first; month <= p.last; month = addMonths(month, 1)) {
      questions++;
      await storage.pool.query(
        `SELECT sum(r.last_value - coalesce(prev.last_value, r.first_value)) AS kwh
           FROM rollup_month r JOIN points p ON p.id = r.point_id JOIN gateways g ON g.id = p.gateway_id
           LEFT JOIN rollup_month prev ON prev.point_id = r.point_id AND prev.bucket = ((r.bucket AT TIME ZONE $2) - INTERVAL '1 month') AT TIME ZONE $2
          WHERE g.building_key IS NOT NULL AND p.tags @> '{meter,energy}' AND r.bucket = ($1 || '-01')::timestamp AT TIME ZONE $2`,
        [month, storage.rollups.timezone],
      );
    }
  }
  return { ms: performance.now() - started, questions };
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), DEFAULTS);
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_projects');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`software: node ${process.version}, PostgreSQL ${version}, storage ${storage.mode}`);
    const tz = storage.rollups.timezone;
    const now = new Date();
    const current = localMonth(now, tz);
    const firstMonth = addMonths(current, -12 * o.years);
    const started = performance.now();
    const { samples } = await generateBenchCity(storage, { buildings: o.buildings, from: new Date(`${firstMonth}-01T00:00:00Z`) });
    console.log(
      `city: ${o.buildings} buildings, 3 points each read daily since ${firstMonth}: ${samples.toLocaleString('en')} samples, rollups built, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const projects = new Projects(storage.pool);
    // Works of one month, spread over the years after the first baseline year.
    const span = 12 * o.years - 14;
    for (let i = 0; i < o.projects; i++) {
      const works = addMonths(firstMonth, 12 + (i % span));
      await projects.define(
        {
          key: `p${String(i).padStart(3, '0')}`,
          title: { fr: `Projet ${i}`, en: `Project ${i}` },
          theme: 'energy',
          scope: 'city',
          dates: { worksStart: `${works}-01`, worksEnd: `${works}-28` },
          costs: { investment: 10_000 + i * 100 },
          energy: { energies: ['elec', 'heat'] },
          owner: 'bench',
          published: true,
        },
        'bench',
      );
    }
    const list = await projects.list({ includeUnpublished: true });
    const prices = new EnergyPrices(storage.pool);
    await prices.setTariffs(
      {
        tariffs: [
          { energy: 'elec', from: `${firstMonth}-01`, to: null, eurosPerKWh: 0.2, source: 'bench' },
          { energy: 'heat', from: `${firstMonth}-01`, to: null, eurosPerKWh: 0.1, source: 'bench' },
        ],
      },
      'bench',
    );
    const priced = { tariffs: await prices.tariffs(), factors: await prices.factors() };
    const runs: number[] = [];
    let evaluated = 0;
    for (let i = 0; i < o.runs; i++) {
      const t = performance.now();
      evaluated = (await evaluateProjects(storage.pool, list, priced, { timezone: tz, discountRate: DEFAULT_DISCOUNT_RATE, now })).projects.length;
      runs.push(performance.now() - t);
    }
    const evaluateAllMs = Math.round(percentile(runs, 50));
    console.log(`evaluate all: ${evaluated} projects × ${o.buildings} buildings × 2 energies in ${runs.map((r) => r.toFixed(0)).join(', ')} ms`);
    const lastWhole = addMonths(current, -1);
    const ranges = list.map((p) => ({ first: addMonths(p.definition.dates.worksStart.slice(0, 7), -12), last: lastWhole }));
    const baseline = await naive(storage, ranges);
    console.log(`baseline: one SQL question per project and month: ${baseline.questions.toLocaleString('en')} questions in ${baseline.ms.toFixed(0)} ms`);
    console.log(`median: ${evaluateAllMs} ms for every project (target ≤ 1,000 ms: ${evaluateAllMs <= 1000 ? 'met' : 'MISSED'})`);
    console.log(
      JSON.stringify({ projects: o.projects, evaluateMs: evaluateAllMs, baselineMs: Math.round(baseline.ms), buildings: o.buildings, years: o.years }),
    );
  } finally {
    await storage?.close();
    await drop?.();
    await services?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
