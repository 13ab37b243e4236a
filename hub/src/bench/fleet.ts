/**
 * Fleet benchmark: `npm run bench:fleet` at the repository root.
 *
 * 1,000 simulated gateways report their inventory every 30 s to one hub (`citypilot hub run` in
 * a process of its own, whose CPU time is read from /proc): each report is what a real gateway
 * sends (protocols/wire/src/fleet.ts, about 1.5 KB: four plugins, a configuration revision,
 * devices by plugin, now and then a failing device and an install), published on its own
 * subject at its own phase of the period, from 10 NATS connections. Figures:
 *  - the hub's CPU over `--rounds` periods once every gateway is known (the first period, in
 *    which each is seen for the first time, is not measured), with the operators' page open
 *    (GET /api/fleet every 10 s, as the page refreshes); target ≤ 5 % of one core. Baseline in
 *    the same run: the same hub over one period with no gateway reporting;
 *  - the lag of the fleet view: a gateway's report published out of its turn, with a marker
 *    (its uptime), then GET /api/fleet/gateways/<id> every 50 ms until the marker shows, `--probes`
 *    times while the fleet keeps reporting; the largest lag is reported; target ≤ 2 s;
 *  - at the end, every gateway online in GET /api/fleet (none silent, none missing).
 * Ends with one JSON line: {"gateways", "hubCpuPercent", "viewLagMs"}.
 *
 * Runs on the servers of NATS_URL / DATABASE_URL, or those on the standard ports, or ones it
 * starts (like `citypilot demo`); creates its own database and subjects and removes them.
 * Options: --gateways N, --interval S, --rounds N, --probes N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { clockTicks, machineDescription, percentile, ProcessSampler, round, sleep, wholeNumberOptions } from '@citypilot/sdk/bench';
import { SDK_VERSION } from '@citypilot/sdk';
import { encodeInventory, fleetSubjects, type InventoryReport } from '@citypilot/wire';
import { createToken } from '../auth/tokens.js';
import { ensureServices, freePort, type Services } from '../services/local-services.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase, deleteStreams, hubEnv, startHubProcess, uniqueStreamNames, type CliProcess } from '../testing/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CONNECTIONS = 10;
const CPU_TARGET = 5;
const LAG_TARGET_MS = 2000;
const PAGE_REFRESH_MS = 10_000;
const LAG_POLL_MS = 50;
const LAG_TIMEOUT_MS = 30_000;
const quiet = {
  debug() {},
  info() {},
  warn: (o: object, m?: string) => console.error('warn:', m, o),
  error: (o: object, m?: string) => console.error('error:', m, o),
};

/** Gateway `i`'s report, as a gateway of a city would send it. */
function report(i: number, intervalS: number, uptimeS: number): InventoryReport {
  const failing = i % 50 === 0 ? 1 : 0;
  const now = new Date().toISOString();
  return {
    v: 1,
    software: { version: '0.1.0', sdk: SDK_VERSION, node: process.version },
    host: { hostname: `gw-${i}.city.example`, platform: 'linux', arch: 'arm64' },
    startedAt: new Date(Date.now() - uptimeS * 1000).toISOString(),
    uptimeS,
    reportIntervalS: intervalS,
    plugins: [
      { id: 'bacnet', version: '0.1.0', source: 'builtin' },
      { id: 'modbus', version: '0.1.0', source: 'builtin' },
      { id: 'opcua', version: '0.1.0', source: 'builtin' },
      { id: 'http-json', version: '1.0.0', source: 'installed' },
    ],
    config: { source: 'hub', revision: 1000 + i, appliedAt: now, refused: null },
    outbox: { depth: i % 7 },
    devices: {
      total: 8,
      failing,
      byPlugin: { modbus: { total: 5, failing }, bacnet: { total: 3, failing: 0 } },
      failingDevices: failing ? [{ id: 'boiler-meter', plugin: 'modbus', error: 'device did not answer within 2000 ms (timeout)' }] : [],
    },
    lastError: failing ? { at: now, message: 'boiler-meter: device did not answer within 2000 ms (timeout)' } : null,
    installs: [{ id: 'http-json', version: '1.0.0', state: 'installed', at: now }],
  };
}

/** Publishes every gateway's report once per `intervalS`, each at its own phase, until stopped. */
function reportEvery(connections: NatsConnection[], prefix: string, gateways: number, intervalS: number) {
  const subjects = fleetSubjects(prefix);
  const started = performance.now();
  let sent = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      // Gateways whose phase has come since the start: gateway i reports at i/N of each period.
      const due = Math.floor(((performance.now() - started) / (intervalS * 1000)) * gateways);
      for (; sent < due; sent++) {
        const i = sent % gateways;
        connections[i % connections.length]!.publish(
          subjects.inventory(`gw-${i}`),
          encodeInventory(report(i, intervalS, 3600 + Math.floor(sent / gateways) * intervalS)),
        );
      }
      await sleep(100);
    }
  })();
  return {
    sent: () => sent,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function getJson<T>(url: string, token: string): Promise<T> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface FleetList {
  gateways: { id: string; state: string; uptimeS: number }[];
}

async function main(): Promise<void> {
  const o = wholeNumberOptions(process.argv.slice(2), { gateways: 1000, interval: 30, rounds: 4, probes: 20 });
  let services: Services | undefined;
  let drop: (() => Promise<void>) | undefined;
  let hub: CliProcess | undefined;
  let streams: (() => Promise<void>) | undefined;
  const connections: NatsConnection[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-bench-fleet-'));
  try {
    services = await ensureServices({ stateDir: join(repoRoot, '.citypilot', 'services'), log: (m) => console.log(m) });
    const db = await createTestDatabase(services.databaseUrl, 'bench_fleet');
    drop = db.drop;
    const storage = await Storage.open({ databaseUrl: db.url, logger: quiet });
    const version = (await storage.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
    const token = (await createToken(storage.pool, { role: 'operator', label: 'bench:fleet' }, 'bench')).token;
    await storage.close();
    console.log(`machine: ${machineDescription()}`);
    console.log(`software: PostgreSQL ${version}, NATS at ${services.natsUrl}`);
    console.log(
      `fleet: ${o.gateways} gateways reporting every ${o.interval} s (${round(o.gateways / o.interval)} reports/s), measured over ${o.rounds} periods`,
    );

    const port = await freePort();
    const names = uniqueStreamNames('benchfleet');
    const natsUrl = services.natsUrl;
    streams = () => deleteStreams(natsUrl, names);
    hub = await startHubProcess(hubEnv(db.url, natsUrl, names, port), port);
    const base = `http://127.0.0.1:${port}`;
    const sampler = new ProcessSampler(hub.child.pid!, clockTicks());

    // Baseline: the same hub, one period with no gateway, the operators' page open.
    const idle = await measureCpu(sampler, o.interval * 1000, base, token);
    console.log(`baseline (no gateway reporting, the page open): hub CPU ${round(idle, 2)} % of one core`);

    for (let i = 0; i < CONNECTIONS; i++) connections.push(await connect({ servers: natsUrl, name: `bench-fleet-${i}` }));
    const fleet = reportEvery(connections, names.prefix, o.gateways, o.interval);
    // The first period: every gateway seen for the first time.
    await sleep(o.interval * 1000 + 2000);
    const known = await getJson<FleetList>(`${base}/api/fleet`, token);
    console.log(`after the first period: ${known.gateways.length} gateways in the fleet view`);

    const busy = await measureCpu(sampler, o.rounds * o.interval * 1000, base, token);
    console.log(
      `${o.gateways} gateways: hub CPU ${round(busy, 2)} % of one core (baseline ${round(idle, 2)} %, so ${round(busy - idle, 2)} points for the fleet; target ≤ ${CPU_TARGET} %: ${busy <= CPU_TARGET ? 'met' : 'MISSED'})`,
    );

    // The view's lag: reports out of turn, with a marker, while the fleet keeps reporting.
    const subjects = fleetSubjects(names.prefix);
    const lags: number[] = [];
    for (let k = 0; k < o.probes; k++) {
      const i = Math.floor(Math.random() * o.gateways);
      const marker = 1_000_000_000 + k;
      const published = performance.now();
      connections[0]!.publish(subjects.inventory(`gw-${i}`), encodeInventory(report(i, o.interval, marker)));
      await connections[0]!.flush();
      for (;;) {
        const g = await getJson<{ uptimeS: number }>(`${base}/api/fleet/gateways/gw-${i}`, token);
        if (g.uptimeS === marker) break;
        if (performance.now() - published > LAG_TIMEOUT_MS) throw new Error(`gateway gw-${i}'s report did not show within ${LAG_TIMEOUT_MS / 1000} s`);
        await sleep(LAG_POLL_MS);
      }
      lags.push(performance.now() - published);
      await sleep(1000);
    }
    await fleet.stop();
    const viewLagMs = Math.round(Math.max(...lags));
    console.log(
      `fleet view lag over ${lags.length} reports (polled every ${LAG_POLL_MS} ms): median ${Math.round(percentile(lags, 50))} ms, max ${viewLagMs} ms (target ≤ ${LAG_TARGET_MS} ms: ${viewLagMs <= LAG_TARGET_MS ? 'met' : 'MISSED'})`,
    );
    const end = await getJson<FleetList>(`${base}/api/fleet`, token);
    const silent = end.gateways.filter((g) => g.state !== 'online').length;
    console.log(`at the end: ${end.gateways.length} gateways in the view, ${silent} not online; ${fleet.sent().toLocaleString('en')} reports sent`);
    if (end.gateways.length !== o.gateways || silent) throw new Error('the fleet view lost gateways');
    console.log(JSON.stringify({ gateways: o.gateways, hubCpuPercent: round(busy, 2), viewLagMs }));
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
    const code = await hub?.stop();
    if (code !== 0 && code !== undefined) console.error(`hub exited with ${code}: ${hub?.output().slice(-2000)}`);
    await streams?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await drop?.().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The hub's CPU over `ms`, in % of one core, with the operators' page refreshing every 10 s. */
async function measureCpu(sampler: ProcessSampler, ms: number, base: string, token: string): Promise<number> {
  sampler.begin();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await getJson(`${base}/api/fleet`, token);
    sampler.sample();
    await sleep(Math.min(PAGE_REFRESH_MS, Math.max(0, end - performance.now())));
  }
  sampler.sample();
  return sampler.usage().cpuPercent;
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
