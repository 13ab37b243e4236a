import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModbusSimulator, demoBuildings } from '@citypilot/protocol-modbus';
import { PluginRegistry, ProfileLibrary } from '@citypilot/gateway';
import { buildingLoad, silentLogger, simulationNoise, type RunningSimulator } from '@citypilot/sdk';
import {
  DEMO_ACCOUNTS,
  DEMO_ENEDIS_CLIENT,
  DEMO_INTERVAL,
  DEMO_LIBRARY_PRM,
  DEMO_METER_INTERVAL_MS,
  DEMO_PASSWORD,
  DEMO_PLANT,
  DEMO_PLANT_INTERVAL,
  DEMO_PLANT_INTERVAL_MS,
  demoPlant,
  EnedisSimulator,
  ensureDatabase,
  ensureNatsCredentials,
  ensureServices,
  formatMeasured,
  freePort,
  gatewayConfig,
  SecretBox,
  seedDemoCity,
  seedDemoUtility,
  stopChild,
  Storage,
  waitFor,
  type CliIo,
  type DemoDevice,
  type PointStatus,
  type Services,
} from '@citypilot/hub';

/** Root of the repository (this file is scripts/citypilot/dist/demo.js once built). */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cliPath = join(repoRoot, 'scripts', 'citypilot', 'dist', 'cli.js');

/**
 * `citypilot demo`: the demo city on this machine. Starts NATS with a user per gateway (a
 * project-local server, unless NATS_URL names one) and finds or starts PostgreSQL, starts
 * two simulated buildings (real Modbus TCP, OPC UA and BACnet/IP servers), a hub and one gateway per building as
 * separate processes, a simulated Enedis Data Connect on loopback for the third building (the
 * library, which has no gateway: the hub's utility connector reads its Linky), waits until both buildings' samples are in the hub, prints where to look,
 * and on Ctrl-C stops everything it started.
 */
export async function runDemo(io: CliIo): Promise<number> {
  const startedAt = Date.now();
  const stateDir = join(repoRoot, '.citypilot');
  const demoDir = join(stateDir, 'demo');
  const logDir = join(demoDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  // The dashboard's address first: it is what the person who started the demo came for.
  const hubPort = await freePort(8080);
  io.out(`CityPilot demo city: the dashboard will be at http://127.0.0.1:${hubPort}/ in about a minute (services, history, then the hub).`);

  // The first Ctrl-C stops the demo in order; later ones (impatience) must not cut that short.
  const stopping = new Promise<void>((resolve) => {
    process.on('SIGINT', resolve);
    process.on('SIGTERM', resolve);
  });
  const children: ChildProcess[] = [];
  const simulators: ModbusSimulator[] = [];
  const plantSimulators: RunningSimulator[] = [];
  let enedis: EnedisSimulator | undefined;
  let services: Services | undefined;
  const registry = new PluginRegistry();
  const profiles = new ProfileLibrary([]);
  try {
    // The demo runs NATS secured as a city would: one user per gateway, which may publish only
    // its own batches, and one for the hub (credentials made once, kept in .citypilot/).
    const nats = ensureNatsCredentials(
      join(stateDir, 'services', 'nats-credentials'),
      demoBuildings.map((b) => b.id),
    );
    writeFileSync(join(stateDir, 'services', 'nats-credentials', 'nats-auth.conf'), nats.authorization);
    services = await ensureServices({
      stateDir: join(stateDir, 'services'),
      log: (m) => io.out(m),
      natsAuth: { authorization: nats.authorization, credentials: nats.hub.file },
    });
    const databaseUrl = services.origin.postgres === 'environment' ? services.databaseUrl : await ensureDatabase(services.databaseUrl, 'citypilot');
    // The hub's key for the connectors' secrets, made once and kept with the services' state.
    const secretKeyFile = join(stateDir, 'services', 'secret-key');
    if (!existsSync(secretKeyFile)) writeFileSync(secretKeyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    // The library's Linky, served by a simulated Enedis Data Connect on loopback.
    enedis = await EnedisSimulator.start({ clients: [DEMO_ENEDIS_CLIENT], usagePoints: [{ prm: DEMO_LIBRARY_PRM, scaleKw: 25 }] });
    // The buildings' catalog (floor areas, usages) before the gateways announce themselves.
    const storage = await Storage.open({ databaseUrl, logger: silentLogger });
    try {
      // The catalog, years of readings, service data, the shipped objectives and the accounts, so
      // that statuses and trends mean something before the gateways' first readings.
      await seedDemoCity(
        storage,
        { buildings: demoBuildings, plant: demoPlant(demoBuildings, (plugin, profile) => profiles.get(registry.get(plugin)!, profile)!.profile.points) },
        (message) => io.out(message),
      );
      await seedDemoUtility(storage, { enedisUrl: enedis.url, secrets: SecretBox.fromBase64(readFileSync(secretKeyFile, 'utf8')), logger: silentLogger });
    } finally {
      await storage.close();
    }

    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      NATS_URL: services.natsUrl,
      NATS_CREDENTIALS: nats.hub.file,
      HUB_PORT: String(hubPort),
      CITYPILOT_SECRET_KEY_FILE: secretKeyFile,
    };
    children.push(spawnLogged('hub', ['hub', 'run'], env, logDir));
    const hubUrl = `http://127.0.0.1:${hubPort}`;
    await waitFor(async () => (await fetch(`${hubUrl}/healthz`)).ok, 30_000, `the hub did not start; see ${join(logDir, 'hub.log')}`);

    const gatewayUrls: string[] = [];
    for (const building of demoBuildings) {
      const simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim), load: buildingLoad, noise: simulationNoise });
      simulators.push(simulator);
      const { port } = await simulator.start();
      // The building's plant, simulated by its plugin from the plugin's own profile: the same
      // simulators as `citypilot simulate <plugin> --profile <id>`.
      const devices: DemoDevice[] = [];
      for (const plant of DEMO_PLANT[building.id] ?? []) {
        const plugin = registry.get(plant.plugin)!;
        const { profile } = profiles.get(plugin, plant.profile)!;
        // The simulators' libraries keep their messages to themselves (node-opcua's warnings
        // about the Node version are nothing the person trying the demo can act on).
        const running = await plugin.simulate!(profile.points, { connection: profile.connection, logger: silentLogger });
        plantSimulators.push(running);
        devices.push({ ...plant, connection: running.connection });
      }
      const statusPort = await freePort(0);
      const file = join(demoDir, `${building.id}.yaml`);
      const credentials = nats.gateways.find((g) => g.id === building.id)!.file;
      writeFileSync(file, gatewayConfig(building, { modbusPort: port, statusPort, natsUrl: services.natsUrl, credentials, devices }));
      children.push(spawnLogged(`gateway-${building.id}`, ['gateway', 'run', file], env, logDir));
      gatewayUrls.push(`${building.name}: http://127.0.0.1:${statusPort}/ (status page; JSON at /api/status; config ${file})`);
    }

    // The objectives come from the history: the dashboard has something to show before the
    // gateways' first readings, which come on their interval's grid (up to a minute).
    const shown = await waitFor(
      async () => {
        const list = (await (await fetch(`${hubUrl}/api/objectives`)).json()) as {
          key: string;
          unit: string;
          latest: {
            scope: string;
            period: string;
            value: number | null;
            target: number | null;
            status: string;
            statusText: string;
            forecast: number | null;
            complete: boolean;
          }[];
        }[];
        return list.length && list.every((o) => o.latest.length) ? list : undefined;
      },
      60_000,
      `the hub did not evaluate the objectives within 60 s; see ${join(logDir, 'hub.log')}`,
    );
    io.out(`\nDashboard: ${hubUrl}/ (ready)`);
    io.out(`Sign in (${hubUrl}/connexion) as any of these, password "${DEMO_PASSWORD}":`);
    for (const account of DEMO_ACCOUNTS) io.out(`  ${account.username.padEnd(11)} ${account.role.padEnd(10)} ${account.name}`);
    io.out(`\nThe demo city's objectives were evaluated ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start (published ones, latest period):`);
    for (const o of shown) {
      for (const r of o.latest.slice(0, 3)) {
        const value = (v: number | null) => (v === null ? '—' : formatMeasured(v));
        const soFar = r.complete ? '' : ' so far';
        const heading = r.complete || r.forecast === null ? '' : `, heading for ${value(r.forecast)}`;
        io.out(
          `  ${o.key.padEnd(26)} ${r.scope.padEnd(18)} ${r.period.padEnd(8)} ${value(r.value).padStart(12)} ${o.unit}${soFar}, target ${value(r.target)}${heading}: ${r.status} (${r.statusText})`,
        );
      }
    }

    io.out(`\nWaiting for the first readings of both buildings' meters (read every ${DEMO_INTERVAL}, on the minute) …`);
    const points = await waitFor(
      async () => {
        const status = (await (await fetch(`${hubUrl}/api/status`)).json()) as { points: PointStatus[] };
        // Samples read since the demo started, not the history written before.
        const live = status.points.filter((p) => p.lastValue !== null && p.lastTime !== null && Date.parse(p.lastTime) >= startedAt);
        // The meters of every building. The plant is read every 15 minutes, on the quarter hour
        // (its first reading connects its OPC UA session or subscribes its BACnet objects): its
        // history stands for it until then.
        return demoBuildings.every((b) => live.some((p) => p.gateway === b.id && p.id.startsWith('meters.'))) ? live : undefined;
      },
      // A minute's grid, and the gateways' own start.
      DEMO_METER_INTERVAL_MS + 60_000,
      `no samples reached the hub within ${(DEMO_METER_INTERVAL_MS + 60_000) / 1000} s; see the logs in ${logDir}`,
    );
    io.out(`\nThe demo city is running: both buildings' meters reached the hub ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start.`);
    const quarter = DEMO_PLANT_INTERVAL_MS;
    const plantAt = new Date(Math.ceil(Date.now() / quarter) * quarter).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    io.out(
      `The plant (town hall's OPC UA building management system, school's BACnet controller) is read every ${DEMO_PLANT_INTERVAL}: first readings at ${plantAt}.`,
    );
    io.out('Latest values in the hub:');
    for (const p of points) {
      const value = typeof p.lastValue === 'number' ? p.lastValue.toFixed(2) : String(p.lastValue);
      io.out(`  ${p.gateway.padEnd(10)} ${p.id.padEnd(28)} ${value.padStart(12)} ${(p.unit ?? '').padEnd(4)} ${p.lastQuality}`);
    }
    io.out(`\nObjectives (JSON):  ${hubUrl}/api/objectives`);
    io.out(`Hub status (JSON): ${hubUrl}/api/status`);
    io.out(`Hub metrics:       ${hubUrl}/metrics`);
    io.out(`Buildings:         ${hubUrl}/api/buildings`);
    for (const line of gatewayUrls) io.out(`Gateway ${line}`);
    io.out(`Library (no gateway): its Linky (PRM ${DEMO_LIBRARY_PRM}) read by the hub from Enedis Data Connect, simulated at ${enedis.url}`);
    io.out(`Utility meters:    ${hubUrl}/gestion/compteurs (operators) and ${hubUrl}/api/utility/connectors`);
    io.out(`Logs:              ${logDir}`);
    io.out('\nPress Ctrl-C to stop everything.');
    await stopping;
    io.out('\nStopping …');
    return 0;
  } finally {
    // Gateways first (they flush to the hub), then the hub, then the servers they used.
    for (const child of children.slice(1).reverse()) await stopChild(child, 'SIGTERM');
    if (children[0]) await stopChild(children[0], 'SIGTERM');
    await Promise.all(simulators.map((s) => s.stop()));
    await Promise.all(plantSimulators.map((s) => s.stop()));
    await enedis?.stop();
    await services?.stop();
    io.out('Stopped.');
  }
}

function spawnLogged(name: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): ChildProcess {
  const fd = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}
