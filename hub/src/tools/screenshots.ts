/**
 * The README's screenshots: `npm run screenshots` at the repository root.
 *
 * Starts the demo city (its own database and streams, a hub in this process) and Chromium, and
 * writes into docs/screenshots/:
 * - home.png: the public home, as a citizen sees it;
 * - objective.png: an objective with its drill-down from the city to its sites, as a director sees it;
 * - building.png: a building's page, as a director sees it;
 * - utility.png: the utility meters page (connectors, delivery points, imports), as an operator sees it,
 *   once the library's Linky has been collected from the demo's simulated Enedis Data Connect;
 * - library.png: the library's page, whose only meter is its Linky, as a director sees it;
 * - project.png: a project's page (the town hall's new boiler: its adjusted baseline against the
 *   measured heat, its savings and return), as a citizen sees it once published;
 * - open-data.png: the open data page (the published datasets, the DCAT-AP catalogue), as a citizen sees it;
 * - fleet.png: the operators' fleet page, three gateways having reported their inventory (the demo
 *   city of this tool runs no gateway process: the reports are published as gateways would, one
 *   of them with a refused configuration and a failing device).
 * Each is 1280 pixels wide and must stay under 300 KB (the README is read on slow links too):
 * a larger one stops the script with an error. A page the app does not have yet (it opens the
 * not-found view) is left out with a warning, and the script fails only if nothing was written.
 * Options: --out DIR (default docs/screenshots).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureServices, type Services } from '../services/local-services.js';
import { chromiumUnavailable, launchChromium } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';
import { visitorContext } from '../testing/visitors.js';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '@citypilot/sdk';
import { monthsAgo } from '../objectives/routes.js';
import { DEMO_ENEDIS_CLIENT, DEMO_LIBRARY_PRM, seedDemoUtility } from '../utility/demo.js';
import { EnedisSimulator } from '../utility/enedis/index.js';
import { SecretBox } from '../utility/secrets.js';
import { encodeInventory, fleetSubjects, type InventoryReport } from '@citypilot/wire';
import { connect } from '@nats-io/transport-node';
import { inventoryReport } from '../testing/inventory.js';
import { waitFor } from '../testing/index.js';

/** Root of the repository (this file is hub/dist/tools/screenshots.js once built). */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The largest PNG the README may show, in bytes. */
export const MAX_SCREENSHOT_BYTES = 300 * 1024;
const WIDTH = 1280;
/** The part of a page kept, in CSS pixels from its top: the top is what the README shows. */
const HEIGHT = 1400;
/** The most kept when a shot must reach down to a part of the page (Shot.through). */
const MAX_HEIGHT = 2600;

interface Shot {
  file: string;
  /** What it shows, for the log. */
  what: string;
  visitor: 'citizen' | 'director' | 'operator';
  url: string;
  /** The data-view of the page (ui/view.tsx). */
  view: string;
  /** A part of the page the picture must show whole (a CSS selector): the picture goes down to its end. */
  through?: string;
}

/** The shots of the demo city (see hub/demo/catalog.yaml and hub/objectives/). */
const SHOTS: Shot[] = [
  { file: 'home.png', what: 'the public home', visitor: 'citizen', url: '/', view: 'home' },
  {
    file: 'objective.png',
    what: 'an objective with its drill-down from the city to its sites',
    visitor: 'director',
    url: '/objectifs/energy-per-m2-dd',
    view: 'objective',
    through: 'section.drilldown',
  },
  { file: 'building.png', what: 'a building page', visitor: 'director', url: '/batiments/town-hall', view: 'building' },
  { file: 'utility.png', what: 'the utility meters page', visitor: 'operator', url: '/gestion/compteurs', view: 'utility' },
  { file: 'library.png', what: 'the library, read from its utility only', visitor: 'director', url: '/batiments/library', view: 'building' },
  { file: 'project.png', what: "a project's page", visitor: 'citizen', url: '/projets/chaufferie-hotel-de-ville', view: 'project' },
  { file: 'open-data.png', what: 'the open data page', visitor: 'citizen', url: '/donnees', view: 'open-data' },
  { file: 'fleet.png', what: "the operators' fleet page", visitor: 'operator', url: '/gestion/flotte', view: 'fleet' },
];

async function shoot(context: BrowserContext, base: string, shot: Shot): Promise<Buffer | string> {
  const page: Page = await context.newPage();
  try {
    await page.goto(base + shot.url);
    await page.waitForSelector('main[data-view][aria-busy="false"]', { timeout: 60_000 });
    const view = await page.getAttribute('main', 'data-view');
    if (view !== shot.view) return `${shot.url} opened the view "${view}", not "${shot.view}": the app has no such page yet`;
    // Focus rings and the caret are not part of a picture.
    // (Strings, because the hub's TypeScript has no DOM types.)
    await page.evaluate('document.activeElement?.blur()');
    const pageHeight = await page.evaluate<number>('document.documentElement.scrollHeight');
    let height = HEIGHT;
    if (shot.through) {
      const end = await page.evaluate<number | null>(
        `(() => { const e = document.querySelector(${JSON.stringify(shot.through)}); return e ? e.getBoundingClientRect().bottom + window.scrollY + 16 : null; })()`,
      );
      if (end === null) console.warn(`${shot.file}: the page has no ${shot.through}; the picture shows its top`);
      else height = Math.min(Math.max(end, HEIGHT), MAX_HEIGHT);
    }
    return await page.screenshot({
      type: 'png',
      fullPage: true,
      clip: { x: 0, y: 0, width: WIDTH, height: Math.min(pageHeight, height) },
      animations: 'disabled',
      caret: 'hide',
    });
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const unavailable = chromiumUnavailable();
  if (unavailable) throw new Error(unavailable);
  const outIndex = process.argv.indexOf('--out');
  const out = resolve(outIndex > 0 ? process.argv[outIndex + 1]! : join(repoRoot, 'docs', 'screenshots'));
  mkdirSync(out, { recursive: true });

  let services: Services | undefined;
  let city: DemoCity | undefined;
  let browser: Browser | undefined;
  let enedis: EnedisSimulator | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    console.log('Starting the demo city and Chromium…');
    // The demo's utility side as `npm start` sets it up: a simulated Enedis, the library's Linky.
    enedis = await EnedisSimulator.start({ clients: [DEMO_ENEDIS_CLIENT], usagePoints: [{ prm: DEMO_LIBRARY_PRM, scaleKw: 25 }] });
    const secrets = SecretBox.fromBase64(randomBytes(32).toString('base64'));
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: services.databaseUrl, natsUrl: services.natsUrl, label: 'screenshots', utility: { secrets, schedule: false } }),
      launchChromium(),
    ]);
    await seedDemoUtility(city.hub.storage, { enedisUrl: enedis.url, secrets, logger: silentLogger });
    console.log('Collecting the library’s Linky (three years of days, two of load curve)…');
    await city.hub.utility.run('enedis', 'screenshots');
    await city.hub.storage.rollups.settle();
    await city.hub.objectives.evaluate({ fromMonth: monthsAgo(12, city.hub.storage.rollups.timezone) });
    await reportFleet(city, services.natsUrl);
    const options = {
      baseUrl: city.url,
      pool: city.hub.storage.pool,
      lang: 'fr' as const,
      name: 'Claire Martin',
      context: { viewport: { width: WIDTH, height: 900 }, deviceScaleFactor: 1 },
    };
    const director = await visitorContext(browser, 'director', options);
    if (director.signedIn !== 'session') console.warn('this hub has no accounts: the director is an API token, and the pages show what they show a citizen');
    const contexts = {
      citizen: (await visitorContext(browser, 'citizen', options)).context,
      director: director.context,
      operator: (await visitorContext(browser, 'operator', { ...options, name: 'Karim Benali' })).context,
    };
    const written: string[] = [];
    const missing: string[] = [];
    for (const shot of SHOTS) {
      const png = await shoot(contexts[shot.visitor], city.url, shot);
      if (typeof png === 'string') {
        console.warn(`skipped ${shot.file} (${shot.what}): ${png}`);
        missing.push(shot.file);
        continue;
      }
      if (png.length > MAX_SCREENSHOT_BYTES) {
        throw new Error(
          `${shot.file} (${shot.what}) is ${Math.round(png.length / 1024)} KB, over the README's ${MAX_SCREENSHOT_BYTES / 1024} KB: show less of the page (HEIGHT, MAX_HEIGHT) or make it lighter`,
        );
      }
      const file = join(out, shot.file);
      writeFileSync(file, png);
      console.log(`wrote ${relative(process.cwd(), file)}: ${shot.what}, ${Math.round(statSync(file).size / 1024)} KB`);
      written.push(shot.file);
    }
    if (!written.length) throw new Error('no screenshot was written');
    if (missing.length) console.warn(`not written, for want of their pages: ${missing.join(', ')}`);
  } finally {
    await enedis?.stop();
    await browser?.close();
    await city?.stop();
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`screenshots failed: ${error.message}`);
  process.exitCode = 1;
});

/**
 * Three gateways' inventory reports, published on their subjects as gateways send them: two up to
 * date, one refusing the configuration the hub pushed and with a meter that does not answer.
 * Resolves once the hub has stored all three.
 */
async function reportFleet(city: DemoCity, natsUrl: string): Promise<void> {
  const now = new Date().toISOString();
  const plugins: InventoryReport['plugins'] = [
    { id: 'bacnet', version: '0.1.0', source: 'builtin' },
    { id: 'modbus', version: '0.1.0', source: 'builtin' },
    { id: 'opcua', version: '0.1.0', source: 'builtin' },
  ];
  const healthy = { total: 2, failing: 0, byPlugin: { modbus: { total: 2, failing: 0 } }, failingDevices: [] };
  const reports: Record<string, InventoryReport> = {
    'town-hall': inventoryReport({ host: { hostname: 'gw-mairie', platform: 'linux', arch: 'arm64' }, plugins, devices: healthy, uptimeS: 864_000 }),
    school: inventoryReport({
      host: { hostname: 'gw-ecole', platform: 'linux', arch: 'arm64' },
      plugins,
      uptimeS: 172_800,
      config: {
        source: 'file',
        revision: '5f0c3a9e12d4',
        appliedAt: now,
        refused: {
          source: 'hub',
          revision: 4,
          at: now,
          message:
            'citypilot-config/school@4: changes settings that take effect only when the gateway restarts: status.port\ncitypilot-config/school@4: the running configuration is kept.',
        },
      },
      devices: {
        total: 3,
        failing: 1,
        byPlugin: { modbus: { total: 2, failing: 1 }, bacnet: { total: 1, failing: 0 } },
        failingDevices: [{ id: 'meters', plugin: 'modbus', error: 'device did not answer within 2000 ms' }],
      },
      lastError: { at: now, message: 'meters: device did not answer within 2000 ms' },
    }),
    gymnasium: inventoryReport({ host: { hostname: 'gw-gymnase', platform: 'linux', arch: 'x64' }, plugins, devices: healthy, uptimeS: 3_600 }),
  };
  const nc = await connect({ servers: natsUrl });
  try {
    const subjects = fleetSubjects(city.names.prefix);
    for (const [gateway, report] of Object.entries(reports)) nc.publish(subjects.inventory(gateway), encodeInventory({ ...report, startedAt: now }));
    await nc.flush();
    await waitFor(
      async () => (await city.hub.storage.pool.query('SELECT count(*)::int AS n FROM fleet_gateways')).rows[0].n === 3,
      30_000,
      'the hub did not store the three inventory reports',
    );
  } finally {
    await nc.close();
  }
}
