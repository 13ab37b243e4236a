/**
 * An agent in real Chromium against a real hub with the demo city: a CSV file of waiting times
 * with two bad rows imported on the service-data page. The bad rows are listed by row and
 * column, the good ones are stored, and the waiting-time objective's status on the page turns
 * red once the hub has computed it again (the file's waiting times are six times the target).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { createToken } from '../auth/tokens.js';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

/** The local days of this month up to today, YYYY-MM-DD, in the city's time zone. */
function daysOfThisMonth(timezone: string): string[] {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  const days: string[] = [];
  for (let d = 1; d <= Number(parts.day); d++) days.push(`${parts.year}-${parts.month}-${String(d).padStart(2, '0')}`);
  return days;
}

describe.skipIf(unavailable)('service data, for an agent', () => {
  let city: DemoCity;
  let browser: Browser;
  let context: BrowserContext;
  let operatorToken: string;
  beforeAll(async () => {
    [city, browser] = await Promise.all([
      startDemoCity({ adminDatabaseUrl: inject('adminDatabaseUrl'), natsUrl: inject('natsUrl'), label: 'web_agent', shareSeed: inject('testRunId') }),
      launchChromium(),
    ]);
    // Signed in as a person, with the session cookie: the pages' writes carry its CSRF token.
    context = await browser.newContext();
    const page = await context.newPage();
    await signInOnPage(page, city.url, { username: city.account('agent'), password: city.password }, '/donnees-de-service', 'service-data');
    await page.close();
    operatorToken = (await createToken(city.hub.storage.pool, { role: 'operator', label: 'test check' }, 'test')).token;
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await city?.stop();
  });

  it('imports a CSV file: bad rows listed by row and column, good rows stored, the objective turns red on the page', async () => {
    const page = await context.newPage();
    await page.goto(`${city.url}/donnees-de-service`);
    await viewReady(page, 'service-data');
    const row = page.locator('tr[data-objective="reception-waiting-time"]');
    await row.waitFor();
    expect(await row.getAttribute('data-status')).not.toBe('red');

    const days = daysOfThisMonth(city.hub.storage.rollups.timezone);
    const lines = days.map((day) => `${day};building:town-hall;reception.wait_minutes;60`);
    // Rows 3 and 6 of the file (the header is row 1): a period that is no date, a value that is no number.
    lines.splice(1, 0, 'le 3 du mois;building:town-hall;reception.wait_minutes;12');
    lines.splice(4, 0, `${days[0]};building:town-hall;visitors;beaucoup`);
    const csv = ['period;scope;metric;value', ...lines].join('\n') + '\n';

    await page.selectOption('#sd-import-source', 'demo-reception');
    await page.setInputFiles('#sd-file', { name: 'attente-decembre.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
    await page.getByRole('button', { name: 'Importer' }).click();
    const summary = page.locator('[data-import-summary]');
    await summary.waitFor();
    expect(await summary.locator('[data-stored]').getAttribute('data-stored')).toBe(String(days.length));
    const errors = await page.locator('[data-import-errors] tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent ?? '')));
    expect(errors.map(([rowNumber, column]) => [rowNumber, column])).toEqual([
      ['3', 'period'],
      ['6', 'value'],
    ]);
    expect(errors[0]![2]).toMatch(/le 3 du mois/);
    expect(errors[1]![2]).toMatch(/beaucoup/);

    // The good rows are stored, as the API reads them.
    const stored = (await (
      await fetch(`${city.url}/api/service-data?metric=reception.wait_minutes&scope=building:town-hall&from=${days[0]!.slice(0, 7)}`, {
        headers: { authorization: `Bearer ${operatorToken}` },
      })
    ).json()) as { values: { period: string; value: number; file: string | null }[] };
    expect(stored.values.filter((v) => v.file === 'attente-decembre.csv').map((v) => [v.period, v.value])).toEqual(days.map((d) => [d, 60]));

    // The hub computes the objective again: the page shows its new status, in words.
    await page.locator('tr[data-objective="reception-waiting-time"][data-status="red"]').waitFor({ timeout: 60_000 });
    expect(await row.locator('.status').innerText()).toMatch(/✕\s*(Objectif manqué|Hors trajectoire)/);
    expect(await seriousAxeViolations(page)).toEqual([]);
  });

  it('shows a corrected value next to its old one, with who and when', async () => {
    const page = await context.newPage();
    await page.goto(`${city.url}/donnees-de-service`);
    await viewReady(page, 'service-data');
    const day = daysOfThisMonth(city.hub.storage.rollups.timezone)[0]!;
    await page.selectOption('#sd-source', 'demo-reception');
    await page.fill('#sd-metric', 'visitors');
    await page.selectOption('#sd-scope', 'building:town-hall');
    await page.fill('#sd-period', day);
    await page.fill('#sd-value', 'douze');
    await page.getByRole('button', { name: 'Enregistrer la valeur' }).click();
    await expect(page.locator('#sd-value-error').innerText()).resolves.toMatch(/nombre/);
    expect(await page.getAttribute('#sd-value', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#sd-value', 'aria-describedby')).toContain('sd-value-error');

    // A period the hub refuses: its words next to the period field.
    await page.fill('#sd-value', '321');
    await page.fill('#sd-period', '2026-13');
    await page.getByRole('button', { name: 'Enregistrer la valeur' }).click();
    await page.locator('#sd-period-error').waitFor();
    expect(await page.locator('#sd-period-error').innerText()).toMatch(/2026-13/);

    await page.fill('#sd-period', day);
    await page.fill('#sd-value', '123');
    await page.getByRole('button', { name: 'Enregistrer la valeur' }).click();
    await page.locator('table[data-history]').waitFor();
    await page.fill('#sd-value', '321');
    await page.getByRole('button', { name: 'Enregistrer la valeur' }).click();
    await page.getByText('Valeur corrigée : 123 → 321.').waitFor();
    await page.locator('table[data-history] tbody tr', { hasText: '123 → 321' }).waitFor();
    const versions = await page.locator('table[data-history] tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent ?? '')));
    expect(versions.length).toBeGreaterThanOrEqual(2);
    expect(versions.at(-1)![3]).toBe('123 → 321');
    expect(versions.at(-1)![4]).toBe('valeur actuelle');
    expect(versions.at(-2)![4]).not.toBe('valeur actuelle');
    expect(await page.locator('#sd-period-error').count()).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.close();
  });
});
