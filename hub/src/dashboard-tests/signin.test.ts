/**
 * People signing in, in real Chromium against a real hub with the demo city and a real OpenID
 * Connect provider run by the test: a wrong password refused in words on the page, a right one
 * back to where the person was going, a director through the provider, a person the provider
 * knows without a role told why, and a technician seeing only its site's gateways.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Role } from '../auth/principal.js';
import { findAccount } from '../auth/accounts.js';
import { freePort } from '../services/local-services.js';
import { chromiumUnavailable, launchChromium, seriousAxeViolations, signInOnPage, viewReady } from '../testing/browser.js';
import { startDemoCity, type DemoCity } from '../testing/demo-city.js';
import { startOidcProvider, TEST_OIDC_FORM, type TestOidcProvider } from '../testing/oidc-provider.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

describe.skipIf(unavailable)('signing in', () => {
  let city: DemoCity;
  let provider: TestOidcProvider;
  let browser: Browser;
  const account = (role: Exclude<Role, 'public'>) => {
    const found = city.accounts.find((a) => a.role === role)!;
    return { username: found.username, name: found.name, password: city.password };
  };

  beforeAll(async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/api/session/oidc/callback`;
    provider = await startOidcProvider({
      redirectUri,
      accounts: [
        { login: 'marie', claims: { email: 'marie.curie@ville.fr', email_verified: true, name: 'Marie Curie', citypilot_role: 'director' } },
        { login: 'nobody', claims: { email: 'nobody@ville.fr', email_verified: true, name: 'Sans Rôle' } },
      ],
    });
    [city, browser] = await Promise.all([
      startDemoCity({
        adminDatabaseUrl: inject('adminDatabaseUrl'),
        natsUrl: inject('natsUrl'),
        label: 'web_signin',
        shareSeed: inject('testRunId'),
        port,
        sessions: {
          oidc: {
            issuer: provider.issuer,
            clientId: provider.clientId,
            clientSecret: provider.clientSecret,
            redirectUri,
            label: 'ProConnect (essai)',
            sitesClaim: 'citypilot_sites',
          },
        },
      }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await city?.stop();
    await provider?.stop();
  });

  it('refuses a wrong password in words on the page, then signs in and goes back where the person was going', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const agent = account('agent');
    // Nobody signed in: the agents' page says so and leads to the sign-in, back to it.
    await page.goto(`${city.url}/donnees-de-service`);
    await viewReady(page, 'service-data');
    expect(await page.locator('main [role="alert"]').innerText()).toMatch(/réservée aux personnes connectées/);
    await page.locator('main').getByRole('link', { name: 'Se connecter' }).click();
    await viewReady(page, 'login');
    expect(new URL(page.url()).searchParams.get('retour')).toBe('/donnees-de-service');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.getByLabel('Identifiant').fill(agent.username);
    await page.getByLabel('Mot de passe').fill('not-the-right-password');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    const error = page.locator('#login-password-error');
    await error.waitFor();
    expect(await error.innerText()).toMatch(/Identifiant ou mot de passe incorrect\./);
    expect(await page.getAttribute('#login-password', 'aria-invalid')).toBe('true');
    expect(await page.evaluate(async () => ((await (await fetch('/api/session')).json()) as { user: unknown }).user)).toBeNull();

    await page.getByLabel('Mot de passe').fill(agent.password);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await viewReady(page, 'service-data');
    expect(new URL(page.url()).pathname).toBe('/donnees-de-service');
    expect(await page.locator('.signed-in').innerText()).toBe(`Connecté : ${agent.name} (agent)`);
    await context.close();
  });

  it('never sends a person to another site after signing in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const director = account('director');
    await page.goto(`${city.url}/connexion?retour=${encodeURIComponent('//evil.example/phish')}`);
    await viewReady(page, 'login');
    await page.getByLabel('Identifiant').fill(director.username);
    await page.getByLabel('Mot de passe').fill(director.password);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await viewReady(page, 'home');
    expect(new URL(page.url()).origin).toBe(city.url);
    expect(new URL(page.url()).pathname).toBe('/');
    await context.close();
  });

  it('signs a director in through the OpenID Connect provider, back to the page asked', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${city.url}/connexion?retour=${encodeURIComponent('/?theme=reception')}`);
    await viewReady(page, 'login');
    await page.getByRole('link', { name: 'ProConnect (essai)' }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.fill(`input[name="${TEST_OIDC_FORM.login}"]`, 'marie');
    await page.fill(`input[name="${TEST_OIDC_FORM.password}"]`, 'secret');
    await page.click(TEST_OIDC_FORM.submit);
    await page.waitForURL((url) => url.origin === city.url && url.pathname === '/');
    await viewReady(page, 'home');
    expect(new URL(page.url()).search).toBe('?theme=reception');
    expect(await page.locator('.signed-in').innerText()).toBe('Connecté : Marie Curie (directeur)');
    await context.close();
  });

  it('tells a person the provider knows but CityPilot gives no role why they are not signed in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${city.url}/connexion`);
    await viewReady(page, 'login');
    await page.getByRole('link', { name: 'ProConnect (essai)' }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.fill(`input[name="${TEST_OIDC_FORM.login}"]`, 'nobody');
    await page.fill(`input[name="${TEST_OIDC_FORM.password}"]`, 'secret');
    await page.click(TEST_OIDC_FORM.submit);
    await page.waitForURL((url) => url.origin === city.url && url.pathname === '/connexion');
    await viewReady(page, 'login');
    expect(await page.locator('[data-error="no-role"]').innerText()).toMatch(/aucun rôle ne vous est attribué/);
    expect(await page.locator('.signed-in').count()).toBe(0);
    await context.close();
  });

  it("shows a technician its own site's gateways only", async () => {
    const all = (await city.hub.storage.gateways()).map((g) => g.id).sort();
    expect(all).toEqual(expect.arrayContaining(['school', 'town-hall']));
    const context = await browser.newContext();
    const page = await context.newPage();
    const technician = account('technician');
    await page.goto(`${city.url}/connexion?retour=/passerelles`);
    await viewReady(page, 'login');
    await page.getByLabel('Identifiant').fill(technician.username);
    await page.getByLabel('Mot de passe').fill(technician.password);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await viewReady(page, 'gateways');
    const shown = await page.locator('tr[data-gateway]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-gateway')));
    // The demo's technician works in the north, where the school is; the town hall is in the centre.
    expect(shown).toEqual(['school']);
    expect(await page.locator('main').innerText()).toContain('Vous voyez les passerelles de vos sites : nord.');
    // Each point's quality in words, next to its icon.
    const quality = page.locator('#gw-school tr[data-point] .status').first();
    expect((await quality.innerText()).trim()).toMatch(/^[✓!✕⌛?]\s*\S+/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await context.close();
  });

  it('lets an admin create a technician, with each refusal next to its field, then disable the account; in both languages without accessibility faults', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInOnPage(page, city.url, account('admin'), '/gestion/comptes', 'accounts');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.fill('#ac-username', 'l.nouvelle');
    await page.fill('#ac-name', 'Lou Nouvelle');
    await page.selectOption('#ac-role', 'technician');
    await page.fill('#ac-password', 'court');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    expect(await page.locator('#ac-password-error').innerText()).toMatch(/au moins 12 caractères/);
    expect(await page.getAttribute('#ac-password', 'aria-invalid')).toBe('true');

    // No site for a technician: the hub refuses, its words next to the sites.
    await page.fill('#ac-password', 'un-mot-de-passe-assez-long');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    await page.locator('#ac-sites-error').waitFor();
    expect(await page.locator('#ac-sites-error').innerText()).toMatch(/technician needs the sites/);
    expect(await findAccount(city.hub.storage.pool, 'l.nouvelle')).toBeUndefined();

    await page.check('#ac-site-nord');
    await page.getByRole('button', { name: 'Créer le compte' }).click();
    const row = page.locator('tr[data-account="l.nouvelle"]');
    await row.waitFor();
    expect(await findAccount(city.hub.storage.pool, 'l.nouvelle')).toMatchObject({
      name: 'Lou Nouvelle',
      role: 'technician',
      sites: ['nord'],
      hasPassword: true,
    });

    await row.getByRole('button', { name: 'Désactiver le compte l.nouvelle' }).click();
    await page.locator('tr[data-account="l.nouvelle"][data-disabled="true"]').waitFor();
    expect((await findAccount(city.hub.storage.pool, 'l.nouvelle'))?.disabledAt).toBeInstanceOf(Date);

    await page.getByRole('button', { name: 'Read in English' }).click();
    await viewReady(page, 'accounts');
    expect(await page.locator('h1').innerText()).toBe('Accounts');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.goto(`${city.url}/gestion/objectifs/nouveau`);
    await viewReady(page, 'objective-edit');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await context.close();
  });
});
