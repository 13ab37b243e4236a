/**
 * The open data in real Chromium against a real hub with the demo city: a citizen goes from the
 * home to the open data page by the navigation, opens the buildings' monthly energy, reads its
 * first rows as GET …/rows gives them, pages on with the keyboard (and back with the browser),
 * and downloads its CSV, whose header is the schema's columns and whose rows are all the API's;
 * the same in English, with `curl` examples that work at the page's address; an operator
 * withdraws the dataset, which the citizen's pages then no longer show, and publishes it again;
 * the operator's forms show the hub's refusals at their fields and withdraw and publish a point.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { refreshDerived } from '../open-data/index.js';
import { chromiumUnavailable, launchChromium, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const ID = 'building-energy-monthly';
const TITLE_FR = 'Consommation d’énergie des bâtiments publics par mois';
const TITLE_EN = 'Energy consumption of public buildings per month';

interface Dataset {
  id: string;
  coverage: { from: string; to: string } | null;
  fields: { name: string; unit?: string }[];
}
interface Rows {
  rows: Record<string, unknown>[];
  next: string | null;
}

describe.skipIf(unavailable)('open data, from the home to a downloaded CSV, and its publication by an operator', () => {
  let city: DemoCity;
  let browser: Browser;
  let citizen: BrowserContext;
  let operator: BrowserContext;
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(city.url + path);
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_open_data', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    // The monthly energy follows the hub's first evaluation, which runs in the background: computed
    // here too, so that the rows are there whenever the pages are opened.
    await refreshDerived({ pool: city.hub.storage.pool, timezone: city.hub.storage.rollups.timezone });
    citizen = await browser.newContext({ acceptDownloads: true });
    operator = await browser.newContext();
    const page = await operator.newPage();
    await signInOnPage(page, city.url, { username: city.account('operator'), password: city.password }, '/gestion/donnees-ouvertes', 'open-data-admin');
    await page.close();
  });
  afterAll(async () => {
    await citizen?.close();
    await operator?.close();
    await browser?.close();
    await city?.stop();
  });

  /** The texts of the preview's first row, by column. */
  async function firstRow(page: Page): Promise<Record<string, string>> {
    const cells = page.locator('.preview-table tbody tr').first().locator('td');
    const pairs = await cells.evaluateAll((tds) => tds.map((td) => [td.getAttribute('data-column') ?? '', (td.textContent ?? '').trim()]));
    return Object.fromEntries(pairs);
  }

  /** Every row of the dataset, page after page as the API gives them. */
  async function allRows(): Promise<number> {
    let count = 0;
    let next: string | null = `/api/open-data/datasets/${ID}/rows?limit=1000`;
    while (next) {
      const page: Rows = await get<Rows>(next);
      count += page.rows.length;
      next = page.next;
    }
    return count;
  }

  it('takes a citizen from the home to the dataset, its rows as the API gives them, the next ones, and its CSV', async () => {
    const dataset = await get<Dataset>(`/api/open-data/datasets/${ID}`);
    const first = await get<Rows>(`/api/open-data/datasets/${ID}/rows?limit=20`);
    expect(first.rows).toHaveLength(20);
    expect(first.next).not.toBeNull();
    const second = await get<Rows>(first.next!);
    const french = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 10 });
    const months = new Intl.DateTimeFormat('fr-FR', { timeZone: 'UTC', month: 'long', year: 'numeric' });
    const monthOf = (text: unknown) => months.format(new Date(`${String(text)}-01T00:00:00Z`));

    const page = await citizen.newPage();
    await page.goto(`${city.url}/`);
    await viewReady(page, 'home');
    // The home says where the open data is, and the navigation leads there.
    expect(await page.locator('main a[href="/donnees"]').count()).toBe(1);
    await page.getByRole('navigation', { name: 'Navigation principale' }).getByRole('link', { name: 'Données ouvertes', exact: true }).click();
    await viewReady(page, 'open-data');
    expect(new URL(page.url()).pathname).toBe('/donnees');
    expect(await page.locator('main h1').innerText()).toBe('Données ouvertes');
    const card = page.locator(`[data-dataset="${ID}"]`);
    expect(await card.locator('h3').innerText()).toBe(TITLE_FR);
    expect(await card.locator('[data-licence]').getAttribute('href')).toBe('https://www.etalab.gouv.fr/licence-ouverte-open-licence/');
    expect(await card.innerText()).toContain('Chaque mois');
    expect(await page.locator('a[data-catalog="jsonld"]').getAttribute('href')).toBe(`${city.url}/api/open-data/catalog.jsonld`);

    await card.getByRole('link', { name: TITLE_FR, exact: true }).click();
    await viewReady(page, 'open-dataset');
    expect(new URL(page.url()).pathname).toBe(`/donnees/${ID}`);
    expect(await page.locator('h1').innerText()).toBe(TITLE_FR);
    expect(await page.locator('.preview-table caption').innerText()).toContain('lignes 1 à 20');
    expect(await page.locator('.preview-table tbody tr').count()).toBe(20);
    expect(await page.locator('.preview-table th[data-column="kwh"]').innerText()).toMatch(/^Consommation \(kWh\)/);
    let row = await firstRow(page);
    expect(row.building_name).toBe(first.rows[0]!.building_name);
    expect(row.kwh).toBe(french.format(first.rows[0]!.kwh as number));
    expect(row.month).toBe(monthOf(first.rows[0]!.month));
    // The columns: one row each, the unit and the type in words.
    expect(await page.locator('.schema-table tbody tr').count()).toBe(dataset.fields.length);
    expect(await page.locator('.schema-table tr[data-field="kwh"] td').first().innerText()).toBe('nombre');
    expect(await page.locator('.schema-table tr[data-field="kwh"] td').nth(1).innerText()).toBe('kWh');

    // The next rows, with the keyboard; the cursor is in the address, and the back button returns.
    await page.getByRole('button', { name: 'Lignes suivantes' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('section.preview[data-first-row="21"]').waitFor();
    await viewReady(page, 'open-dataset');
    expect(await page.locator('.preview-table caption').innerText()).toContain('lignes 21 à 40');
    row = await firstRow(page);
    expect(row.kwh).toBe(french.format(second.rows[0]!.kwh as number));
    expect(row.month).toBe(monthOf(second.rows[0]!.month));
    expect(await page.locator('.preview p[role="status"]').innerText()).toBe('Lignes 21 à 40 affichées.');
    expect(new URL(page.url()).searchParams.get('after')).toBe(new URL(first.next!, city.url).searchParams.get('after'));
    await page.goBack();
    await page.locator('section.preview[data-first-row="1"]').waitFor();
    expect((await firstRow(page)).kwh).toBe(french.format(first.rows[0]!.kwh as number));

    // The CSV, downloaded as a file: the schema's columns, and every row the API pages through.
    const link = page.locator('a[data-download="csv"]');
    expect(await link.getAttribute('download')).toBe(`${ID}.csv`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe(`${ID}.csv`);
    const records = parse(await readFile((await download.path())!, 'utf8')) as string[][];
    expect(records[0]).toEqual(dataset.fields.map((f) => f.name));
    expect(records.length - 1).toBe(await allRows());
    await page.close();
  });

  it('reads the same in English, with curl examples that work at the page’s address', async () => {
    const dataset = await get<Dataset>(`/api/open-data/datasets/${ID}`);
    const first = await get<Rows>(`/api/open-data/datasets/${ID}/rows?limit=20`);
    const page = await citizen.newPage();
    await page.goto(`${city.url}/donnees?lang=en`);
    await viewReady(page, 'open-data');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.locator('main h1').innerText()).toBe('Open data');
    await page.locator(`[data-dataset="${ID}"]`).getByRole('link', { name: TITLE_EN, exact: true }).click();
    await viewReady(page, 'open-dataset');
    expect(await page.locator('h1').innerText()).toBe(TITLE_EN);
    expect(await page.locator('.preview-table caption').innerText()).toContain('rows 1 to 20');
    const row = await firstRow(page);
    expect(row.kwh).toBe(new Intl.NumberFormat('en-GB', { maximumFractionDigits: 10 }).format(first.rows[0]!.kwh as number));
    expect(row.complete).toBe(first.rows[0]!.complete ? 'yes' : 'no');
    expect(await page.locator('.schema-table tr[data-field="month"] td').first().innerText()).toBe('month (YYYY-MM)');
    expect(await page.locator('a[data-download="schema"]').getAttribute('href')).toBe(`${city.url}/api/open-data/datasets/${ID}/schema.json?lang=en`);

    // The examples name the page's own address, filter on the months of the coverage's last year, newest first.
    const year = dataset.coverage!.to.slice(0, 4);
    const api = `${city.url}/api/open-data/datasets/${ID}`;
    const pageCommand = await page.locator('[data-example="page"] pre').innerText();
    expect(pageCommand).toBe(`curl '${api}/rows?limit=100&sort=-month&month.gte=${year}-01'`);
    const csvCommand = await page.locator('[data-example="csv"] pre').innerText();
    expect(csvCommand).toBe(`curl -o ${ID}.csv '${api}/data.csv?month.gte=${year}-01'`);
    const filtered = (await (await fetch(/'([^']+)'/.exec(pageCommand)![1]!)).json()) as Rows;
    expect(filtered.rows.length).toBeGreaterThan(0);
    const seen = filtered.rows.map((r) => String(r.month));
    expect(seen.every((m) => m >= `${year}-01`)).toBe(true);
    expect([...seen].sort().reverse()).toEqual(seen);
    const csv = await fetch(/'([^']+)'/.exec(csvCommand)![1]!);
    expect(csv.status).toBe(200);
    const records = parse(await csv.text()) as string[][];
    expect(records.length).toBeGreaterThan(1);
    const month = records[0]!.indexOf('month');
    expect(month).toBeGreaterThanOrEqual(0);
    expect(records.slice(1).every((r) => r[month]! >= `${year}-01`)).toBe(true);
    await page.close();
  });

  /** What the citizen's browser shows: whether the list has the dataset, and the view its page opens. */
  async function citizenSees(): Promise<{ listed: boolean; others: number; page: string }> {
    const page = await citizen.newPage();
    await page.goto(`${city.url}/donnees`);
    await viewReady(page, 'open-data');
    const listed = (await page.locator(`[data-dataset="${ID}"]`).count()) > 0;
    const others = await page.locator(`[data-dataset]:not([data-dataset="${ID}"])`).count();
    await page.goto(`${city.url}/donnees/${ID}`);
    await page.waitForSelector('main[data-view][aria-busy="false"]', { timeout: 30_000 });
    const view = (await page.getAttribute('main', 'data-view'))!;
    await page.close();
    return { listed, others, page: view };
  }

  /** Switches the dataset on the operator's page and waits for the row to say the hub holds it. */
  async function publish(page: Page, on: boolean): Promise<void> {
    const row = page.locator(`tr[data-dataset="${ID}"]`);
    await row.getByLabel(`Publié — ${TITLE_FR}`, { exact: true }).setChecked(on);
    expect(await row.innerText()).toContain('Modifié, pas encore enregistré');
    await row.getByRole('button', { name: `Enregistrer « ${TITLE_FR} »` }).click();
    await page.locator(`tr[data-dataset="${ID}"][data-enabled="${on}"]`).waitFor();
    expect(await page.locator('#oda-datasets ~ [role="status"]').innerText()).toContain(on ? `« ${TITLE_FR} » est publié` : `« ${TITLE_FR} » est retiré`);
  }

  it('withdraws the dataset from an operator’s page: the citizen’s list no longer has it and its page is not found, until it is published again', async () => {
    expect(await citizenSees()).toEqual({ listed: true, others: 5, page: 'open-dataset' });
    const page = await operator.newPage();
    await page.goto(`${city.url}/gestion/donnees-ouvertes`);
    await viewReady(page, 'open-data-admin');
    await publish(page, false);
    expect((await fetch(`${city.url}/api/open-data/datasets/${ID}`)).status).toBe(404);
    expect(await citizenSees()).toEqual({ listed: false, others: 5, page: 'not-found' });

    await publish(page, true);
    await page.close();
    expect(await citizenSees()).toEqual({ listed: true, others: 5, page: 'open-dataset' });
  });

  it('shows the hub’s refusals at the operator’s fields, and withdraws and publishes a point', async () => {
    const page = await operator.newPage();
    await page.goto(`${city.url}/gestion/donnees-ouvertes`);
    await viewReady(page, 'open-data-admin');
    const published = async () =>
      ((await (await operator.request.get(`${city.url}/api/open-data/points`)).json()) as { gateway: string; point: string }[]).map(
        (p) => `${p.gateway}/${p.point}`,
      );
    expect(await published()).toContain('school/meters.gas-volume');

    // A commune's code of one digit: the hub's words at the field, and nothing saved.
    await page.getByLabel('Code INSEE de la commune (facultatif)').fill('1');
    await page.getByRole('button', { name: 'Enregistrer l’organisme' }).click();
    await page.locator('#oda-insee-error').waitFor();
    expect(await page.locator('#oda-insee-error').innerText()).toContain('INSEE');
    expect(await page.getAttribute('#oda-insee', 'aria-invalid')).toBe('true');
    await page.getByLabel('Code INSEE de la commune (facultatif)').fill('92040');
    await page.getByRole('button', { name: 'Enregistrer l’organisme' }).click();
    await page.getByText('L’organisme est enregistré.').waitFor();
    expect(await page.locator('#oda-insee-error').count()).toBe(0);
    expect(await (await fetch(`${city.url}/api/open-data/catalog.ttl`)).text()).toContain('"92040"');

    // The school's gas meter withdrawn by its button, then published again by the form; a point no gateway announced is refused at its field.
    const row = page.locator('tr[data-point="school/meters.gas-volume"]');
    await row.getByRole('button', { name: 'Retirer le point meters.gas-volume de la passerelle school' }).click();
    await row.waitFor({ state: 'detached' });
    expect(await page.locator('#oda-points ~ [role="status"]').innerText()).toContain('Le point meters.gas-volume de la passerelle school n’est plus publié.');
    expect(await published()).not.toContain('school/meters.gas-volume');
    await page.getByLabel('Passerelle', { exact: true }).fill('school');
    await page.getByLabel('Point', { exact: true }).fill('meters.nothing-here');
    await page.getByRole('button', { name: 'Publier le point' }).click();
    await page.locator('#oda-point-error').waitFor();
    expect(await page.locator('#oda-point-error').innerText()).toContain('meters.nothing-here');
    await page.getByLabel('Point', { exact: true }).fill('meters.gas-volume');
    await page.getByRole('button', { name: 'Publier le point' }).click();
    await page.locator('tr[data-point="school/meters.gas-volume"]').waitFor();
    expect(await page.locator('#oda-points ~ [role="status"]').innerText()).toContain('Le point meters.gas-volume de la passerelle school est publié.');
    expect(await published()).toContain('school/meters.gas-volume');
    await page.close();
  });
});
