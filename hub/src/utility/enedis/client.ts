/**
 * CityPilot's client of Enedis Data Connect: the daily consumption and the load curve of the
 * Linky meters of a city's buildings, for the buildings with no building management system.
 * It pages the windows Enedis allows, keeps the application's token, waits out Enedis's quotas
 * and outages, checks every answer, and ends with an {@link EnedisError} that says which meter,
 * which days and what went wrong. It holds no state but its token: one client per Enedis
 * application (client id) serves every meter the city has consent for.
 */
import { validate } from '@citypilot/sdk';
import type { Static } from '@sinclair/typebox';
import {
  ApiCallError,
  ApiHttp,
  endpoint,
  httpUrl,
  OAuthErrorAnswer,
  oauthErrorText,
  planDayWindows,
  type ApiAnswer,
  type ApiHttpSettings,
  type DayWindow,
} from '../api/http-client.js';
import { addDays, dayStart, isDay, localToEpoch } from '../local-time.js';
import type { ConsumptionReading, PowerReading, ReadingQuality } from '../readings.js';
import {
  DailyConsumptionAnswer,
  ENEDIS_ERRORS,
  ENEDIS_PATHS,
  ENEDIS_STEP_MINUTES,
  ENEDIS_WINDOW_DAYS,
  isPrm,
  LoadCurveAnswer,
  LOCAL_DATE_TIME_PATTERN,
  parseConsentDuration,
  RAW_MEASURE_TYPE,
  RAW_QUALITY,
  type EnedisMeasure,
} from './data-connect.js';

/**
 * What went wrong, for the caller to act on:
 * - `NO_CONSENT`: the customer's consent is missing, revoked or expired (403): ask for it again.
 * - `BAD_REQUEST`: the call itself is refused (400, a bad PRM or day, a period Enedis does not keep).
 * - `RATE_LIMITED`: Enedis's quota is spent (429); `retryAfterMs` says when to come back when Enedis said it.
 * - `UNAVAILABLE`: no usable answer after every attempt (5xx, network, timeout).
 * - `BAD_ANSWER`: an answer that is not what the documentation describes.
 * - `AUTH_FAILED`: the application's credentials or its token are refused.
 */
export type EnedisErrorCode = 'NO_CONSENT' | 'BAD_REQUEST' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'BAD_ANSWER' | 'AUTH_FAILED';

/** A window of days, `to` excluded, as Enedis's `start` and `end` take it. */
export type { DayWindow };

/** An Enedis call's failure: its window, Enedis's last status and Retry-After (see ApiCallError), and the PRM. */
export class EnedisError extends ApiCallError<EnedisErrorCode> {
  /** The usage point asked for, when the failure is about one. */
  readonly prm: string | undefined;

  constructor(
    code: EnedisErrorCode,
    message: string,
    details: { prm?: string; window?: DayWindow; status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(code, message, details);
    this.prm = details.prm;
  }
}

/** Enedis's application and the city's time zone; retries, pacing and bounds as ApiHttpSettings says. */
export interface EnedisClientOptions extends ApiHttpSettings {
  /** The gateway's base URL, e.g. https://gw.ext.prod.api.enedis.fr (the sandbox: https://gw.ext.prod-sandbox.api.enedis.fr). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** The city's time zone, in which Enedis writes days and steps (Europe/Paris for mainland France). */
  timezone: string;
  /** The largest answer body read. Default 4 MiB (a 7-day load curve at 10 minutes is about 100 kB). */
  maxBodyBytes?: number;
  /**
   * The least time between the starts of two requests of this client: Enedis allows an
   * application about 5 requests a second. Default 200 ms; 0 for none.
   */
  minIntervalMs?: number;
}

/** Days a call to this client may span at most: more than Enedis keeps (36 months and 15 days). */
export const MAX_SPAN_DAYS = 1200;

/** The days from `fromDay` to `toDay` (excluded) cut into windows of at most `maxDays` days, in order. */
export const planWindows: (fromDay: string, toDay: string, maxDays: number) => DayWindow[] = planDayWindows;

/**
 * The URL of Enedis's consent page for a customer (a building's account holder) to share a
 * meter's data with the city's application. Enedis sends the customer back to the application's
 * redirect URI with `code`, `state` and `usage_point_id`. `redirectUri` is the one registered
 * with Enedis for the application; give it when it is not the only one.
 * @throws EnedisError BAD_REQUEST for a URL that is not http(s), an empty client id, a state
 *   longer than 100 characters (Enedis's limit) or a duration that is not a period of at most 3 years
 */
export function consentUrl(options: { authorizeUrl: string; clientId: string; state: string; redirectUri?: string; duration: string }): string {
  const refuse = (what: string) => new EnedisError('BAD_REQUEST', `Enedis consent page: ${what}`);
  let url: URL;
  try {
    url = new URL(options.authorizeUrl);
  } catch {
    throw refuse('authorizeUrl is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('authorizeUrl must be an http(s) URL');
  if (!options.clientId) throw refuse('clientId is empty');
  if (options.state.length < 1 || options.state.length > 100) throw refuse(`state must have 1 to 100 characters, it has ${options.state.length}`);
  if (!parseConsentDuration(options.duration))
    throw refuse(`duration ${JSON.stringify(options.duration.slice(0, 20))} is not an ISO 8601 period of at most 3 years (P1Y, P6M…)`);
  if (options.redirectUri !== undefined) {
    try {
      new URL(options.redirectUri);
    } catch {
      throw refuse('redirectUri is not a URL');
    }
  }
  url.searchParams.set('client_id', options.clientId);
  url.searchParams.set('duration', options.duration);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('state', options.state);
  if (options.redirectUri !== undefined) url.searchParams.set('redirect_uri', options.redirectUri);
  return url.toString();
}

/** Who is asking what, for the messages. */
interface Call {
  measure: EnedisMeasure;
  prm: string;
  window: DayWindow;
}

const MEASURE_NAMES: Record<EnedisMeasure, string> = { daily: 'daily consumption', loadCurve: 'load curve' };

export class EnedisClient {
  private readonly base: URL;
  private readonly http: ApiHttp<Call>;

  /** @throws EnedisError BAD_REQUEST for a base URL that is not http(s) or settings out of range */
  constructor(private readonly options: EnedisClientOptions) {
    const refuse = (what: string) => new EnedisError('BAD_REQUEST', `Enedis client: ${what}`);
    this.base = httpUrl('baseUrl', options.baseUrl, refuse);
    this.http = new ApiHttp<Call>({
      utility: 'Enedis',
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      timezone: options.timezone,
      settings: options,
      minIntervalMs: 200,
      token: { url: endpoint(this.base, ENEDIS_PATHS.token) },
      refuse,
      fail: (call, code, what, details) => this.fail(call, code, what, details),
      said: (answer) => this.said(answer),
    });
  }

  /**
   * The energy the meter counted each day from `fromDay` to `toDay` (excluded), local days of
   * the city: one reading per day Enedis has, in order; days it does not have yet are absent.
   * Asks windows of at most 365 days.
   * @throws EnedisError
   */
  async dailyConsumption(prm: string, fromDay: string, toDay: string): Promise<ConsumptionReading[]> {
    const readings: ConsumptionReading[] = [];
    for (const window of this.plan('daily', prm, fromDay, toDay)) {
      const call: Call = { measure: 'daily', prm, window };
      const body = await this.get(call, ENEDIS_PATHS.dailyConsumption);
      if (body !== undefined) readings.push(...this.readDaily(call, body));
    }
    return readings;
  }

  /**
   * The average power of each step of the meter's load curve from `fromDay` to `toDay`
   * (excluded), in order: 48 half hours a day, 46 on the day clocks go forward, 50 on the day
   * they go back (or the meter's own step: 10, 15 or 60 minutes). Asks windows of at most 7 days.
   * @throws EnedisError
   */
  async loadCurve(prm: string, fromDay: string, toDay: string): Promise<PowerReading[]> {
    const readings: PowerReading[] = [];
    for (const window of this.plan('loadCurve', prm, fromDay, toDay)) {
      const call: Call = { measure: 'loadCurve', prm, window };
      const body = await this.get(call, ENEDIS_PATHS.loadCurve);
      if (body !== undefined) readings.push(...this.readLoadCurve(call, body));
    }
    return readings;
  }

  private plan(measure: EnedisMeasure, prm: string, fromDay: string, toDay: string): DayWindow[] {
    const shown = (value: unknown) => JSON.stringify(String(value).slice(0, 30));
    const what = `Enedis ${MEASURE_NAMES[measure]}`;
    if (!isPrm(prm)) throw new EnedisError('BAD_REQUEST', `${what}: the PRM ${shown(prm)} is not 14 digits`);
    const window = { from: String(fromDay), to: String(toDay) };
    for (const [name, day] of [
      ['fromDay', fromDay],
      ['toDay', toDay],
    ] as const)
      if (typeof day !== 'string' || !isDay(day))
        throw new EnedisError('BAD_REQUEST', `${what} of PRM ${prm}: ${name} ${shown(day)} is not a day YYYY-MM-DD`, { prm });
    if (fromDay >= toDay) throw new EnedisError('BAD_REQUEST', `${what} of PRM ${prm}: ${fromDay} to ${toDay} is empty (toDay is excluded)`, { prm, window });
    if (fromDay < addDays(toDay, -MAX_SPAN_DAYS))
      throw new EnedisError('BAD_REQUEST', `${what} of PRM ${prm}: ${fromDay} to ${toDay} spans more than ${MAX_SPAN_DAYS} days, more than Enedis keeps`, {
        prm,
        window,
      });
    return planWindows(fromDay, toDay, ENEDIS_WINDOW_DAYS[measure]);
  }

  /** The words every message of a call starts with. */
  private about(call: Call): string {
    return `Enedis ${MEASURE_NAMES[call.measure]} of PRM ${call.prm}, ${call.window.from} to ${call.window.to} (excluded)`;
  }

  private fail(call: Call, code: EnedisErrorCode, what: string, details: { status?: number; retryAfterMs?: number; cause?: unknown } = {}): EnedisError {
    return new EnedisError(code, `${this.about(call)}: ${what}`, { prm: call.prm, window: call.window, ...details });
  }

  /** A window's answer as JSON, or undefined when Enedis has no measure in it (404 no_data_found). */
  private async get(call: Call, path: string): Promise<unknown> {
    const url = endpoint(this.base, path);
    url.searchParams.set('usage_point_id', call.prm);
    url.searchParams.set('start', call.window.from);
    url.searchParams.set('end', call.window.to);
    const answer = await this.http.authorized(call, (token) =>
      this.http.withRetries(call, 'the data request', () =>
        this.http.send(call, url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }),
      ),
    );
    if (answer.status >= 200 && answer.status < 300) return this.http.json(call, answer);
    const said = this.said(answer);
    if (answer.status === 404 && this.errorCode(answer) === ENEDIS_ERRORS.noData) return undefined;
    if (answer.status === 401) throw this.fail(call, 'AUTH_FAILED', `Enedis refused a token it had just given (HTTP 401${said})`, { status: answer.status });
    if (answer.status === 403) throw this.fail(call, 'NO_CONSENT', `no consent of the customer for this meter (HTTP 403${said})`, { status: answer.status });
    if (answer.status >= 300 && answer.status < 400)
      throw this.fail(call, 'BAD_ANSWER', `answered a redirect (HTTP ${answer.status})`, { status: answer.status });
    throw this.fail(call, 'BAD_REQUEST', `refused (HTTP ${answer.status}${said})`, { status: answer.status });
  }

  private readDaily(call: Call, body: unknown): ConsumptionReading[] {
    const answer = this.http.check(call, 'the answer', DailyConsumptionAnswer, body).meter_reading;
    if (answer.usage_point_id !== call.prm) throw this.fail(call, 'BAD_ANSWER', `the answer is about another usage point`);
    const quality: ReadingQuality = answer.quality === undefined || answer.quality === RAW_QUALITY ? 'good' : 'uncertain';
    const tz = this.options.timezone;
    const readings: ConsumptionReading[] = [];
    let previous = '';
    for (const [i, r] of answer.interval_reading.entries()) {
      const where = `meter_reading.interval_reading[${i}]`;
      if (!isDay(r.date)) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} is not a day`);
      if (r.date < call.window.from || r.date >= call.window.to) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} is outside the window asked`);
      if (r.date <= previous) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} repeats a day or comes after a later one`);
      previous = r.date;
      readings.push({ start: dayStart(r.date, tz), end: dayStart(addDays(r.date, 1), tz), kWh: Number(r.value) / 1000, quality });
    }
    return readings;
  }

  private readLoadCurve(call: Call, body: unknown): PowerReading[] {
    const answer = this.http.check(call, 'the answer', LoadCurveAnswer, body).meter_reading;
    if (answer.usage_point_id !== call.prm) throw this.fail(call, 'BAD_ANSWER', `the answer is about another usage point`);
    const rawAnswer = answer.quality === undefined || answer.quality === RAW_QUALITY;
    const tz = this.options.timezone;
    const windowStart = dayStart(call.window.from, tz);
    const windowEnd = dayStart(call.window.to, tz);
    const readings: PowerReading[] = [];
    let previousEnd = -Infinity;
    for (const [i, r] of answer.interval_reading.entries()) {
      const where = `meter_reading.interval_reading[${i}]`;
      const minutes = ENEDIS_STEP_MINUTES[r.interval_length];
      if (minutes === undefined)
        throw this.fail(
          call,
          'BAD_ANSWER',
          `${where}.interval_length ${JSON.stringify(this.http.clean(r.interval_length, 16))} is not PT10M, PT15M, PT30M or PT60M`,
        );
      const m = LOCAL_DATE_TIME_PATTERN.exec(r.date)!;
      const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      if (!isDay(r.date.slice(0, 10)) || hour > 23 || minute > 59 || second > 59) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} is not a time`);
      const stepMs = minutes * 60_000;
      // Steps are dated by their end, on the wall clock: the hour clocks repeat in autumn is
      // written twice, and the order of the steps says which one is meant.
      const wall = { year, month, day, hour, minute, second };
      let end = localToEpoch(wall, tz);
      if (end - stepMs < previousEnd) end = localToEpoch(wall, tz, true);
      if (end - stepMs < previousEnd) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} overlaps the step before it, or comes before it`);
      if (end - stepMs < windowStart || end > windowEnd) throw this.fail(call, 'BAD_ANSWER', `${where}.date ${r.date} is outside the window asked`);
      previousEnd = end;
      const raw = rawAnswer && (r.measure_type === undefined || r.measure_type === RAW_MEASURE_TYPE);
      readings.push({ start: end - stepMs, end, kW: Number(r.value) / 1000, quality: raw ? 'good' : 'uncertain' });
    }
    return readings;
  }

  /** Enedis's error code in an error answer, if it gave one. */
  private errorCode(answer: ApiAnswer): string | undefined {
    try {
      const body = JSON.parse(answer.text) as unknown;
      return validate(OAuthErrorAnswer, body).ok ? (body as Static<typeof OAuthErrorAnswer>).error : undefined;
    } catch {
      return undefined;
    }
  }

  /** What Enedis said with an answer, short and cleaned, as `: …` (empty when it said nothing). */
  private said(answer: ApiAnswer): string {
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      // Not JSON: the start of the text.
    }
    return this.http.quoted(oauthErrorText(body) ?? answer.text.slice(0, 2000));
  }
}
