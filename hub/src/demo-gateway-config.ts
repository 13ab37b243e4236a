import type { DemoMeterBuilding } from './demo-history.js';
import { DEMO_METER_INTERVAL_MS, DEMO_PLANT_INTERVAL_MS } from './demo-history.js';
import type { DemoDevice } from './demo-seed.js';

/**
 * The configuration of a demo building's gateway, as a technician would write it: used by
 * `citypilot demo` and by the hub's end-to-end tests, which run real gateways on it.
 */

/** Settings of a demo gateway's config that tests change. */
export interface DemoGatewaySettings {
  modbusPort: number;
  statusPort: number;
  natsUrl: string;
  /**
   * How often every device is read. Default: the meters every minute (DEMO_METER_INTERVAL_MS),
   * the plant every 15 minutes (DEMO_PLANT_INTERVAL_MS), the intervals the demo's history is
   * written at.
   */
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

/** The demo gateways' poll intervals of meters and plant, as their config says them. */
export const DEMO_INTERVAL = `${DEMO_METER_INTERVAL_MS / 60_000}m`;
export const DEMO_PLANT_INTERVAL = `${DEMO_PLANT_INTERVAL_MS / 60_000}m`;

/** The YAML a technician would write for one demo building. */
export function gatewayConfig(building: DemoMeterBuilding, settings: DemoGatewaySettings): string {
  const { modbusPort, statusPort, natsUrl } = settings;
  const points = building.points
    .map((p) => {
      const a = p.sim;
      const address = [`table: ${a.table}`, `address: ${a.address}`, `type: ${a.type}`, a.order ? `order: ${a.order}` : ''].filter(Boolean).join(', ');
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
    interval: ${settings.interval ?? DEMO_INTERVAL}
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
    interval: ${settings.interval ?? DEMO_PLANT_INTERVAL}
    connection: ${JSON.stringify(d.connection ?? {})}
`,
  )
  .join('')}`;
}
