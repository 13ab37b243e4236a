import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAccount, findAccount } from './auth/accounts.js';
import type { Role } from './auth/principal.js';
import { Costs } from './costs/index.js';
import { backfillDemoHistory, backfillDemoServiceData, DEMO_RECENT_DAYS, type DemoCity, type DemoMeterBuilding, type DemoPlantDevice } from './demo-history.js';
import { loadObjectivesFile } from './objectives/file.js';
import { Objectives } from './objectives/objectives.js';
import { EnergyPrices } from './projects/energy-prices.js';
import { loadProjectsFile } from './projects/file.js';
import { DATASETS, OpenData } from './open-data/index.js';
import { Projects } from './projects/store.js';
import { ServiceData } from './service-data/index.js';
import { importCatalog, loadCatalog } from './storage/catalog.js';
import type { Storage } from './storage/storage.js';
import { localDay } from './utility/local-time.js';

/** Root of the repository (this file is hub/dist/demo-seed.js once built). */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The objectives the hub ships (hub/objectives/*.yaml), which the demo city defines. */
export const SHIPPED_OBJECTIVE_FILES = ['energy.yaml', 'services.yaml'].map((f) => join(repoRoot, 'hub', 'objectives', f));

/** A device of a demo building besides its meters, served by its plugin's simulator. */
export interface DemoDevice {
  id: string;
  name: string;
  plugin: string;
  profile: string;
  /** What the plugin's simulator answered with (`RunningSimulator.connection`). */
  connection?: Record<string, unknown>;
}

/**
 * The plant of the demo buildings: the town hall's air handling units, boiler and meters read
 * from its building management system's OPC UA server, over loopback without security, which
 * only a demo may do (a site's server is reached with SignAndEncrypt: plugins/opcua/README.md);
 * the school's heating and ventilation controller over BACnet/IP, by change-of-value.
 */
export const DEMO_PLANT: Record<string, Omit<DemoDevice, 'connection'>[]> = {
  'town-hall': [{ id: 'bms', name: 'Building management system', plugin: 'opcua', profile: 'citypilot-building' }],
  school: [{ id: 'hvac', name: 'Heating and ventilation controller', plugin: 'bacnet', profile: 'citypilot-building-controller' }],
};

/**
 * The points of device profile `profile` of plugin `plugin` (the plugins' own profiles): the
 * gateway's plugin registry knows them, which the hub does not import, so callers pass this.
 */
export type ProfilePoints = (plugin: string, profile: string) => DemoPlantDevice['points'];

/** The plant devices of the demo buildings with their profiles' points, for the demo's history. */
export function demoPlant(buildings: readonly DemoMeterBuilding[], profilePoints: ProfilePoints): DemoPlantDevice[] {
  return buildings.flatMap((b) =>
    (DEMO_PLANT[b.id] ?? []).map((d) => ({ building: b.id, device: d.id, plugin: d.plugin, points: profilePoints(d.plugin, d.profile) })),
  );
}

/** The demo's password, the same for every demo account (printed by `citypilot demo`). */
/**
 * The demo's energy prices (€/kWh, `to` the last day included), so that its projects' savings
 * show in €: illustrative, not a supplier's. A real city sets its own (PUT /api/energy-prices) or
 * imports its bill lines (POST /api/energy-prices/import).
 */
const DEMO_TARIFFS = [
  { energy: 'elec', from: '2019-01-01', to: '2022-12-31', eurosPerKWh: 0.16, source: 'demo: illustrative electricity tariff' },
  { energy: 'elec', from: '2023-01-01', to: null, eurosPerKWh: 0.24, source: 'demo: illustrative electricity tariff' },
  { energy: 'heat', from: '2019-01-01', to: '2022-12-31', eurosPerKWh: 0.08, source: 'demo: illustrative district-heating tariff' },
  { energy: 'heat', from: '2023-01-01', to: null, eurosPerKWh: 0.11, source: 'demo: illustrative district-heating tariff' },
];

export const DEMO_PASSWORD = 'citypilot-demo';

/**
 * The demo's yearly spending lines (€ per calendar year), imported for each of the two years
 * before the current one: `town-hall` and `school` are buildings of the demo's catalog. The
 * year before last costs `EARLIER_YEAR_SHARE` of the last, so that choosing a year shows a change.
 * Illustrative amounts, not a real city's.
 */
const DEMO_BUDGET: readonly { scope: string; service: string; nature: string; eur: number; label: string }[] = [
  { scope: 'town-hall', service: 'accueil', nature: 'staff', eur: 180_000, label: 'Agents d’accueil (4 ETP)' },
  { scope: 'town-hall', service: 'accueil', nature: 'other', eur: 6_000, label: 'Fournitures et affranchissement' },
  { scope: 'town-hall', service: 'standard', nature: 'staff', eur: 62_000, label: 'Standard téléphonique (1,5 ETP)' },
  { scope: 'town-hall', service: 'entretien', nature: 'maintenance', eur: 24_000, label: 'Nettoyage et maintenance des locaux' },
  { scope: 'school', service: 'entretien', nature: 'maintenance', eur: 31_000, label: 'Nettoyage et maintenance des locaux' },
  { scope: 'school', service: 'restauration-scolaire', nature: 'staff', eur: 95_000, label: 'Agents de restauration' },
  { scope: 'school', service: 'restauration-scolaire', nature: 'other', eur: 42_000, label: 'Denrées' },
];
/** What the year before last cost, as a share of the last year's amounts. */
const EARLIER_YEAR_SHARE = 0.97;

/** The demo's budget lines as a CSV file (csv.ts's columns, French headers, decimal comma), for the two years before `year`. */
export function demoBudgetCsv(year: number): string {
  const rows = [-2, -1].flatMap((back) =>
    DEMO_BUDGET.map((l) => {
      const eur = (back === -1 ? l.eur : Math.round(l.eur * EARLIER_YEAR_SHARE)).toFixed(2).replace('.', ',');
      return [`${year + back}-01-01`, `${year + back + 1}-01-01`, l.scope, l.service, l.nature, eur, l.label].join(';');
    }),
  );
  return ['debut;fin;perimetre;service;nature;montant;libelle', ...rows].join('\n') + '\n';
}

/**
 * The demo's spending (DEMO_BUDGET) when no budget line exists, imported as the costs module
 * imports a finance department's file; and, when no service has a unit yet, reception measured
 * by the visitors of the demo's service data and the switchboard by the calls answered, where the
 * demo has them. False when nothing was written.
 */
async function seedDemoCosts(storage: Storage, now = Date.now()): Promise<boolean> {
  const timezone = storage.rollups.timezone;
  const costs = new Costs({ pool: storage.pool, timezone });
  let wrote = false;
  const { rows } = await storage.pool.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM budget_lines) AS any');
  if (!rows[0]?.any) {
    const year = Number(localDay(now, timezone).slice(0, 4));
    const file = demoBudgetCsv(year);
    await costs.importCsv(
      (async function* () {
        yield file;
      })(),
      { fileName: 'budget-demo.csv', submittedBy: 'demo', contentType: 'text/csv; charset=utf-8' },
    );
    wrote = true;
  }
  if (!(await costs.units()).length) {
    const serviceData = await ServiceData.open(storage.pool);
    const measured = async (metric: string) =>
      (await serviceData.current({ metrics: [metric], scopes: ['building:town-hall'], from: new Date(now - 800 * 86_400_000), to: new Date(now), limit: 1 }))
        .length > 0;
    const units = [
      { service: 'accueil', metric: 'visitors', unit: 'visiteur reçu' },
      { service: 'standard', metric: 'calls.answered', unit: 'appel décroché' },
    ];
    const named = [];
    for (const u of units) if (await measured(u.metric)) named.push(u);
    if (named.length) {
      await costs.setUnits(named, 'demo');
      wrote = true;
    }
  }
  return wrote;
}

export interface DemoAccount {
  username: string;
  name: string;
  role: Exclude<Role, 'public'>;
  /** A technician's sites. */
  sites?: string[];
}

/** One account per role, so that a visitor of the demo can see what each kind of person sees. */
export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { username: 'directrice', name: 'Claire Martin, directrice générale des services', role: 'director' },
  { username: 'elu', name: 'Paul Bernard, adjoint au maire', role: 'elected' },
  { username: 'agent', name: 'Nadia Leroy, agente d’accueil', role: 'agent' },
  { username: 'exploitant', name: 'Hugo Petit, exploitant du hub', role: 'operator' },
  { username: 'technicien', name: 'Léa Moreau, technicienne du quartier Nord', role: 'technician', sites: ['nord'] },
  { username: 'admin', name: 'Administratrice CityPilot', role: 'admin' },
];

/** The demo's main meters whose hourly readings are published: gateway and point. */
const DEMO_PUBLIC_POINTS = [
  ['town-hall', 'meters.elec-energy'],
  ['school', 'meters.elec-energy'],
  ['school', 'meters.gas-volume'],
] as const;

/**
 * Every dataset published under the default licence, the publisher named, and the main meters'
 * hourly readings published: once, when no dataset has ever been switched (an operator's later
 * choices stay). False when there was nothing to do.
 */
async function seedDemoOpenData(storage: Storage): Promise<boolean> {
  const { rows } = await storage.pool.query(`SELECT 1 FROM open_data_datasets LIMIT 1`);
  if (rows.length) return false;
  const openData = new OpenData({ pool: storage.pool, timezone: storage.rollups.timezone });
  try {
    await openData.setPublisher({ publisher: 'Ville de Démo', homepage: null, contactEmail: 'donnees@ville-de-demo.example', inseeCode: null }, 'demo');
    // A point the history has not announced (a demo run without that gateway's history) is left out.
    for (const [gateway, point] of DEMO_PUBLIC_POINTS) await openData.setPoint(gateway, point, true, 'demo').catch(() => false);
    for (const dataset of DATASETS) await openData.setDataset(dataset.id, { enabled: true }, 'demo');
  } finally {
    await openData.close();
  }
  return true;
}

/**
 * The demo city's data before its gateways start: the buildings' catalog (floor areas, usages),
 * their history (so that statuses and trends mean something on first start), a year of the town
 * hall's service data, the shipped objectives, two years of spending (seedDemoCosts), and one account per role (DEMO_ACCOUNTS). Each part is written once; `say` is told what
 * was written. `plant` is the demo's plant with its points ({@link demoPlant}). Used by
 * `citypilot demo` and by the tests and tools that need the demo city.
 */
export async function seedDemoCity(storage: Storage, city: DemoCity, say: (message: string) => void = () => undefined): Promise<void> {
  await importCatalog(storage.pool, loadCatalog(join(repoRoot, 'hub', 'demo', 'catalog.yaml')));
  const historyStarted = Date.now();
  if (await backfillDemoHistory(storage, city)) {
    say(
      `Wrote the demo buildings' history (meters every minute and plant every 15 minutes for the last ${DEMO_RECENT_DAYS} days, meters hourly for the year before and daily since 2019) in ${((Date.now() - historyStarted) / 1000).toFixed(1)} s.`,
    );
  }
  if (await backfillDemoServiceData(await ServiceData.open(storage.pool), storage.rollups.timezone))
    say("Wrote a year of the town hall's service data (reception, calls, mail).");
  const objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone });
  for (const file of SHIPPED_OBJECTIVE_FILES) for (const definition of loadObjectivesFile(file)) await objectives.define(definition, 'demo');
  const projects = new Projects(storage.pool);
  for (const definition of loadProjectsFile(join(repoRoot, 'hub', 'demo', 'projects.yaml'))) await projects.define(definition, 'demo');
  const prices = new EnergyPrices(storage.pool);
  if (!(await prices.tariffs()).length) await prices.setTariffs({ tariffs: DEMO_TARIFFS }, 'demo');
  if (await seedDemoCosts(storage)) say('Wrote the demo’s spending of the last two years (town hall and school) and the units of its services.');
  if (await seedDemoOpenData(storage)) say('Published the demo’s datasets (open data) and the hourly readings of its main meters.');
  for (const account of DEMO_ACCOUNTS) {
    if (!(await findAccount(storage.pool, account.username))) await createAccount(storage.pool, { ...account, password: DEMO_PASSWORD }, 'demo');
  }
}
