import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import type { ServiceData, ServiceValueInput } from './service-data/index.js';
import type { Storage } from './storage/storage.js';

/**
 * What the demo's history and gateway files read of a demo building: its meters on one Modbus
 * device and what their simulators do. protocol-modbus's `demoBuildings` fit this shape; the
 * composed demo (scripts/citypilot) and the hub's tests pass them, since the hub imports no
 * field protocol.
 */
export interface DemoMeterBuilding {
  /** Also the id of the building's gateway. */
  id: string;
  name: string;
  points: readonly DemoMeterPoint[];
}

export interface DemoMeterPoint {
  id: string;
  name: string;
  unit: string;
  tags: readonly string[];
  /** Engineering value = raw × scale. */
  scale: number;
  /** Where the simulator holds it, and how it moves (protocol-modbus's SimulatedPoint). */
  sim: {
    table: string;
    address: number;
    type: string;
    order?: string;
    behaviour:
      | { kind: 'constant'; value: number | boolean | string }
      | { kind: 'meter'; startValue: number; kWhPerHour: number }
      | { kind: 'load'; peak: number }
      | { kind: 'temperature'; mean: number; dailyAmplitude: number };
  };
}

/** The demo city the hub seeds: its buildings' meters and their plant (see demoPlant). */
export interface DemoCity {
  buildings: readonly DemoMeterBuilding[];
  plant: readonly DemoPlantDevice[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** First day of the demo's history: a reference year for the tertiary decree and a few years after. */
const HISTORY_FROM = Date.UTC(2019, 0, 1);

/**
 * How often the demo gateways read their Modbus meters, as a building's gateway reads a meter:
 * every minute (`interval` of the meters device in the config demo-gateway-config.ts writes). The history's
 * recent days are written at this interval, so that their completeness is the live days'.
 */
export const DEMO_METER_INTERVAL_MS = 60_000;

/**
 * How often the demo gateways read the buildings' plant (air handling units, boilers: OPC UA and
 * BACnet), as a building management system's trend logs keep them: every 15 minutes.
 */
export const DEMO_PLANT_INTERVAL_MS = 15 * 60_000;

/** A device of a demo building besides its Modbus meters (DEMO_PLANT in demo-seed.ts), as its plugin's profile lists its points. */
export interface DemoPlantDevice {
  /** The building, which is also its gateway's id. */
  building: string;
  /** The device's id in the gateway's config: its points are `<device>.<point>`. */
  device: string;
  plugin: string;
  points: readonly { id: string; name?: string; unit?: string; kind?: 'number' | 'boolean' | 'string'; tags: readonly string[]; address: unknown }[];
}

/** Days back from now written at DEMO_METER_INTERVAL_MS: 31 whole days before today's, as a month of completeness shows. */
export const DEMO_RECENT_DAYS = 32;

/**
 * The demo buildings' past, so that objectives have baselines and trends and the data's
 * completeness looks like a real building's on first start: every Modbus point read every
 * minute (DEMO_METER_INTERVAL_MS, as the demo gateways poll them) for the last DEMO_RECENT_DAYS
 * days; before that, hourly readings of the meters and of the outdoor temperature for a year,
 * and daily readings back to 2019. The meters end where the simulated devices start (their
 * `startValue`, chosen so that no reading back to 2019 is negative), so that live readings
 * continue the history. Consumption follows the season (heating with the cold), the hour and
 * the weekday, and falls by about 5 % a year (the buildings' energy plan). Written once: returns
 * false when the history is there already. About 500,000 samples: 10 s on two cores, most of it
 * the database's (a minute's interval for the month, where an hour's would be a tenth of it).
 */
export async function backfillDemoHistory(storage: Storage, city: DemoCity, now = Date.now()): Promise<boolean> {
  const { buildings, plant } = city;
  const end = now - (now % DEMO_METER_INTERVAL_MS);
  const recentFrom = end - ((end - HISTORY_FROM) % HOUR) - DEMO_RECENT_DAYS * DAY;
  const hourlyFrom = recentFrom - 365 * DAY;
  const { rows } = await storage.pool.query(`SELECT 1 FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND s.time < $2 LIMIT 1`, [
    buildings[0]!.id,
    new Date(hourlyFrom + DAY),
  ]);
  if (rows.length) return false;
  // Both buildings at once: the database works on one while this process computes the other.
  await Promise.all(
    buildings.map((building) =>
      backfillBuilding(
        storage,
        building,
        plant.filter((d) => d.building === building.id),
        { now, end, hourlyFrom, recentFrom },
      ),
    ),
  );
  return true;
}

/** One building's history (see backfillDemoHistory). */
async function backfillBuilding(
  storage: Storage,
  building: DemoMeterBuilding,
  plant: readonly DemoPlantDevice[],
  range: { now: number; end: number; hourlyFrom: number; recentFrom: number },
): Promise<void> {
  const { now, end, hourlyFrom, recentFrom } = range;
  let seq = 0;
  {
    const times: number[] = [];
    for (let t = HISTORY_FROM; t < hourlyFrom; t += DAY) times.push(t);
    for (let t = hourlyFrom; t < recentFrom; t += HOUR) times.push(t);
    const recentIndex = times.length;
    for (let t = recentFrom; t <= end; t += DEMO_METER_INTERVAL_MS) times.push(t);
    const recent = times.slice(recentIndex);
    const samples: Sample[] = [];
    for (const point of building.points) {
      const behaviour = point.sim.behaviour;
      const id = `meters.${point.id}`;
      if (behaviour.kind === 'meter') {
        // Consumption between consecutive readings, then readings counted back from the start value.
        const use = times.map((t, i) => (i === 0 ? 0 : consumption(point.id, behaviour.kWhPerHour, times[i - 1]!, t, building.id)));
        let reading = behaviour.startValue - consumption(point.id, behaviour.kWhPerHour, times.at(-1)!, now, building.id);
        const readings = new Array<number>(times.length);
        for (let i = times.length - 1; i >= 0; i--) {
          readings[i] = Math.round(reading * 100) / 100;
          reading -= use[i]!;
        }
        times.forEach((t, i) => samples.push({ point: id, time: t, value: readings[i]!, quality: 'good' }));
      } else if (point.id === 'outdoor-temp') {
        // A daily reading stands for its day: the day's mean, not the cold of midnight.
        const value = (t: number) => (t < hourlyFrom ? Array.from({ length: 24 }, (_, h) => outdoor(t + h * HOUR)).reduce((a, b) => a + b) / 24 : outdoor(t));
        for (const t of times) samples.push({ point: id, time: t, value: Math.round(value(t) * 10) / 10, quality: 'good' });
      } else if (behaviour.kind === 'load') {
        // The demand the electricity meter's advance comes from, as its meter would show it.
        for (const t of recent)
          samples.push({ point: id, time: t, value: Math.round(consumption('elec', behaviour.peak, t, t + HOUR) * 100) / 100, quality: 'good' });
      } else if (behaviour.kind === 'temperature') {
        const { mean, dailyAmplitude } = behaviour;
        for (const t of recent)
          samples.push({
            point: id,
            time: t,
            value: Math.round((mean - dailyAmplitude * Math.cos((2 * Math.PI * (((t / HOUR) % 24) - 3)) / 24)) * 10) / 10,
            quality: 'good',
          });
      }
    }
    // The plant, every DEMO_PLANT_INTERVAL_MS over the same days. Its meters are left out: their
    // simulators count from readings of their own, which a history would contradict.
    for (const device of plant) {
      for (const p of device.points) {
        if (p.tags.includes('meter') && ['energy', 'volume'].some((t) => p.tags.includes(t))) continue;
        for (let t = recentFrom; t <= end; t += DEMO_PLANT_INTERVAL_MS)
          samples.push({ point: `${device.device}.${p.id}`, time: t, value: plantValue(p, t), quality: 'good' });
      }
    }
    samples.sort((a, b) => a.time - b.time);
    for (let i = 0; i < samples.length; i += 50_000) {
      const batch: Batch = { v: BATCH_VERSION, gateway: building.id, seq: ++seq, createdAt: now, samples: samples.slice(i, i + 50_000) };
      if (i === 0) Object.assign(batch, { building: building.id, points: [...announced(building), ...plant.flatMap(announcedPlant)] });
      await storage.writeBatches([batch]);
    }
  }
}

/** The points the demo gateway announces, as it announces them. */
function announced(building: DemoMeterBuilding): NonNullable<Batch['points']> {
  return building.points.map((p) => ({
    id: `meters.${p.id}`,
    name: p.name,
    unit: p.unit,
    kind: 'number' as const,
    tags: [...p.tags],
    source: {
      plugin: 'modbus',
      device: 'meters',
      address: { table: p.sim.table, address: p.sim.address, type: p.sim.type, ...(p.sim.order ? { order: p.sim.order } : {}) },
    },
    intervalMs: DEMO_METER_INTERVAL_MS,
  }));
}

/** A plant device's points as its gateway announces them. */
function announcedPlant(device: DemoPlantDevice): NonNullable<Batch['points']> {
  return device.points.map((p) => ({
    id: `${device.device}.${p.id}`,
    name: p.name ?? p.id,
    ...(p.unit ? { unit: p.unit } : {}),
    kind: p.kind ?? 'number',
    tags: [...p.tags],
    source: { plugin: device.plugin, device: device.device, address: p.address },
    intervalMs: DEMO_PLANT_INTERVAL_MS,
  }));
}

/** What a plant point plausibly read at `t`, from its tags: running in opening hours, heating with the cold. */
function plantValue(point: DemoPlantDevice['points'][number], t: number): number | boolean | string {
  const tags = new Set(point.tags);
  const date = new Date(t);
  const open = date.getUTCDay() % 6 !== 0 && date.getUTCHours() >= 7 && date.getUTCHours() < 19;
  const heating = Math.max(0, Math.min(1, (16 - outdoor(t)) / 14));
  if (point.kind === 'boolean') return !tags.has('occupied') && open;
  if (point.kind === 'string') return tags.has('status') ? 'OK' : '2025-01-01T00:00:00Z';
  const round = (v: number) => Math.round(v * 10) / 10;
  if (tags.has('temp')) {
    if (tags.has('sp')) return 19;
    if (tags.has('water')) return round(45 + 25 * heating);
    if (tags.has('return')) return round(21 + 0.5 * Math.sin(t / HOUR));
    return round(open ? 19 + 0.3 * Math.sin(t / HOUR) : 16);
  }
  if (tags.has('speed')) return open ? 70 : 0;
  if (tags.has('valve')) return round(100 * heating);
  if (tags.has('mode')) return open ? 1 : 2;
  if (tags.has('current')) return round(open ? 40 : 12);
  if (tags.has('power')) return round((tags.has('boiler') ? 150 * heating : tags.has('reactive') ? 8 : 30) * (open ? 1 : 0.3));
  return 0;
}

/** Outdoor air temperature (°C) near Paris: a seasonal swing, a daily one, and some weather. */
function outdoor(t: number): number {
  const day = t / DAY;
  const season = 11.5 - 7.5 * Math.cos((2 * Math.PI * (day - 15)) / 365.25);
  const daily = -3 * Math.cos((2 * Math.PI * (((t / HOUR) % 24) - 4)) / 24);
  const weather = 3 * Math.sin(day / 3.1) + 2 * Math.sin(day / 7.7);
  return season + daily + weather;
}

/**
 * The demo's two projects (hub/demo/projects.yaml): before its works end, a building's meter
 * counted this much more than its simulator counts today. The school's LED relamping (its
 * electricity, works ended March 2025) and the town hall's new boiler (its heat, works ended
 * August 2025): their savings have more than a year of history after the works.
 */
export const DEMO_PROJECT_STEPS: readonly { building: string; point: string; before: number; factor: number }[] = [
  { building: 'school', point: 'elec-energy', before: Date.UTC(2025, 3, 1), factor: 1.25 },
  { building: 'town-hall', point: 'heat-energy', before: Date.UTC(2025, 8, 1), factor: 1.2 },
];

/** Energy a meter counts between `from` and `to`, integrated hour by hour (day by day when long). */
function consumption(pointId: string, peakPerHour: number, from: number, to: number, building?: string): number {
  const works = DEMO_PROJECT_STEPS.find((s) => s.building === building && s.point === pointId);
  if (works && from < works.before) {
    if (to <= works.before) return works.factor * consumption(pointId, peakPerHour, from, to);
    return works.factor * consumption(pointId, peakPerHour, from, works.before) + consumption(pointId, peakPerHour, works.before, to);
  }
  const step = to - from > 2 * DAY ? DAY : HOUR;
  let total = 0;
  for (let t = from; t < to; t += step) {
    const hours = Math.min(step, to - t) / HOUR;
    const yearFactor = 1 + 0.05 * (2026 - new Date(t).getUTCFullYear());
    const heating = Math.max(0, Math.min(1, (16 - outdoor(t)) / 14));
    const date = new Date(t);
    const open = date.getUTCDay() % 6 !== 0 && date.getUTCHours() >= 7 && date.getUTCHours() < 19;
    // Days averaged as a whole: 12 open hours on 5 days of 7.
    const occupancy = step === DAY ? 0.3 + 0.7 * (12 / 24) * (5 / 7) : open ? 1 : 0.3;
    const rate = pointId.startsWith('heat') || pointId.startsWith('gas') ? peakPerHour * heating * (0.6 + 0.4 * occupancy) : peakPerHour * occupancy * 0.6;
    total += rate * yearFactor * hours;
  }
  return total;
}

/** Sources of the demo's service data: the town hall's reception desk, switchboard and mail room. */
const DEMO_SOURCES = [
  { key: 'demo-reception', name: 'Town hall reception desk (demo)' },
  { key: 'demo-switchboard', name: 'Town hall switchboard (demo)' },
  { key: 'demo-mail', name: 'Town hall mail room (demo)' },
] as const;

/**
 * A year of the town hall's service data up to yesterday, as its agents would have submitted
 * it: visitors and mean waiting time each opening day, calls offered and answered, mail received
 * and answered within 15 days each month. Waiting times lengthen in September (school
 * registrations) and in the weeks before the holidays. Written once: false when already there.
 */
export async function backfillDemoServiceData(serviceData: ServiceData, timezone: string, now = Date.now()): Promise<boolean> {
  const existing = await serviceData.current({ metrics: ['visitors'], scopes: ['building:town-hall'], from: new Date(now - 400 * DAY), to: new Date(now) });
  if (existing.length) return false;
  for (const s of DEMO_SOURCES) await serviceData.defineSource(s.key, s.name);
  const local = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' });
  const values: ServiceValueInput[] = [];
  const scope = 'building:town-hall';
  for (let t = now - 365 * DAY; t < now - DAY; t += DAY) {
    const parts = Object.fromEntries(local.formatToParts(t).map((p) => [p.type, p.value]));
    if (parts.weekday === 'Sun') continue;
    const day = `${parts.year}-${parts.month}-${parts.day}`;
    const month = Number(parts.month);
    const n = Number(parts.day);
    const wave = Math.sin(t / (5.3 * DAY)) + Math.sin(t / (2.1 * DAY));
    const busy = month === 9 ? 1.5 : month === 12 || month === 6 ? 1.2 : 1;
    const saturday = parts.weekday === 'Sat';
    values.push(
      { source: 'demo-reception', metric: 'visitors', scope, period: day, value: Math.round((saturday ? 45 : 110) * busy + 12 * wave) },
      {
        source: 'demo-reception',
        metric: 'reception.wait_minutes',
        scope,
        period: day,
        value: Math.round((7.5 * busy + 1.8 * wave + (n % 7 === 1 ? 2 : 0)) * 10) / 10,
      },
    );
    if (!saturday) {
      const offered = Math.round(190 * busy + 20 * wave);
      values.push(
        { source: 'demo-switchboard', metric: 'calls.offered', scope, period: day, value: offered },
        { source: 'demo-switchboard', metric: 'calls.answered', scope, period: day, value: Math.round(offered * (0.93 - 0.05 * (busy - 1) + 0.01 * wave)) },
      );
    }
    if (n === 28) {
      const received = Math.round(420 * busy + 30 * wave);
      const monthKey = `${parts.year}-${parts.month}`;
      values.push(
        { source: 'demo-mail', metric: 'mail.received', scope, period: monthKey, value: received },
        { source: 'demo-mail', metric: 'mail.answered_15d', scope, period: monthKey, value: Math.round(received * (0.96 - 0.04 * (busy - 1))) },
      );
    }
  }
  for (let i = 0; i < values.length; i += 1000) await serviceData.submit({ id: 'demo' }, values.slice(i, i + 1000));
  return true;
}
