/**
 * Dashboard benchmark: `npm run bench:dashboard` at the repository root.
 *
 * The 200-building city of bench:objectives (bench/city.ts) with the shipped objectives evaluated
 * over the last 12 months, a real hub process (`citypilot hub run`) serving the API and the
 * dashboard, and Chromium. Measures, each the median of --runs loads in a fresh browser context
 * (nothing cached, as for a first visit):
 * - the objectives overview: from navigation to `main[data-view="home"][aria-busy="false"]`,
 *   signed in as a director (every objective shows);
 * - the drill-down: on an objective's page drilled down to a site, from the click on a building
 *   to its page drawn;
 * - the baseline: the API calls each of those views made, fetched again from Node one after the
 *   other, so that what the page itself costs (scripts, rendering, charts) shows as the difference;
 * - the public home's JavaScript: every script a citizen's home loads before it is drawn (not the
 *   lazy chunks of staff pages), gzipped one by one as the hub serves them;
 * - axe-core's serious and critical violations on the overview.
 * Targets: overview ≤ 1,000 ms, drill-down ≤ 500 ms, public JavaScript ≤ 250 KB gzipped.
 * Ends with one JSON line: {"buildings", "overviewMs", "drilldownMs", "apiOnlyMs", "publicJsKB",
 * "axeViolations"} (drilldownMs null when the app has no drill-down to a building yet).
 * Options: --buildings N, --runs N.
 */
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { percentile, wholeNumberOptions } from '@citypilot/sdk/bench';
import { createToken } from '../auth/tokens.js';
import { SHIPPED_OBJECTIVE_FILES } from '../demo-seed.js';
import { loadObjectivesFile } from '../objectives/file.js';
import { Objectives } from '../objectives/objectives.js';
import { monthsAgo } from '../objectives/routes.js';
import { freePort, ensureServices, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { chromiumUnavailable, launchChromium, seriousAxeViolations } from '../testing/browser.js';
import { createTestDatabase, deleteStreams, hubEnv, startHubProcess, uniqueStreamNames, type CliProcess } from '../testing/index.js';
import { visitorContext, type SignedIn, type Visitor } from '../testing/visitors.js';
import { generateBenchCity } from './city.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

const DEFAULTS = { buildings: 200, runs: 10 };
const TARGETS = { overviewMs: 1000, drilldownMs: 500, publicJsKB: 250 };
/** The objective drilled down, and the site it is drilled down to (see bench/city.ts). */
const DRILL = { objective: 'energy-per-m2-dd', site: 'site-3' };
/** Links of the drill-down that lead to a building: its page, else the objective at its scope. */
const BUILDING_LINKS = ['section.drilldown a[href^="/batiments/"]', 'section.drilldown a[href*="scope=building"]'];

/**
 * Installed in every page before its scripts: records, by the page's own clock (ms since the
 * navigation started), when a view is drawn (<main data-view aria-busy="false">) and when the
 * last click happened, so that no polling delay of the driver is counted.
 */
const TIMING_SCRIPT = `(() => {
  const t = (window.__cp = { drawn: [], clickAt: null, busyAt: -1, last: '' });
  document.addEventListener('click', () => { t.clickAt = performance.now(); }, true);
  new MutationObserver(() => {
    const main = document.querySelector('main[data-view]');
    if (!main) return;
    const view = main.getAttribute('data-view');
    const busy = main.getAttribute('aria-busy') === 'true';
    const state = view + ' ' + location.href + ' ' + busy;
    if (state === t.last) return;
    t.last = state;
    if (busy) t.busyAt = performance.now();
    else t.drawn.push({ view, href: location.href, at: performance.now(), busyAt: t.busyAt });
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-busy', 'data-view'] });
})();`;

interface Drawn {
  view: string;
  href: string;
  /** When it was drawn, ms since the navigation started. */
  at: number;
  /** When the page was last busy before, -1 if never. */
  busyAt: number;
}

/**
 * Waits until the page has drawn the view `view` after `after` ms (page clock); with `loaded`,
 * only once it has been busy since (a view of the same name that loads anew, e.g. another scope).
 */
async function drawnAfter(page: Page, view: string, after: number, loaded = false): Promise<Drawn> {
  const handle = await page.waitForFunction(
    ([v, a, l]) =>
      (globalThis as unknown as { __cp: { drawn: Drawn[] } }).__cp.drawn.find(
        (d) => d.view === v && d.at > (a as number) && (!l || d.busyAt > (a as number)),
      ) ?? false,
    [view, after, loaded] as const,
    { timeout: 60_000, polling: 20 },
  );
  return (await handle.jsonValue()) as Drawn;
}

/** The /api/ URLs (path and query) the page requests from now on, in order. */
function recordApiCalls(page: Page, base: string): string[] {
  const calls: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(`${base}/api/`)) calls.push(url.slice(base.length));
  });
  return calls;
}

/** Fetches `urls` from Node one after the other, as the token's holder; returns the time in ms. */
async function fetchAll(base: string, urls: readonly string[], token: string): Promise<number> {
  const started = performance.now();
  for (const url of urls) {
    const response = await fetch(base + url, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
  }
  return performance.now() - started;
}

/** A fresh context (nothing cached) for `visitor`, signed in when not a citizen, timing its pages. */
async function newContext(browser: Browser, visitor: Visitor, base: string, storage: Storage, signedIn?: SignedIn[]): Promise<BrowserContext> {
  const made = await visitorContext(browser, visitor, { baseUrl: base, pool: storage.pool, lang: 'fr', context: { viewport: { width: 1280, height: 900 } } });
  signedIn?.push(made.signedIn);
  await made.context.addInitScript(TIMING_SCRIPT);
  return made.context;
}

const median = (xs: number[]) => (xs.length ? Math.round(percentile(xs, 50)) : null);
const verdict = (value: number | null, target: number) => (value === null ? 'not measured' : value <= target ? 'met' : 'MISSED');

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), DEFAULTS);
  const unavailable = chromiumUnavailable();
  if (unavailable) throw new Error(unavailable);
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let storage: Storage | undefined;
  let hub: CliProcess | undefined;
  let streams: (() => Promise<void>) | undefined;
  let browser: Browser | undefined;
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_dashboard');
    drop = db.drop;
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    browser = await launchChromium();
    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
    console.log(`software: node ${process.version}, Chromium ${browser.version()}, storage ${storage.mode}`);

    const started = performance.now();
    const { samples } = await generateBenchCity(storage, o);
    const tz = storage.rollups.timezone;
    const objectives = new Objectives({ pool: storage.pool, timezone: tz });
    for (const file of SHIPPED_OBJECTIVE_FILES) for (const d of loadObjectivesFile(file)) await objectives.define(d, 'bench');
    await objectives.evaluate({ fromMonth: monthsAgo(12, tz) });
    console.log(
      `city: ${o.buildings} buildings on 10 sites, ${samples.toLocaleString('en')} daily samples, objectives evaluated over 13 months, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const { token } = await createToken(storage.pool, { role: 'director', label: 'bench:dashboard' }, 'bench');

    const port = await freePort();
    const names = uniqueStreamNames('benchdash');
    const natsUrl = services.natsUrl;
    streams = () => deleteStreams(natsUrl, names);
    hub = await startHubProcess({ ...hubEnv(db.url, natsUrl, names, port), HUB_ANONYMOUS_READS: '100000' }, port);
    const base = `http://127.0.0.1:${port}`;

    // The overview, as a director.
    const signedIn: SignedIn[] = [];
    const overview: number[] = [];
    const overviewApi: number[] = [];
    let overviewCalls: string[] = [];
    let axeViolations = 0;
    for (let i = 0; i < o.runs; i++) {
      const context = await newContext(browser, 'director', base, storage, signedIn);
      const page = await context.newPage();
      const calls = recordApiCalls(page, base);
      await page.goto(`${base}/`);
      overview.push((await drawnAfter(page, 'home', 0)).at);
      overviewCalls = calls;
      overviewApi.push(await fetchAll(base, calls, token));
      if (i === 0) {
        const violations = await seriousAxeViolations(page);
        axeViolations = violations.length;
        for (const v of violations) console.log(`axe: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
      }
      await context.close();
    }

    // The drill-down: from the click on a building of a site's ranking to the building drawn.
    const drilldown: number[] = [];
    const drilldownApi: number[] = [];
    let drilldownCalls: string[] = [];
    let drillNote = '';
    for (let i = 0; i < o.runs; i++) {
      const context = await newContext(browser, 'director', base, storage);
      const page = await context.newPage();
      await page.goto(`${base}/objectifs/${DRILL.objective}?scope=site:${DRILL.site}`);
      await page.waitForSelector('main[data-view][aria-busy="false"]', { timeout: 60_000 });
      const view = await page.getAttribute('main', 'data-view');
      // The site's ranking comes with a request of its own, after the page is drawn.
      if (view === 'objective')
        await page
          .locator(BUILDING_LINKS.join(', '))
          .first()
          .waitFor({ timeout: 30_000 })
          .catch(() => undefined);
      const selector = (await Promise.all(BUILDING_LINKS.map(async (s) => ((await page.locator(s).count()) > 0 ? s : undefined)))).find((s) => s);
      if (view !== 'objective' || !selector) {
        // What the page said instead (an error of the API under load, say), for whoever reads the run.
        console.log(
          `drill-down, run ${i + 1}: no link to a building; the page said: ${(await page.locator('main').innerText()).replace(/\s+/g, ' ').slice(0, 400)}`,
        );
        drillNote =
          view !== 'objective'
            ? `the app has no objective page yet (it opened "${view}")`
            : `the objective page has no drill-down link to a building (${BUILDING_LINKS.join(' or ')})`;
        await context.close();
        break;
      }
      const link = page.locator(selector).first();
      const target = selector.includes('/batiments/') ? 'building' : 'objective';
      drillNote = `${target === 'building' ? 'the building page' : 'the objective at the building'} (${await link.getAttribute('href')})`;
      const calls = recordApiCalls(page, base);
      await link.click();
      const clickAt = (await page.evaluate<number>('window.__cp.clickAt'))!;
      drilldown.push((await drawnAfter(page, target, clickAt, target === 'objective')).at - clickAt);
      drilldownCalls = calls;
      drilldownApi.push(await fetchAll(base, calls, token));
      await context.close();
    }

    // The public home's JavaScript, as a citizen loads it.
    const context = await newContext(browser, 'citizen', base, storage);
    const page = await context.newPage();
    const scripts: Promise<{ url: string; raw: number; gzipped: number }>[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() === 'script')
        scripts.push(
          response.body().then((body) => ({ url: response.url().slice(base.length), raw: body.length, gzipped: gzipSync(body, { level: 9 }).length })),
        );
    });
    await page.goto(`${base}/`);
    await drawnAfter(page, 'home', 0);
    const loaded = await Promise.all(scripts);
    await context.close();
    const publicJsKB = Math.round((loaded.reduce((sum, s) => sum + s.gzipped, 0) / 1024) * 10) / 10;

    const overviewMs = median(overview)!;
    const drilldownMs = median(drilldown);
    const apiOnlyMs = median(overviewApi)!;
    if (signedIn[0] === 'token')
      console.log('note: this hub has no accounts: the director is an API token, which the API honours but the pages do not know (no staff views)');
    console.log(
      `overview: ${o.runs} loads as a director: ${overview.map((x) => x.toFixed(0)).join(', ')} ms; median ${overviewMs} ms (target ≤ ${TARGETS.overviewMs} ms: ${verdict(overviewMs, TARGETS.overviewMs)})`,
    );
    console.log(
      `  its API calls alone (${overviewCalls.length}: ${overviewCalls.join(' ')}), fetched from Node one after the other: median ${apiOnlyMs} ms; the page's own cost ≈ ${overviewMs - apiOnlyMs} ms`,
    );
    if (drilldownMs === null) console.log(`drill-down: not measured: ${drillNote}`);
    else {
      console.log(
        `drill-down: ${drilldown.length} clicks to ${drillNote}: ${drilldown.map((x) => x.toFixed(0)).join(', ')} ms; median ${drilldownMs} ms (target ≤ ${TARGETS.drilldownMs} ms: ${verdict(drilldownMs, TARGETS.drilldownMs)})`,
      );
      console.log(
        `  its API calls alone (${drilldownCalls.length}: ${drilldownCalls.join(' ')}): median ${median(drilldownApi)} ms; the page's own cost ≈ ${drilldownMs - median(drilldownApi)!} ms`,
      );
    }
    console.log(
      `public home JavaScript: ${loaded.map((s) => `${s.url} ${(s.raw / 1024).toFixed(1)} KB (${(s.gzipped / 1024).toFixed(1)} KB gzipped)`).join(', ')}; total ${publicJsKB} KB gzipped (target ≤ ${TARGETS.publicJsKB} KB: ${verdict(publicJsKB, TARGETS.publicJsKB)})`,
    );
    console.log(`accessibility of the overview: ${axeViolations} serious or critical axe violations`);
    console.log(JSON.stringify({ buildings: o.buildings, overviewMs, drilldownMs, apiOnlyMs, publicJsKB, axeViolations }));
  } finally {
    await browser?.close();
    await hub?.stop();
    await streams?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await storage?.close().catch(() => undefined);
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench:dashboard failed: ${error.message}`);
  process.exitCode = 1;
});
