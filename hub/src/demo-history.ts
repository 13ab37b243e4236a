import { demoBuildings, type DemoBuilding } from '@citypilot/protocol-modbus';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import type { ServiceData, ServiceValueInput } from './service-data/index.js';
import type { Storage } from './storage/storage.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** First day of the demo's history: a reference year for the tertiary decree and a few years after. */
const HISTORY_FROM = Date.UTC(2019, 0, 1);

/**
 * The demo buildings' past, so that objectives have baselines and trends on first start: hourly
 * readings of the meters and of the outdoor temperature for the last 365 days, daily readings
 * before that back to 2019. The meters end where the simulated devices start (their
 * `startValue`, chosen so that no reading back to 2019 is negative), so that live readings
 * continue the history. Consumption follows the season
 * (heating with the cold), the hour and the weekday, and falls by about 5 % a year (the
 * buildings' energy plan). Written once: returns false when the history is there already.
 */
export async function backfillDemoHistory(storage: Storage, now = Date.now()): Promise<boolean> {
  const end = now - (now % HOUR);
  const hourlyFrom = end - 365 * DAY;
  const { rows } = await storage.pool.query(
    `SELECT 1 FROM samples s JOIN points p ON p.id = s.point_id WHERE p.gateway_id = $1 AND s.time < $2 LIMIT 1`,
    [demoBuildings[0]!.id, new Date(hourlyFrom + DAY)],
  );
  if (rows.length) return false;
  let seq = 0;
  for (const building of demoBuildings) {
    const times: number[] = [];
    for (let t = HISTORY_FROM; t < hourlyFrom; t += DAY) times.push(t);
    for (let t = hourlyFrom; t < end; t += HOUR) times.push(t);
    const samples: Sample[] = [];
    for (const point of building.points) {
      const behaviour = point.sim.behaviour;
      if (behaviour.kind === 'meter') {
        // Consumption between consecutive readings, then readings counted back from the start value.
        const use = times.map((t, i) => (i === 0 ? 0 : consumption(point.id, behaviour.kWhPerHour, times[i - 1]!, t)));
        let reading = behaviour.startValue - consumption(point.id, behaviour.kWhPerHour, times.at(-1)!, now);
        const readings = new Array<number>(times.length);
        for (let i = times.length - 1; i >= 0; i--) {
          readings[i] = Math.round(reading * 100) / 100;
          reading -= use[i]!;
        }
        times.forEach((t, i) => samples.push({ point: `meters.${point.id}`, time: t, value: readings[i]!, quality: 'good' }));
      } else if (point.id === 'outdoor-temp') {
        // A daily reading stands for its day: the day's mean, not the cold of midnight.
        const value = (t: number) => (t < hourlyFrom ? Array.from({ length: 24 }, (_, h) => outdoor(t + h * HOUR)).reduce((a, b) => a + b) / 24 : outdoor(t));
        for (const t of times) samples.push({ point: `meters.${point.id}`, time: t, value: Math.round(value(t) * 10) / 10, quality: 'good' });
      }
    }
    samples.sort((a, b) => a.time - b.time);
    for (let i = 0; i < samples.length; i += 50_000) {
      const batch: Batch = { v: BATCH_VERSION, gateway: building.id, seq: ++seq, createdAt: now, samples: samples.slice(i, i + 50_000) };
      if (i === 0) Object.assign(batch, { building: building.id, points: announced(building) });
      await storage.writeBatches([batch]);
    }
  }
  return true;
}

/** The points the demo gateway announces, as it announces them. */
function announced(building: DemoBuilding): NonNullable<Batch['points']> {
  return building.points.map((p) => ({
    id: `meters.${p.id}`,
    name: p.name,
    unit: p.unit,
    kind: 'number' as const,
    tags: p.tags,
    source: { plugin: 'modbus', device: 'meters', address: { table: p.sim.table, address: p.sim.address, type: p.sim.type, ...(p.sim.order ? { order: p.sim.order } : {}) } },
    intervalMs: 5000,
  }));
}

/** Outdoor air temperature (°C) near Paris: a seasonal swing, a daily one, and some weather. */
function outdoor(t: number): number {
  const day = t / DAY;
  const season = 11.5 - 7.5 * Math.cos((2 * Math.PI * (day - 15)) / 365.25);
  const daily = -3 * Math.cos((2 * Math.PI * ((t / HOUR) % 24 - 4)) / 24);
  const weather = 3 * Math.sin(day / 3.1) + 2 * Math.sin(day / 7.7);
  return season + daily + weather;
}

/** Energy a meter counts between `from` and `to`, integrated hour by hour (day by day when long). */
function consumption(pointId: string, peakPerHour: number, from: number, to: number): number {
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
      { source: 'demo-reception', metric: 'reception.wait_minutes', scope, period: day, value: Math.round((7.5 * busy + 1.8 * wave + (n % 7 === 1 ? 2 : 0)) * 10) / 10 },
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
