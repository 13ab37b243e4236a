/**
 * Enedis Data Connect as its documentation describes it, shared by CityPilot's client and its
 * simulator: the paths, the limits of one call, the shapes of the answers.
 *
 * Sources: Enedis DataHub's pages "Metering v5" (daily consumption, consumption load curve) and
 * "Jeton v3" (client-credentials token), read through public summaries of them (the pages
 * themselves need a DataHub account). Where a summary and the documentation differ, the
 * documentation wins and the comments below say so.
 */
import { Type } from '@sinclair/typebox';
import { zoneOffset } from '../local-time.js';

/** Paths under the gateway's base URL (production: https://gw.ext.prod.api.enedis.fr). */
export const ENEDIS_PATHS = {
  /** POST, form: grant_type=client_credentials, client_id, client_secret. */
  token: '/oauth2/v3/token',
  /** GET ?usage_point_id=&start=&end= (days, end exclusive): Wh per day. */
  dailyConsumption: '/metering_data_dc/v5/daily_consumption',
  /** GET ?usage_point_id=&start=&end= (days, end exclusive): average W per step. */
  loadCurve: '/metering_data_clc/v5/consumption_load_curve',
  /** The customer's consent page (on Enedis's customer site, mon-compte-particulier.enedis.fr, in production). */
  authorize: '/dataconnect/v1/oauth2/authorize',
} as const;

export type EnedisMeasure = 'daily' | 'loadCurve';

/**
 * Days one call may cover. The documentation: "un appel couvre au maximum 7 jours consécutifs"
 * for the load curve (20 days take three calls). For daily consumption it gives no figure that
 * the public summaries repeat; 365 days is what Data Connect's users work with.
 */
export const ENEDIS_WINDOW_DAYS: Readonly<Record<EnedisMeasure, number>> = { daily: 365, loadCurve: 7 };

/**
 * How far back a call may start, counted from the day of the call: 24 months and 15 days for the
 * load curve, 36 months and 15 days for daily consumption (the documentation's figures), and
 * never before the meter's last activation (Enedis answers 400 ADAM-ERR0123).
 */
export const ENEDIS_HISTORY: Readonly<Record<EnedisMeasure, { months: number; days: number }>> = {
  daily: { months: 36, days: 15 },
  loadCurve: { months: 24, days: 15 },
};

/**
 * Load-curve steps: `interval_length` as the documentation lists it. 30 minutes by default;
 * 60 minutes for meters set since 2018 that store the curve locally; 10 or 15 minutes for some.
 */
export const ENEDIS_STEP_MINUTES: Readonly<Record<string, number>> = { PT10M: 10, PT15M: 15, PT30M: 30, PT60M: 60 };

/**
 * The only `measure_type` the documentation gives for Data Connect: "B", raw data ("données
 * brutes") recorded by the certified meter. The answer's `quality` says the same as "BRUT".
 * Anything else (SGE's other natures: estimated, corrected) is read as uncertain.
 */
export const RAW_MEASURE_TYPE = 'B';
export const RAW_QUALITY = 'BRUT';

/** Enedis's error codes that CityPilot reads or the simulator writes, as Data Connect's users report them. */
export const ENEDIS_ERRORS = {
  /** 403: "No consent can be found for this customer and this usage point" (missing, revoked or expired). */
  noConsent: 'ADAM-DC-0008',
  /** 400: "The requested period cannot be anterior to the meter's last activation date". */
  beforeActivation: 'ADAM-ERR0123',
  /** 404: the window holds no measure (public clients read it as an empty answer). */
  noData: 'no_data_found',
} as const;

/** A usage point's id (PRM, or PDL): 14 digits, on the customer's bill and the Linky's display. */
export const PRM_PATTERN = /^[0-9]{14}$/;

export function isPrm(text: unknown): text is string {
  return typeof text === 'string' && PRM_PATTERN.test(text);
}

/** Enedis's local date-time: `YYYY-MM-DD HH:MM:SS`, the wall clock of the city (Europe/Paris). */
export const LOCAL_DATE_TIME_PATTERN = /^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})$/;

/** Instant `epoch` as Enedis writes it: the wall clock in `timezone`, `YYYY-MM-DD HH:MM:SS`. */
export function formatLocalDateTime(epoch: number, timezone: string): string {
  return new Date(epoch + zoneOffset(epoch, timezone)).toISOString().slice(0, 19).replace('T', ' ');
}

// Values are strings of integers (Wh, W): up to 12 digits, far above any delivery point's figure.
const IntegerText = Type.String({ pattern: '^[0-9]{1,12}$', expected: 'a string of digits (an integer)' });
const DayText = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', expected: 'a day YYYY-MM-DD' });
const DateTimeText = Type.String({ pattern: LOCAL_DATE_TIME_PATTERN.source, expected: 'a local time YYYY-MM-DD HH:MM:SS' });
const ShortText = Type.String({ maxLength: 64 });

/** The most steps a load-curve answer may hold: 7 days of 10-minute steps, with the autumn hours. */
export const MAX_LOAD_CURVE_READINGS = 7 * 150;
/** The most days a daily answer may hold. */
export const MAX_DAILY_READINGS = 366;

/** `GET daily_consumption`'s answer (200). Fields the client does not read may be there too. */
export const DailyConsumptionAnswer = Type.Object({
  meter_reading: Type.Object({
    usage_point_id: ShortText,
    start: Type.Optional(ShortText),
    end: Type.Optional(ShortText),
    quality: Type.Optional(ShortText),
    reading_type: Type.Object({ unit: Type.Literal('Wh'), measurement_kind: Type.Optional(ShortText), aggregate: Type.Optional(ShortText) }),
    interval_reading: Type.Array(Type.Object({ value: IntegerText, date: DayText }), { maxItems: MAX_DAILY_READINGS }),
  }),
});

/** `GET consumption_load_curve`'s answer (200): each step dated by its END, in local time. */
export const LoadCurveAnswer = Type.Object({
  meter_reading: Type.Object({
    usage_point_id: ShortText,
    start: Type.Optional(ShortText),
    end: Type.Optional(ShortText),
    quality: Type.Optional(ShortText),
    reading_type: Type.Object({ unit: Type.Literal('W'), measurement_kind: Type.Optional(ShortText), aggregate: Type.Optional(ShortText) }),
    interval_reading: Type.Array(
      Type.Object({
        value: IntegerText,
        date: DateTimeText,
        interval_length: Type.String({ maxLength: 16 }),
        measure_type: Type.Optional(ShortText),
      }),
      { maxItems: MAX_LOAD_CURVE_READINGS },
    ),
  }),
});

/**
 * How long a customer's consent lasts, as the authorize page takes it: an ISO 8601 period of
 * years, months and days (`P1Y`, `P6M`, `P36M`, `P1Y6M`, `P90D`). The documentation: it "cannot
 * exceed 3 years".
 */
export interface ConsentDuration {
  years: number;
  months: number;
  days: number;
}

const CONSENT_DURATION_PATTERN = /^P(?:([0-9]{1,2})Y)?(?:([0-9]{1,3})M)?(?:([0-9]{1,4})D)?$/;

/** The period `text` gives, or undefined when it is not one of at most 3 years. */
export function parseConsentDuration(text: string): ConsentDuration | undefined {
  const m = CONSENT_DURATION_PATTERN.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) return undefined;
  const duration = { years: Number(m[1] ?? 0), months: Number(m[2] ?? 0), days: Number(m[3] ?? 0) };
  const months = duration.years * 12 + duration.months;
  if (months === 0 && duration.days === 0) return undefined;
  // 3 years: 36 months, or 1,096 days (a leap day included), whichever way it is written.
  if (months > 36 || (months === 36 && duration.days > 0) || months * 30.4375 + duration.days > 1096) return undefined;
  return duration;
}

/** The day `duration` after `day` (YYYY-MM-DD), months clamped to the month's last day (31 January + P1M: 29 February). */
export function addConsentDuration(day: string, duration: ConsentDuration): string {
  const [y, mo, d] = day.split('-').map(Number) as [number, number, number];
  const month = mo - 1 + duration.years * 12 + duration.months;
  const lastDay = new Date(Date.UTC(y, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(y, month, Math.min(d, lastDay) + duration.days)).toISOString().slice(0, 10);
}
