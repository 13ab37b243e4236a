/**
 * A director in real Chromium against a real hub with the demo city: signs in, drills down an
 * objective city → site → building → a point's chart, and each step's URL opened in a new page
 * shows the same view. A citizen sees neither the drill-down nor an unpublished objective.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

/** The view's heading and its main text, to compare a page with the same URL opened anew. */
async function viewOf(page: Page, name: string): Promise<{ view: string | null; heading: string | null }> {
  await viewReady(page, name);
  return { view: await page.getAttribute('main', 'data-view'), heading: await page.locator('main h1').textContent() };
}

/** Opens `url` in a new page of the same context and checks it shows the same view and the same `text`s. */
async function sameInNewPage(context: BrowserContext, url: string, name: string, texts: string[]): Promise<void> {
  const before = await context.pages()[0]!;
  const expected = await viewOf(before, name);
  const again = await context.newPage();
  await again.goto(url);
  expect(await viewOf(again, name)).toEqual(expected);
  const text = await again.locator('main').innerText();
  for (const t of texts) expect(text).toContain(t);
  await again.close();
}

describe.skipIf(unavailable)('the reading pages, for a director and a citizen', () => {
  let city: DemoCity;
  let browser: Browser;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_director', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await city?.stop();
  });

  it('drills down city → site → building → a point’s chart, each step’s URL opening the same view', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${city.url}/`);
    await viewReady(page, 'home');
    // Signing in as the dashboard does (POST /api/session), then the page learns the session.
    const signedIn = await page.evaluate(
      async ([username, password]) => {
        const r = await fetch('/api/session', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password }),
        });
        return r.status;
      },
      [city.account('director'), city.password],
    );
    expect(signedIn).toBe(200);

    // The city's level: the sites, ranked, with their values.
    const key = 'energy-per-m2-dd';
    await page.goto(`${city.url}/objectifs/${key}`);
    await viewReady(page, 'objective');
    await expect(page.locator('main h1').textContent()).resolves.toContain("Consommation d'énergie par m²");
    expect(await page.locator('.signed-in').innerText()).toContain('Claire Martin');
    const drill = page.locator('section.drilldown');
    await expect(drill.getAttribute('data-drill-scope')).resolves.toBe('');
    const period = new URL(page.url()).searchParams.get('period');
    const cityAnswer = (await page.evaluate(async (k) => (await fetch(`/api/objectives/${k}/results?scope=city`)).json(), key)) as {
      results: { period: string; value: number | null }[];
    };
    const latestCity = cityAnswer.results.filter((r) => r.value !== null).at(-1)!;
    const siteDrill = (await page.evaluate(
      async ([k, p]) => (await fetch(`/api/objectives/${k}/drilldown?period=${p}&scope=city`)).json(),
      [key, latestCity.period],
    )) as {
      children: { scope: string; status: string; value: number; target: number }[];
    };
    expect(period).toBeNull(); // the default period: the latest with a value
    // Ranked worst first: by status (red, amber, green, none), then by the gap to the target (lower is better here).
    const rank = { red: 0, amber: 1, green: 2, unknown: 3 } as Record<string, number>;
    const worstFirst = [...siteDrill.children]
      .sort((a, b) => rank[a.status]! - rank[b.status]! || (b.value - b.target) / b.target - (a.value - a.target) / a.target)
      .map((c) => c.scope);
    expect([...worstFirst].sort()).toEqual(['site:centre', 'site:nord']);
    const sites = await drill.locator('tr[data-child]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-child')));
    expect(sites).toEqual(worstFirst);
    const centre = siteDrill.children.find((c) => c.scope === 'site:centre')!.value;
    const siteRow = await drill.locator('tr[data-child="site:centre"]').innerText();
    expect(siteRow).toContain(new Intl.NumberFormat('fr-FR', { maximumFractionDigits: centre >= 100 ? 0 : centre >= 10 ? 1 : 2 }).format(centre));
    await sameInNewPage(context, page.url(), 'objective', ['Site centre', 'Site nord']);

    // The site: its buildings, worst first, with their names.
    await drill.getByRole('link', { name: 'Site centre' }).click();
    await page.waitForURL(/scope=site%3Acentre|scope=site:centre/);
    await viewReady(page, 'objective');
    await expect(page.locator('section.drilldown').getAttribute('data-drill-scope')).resolves.toBe('site:centre');
    const buildings = await page.locator('section.drilldown tr[data-child]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-child')));
    expect(buildings).toEqual(['building:town-hall']);
    const siteText = await page.locator('section.drilldown').innerText();
    expect(siteText).toContain('Hôtel de ville');
    expect(siteText).not.toContain('École Jules Ferry');
    await sameInNewPage(context, page.url(), 'objective', ['Hôtel de ville']);

    // The building: the points its formula reads, and a link to its page.
    await page.locator('section.drilldown').getByRole('link', { name: 'Hôtel de ville', exact: true }).click();
    await page.waitForURL(/building/);
    await viewReady(page, 'objective');
    await expect(page.locator('section.drilldown').getAttribute('data-drill-scope')).resolves.toBe('building:town-hall');
    const points = await page.locator('[data-point]').evaluateAll((items) => items.map((i) => i.getAttribute('data-point')));
    expect(points).toContain('town-hall/meters.elec-energy');
    await expect(
      page
        .getByRole('link', { name: /Hôtel de ville/ })
        .first()
        .isVisible(),
    ).resolves.toBe(true);
    const breadcrumb = await page.locator('nav.breadcrumb').innerText();
    expect(breadcrumb).toContain('Site centre');
    expect(breadcrumb).toContain('Hôtel de ville');
    await sameInNewPage(context, page.url(), 'objective', ['Hôtel de ville']);

    // A point's chart, then zoomed in: the same URL opens the same chart.
    await page.locator('[data-point="town-hall/meters.elec-energy"] a').click();
    await viewReady(page, 'point');
    expect(new URL(page.url()).pathname).toBe('/points/town-hall/meters.elec-energy');
    const pointText = await page.locator('main').innerText();
    expect(pointText).toContain('consommation par jour');
    await page.locator('a[data-zoom="in"]').click();
    await page.waitForURL(/step=hour/);
    await viewReady(page, 'point');
    expect(await page.locator('main').innerText()).toContain('consommation par heure');
    expect(await page.locator('.chart table tbody tr').count()).toBeGreaterThan(0);
    await sameInNewPage(context, page.url(), 'point', ['consommation par heure', (await page.locator('[data-range]').innerText()).trim()]);

    // The building's page.
    await page.goto(`${city.url}/batiments/town-hall`);
    await viewReady(page, 'building');
    await expect(page.locator('main h1').textContent()).resolves.toBe('Hôtel de ville');
    expect(await page.locator('[data-meter]').count()).toBeGreaterThan(0);

    for (const url of [`${city.url}/objectifs/${key}?scope=site:centre`, `${city.url}/batiments`, `${city.url}/batiments/town-hall`]) {
      await page.goto(url);
      await viewReady(page);
      expect(await seriousAxeViolations(page), url).toEqual([]);
    }
    await context.close();
  });

  it('shows a citizen no drill-down, and no unpublished objective', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${city.url}/objectifs/energy-per-m2-dd?scope=site:centre&period=2026-01`);
    await viewReady(page, 'objective');
    expect(await page.locator('section.drilldown').count()).toBe(0);
    expect(await page.locator('[data-point]').count()).toBe(0);
    // The methodology in words, and the history with its table.
    const text = await page.locator('main').innerText();
    expect(text).toContain('Plus la valeur est basse, mieux c’est.');
    expect(text).toContain('la surface chauffée des bâtiments (m²)');
    // The CSV link of what the history shows.
    await page.locator('a[download]').waitFor();
    expect(await page.locator('a[download]').count()).toBe(1);
    expect(await seriousAxeViolations(page)).toEqual([]);

    const unpublished = (await city.hub.objectives.list({ includeUnpublished: true })).find((o) => !o.definition.published)!;
    await page.goto(`${city.url}/objectifs/${unpublished.key}`);
    await viewReady(page, 'not-found');
    expect(await page.locator('main').innerText()).not.toContain(unpublished.definition.label.fr);
    await context.close();
  });
});
