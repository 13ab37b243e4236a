import { afterEach, describe, expect, it } from 'vitest';
import { closedOrigin, recordingSleep, rejection } from '../api/testing.js';
import { addDays, dayStart } from '../local-time.js';
import { consentUrl, EnedisClient, EnedisError, type EnedisClientOptions } from './client.js';
import { ENEDIS_PATHS } from './data-connect.js';
import { EnedisSimulator, type EnedisSimulatorOptions, type SimulatedUsagePoint } from './simulator.js';

// The simulated Enedis's "today": data exist up to the day before. Paris changes its clocks on
// 2024-03-31 (a 23-hour day) and 2024-10-27 (a 25-hour day).
const TODAY = '2025-01-15';
const TZ = 'Europe/Paris';
const TOWN_HALL = '30001610071843';
const LIBRARY = '30001610071850';
const SCHOOL = '30001610071867';
const CLIENT = { id: 'citypilot-test', secret: 's3cret-of-the-application' };

const running: EnedisSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function simulator(options: Partial<EnedisSimulatorOptions> = {}, points: SimulatedUsagePoint[] = [{ prm: TOWN_HALL }]): Promise<EnedisSimulator> {
  const s = await EnedisSimulator.start({ clients: [CLIENT], usagePoints: points, today: () => TODAY, firstDay: '2022-01-01', ...options });
  running.push(s);
  return s;
}

function client(s: { url: string }, options: Partial<EnedisClientOptions> = {}): EnedisClient {
  return new EnedisClient({ baseUrl: s.url, clientId: CLIENT.id, clientSecret: CLIENT.secret, timezone: TZ, minIntervalMs: 0, baseDelayMs: 5, ...options });
}

/** The error a promise rejects with. */
const failure = (promise: Promise<unknown>): Promise<EnedisError> => rejection(promise, EnedisError);

const dataRequests = (s: EnedisSimulator, path: string) => s.requests.filter((r) => r.path === path);
const HOUR = 3_600_000;

describe('Enedis Data Connect client against the simulator', () => {
  it('pages a 20-day load curve in 3 windows of at most 7 days, one after the other', async () => {
    const s = await simulator();
    const readings = await client(s).loadCurve(TOWN_HALL, '2024-11-01', '2024-11-21');
    const asked = dataRequests(s, ENEDIS_PATHS.loadCurve).map((r) => [r.query.start, r.query.end, r.status]);
    expect(asked).toEqual([
      ['2024-11-01', '2024-11-08', 200],
      ['2024-11-08', '2024-11-15', 200],
      ['2024-11-15', '2024-11-21', 200],
    ]);
    expect(readings).toHaveLength(20 * 48);
    expect(readings[0]!.start).toBe(dayStart('2024-11-01', TZ));
    expect(readings.at(-1)!.end).toBe(dayStart('2024-11-21', TZ));
    for (let i = 1; i < readings.length; i++) expect(readings[i]!.start).toBe(readings[i - 1]!.end);
    expect(readings.every((r) => r.end - r.start === HOUR / 2 && r.kW > 0 && r.quality === 'good')).toBe(true);
  });

  it('asks 2 years of daily consumption in 2 calls of 365 days', async () => {
    const s = await simulator();
    const readings = await client(s).dailyConsumption(TOWN_HALL, '2022-01-01', '2024-01-01');
    expect(dataRequests(s, ENEDIS_PATHS.dailyConsumption).map((r) => [r.query.start, r.query.end])).toEqual([
      ['2022-01-01', '2023-01-01'],
      ['2023-01-01', '2024-01-01'],
    ]);
    expect(readings).toHaveLength(730);
    expect(readings[0]).toMatchObject({ start: dayStart('2022-01-01', TZ), end: dayStart('2022-01-02', TZ), quality: 'good' });
    expect(readings.at(-1)!.end).toBe(dayStart('2024-01-01', TZ));
    // A municipal building: more on a winter weekday than on a summer Sunday.
    const on = (day: string) => readings.find((r) => r.start === dayStart(day, TZ))!.kWh;
    expect(on('2023-01-17')).toBeGreaterThan(on('2023-07-16') * 1.5);
  });

  it("gives each day's Wh as the sum of its load curve's steps, rounded to the Wh", async () => {
    const s = await simulator({}, [{ prm: TOWN_HALL }, { prm: LIBRARY, stepMinutes: 10, scaleKw: 12 }]);
    const c = client(s);
    for (const prm of [TOWN_HALL, LIBRARY]) {
      const days = await c.dailyConsumption(prm, '2024-10-21', '2024-10-29');
      const curve = await c.loadCurve(prm, '2024-10-21', '2024-10-29');
      expect(days).toHaveLength(8);
      for (const day of days) {
        const steps = curve.filter((r) => r.start >= day.start && r.end <= day.end);
        const wh = steps.reduce((sum, r) => sum + Math.round(r.kW * 1000) * ((r.end - r.start) / HOUR), 0);
        expect(Math.round(day.kWh * 1000)).toBe(Math.round(wh));
      }
    }
  });

  it('reads the day clocks go forward as 46 half hours and the day they go back as 50, in order and without gaps', async () => {
    const s = await simulator({}, [{ prm: TOWN_HALL }, { prm: LIBRARY, stepMinutes: 10 }, { prm: SCHOOL, stepMinutes: 60 }]);
    const c = client(s);
    const check = async (prm: string, day: string, steps: number, hours: number) => {
      const curve = await c.loadCurve(prm, day, addDays(day, 1));
      expect(curve).toHaveLength(steps);
      expect(curve[0]!.start).toBe(dayStart(day, TZ));
      expect(curve.at(-1)!.end).toBe(dayStart(addDays(day, 1), TZ));
      for (let i = 1; i < curve.length; i++) expect(curve[i]!.start).toBe(curve[i - 1]!.end);
      const [daily] = await c.dailyConsumption(prm, day, addDays(day, 1));
      expect(daily!.end - daily!.start).toBe(hours * HOUR);
    };
    await check(TOWN_HALL, '2024-03-31', 46, 23);
    await check(TOWN_HALL, '2024-10-27', 50, 25);
    await check(TOWN_HALL, '2024-10-28', 48, 24);
    await check(LIBRARY, '2024-10-27', 150, 25);
    await check(SCHOOL, '2024-03-31', 23, 23);
    await check(SCHOOL, '2024-10-27', 25, 25);
  });

  it('leaves a withheld day out, and gives it once released', async () => {
    const s = await simulator();
    const c = client(s);
    s.withhold(TOWN_HALL, '2025-01-10');
    const before = await c.dailyConsumption(TOWN_HALL, '2025-01-08', '2025-01-12');
    expect(before.map((r) => r.start)).toEqual(['2025-01-08', '2025-01-09', '2025-01-11'].map((d) => dayStart(d, TZ)));
    expect(await c.loadCurve(TOWN_HALL, '2025-01-10', '2025-01-11')).toEqual([]); // Enedis's 404 no_data_found
    s.release(TOWN_HALL, '2025-01-10');
    const after = await c.dailyConsumption(TOWN_HALL, '2025-01-08', '2025-01-12');
    expect(after).toHaveLength(4);
    expect(after[2]!.start).toBe(dayStart('2025-01-10', TZ));
    expect(await c.loadCurve(TOWN_HALL, '2025-01-10', '2025-01-11')).toHaveLength(48);
  });

  it('gives no day from today on: the window ends with yesterday', async () => {
    const s = await simulator();
    const readings = await client(s).dailyConsumption(TOWN_HALL, '2025-01-12', '2025-01-20');
    expect(readings.map((r) => r.start)).toEqual(['2025-01-12', '2025-01-13', '2025-01-14'].map((d) => dayStart(d, TZ)));
  });

  it('answers the new value of a corrected day, in the daily consumption and the load curve', async () => {
    const s = await simulator();
    const c = client(s);
    const [day] = await c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07');
    const curve = await c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07');
    s.correct(TOWN_HALL, '2025-01-06', 1.1);
    const [corrected] = await c.dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-07');
    const correctedCurve = await c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07');
    expect(corrected!.kWh).toBeCloseTo(day!.kWh * 1.1, 1);
    expect(correctedCurve.map((r) => r.kW)).toEqual(curve.map((r) => Math.round(r.kW * 1000 * 1.1) / 1000));
    // The day beside it is the same as before.
    const [next] = await c.dailyConsumption(TOWN_HALL, '2025-01-07', '2025-01-08');
    expect(next!.kWh).toBe(s.dailyWh(TOWN_HALL, '2025-01-07')! / 1000);
  });

  it('waits as Retry-After says when Enedis answers 429, then goes on', async () => {
    const s = await simulator();
    const { waits, sleep } = recordingSleep();
    const c = client(s, { sleep });
    s.throttle(2, 1);
    const readings = await c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-08');
    expect(readings).toHaveLength(96);
    expect(waits).toEqual([1000, 1000]);
    expect(dataRequests(s, ENEDIS_PATHS.loadCurve).map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('ends with RATE_LIMITED and when to come back when the hourly quota is spent', async () => {
    // A clock stopped at 10:00:00 UTC: the hour's quota comes back in an hour.
    const s = await simulator({ quota: { perSecond: 100, perHour: 2 }, now: () => Date.UTC(2025, 0, 15, 10) });
    const { waits, sleep } = recordingSleep();
    const error = await failure(client(s, { sleep }).loadCurve(TOWN_HALL, '2024-12-01', '2024-12-22'));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBe(HOUR);
    expect(error.window).toEqual({ from: '2024-12-15', to: '2024-12-22' });
    expect(error.message).toContain(`PRM ${TOWN_HALL}, 2024-12-15 to 2024-12-22`);
    expect(waits).toEqual([]); // an hour is the caller's to wait, not the client's
    expect(dataRequests(s, ENEDIS_PATHS.loadCurve).map((r) => r.status)).toEqual([200, 200, 429]);
  });

  it('counts the per-second quota: a third request in the same second gets 429 with Retry-After 1', async () => {
    const s = await simulator({ quota: { perSecond: 2 }, now: () => Date.UTC(2025, 0, 15, 10) });
    const { waits, sleep } = recordingSleep();
    const error = await failure(client(s, { sleep, maxAttempts: 2 }).loadCurve(TOWN_HALL, '2024-12-01', '2024-12-20'));
    expect(error.code).toBe('RATE_LIMITED');
    expect(waits).toEqual([1000]);
    expect(s.requests.filter((r) => r.path !== ENEDIS_PATHS.token).map((r) => r.status)).toEqual([200, 200, 429, 429]);
  });

  it('renews an expired token once and goes on', async () => {
    const s = await simulator();
    const c = client(s);
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    s.expireTokens();
    const readings = await c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03');
    expect(readings).toHaveLength(1);
    expect(s.requests.map((r) => [r.path, r.status])).toEqual([
      [ENEDIS_PATHS.token, 200],
      [ENEDIS_PATHS.dailyConsumption, 200],
      [ENEDIS_PATHS.dailyConsumption, 401],
      [ENEDIS_PATHS.token, 200],
      [ENEDIS_PATHS.dailyConsumption, 200],
    ]);
  });

  it('renews the token before it expires, and keeps it until then', async () => {
    let now = Date.UTC(2025, 0, 15, 9);
    const s = await simulator({ tokenLifetimeSeconds: 3600, now: () => now });
    const c = client(s, { now: () => now });
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    now += 30 * 60_000;
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    now += 29 * 60_000 + 30_000; // 30 s before it expires: within the margin
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02');
    expect(s.requests.filter((r) => r.path === ENEDIS_PATHS.token)).toHaveLength(2);
    expect(s.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('ends with AUTH_FAILED when a renewed token is refused too, and when the credentials are', async () => {
    const s = await simulator();
    s.override((request, answer) => (request.path === ENEDIS_PATHS.loadCurve ? { status: 401, body: '{"error":"invalid_token"}' } : answer));
    const refused = await failure(client(s).loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(refused.code).toBe('AUTH_FAILED');
    expect(s.requests.map((r) => r.status)).toEqual([200, 401, 200, 401]);
    const wrong = await failure(client(s, { clientSecret: 'not-the-secret' }).loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(wrong.code).toBe('AUTH_FAILED');
    expect(wrong.message).toContain(`client id ${CLIENT.id}`);
    expect(wrong.message).not.toContain('not-the-secret');
  });

  it('ends with NO_CONSENT for a meter without consent, and once the customer revokes it', async () => {
    const s = await simulator({}, [{ prm: TOWN_HALL }, { prm: LIBRARY, consent: false }]);
    const c = client(s);
    const none = await failure(c.dailyConsumption(LIBRARY, '2025-01-01', '2025-01-08'));
    expect(none.code).toBe('NO_CONSENT');
    expect(none.prm).toBe(LIBRARY);
    expect(none.message).toContain(`PRM ${LIBRARY}, 2025-01-01 to 2025-01-08`);
    expect(none.message).toContain('ADAM-DC-0008');
    await c.dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-08');
    s.revokeConsent(TOWN_HALL);
    expect((await failure(c.loadCurve(TOWN_HALL, '2025-01-01', '2025-01-08'))).code).toBe('NO_CONSENT');
  });

  it('records the consent given on the consent page, for its duration, and sends the customer back with the meter and the state', async () => {
    const s = await simulator({}, []);
    const redirectUri = 'http://127.0.0.1:9/enedis/callback';
    const url = consentUrl({ authorizeUrl: `${s.url}${ENEDIS_PATHS.authorize}`, clientId: CLIENT.id, state: 'building-42', redirectUri, duration: 'P1Y' });
    // The demo names the meter in the request; Enedis's page asks the customer.
    const page = await fetch(`${url}&usage_point_id=${SCHOOL}`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    const back = new URL(page.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe('building-42');
    expect(back.searchParams.get('usage_point_id')).toBe(SCHOOL);
    expect(back.searchParams.get('code')).toMatch(/^[\w-]+$/);
    expect(s.consent(SCHOOL)).toEqual({ prm: SCHOOL, until: '2026-01-15', duration: 'P1Y' });
    expect(await client(s).dailyConsumption(SCHOOL, '2025-01-01', '2025-01-03')).toHaveLength(2);
    // A consent of more than 3 years is refused, by the helper and by the page.
    expect(() => consentUrl({ authorizeUrl: s.url, clientId: CLIENT.id, state: 'x', duration: 'P4Y' })).toThrow(EnedisError);
    expect((await fetch(url.replace('P1Y', 'P37M'), { redirect: 'manual' })).status).toBe(400);
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
    expect(dataRequests(s, ENEDIS_PATHS.dailyConsumption).map((r) => r.status)).toEqual([200, 503, 503, 503, 503]);
    // Backoff doubles: 100, 200, 400 ms (with the jitter at its top).
    expect(waits).toEqual([100, 200, 400]);
    s.outage(false);
    expect(await c.dailyConsumption(TOWN_HALL, '2025-01-02', '2025-01-03')).toHaveLength(1);
  });

  it('ends with UNAVAILABLE when nothing listens, or nothing answers in time', async () => {
    const nowhere = await closedOrigin();
    const { sleep } = recordingSleep();
    const refused = await failure(client({ url: `${nowhere}` }, { sleep, maxAttempts: 2 }).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toContain('ECONNREFUSED');

    const s = await simulator();
    s.stall(true);
    const silent = await failure(client(s, { sleep, maxAttempts: 2, timeoutMs: 150 }).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(silent.code).toBe('UNAVAILABLE');
    expect(silent.message).toContain('no answer within 150 ms');
  });

  it('ends with BAD_ANSWER for an answer cut short, of the wrong shape, about another meter or too large', async () => {
    const s = await simulator();
    const c = client(s);
    s.garble(true);
    const cut = await failure(c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(cut.code).toBe('BAD_ANSWER');
    expect(cut.message).toContain('not JSON');
    s.garble(false);

    const rewritten = async (change: (body: { meter_reading: Record<string, unknown> & { interval_reading: Record<string, unknown>[] } }) => void) => {
      s.override((request, answer) => {
        if (request.path !== ENEDIS_PATHS.loadCurve || answer.status !== 200) return undefined;
        const body = JSON.parse(answer.body);
        change(body);
        return { ...answer, body: JSON.stringify(body) };
      });
      try {
        return await failure(c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
      } finally {
        s.override(undefined);
      }
    };
    const decimal = await rewritten((b) => (b.meter_reading.interval_reading[3]!.value = '12.5'));
    expect(decimal.code).toBe('BAD_ANSWER');
    expect(decimal.message).toContain('meter_reading.interval_reading[3].value');
    expect((await rewritten((b) => (b.meter_reading.interval_reading[0]!.value = -5))).code).toBe('BAD_ANSWER');
    expect((await rewritten((b) => (b.meter_reading.reading_type = { unit: 'kW' }))).code).toBe('BAD_ANSWER');
    expect((await rewritten((b) => (b.meter_reading.interval_reading[1]!.interval_length = 'PT7M'))).message).toContain('PT7M');
    expect((await rewritten((b) => (b.meter_reading.interval_reading[1]!.date = '2025-01-09 00:30:00'))).message).toContain('outside the window');
    expect((await rewritten((b) => b.meter_reading.interval_reading.reverse())).message).toContain('overlaps');
    expect((await rewritten((b) => (b.meter_reading.usage_point_id = LIBRARY))).message).toContain('another usage point');
    expect((await rewritten((b) => (b.meter_reading = { interval_reading: 'none' } as never))).code).toBe('BAD_ANSWER');
    // Arrays nested thousands deep: refused as not documented, never retried as a network failure.
    s.override((request, answer) =>
      request.path === ENEDIS_PATHS.loadCurve && answer.status === 200
        ? { ...answer, body: `{"meter_reading":${'['.repeat(20_000)}${']'.repeat(20_000)}}` }
        : undefined,
    );
    const before = s.requests.length;
    const deep = await failure(c.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
    s.override(undefined);
    expect(deep.code).toBe('BAD_ANSWER');
    expect(deep.message).toContain('nested too deeply');
    expect(s.requests.slice(before).filter((r) => r.path === ENEDIS_PATHS.loadCurve)).toHaveLength(1);

    const big = client(s, { maxBodyBytes: 4096 });
    const large = await failure(big.loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07'));
    expect(large.code).toBe('BAD_ANSWER');
    expect(large.message).toContain('4096 bytes');
  });

  it('never echoes more than a short, cleaned part of what Enedis says', async () => {
    const s = await simulator();
    const noise = `<html>\u0007${'x'.repeat(20_000)} ${CLIENT.secret}</html>`;
    s.override((request) => (request.path === ENEDIS_PATHS.dailyConsumption ? { status: 400, body: `${CLIENT.secret} ${noise}` } : undefined));
    const error = await failure(client(s).dailyConsumption(TOWN_HALL, '2025-01-01', '2025-01-02'));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).not.toContain(CLIENT.secret);
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain('\u0007');
  });

  it('reads measures Enedis marks as other than raw as uncertain', async () => {
    const s = await simulator();
    s.override((request, answer) => {
      if (answer.status !== 200 || request.path === ENEDIS_PATHS.token) return undefined;
      const body = JSON.parse(answer.body);
      if (request.path === ENEDIS_PATHS.loadCurve) body.meter_reading.interval_reading[5].measure_type = 'E';
      else body.meter_reading.quality = 'CORRIGE';
      return { ...answer, body: JSON.stringify(body) };
    });
    const curve = await client(s).loadCurve(TOWN_HALL, '2025-01-06', '2025-01-07');
    expect(curve.map((r, i) => [i, r.quality]).filter(([, q]) => q !== 'good')).toEqual([[5, 'uncertain']]);
    const days = await client(s).dailyConsumption(TOWN_HALL, '2025-01-06', '2025-01-08');
    expect(days.map((r) => r.quality)).toEqual(['uncertain', 'uncertain']);
  });

  it('refuses a bad PRM or day before asking anything, and says what Enedis refuses', async () => {
    const s = await simulator({}, [{ prm: TOWN_HALL, firstDay: '2024-06-01' }]);
    const c = client(s);
    for (const [prm, from, to] of [
      ['3000161007184', '2025-01-01', '2025-01-02'],
      ['3000161007184X', '2025-01-01', '2025-01-02'],
      [TOWN_HALL, '2025-02-30', '2025-03-02'],
      [TOWN_HALL, '2025-01-02', '2025-01-02'],
      [TOWN_HALL, '2010-01-01', '2025-01-02'],
    ] as const) {
      const error = await failure(c.dailyConsumption(prm, from, to));
      expect(error.code).toBe('BAD_REQUEST');
    }
    expect(s.requests).toEqual([]);
    // Before the meter's last activation: Enedis's 400, its code in the message.
    const early = await failure(c.dailyConsumption(TOWN_HALL, '2024-05-01', '2024-06-10'));
    expect(early.code).toBe('BAD_REQUEST');
    expect(early.status).toBe(400);
    expect(early.message).toContain('ADAM-ERR0123');
  });
});

describe('Enedis simulator', () => {
  const token = async (s: EnedisSimulator) => {
    const answer = await fetch(`${s.url}${ENEDIS_PATHS.token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.id, client_secret: CLIENT.secret }),
    });
    const body = (await answer.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    return body.access_token;
  };
  const get = async (s: EnedisSimulator, path: string, query: Record<string, string>, bearer: string) => {
    const answer = await fetch(`${s.url}${path}?${new URLSearchParams(query)}`, { headers: { authorization: `Bearer ${bearer}` } });
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  };

  it("answers Enedis's documented shapes", async () => {
    const s = await simulator();
    const bearer = await token(s);
    const daily = await get(s, ENEDIS_PATHS.dailyConsumption, { usage_point_id: TOWN_HALL, start: '2025-01-06', end: '2025-01-08' }, bearer);
    expect(daily.status).toBe(200);
    expect(daily.body).toEqual({
      meter_reading: {
        usage_point_id: TOWN_HALL,
        start: '2025-01-06',
        end: '2025-01-08',
        quality: 'BRUT',
        reading_type: { unit: 'Wh', measurement_kind: 'energy', aggregate: 'sum', measuring_period: 'P1D' },
        interval_reading: [
          { value: String(s.dailyWh(TOWN_HALL, '2025-01-06')), date: '2025-01-06' },
          { value: String(s.dailyWh(TOWN_HALL, '2025-01-07')), date: '2025-01-07' },
        ],
      },
    });
    const curve = await get(s, ENEDIS_PATHS.loadCurve, { usage_point_id: TOWN_HALL, start: '2025-01-06', end: '2025-01-07' }, bearer);
    const readings = (curve.body.meter_reading as { interval_reading: { date: string; value: string; interval_length: string; measure_type: string }[] })
      .interval_reading;
    expect(readings).toHaveLength(48);
    expect(readings[0]).toMatchObject({ date: '2025-01-06 00:30:00', interval_length: 'PT30M', measure_type: 'B' });
    expect(readings[47]!.date).toBe('2025-01-07 00:00:00');
    expect(readings.every((r) => /^[0-9]+$/.test(r.value))).toBe(true);
    // The autumn day writes its repeated hour twice, on the wall clock.
    const autumn = await get(s, ENEDIS_PATHS.loadCurve, { usage_point_id: TOWN_HALL, start: '2024-10-27', end: '2024-10-28' }, bearer);
    const dates = (autumn.body.meter_reading as { interval_reading: { date: string }[] }).interval_reading.map((r) => r.date.slice(11, 16));
    expect(dates.slice(3, 8)).toEqual(['02:00', '02:30', '02:00', '02:30', '03:00']);
  });

  it("refuses with Enedis's error body a window too long, a start too old, a missing token, an unknown client", async () => {
    const s = await simulator();
    const bearer = await token(s);
    const tooLong = await get(s, ENEDIS_PATHS.loadCurve, { usage_point_id: TOWN_HALL, start: '2025-01-01', end: '2025-01-09' }, bearer);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toEqual({ error: 'invalid_request', error_description: 'The requested period cannot exceed 7 days' });
    // The load curve goes back 24 months and 15 days: from 2022-12-31 on 2025-01-15.
    expect((await get(s, ENEDIS_PATHS.loadCurve, { usage_point_id: TOWN_HALL, start: '2022-12-30', end: '2023-01-02' }, bearer)).status).toBe(400);
    expect((await get(s, ENEDIS_PATHS.loadCurve, { usage_point_id: TOWN_HALL, start: '2022-12-31', end: '2023-01-02' }, bearer)).status).toBe(200);
    // 365 days a call: 2024 has 366.
    expect((await get(s, ENEDIS_PATHS.dailyConsumption, { usage_point_id: TOWN_HALL, start: '2024-01-01', end: '2025-01-01' }, bearer)).status).toBe(400);
    expect((await get(s, ENEDIS_PATHS.dailyConsumption, { usage_point_id: TOWN_HALL, start: '2024-01-02', end: '2025-01-01' }, bearer)).status).toBe(200);
    expect((await get(s, ENEDIS_PATHS.dailyConsumption, { usage_point_id: TOWN_HALL, start: '2024-01-01', end: '2024-01-02' }, 'nope')).status).toBe(401);
    const wrong = await fetch(`${s.url}${ENEDIS_PATHS.token}`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'someone', client_secret: 'else' }),
    });
    expect(wrong.status).toBe(401);
  });
});
