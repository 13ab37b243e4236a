/**
 * Real Chromium for the dashboard's tests, screenshots and benchmark: Debian's `chromium`
 * (installed by scripts/bootstrap.mjs when it runs as root), driven by playwright-core.
 * Playwright's own browser download cannot work where CityPilot is built, so the executable is
 * given (CHROMIUM_PATH, default /usr/bin/chromium).
 */
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Flags for a quiet, headless, isolated browser (Playwright adds its own fresh --user-data-dir). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why Chromium cannot run here, or undefined when it can. */
export function chromiumUnavailable(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return undefined;
  } catch {
    return `no Chromium at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium; npm test does it when run as root) or set CHROMIUM_PATH`;
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
}

/** Waits until the page's view is drawn: <main data-view=name aria-busy=false> (ui/view.tsx). */
export async function viewReady(page: Page, name?: string, timeout = 30_000): Promise<void> {
  const selector = name ? `main[data-view="${name}"][aria-busy="false"]` : 'main[data-view][aria-busy="false"]';
  await page.waitForSelector(selector, { timeout });
}

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/**
 * The serious and critical accessibility violations axe-core finds on the page as it is, against
 * WCAG 2.1 A and AA (the rules RGAA 4 maps to).
 */
export async function seriousAxeViolations(page: Page): Promise<AxeFinding[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact!, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

/**
 * Signs `account` in on the dashboard's sign-in page at `baseUrl`, and waits for the page
 * `retour` leads to (its view `view`), as a person does: the session cookie then serves the
 * page's reads and writes (with its CSRF token).
 */
export async function signInOnPage(page: Page, baseUrl: string, account: { username: string; password: string }, retour: string, view: string): Promise<void> {
  await page.goto(`${baseUrl}/connexion?retour=${encodeURIComponent(retour)}`);
  await viewReady(page, 'login');
  await page.fill('#login-username', account.username);
  await page.fill('#login-password', account.password);
  await page.click('form button[type="submit"]');
  await viewReady(page, view);
}
