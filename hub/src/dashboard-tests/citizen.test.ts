/**
 * A citizen (no session) in real Chromium against a real hub with the demo city: the published
 * objectives only, in French by default and in English after the switch.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumUnavailable, launchChromium, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

describe.skipIf(unavailable)('the public home, for a citizen', () => {
  let city: DemoCity;
  let browser: Browser;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_citizen', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await city?.stop();
  });

  it('shows the published objectives only, in French, then in English after the switch', async () => {
    const objectives = (await (await fetch(`${city.url}/api/objectives`)).json()) as { key: string; published: boolean }[];
    const published = objectives.map((o) => o.key);
    const all = (await city.hub.objectives.list({ includeUnpublished: true })).map((o) => ({
      key: o.key,
      published: o.definition.published,
      fr: o.definition.label.fr,
      en: o.definition.label.en,
    }));
    const unpublished = all.filter((o) => !o.published);
    expect(unpublished.length).toBeGreaterThan(0);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${city.url}/`);
    await viewReady(page, 'home');
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    await expect(page.locator('h1').textContent()).resolves.toBe('Les objectifs de la ville');
    const cards = await page.locator('[data-objective]').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-objective')));
    expect(cards.sort()).toEqual([...published].sort());
    const text = await page.locator('main').innerText();
    for (const o of all.filter((o) => o.published)) expect(text).toContain(o.fr);
    for (const o of unpublished) {
      expect(cards).not.toContain(o.key);
      expect(text).not.toContain(o.fr);
    }
    // A status is told in words and by an icon, not by colour alone.
    const badge = page.locator('[data-objective] .status').first();
    expect((await badge.innerText()).trim()).toMatch(/[✓!✕?]\s*\S+/);

    await page.getByRole('button', { name: 'Read in English' }).click();
    await viewReady(page, 'home');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    await expect(page.locator('h1').textContent()).resolves.toBe('The city’s objectives');
    const english = await page.locator('main').innerText();
    for (const o of all.filter((o) => o.published)) expect(english).toContain(o.en);
    for (const o of unpublished) expect(english).not.toContain(o.en);
    // The choice is kept: a new page of the same browser opens in English.
    const again = await context.newPage();
    await again.goto(`${city.url}/`);
    await viewReady(again, 'home');
    expect(await again.getAttribute('html', 'lang')).toBe('en');
    await context.close();
  });
});
