import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { importCatalog } from '../storage/catalog.js';
import { migrate } from '../storage/migrations.js';
import { createTestDatabase } from '../testing/index.js';
import { ServiceDataError, type ServiceValue } from './model.js';
import { ServiceData } from './service-data.js';

const agent = { id: 'token-agent-1' };
const demoFolder = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'demo', 'service-data');

/** The error a call was expected to fail with. */
async function failure(promise: Promise<unknown>): Promise<ServiceDataError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof ServiceDataError)) throw new Error(`expected a ServiceDataError, got ${String(outcome)}`);
  return outcome;
}

/** The fields of a value that say what it is, without provenance times. */
const brief = (v: ServiceValue) => [v.metric, v.scope, v.period, v.value];

describe('service data on a real PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let data: ServiceData;
  const count = async () => Number((await pool.query('SELECT count(*) FROM service_values')).rows[0].count);
  /** The current values a file stored, by row and metric. */
  const fromFile = async (file: string) =>
    (await data.current()).filter((v) => v.file === file).sort((a, b) => a.row! - b.row! || a.metric.localeCompare(b.metric));

  beforeAll(async () => {
    db = await createTestDatabase(inject('adminDatabaseUrl'), 'service_data');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const client = await pool.connect();
    try {
      await migrate(client, { timescale: false, timezone: 'Europe/Paris' });
    } finally {
      client.release();
    }
    data = await ServiceData.open(pool);
    await importCatalog(pool, {
      organisation: { id: 'ville', name: 'Ville' },
      sites: [{ id: 'centre', name: 'Centre', buildings: [{ id: 'town-hall', name: 'Hôtel de ville', usage: 'town-hall', area: 3000 }] }],
    });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE service_values, service_sources');
    await data.defineSource('reception-town-hall', 'Accueil de la mairie');
    await data.defineSource('calls-town-hall', 'Standard de la mairie');
  });

  it('takes the time zone of the database, the one its rollups are cut in', () => {
    expect(data.timezone).toBe('Europe/Paris');
  });

  it('keeps the good rows of a CSV file and reports each bad one by row and column, writing nothing of it', async () => {
    const csv = [
      'date;visitors;wait_minutes',
      '01/09/2026;120;12,5',
      '02/09/2026;98;douze', // the visitors of this row are not stored either
      '03/09/2026;"105";9',
      '31/09/2026;80;7',
      '04/09/2026;77',
      '',
      '2026-09-05;;11',
      '2026-09-06T10:00;50;3',
      '01/09/2026;1;1',
    ].join('\r\n');
    const result = await data.importCsv(agent, 'reception-town-hall', 'accueil-septembre.csv', csv, {
      mapping: { period: 'date', scope: 'building:town-hall', columns: { visitors: 'visitors', wait_minutes: 'reception.wait_minutes' } },
    });
    expect(result.errors).toEqual([
      { row: 3, column: 'wait_minutes', message: 'row 3, column "wait_minutes": "douze" is not a number' },
      { row: 5, column: 'date', message: 'row 5, column "date": "31/09/2026" is not a date' },
      { row: 6, message: 'row 6: 2 fields where the header has 3' },
      {
        row: 9,
        column: 'date',
        message:
          'row 9, column "date": "2026-09-06T10:00" has no UTC offset: write a time as 2026-10-25T14:30:00+01:00 (or with Z for UTC), or give a day or a month',
      },
      { row: 10, column: 'visitors', message: 'row 10, column "visitors": visitors for building:town-hall in 01/09/2026 is already given on row 2' },
      {
        row: 10,
        column: 'wait_minutes',
        message: 'row 10, column "wait_minutes": reception.wait_minutes for building:town-hall in 01/09/2026 is already given on row 2',
      },
    ]);
    expect(result).toMatchObject({ rows: 8, delimiter: ';', stored: 5, superseded: 0, unchanged: 0, rowsInError: 5, errorCount: 6 });
    const stored = await fromFile('accueil-septembre.csv');
    expect(stored.map((v) => [v.row, ...brief(v)])).toEqual([
      [2, 'reception.wait_minutes', 'building:town-hall', '2026-09-01', 12.5],
      [2, 'visitors', 'building:town-hall', '2026-09-01', 120],
      [4, 'reception.wait_minutes', 'building:town-hall', '2026-09-03', 9],
      [4, 'visitors', 'building:town-hall', '2026-09-03', 105],
      // An empty cell of a wide table is no value, not an error.
      [8, 'reception.wait_minutes', 'building:town-hall', '2026-09-05', 11],
    ]);
    expect(stored[0]).toMatchObject({
      source: 'reception-town-hall',
      granularity: 'day',
      start: '2026-08-31T22:00:00.000Z',
      submittedBy: 'token-agent-1',
      via: 'csv',
      file: 'accueil-septembre.csv',
      supersededAt: null,
    });
    expect(await count()).toBe(5);
  });

  it('reads a long table separated by commas, with quoted fields and a scope and metric per row', async () => {
    const csv = [
      'month,where,metric,value,comment',
      '2026-09,building:town-hall,calls.offered,1520,',
      '2026-09,building:town-hall,calls.answered,1402,"busy, two agents off"',
      '"2026-09","site:centre","calls.offered","88","multi-line',
      'comment"',
      '10/2026,city,Calls,3,',
      '10/2026,town hall,calls.offered,3,',
    ].join('\n');
    const result = await data.importCsv(agent, 'calls-town-hall', 'appels.csv', csv, {
      mapping: { period: 'month', scopeColumn: 'where', metricColumn: 'metric', valueColumn: 'value' },
    });
    expect(result.delimiter).toBe(',');
    const stored = await fromFile('appels.csv');
    expect(stored.map((v) => [v.row, v.granularity, ...brief(v)])).toEqual([
      [2, 'month', 'calls.offered', 'building:town-hall', '2026-09', 1520],
      [3, 'month', 'calls.answered', 'building:town-hall', '2026-09', 1402],
      [4, 'month', 'calls.offered', 'site:centre', '2026-09', 88],
    ]);
    expect(result.errors.map((e) => e.message)).toEqual([
      'row 5, column "metric": "Calls" is not a metric: lowercase letters, digits and _, in parts separated by dots (such as calls.answered), at most 100 characters',
      'row 6, column "where": "town hall" is not a scope: city, site:<site id> or building:<building id> (such as building:town-hall)',
    ]);
    // The month starts at local midnight of the 1st: 22:00 UTC the day before in summer time.
    expect(stored[0]!.start).toBe('2026-08-31T22:00:00.000Z');
  });

  it('saves a mapping when asked and uses it for the next file of the source', async () => {
    const mapping = { period: 'jour', scope: 'building:town-hall', columns: { visiteurs: 'visitors' } };
    const first = await data.importCsv(agent, 'reception-town-hall', 'a.csv', 'jour;visiteurs\n2026-10-01;10\n', { mapping, saveMapping: true });
    expect(first.mappingSaved).toBe(true);
    expect((await data.source('reception-town-hall'))!.mapping).toEqual(mapping);
    const next = await data.importCsv(agent, 'reception-town-hall', 'b.csv', 'jour;visiteurs\n2026-10-02;12\n');
    expect(next.errors).toEqual([]);
    expect((await fromFile('b.csv')).map(brief)).toEqual([['visitors', 'building:town-hall', '2026-10-02', 12]]);
    // A mapping given without saveMapping is used once and not saved.
    await data.importCsv(agent, 'reception-town-hall', 'c.csv', 'day,n\n2026-10-03,1\n', {
      mapping: { period: 'day', scope: 'city', columns: { n: 'visitors' } },
    });
    expect((await data.source('reception-town-hall'))!.mapping).toEqual(mapping);
  });

  it.each([
    ['an empty file', '\uFEFF  \n', 'the file is empty; nothing was imported'],
    ['a header only', 'jour;visiteurs\n\n', 'the file has a header but no data rows; nothing was imported'],
    [
      'a header missing a mapped column',
      'date;visiteurs\n2026-10-01;3\n',
      'the header has no column "jour", which the mapping gives for the period (the header, split at ";", is: "date" ; "visiteurs"); nothing was imported',
    ],
    ['a quote never closed', 'jour;visiteurs\n2026-10-01;"3\n', /^the file cannot be read as CSV: Quote Not Closed/],
  ])('refuses %s whole, with the reason, and stores nothing', async (_what, csv, reason) => {
    await data.setMapping('reception-town-hall', { period: 'jour', scope: 'city', columns: { visiteurs: 'visitors' } });
    const error = await failure(data.importCsv(agent, 'reception-town-hall', 'f.csv', csv));
    expect(error.code).toBe('CSV_FILE_REFUSED');
    expect(error.message).toMatch(reason);
    expect(await count()).toBe(0);
  });

  it('refuses a mapping with unknown settings or no place for the values, a source without mapping, an unknown source', async () => {
    const attempt = async (promise: Promise<unknown>) => failure(promise).then((e) => [e.code, e.message]);
    expect(await attempt(data.importCsv(agent, 'reception-town-hall', 'f.csv', 'a\n1\n'))).toEqual([
      'CSV_FILE_REFUSED',
      'the source "reception-town-hall" has no saved mapping: give the mapping of this file; nothing was imported',
    ]);
    expect(
      await attempt(
        data.importCsv(agent, 'reception-town-hall', 'f.csv', 'a\n1\n', { mapping: { period: 'a', scope: 'city', columns: { a: 'x' }, sheet: 2 } }),
      ),
    ).toEqual(['SERVICE_SOURCE_INVALID', 'mapping.sheet: is not a known setting (check its spelling and indentation)']);
    expect(await attempt(data.setMapping('reception-town-hall', { period: 'a', scope: 'city' }))).toEqual([
      'SERVICE_SOURCE_INVALID',
      'mapping: give either columns (a column per metric) or valueColumn with metric or metricColumn (a value per row)',
    ]);
    expect(await attempt(data.importCsv(agent, 'parking', 'f.csv', 'a\n1\n'))).toEqual([
      'SERVICE_SOURCE_UNKNOWN',
      'source: no source "parking" is defined (an operator defines sources)',
    ]);
    expect(await count()).toBe(0);
  });

  it('rejects a submission with bad values whole, saying which and why', async () => {
    const good = { source: 'calls-town-hall', metric: 'calls.offered', scope: 'building:town-hall', period: '2026-10', value: 1500 };
    const error = await failure(
      data.submit(agent, [
        good,
        { ...good, metric: 'Calls offered', value: Number.NaN },
        { ...good, period: '2026-02-30', scope: 'town-hall' },
        { ...good, value: '12' as unknown as number },
        { ...good, source: 'nobody' },
        { ...good, period: '2026-10' },
      ]),
    );
    expect(error.code).toBe('SERVICE_VALUES_INVALID');
    expect(error.message.split('\n')).toEqual([
      'values[1].metric: "Calls offered" is not a metric: lowercase letters, digits and _, in parts separated by dots (such as calls.answered), at most 100 characters',
      'values[1].value: NaN is not a finite number',
      'values[2].scope: "town-hall" is not a scope: city, site:<site id> or building:<building id> (such as building:town-hall)',
      'values[2].period: "2026-02-30" is not a date',
      'values[3].value: "12" is not a number',
      'values[5]: the same source, metric, scope and period as values[0]: give each value once',
    ]);
    const unknown = await failure(data.submit(agent, [{ ...good, source: 'nobody' }]));
    expect([unknown.code, unknown.message]).toEqual([
      'SERVICE_SOURCE_UNKNOWN',
      'values[0].source: no source "nobody" is defined (an operator defines sources)',
    ]);
    expect(await count()).toBe(0);
  });

  it('keeps the previous version when a value is corrected, and reads only the current one', async () => {
    const value = { source: 'reception-town-hall', metric: 'reception.wait_minutes', scope: 'building:town-hall', period: '2026-10-12', value: 14 };
    const first = await data.submit(agent, [value]);
    expect(first.stored.map(brief)).toEqual([['reception.wait_minutes', 'building:town-hall', '2026-10-12', 14]]);
    const same = await data.submit({ id: 'token-agent-2' }, [value]);
    expect(same).toMatchObject({ stored: [], superseded: [], unchanged: [{ value: 14, submittedBy: 'token-agent-1' }] });

    const csv = 'date;attente\n12/10/2026;11,5\n';
    const correction = await data.importCsv({ id: 'token-agent-2' }, 'reception-town-hall', 'correction.csv', csv, {
      mapping: { period: 'date', scope: 'building:town-hall', columns: { attente: 'reception.wait_minutes' } },
    });
    expect(correction).toMatchObject({ stored: 1, superseded: 1, unchanged: 0 });
    const [old, corrected] = await data.history('reception-town-hall', 'reception.wait_minutes', 'building:town-hall', '2026-10-12');
    expect(corrected).toMatchObject({ value: 11.5, submittedBy: 'token-agent-2', via: 'csv', file: 'correction.csv', row: 2, supersededAt: null });
    expect(old).toMatchObject({ value: 14, submittedBy: 'token-agent-1', via: 'api', file: null, row: null });
    expect(old!.supersededAt).toBe(corrected!.submittedAt);

    expect((await data.current({ metrics: ['reception.wait_minutes'] })).map(brief)).toEqual([
      ['reception.wait_minutes', 'building:town-hall', '2026-10-12', 11.5],
    ]);
    const history = await data.history('reception-town-hall', 'reception.wait_minutes', 'building:town-hall', '2026-10-12');
    expect(history.map((v) => [v.value, v.submittedBy, v.via, v.file, v.row, v.supersededAt === null])).toEqual([
      [14, 'token-agent-1', 'api', null, null, false],
      [11.5, 'token-agent-2', 'csv', 'correction.csv', 2, true],
    ]);
    expect(await count()).toBe(2);
  });

  it('serialises concurrent corrections of one value: each supersedes the one stored before it', async () => {
    const value = { source: 'reception-town-hall', metric: 'visitors', scope: 'building:town-hall', period: '2026-10-13' };
    await Promise.all([1, 2, 3, 4].map((n) => data.submit({ id: `agent-${n}` }, [{ ...value, value: n }])));
    const history = await data.history(value.source, value.metric, value.scope, value.period);
    expect(history).toHaveLength(4);
    expect(history.filter((v) => v.supersededAt === null)).toHaveLength(1);
    expect(new Set(history.map((v) => v.value))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('keeps an instantaneous value at its exact time, whatever the offset it was written with', async () => {
    const base = { source: 'reception-town-hall', metric: 'parking.occupied', scope: 'site:centre' };
    await data.submit(agent, [{ ...base, period: '2026-10-25T02:30:00+02:00', value: 40 }]);
    const { stored, superseded } = await data.submit(agent, [{ ...base, period: '2026-10-25T00:30:00Z', value: 41 }]);
    expect(stored.map((v) => [v.granularity, v.period, v.start])).toEqual([['instant', '2026-10-25T00:30:00.000Z', '2026-10-25T00:30:00.000Z']]);
    expect(superseded.map((v) => v.value)).toEqual([40]);
  });

  it('aggregates current values per local month and day across the October 2026 change to winter time', async () => {
    const base = { source: 'calls-town-hall', scope: 'building:town-hall' };
    const days = Array.from({ length: 31 }, (_, i) => ({
      ...base,
      metric: 'calls.offered',
      period: `2026-10-${String(i + 1).padStart(2, '0')}`,
      value: i + 1,
    }));
    await data.submit(agent, [
      ...days,
      { ...base, metric: 'calls.offered', period: '2026-11-01', value: 100 },
      // 23:30 on 31 October in Paris (UTC+1 since the 25th): October.
      { ...base, metric: 'calls.offered', period: '2026-10-31T23:30:00+01:00', value: 1000 },
      // 23:30 UTC on 31 October is 00:30 on 1 November in Paris: November.
      { ...base, metric: 'calls.offered', period: '2026-10-31T23:30:00Z', value: 2000 },
      // A monthly value: in its month, left out of days.
      { ...base, metric: 'calls.answered', period: '2026-10', value: 400 },
      { ...base, scope: 'building:school', metric: 'calls.offered', period: '2026-10-15', value: 7 },
    ]);
    // A correction: only the current value counts.
    await data.submit(agent, [{ ...base, metric: 'calls.offered', period: '2026-10-31', value: 131 }]);

    const months = await data.aggregate({
      metrics: ['calls.offered', 'calls.answered'],
      scopes: ['building:town-hall'],
      from: '2026-10',
      to: '2026-12',
      step: 'month',
    });
    const octoberSum = (31 * 32) / 2 - 31 + 131 + 1000;
    expect(months).toEqual([
      { metric: 'calls.answered', scope: 'building:town-hall', bucket: '2026-10-01T00:00:00+02:00', sum: 400, avg: 400, min: 400, max: 400, count: 1 },
      {
        metric: 'calls.offered',
        scope: 'building:town-hall',
        bucket: '2026-10-01T00:00:00+02:00',
        sum: octoberSum,
        avg: octoberSum / 32,
        min: 1,
        max: 1000,
        count: 32,
      },
      { metric: 'calls.offered', scope: 'building:town-hall', bucket: '2026-11-01T00:00:00+01:00', sum: 2100, avg: 1050, min: 100, max: 2000, count: 2 },
    ]);

    const around = await data.aggregate({
      metrics: ['calls.offered', 'calls.answered'],
      from: '2026-10-24',
      to: '2026-10-27',
      step: 'day',
      timezone: 'Europe/Paris',
    });
    expect(around.map((r) => [r.scope, r.bucket, r.sum])).toEqual([
      ['building:town-hall', '2026-10-24T00:00:00+02:00', 24],
      ['building:town-hall', '2026-10-25T00:00:00+02:00', 25],
      ['building:town-hall', '2026-10-26T00:00:00+01:00', 26],
    ]);

    // Every scope when none is given; another time zone cuts other months.
    const utc = await data.aggregate({
      metrics: ['calls.offered'],
      from: new Date('2026-10-01T00:00:00Z'),
      to: Date.UTC(2026, 11, 1),
      step: 'month',
      timezone: 'UTC',
    });
    expect(utc.map((r) => [r.scope, r.bucket, r.count])).toEqual([
      ['building:school', '2026-10-01T00:00:00+00:00', 1],
      // The day of 1 October starts at 22:00 UTC on 30 September, before the range; the day of
      // 1 November at 23:00 UTC on 31 October, and 23:30 UTC is still October: 30 + 1 + 2.
      ['building:town-hall', '2026-10-01T00:00:00+00:00', 33],
    ]);

    const bad = await failure(data.aggregate({ metrics: ['calls.offered'], from: '2026-10', to: '2026-11', step: 'month', timezone: 'Mars/Olympus' }));
    expect([bad.code, bad.message]).toEqual(['SERVICE_QUERY_INVALID', 'timezone: "Mars/Olympus" is not a time zone PostgreSQL knows (such as Europe/Paris)']);
    const badArgs = await failure(data.aggregate({ metrics: [], from: 'yesterday', to: '2026-11', step: 'week' as 'day' }));
    expect(badArgs.message.split('\n')).toEqual([
      'metrics: expected a list of at least one metric',
      'step: expected "day" or "month", got "week"',
      'from: "yesterday" is not a period: expected a month 2026-10, a day 2026-10-25, or a time with its UTC offset 2026-10-25T14:30:00+01:00',
    ]);
  });

  it('reads current values by metric, scope, source and period', async () => {
    const base = { source: 'reception-town-hall', scope: 'building:town-hall' };
    await data.submit(agent, [
      { ...base, metric: 'visitors', period: '2026-09-30', value: 1 },
      { ...base, metric: 'visitors', period: '2026-10-01', value: 2 },
      { ...base, metric: 'visitors', period: '2026-10', value: 3 },
      { ...base, scope: 'city', metric: 'visitors', period: '2026-10-02', value: 4 },
      { ...base, metric: 'reception.wait_minutes', period: '2026-10-01', value: 5 },
    ]);
    const values = await data.current({ metrics: ['visitors'], scopes: ['building:town-hall'], from: '2026-10', to: '2026-11-01' });
    // Both start at local midnight on 1 October: the day comes first.
    expect(values.map((v) => [v.period, v.value])).toEqual([
      ['2026-10-01', 2],
      ['2026-10', 3],
    ]);
    expect((await data.current({ sources: ['calls-town-hall'] })).length).toBe(0);
    expect((await data.current({ limit: 2 })).length).toBe(2);
  });

  it('imports the demo city sample files without a single error', async () => {
    for (const source of ['reception-town-hall', 'calls-town-hall']) {
      const mapping = JSON.parse(readFileSync(join(demoFolder, `${source}.mapping.json`), 'utf8'));
      const csv = readFileSync(join(demoFolder, `${source}.csv`), 'utf8');
      const result = await data.importCsv(agent, source, `${source}.csv`, csv, { mapping, saveMapping: true });
      expect(result.errors).toEqual([]);
      expect(result.stored).toBeGreaterThan(50);
    }
  });
});
