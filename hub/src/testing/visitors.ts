/**
 * Browser contexts that stand for a person of the dashboard: a citizen (nobody signed in), or a
 * person of a given role signed in. Used by the accessibility sweep, the README's screenshots
 * and the dashboard benchmark.
 *
 * A person is signed in the way the dashboard does it: an account made through the accounts API
 * (`PUT /api/accounts/:username`, as an admin holding an API token), then `POST /api/session`
 * in the context, whose cookie then carries the session. A hub without accounts gets an API
 * token of the role sent with every request of the context instead: the API answers as it would
 * for that person, though the page does not know who is signed in.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Browser, BrowserContext, BrowserContextOptions } from 'playwright-core';
import { createToken } from '../auth/tokens.js';

/** A citizen (no session) or a signed-in person's role. */
export type Visitor = 'citizen' | 'admin' | 'operator' | 'technician' | 'director' | 'elected' | 'agent';

export interface VisitorOptions {
  /** The hub's base URL, e.g. http://127.0.0.1:41234. */
  baseUrl: string;
  /** The hub's database, where the API tokens are made. */
  pool: pg.Pool;
  /** The person's name, shown in the header; default: the role and the account's username. */
  name?: string;
  /** A technician's sites. */
  sites?: string[];
  /** The dashboard's language: `fr` or `en` (the `cp_lang` cookie the switch sets). */
  lang?: 'fr' | 'en';
  /** Passed to browser.newContext (viewport …). */
  context?: BrowserContextOptions;
}

/** How a visitor's context was signed in. */
export type SignedIn = 'nobody' | 'session' | 'token';

/**
 * A new browser context for `visitor`.
 * @throws Error when the hub refuses the account or the sign-in (its answer in the message)
 */
export async function visitorContext(browser: Browser, visitor: Visitor, options: VisitorOptions): Promise<{ context: BrowserContext; signedIn: SignedIn }> {
  const { baseUrl, pool } = options;
  let signedIn: SignedIn = 'nobody';
  let headers: Record<string, string> = {};
  let account: { username: string; password: string } | undefined;
  if (visitor !== 'citizen') {
    const sites = visitor === 'technician' ? options.sites : undefined;
    const { token: adminToken } = await createToken(pool, { role: 'admin', label: `dashboard visitor: ${visitor}` }, 'dashboard tools');
    const username = `${visitor}-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(18).toString('base64url');
    const made = await fetch(`${baseUrl}/api/accounts/${username}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: options.name ?? `${visitor[0]!.toUpperCase()}${visitor.slice(1)} (${username})`,
        role: visitor,
        ...(sites ? { sites } : {}),
        password,
      }),
    });
    if (made.ok) {
      account = { username, password };
      signedIn = 'session';
    } else if (made.status === 404) {
      const { token } = await createToken(pool, { role: visitor, label: `dashboard visitor: ${visitor}`, sites }, 'dashboard tools');
      headers = { authorization: `Bearer ${token}` };
      signedIn = 'token';
    } else {
      throw new Error(`the hub refused the account of a ${visitor}: ${made.status} ${await made.text()}`);
    }
  }
  // The browser's own locale follows the language too: it writes the native controls (a month field).
  const locale = options.lang === 'en' ? 'en-GB' : options.lang === 'fr' ? 'fr-FR' : undefined;
  const context = await browser.newContext({ ...(locale && { locale }), ...options.context, extraHTTPHeaders: headers });
  if (options.lang) await context.addCookies([{ name: 'cp_lang', value: options.lang, url: baseUrl }]);
  if (account) {
    const answer = await context.request.post(`${baseUrl}/api/session`, { data: account });
    if (!answer.ok()) {
      await context.close();
      throw new Error(`the hub refused the sign-in of a ${visitor}: ${answer.status()} ${await answer.text()}`);
    }
  }
  return { context, signedIn };
}
