import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closedOrigin, recordingSleep, rejection } from '../api/testing.js';
import { addDays, dayStart } from '../local-time.js';
import { GRDF_PATHS, GRDF_STATUS } from './adict.js';
import { GrdfClient, GrdfError, type GrdfClientOptions } from './client.js';
import { GrdfSimulator, type GrdfSimulatorOptions, type SimulatedPce } from './simulator.js';

// The simulated GRDF's "today": data exist up to the day before. Paris changes its clocks on
// 2024-03-31 (a 23-hour day) and 2024-10-27 (a 25-hour day).
const TODAY = '2025-01-15';
const TZ = 'Europe/Paris';
const TOWN_HALL = '22423299474865';
const SCHOOL = 'GI123456';
const POOL = '09999999900617';
const CLIENT = { id: 'citypilot-test', secret: 's3cret-of-the-adict-application' };
const HOUR = 3_600_000;
// The client's clock: 10:00 in Paris on TODAY, so that its today is the simulator's.
const NOW = dayStart(TODAY, TZ) + 10 * HOUR;

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function simulator(options: Partial<GrdfSimulatorOptions> = {}, pces: SimulatedPce[] = [{ pce: TOWN_HALL }]): Promise<GrdfSimulator> {
  // Quotas high enough not to get in the way, unless a test sets its own.
  const s = await GrdfSimulator.start({ clients: [CLIENT], pces, today: () => TODAY, firstDay: '2022-01-01', quota: { perSecond: 1000 }, ...options });
  running.push(s);
  return s;
}

function client(s: { url: string }, options: Partial<GrdfClientOptions> = {}): GrdfClient {
  return new GrdfClient({
    baseUrl: s.url,
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    timezone: TZ,
    minIntervalMs: 0,
    baseDelayMs: 5,
    now: () => NOW,
    ...options,
  });
}

/** The error a promise rejects with. */
const failure = (promise: Promise<unknown>): Promise<GrdfError> => rejection(promise, GrdfError);

const dataRequests = (s: GrdfSimulator) => s.requests.filter((r) => r.path.endsWith('/donnees_consos_informatives'));

/** A line of a data answer, parsed, for a test to change. */
type AnswerLine = Record<string, unknown> & { pce: { id_pce: string }; consommation: Record<string, unknown> & { coeff_calcul: Record<string, unknown> } };

/** Rewrites the lines of the data answers: `change` gets them parsed and returns the text to send. */
function rewriteLines(s: GrdfSimulator, change: (lines: AnswerLine[]) => string): void {
  s.override((request, answer) => {
    if (!request.path.endsWith('/donnees_consos_informatives') || answer.status !== 200) return undefined;
    const lines = answer.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AnswerLine);
    return { ...answer, body: change(lines) };
  });
}
const joined = (lines: unknown[]) => lines.map((l) => `${JSON.stringify(l)}\n`).join('');

/** A token from the simulator, asked as GRDF's documentation shows. */
async function rawToken(s: GrdfSimulator): Promise<string> {
  const answer = await fetch(s.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.id, client_secret: CLIENT.secret, scope: '/adict/v2' }),
  });
  const body = (await answer.json()) as { access_token: string; token_type: string; expires_in: number };
  expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 14_399 });
  return body.access_token;
}

/** The simulator's answer to a data request, as it is. */
async function rawData(s: GrdfSimulator, pce: string, query: Record<string, string>, bearer: string) {
  const answer = await fetch(`${s.url}/pce/${pce}/donnees_consos_informatives?${new URLSearchParams(query)}`, {
    headers: { authorization: `Bearer ${bearer}` },
  });
  return { status: answer.status, type: answer.headers.get('content-type'), text: await answer.text() };
}

describe('GRDF ADICT client against the simulator', () => {
  it('pages 800 days in windows of at most 365, one after the other, and reads each gas day as its calendar day', async () => {
    const s = await simulator();
    const readings = await client(s).dailyConsumption(TOWN_HALL, '2022-06-01', '2024-08-10');
    expect(dataRequests(s).map((r) => [r.query.date_debut, r.query.date_fin, r.status])).toEqual([
      ['2022-06-01', '2023-06-01', 200],
      ['2023-06-01', '2024-05-31', 200],
      ['2024-05-31', '2024-08-10', 200],
    ]);
    expect(readings).toHaveLength(801);
    expect(readings[0]).toMatchObject({ start: dayStart('2022-06-01', TZ), end: dayStart('2022-06-02', TZ), quality: 'good' });
    expect(readings.at(-1)!.end).toBe(dayStart('2024-08-10', TZ));
    for (let i = 1; i < readings.length; i++) expect(readings[i]!.start).toBe(readings[i - 1]!.end);
    // The day clocks go forward is 23 hours long.
    const spring = readings.find((r) => r.start === dayStart('2024-03-31', TZ))!;
    expect(spring.end - spring.start).toBe(23 * HOUR);
    // A municipal building heated with gas: a cold weekday takes far more than a summer Sunday, a Sunday less than the weekday before.
    const on = (day: string) => readings.find((r) => r.start === dayStart(day, TZ))!.kWh;
    expect(on('2023-01-17')).toBeGreaterThan(on('2023-07-16') * 5);
    expect(on('2023-01-15')).toBeLessThan(on('2023-01-13'));
  });

  it("gives GRDF's energy with the volume and the month's coefficient, and m³ × coefficient when GRDF gives no energy", async () => {
    const s = await simulator({}, [{ pce: TOWN_HALL }, { pce: SCHOOL, withoutEnergy: true, peakM3: 120 }]);
    const c = client(s);
    for (const day of ['2024-07-02', '2024-12-02']) {
      const [hall] = await c.dailyConsumption(TOWN_HALL, day, addDays(day, 1));
      const expected = s.period(TOWN_HALL, day)!;
      expect(hall).toEqual({
        start: dayStart(day, TZ),
        end: dayStart(addDays(day, 1), TZ),
        kWh: expected.kWh,
        quality: 'good',
        volume: { m3: expected.m3, kWhPerM3: expected.kWhPerM3 },
      });
      expect(hall!.kWh).toBe(Math.round(expected.m3 * expected.kWhPerM3));
      const [school] = await c.dailyConsumption(SCHOOL, day, addDays(day, 1));
      const volume = s.period(SCHOOL, day)!;
      expect(school!.kWh).toBeCloseTo(volume.m3 * volume.kWhPerM3, 9);
      expect(school!.volume).toEqual({ m3: volume.m3, kWhPerM3: volume.kWhPerM3 });
    }
    // Each month its coefficient, within GRDF's range, the same for every day of the month.
    const july = await c.dailyConsumption(SCHOOL, '2024-07-01', '2024-07-08');
    const december = await c.dailyConsumption(SCHOOL, '2024-12-01', '2024-12-08');
    expect(new Set(july.map((r) => r.volume!.kWhPerM3)).size).toBe(1);
    expect(july[0]!.volume!.kWhPerM3).not.toBe(december[0]!.volume!.kWhPerM3);
    for (const r of [...july, ...december]) expect(r.volume!.kWhPerM3).toBeGreaterThanOrEqual(10.7);
    for (const r of [...july, ...december]) expect(r.volume!.kWhPerM3).toBeLessThanOrEqual(11.6);
  });

  it('reads a meter read monthly as whole months, the month not over yet absent', async () => {
    const s = await simulator({}, [{ pce: POOL, frequency: 'monthly' }]);
    const readings = await client(s).dailyConsumption(POOL, '2024-10-01', '2025-01-15');
    expect(readings.map((r) => [r.start, r.end])).toEqual(
      [
        ['2024-10-01', '2024-11-01'],
        ['2024-11-01', '2024-12-01'],
        ['2024-12-01', '2025-01-01'],
      ].map(([from, to]) => [dayStart(from!, TZ), dayStart(to!, TZ)]),
    );
    const november = s.period(POOL, '2024-11-01')!;
    expect(readings[1]).toMatchObject({ kWh: november.kWh, volume: { m3: november.m3, kWhPerM3: november.kWhPerM3 } });
    // The 25-hour day of October is in its month.
    expect(readings[0]!.end - readings[0]!.start).toBe((31 * 24 + 1) * HOUR);
  });

  it('leaves a withheld day out, and gives it once released', async () => {
    const s = await simulator();
    const c = client(s);
    s.withhold(TOWN_HALL, '2025-01-10');
    const before = await c.dailyConsumption(TOWN_HALL, '2025-01-08', '2025-01-12');
    expect(before.map((r) => r.start)).toEqual(['2025-01-08', '2025-01-09', '2025-01-11'].map((d) => dayStart(d, TZ)));
    // A window with nothing in it: GRDF's "no data" line (1000008), no reading and no error.
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-10', '2025-01-11')).toEqual([]);
    s.release(TOWN_HALL, '2025-01-10');
    const after = await c.dailyConsumption(TOWN_HALL, '2025-01-08', '2025-01-12');
    expect(after).toHaveLength(4);
    expect(after[2]).toMatchObject({ start: dayStart('2025-01-10', TZ), kWh: s.period(TOWN_HALL, '2025-01-10')!.kWh });
  });

  it('answers the new value of a corrected day, the day beside it unchanged', async () => {
    const s = await simulator();
    const c = client(s);
    const [day, next] = await c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-08');
    s.correct(TOWN_HALL, '2025-01-06', 1.2);
    const [corrected, nextAgain] = await c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-08');
    expect(corrected!.volume!.m3).toBe(Math.round(day!.volume!.m3 * 1.2));
    expect(corrected!.kWh).toBe(Math.round(corrected!.volume!.m3 * corrected!.volume!.kWhPerM3));
    expect(corrected!.kWh).not.toBe(day!.kWh);
    expect(nextAgain).toEqual(next);
  });

  it('asks no day from today on nor more than 3 years back, as GRDF refuses them', async () => {
    const s = await simulator({ firstDay: '2020-01-01' });
    const c = client(s);
    const readings = await c.dailyConsumption(TOWN_HALL, '2021-01-01', '2022-01-20');
    // GRDF's limit is 2022-01-15 (today - 3 years); the client keeps a day's margin.
    expect(dataRequests(s).map((r) => [r.query.date_debut, r.query.date_fin, r.status])).toEqual([['2022-01-16', '2022-01-20', 200]]);
    expect(readings).toHaveLength(4);
    const recent = await c.dailyConsumption(TOWN_HALL, '2025-01-12', '2025-02-01');
    expect(dataRequests(s).at(-1)!.query).toMatchObject({ date_debut: '2025-01-12', date_fin: TODAY });
    expect(recent.map((r) => r.start)).toEqual(['2025-01-12', '2025-01-13', '2025-01-14'].map((d) => dayStart(d, TZ)));
    const asked = s.requests.length;
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-20', '2025-02-01')).toEqual([]);
    expect(await c.dailyConsumption(TOWN_HALL, '2019-01-01', '2020-01-01')).toEqual([]);
    expect(s.requests.length).toBe(asked);
  });

  it('waits as Retry-After says when GRDF answers 429, then goes on', async () => {
    const s = await simulator();
    const { waits, sleep } = recordingSleep();
    s.throttle(2, 1);
    const readings = await client(s, { sleep }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-08');
    expect(readings).toHaveLength(2);
    expect(waits).toEqual([1000, 1000]);
    expect(dataRequests(s).map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('ends with RATE_LIMITED and when to come back when the hourly quota is spent', async () => {
    const s = await simulator({ quota: { perSecond: 100, perHour: 2 }, now: () => Date.UTC(2025, 0, 15, 10) });
    const { waits, sleep } = recordingSleep();
    const c = client(s, { sleep });
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    await c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03');
    const error = await failure(c.dailyConsumption(TOWN_HALL, '2025-01-03', '2025-01-04'));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBe(HOUR);
    expect(error.window).toEqual({ from: '2025-01-03', to: '2025-01-04' });
    expect(error.message).toContain(`PCE ${TOWN_HALL}, 2025-01-03 to 2025-01-04`);
    expect(waits).toEqual([]); // an hour is the caller's to wait, not the client's
  });

  it('renews an expired token once and goes on, asking the scope of its base URL', async () => {
    const s = await simulator();
    const c = client(s);
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    s.expireTokens();
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03')).toHaveLength(1);
    expect(s.requests.map((r) => [r.path === GRDF_PATHS.token ? 'token' : 'data', r.status])).toEqual([
      ['token', 200],
      ['data', 200],
      ['data', 401],
      ['token', 200],
      ['data', 200],
    ]);
    // The simulator refuses a token whose scope is not /adict/v2.
    const wrongScope = await failure(client(s, { scope: '/adict/v1' }).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(wrongScope.code).toBe('AUTH_FAILED');
    expect(wrongScope.message).toContain('invalid_scope');
  });

  it('ends with AUTH_FAILED when a renewed token is refused too, and when the credentials are, never showing the secret', async () => {
    const s = await simulator();
    s.override((request, answer) => (request.path.endsWith('/donnees_consos_informatives') ? { status: 401, body: '{"error":"invalid_token"}' } : answer));
    const refused = await failure(client(s).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(s.requests.map((r) => r.status)).toEqual([200, 401, 200, 401]);
    const wrong = await failure(client(s, { clientSecret: 'not-the-secret' }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(wrong.code).toBe('AUTH_FAILED');
    expect(wrong.message).toContain(`client id ${CLIENT.id}`);
    expect(wrong.message).not.toContain('not-the-secret');
  });

  it('ends with NO_ACCESS_RIGHT for a PCE without an access right, once the customer revokes it, and on a 403', async () => {
    const s = await simulator({}, [{ pce: TOWN_HALL }, { pce: SCHOOL, accessRight: false }]);
    const c = client(s);
    const none = await failure(c.dailyConsumption(SCHOOL, '2025-01-01', '2025-01-08'));
    expect(none.code).toBe('NO_ACCESS_RIGHT');
    expect(none).toMatchObject({ pce: SCHOOL, grdfCode: GRDF_STATUS.noAccessRight });
    expect(none.message).toContain(`PCE ${SCHOOL}, 2025-01-01 to 2025-01-08`);
    expect(none.message).toContain("Aucun droit d'accès");
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-08');
    s.revokeAccess(TOWN_HALL);
    const revoked = await failure(c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-08'));
    expect(revoked).toMatchObject({ code: 'NO_ACCESS_RIGHT', grdfCode: GRDF_STATUS.revoked });
    expect(revoked.message).toContain('révoqué son consentement');
    s.grantAccess(TOWN_HALL);
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-08')).toHaveLength(7);
    s.override((request) =>
      request.path.endsWith('/donnees_consos_informatives')
        ? { status: 403, body: '{"statut_restitution":{"code":"1000002","message":"Aucun droit d\'accès"}}\n' }
        : undefined,
    );
    const forbidden = await failure(c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-08'));
    expect(forbidden).toMatchObject({ code: 'NO_ACCESS_RIGHT', status: 403, grdfCode: '1000002' });
  });

  it('tries again through an outage, then ends with UNAVAILABLE; the next call after it works', async () => {
    const s = await simulator();
    const { waits, sleep } = recordingSleep();
    const c = client(s, { sleep, maxAttempts: 4, baseDelayMs: 100, random: () => 0.999 });
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    s.outage(true);
    const error = await failure(c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03'));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.status).toBe(503);
    expect(error.message).toContain('4 attempts');
    expect(dataRequests(s).map((r) => r.status)).toEqual([200, 503, 503, 503, 503]);
    // Backoff doubles: 100, 200, 400 ms (with the jitter at its top).
    expect(waits).toEqual([100, 200, 400]);
    s.outage(false);
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03')).toHaveLength(1);
  });

  it('asks again a window where GRDF failed to give a period, and ends with UNAVAILABLE naming it when it keeps failing', async () => {
    const s = await simulator();
    s.failPeriod(TOWN_HALL, '2025-01-07');
    // The failure is over by the second attempt.
    const { waits, sleep } = recordingSleep(() => s.failPeriod(TOWN_HALL, '2025-01-07', false));
    const readings = await client(s, { sleep }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-09');
    expect(readings).toHaveLength(3);
    expect(waits).toHaveLength(1);
    expect(dataRequests(s)).toHaveLength(2);

    s.failPeriod(TOWN_HALL, '2025-01-07');
    const error = await failure(client(s, { maxAttempts: 3 }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-09'));
    expect(error).toMatchObject({ code: 'UNAVAILABLE', grdfCode: GRDF_STATUS.technicalError });
    expect(error.message).toContain('3 attempts');
    expect(error.message).toContain('line 2');
    expect(error.message).toContain('retenter');
  });

  it('ends with UNAVAILABLE when nothing listens, or nothing answers in time', async () => {
    const nowhere = await closedOrigin();
    const { sleep } = recordingSleep();
    const refused = await failure(client({ url: `${nowhere}/adict/v2` }, { sleep, maxAttempts: 2 }).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toContain('ECONNREFUSED');

    const s = await simulator();
    s.stall(true);
    const silent = await failure(client(s, { sleep, maxAttempts: 2, timeoutMs: 150 }).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(silent.code).toBe('UNAVAILABLE');
    expect(silent.message).toContain('no answer within 150 ms');
  });

  it('ends with BAD_ANSWER naming the line for an answer cut short or a line not as documented', async () => {
    const s = await simulator();
    const c = client(s);
    s.garble(true);
    const cut = await failure(c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-10'));
    expect(cut.code).toBe('BAD_ANSWER');
    expect(cut.message).toMatch(/line \d of the answer is not JSON/);
    s.garble(false);

    const rewritten = async (change: (lines: AnswerLine[]) => string) => {
      rewriteLines(s, change);
      try {
        return await failure(c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-10'));
      } finally {
        s.override(undefined);
      }
    };
    const negative = await rewritten((lines) => {
      lines[1]!.consommation.energie = -12;
      return joined(lines);
    });
    expect(negative.code).toBe('BAD_ANSWER');
    expect(negative.message).toContain('line 2 of the answer is not as documented: consommation.energie');
    const text = await rewritten((lines) => {
      lines[2]!.consommation.volume_brut = '12';
      return joined(lines);
    });
    expect(text.message).toContain('line 3 of the answer is not as documented: consommation.volume_brut');
    const coefficient = await rewritten((lines) => {
      lines[0]!.consommation.coeff_calcul.coeff_conversion = 1100;
      return joined(lines);
    });
    expect(coefficient.message).toContain('line 1 of the answer is not as documented: consommation.coeff_calcul.coeff_conversion');
    const nothing = await rewritten((lines) => {
      lines[3]!.consommation.energie = null;
      lines[3]!.consommation.volume_brut = null;
      return joined(lines);
    });
    expect(nothing.message).toContain('line 4 of the answer gives neither consommation.energie nor consommation.volume_brut');
    const other = await rewritten((lines) => {
      lines[1]!.pce.id_pce = POOL;
      return joined(lines);
    });
    expect(other.message).toContain('line 2 of the answer is about another PCE');
    const outside = await rewritten((lines) => {
      lines[3]!.consommation.date_debut_consommation = '2025-01-12T06:00:00+01:00';
      lines[3]!.consommation.date_fin_consommation = '2025-01-13T06:00:00+01:00';
      lines[3]!.consommation.journee_gaziere = '2025-01-12';
      return joined(lines);
    });
    expect(outside.message).toContain('line 4 of the answer: its period starts on 2025-01-12, outside the window asked');
    const overlap = await rewritten((lines) => {
      lines[2]!.consommation.date_fin_consommation = '2025-01-10T06:00:00+01:00';
      lines[2]!.consommation.journee_gaziere = null;
      return joined(lines);
    });
    expect(overlap.message).toContain("line 4 of the answer: its period from 2025-01-09 overlaps line 3's");
    const wrongDay = await rewritten((lines) => {
      lines[0]!.consommation.journee_gaziere = '2025-01-05';
      return joined(lines);
    });
    expect(wrongDay.message).toContain('line 1 of the answer: consommation.journee_gaziere 2025-01-05 is not the one day of its period');
    const array = await rewritten((lines) => JSON.stringify(lines));
    expect(array.message).toContain('line 1 of the answer is not as documented');
    const deep = await rewritten((lines) => `${JSON.stringify(lines[0]).slice(0, -1)},"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}\n`);
    expect(deep.message).toContain('line 1 of the answer is not as documented: nested too deeply');

    const long = await failure(client(s, { maxLineChars: 300 }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-10'));
    expect(long.message).toContain('line 1 of the answer is longer than the 300 characters read');
    const large = await failure(client(s, { maxBodyBytes: 2048 }).dailyConsumption(TOWN_HALL, '2024-12-01', '2025-01-10'));
    expect(large.code).toBe('BAD_ANSWER');
    expect(large.message).toContain('2048 bytes');
  });

  it('reads lines as they arrive in pieces, a line cut anywhere, and skips blank lines and the day of date_fin', async () => {
    const s = await simulator();
    const [reference] = await client(s).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07');
    const raw = await rawData(s, TOWN_HALL, { date_debut: '2025-01-06', date_fin: '2025-01-08' }, await rawToken(s));
    const [first, second] = raw.text.trim().split('\n');
    // Blank lines, CRLF, no newline after the last line; written 7 bytes at a time by a server of its own on loopback.
    const body = Buffer.from(`\r\n${first}\r\n\n${second}`);
    const server: Server = createServer((request, response) => {
      request.resume();
      if (request.url?.startsWith(GRDF_PATHS.token)) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"abcd","token_type":"Bearer","expires_in":14399}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let at = 0;
      const next = () => {
        if (at >= body.length) return void response.end();
        response.write(body.subarray(at, (at += 7)));
        setImmediate(next);
      };
      next();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    running.push({ stop: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/adict/v2`;
    // Asked 6 to 7 January: the line of the 7th (date_fin's day) is left to the next window.
    expect(await client({ url }).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07')).toEqual([reference]);
  });

  it('never echoes more than a short, cleaned part of what GRDF says', async () => {
    const s = await simulator();
    const noise = `<html>\u0007${'x'.repeat(20_000)} ${CLIENT.secret}</html>`;
    s.override((request) => (request.path.endsWith('/donnees_consos_informatives') ? { status: 400, body: `${CLIENT.secret} ${noise}` } : undefined));
    const error = await failure(client(s).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).not.toContain(CLIENT.secret);
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain('\u0007');
  });

  it('reads periods GRDF qualifies as other than measured as uncertain', async () => {
    const s = await simulator();
    rewriteLines(s, (lines) => {
      lines[1]!.consommation.type_qualif_conso = 'Estimé';
      lines[2]!.consommation.type_qualif_conso = 'MESURE';
      return joined(lines);
    });
    const days = await client(s).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-09');
    expect(days.map((r) => r.quality)).toEqual(['good', 'uncertain', 'good']);
  });

  it("refuses a bad PCE or day before asking anything, and says what GRDF refuses with GRDF's sentence", async () => {
    const s = await simulator({}, [{ pce: TOWN_HALL }, { pce: SCHOOL }]);
    const c = client(s);
    for (const [pce, from, to] of [
      ['2242329947486', '2025-01-01', '2025-01-02'],
      ['GI12345', '2025-01-01', '2025-01-02'],
      ['gi123456', '2025-01-01', '2025-01-02'],
      [TOWN_HALL, '2025-02-30', '2025-03-02'],
      [TOWN_HALL, '2025-01-02', '2025-01-02'],
    ] as const) {
      expect((await failure(c.dailyConsumption(pce, from, to))).code).toBe('BAD_REQUEST');
    }
    expect(s.requests).toEqual([]);
    expect(await c.dailyConsumption(SCHOOL, '2025-01-01', '2025-01-03')).toHaveLength(2);
    // A client whose clock is a day ahead of GRDF's asks a date_fin GRDF refuses.
    const ahead = await failure(client(s, { now: () => NOW + 24 * HOUR }).dailyConsumption(TOWN_HALL, '2025-01-10', '2025-01-20'));
    expect(ahead).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    expect(ahead.message).toContain("Le paramètre 'date_fin' doit être inférieur ou égal à la date du jour");
  });
});

describe('GRDF simulator', () => {
  const token = rawToken;
  const get = async (s: GrdfSimulator, pce: string, query: Record<string, string>, bearer: string) => {
    const answer = await rawData(s, pce, query, bearer);
    return {
      ...answer,
      lines: answer.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AnswerLine),
    };
  };

  it("answers GRDF's documented shapes, one line per gas day", async () => {
    const s = await simulator();
    const bearer = await token(s);
    const answer = await get(s, TOWN_HALL, { date_debut: '2024-03-29', date_fin: '2024-03-31' }, bearer);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('application/x-ndjson');
    expect(answer.lines).toHaveLength(2);
    const period = s.period(TOWN_HALL, '2024-03-30')!;
    expect(answer.lines[1]).toMatchObject({
      pce: { id_pce: TOWN_HALL },
      periode: { date_debut: '2024-03-29', date_fin: '2024-03-31' },
      consommation: {
        // The gas day across the spring clock change: 6:00 in winter time to 6:00 in summer time.
        date_debut_consommation: '2024-03-30T06:00:00+01:00',
        date_fin_consommation: '2024-03-31T06:00:00+02:00',
        volume_brut: period.m3,
        coeff_calcul: { coeff_conversion: period.kWhPerM3 },
        energie: period.kWh,
        type_qualif_conso: 'Mesuré',
        journee_gaziere: '2024-03-30',
        type_conso: 'Informative Journalier',
      },
      statut_restitution: null,
    });
  });

  it("refuses with the documentation's sentences a bad PCE, a date_fin after today, a date_debut more than 3 years back, a missing token", async () => {
    const s = await simulator();
    const bearer = await token(s);
    const message = async (pce: string, query: Record<string, string>) => {
      const answer = await get(s, pce, query, bearer);
      expect(answer.status).toBe(400);
      return (answer.lines[0]!.statut_restitution as { message: string }).message;
    };
    expect(await message('12345', { date_debut: '2025-01-01', date_fin: '2025-01-02' })).toContain('GI+6 chiffres ou 14 chiffres');
    expect(await message(TOWN_HALL, { date_debut: '2025-01-01', date_fin: '2025-01-16' })).toContain(
      "'date_fin' doit être inférieur ou égal à la date du jour",
    );
    expect(await message(TOWN_HALL, { date_debut: '2022-01-14', date_fin: '2022-01-20' })).toContain('date du jour - 3 ans');
    expect(await message(TOWN_HALL, { date_debut: '2025-01-01' })).toContain("'date_fin' est obligatoire");
    expect((await get(s, TOWN_HALL, { date_debut: '2022-01-15', date_fin: '2022-01-20' }, bearer)).status).toBe(200);
    expect((await get(s, TOWN_HALL, { date_debut: '2025-01-01', date_fin: TODAY }, bearer)).status).toBe(200);
    expect((await get(s, TOWN_HALL, { date_debut: '2025-01-01', date_fin: '2025-01-02' }, 'nope')).status).toBe(401);
    const wrong = await fetch(s.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'someone', client_secret: 'else', scope: '/adict/v2' }),
    });
    expect(wrong.status).toBe(401);
  });
});
