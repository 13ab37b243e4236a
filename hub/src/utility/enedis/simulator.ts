/**
 * Enedis Data Connect on a real HTTP server, for CityPilot's tests and the demo city (its
 * building with no management system reads its Linky through it): the application's token, the
 * customer's consent page, the daily consumption and the load curve of simulated meters, with
 * Enedis's limits (windows, history, quotas) and the faults a city meets (days late, days
 * corrected, outages, expired tokens, revoked consents, garbage).
 *
 * Each meter follows a municipal building's week, the same for the same PRM: a base load day and
 * night, the occupied hours of weekdays, more in winter. A day's Wh is the sum of its steps'
 * energy (W × step), rounded to the Wh: both answers agree, as they do for a Linky (Enedis
 * computes the day from the meter's index, and the curve's steps sum to it within rounding).
 *
 * Simplified where tests and the demo need no more: a consent is kept per meter, for every
 * application (Enedis keeps one per application); the consent page consents at once; quotas
 * count data requests per application in fixed windows of a second and an hour.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { simulationNoise } from '@citypilot/sdk';
import {
  oauthError as error,
  seedOf,
  SIMULATED_API_REQUESTS_KEPT,
  SimulatedApi,
  type SimulatedApiAnswer,
  type SimulatedApiOptions,
  type SimulatedApiRequest,
} from '../api/simulated-api.js';
import { addDays, dayStart, daysBetween, isDay, localDay, zoneOffset } from '../local-time.js';
import {
  addConsentDuration,
  ENEDIS_ERRORS,
  ENEDIS_HISTORY,
  ENEDIS_PATHS,
  ENEDIS_WINDOW_DAYS,
  formatLocalDateTime,
  isPrm,
  parseConsentDuration,
  RAW_MEASURE_TYPE,
  RAW_QUALITY,
  type EnedisMeasure,
} from './data-connect.js';

/** A Linky meter the simulator serves. */
export interface SimulatedUsagePoint {
  /** The PRM: 14 digits. Also the seed of its building's profile. */
  prm: string;
  /** Whether the customer has consented (without end). Default true. */
  consent?: boolean;
  /** The building's peak power in kW (a winter weekday's occupied hours). Default: the simulator's defaultScaleKw. */
  scaleKw?: number;
  /** The meter's last activation: no data before, and a call starting before is refused. Default: the simulator's firstDay. */
  firstDay?: string;
  /** The load curve's step in minutes. Default 30. */
  stepMinutes?: 10 | 15 | 30 | 60;
}

/** An application registered with the simulated Enedis. */
export interface SimulatedClient {
  id: string;
  secret: string;
  /** The redirect URI registered for it: the consent page sends customers there when the request gives none. */
  redirectUri?: string;
}

export interface EnedisSimulatorOptions extends SimulatedApiOptions {
  clients: readonly SimulatedClient[];
  usagePoints?: readonly SimulatedUsagePoint[];
  /** The city's time zone, in which days and steps are written. Default Europe/Paris. */
  timezone?: string;
  /** The current local day (YYYY-MM-DD): data exist up to the day before. Default: the day now in `timezone`. */
  today?: () => string;
  /** The meters' activation day unless a meter says otherwise. Default: 3 years before today when the simulator starts. */
  firstDay?: string;
  /** A meter's peak power unless it says otherwise, kW. Default 40. */
  defaultScaleKw?: number;
  /** A token's life, seconds. Default 12,600 (3 h 30, Data Connect's). */
  tokenLifetimeSeconds?: number;
  /** Data requests an application may make a second and an hour (fixed windows) before 429. Default 5 and 10,000, Enedis's. */
  quota?: { perSecond?: number; perHour?: number };
  /** Days per call and history depth. Default Enedis's (data-connect.ts). */
  limits?: {
    windowDays?: Partial<Record<EnedisMeasure, number>>;
    history?: Partial<Record<EnedisMeasure, { months: number; days: number }>>;
  };
  /** The PRM the consent page says the customer chose, unless its request gives `usage_point_id` (the demo's way). */
  consentingUsagePoint?: string;
}

/** A request the simulator answered. */
export type SimulatedRequest = SimulatedApiRequest;

/** An answer the simulator is about to give, for {@link EnedisSimulator.override}. */
export type SimulatedAnswer = SimulatedApiAnswer;

/** A consent the customer gave on the consent page, or the options gave. */
export interface SimulatedConsent {
  prm: string;
  /** The day it ends (the first day without it); undefined: no end. */
  until?: string;
  /** As asked on the consent page. */
  duration?: string;
}

/** Requests kept in {@link EnedisSimulator.requests}: the oldest go first. */
export const SIMULATOR_REQUESTS_KEPT = SIMULATED_API_REQUESTS_KEPT;

const DAY_CACHE_SIZE = 4000;

interface Point {
  prm: string;
  scaleKw: number;
  firstDay: string;
  stepMinutes: number;
  seed: number;
}

interface Step {
  /** Enedis's date of the step: its end, local time. */
  date: string;
  w: number;
}

interface DayData {
  steps: Step[];
  wh: number;
}

export class EnedisSimulator extends SimulatedApi {
  private readonly timezone: string;
  private readonly today: () => string;
  private readonly points = new Map<string, Point>();
  private readonly consents = new Map<string, SimulatedConsent>();
  private readonly dayCache = new Map<string, DayData>();

  private constructor(private readonly options: EnedisSimulatorOptions) {
    super({ options, tokenPath: ENEDIS_PATHS.token, tokenLifetimeSeconds: 12_600, contentType: 'application/json' });
    this.timezone = options.timezone ?? 'Europe/Paris';
    this.today = options.today ?? (() => localDay(Date.now(), this.timezone));
  }

  /**
   * Starts the server.
   * @throws RangeError for a PRM that is not 14 digits, a day that is not one, a quota or scale that is not positive
   */
  static async start(options: EnedisSimulatorOptions): Promise<EnedisSimulator> {
    const simulator = new EnedisSimulator(options);
    const firstDay = options.firstDay ?? addDays(simulator.today(), -3 * 365);
    if (!isDay(firstDay)) throw new RangeError(`firstDay ${firstDay} is not a day YYYY-MM-DD`);
    for (const p of options.usagePoints ?? []) {
      simulator.addPoint(p, firstDay);
      if (p.consent ?? true) simulator.consents.set(p.prm, { prm: p.prm });
    }
    for (const limit of [options.quota?.perSecond, options.quota?.perHour, options.tokenLifetimeSeconds, options.defaultScaleKw])
      if (limit !== undefined && !(limit > 0)) throw new RangeError('quotas, token lifetime and scale must be positive');
    await simulator.listen();
    return simulator;
  }

  /** The base URL, e.g. http://127.0.0.1:40123 (the client's baseUrl; the consent page is under it too). */
  get url(): string {
    return this.origin;
  }

  /** The customer withdraws consent for `prm` (403 from then on). */
  revokeConsent(prm: string): void {
    this.consents.delete(prm);
  }

  /** The consent on record for `prm`, if any. */
  consent(prm: string): SimulatedConsent | undefined {
    return this.consents.get(prm);
  }

  /** The Wh of `prm`'s `day` as answered now (withholding aside), or undefined for an unknown PRM. */
  dailyWh(prm: string, day: string): number | undefined {
    const point = this.points.get(prm);
    return point && this.day(point, day).wh;
  }

  private addPoint(p: SimulatedUsagePoint, defaultFirstDay: string): Point {
    if (!isPrm(p.prm)) throw new RangeError(`usage point ${JSON.stringify(p.prm)}: a PRM is 14 digits`);
    const firstDay = p.firstDay ?? defaultFirstDay;
    if (!isDay(firstDay)) throw new RangeError(`usage point ${p.prm}: firstDay ${firstDay} is not a day YYYY-MM-DD`);
    const scaleKw = p.scaleKw ?? this.options.defaultScaleKw ?? 40;
    if (!(scaleKw > 0)) throw new RangeError(`usage point ${p.prm}: scaleKw must be positive`);
    const stepMinutes = p.stepMinutes ?? 30;
    if (![10, 15, 30, 60].includes(stepMinutes)) throw new RangeError(`usage point ${p.prm}: stepMinutes is 10, 15, 30 or 60`);
    const point = { prm: p.prm, scaleKw, firstDay, stepMinutes, seed: seedOf(p.prm) };
    this.points.set(p.prm, point);
    return point;
  }

  protected route(request: IncomingMessage, asked: SimulatedRequest, query: URLSearchParams): SimulatedAnswer {
    if (asked.method !== 'GET') return error(405, 'invalid_request', 'this resource takes GET');
    if (asked.path === ENEDIS_PATHS.authorize) return this.authorize(query);
    if (asked.path === ENEDIS_PATHS.dailyConsumption) return this.data('daily', request, query);
    if (asked.path === ENEDIS_PATHS.loadCurve) return this.data('loadCurve', request, query);
    return error(404, 'not_found', 'no such resource');
  }

  protected cutShort(answer: SimulatedAnswer): SimulatedAnswer {
    return { ...answer, body: answer.body.slice(0, Math.floor(answer.body.length / 2)) };
  }

  protected tooMany(retryAfter: string, hourly: boolean): SimulatedAnswer {
    return error(429, 'too_many_requests', hourly ? 'Hourly quota exceeded' : 'Quota exceeded', { 'retry-after': retryAfter });
  }

  protected grantedScope(): string {
    return 'am_application_scope default';
  }

  /**
   * The consent page: the customer signs in and consents at once (there is no one to click), and
   * is sent back to the application with a code, its state and the meter chosen.
   */
  private authorize(query: URLSearchParams): SimulatedAnswer {
    const client = this.options.clients.find((c) => c.id === query.get('client_id'));
    if (!client) return error(400, 'invalid_client', 'unknown client_id');
    if (query.get('response_type') !== 'code') return error(400, 'unsupported_response_type', 'response_type must be code');
    const durationText = query.get('duration') ?? '';
    const duration = parseConsentDuration(durationText);
    if (!duration) return error(400, 'invalid_request', 'duration must be an ISO 8601 period of at most 3 years');
    const state = query.get('state') ?? '';
    if (state.length > 100) return error(400, 'invalid_request', 'state has more than 100 characters');
    const redirectUri = query.get('redirect_uri') ?? client.redirectUri;
    if (!redirectUri) return error(400, 'invalid_request', 'redirect_uri is missing and none is registered');
    if (client.redirectUri && redirectUri !== client.redirectUri) return error(400, 'invalid_request', 'redirect_uri is not the one registered');
    let target: URL;
    try {
      target = new URL(redirectUri);
    } catch {
      return error(400, 'invalid_request', 'redirect_uri is not a URL');
    }
    const prm = query.get('usage_point_id') ?? this.options.consentingUsagePoint;
    if (!isPrm(prm)) return error(400, 'invalid_request', 'no usage point to consent for (usage_point_id: 14 digits)');
    if (!this.points.has(prm)) this.addPoint({ prm }, this.options.firstDay ?? addDays(this.today(), -3 * 365));
    this.consents.set(prm, { prm, until: addConsentDuration(this.today(), duration), duration: durationText });
    target.searchParams.set('code', randomBytes(12).toString('base64url'));
    if (state) target.searchParams.set('state', state);
    target.searchParams.set('usage_point_id', prm);
    return { status: 302, body: '', headers: { location: target.toString() } };
  }

  private data(measure: EnedisMeasure, request: IncomingMessage, query: URLSearchParams): SimulatedAnswer {
    const refused = this.admit(request);
    if (refused) return refused;

    const prm = query.get('usage_point_id') ?? '';
    const start = query.get('start') ?? '';
    const end = query.get('end') ?? '';
    if (!isPrm(prm)) return error(400, 'invalid_request', 'usage_point_id must be 14 digits');
    if (!isDay(start) || !isDay(end)) return error(400, 'invalid_request', 'start and end must be days YYYY-MM-DD');
    if (start >= end) return error(400, 'invalid_request', 'The start date must be before the end date');
    const today = this.today();
    const consent = this.consents.get(prm);
    const point = this.points.get(prm);
    if (!consent || !point || (consent.until !== undefined && consent.until <= today))
      return error(403, ENEDIS_ERRORS.noConsent, 'No consent can be found for this customer and this usage point');
    if (start < point.firstDay)
      return error(400, ENEDIS_ERRORS.beforeActivation, "The requested period cannot be anterior to the meter's last activation date");
    const history = this.options.limits?.history?.[measure] ?? ENEDIS_HISTORY[measure];
    const oldest = addDays(addConsentDuration(today, { years: 0, months: -history.months, days: 0 }), -history.days);
    if (start < oldest) return error(400, 'invalid_request', `The start date cannot be before ${oldest} for this resource`);
    const maxDays = this.options.limits?.windowDays?.[measure] ?? ENEDIS_WINDOW_DAYS[measure];
    if (start < addDays(end, -maxDays)) return error(400, 'invalid_request', `The requested period cannot exceed ${maxDays} days`);

    const days = daysBetween(start, end).filter((d) => d < today && d >= point.firstDay && !this.isWithheld(prm, d));
    const readings =
      measure === 'daily'
        ? days.map((d) => ({ value: String(this.day(point, d).wh), date: d }))
        : days.flatMap((d) =>
            this.day(point, d).steps.map((s) => ({
              value: String(s.w),
              date: s.date,
              interval_length: `PT${point.stepMinutes}M`,
              measure_type: RAW_MEASURE_TYPE,
            })),
          );
    if (readings.length === 0) return error(404, ENEDIS_ERRORS.noData, 'No data found for the requested period');
    const readingType =
      measure === 'daily'
        ? { unit: 'Wh', measurement_kind: 'energy', aggregate: 'sum', measuring_period: 'P1D' }
        : { unit: 'W', measurement_kind: 'power', aggregate: 'average' };
    return json(200, { meter_reading: { usage_point_id: prm, start, end, quality: RAW_QUALITY, reading_type: readingType, interval_reading: readings } });
  }

  /** `day`'s steps and Wh for `point`, corrections applied. */
  private day(point: Point, day: string): DayData {
    const key = `${point.prm}|${day}`;
    let data = this.dayCache.get(key);
    if (!data) {
      data = simulateDay(point, day, this.timezone);
      if (this.dayCache.size >= DAY_CACHE_SIZE) this.dayCache.clear();
      this.dayCache.set(key, data);
    }
    const factor = this.correction(point.prm, day);
    if (factor === undefined) return data;
    const steps = data.steps.map((s) => ({ date: s.date, w: Math.round(s.w * factor) }));
    return { steps, wh: energyWh(steps, point.stepMinutes) };
  }
}

function json(status: number, body: unknown): SimulatedAnswer {
  return { status, body: JSON.stringify(body) };
}

/** The Wh of a day's steps: W × step, summed, rounded to the Wh. */
function energyWh(steps: readonly Step[], stepMinutes: number): number {
  let wMinutes = 0;
  for (const s of steps) wMinutes += s.w * stepMinutes;
  return Math.round(wMinutes / 60);
}

/**
 * A municipal building's day on its meter: every step from local midnight to the next (46 half
 * hours when clocks go forward, 50 when they go back), dated by its end on the wall clock.
 */
function simulateDay(point: Point, day: string, timezone: string): DayData {
  const start = dayStart(day, timezone);
  const end = dayStart(addDays(day, 1), timezone);
  const stepMs = point.stepMinutes * 60_000;
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  const dayOfYear = (Date.UTC(y, m - 1, d) - Date.UTC(y, 0, 1)) / 86_400_000;
  // The building's own habits, from its PRM: when it opens, how much runs day and night.
  const opensAt = 7 + (point.seed % 5) * 0.25; // 7:00 to 8:00
  const closesAt = 17.5 + ((point.seed >>> 4) % 5) * 0.25; // 17:30 to 18:30
  const base = 0.2 + ((point.seed >>> 8) % 11) / 100; // 20 to 30 % of the peak, day and night
  // Heating and lighting: a quarter more at the heart of winter (mid-January) than in summer.
  const season = 0.75 + 0.25 * Math.max(0, Math.cos((2 * Math.PI * (dayOfYear - 15)) / 365.25));
  const sameOffset = zoneOffset(start, timezone) === zoneOffset(end, timezone);
  const offset = zoneOffset(start, timezone);
  const steps: Step[] = [];
  for (let stepEnd = start + stepMs; stepEnd <= end; stepEnd += stepMs) {
    const middle = stepEnd - stepMs / 2;
    const local = middle + (sameOffset ? offset : zoneOffset(middle, timezone));
    const hour = (local - Date.UTC(y, m - 1, d)) / 3_600_000;
    const occupied = occupancy(hour, opensAt, closesAt, weekday);
    const load = (base + (1 - base) * occupied) * season * (1 + 0.04 * simulationNoise(stepEnd, point.seed % 1000));
    const date = sameOffset ? new Date(stepEnd + offset).toISOString().slice(0, 19).replace('T', ' ') : formatLocalDateTime(stepEnd, timezone);
    steps.push({ date, w: Math.max(0, Math.round(point.scaleKw * 1000 * load)) });
  }
  return { steps, wh: energyWh(steps, point.stepMinutes) };
}

/** Share of the occupied load at `hour` (local, 0–24): ramps around the opening hours on weekdays, a little on Saturday mornings. */
function occupancy(hour: number, opensAt: number, closesAt: number, weekday: number): number {
  if (weekday === 0) return 0;
  const ramp = (hour - (opensAt - 1.5)) / 1.5;
  const fall = (closesAt + 2.5 - hour) / 2.5;
  const shape = Math.max(0, Math.min(1, ramp, fall));
  if (weekday === 6) return hour < 13 ? 0.3 * shape : 0;
  return shape;
}
