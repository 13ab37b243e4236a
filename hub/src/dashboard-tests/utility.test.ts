/**
 * An operator in real Chromium against a real hub with the demo city, on the utility meters page:
 * adds an Enedis connector (its secret never shows again, in the page or in the API's answers,
 * and an empty secret field keeps it), links a Linky meter's PRM to a building that its BMS
 * measures too, sees the delivery point's days missing and last day once readings are stored,
 * collects now from Enedis Data Connect on loopback (its simulator): one Linky collected up to
 * yesterday, the other refused for want of its holder's consent, which fails the run with its
 * error; the building's page says where each meter's readings come from and which one
 * objectives read; a file of the PRM's load curve is imported,
 * its good rows stored and its bad one listed by row and column.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createToken } from '../auth/tokens.js';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';
import { EnedisSimulator } from '../utility/enedis/index.js';
import { addDays, dayStart, localDay } from '../utility/local-time.js';
import { SecretBox } from '../utility/secrets.js';
import { UtilityStore } from '../utility/store.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const CONNECTOR = 'enedis-ville';
const PRM = '30000000000001';
/** A Linky whose holder has not consented: Enedis refuses its data. */
const PRM_WITHOUT_CONSENT = '30000000000002';
const CLIENT_ID = 'city-client-id';
/** The client secret the operator types: it must never come back. */
const SECRET = `s3cret-${randomBytes(12).toString('hex')}`;

interface ApiConnector {
  key: string;
  name: string;
  hasSecret: boolean;
  running: boolean;
  lastRun: {
    ok: boolean | null;
    readings: number;
    inserted: number;
    corrected: number;
    unchanged: number;
    errorCount: number;
    errors: { deliveryPoint?: string; message: string }[];
    daysMissing: number | null;
  } | null;
}
interface ApiDeliveryPoint {
  utility: string;
  id: string;
  building: string;
  lastDay: string | null;
  daysMissing: number;
  consentUntil: string | null;
}
interface ApiMeter {
  gateway: string;
  point: string;
  energy: string | null;
  role: string | null;
  source: { kind: string; read: boolean };
}

describe.skipIf(unavailable)('utility meters, for an operator', () => {
  let city: DemoCity;
  let browser: Browser;
  let context: BrowserContext;
  /** Enedis Data Connect on loopback, which knows the city's application and its two Linky meters. */
  let enedis: EnedisSimulator;
  let adminToken: string;
  /** A building whose BMS has a main electricity meter, and that meter. */
  let building: { key: string; name: string; bmsMeter: ApiMeter };
  let timezone: string;

  const apiGet = async <T>(path: string): Promise<{ text: string; body: T }> => {
    const response = await fetch(city.url + path, { headers: { authorization: `Bearer ${adminToken}` } });
    const text = await response.text();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
    return { text, body: JSON.parse(text) as T };
  };
  const connectorOf = async () => (await apiGet<{ connectors: ApiConnector[] }>('/api/utility/connectors')).body.connectors.find((c) => c.key === CONNECTOR);
  const pointOf = async () =>
    (await apiGet<{ deliveryPoints: ApiDeliveryPoint[] }>('/api/utility/delivery-points')).body.deliveryPoints.find((p) => p.id === PRM);
  const sealedSecret = async () =>
    (await city.hub.storage.pool.query<{ client_secret: Buffer | null }>('SELECT client_secret FROM utility_connectors WHERE key = $1', [CONNECTOR])).rows[0]
      ?.client_secret;

  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({
        adminDatabaseUrl: inject('adminDatabaseUrl'),
        natsUrl: inject('natsUrl'),
        label: 'web_utility',
        shareSeed: inject('testRunId'),
        // The test decides when a connector collects.
        utility: { secrets: SecretBox.fromBase64(randomBytes(32).toString('base64')), schedule: false },
      }),
      launchChromium(),
    ]);
    timezone = city.hub.storage.rollups.timezone;
    enedis = await EnedisSimulator.start({
      clients: [{ id: CLIENT_ID, secret: SECRET }],
      usagePoints: [{ prm: PRM }, { prm: PRM_WITHOUT_CONSENT, consent: false }],
      timezone,
    });
    adminToken = (await createToken(city.hub.storage.pool, { role: 'admin', label: 'utility meters test' }, 'dashboard tests')).token;
    const buildings = (await apiGet<{ id: string; name: string }[]>('/api/buildings')).body;
    for (const b of buildings) {
      const meters = (await apiGet<{ meters: ApiMeter[] }>(`/api/buildings/${encodeURIComponent(b.id)}`)).body.meters;
      const bmsMeter = meters.find((m) => m.energy === 'elec' && m.role === 'main' && m.source.kind === 'bms');
      if (bmsMeter) {
        building = { key: b.id, name: b.name, bmsMeter };
        break;
      }
    }
    if (!building) throw new Error('the demo city has no building with a main electricity meter on its BMS');
    context = await browser.newContext();
    const page = await context.newPage();
    await signInOnPage(page, city.url, { username: city.account('operator'), password: city.password }, '/gestion/compteurs', 'utility');
    await page.close();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await city?.stop();
    await enedis?.stop();
  });

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${city.url}/gestion/compteurs`);
    await viewReady(page, 'utility');
    return page;
  }

  it('adds a connector whose secret is stored encrypted and never shown again; an empty secret field keeps it', async () => {
    const page = await openPage();
    expect(await page.locator('h1').innerText()).toBe('Compteurs des distributeurs');
    await page.getByLabel('Clé').fill(CONNECTOR);
    await page.getByLabel('Nom', { exact: true }).fill('Enedis, compte de la ville');
    await page.getByLabel('Adresse de l’API').fill(enedis.url);
    await page.getByLabel('Identifiant client (client_id)').fill(CLIENT_ID);
    await page.getByLabel('Heure de la collecte').fill('25');
    await page.getByLabel('Secret client (client_secret)').fill(SECRET);
    await page.getByRole('button', { name: 'Ajouter le connecteur' }).click();
    // A wrong hour is said at its field, and nothing is saved.
    expect(await page.locator('#ut-collect-hour-error').innerText()).toContain('Un nombre entier de 0 à 23.');
    expect(await page.getAttribute('#ut-collect-hour', 'aria-invalid')).toBe('true');
    expect(await connectorOf()).toBeUndefined();

    await page.getByLabel('Heure de la collecte').fill('6');
    await page.getByRole('button', { name: 'Ajouter le connecteur' }).click();
    const row = page.locator(`tr[data-connector="${CONNECTOR}"]`);
    await row.waitFor();
    expect(await row.locator('[data-secret]').innerText()).toBe('secret enregistré');
    expect(await row.getAttribute('data-state')).toBe('never');
    expect(await row.locator('.status').innerText()).toMatch(/^\?\s*Jamais collecté$/);
    expect(await page.inputValue('#ut-client-secret')).toBe('');
    expect(await page.content()).not.toContain(SECRET);
    const { text, body } = await apiGet<{ connectors: ApiConnector[] }>('/api/utility/connectors');
    expect(text).not.toContain(SECRET);
    expect(body.connectors.find((c) => c.key === CONNECTOR)).toMatchObject({ name: 'Enedis, compte de la ville', hasSecret: true });
    const sealed = await sealedSecret();
    expect(sealed?.includes(Buffer.from(SECRET))).toBe(false);

    // Edited without a secret: the stored one stays, as it was sealed.
    await page.getByRole('button', { name: 'Modifier le connecteur Enedis, compte de la ville' }).click();
    expect(await page.locator('#ut-connector-form').innerText()).toBe('Modifier le connecteur Enedis, compte de la ville');
    expect(await page.inputValue('#ut-client-secret')).toBe('');
    expect(await page.locator('#ut-client-secret-hint').innerText()).toMatch(/^Un secret est enregistré/);
    await page.getByLabel('Nom', { exact: true }).fill('Enedis (ville)');
    await page.getByRole('button', { name: 'Enregistrer le connecteur' }).click();
    await page.locator(`tr[data-connector="${CONNECTOR}"] th:has-text("Enedis (ville)")`).waitFor();
    expect(await connectorOf()).toMatchObject({ name: 'Enedis (ville)', hasSecret: true });
    expect((await sealedSecret())?.equals(sealed!)).toBe(true);
    expect(await page.content()).not.toContain(SECRET);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });

  it('links a PRM to a building, shows its days missing and last day; collects now and shows the run, a refused meter failing it', async () => {
    const page = await openPage();
    const today = localDay(Date.now(), timezone);
    const since = addDays(today, -10);
    await page.getByLabel('Bâtiment', { exact: true }).selectOption(building.key);
    await page.getByLabel('Connecteur', { exact: true }).selectOption(CONNECTOR);
    await page.getByLabel('Premier jour à relever').fill(since);
    // A PRM is 14 digits: said at its field, nothing saved.
    await page.getByLabel('PRM', { exact: true }).fill('1234');
    await page.getByRole('button', { name: 'Rattacher au bâtiment' }).click();
    expect(await page.locator('#ut-point-id-error').innerText()).toContain('Un PRM est fait de 14 chiffres.');
    expect(await pointOf()).toBeUndefined();

    await page.getByLabel('PRM', { exact: true }).fill(PRM);
    await page.getByRole('button', { name: 'Rattacher au bâtiment' }).click();
    const row = page.locator(`tr[data-delivery-point="enedis/${PRM}"]`);
    await row.waitFor();
    const linked = await pointOf();
    expect(linked).toMatchObject({ building: building.key, lastDay: null });
    expect(linked!.daysMissing).toBeGreaterThan(0);
    expect(await row.locator('th').innerText()).toBe(`Enedis, PRM ${PRM}`);
    expect(await row.locator('td[data-building]').innerText()).toBe(building.name);
    expect(await row.locator('td[data-days-missing]').getAttribute('data-days-missing')).toBe(String(linked!.daysMissing));
    expect(await page.locator('[role="status"] .notice-ok').first().innerText()).toContain(`Point de livraison ${PRM} rattaché au bâtiment ${building.name}.`);

    // Four days of readings, as a collection or an import would store them.
    const run = await city.hub.utility.beginRun({ connector: null, via: 'csv', submittedBy: 'utility meters test' });
    const days = [0, 1, 2, 3].map((i) => addDays(since, i));
    const readings = days.map((d, i) => ({ start: dayStart(d, timezone), end: dayStart(addDays(d, 1), timezone), kWh: 120 + i, quality: 'good' as const }));
    await new UtilityStore(city.hub.storage).writeConsumption({ utility: 'enedis', id: PRM, energy: 'elec', building: building.key }, readings, run);
    await page.reload();
    await viewReady(page, 'utility');
    const stored = await pointOf();
    expect(stored).toMatchObject({ lastDay: days[3] });
    expect(stored!.daysMissing).toBe(linked!.daysMissing - 4);
    expect(await row.locator('td[data-last-day]').getAttribute('data-last-day')).toBe(days[3]);
    expect(await row.locator('td[data-last-day]').innerText()).not.toBe('—');
    expect(await row.locator('td[data-days-missing]').innerText()).toBe(String(stored!.daysMissing));
    expect(await page.locator(`tr[data-connector="${CONNECTOR}"] td[data-days-missing]`).getAttribute('data-days-missing')).toBe(String(stored!.daysMissing));

    // A second Linky of the building, whose holder has not consented.
    const put = await fetch(`${city.url}/api/utility/delivery-points/enedis/${PRM_WITHOUT_CONSENT}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ energy: 'elec', building: building.key, connector: CONNECTOR, since }),
    });
    expect(put.status, await put.text()).toBe(200);

    // Collect now: followed while it runs, then its report; the refused meter fails the run, the other is collected.
    await page.getByRole('button', { name: 'Collecter maintenant : Enedis (ville)' }).click();
    const report = page.locator(`[data-collect="${CONNECTOR}"][data-phase="done"]`);
    await report.waitFor({ timeout: 60_000 });
    const after = await connectorOf();
    expect(after).toMatchObject({ running: false, lastRun: { ok: false, errorCount: 1, errors: [{ deliveryPoint: PRM_WITHOUT_CONSENT }] } });
    const lastRun = after!.lastRun!;
    expect(lastRun.inserted).toBeGreaterThan(0);
    const error = lastRun.errors[0]!.message;
    expect(await report.getAttribute('data-ok')).toBe('false');
    expect(await report.locator('[data-run-counts]').innerText()).toBe(
      `${lastRun.readings} relevés reçus : ${lastRun.inserted} nouveaux, ${lastRun.corrected} corrigés, ${lastRun.unchanged} inchangés. Erreurs : 1. Jours encore manquants : ${lastRun.daysMissing}.`,
    );
    expect(await report.locator('[data-run-errors] li').innerText()).toBe(`${PRM_WITHOUT_CONSENT} : ${error}`);
    const connectorRow = page.locator(`tr[data-connector="${CONNECTOR}"][data-state="failed"]`);
    await connectorRow.waitFor();
    expect(await connectorRow.locator('.status').innerText()).toMatch(/^✕\s*En échec$/);
    expect(await connectorRow.locator('[data-error]').innerText()).toBe(`${PRM_WITHOUT_CONSENT} : ${error}`);
    // The consented meter is whole up to yesterday; the other says why it is not.
    const collected = await pointOf();
    expect(collected).toMatchObject({ lastDay: addDays(today, -1), daysMissing: 0 });
    await page.locator(`tr[data-delivery-point="enedis/${PRM}"] td[data-days-missing="0"]`).waitFor();
    expect(await row.locator('td[data-last-day]').getAttribute('data-last-day')).toBe(addDays(today, -1));
    const refusedRow = page.locator(`tr[data-delivery-point="enedis/${PRM_WITHOUT_CONSENT}"]`);
    await refusedRow.waitFor();
    expect(await refusedRow.innerText()).toContain(error);
    expect(await page.locator('table[data-runs] tbody tr').first().getAttribute('data-result')).toBe('failed');
    expect(await seriousAxeViolations(page)).toEqual([]);

    // The same state in English.
    await page.goto(`${city.url}/gestion/compteurs?lang=en`);
    await viewReady(page, 'utility');
    expect(await page.locator(`tr[data-connector="${CONNECTOR}"] .status`).innerText()).toMatch(/^✕\s*Failed$/);
    expect(await page.locator(`tr[data-delivery-point="enedis/${PRM}"] th`).innerText()).toBe(`Enedis, PRM ${PRM}`);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });

  it("asks a holder's consent on Enedis's page, and says it is recorded when Enedis sends them back", async () => {
    const page = await openPage();
    await page.getByRole('button', { name: `Demander au titulaire du point ${PRM_WITHOUT_CONSENT} son consentement sur la page d’Enedis` }).click();
    const link = page.locator('[data-consent-link] a');
    await link.waitFor();
    const href = (await link.getAttribute('href'))!;
    expect(href.startsWith(`${enedis.url}/dataconnect/v1/oauth2/authorize?`)).toBe(true);
    // The holder consents on (simulated) Enedis, which names the PRM they chose and sends them back
    // through the hub, which records the consent and shows the page again.
    await page.goto(`${href}&usage_point_id=${PRM_WITHOUT_CONSENT}`);
    await viewReady(page, 'utility');
    expect(new URL(page.url()).pathname).toBe('/gestion/compteurs');
    const until = addDays(localDay(Date.now(), timezone), 365);
    expect(await page.locator('[role="status"] .notice-ok').first().innerText()).toContain(`Consentement enregistré pour le point ${PRM_WITHOUT_CONSENT}`);
    const point = (await apiGet<{ deliveryPoints: ApiDeliveryPoint[] }>('/api/utility/delivery-points')).body.deliveryPoints.find(
      (p) => p.id === PRM_WITHOUT_CONSENT,
    );
    expect(point).toMatchObject({ consentUntil: until });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });

  it("says on the building's page where each meter's readings come from, and which one objectives read", async () => {
    const page = await context.newPage();
    await page.goto(`${city.url}/batiments/${encodeURIComponent(building.key)}`);
    await viewReady(page, 'building');
    const { body } = await apiGet<{ meters: ApiMeter[] }>(`/api/buildings/${encodeURIComponent(building.key)}`);
    const linky = body.meters.find((m) => m.gateway === `utility:enedis:${PRM}`);
    expect(linky).toMatchObject({ energy: 'elec', source: { kind: 'utility', read: false } });
    const linkyRow = page.locator(`tr[data-meter="utility:enedis:${PRM}/${linky!.point}"]`);
    expect(await linkyRow.getAttribute('data-source')).toBe('utility');
    expect(await linkyRow.innerText()).toContain(`Enedis, compteur Linky PRM ${PRM}`);
    expect(await linkyRow.locator('[data-read]').innerText()).toBe('Contrôle seulement : les objectifs lisent l’autre source de cette énergie.');
    const bmsRow = page.locator(`tr[data-meter="${building.bmsMeter.gateway}/${building.bmsMeter.point}"]`);
    expect(await bmsRow.innerText()).toContain(`Passerelle ${building.bmsMeter.gateway} (GTB)`);
    expect(await bmsRow.locator('[data-read]').innerText()).toBe('Lu par les objectifs.');
    expect(await page.locator('[data-measured-twice]').innerText()).toContain('(Électricité)');

    await page.goto(`${city.url}/batiments/${encodeURIComponent(building.key)}?lang=en`);
    await viewReady(page, 'building');
    expect(await linkyRow.innerText()).toContain(`Enedis, Linky meter PRM ${PRM}`);
    expect(await bmsRow.innerText()).toContain(`Gateway ${building.bmsMeter.gateway} (BMS)`);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });

  it('imports a file: its upload, its summary, the rows refused by row and column, and the run among the latest', async () => {
    const page = await openPage();
    // Enedis's customer-space download: a load curve of the PRM, whose second step is no number.
    const csv = [
      'Identifiant PRM;Type de donnees;Date de debut;Date de fin;Grandeur physique;Grandeur metier;Etape metier;Unite;Pas en minutes',
      `${PRM};Courbe de charge;02/03/2026;03/03/2026;Energie active;Consommation;Comptage Brut;W;30`,
      '',
      'Horodate;Valeur',
      '2026-03-02T00:30:00+01:00;1200',
      '2026-03-02T01:00:00+01:00;12,5x',
      '2026-03-02T01:30:00+01:00;1300',
    ].join('\n');
    await page.getByLabel('Enedis : consommation quotidienne ou courbe de charge').check();
    await page.getByLabel('Fichier CSV').setInputFiles({ name: 'mesures-prm.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Importer' }).click();
    const summary = page.locator('[data-import-summary]');
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.getAttribute('data-inserted')).toBe('2');
    const refused = page.locator('table[data-import-errors] tbody tr');
    expect(await refused.count()).toBe(1);
    expect(await refused.first().getAttribute('data-row')).toBe('6');
    expect(await refused.first().locator('td').first().innerText()).toBe('Valeur');
    const runs = (await apiGet<{ runs: { fileName: string | null; inserted: number; errorCount: number }[] }>('/api/utility/imports')).body.runs;
    expect(runs[0]).toMatchObject({ fileName: 'mesures-prm.csv', inserted: 2, errorCount: 1 });
    // The page reads its runs again once the summary is shown: until that answer comes, its first row
    // is the previous newest run (a collection of an earlier test).
    await page.locator('table[data-runs] tbody tr').first().filter({ hasText: 'mesures-prm.csv' }).waitFor({ timeout: 30_000 });
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });
});
