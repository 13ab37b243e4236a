/**
 * The operators' fleet in real Chromium, against a hub in this process and three real gateways
 * (each with `hub.remoteConfig` and a report every second, polling one Modbus simulator): the hub
 * pushes gateway 2 a configuration its validation accepts but the gateway refuses (it changes
 * `status.port`, a setting fixed until a restart). An operator signs in, sees the three gateways
 * on /gestion/flotte and gateway 2 flagged with a refused configuration in words, opens it, reads
 * the refusal, corrects the text, checks it (valid, the result takes the focus), pushes it (the
 * revision is said), and sees the page, refreshing itself, show the gateway running that revision
 * with the refusal gone. Meanwhile a signed plugin package is published and rolled out to gateway
 * 3, which the page shows installed there, with the package and its completed rollout. The
 * fleet's journal shows the push, with the operator's name, and the rollout's steps; more than a
 * page of events later, "Événements plus anciens" brings the push back, by keyboard, and a refresh
 * moves neither the focus nor the rows loaded. Then the same pages in English.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { Gateway, PluginRegistry, gatewayConfigValidator, loadGatewayConfig } from '@citypilot/gateway';
import { HTTP_JSON_PLUGIN_DIR, packPluginPackage } from '@citypilot/gateway/testing';
import { ModbusSimulator } from '@citypilot/protocol-modbus';
import { silentLogger } from '@citypilot/sdk';
import { createToken } from '../auth/tokens.js';
import { Hub } from '../hub.js';
import { setPluginGroup } from '../plugins/index.js';
import { chromiumUnavailable, launchChromium, signInOnPage, viewReady } from '../testing/browser.js';
import { configBucketStream, objectStoreStream } from '@citypilot/wire';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, deleteStreams, natsConnection, uniqueStreamNames, uniqueSuffix, waitFor } from '../testing/index.js';

const unavailable = chromiumUnavailable();
if (unavailable) console.log(`dashboard browser tests skipped: ${unavailable}`);

const GATEWAYS = ['fleet-gw-1', 'fleet-gw-2', 'fleet-gw-3'] as const;
const REFUSED = 'fleet-gw-2';
/** The status port of the configuration the gateway refuses: never bound, the gateway keeps its own. */
const WRONG_PORT = 18_181;
/** The gateway the test's plugin package is rolled out to. */
const INSTALLS = 'fleet-gw-3';

/** Deletes the streams of the test's key-value buckets and object store. */
async function deleteBuckets(natsUrl: string, streams: string[]): Promise<void> {
  const nc = await natsConnection(natsUrl);
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

interface FleetGatewayAnswer {
  id: string;
  config: { running: { source: string; revision: number | string | null }; refused: { message: string } | null; upToDate: boolean };
  configText: { pushed: string | null };
}

describe.skipIf(unavailable)('the operators’ fleet page, with three real gateways', () => {
  const names = uniqueStreamNames('web_fleet');
  const suffix = uniqueSuffix();
  const buckets = { config: `cptest-config-${suffix}`, fleet: `cptest-fleet-${suffix}`, plugins: `cptest-plugins-${suffix}` };
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-web-fleet-'));
  const simulator = new ModbusSimulator({ points: [{ table: 'holding', address: 0, type: 'uint16', behaviour: { kind: 'constant', value: 42 } }] });
  const natsUrl = inject('natsUrl');
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let hub: Hub;
  let browser: Browser;
  let context: BrowserContext;
  const gateways: Gateway[] = [];
  let adminToken: string;
  const operator = { username: `operator-${randomBytes(4).toString('hex')}`, password: randomBytes(18).toString('base64url') };
  let modbusPort = 0;
  const keys = generateKeyPairSync('ed25519');

  /** Gateway `id`'s configuration, as a technician writes it; `statusPort` is the one refused. */
  const yaml = (id: string, statusPort = 0) =>
    `gateway:\n  id: ${id}\nhub:\n  natsUrl: ${natsUrl}\n  subjectPrefix: ${names.prefix}\n  remoteConfig: true\n  configBucket: ${buckets.config}\n` +
    `  fleetBucket: ${buckets.fleet}\n  pluginBucket: ${buckets.plugins}\n  reportInterval: 1s\nplugins:\n  trustedKeys: [../keys/plugins.pub]\n` +
    `status:\n  port: ${statusPort}\ndataDir: data\ndevices:\n  - id: meter\n    plugin: modbus\n    interval: 1s\n` +
    `    connection: { host: 127.0.0.1, port: ${modbusPort} }\n    points:\n      - { id: power, address: { table: holding, address: 0 } }\n`;

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(hub.url + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const detail = (id: string) => api<FleetGatewayAnswer>('GET', `/api/fleet/gateways/${id}`);

  beforeAll(async () => {
    [db, browser] = await Promise.all([createTestDatabase(inject('adminDatabaseUrl'), 'web_fleet'), launchChromium()]);
    modbusPort = (await simulator.start()).port;
    hub = await Hub.start({
      databaseUrl: db.url,
      natsUrl,
      names,
      logger: silentLogger,
      http: { port: 0 },
      objectivesEveryMs: 3_600_000,
      fleet: { validator: async () => gatewayConfigValidator(), configBucket: buckets.config, silentCheckEveryMs: 1000 },
      plugins: { fleetBucket: buckets.fleet, bucket: buckets.plugins },
    });
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'plugins.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    for (const id of GATEWAYS) {
      const file = join(dir, id, 'gateway.yaml');
      mkdirSync(join(dir, id), { recursive: true });
      writeFileSync(file, yaml(id));
      gateways.push(await Gateway.start({ config: loadGatewayConfig(file, new PluginRegistry()), configFile: file, logger: silentLogger }));
    }
    adminToken = (await createToken(hub.storage.pool, { role: 'admin', label: 'fleet page test' }, 'dashboard tests')).token;
    await api('PUT', `/api/accounts/${operator.username}`, { name: 'Opératrice de la flotte', role: 'operator', password: operator.password });
    context = await browser.newContext({ locale: 'fr-FR' });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all(gateways.map((g) => g.stop(0)));
    await hub?.stop();
    await simulator.stop();
    await deleteStreams(natsUrl, names);
    await deleteBuckets(natsUrl, [configBucketStream(buckets.config), configBucketStream(buckets.fleet), objectStoreStream(buckets.plugins)]);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('flags a refused configuration, which the operator reads, corrects, checks and pushes until the gateway runs it', async () => {
    // Every gateway reported; gateway 2 is pushed a configuration it cannot apply without a restart.
    await waitFor(
      async () => (await api<{ gateways: unknown[] }>('GET', '/api/fleet')).gateways.length === GATEWAYS.length,
      30_000,
      'the gateways did not all report',
    );
    const { revision: refusedRevision } = await api<{ revision: number }>('PUT', `/api/fleet/gateways/${REFUSED}/config`, { text: yaml(REFUSED, WRONG_PORT) });
    await waitFor(async () => (await detail(REFUSED)).config.refused !== null, 30_000, `${REFUSED} did not report the configuration refused`);
    const refused = await detail(REFUSED);
    // A plugin package published, signed, and rolled out to gateway 3, which installs it.
    await hub.plugins.repository.publish(await packPluginPackage(HTTP_JSON_PLUGIN_DIR), keys.privateKey, 'fleet page test');
    await hub.plugins.rollouts.assign({ plugin: 'http-json', version: '1.0.0', gateways: [INSTALLS], actor: 'fleet page test' });
    await waitFor(
      async () => (await api<{ rollouts: { state: string }[] }>('GET', '/api/fleet/plugins')).rollouts[0]?.state === 'completed',
      30_000,
      `${INSTALLS} did not install the plugin`,
    );
    expect(refused.config.refused!.message).toContain('status.port');
    expect(refused.configText.pushed).toBe(yaml(REFUSED, WRONG_PORT));

    const page = await context.newPage();
    await signInOnPage(page, hub.url, operator, '/gestion/flotte', 'fleet');
    expect(await page.locator('main h1').innerText()).toBe('Flotte des passerelles');
    // The navigation leads there.
    expect(
      await page.getByRole('navigation', { name: 'Navigation principale' }).getByRole('link', { name: 'Flotte', exact: true }).getAttribute('aria-current'),
    ).toBe('page');
    const rows = page.locator('table.fleet-table tbody tr');
    expect(await rows.count()).toBe(3);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-gateway')))).toEqual([...GATEWAYS]);
    expect(await page.locator('.fleet-summary').innerText()).toContain('Configuration refusée : 1');
    expect(await page.locator('p.updated-at').innerText()).toMatch(/^Mis à jour à .*10 secondes\.$/);
    // Gateway 2 stands out in words (and an icon), the others are up to date.
    const row2 = page.locator(`tr[data-gateway="${REFUSED}"]`);
    expect(await row2.getAttribute('data-config')).toBe('refused');
    const configCell = await row2.locator('td[data-cell="config"]').innerText();
    expect(configCell).toContain('Refusée');
    expect(configCell).toContain('✕');
    expect(configCell).toContain(refused.config.refused!.message.split('\n')[0]!.trim());
    for (const id of GATEWAYS.filter((g) => g !== REFUSED)) {
      const row = page.locator(`tr[data-gateway="${id}"]`);
      expect(await row.locator('td[data-cell="config"]').innerText()).toContain('À jour');
      expect(await row.innerText()).toContain('En ligne');
      expect(await row.innerText()).toContain('modbus');
    }

    // The plugin: installed on gateway 3 (said in words), its package and its completed rollout.
    const installed = page.locator(`tr[data-gateway="${INSTALLS}"] li[data-plugin="http-json"]`);
    expect(await installed.innerText()).toBe('http-json 1.0.0 (installée)');
    expect(await page.locator('tr[data-package="http-json@1.0.0"]').innerText()).toContain('fleet page test');
    const rollout = page.locator('table.fleet-rollouts tbody tr').first();
    expect(await rollout.getAttribute('data-state')).toBe('completed');
    expect(await rollout.innerText()).toContain('Terminé');
    expect(await rollout.innerText()).toContain(INSTALLS);

    // Its page: the refusal in full, and the text pushed in the form.
    await row2.getByRole('link', { name: REFUSED, exact: true }).click();
    await viewReady(page, 'fleet-gateway');
    expect(new URL(page.url()).pathname).toBe(`/gestion/flotte/${REFUSED}`);
    expect(await page.locator('main h1').innerText()).toBe(`Passerelle ${REFUSED}`);
    const refusal = page.locator('[data-refusal]');
    expect(await refusal.locator('h3').innerText()).toContain('Configuration refusée par la passerelle');
    expect(await refusal.locator('pre').innerText()).toBe(refused.config.refused!.message);
    const textarea = page.getByLabel('Configuration (YAML)');
    expect(await textarea.inputValue()).toBe(yaml(REFUSED, WRONG_PORT));
    expect(await page.locator('.fleet-history tbody tr[data-kind="config-pushed"]').count()).toBeGreaterThanOrEqual(1);

    // Corrected, checked: valid, and the focus is on the result.
    await textarea.fill(yaml(REFUSED, WRONG_PORT).replace(`port: ${WRONG_PORT}`, 'port: 0'));
    await page.getByRole('button', { name: 'Vérifier', exact: true }).click();
    const result = page.locator('.check-result[data-result="valid"] .notice-ok');
    await result.waitFor();
    expect(await result.innerText()).toContain(`Valide pour la passerelle ${REFUSED}`);
    expect(await result.evaluate((el) => el.parentElement === el.ownerDocument.activeElement)).toBe(true);

    // Pushed: the revision is said, and the page, refreshing itself, shows the gateway run it.
    await page.getByRole('button', { name: 'Envoyer à la passerelle', exact: true }).click();
    const sent = page.locator('.fleet-config [role="status"] .notice-ok');
    await sent.waitFor();
    const revision = Number(/Révision (\d+) envoyée/.exec(await sent.innerText())?.[1]);
    expect(revision).toBeGreaterThan(refusedRevision);
    await page.locator(`section.fleet-config[data-running="${revision}"][data-refused="false"]`).waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-refusal]').count()).toBe(0);
    expect(await page.locator('section.fleet-config [data-cell="running"]').innerText()).toContain(`révision ${revision} (hub)`);
    // The history says it in words, newest first.
    await page.locator('.fleet-history tbody tr[data-kind="config-running"]').first().waitFor({ timeout: 30_000 });
    expect(await page.locator('.fleet-history tbody tr').first().getAttribute('data-kind')).toBe('config-running');
    expect(await page.locator('.fleet-history tbody tr[data-kind="config-running"]').first().innerText()).toContain('Configuration appliquée');
    const after = await detail(REFUSED);
    expect(after.config).toMatchObject({ running: { source: 'hub', revision }, refused: null, upToDate: true });

    // The fleet's journal: the push, by the operator's name, and the rollout's steps, in words.
    await page.getByRole('link', { name: 'Toute la flotte', exact: true }).click();
    await viewReady(page, 'fleet');
    const journal = page.locator('section.fleet-journal');
    expect(await journal.locator('h2').innerText()).toBe('Journal');
    const pushedRow = journal.locator(`tr[data-kind="config-pushed"][data-event-gateway="${REFUSED}"]`).first();
    const pushedText = await pushedRow.innerText();
    for (const words of ['Configuration envoyée', `révision ${revision}`, 'Opératrice de la flotte', REFUSED]) expect(pushedText).toContain(words);
    const completed = journal.locator('tr[data-kind="plugin-completed"]');
    expect(await completed.count()).toBe(1);
    const completedCells = await completed.locator('th, td').allInnerTexts();
    expect(completedCells.slice(1).map((c) => c.trim())).toEqual(['—', 'Déploiement terminé\nExtension http-json 1.0.0', 'hub']);
    expect(await journal.locator('tr[data-kind="plugin-published"]').innerText()).toContain('fleet page test');
    expect(await journal.locator(`tr[data-kind="plugin-assigned"][data-event-gateway="${INSTALLS}"]`).innerText()).toContain('Extension http-json 1.0.0');
    expect(await journal.locator('tr[data-kind="plugin-installed"]').first().innerText()).toContain('Extension installée');
    const pushedId = await pushedRow.getAttribute('data-event');

    // A page of events later, the push has left the latest 20; the button brings it back.
    for (let i = 0; i < 20; i++) await setPluginGroup(hub.storage.pool, `journal-${i}`, [INSTALLS], 'fleet page test');
    await journal.locator('tbody tr').first().and(page.locator('[data-kind="plugin-group-set"]')).waitFor({ timeout: 30_000 });
    expect(await journal.locator(`tr[data-event="${pushedId}"]`).count()).toBe(0);
    expect(await journal.locator('tbody tr').count()).toBe(20);
    expect(await journal.locator('tbody tr').first().innerText()).toContain('Groupe journal-19 : fleet-gw-3');
    const older = journal.getByRole('button', { name: 'Événements plus anciens', exact: true });
    await older.focus();
    await page.keyboard.press('Enter');
    await journal.locator(`tr[data-event="${pushedId}"]`).waitFor();
    const ids = await journal.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-event'))));
    expect(ids.length).toBeGreaterThan(20);
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => b - a));
    // The focus is on the first row loaded, the one after the 20 shown before.
    const focused = () => journal.evaluate((el) => el.ownerDocument.activeElement?.closest('tr')?.getAttribute('data-event') ?? null);
    expect(await focused()).toBe(String(ids[20]));
    // A new event, shown by the next refresh: the older rows stay, and so does the focus.
    await setPluginGroup(hub.storage.pool, 'journal-last', [INSTALLS], 'fleet page test');
    await journal
      .locator('tbody tr')
      .first()
      .and(page.locator('[data-kind="plugin-group-set"]'))
      .filter({ hasText: 'journal-last' })
      .waitFor({ timeout: 30_000 });
    expect(await journal.locator(`tr[data-event="${pushedId}"]`).count()).toBe(1);
    expect(await journal.locator('tbody tr').count()).toBe(ids.length + 1);
    expect(await focused()).toBe(String(ids[20]));
    await page.close();
  });

  it('shows the fleet and a gateway in English', async () => {
    const page = await context.newPage();
    await page.goto(`${hub.url}/gestion/flotte?lang=en`);
    await viewReady(page, 'fleet');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.locator('main h1').innerText()).toBe('Gateway fleet');
    await page.locator('.fleet-summary[data-refused="0"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('.fleet-summary').innerText()).toContain('Gateways: 3');
    expect(await page.locator('p.updated-at').innerText()).toMatch(/^Updated at .*10 seconds\.$/);
    for (const id of GATEWAYS) {
      const row = page.locator(`tr[data-gateway="${id}"]`);
      expect(await row.locator('td[data-cell="config"]').innerText()).toContain('Up to date');
      expect(await row.innerText()).toContain('Online');
    }
    expect(await page.locator(`tr[data-gateway="${INSTALLS}"] li[data-plugin="http-json"]`).innerText()).toBe('http-json 1.0.0 (installed)');
    expect(await page.locator('table.fleet-rollouts tbody tr').first().innerText()).toContain('Completed');
    expect(await page.locator('section.fleet-journal h2').innerText()).toBe('Log');
    const groupSet = await page.locator('section.fleet-journal tbody tr').first().innerText();
    for (const words of ['Gateway group set', 'Group journal-last: fleet-gw-3', 'fleet page test']) expect(groupSet).toContain(words);
    expect(await page.getByRole('button', { name: 'Older events', exact: true }).count()).toBe(1);
    await page.locator(`tr[data-gateway="${REFUSED}"]`).getByRole('link', { name: REFUSED, exact: true }).click();
    await viewReady(page, 'fleet-gateway');
    expect(await page.locator('main h1').innerText()).toBe(`Gateway ${REFUSED}`);
    expect(await page.getByRole('button', { name: 'Check', exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Push to the gateway', exact: true }).count()).toBe(1);
    expect(await page.locator('.fleet-history').innerText()).toContain('Configuration pushed');
    await page.close();
  });
});
