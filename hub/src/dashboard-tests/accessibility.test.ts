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

function describeViolations(url: string, violations: AxeFinding[]): string {
  return `${url}: ${violations.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`;
}
