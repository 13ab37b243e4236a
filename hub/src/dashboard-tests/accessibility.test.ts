/**
 * The accessibility sweep: axe-core, in real Chromium against the demo city, finds no serious or
 * critical violation of WCAG 2.1 A/AA (what RGAA 4 maps to) on any page of the dashboard, in
 * French and in English, for the person the page is for. The pages come from pages.ts, which is
 * held to app.tsx's routes and layout.tsx's navigation, so that no page is left out.
 *
 * A person of the page's role is signed in to the browser context (testing/visitors.ts).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { createToken } from '../auth/tokens.js';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, type AxeFinding } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';
import { visitorContext } from '../testing/visitors.js';
import { natsConnection, waitFor } from '../testing/index.js';
import { encodeInventory, fleetSubjects, type InventoryReport } from '@citypilot/wire';
import { PAGES, appRoutes, demoFacts, navLinks, routeMatches, type DemoFacts } from './pages.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const routes = appRoutes();
const LANGUAGES = ['fr', 'en'] as const;
/** Each page the app has, for each of its visitors, in each language. */
const visits = PAGES.filter((p) => routes.includes(p.route)).flatMap((page) =>
  page.visitors.flatMap((visitor) => LANGUAGES.map((lang) => ({ page, visitor, lang }))),
);

describe('the list of pages the sweep visits', () => {
  it('covers every route of app.tsx and every link of the navigation', () => {
    const listed = PAGES.map((p) => p.route);
    expect(
      routes.filter((r) => !listed.includes(r)),
      'routes of hub/web/src/app.tsx missing from dashboard-tests/pages.ts',
    ).toEqual([]);
    expect(routes).toContain('default');
    const unreached = navLinks().filter((href) => !PAGES.some((p) => routeMatches(p.route, href)));
    expect(unreached, 'links of ui/layout.tsx NAV that no page of dashboard-tests/pages.ts answers').toEqual([]);
  });

  it('reads the routes however app.tsx writes them', () => {
    const source = `<Router>\n<Route path="/" component={Home} />\n<Route path='/a/:key' component={A} />\n<Route\n  path={'/b'}\n  component={B} />\n<Route default component={NotFound} />\n</Router>`;
    expect(appRoutes(source)).toEqual(['/', '/a/:key', '/b', 'default']);
    expect(() => appRoutes('<Route component={X} />')).toThrow(/cannot read/);
    expect(routeMatches('/objectifs/:key', '/objectifs/energy')).toBe(true);
    expect(routeMatches('/objectifs/:key', '/objectifs')).toBe(false);
    expect(routeMatches('/gestion/objectifs', '/gestion/objectifs/x')).toBe(false);
  });
});

describe.skipIf(unavailable)('accessibility of every page, in both languages', () => {
  let city: DemoCity;
  let browser: Browser;
  let facts: DemoFacts;
  const contexts = new Map<string, BrowserContext>();

  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_a11y', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    const admin = await createToken(city.hub.storage.pool, { role: 'admin', label: 'accessibility sweep' }, 'dashboard tests');
    facts = await demoFacts(city.url, admin.token);
    if (routes.includes('/gestion/flotte/:id')) await reportDemoGateway(city, facts.gateway, admin.token);
    for (const visitor of new Set(visits.map((v) => v.visitor))) {
      for (const lang of LANGUAGES) {
        const { context } = await visitorContext(browser, visitor, {
          baseUrl: city.url,
          pool: city.hub.storage.pool,
          sites: [facts.site],
          lang,
          context: { viewport: { width: 1280, height: 900 } },
        });
        contexts.set(`${visitor}/${lang}`, context);
      }
    }
  });
  afterAll(async () => {
    await browser?.close();
    await city?.stop();
  });

  it.each(
    visits.map(
      (v) =>
        [`${v.page.route}${v.page.state ? ` ${v.page.state}` : ''} for ${v.visitor === 'citizen' ? 'a citizen' : `a ${v.visitor}`} in ${v.lang}`, v] as const,
    ),
  )('%s', async (_, { page: entry, visitor, lang }) => {
    const page = await contexts.get(`${visitor}/${lang}`)!.newPage();
    try {
      const url = entry.url(facts);
      await page.goto(city.url + url);
      await page.waitForSelector('main[data-view][aria-busy="false"]', { timeout: 30_000 });
      const view = await page.getAttribute('main', 'data-view');
      // An address that falls to the not-found page means pages.ts builds it wrong.
      if (entry.route !== 'default') expect(view, `${url} opened the not-found page`).not.toBe('not-found');
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      const violations = await seriousAxeViolations(page);
      expect(violations, describeViolations(url, violations)).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

/**
 * Has the demo's gateway report an inventory to the hub, as a gateway would on its own subject,
 * with what the fleet's pages show at their fullest: a refused configuration, a failing device, an
 * installed and a refused plugin; and waits until the hub serves it.
 */
async function reportDemoGateway(city: DemoCity, gateway: string, adminToken: string): Promise<void> {
  const now = new Date().toISOString();
  const report: InventoryReport = {
    v: 1,
    software: { version: '0.1.0', sdk: '0.1.0', node: process.version },
    host: { hostname: `${gateway}.example.org`, platform: 'linux', arch: 'arm64' },
    startedAt: now,
    uptimeS: 3600,
    reportIntervalS: 30,
    plugins: [
      { id: 'modbus', version: '0.1.0', source: 'builtin' },
      { id: 'http-json', version: '1.0.0', source: 'installed' },
    ],
    config: {
      source: 'file',
      revision: '0123456789ab',
      appliedAt: now,
      refused: {
        source: 'hub',
        revision: 3,
        at: now,
        message: 'hub revision 3: changes settings that take effect only when the gateway restarts:\n  status.port: 8081 → 8082',
      },
    },
    outbox: { depth: 12 },
    devices: {
      total: 2,
      failing: 1,
      byPlugin: { modbus: { total: 2, failing: 1 } },
      failingDevices: [{ id: 'boiler', plugin: 'modbus', error: 'timeout after 2000 ms' }],
    },
    lastError: { at: now, message: 'boiler: timeout after 2000 ms' },
    installs: [
      { id: 'http-json', version: '1.0.0', state: 'installed', at: now },
      { id: 'bacnet-extra', version: '2.0.0', state: 'refused', at: now, reason: 'signed by key 0123456789abcdef, which this gateway does not trust' },
    ],
  };
  // A hub without the fleet's API (built on another branch) has nothing to show.
  const fleet = await fetch(`${city.url}/api/fleet`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (fleet.status === 404) return;
  const nc = await natsConnection(inject('natsUrl'));
  try {
    await waitFor(
      async () => {
        nc.publish(fleetSubjects(city.names.prefix).inventory(gateway), encodeInventory(report));
        const answer = await fetch(`${city.url}/api/fleet/gateways/${encodeURIComponent(gateway)}`, { headers: { authorization: `Bearer ${adminToken}` } });
        return answer.ok;
      },
      30_000,
      `the hub did not take the inventory report of ${gateway}`,
    );
  } finally {
    await nc.close();
  }
}

function describeViolations(url: string, violations: AxeFinding[]): string {
  return `${url}: ${violations.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`;
}
