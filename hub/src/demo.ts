import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModbusSimulator, demoBuildings, type DemoBuilding } from '@citypilot/protocol-modbus';
import { PluginRegistry, ProfileLibrary, type CliIo } from '@citypilot/gateway';
import { silentLogger, type RunningSimulator } from '@citypilot/sdk';
import { ensureDatabase, ensureServices, freePort, stopChild, type Services } from './services/local-services.js';
import { ensureNatsCredentials } from './services/nats-auth.js';
import { Storage, type PointStatus } from './storage/storage.js';
import { waitFor } from './wait.js';
import { importCatalog, loadCatalog } from './storage/catalog.js';
import { backfillDemoHistory, backfillDemoServiceData } from './demo-history.js';
import { ServiceData } from './service-data/index.js';
import { loadObjectivesFile } from './objectives/file.js';
import { Objectives } from './objectives/objectives.js';
import { formatMeasured } from './number-format.js';

/** Root of the repository (this file is hub/dist/demo.js once built). */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliPath = join(repoRoot, 'hub', 'dist', 'cli.js');

/**
 * `citypilot demo`: the demo city on this machine. Starts NATS with a user per gateway (a
 * project-local server, unless NATS_URL names one) and finds or starts PostgreSQL, starts
 * two simulated buildings (real Modbus TCP servers), a hub and one gateway per building as
 * separate processes, waits until both buildings' samples are in the hub, prints where to look,
 * and on Ctrl-C stops everything it started.
 */
export async function runDemo(io: CliIo): Promise<number> {
  const startedAt = Date.now();
  const stateDir = join(repoRoot, '.citypilot');
  const demoDir = join(stateDir, 'demo');
  const logDir = join(demoDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  // The first Ctrl-C stops the demo in order; later ones (impatience) must not cut that short.
  const stopping = new Promise<void>((resolve) => {
    process.on('SIGINT', resolve);
    process.on('SIGTERM', resolve);
  });
  const children: ChildProcess[] = [];
  const simulators: ModbusSimulator[] = [];
  const plantSimulators: RunningSimulator[] = [];
  let services: Services | undefined;
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
    // The buildings' catalog (floor areas, usages) before the gateways announce themselves.
    const storage = await Storage.open({ databaseUrl, logger: silentLogger });
    try {
      await importCatalog(storage.pool, loadCatalog(join(repoRoot, 'hub', 'demo', 'catalog.yaml')));
      // Years of readings and the shipped objectives, so that statuses and trends mean something.
      if (await backfillDemoHistory(storage)) io.out('Wrote the demo buildings\' history (hourly for a year, daily since 2019).');
      if (await backfillDemoServiceData(await ServiceData.open(storage.pool), storage.rollups.timezone)) io.out('Wrote a year of the town hall\'s service data (reception, calls, mail).');
      const objectives = new Objectives({ pool: storage.pool, timezone: storage.rollups.timezone });
      for (const file of ['energy.yaml', 'services.yaml']) {
        for (const definition of loadObjectivesFile(join(repoRoot, 'hub', 'objectives', file))) await objectives.define(definition, 'demo');
      }
    } finally {
      await storage.close();
    }

    const hubPort = await freePort(8080);
    const env = { ...process.env, DATABASE_URL: databaseUrl, NATS_URL: services.natsUrl, NATS_CREDENTIALS: nats.hub.file, HUB_PORT: String(hubPort) };
    children.push(spawnLogged('hub', ['hub', 'run'], env, logDir));
    const hubUrl = `http://127.0.0.1:${hubPort}`;
    await waitFor(async () => (await fetch(`${hubUrl}/healthz`)).ok, 30_000, `the hub did not start; see ${join(logDir, 'hub.log')}`);

    const gatewayUrls: string[] = [];
    const registry = new PluginRegistry();
    const profiles = new ProfileLibrary([]);
    for (const building of demoBuildings) {
      const simulator = new ModbusSimulator({ points: building.points.map((p) => p.sim) });
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

    io.out('Waiting for samples from every device of both buildings …');
    const points = await waitFor(
      async () => {
        const status = (await (await fetch(`${hubUrl}/api/status`)).json()) as { points: PointStatus[] };
        // Samples read since the demo started, not the history written before.
        const live = status.points.filter((p) => p.lastValue !== null && p.lastTime !== null && Date.parse(p.lastTime) >= startedAt);
        // Every device of every building: the plant's first values come a few seconds after the
        // meters' (an OPC UA session makes its certificate at its first start).
        const devices = (b: DemoBuilding) => ['meters', ...(DEMO_PLANT[b.id] ?? []).map((d) => d.id)];
        const answered = (b: DemoBuilding, device: string) => live.some((p) => p.gateway === b.id && p.id.startsWith(`${device}.`));
        return demoBuildings.every((b) => devices(b).every((d) => answered(b, d))) ? live : undefined;
      },
      60_000,
      `no samples reached the hub within 60 s; see the logs in ${logDir}`,
    );
    io.out(`\nThe demo city is running: samples from every device of both buildings reached the hub ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start.`);
    io.out('Latest values in the hub:');
    for (const p of points) {
      const value = typeof p.lastValue === 'number' ? p.lastValue.toFixed(2) : String(p.lastValue);
      io.out(`  ${p.gateway.padEnd(10)} ${p.id.padEnd(28)} ${value.padStart(12)} ${(p.unit ?? '').padEnd(4)} ${p.lastQuality}`);
    }
    const shown = await waitFor(
      async () => {
        const list = (await (await fetch(`${hubUrl}/api/objectives`)).json()) as {
          key: string;
          unit: string;
          latest: { scope: string; period: string; value: number | null; target: number | null; status: string; statusText: string; forecast: number | null; complete: boolean }[];
        }[];
        return list.length && list.every((o) => o.latest.length) ? list : undefined;
      },
      60_000,
      `the hub did not evaluate the objectives within 60 s; see ${join(logDir, 'hub.log')}`,
    );
    io.out('\nObjectives (published), latest period:');
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
    io.out(`\nObjectives (JSON):  ${hubUrl}/api/objectives`);
    io.out(`Hub status page:   ${hubUrl}/`);
    io.out(`Hub status (JSON): ${hubUrl}/api/status`);
    io.out(`Hub metrics:       ${hubUrl}/metrics`);
    io.out(`Buildings:         ${hubUrl}/api/buildings`);
    for (const line of gatewayUrls) io.out(`Gateway ${line}`);
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
    await services?.stop();
    io.out('Stopped.');
  }
}

/** A device of a demo building besides its meters, served by its plugin's simulator. */
export interface DemoDevice {
  id: string;
  name: string;
  plugin: string;
  profile: string;
  /** What the plugin's simulator answered with (`RunningSimulator.connection`). */
  connection?: Record<string, unknown>;
}

/**
 * The plant of the demo buildings: the town hall's air handling units, boiler and meters read
 * from its building management system's OPC UA server, over loopback without security, which
 * only a demo may do (a site's server is reached with SignAndEncrypt: plugins/opcua/README.md);
 * the school's heating and ventilation controller over BACnet/IP, by change-of-value.
 */
const DEMO_PLANT: Record<string, Omit<DemoDevice, 'connection'>[]> = {
  'town-hall': [{ id: 'bms', name: 'Building management system', plugin: 'opcua', profile: 'citypilot-building' }],
  school: [{ id: 'hvac', name: 'Heating and ventilation controller', plugin: 'bacnet', profile: 'citypilot-building-controller' }],
};

/** Settings of a demo gateway's config that tests change. */
export interface DemoGatewaySettings {
  modbusPort: number;
  statusPort: number;
  natsUrl: string;
  /** Default 5s. */
  interval?: string;
  /** Default citypilot. */
  subjectPrefix?: string;
  /** Default `<building id>-data`, next to the file. */
  dataDir?: string;
  /** The gateway's NATS credentials file; none by default. */
  credentials?: string;
  /** Devices besides the meters. Default none. */
  devices?: DemoDevice[];
}

/** The YAML a technician would write for one demo building. */
export function gatewayConfig(building: DemoBuilding, settings: DemoGatewaySettings): string {
  const { modbusPort, statusPort, natsUrl } = settings;
  const points = building.points
    .map((p) => {
      const a = p.sim;
      const address = [`table: ${a.table}`, `address: ${a.address}`, `type: ${a.type}`, a.order ? `order: ${a.order}` : '']
        .filter(Boolean)
        .join(', ');
      return [
        `      - id: ${p.id}`,
        `        name: ${JSON.stringify(p.name)}`,
        p.unit ? `        unit: ${JSON.stringify(p.unit)}` : '',
        `        tags: [${p.tags.join(', ')}]`,
        p.scale !== 1 ? `        scale: ${p.scale}` : '',
        `        address: { ${address} }`,
      ]
        .filter(Boolean)
        .join('\n');
    })
    .join('\n');
  return `# Gateway of the demo building "${building.name}", written by \`citypilot demo\`.
gateway:
  id: ${building.id}
  name: ${JSON.stringify(building.name)}
  building: ${building.id}
hub:
  natsUrl: ${natsUrl}
${settings.credentials ? `  credentials: ${JSON.stringify(settings.credentials)}\n` : ''}  subjectPrefix: ${settings.subjectPrefix ?? 'citypilot'}
dataDir: ${settings.dataDir ?? `${building.id}-data`}
status:
  port: ${statusPort}
devices:
  - id: meters
    plugin: modbus
    interval: ${settings.interval ?? '5s'}
    timeout: 2s
    connection:
      host: 127.0.0.1
      port: ${modbusPort}
      unitId: 1
    points:
${points}
${(settings.devices ?? [])
  .map(
    (d) => `  - id: ${d.id}
    name: ${JSON.stringify(d.name)}
    plugin: ${d.plugin}
    profile: ${d.profile}
    interval: ${settings.interval ?? '5s'}
    connection: ${JSON.stringify(d.connection ?? {})}
`,
  )
  .join('')}`;
}

function spawnLogged(name: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): ChildProcess {
  const fd = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}
