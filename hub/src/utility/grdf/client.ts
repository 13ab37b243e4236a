/**
 * CityPilot's client of GRDF's ADICT API: the gas consumption of the city's buildings as GRDF
 * gives it to a third party the customer has given an access right to ("droit d'accès"): each
 * gas day of a Gazpar meter, each month of a meter read monthly, in kWh with the volume in m³
 * and the conversion coefficient it came from. It pages the windows GRDF allows, keeps the
 * application's token, waits out GRDF's quotas and outages, reads the NDJSON answers line by
 * line with every line checked, and ends with a {@link GrdfError} that says which PCE, which
 * days and what went wrong. It holds no state but its token: one client per ADICT application
 * (client id) serves every PCE the city has an access right to.
 */
import { validate } from '@citypilot/sdk';
import type { Static } from '@sinclair/typebox';
import {
  ApiCallError,
  ApiHttp,
  endpoint,
  httpUrl,
  oauthErrorText,
  planDayWindows,
  type ApiAnswer,
  type ApiHttpSettings,
  type DayWindow,
} from '../api/http-client.js';
import { addDays, dayStart, isDay, localDay } from '../local-time.js';
import type { ConsumptionReading, ReadingQuality } from '../readings.js';
import {
  ConsumptionLine,
  DATE_TIME_PATTERN,
  GRDF_HISTORY_YEARS,
  GRDF_MAX_PERIOD_DAYS,
  GRDF_PATHS,
  GRDF_SCOPE,
  GRDF_STATUS,
  GRDF_TOKEN_URL,
  GRDF_WINDOW_DAYS,
  isPce,
  isTechnicalStatus,
  MAX_KWH_PER_DAY,
  MEASURED,
  shiftYears,
  StatusObject,
  withoutNulls,
} from './adict.js';

/**
 * What went wrong, for the caller to act on:
 * - `NO_ACCESS_RIGHT`: the city has no access right to the PCE's informative data (none declared,
 *   expired, revoked by the customer or by GRDF, out of its perimeter; a line's status or 403):
 *   ask the customer again.
 * - `BAD_REQUEST`: the call itself is refused (400: a bad PCE or day, a period GRDF does not keep).
 * - `RATE_LIMITED`: GRDF's quota is spent (429); `retryAfterMs` says when to come back when GRDF said it.
 * - `UNAVAILABLE`: no usable answer after every attempt (5xx, network, timeout, a period GRDF failed to give).
 * - `BAD_ANSWER`: an answer that is not what the documentation describes.
 * - `AUTH_FAILED`: the application's credentials or its token are refused.
 */
export type GrdfErrorCode = 'NO_ACCESS_RIGHT' | 'BAD_REQUEST' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'BAD_ANSWER' | 'AUTH_FAILED';

/** A window of days, `to` excluded, as date_debut and date_fin ask it. */
export type GrdfWindow = DayWindow;

/** A GRDF call's failure: its window, GRDF's last status and Retry-After (see ApiCallError), the PCE and GRDF's code. */
export class GrdfError extends ApiCallError<GrdfErrorCode> {
  /** The PCE asked for, when the failure is about one. */
  readonly pce: string | undefined;
  /** GRDF's code of the period's status (`statut_restitution.code`), when it gave one. */
  readonly grdfCode: string | undefined;

  constructor(
    code: GrdfErrorCode,
    message: string,
    details: { pce?: string; window?: GrdfWindow; status?: number; retryAfterMs?: number; grdfCode?: string; cause?: unknown } = {},
  ) {
    super(code, message, details);
    this.pce = details.pce;
    this.grdfCode = details.grdfCode;
  }
}

/** GRDF's application, its token endpoint and the city's time zone; retries, pacing and bounds as ApiHttpSettings says. */
export interface GrdfClientOptions extends ApiHttpSettings {
  /** The API's base URL: GRDF_API_URL (https://api.grdf.fr/adict/v2) in production, a simulator's or a proxy's otherwise. */
  baseUrl: string;
  /**
   * GRDF's token endpoint. Default: GRDF_TOKEN_URL when baseUrl is on grdf.fr, else baseUrl's
   * origin with GRDF_PATHS.token (a simulator's, a proxy's).
   */
  tokenUrl?: string;
  /** The token's scope. Default: baseUrl's path when it is an ADICT one (/adict/v2), else GRDF_SCOPE. */
  scope?: string;
  clientId: string;
  clientSecret: string;
  /** The city's time zone, in which GRDF writes gas days (Europe/Paris for mainland France). */
  timezone: string;
  /** The largest answer body read. Default 4 MiB (a year of gas days is about 300 kB). */
  maxBodyBytes?: number;
  /** The longest line of an answer read, in characters. Default 65,536 (a line is about 1,000). */
  maxLineChars?: number;
  /**
   * The least time between the starts of two requests of this client. GRDF's quotas are given
   * to each application with its contract, not published; its public clients send one request
   * a second. Default 1000 ms; 0 for none.
   */
  minIntervalMs?: number;
  /**
   * The clock, in epoch milliseconds: the token's expiry, Retry-After dates, and the city's
   * today, which bounds the days asked (GRDF refuses a date_fin after today and a date_debut
   * more than 3 years before it). Default Date.now.
   */
  now?: () => number;
}

/** The days from `fromDay` to `toDay` (excluded) cut into windows of at most `maxDays` days, in order. */
export const planGrdfWindows: (fromDay: string, toDay: string, maxDays: number) => GrdfWindow[] = planDayWindows;

/** Who is asking what, for the messages. */
interface Call {
  pce: string;
  window: GrdfWindow;
}

/** What a line of a data answer says. */
type Line =
  | { kind: 'reading'; line: number; startDay: string; endDay: string; kWh: number; volume?: { m3: number; kWhPerM3: number }; quality: ReadingQuality }
  | { kind: 'noData'; line: number }
  | { kind: 'failed'; line: number; code: string; message: string };

export class GrdfClient {
  private readonly base: URL;
  private readonly http: ApiHttp<Call>;

  /** @throws GrdfError BAD_REQUEST for a URL that is not http(s), a missing credential or settings out of range */
  constructor(private readonly options: GrdfClientOptions) {
    const refuse = (what: string) => new GrdfError('BAD_REQUEST', `GRDF client: ${what}`);
    this.base = httpUrl('baseUrl', options.baseUrl, refuse);
    const onGrdf = this.base.hostname === 'grdf.fr' || this.base.hostname.endsWith('.grdf.fr');
    const tokenUrl = httpUrl('tokenUrl', options.tokenUrl ?? (onGrdf ? GRDF_TOKEN_URL : new URL(GRDF_PATHS.token, this.base.origin).href), refuse);
    const basePath = this.base.pathname.replace(/\/+$/, '');
    const scope = options.scope ?? (basePath.startsWith('/adict/') ? basePath : GRDF_SCOPE);
    this.http = new ApiHttp<Call>({
      utility: 'GRDF',
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      timezone: options.timezone,
      settings: options,
      minIntervalMs: 1000,
      ...(options.maxLineChars === undefined ? {} : { maxLineChars: options.maxLineChars }),
      token: { url: tokenUrl, form: { scope } },
      refuse,
      fail: (call, code, what, details) => this.fail(call, code, what, details),
      said: (answer) => this.said(answer),
    });
  }

  /**
   * The gas the PCE's meter counted from `fromDay` to `toDay` (excluded), local days of the city,
   * from GRDF's informative data: one reading per gas day of a meter read daily (Gazpar), per
   * month of a meter read monthly, in order; periods GRDF does not have yet are absent. A gas day
   * (6:00 to 6:00 the next morning) is read as the calendar day it is named after, as GRDF's
   * exports and CityPilot's imports of them name it. The kWh are GRDF's `energie`, or m³ ×
   * coefficient when GRDF gives only the volume; the reading keeps the volume and the coefficient
   * when GRDF gives both. Days GRDF does not keep are not asked: from today on, and more than 3
   * years back. Asks windows of at most 365 days.
   * @throws GrdfError
   */
  async dailyConsumption(pce: string, fromDay: string, toDay: string): Promise<ConsumptionReading[]> {
    const readings: ConsumptionReading[] = [];
    for (const window of this.plan(pce, fromDay, toDay)) readings.push(...(await this.readWindow({ pce, window })));
    return readings;
  }

  private plan(pce: string, fromDay: string, toDay: string): GrdfWindow[] {
    const shown = (value: unknown) => JSON.stringify(String(value).slice(0, 30));
    const what = 'GRDF informative consumption';
    if (!isPce(pce)) throw new GrdfError('BAD_REQUEST', `${what}: the PCE ${shown(pce)} is not 14 digits, or GI and 6 digits`);
    for (const [name, day] of [
      ['fromDay', fromDay],
      ['toDay', toDay],
    ] as const)
      if (typeof day !== 'string' || !isDay(day))
        throw new GrdfError('BAD_REQUEST', `${what} of PCE ${pce}: ${name} ${shown(day)} is not a day YYYY-MM-DD`, { pce });
    if (fromDay >= toDay)
      throw new GrdfError('BAD_REQUEST', `${what} of PCE ${pce}: ${fromDay} to ${toDay} is empty (toDay is excluded)`, {
        pce,
        window: { from: fromDay, to: toDay },
      });
    const today = localDay(this.http.now(), this.options.timezone);
    // A day later than GRDF's own "today - 3 years": a clock a little ahead of GRDF's is not refused.
    const oldest = addDays(shiftYears(today, -GRDF_HISTORY_YEARS), 1);
    const from = fromDay > oldest ? fromDay : oldest;
    const to = toDay < today ? toDay : today;
    return from < to ? planGrdfWindows(from, to, GRDF_WINDOW_DAYS) : [];
  }

  /** The words every message of a call starts with. */
  private about(call: Call): string {
    return `GRDF informative consumption of PCE ${call.pce}, ${call.window.from} to ${call.window.to} (excluded)`;
  }

  private fail(
    call: Call,
    code: GrdfErrorCode,
    what: string,
    details: { status?: number; retryAfterMs?: number; grdfCode?: string; cause?: unknown } = {},
  ): GrdfError {
    return new GrdfError(code, `${this.about(call)}: ${what}`, { pce: call.pce, window: call.window, ...details });
  }

  /** A window's readings, in order. */
  private async readWindow(call: Call): Promise<ConsumptionReading[]> {
    // The ADICT path under the base URL, which has a path of its own (/adict/v2).
    const url = endpoint(this.base, GRDF_PATHS.informative(call.pce));
    url.searchParams.set('date_debut', call.window.from);
    url.searchParams.set('date_fin', call.window.to);
    let lines: Line[] = [];
    const answer = await this.http.authorized(call, (token) =>
      this.http.withRetries(
        call,
        'the data request',
        () => {
          lines = [];
          return this.http.send(call, url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' } }, (text, n) => {
            const line = this.readLine(call, text, n);
            if (line) lines.push(line);
          });
        },
        (answer) => {
          // A period GRDF failed to give: asked again, and UNAVAILABLE when it never comes.
          const failed = lines.find((l): l is Extract<Line, { kind: 'failed' }> => l.kind === 'failed');
          if (!failed) return undefined;
          return (tries) =>
            this.fail(call, 'UNAVAILABLE', `GRDF failed to give a period at each of ${tries} (line ${failed.line}: ${failed.message})`, {
              status: answer.status,
              grdfCode: failed.code,
            });
        },
      ),
    );
    if (answer.status >= 200 && answer.status < 300) return this.readings(call, lines);
    const said = this.said(answer);
    const status = { status: answer.status, grdfCode: this.statusCode(answer) };
    if (answer.status === 401) throw this.fail(call, 'AUTH_FAILED', `GRDF refused a token it had just given (HTTP 401${said})`, status);
    if (answer.status === 403) throw this.fail(call, 'NO_ACCESS_RIGHT', `GRDF gives no access to this PCE's data (HTTP 403${said})`, status);
    if (answer.status >= 400 && answer.status < 500) throw this.fail(call, 'BAD_REQUEST', `GRDF refused the request (HTTP ${answer.status}${said})`, status);
    throw this.fail(call, 'BAD_ANSWER', `GRDF answered HTTP ${answer.status}${said}`, status);
  }

  /**
   * What line `n` of a data answer says: a reading, a period without data, a period GRDF failed
   * to give; undefined for an empty line or one of date_fin's gas day (see GRDF_PATHS).
   * @throws GrdfError BAD_ANSWER for a line that is not as documented, NO_ACCESS_RIGHT for a line that says so
   */
  private readLine(call: Call, text: string, n: number): Line | undefined {
    const trimmed = text.trim();
    if (!trimmed) return undefined;
    const where = `line ${n} of the answer`;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw this.fail(call, 'BAD_ANSWER', `${where} is not JSON: ${this.http.clean(trimmed, 60)}`);
    }
    const line = this.http.check(call, where, ConsumptionLine, withoutNulls(value));
    const status = line.statut_restitution;
    const code = status?.code === undefined ? '' : String(status.code).trim();
    if (code && !/^0+$/.test(code)) {
      const message = this.http.clean(status?.message ?? '', 240);
      const told = `code ${this.http.clean(code, 32)}${message ? `: ${message}` : ''}`;
      if (code === GRDF_STATUS.noData) return { kind: 'noData', line: n };
      if (isTechnicalStatus(code)) return { kind: 'failed', line: n, code, message: told };
      throw this.fail(call, 'NO_ACCESS_RIGHT', `GRDF gives no access to this PCE's informative data (${where}: ${told})`, { grdfCode: code });
    }
    const conso = line.consommation;
    if (!conso) throw this.fail(call, 'BAD_ANSWER', `${where} gives neither a consumption nor a status`);
    if (line.pce?.id_pce !== call.pce) throw this.fail(call, 'BAD_ANSWER', `${where} is about another PCE, or none`);
    const startDay = DATE_TIME_PATTERN.exec(conso.date_debut_consommation)![1]!;
    const endDay = DATE_TIME_PATTERN.exec(conso.date_fin_consommation)![1]!;
    if (!isDay(startDay) || !isDay(endDay)) throw this.fail(call, 'BAD_ANSWER', `${where}: its period ${startDay} to ${endDay} is not made of real days`);
    if (endDay <= startDay || endDay > addDays(startDay, GRDF_MAX_PERIOD_DAYS))
      throw this.fail(call, 'BAD_ANSWER', `${where}: its period ${startDay} to ${endDay} is empty or longer than ${GRDF_MAX_PERIOD_DAYS} days`);
    const gasDay = conso.journee_gaziere;
    if (gasDay !== undefined && (gasDay !== startDay || endDay !== addDays(startDay, 1)))
      throw this.fail(call, 'BAD_ANSWER', `${where}: consommation.journee_gaziere ${gasDay} is not the one day of its period ${startDay} to ${endDay}`);
    if (startDay === call.window.to) return undefined;
    if (startDay < call.window.from || startDay > call.window.to)
      throw this.fail(call, 'BAD_ANSWER', `${where}: its period starts on ${startDay}, outside the window asked`);
    const m3 = conso.volume_brut;
    const kWhPerM3 = conso.coeff_calcul?.coeff_conversion;
    const energy = conso.energie ?? (m3 !== undefined && kWhPerM3 !== undefined ? m3 * kWhPerM3 : undefined);
    if (energy === undefined)
      throw this.fail(call, 'BAD_ANSWER', `${where} gives neither consommation.energie nor consommation.volume_brut with coeff_calcul.coeff_conversion`);
    const days = Math.round((Date.parse(endDay) - Date.parse(startDay)) / 86_400_000);
    if (energy > MAX_KWH_PER_DAY * days)
      throw this.fail(call, 'BAD_ANSWER', `${where}: ${energy} kWh in ${days} day${days > 1 ? 's' : ''} is more than a delivery point can take`);
    const qualification = conso.type_qualif_conso;
    const measured = qualification === undefined || plain(qualification) === plain(MEASURED);
    return {
      kind: 'reading',
      line: n,
      startDay,
      endDay,
      kWh: energy,
      ...(m3 !== undefined && kWhPerM3 !== undefined ? { volume: { m3, kWhPerM3 } } : {}),
      quality: measured ? 'good' : 'uncertain',
    };
  }

  /** A window's readings from its lines, in order; BAD_ANSWER when two periods overlap. */
  private readings(call: Call, lines: readonly Line[]): ConsumptionReading[] {
    const periods = lines.filter((l): l is Extract<Line, { kind: 'reading' }> => l.kind === 'reading').sort((a, b) => a.startDay.localeCompare(b.startDay));
    const tz = this.options.timezone;
    const readings: ConsumptionReading[] = [];
    for (const [i, p] of periods.entries()) {
      const before = periods[i - 1];
      if (before && p.startDay < before.endDay)
        throw this.fail(call, 'BAD_ANSWER', `line ${p.line} of the answer: its period from ${p.startDay} overlaps line ${before.line}'s, to ${before.endDay}`);
      readings.push({
        start: dayStart(p.startDay, tz),
        end: dayStart(p.endDay, tz),
        kWh: p.kWh,
        quality: p.quality,
        ...(p.volume ? { volume: p.volume } : {}),
      });
    }
    return readings;
  }

  /** The first JSON line of an error answer, if it is one. */
  private errorBody(answer: ApiAnswer): unknown {
    const first = answer.text.slice(0, 65_536).trim().split('\n', 1)[0] ?? '';
    try {
      return JSON.parse(first);
    } catch {
      return undefined;
    }
  }

  /** GRDF's `statut_restitution` code in an error answer, if it gave one. */
  private statusCode(answer: ApiAnswer): string | undefined {
    const body = this.errorBody(answer) as { statut_restitution?: unknown } | undefined;
    const status = body && typeof body === 'object' ? withoutNulls(body.statut_restitution) : undefined;
    if (!validate(StatusObject, status).ok) return undefined;
    const code = (status as Static<typeof StatusObject>).code;
    return code === undefined || code === '' ? undefined : String(code);
  }

  /** What GRDF said with an answer, short and cleaned, as `: …` (empty when it said nothing). */
  private said(answer: ApiAnswer): string {
    let text = answer.text.slice(0, 2000);
    const body = this.errorBody(answer);
    const status = body && typeof body === 'object' ? withoutNulls((body as { statut_restitution?: unknown }).statut_restitution) : undefined;
    if (status && validate(StatusObject, status).ok) {
      const { code, message } = status as Static<typeof StatusObject>;
      const parts = [code === undefined ? '' : `code ${String(code).slice(0, 32)}`, (message ?? '').slice(0, 1000)].filter(Boolean);
      if (parts.length) text = parts.join(': ');
    } else text = oauthErrorText(body) ?? text;
    return this.http.quoted(text);
  }
}

/** A word without accents and case, for GRDF's qualifications (Mesuré, Mesure, MESURE). */
function plain(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').trim().toLowerCase();
}
