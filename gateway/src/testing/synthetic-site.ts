import type { SimulatedPoint } from '@citypilot/protocol-modbus';

/** A point of a synthetic device: its config settings and what the simulator serves for it. */
export interface SyntheticPoint {
  id: string;
  unit?: string;
  tags: string[];
  kind: 'number' | 'boolean';
  /** Engineering value = raw × scale. */
  scale: number;
  sim: SimulatedPoint;
}

/** One Modbus TCP device of a synthetic site: serve `points` with a ModbusSimulator. */
export interface SyntheticDevice {
  id: string;
  points: SyntheticPoint[];
}

/** Consecutive registers the devices leave unmapped after each run of this many points. */
const RUN = 50;
const GAP = 10;

/**
 * A site of `points` Modbus points over devices of at most `perDevice` each, for load and
 * outage tests and the gateway benchmark. Each device lays its registers out as a plant
 * controller or a data concentrator does, in runs of 50 points separated by unmapped gaps of 10
 * registers: 40 % power demands (float32, low word first, holding), 20 % energy counters
 * (uint32, input), 30 % room temperatures in tenths of °C (int16, holding), 10 % pumps on or off
 * (coils). The same arguments give the same site in every process.
 */
export function syntheticDevices(points: number, perDevice = 500): SyntheticDevice[] {
  const devices: SyntheticDevice[] = [];
  for (let d = 0, left = points; left > 0; d++) {
    const n = Math.min(perDevice, left);
    left -= n;
    const power = Math.round(n * 0.4);
    const energy = Math.round(n * 0.2);
    const temperature = Math.round(n * 0.3);
    const pumps = n - power - energy - temperature;
    const next: Record<SimulatedPoint['table'], number> = { holding: 0, input: 0, coil: 0, discrete: 0 };
    const block = (
      count: number,
      make: (i: number) => Omit<SyntheticPoint, 'sim'> & { sim: Omit<SimulatedPoint, 'address'> },
      size: number,
    ): SyntheticPoint[] =>
      Array.from({ length: count }, (_, i) => {
        const p = make(i);
        const address = next[p.sim.table];
        next[p.sim.table] += size + ((i + 1) % RUN === 0 ? GAP : 0);
        return { ...p, sim: { ...p.sim, address } };
      });
    const list = [
      ...block(
        power,
        (i) => ({
          id: `power-${i}`,
          unit: 'kW',
          tags: ['elec', 'power', 'sensor'],
          kind: 'number',
          scale: 1,
          sim: { table: 'holding', type: 'float32', order: 'CDAB', behaviour: { kind: 'load', peak: 5 + (i % 40) } },
        }),
        2,
      ),
      ...block(
        energy,
        (i) => ({
          id: `energy-${i}`,
          unit: 'kWh',
          tags: ['elec', 'meter', 'energy'],
          kind: 'number',
          scale: 1,
          sim: { table: 'input', type: 'uint32', behaviour: { kind: 'meter', startValue: 10_000 + i * 37, kWhPerHour: 20 } },
        }),
        2,
      ),
      ...block(
        temperature,
        (i) => ({
          id: `temperature-${i}`,
          unit: '°C',
          tags: ['air', 'temp', 'zone', 'sensor'],
          kind: 'number',
          scale: 0.1,
          sim: { table: 'holding', type: 'int16', scale: 0.1, behaviour: { kind: 'temperature', mean: 20 + (i % 5) / 2, dailyAmplitude: 2 } },
        }),
        1,
      ),
      ...block(
        pumps,
        (i) => ({
          id: `pump-${i}`,
          tags: ['pump', 'run', 'cmd'],
          kind: 'boolean',
          scale: 1,
          sim: { table: 'coil', type: 'bool', behaviour: { kind: 'constant', value: i % 3 === 0 } },
        }),
        1,
      ),
    ];
    devices.push({ id: `device-${d + 1}`, points: list });
  }
  return devices;
}

export interface SyntheticGatewaySettings {
  gatewayId: string;
  natsUrl: string;
  subjectPrefix: string;
  /** The port of each device's simulator on 127.0.0.1, in the order of the devices. */
  ports: readonly number[];
  /** Poll interval of every device, as a duration (`5s`). */
  interval: string;
  /** Relative to the configuration file. */
  dataDir: string;
  /** Status API port; 0 picks a free one. Default 0. */
  statusPort?: number;
  /** Settings of the `outbox:` section (maxSamplesPerSecond …). */
  outbox?: Record<string, number>;
}

/** A gateway configuration (YAML) that polls `devices`, served by simulators on `ports`. */
export function syntheticGatewayYaml(devices: readonly SyntheticDevice[], settings: SyntheticGatewaySettings): string {
  const lines = [
    `gateway:`,
    `  id: ${settings.gatewayId}`,
    `hub:`,
    `  natsUrl: ${settings.natsUrl}`,
    `  subjectPrefix: ${settings.subjectPrefix}`,
    `dataDir: ${settings.dataDir}`,
    `status:`,
    `  port: ${settings.statusPort ?? 0}`,
  ];
  if (settings.outbox) lines.push(`outbox:`, ...Object.entries(settings.outbox).map(([k, v]) => `  ${k}: ${v}`));
  lines.push(`devices:`);
  devices.forEach((device, d) => {
    const port = settings.ports[d];
    if (port === undefined) throw new RangeError(`no simulator port for ${device.id}`);
    lines.push(
      `  - id: ${device.id}`,
      `    plugin: modbus`,
      `    interval: ${settings.interval}`,
      `    timeout: 2s`,
      `    connection: { host: 127.0.0.1, port: ${port}, unitId: 1 }`,
      `    points:`,
    );
    for (const p of device.points) {
      const a = p.sim;
      const address = [`table: ${a.table}`, `address: ${a.address}`, `type: ${a.type}`, a.order ? `order: ${a.order}` : ''].filter(Boolean).join(', ');
      const unit = p.unit ? `, unit: ${JSON.stringify(p.unit)}` : '';
      const kind = p.kind === 'number' ? '' : `, kind: ${p.kind}`;
      const scale = p.scale === 1 ? '' : `, scale: ${p.scale}`;
      lines.push(`      - { id: ${p.id}${unit}${kind}${scale}, tags: [${p.tags.join(', ')}], address: { ${address} } }`);
    }
  });
  return lines.join('\n') + '\n';
}
