import { demoBuildings, type DemoBuilding } from '@citypilot/protocol-modbus';
import { BATCH_VERSION, type Batch, type Sample } from '@citypilot/sdk';
import type { Storage } from './storage/storage.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** First day of the demo's history: a reference year for the tertiary decree and a few years after. */
const HISTORY_FROM = Date.UTC(2019, 0, 1);

/**
 * The demo buildings' past, so that objectives have baselines and trends on first start: hourly
 * readings of the meters and of the outdoor temperature for the last 365 days, daily readings
 * before that back to 2019. The meters end where the simulated devices start (their
 * `startValue`), so that live readings continue the history. Consumption follows the season
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
        for (const t of times) samples.push({ point: `meters.${point.id}`, time: t, value: Math.round(outdoor(t) * 10) / 10, quality: 'good' });
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
