/**
 * Projects in real Chromium against a real hub with the demo city: an operator creates a project
 * on the demo's school through its form (a refusal of the hub shown at its field first), its page
 * shows the adjusted baseline against the measured consumption month by month, the works marked,
 * and the savings; a citizen does not see it while it is unpublished and sees it once published;
 * axe finds no serious or critical violation on the projects' pages in French and in English.
 *
 * The works are dated in the demo's history (daily readings since 2019: hub/src/demo-history.ts),
 * so that the project has a baseline year before them and reporting months after.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const KEY = 'led-ecole-essai';
const TITLE_FR = 'Éclairage LED de l’école (essai)';
const TITLE_EN = 'LED lighting at the school (trial)';

describe.skipIf(unavailable)('projects, from the operator’s form to the citizen’s page', () => {
  let city: DemoCity;
  let browser: Browser;
  let operator: BrowserContext;
  let citizen: BrowserContext;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_projects', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    operator = await browser.newContext();
    const page = await operator.newPage();
    await signInOnPage(page, city.url, { username: city.account('operator'), password: city.password }, '/gestion/projets', 'projects-admin');
    await page.close();
    citizen = await browser.newContext();
  });
  afterAll(async () => {
    await operator?.close();
    await citizen?.close();
    await browser?.close();
    await city?.stop();
  });

  /** What a citizen's browser shows of the project: the list's rows and whether its page opens. */
  async function citizenSees(): Promise<{ listed: boolean; page: string }> {
    const page = await citizen.newPage();
    await page.goto(`${city.url}/projets`);
    await viewReady(page, 'projects');
    const listed = (await page.locator(`tr[data-project="${KEY}"]`).count()) > 0;
    await page.goto(`${city.url}/projets/${KEY}`);
    await page.waitForSelector('main[data-view][aria-busy="false"]', { timeout: 30_000 });
    const view = (await page.getAttribute('main', 'data-view'))!;
    await page.close();
    return { listed, page: view };
  }

  async function expectNoSeriousViolation(page: Page, url: string, view: string): Promise<void> {
    for (const lang of ['fr', 'en']) {
      await page.goto(`${city.url}${url}${url.includes('?') ? '&' : '?'}lang=${lang}`);
      await viewReady(page, view);
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      const violations = await seriousAxeViolations(page);
      expect(violations, `${url} in ${lang}: ${JSON.stringify(violations)}`).toEqual([]);
    }
  }

  it('creates a project on the school through the form, with the hub’s refusal at its field first', async () => {
    const buildings = (await (await fetch(`${city.url}/api/buildings`)).json()) as { id: string; name: string; site: string }[];
    const school = buildings.find((b) => b.id === 'school');
    expect(school).toBeDefined();

    const page = await operator.newPage();
    await page.goto(`${city.url}/gestion/projets/nouveau`);
    await viewReady(page, 'project-edit');
    await page.getByLabel('Clé').fill(KEY);
    await page.getByLabel('Titre en français').fill(TITLE_FR);
    await page.getByLabel('Titre en anglais').fill(TITLE_EN);
    await page.getByLabel('Responsable').fill('Direction des bâtiments');
    await page.getByLabel('Des bâtiments', { exact: true }).check();
    await page.getByLabel(`${school!.name} (site ${school!.site})`, { exact: true }).check();
    // Works that end before they start: the hub's check, shown at the last day's field.
    await page.getByLabel('Premier jour des travaux').fill('2023-04-03');
    await page.getByLabel('Dernier jour des travaux').fill('2023-03-28');
    await page.getByLabel('Investissement (€, avant subventions)').fill('48 000');
    await page.getByRole('button', { name: 'Ajouter une subvention' }).click();
    await page.getByLabel('Nom de la subvention 1').fill('CEE');
    await page.getByLabel('Montant de la subvention 1 (€)').fill('6000');
    await page.getByRole('button', { name: 'Enregistrer' }).click();
    const error = page.locator('#pe-dates-worksEnd-error');
    await error.waitFor();
    expect(await error.innerText()).toContain('before worksStart');
    expect(await page.getAttribute('#pe-dates-worksEnd', 'aria-invalid')).toBe('true');
    expect((await fetch(`${city.url}/api/projects/${KEY}`)).status).toBe(404);

    await page.getByLabel('Dernier jour des travaux').fill('2023-04-28');
    await page.getByRole('button', { name: 'Enregistrer' }).click();
    await page.locator('[data-saved="1"]').waitFor();
    expect(await page.locator('#pe-dates-worksEnd-error').count()).toBe(0);
    // The form now edits the project: its version is listed.
    await page.locator('tr[data-version="1"]').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/gestion/projets/${KEY}`);
    await page.close();
  });

  it('shows the project’s adjusted baseline against the measured consumption, the works marked, and its savings', async () => {
    const page = await operator.newPage();
    await page.goto(`${city.url}/projets/${KEY}`);
    await viewReady(page, 'project', 60_000);
    expect(await page.locator('h1').innerText()).toBe(TITLE_FR);
    // Unpublished, said in words for staff.
    expect(await page.locator('.objective-meta').innerText()).toContain('Non publié');
    // Baseline April 2022 – March 2023, works April 2023, then the reporting months: 13 rows at least before them.
    const rows = page.locator('figure.chart .table-wrap tbody tr');
    // The chart's table comes with the project's series, after the page itself is ready.
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThan(13);
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => (c.textContent ?? '').trim())));
    const phases = cells.map((c) => c[1]);
    expect(phases[0]).toBe('Référence (avant travaux)');
    expect(phases.filter((p) => p === 'Travaux')).toHaveLength(1);
    expect(phases[12]).toBe('Travaux');
    expect(cells[12]![0]).toBe('avril 2023');
    const after = cells.filter((c) => c[1] === 'Après travaux');
    expect(after.length).toBeGreaterThan(0);
    // Each reporting month has its measured kWh and its adjusted baseline, both numbers in kWh.
    for (const c of after) {
      expect(c[2]).toMatch(/^[\d\s\u202f,]+\u202fkWh$/);
      expect(c[3]).toMatch(/^[\d\s\u202f,]+\u202fkWh$/);
    }
    // The chart is drawn by uPlot; the works are hatched on its canvas.
    expect(await page.locator('figure.chart canvas').count()).toBeGreaterThan(0);
    // The savings: the kWh total the hub gives, shown with its unit.
    const saved = Number(await page.locator('section[data-saved-kwh]').getAttribute('data-saved-kwh'));
    expect(Number.isFinite(saved)).toBe(true);
    expect(await page.locator('#project-saved').count()).toBe(1);
    expect(await page.locator('section[data-saved-kwh] .card-value').innerText()).toMatch(/kWh/);
    // The model's quality in words, with its verdict by icon and words.
    const verdict = page.locator('[data-energy="elec"] .status');
    expect(await verdict.innerText()).toMatch(/^[✓✕]\s*(Respecte|Ne respecte pas) les limites d’ASHRAE Guideline 14/);
    // Costs: 48,000 € less the 6,000 € of the CEE.
    expect(await page.locator('[data-net-investment]').getAttribute('data-net-investment')).toBe('42000');
    expect(await page.locator('#project-costs + dl').innerText()).toContain('CEE');
    await page.close();
  });

  it('is hidden from citizens while unpublished, and shown to them once published from the list', async () => {
    expect(await citizenSees()).toEqual({ listed: false, page: 'not-found' });

    const page = await operator.newPage();
    await page.goto(`${city.url}/gestion/projets`);
    await viewReady(page, 'projects-admin');
    const row = page.locator(`tr[data-project="${KEY}"]`);
    expect(await row.getAttribute('data-published')).toBe('false');
    await row.getByRole('button', { name: `Publier ${TITLE_FR}` }).click();
    await page.locator(`tr[data-project="${KEY}"][data-published="true"]`).waitFor();
    await page.close();

    expect(await citizenSees()).toEqual({ listed: true, page: 'project' });
    const reader = await citizen.newPage();
    await reader.goto(`${city.url}/projets/${KEY}?lang=en`);
    await viewReady(reader, 'project', 60_000);
    expect(await reader.locator('h1').innerText()).toBe(TITLE_EN);
    expect(await reader.locator('.objective-meta').innerText()).toContain('Published');
    await reader.close();
  });

  it('shows the demo city’s two projects, each with more than a year after its works, to anyone', async () => {
    type Savings = {
      reportingPeriod: { from: string; to: string };
      energies: { energy: string; method: string; totalKWh: number; uncertainty: { absolute: number } | null; note: string }[];
    };
    const months = (p: { from: string; to: string }) =>
      (Number(p.to.slice(0, 4)) - Number(p.from.slice(0, 4))) * 12 + Number(p.to.slice(5)) - Number(p.from.slice(5)) + 1;
    const listed = (await (await fetch(`${city.url}/api/projects`)).json()) as { key: string; definition: { published: boolean } }[];
    const demo = ['chaufferie-hotel-de-ville', 'relamping-ecole-jules-ferry'];
    expect(listed.filter((p) => demo.includes(p.key)).map((p) => [p.key, p.definition.published])).toEqual(demo.map((k) => [k, true]));
    const get = async (key: string) => (await (await fetch(`${city.url}/api/projects/${key}/savings`)).json()) as Savings;
    // The boiler: heat follows the weather, so its baseline meets the limits and the avoided kWh
    // (the history counts 20 % more before the works) come with their uncertainty.
    const boiler = await get('chaufferie-hotel-de-ville');
    expect(months(boiler.reportingPeriod)).toBeGreaterThanOrEqual(12);
    expect(boiler.energies[0]).toMatchObject({ energy: 'heat', method: 'ipmvp-c' });
    expect(boiler.energies[0]!.totalKWh).toBeGreaterThan(2 * boiler.energies[0]!.uncertainty!.absolute);
    // The relamping: lighting does not follow the weather; whichever method its baseline allows,
    // the page says which, and the 25 % the history counts more before the works is found.
    const relamping = await get('relamping-ecole-jules-ferry');
    expect(months(relamping.reportingPeriod)).toBeGreaterThanOrEqual(12);
    expect(['ipmvp-c', 'same-months-before']).toContain(relamping.energies[0]!.method);
    expect(relamping.energies[0]!.totalKWh).toBeGreaterThan(0);

    const page = await citizen.newPage();
    await page.goto(`${city.url}/projets`);
    await viewReady(page, 'projects');
    for (const key of demo) expect(await page.locator(`tr[data-project="${key}"]`).count()).toBe(1);
    await page.close();
  });

  it('has no serious or critical accessibility violation on the projects’ pages, in French and in English', async () => {
    const page = await citizen.newPage();
    await expectNoSeriousViolation(page, '/projets', 'projects');
    await expectNoSeriousViolation(page, `/projets/${KEY}`, 'project');
    await page.close();
    const staff = await operator.newPage();
    await expectNoSeriousViolation(staff, '/gestion/projets', 'projects-admin');
    await expectNoSeriousViolation(staff, `/gestion/projets/${KEY}`, 'project-edit');
    await staff.close();
  });
});
