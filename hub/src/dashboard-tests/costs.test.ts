/**
 * The cost of services on a building's page, in real Chromium against a real hub with the demo
 * city: a director sees the town hall's costs section with the € per m² that GET /api/costs gives
 * for the year shown, chooses an earlier year, and is told when a year has no spending; a citizen
 * sees the building's page without any costs section; axe finds no serious or critical violation
 * on that page in French and in English.
 *
 * The demo's spending (hub/src/demo-seed.ts DEMO_BUDGET) for the town hall, 4,200 m² heated, in
 * the last whole year: accueil 180,000 + 6,000, standard 62,000, entretien 24,000 = 272,000 €,
 * so 272,000 / 4,200 = 64.7619 €/m²; the year before, 97 % of each line rounded to the euro:
 * 174,600 + 5,820 + 60,140 + 23,280 = 263,840 €, so 62.819 €/m². No year before those two.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const PAGE = '/batiments/town-hall';

interface Report {
  year: number;
  totalEur: number;
  eurPerM2: number | null;
  services: { service: string; perUnit: { unit: string; eurPerUnit: number | null } | null }[];
}

describe.skipIf(unavailable)('the costs of a building, for a director and a citizen', () => {
  let city: DemoCity;
  let browser: Browser;
  let director: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_costs', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    director = await browser.newContext();
    page = await director.newPage();
    await signInOnPage(page, city.url, { username: city.account('director'), password: city.password }, PAGE, 'building');
  });
  afterAll(async () => {
    await director?.close();
    await browser?.close();
    await city?.stop();
  });

  /** GET /api/costs for the town hall, with the director's session. */
  const costsOf = (year: number) => page.evaluate(async (y) => (await fetch(`/api/costs?year=${y}&scope=building:town-hall`)).json(), year) as Promise<Report>;
  /** `amount` as the page's language writes € with `decimals`, by the page's own Intl. */
  const euros = (amount: number, decimals: number, locale = 'fr-FR') =>
    page.evaluate(
      ([a, d, l]) =>
        new Intl.NumberFormat(l as string, {
          style: 'currency',
          currency: 'EUR',
          minimumFractionDigits: d as number,
          maximumFractionDigits: d as number,
        }).format(a as number),
      [amount, decimals, locale],
    );

  it('shows the director the town hall’s costs of the last whole year, € per m² as GET /api/costs gives it', async () => {
    await page.goto(`${city.url}${PAGE}`);
    await viewReady(page, 'building');
    const section = page.locator('section[data-costs]');
    expect(await section.locator('h2').innerText()).toBe('Coûts');
    const year = Number(await page.locator('#costs-year').inputValue());
    const report = await costsOf(year);
    expect(report.year).toBe(year);
    expect(report.totalEur).toBe(272_000);
    expect(report.eurPerM2).toBe(64.7619);

    const perM2 = section.locator('dd[data-costs-eur-per-m2]');
    expect(Number(await perM2.getAttribute('data-costs-eur-per-m2'))).toBe(report.eurPerM2);
    expect(await perM2.innerText()).toBe(`${await euros(report.eurPerM2!, 2)} par m²`);
    expect(await section.locator('dd[data-costs-total]').innerText()).toBe(await euros(272_000, 0));

    // By service and nature: reception's staff is 180,000 / 272,000 = 66.2 % of the year.
    const staff = section.locator('table[data-costs-by-nature] tr[data-service="accueil"][data-nature="staff"]');
    expect(await staff.innerText()).toContain('Personnel');
    expect(await staff.innerText()).toContain(await euros(180_000, 0));
    expect(await staff.innerText()).toContain('66,2');
    expect(await section.locator('table[data-costs-by-nature] caption').innerText()).toContain(String(year));

    // Reception measured by the demo's visitors: € per visitor received as the hub computes it.
    const accueil = report.services.find((s) => s.service === 'accueil')!;
    expect(accueil.perUnit?.unit).toBe('visiteur reçu');
    expect(accueil.perUnit?.eurPerUnit).toBeGreaterThan(0);
    const row = section.locator('table[data-costs-by-service] tr[data-service="accueil"]');
    expect(Number(await row.getAttribute('data-eur-per-unit'))).toBe(accueil.perUnit!.eurPerUnit);
    expect(await row.innerText()).toContain(`${await euros(accueil.perUnit!.eurPerUnit!, 2)} par visiteur reçu`);
  });

  it('shows an earlier year chosen in the URL, and says when a year has no spending', async () => {
    await page.goto(`${city.url}${PAGE}`);
    await viewReady(page, 'building');
    const last = Number(await page.locator('#costs-year').inputValue());
    await page.selectOption('#costs-year', String(last - 1));
    await page.waitForURL((url) => url.searchParams.get('costYear') === String(last - 1));
    await viewReady(page, 'building');
    const total = page.locator('section[data-costs] dd[data-costs-total]');
    await page.waitForSelector('section[data-costs] dd[data-costs-total="263840"]');
    expect((await costsOf(last - 1)).eurPerM2).toBe(62.819);
    expect(await total.innerText()).toBe(await euros(263_840, 0));
    expect(Number(await page.locator('dd[data-costs-eur-per-m2]').getAttribute('data-costs-eur-per-m2'))).toBe(62.819);

    // A link to the year before those two opens on it: no spending, said in words, no error.
    await page.goto(`${city.url}${PAGE}?costYear=${last - 2}`);
    await viewReady(page, 'building');
    expect(await page.locator('#costs-year').inputValue()).toBe(String(last - 2));
    expect(await page.locator('section[data-costs] [data-costs-none]').innerText()).toBe(`Aucune dépense enregistrée pour ${last - 2}.`);
    expect(await page.locator('section[data-costs] [role="alert"]').count()).toBe(0);
  });

  it('shows a citizen the building’s page without any costs section', async () => {
    const citizen = await browser.newContext();
    const visit = await citizen.newPage();
    await visit.goto(`${city.url}${PAGE}`);
    await viewReady(visit, 'building');
    expect(await visit.locator('main h1').innerText()).toBe('Hôtel de ville');
    expect(await visit.locator('section[data-costs]').count()).toBe(0);
    expect(await visit.locator('main').innerText()).not.toContain('Coûts');
    // What the hub would answer the citizen's browser, had the page asked.
    expect(await visit.evaluate(async () => (await fetch('/api/costs?year=2025&scope=building:town-hall')).status)).toBe(401);
    await citizen.close();
  });

  it('has no serious or critical accessibility violation with its costs, in French and in English', async () => {
    for (const lang of ['fr', 'en']) {
      await page.goto(`${city.url}${PAGE}?lang=${lang}`);
      await viewReady(page, 'building');
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      expect(await page.locator('section[data-costs] h2').innerText()).toBe(lang === 'fr' ? 'Coûts' : 'Costs');
      if (lang === 'en') {
        const perM2 = page.locator('dd[data-costs-eur-per-m2]');
        expect(await perM2.innerText()).toBe(`${await euros(64.7619, 2, 'en-GB')} per m²`);
      }
      const violations = await seriousAxeViolations(page);
      expect(violations, `${PAGE} in ${lang}: ${JSON.stringify(violations)}`).toEqual([]);
    }
  });
});
