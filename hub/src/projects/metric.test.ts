import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localMonth } from '../objectives/objectives.js';
import { serviceDataReader } from '../objectives/data.js';
import { ServiceData } from '../service-data/index.js';
import { importCatalog } from '../storage/catalog.js';
import { Storage } from '../storage/storage.js';
import { createTestDatabase } from '../testing/index.js';
import { addMonths, evaluateProjects } from './evaluate.js';
import { Projects } from './store.js';

/**
 * A project that saves no energy, measured on the service data it should move: online booking at
 * the town hall's reception, judged on the mean waiting time before and after (lower is better),
 * on real PostgreSQL with the service data stored as agents submit it.
 *
 * Known answer: each month's days all have the same waiting time, 12 + (−1, 0, +1 in turn)
 * minutes in the 12 months before the works and 8 + the same after, so that the months' means
 * are 12 and 8 minutes exactly: a change of −4 minutes (−33.3 %), improved.
 */
const TZ = 'Europe/Paris';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const daysIn = (month: string) => new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5)), 0)).getUTCDate();

describe('a project measured on a service metric', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let storage: Storage;
  let serviceData: ServiceData;
  const current = localMonth(new Date(), TZ);
  // Works in one month, 13 months ago: 12 whole months after them, 12 before.
  const works = addMonths(current, -13);
  const before = Array.from({ length: 12 }, (_, i) => addMonths(works, i - 12));
  const after = Array.from({ length: 12 }, (_, i) => addMonths(works, i + 1));

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'projects_metric');
    storage = await Storage.open({ databaseUrl: db.url, logger: quiet, timescale: 'off' });
    await importCatalog(storage.pool, {
      organisation: { id: 'city', name: 'City' },
      sites: [{ id: 'centre', name: 'Centre', buildings: [{ id: 'town-hall', name: 'Town hall', usage: 'town-hall', area: 4000 }] }],
    });
    serviceData = await ServiceData.open(storage.pool);
    await serviceData.defineSource('reception', 'Reception desk');
    const values = [...before.map((m, i) => [m, 12 + ((i % 3) - 1)] as const), ...after.map((m, i) => [m, 8 + ((i % 3) - 1)] as const)].flatMap(
      ([month, minutes]) =>
        Array.from({ length: daysIn(month) }, (_, d) => ({
          source: 'reception',
          metric: 'reception.wait_minutes',
          scope: 'building:town-hall',
          period: `${month}-${String(d + 1).padStart(2, '0')}`,
          value: minutes,
        })),
    );
    // Besides, a month of the works with a value neither side may count.
    values.push({ source: 'reception', metric: 'reception.wait_minutes', scope: 'building:town-hall', period: `${works}-15`, value: 100 });
    await serviceData.submit({ id: 'account:agent' }, values);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('compares the months before the works with the months after, the works left out', async () => {
    const projects = new Projects(storage.pool);
    const { project } = await projects.define(
      {
        key: 'online-booking',
        title: { fr: 'Prise de rendez-vous en ligne', en: 'Online booking' },
        theme: 'reception',
        scope: 'building:town-hall',
        dates: { worksStart: `${works}-01`, worksEnd: `${works}-${daysIn(works)}` },
        costs: { investment: 15_000, yearlyRunningCost: 3_000, subsidies: [] },
        metric: { key: 'reception.wait_minutes', better: 'lower' },
        owner: 'Reception',
        published: true,
      },
      'test',
    );
    const { projects: evaluated } = await evaluateProjects(
      storage.pool,
      [project],
      { tariffs: [], factors: [] },
      { timezone: TZ, discountRate: 0.04 },
      serviceDataReader(serviceData),
    );
    const booking = evaluated[0]!;
    expect(booking.kind).toBe('metric');
    expect(booking.baselinePeriod).toEqual({ from: before[0], to: before.at(-1) });
    expect(booking.reportingPeriod).toEqual({ from: after[0], to: after.at(-1) });
    expect(booking.metric).toMatchObject({ key: 'reception.wait_minutes', better: 'lower', comparison: { method: 'before-after', improved: true } });
    const comparison = booking.metric!.comparison;
    expect(comparison.before).toBeCloseTo(12, 9);
    expect(comparison.after).toBeCloseTo(8, 9);
    expect(comparison.change).toBeCloseTo(-4, 9);
    expect(comparison.changeFraction).toBeCloseTo(-4 / 12, 9);
    // No energy, no € return: said, not guessed.
    expect(booking.energies).toEqual([]);
    expect(booking.finance.yearlyNetSavings).toBeNull();
  });
});
