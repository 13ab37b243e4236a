/**
 * An operator in real Chromium against a real hub with the demo city: a new objective whose
 * formula calls an unknown function shows the error at its column before anything is saved;
 * once the formula is right, the objective is saved, computed, and its results shown; from the
 * list, it is published and every objective computed again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const KEY = 'attente-accueil-test';

describe.skipIf(unavailable)('objectives, for an operator', () => {
  let city: DemoCity;
  let browser: Browser;
  let context: BrowserContext;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_operator', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    // Signed in as a person, with the session cookie: the pages' writes carry its CSRF token.
    context = await browser.newContext();
    const page = await context.newPage();
    await signInOnPage(page, city.url, { username: city.account('operator'), password: city.password }, '/gestion/objectifs', 'objectives-admin');
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await city?.stop();
  });

  async function newObjective(page: Page): Promise<void> {
    await page.goto(`${city.url}/gestion/objectifs/nouveau`);
    await viewReady(page, 'objective-edit');
    await page.getByLabel('Clé').fill(KEY);
    await page.getByLabel('Thème').selectOption('reception');
    await page.getByLabel('Libellé en français').fill('Attente à l’accueil (essai)');
    await page.getByLabel('Libellé en anglais').fill('Waiting at the counter (trial)');
    await page.getByLabel('Responsable').fill('Direction de la relation aux usagers');
    await page.getByLabel('Méthode, en mots simples').fill('Moyenne des temps d’attente relevés par les guichets.');
    await page.getByLabel('Unité').fill('min');
    await page.getByLabel('Valeur cible').fill('10');
  }

  it('shows an unknown function at its column as the formula is typed, before saving', async () => {
    const page = await context.newPage();
    await newObjective(page);
    await page.getByLabel('Formule').pressSequentially('1 + nosuch(2)', { delay: 20 });
    const echo = page.locator('.formula-echo[data-column]');
    await echo.waitFor();
    expect(await echo.getAttribute('data-column')).toBe('5');
    expect(await echo.innerText()).toBe('1 + nosuch(2)\n    ^');
    const error = page.locator('#oe-formula-error');
    expect(await error.innerText()).toMatch(/^✕?\s*Colonne 5 : unknown function "nosuch"/);
    expect(await page.getAttribute('#oe-formula', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#oe-formula', 'aria-describedby')).toContain('oe-formula-error');
    // Nothing was saved.
    expect(await city.hub.objectives.versions(KEY)).toEqual([]);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });

  it('saves a valid objective, computes it and shows its results; the list publishes it and computes every objective', async () => {
    const page = await context.newPage();
    await newObjective(page);
    // A refusal of the hub lands next to its field: a tolerance out of range.
    await page.getByLabel('Formule').fill('service_avg("reception.wait_minutes")');
    await page.getByLabel('Tolérance').fill('50');
    await page.getByRole('button', { name: 'Enregistrer et recalculer' }).click();
    await page.locator('#oe-tolerance-error').waitFor();
    expect(await city.hub.objectives.versions(KEY)).toEqual([]);

    await page.getByLabel('Tolérance').fill('0,2');
    await page.getByRole('button', { name: 'Enregistrer et recalculer' }).click();
    await page.locator('[data-phase="done"]').waitFor({ timeout: 60_000 });
    await viewReady(page, 'objective-edit');
    const results = page.locator('section[data-results] tbody tr');
    expect(await results.count()).toBeGreaterThan(0);
    expect(await page.locator('section[data-results] tr[data-scope="city"] .status').innerText()).toMatch(/^[✓!✕?]/);
    const [stored] = await city.hub.objectives.versions(KEY);
    expect(stored?.definition).toMatchObject({
      formula: 'service_avg("reception.wait_minutes")',
      tolerance: 0.2,
      target: { kind: 'value', value: 10 },
      published: false,
    });
    expect(await page.locator('#oe-tolerance-error').count()).toBe(0);

    await page.goto(`${city.url}/gestion/objectifs`);
    await viewReady(page, 'objectives-admin');
    const row = page.locator(`tr[data-objective="${KEY}"]`);
    expect(await row.getAttribute('data-published')).toBe('false');
    await row.getByRole('button', { name: 'Publier Attente à l’accueil (essai)' }).click();
    await page.locator(`tr[data-objective="${KEY}"][data-published="true"]`).waitFor();
    expect((await city.hub.objectives.versions(KEY))[0]?.definition.published).toBe(true);

    await page.getByRole('button', { name: 'Recalculer maintenant' }).click();
    await page.locator('[data-evaluation="done"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-evaluation="done"]').innerText()).toMatch(/Recalcul terminé : \d+ objectifs, \d+ résultats/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });
});
