/**
 * GRDF's ADICT API on a real HTTP server, for CityPilot's tests and demos: the application's
 * token, and the informative consumption of simulated gas meters (PCEs) as NDJSON, with GRDF's
 * limits (history, date_fin, access rights, quotas) and the faults a city meets (days late, days
 * corrected, periods GRDF fails to give, outages, expired tokens, revoked access rights, garbage).
 *
 * Each PCE follows a municipal building heated with gas, the same for the same PCE: a little gas
 * all year (hot water, a kitchen), heating from mid-October to mid-May that follows a smooth
 * outdoor temperature (more in January than in April), less on Saturdays and less again on
 * Sundays (the heating set back). A gas day's volume is a whole number of m³, as a Gazpar
 * meter's index counts it; its energy is the volume times the month's conversion coefficient
 * (about 10.7 to 11.6 kWh/m³, two decimals, as GRDF publishes it), rounded to the kWh. A PCE read
 * monthly gives one line per whole month: the sum of its days' volumes, times the month's coefficient.
 *
 * Simplified where tests and demos need no more: an access right is kept per PCE, for every
 * application; the indexes of `releve_debut` and `releve_fin` are not given (null); 400 answers
 * carry the documentation's sentences without a code (the codes of GRDF's 400s are not public);
 * quotas count data requests per application in fixed windows of a second and an hour.
 */
import type { IncomingMessage } from 'node:http';
import { simulationNoise } from '@citypilot/sdk';
import {
  oauthError,
  seedOf,
  SIMULATED_API_REQUESTS_KEPT,
  SimulatedApi,
  type SimulatedApiAnswer,
  type SimulatedApiClient,
  type SimulatedApiOptions,
  type SimulatedApiRequest,
} from '../api/simulated-api.js';
import { addDays, daysBetween, isDay, localDay, localToEpoch, zoneOffset } from '../local-time.js';
import { GRDF_HISTORY_YEARS, GRDF_PATHS, GRDF_STATUS, GRDF_WINDOW_DAYS, isPce, MEASURED, shiftYears } from './adict.js';

/** A gas meter the simulator serves. */
export interface SimulatedPce {
  /** The PCE: 14 digits, or GI and 6 digits. Also the seed of its building's profile. */
  pce: string;
  /** Whether the city has an access right to its informative data. Default true. */
  accessRight?: boolean;
  /** How its meter is read: each gas day (Gazpar), or each month. Default daily. */
  frequency?: 'daily' | 'monthly';
  /** The m³ of a cold winter weekday (about 0 °C outside). Default: the simulator's defaultPeakM3. */
  peakM3?: number;
  /** The meter's first day: no data before. Default: the simulator's firstDay. */
  firstDay?: string;
  /** GRDF gives the volume and the coefficient only (energie null), as for some meters. Default false. */
  withoutEnergy?: boolean;
}

/** An application registered with the simulated GRDF. */
export type SimulatedGrdfClient = SimulatedApiClient;

export interface GrdfSimulatorOptions extends SimulatedApiOptions {
  clients: readonly SimulatedGrdfClient[];
  pces?: readonly SimulatedPce[];
  /** The city's time zone, in which gas days are written. Default Europe/Paris. */
  timezone?: string;
  /** The current local day (YYYY-MM-DD): data exist up to the day before. Default: the day now in `timezone`. */
  today?: () => string;
  /** The meters' first day unless a PCE says otherwise. Default: 3 years before today when the simulator starts. */
  firstDay?: string;
  /** A PCE's m³ on a cold winter weekday unless it says otherwise. Default 300 (a school of about 2,000 m²). */
  defaultPeakM3?: number;
  /** A token's life, seconds. Default 14,399 (GRDF's 4 hours). */
  tokenLifetimeSeconds?: number;
  /** Data requests an application may make a second and an hour (fixed windows) before 429. Default 5 and 10,000 (GRDF's are not published). */
  quota?: { perSecond?: number; perHour?: number };
  /**
   * Days per call (GRDF documents none: the simulator holds clients to CityPilot's windows) and
   * years of history. Default GRDF_WINDOW_DAYS and GRDF_HISTORY_YEARS.
   */
  limits?: { windowDays?: number; historyYears?: number };
}

/** A request the simulator answered. */
export type SimulatedGrdfRequest = SimulatedApiRequest;

/** An answer the simulator is about to give, for {@link GrdfSimulator.override}. */
export type SimulatedGrdfAnswer = SimulatedApiAnswer;

/** What a PCE's period is, as the simulator answers it now (withholding aside). */
export interface SimulatedGasPeriod {
  /** The period's first day and the day after its last. */
  from: string;
  to: string;
  m3: number;
  kWhPerM3: number;
  kWh: number;
}

/** Requests kept in {@link GrdfSimulator.requests}: the oldest go first. */
export const GRDF_SIMULATOR_REQUESTS_KEPT = SIMULATED_API_REQUESTS_KEPT;

const DAY_CACHE_SIZE = 8000;
const NDJSON = 'application/x-ndjson';

interface Meter {
  pce: string;
  accessRight: boolean;
  frequency: 'daily' | 'monthly';
  peakM3: number;
  firstDay: string;
  withoutEnergy: boolean;
  seed: number;
  /** Why the city has no access right, when it has none: GRDF's status code. */
  refusal: string;
}

const REFUSALS: Record<string, string> = {
  [GRDF_STATUS.noAccessRight]: "Aucun droit d'accès pour tous les PCE en entrée.",
  [GRDF_STATUS.revoked]: 'Le client titulaire a révoqué son consentement, vous ne pouvez plus accéder aux données de ce PCE.',
};

export class GrdfSimulator extends SimulatedApi {
  private readonly timezone: string;
  private readonly today: () => string;
  private readonly meters = new Map<string, Meter>();
  private readonly failing = new Set<string>();
  private readonly dayCache = new Map<string, number>();

  private constructor(private readonly options: GrdfSimulatorOptions) {
    super({ options, tokenPath: GRDF_PATHS.token, tokenLifetimeSeconds: 14_399, contentType: NDJSON });
    this.timezone = options.timezone ?? 'Europe/Paris';
    this.today = options.today ?? (() => localDay(Date.now(), this.timezone));
  }

  /**
   * Starts the server.
   * @throws RangeError for a PCE that is not one, a day that is not one, a quota, lifetime or volume that is not positive
   */
  static async start(options: GrdfSimulatorOptions): Promise<GrdfSimulator> {
    const simulator = new GrdfSimulator(options);
    const firstDay = options.firstDay ?? shiftYears(simulator.today(), -3);
    if (!isDay(firstDay)) throw new RangeError(`firstDay ${firstDay} is not a day YYYY-MM-DD`);
    for (const limit of [options.quota?.perSecond, options.quota?.perHour, options.tokenLifetimeSeconds, options.defaultPeakM3, options.limits?.windowDays])
      if (limit !== undefined && !(limit > 0)) throw new RangeError('quotas, token lifetime, volumes and windows must be positive');
    for (const p of options.pces ?? []) simulator.addMeter(p, firstDay);
    await simulator.listen();
    return simulator;
  }

  /** The API's base URL, e.g. http://127.0.0.1:40123/adict/v2 (the client's baseUrl; its token endpoint is at tokenUrl). */
  get url(): string {
    return `${this.origin}/adict/v2`;
  }

  /** The token endpoint, on the same server: where a client given `url` looks for it by default. */
  get tokenUrl(): string {
    return `${this.origin}${GRDF_PATHS.token}`;
  }

  /**
   * While on, `day`'s line of `pce` (a month's: its first day) is GRDF's technical error on the
   * period (code 2000100, "Veuillez retenter votre appel"), the other lines given as usual.
   */
  failPeriod(pce: string, day: string, on = true): void {
    if (on) this.failing.add(`${pce}|${day}`);
    else this.failing.delete(`${pce}|${day}`);
  }

  /** The customer revokes the city's access right to `pce` (a line with code 1000014 from then on). */
  revokeAccess(pce: string): void {
    const meter = this.meters.get(pce);
    if (meter) Object.assign(meter, { accessRight: false, refusal: GRDF_STATUS.revoked });
  }

  /** The customer gives the city an access right to `pce` (a PCE unknown so far is added with the defaults). */
  grantAccess(pce: string): void {
    const meter = this.meters.get(pce) ?? this.addMeter({ pce }, this.options.firstDay ?? shiftYears(this.today(), -3));
    meter.accessRight = true;
  }

  /**
   * `pce`'s period that starts on `day` as answered now, withholding aside: a gas day, or a
   * PCE read monthly's month (`day` its first); undefined for an unknown PCE or another day.
   */
  period(pce: string, day: string): SimulatedGasPeriod | undefined {
    const meter = this.meters.get(pce);
    if (!meter || !isDay(day)) return undefined;
    if (meter.frequency === 'monthly' && !day.endsWith('-01')) return undefined;
    const to = meter.frequency === 'monthly' ? nextMonth(day) : addDays(day, 1);
    const m3 = daysBetween(day, to).reduce((sum, d) => sum + this.dayM3(meter, d), 0);
    const kWhPerM3 = coefficient(day, meter.seed);
    return { from: day, to, m3, kWhPerM3, kWh: Math.round(m3 * kWhPerM3) };
  }

  private addMeter(p: SimulatedPce, defaultFirstDay: string): Meter {
    if (!isPce(p.pce)) throw new RangeError(`PCE ${JSON.stringify(p.pce)}: a PCE is 14 digits, or GI and 6 digits`);
    const firstDay = p.firstDay ?? defaultFirstDay;
    if (!isDay(firstDay)) throw new RangeError(`PCE ${p.pce}: firstDay ${firstDay} is not a day YYYY-MM-DD`);
    const peakM3 = p.peakM3 ?? this.options.defaultPeakM3 ?? 300;
    if (!(peakM3 > 0)) throw new RangeError(`PCE ${p.pce}: peakM3 must be positive`);
    const meter: Meter = {
      pce: p.pce,
      accessRight: p.accessRight ?? true,
      frequency: p.frequency ?? 'daily',
      peakM3,
      firstDay,
      withoutEnergy: p.withoutEnergy ?? false,
      seed: seedOf(p.pce),
      refusal: GRDF_STATUS.noAccessRight,
    };
    this.meters.set(p.pce, meter);
    return meter;
  }

  protected route(request: IncomingMessage, asked: SimulatedGrdfRequest, query: URLSearchParams): SimulatedGrdfAnswer {
    const data = /^\/adict\/v2\/pce\/([^/]*)\/donnees_consos_informatives$/.exec(asked.path);
    if (!data) return refusal(404, 'Ressource inconnue.');
    if (asked.method !== 'GET') return refusal(405, 'Méthode non autorisée.');
    return this.data(decodeURIComponent(data[1]!), request, query);
  }

  /** Cut inside a line: the answer's last line is half a JSON object. */
  protected cutShort(answer: SimulatedGrdfAnswer): SimulatedGrdfAnswer {
    const cut = Math.max(1, Math.floor(answer.body.length / 2));
    return { ...answer, body: answer.body.slice(0, answer.body[cut - 1] === '\n' ? cut + 1 : cut) };
  }

  protected tooMany(retryAfter: string): SimulatedGrdfAnswer {
    return { ...refusal(429, 'Trop de requêtes : le quota est dépassé.'), headers: { 'retry-after': retryAfter } };
  }

  protected grantedScope(form: URLSearchParams, client: SimulatedGrdfClient): string | SimulatedGrdfAnswer {
    const scope = form.get('scope') ?? '';
    if (!scope.split(' ').includes('/adict/v2')) return oauthError(400, 'invalid_scope', 'The requested scope is invalid: /adict/v2 expected');
    return `/adict/v2 ${client.id}`;
  }

  private data(pce: string, request: IncomingMessage, query: URLSearchParams): SimulatedGrdfAnswer {
    const refused = this.admit(request);
    if (refused) return refused;

    // The documentation's 400 sentences, in the order GRDF checks them.
    if (!isPce(pce)) return refusal(400, "L'identifiant du PCE n'est pas correctement formaté (GI+6 chiffres ou 14 chiffres).");
    const start = query.get('date_debut');
    const end = query.get('date_fin');
    if (query.has('periode') && (start !== null || end !== null))
      return refusal(400, "Seul le paramètre 'periode' ou les paramètres 'date_debut' / 'date_fin' doivent être renseignés.");
    if (start === null) return refusal(400, "Le paramètre 'date_debut' est obligatoire et doit être renseigné au format YYYY-MM-DD.");
    if (end === null) return refusal(400, "Le paramètre 'date_fin' est obligatoire et doit être renseigné au format YYYY-MM-DD.");
    if (!isDay(start) || !isDay(end)) return refusal(400, "Le format du paramètre 'date_debut' et / ou 'date_fin' n’est pas au format YYYY-MM-DD.");
    if (start >= end) return refusal(400, 'La date de début renseignée doit être antérieure à la date de fin.');
    const today = this.today();
    if (end > today) return refusal(400, "Le paramètre 'date_fin' doit être inférieur ou égal à la date du jour.");
    const years = this.options.limits?.historyYears ?? GRDF_HISTORY_YEARS;
    if (start < shiftYears(today, -years)) return refusal(400, `Le paramètre 'date_debut' ne doit pas être antérieur à la date du jour - ${years} ans.`);
    const maxDays = this.options.limits?.windowDays ?? GRDF_WINDOW_DAYS;
    if (start < addDays(end, -maxDays)) return refusal(400, `La période demandée ne doit pas dépasser ${maxDays} jours.`);

    const periode = { valeur: null, date_debut: start, date_fin: end };
    const meter = this.meters.get(pce);
    if (!meter || !meter.accessRight) {
      const code = meter?.refusal ?? GRDF_STATUS.noAccessRight;
      return ndjson([statusLine(pce, periode, code, REFUSALS[code]!)]);
    }
    const lines: unknown[] = [];
    const starts =
      meter.frequency === 'daily'
        ? daysBetween(start, end).filter((d) => d < today)
        : daysBetween(start, end).filter((d) => d.endsWith('-01') && nextMonth(d) <= today);
    for (const day of starts) {
      if (day < meter.firstDay || this.isWithheld(pce, day)) continue;
      if (this.failing.has(`${pce}|${day}`)) {
        const message =
          "Le serveur a rencontré une erreur lors de l'exécution de la requête. Veuillez retenter votre appel sur la période mentionnée ci-dessus.";
        lines.push(
          statusLine(
            pce,
            { valeur: null, date_debut: day, date_fin: meter.frequency === 'daily' ? addDays(day, 1) : nextMonth(day) },
            GRDF_STATUS.technicalError,
            message,
          ),
        );
        continue;
      }
      lines.push(this.line(meter, this.period(pce, day)!, periode));
    }
    if (lines.length === 0) lines.push(statusLine(pce, periode, GRDF_STATUS.noData, "Il n'y a pas de données correspondant à ce PCE sur la période demandée."));
    return ndjson(lines);
  }

  /** A period's line, as GRDF writes one. */
  private line(meter: Meter, p: SimulatedGasPeriod, periode: object): unknown {
    const daily = meter.frequency === 'daily';
    return {
      pce: { id_pce: meter.pce },
      periode,
      releve_debut: { date_releve: null, index_brut_debut: { valeur_index: null, horodate_Index: null } },
      releve_fin: { date_releve: this.gasDayStart(p.to), index_brut_fin: { valeur_index: null, horodate_Index: null } },
      consommation: {
        date_debut_consommation: this.gasDayStart(p.from),
        date_fin_consommation: this.gasDayStart(p.to),
        flag_retour_zero: null,
        volume_brut: p.m3,
        coeff_calcul: { coeff_pta: null, valeur_pcs: null, coeff_conversion: p.kWhPerM3 },
        volume_converti: null,
        energie: meter.withoutEnergy ? null : p.kWh,
        type_qualif_conso: MEASURED,
        sens_flux_gaz: 'Consommation',
        statut_conso: 'Provisoire',
        journee_gaziere: daily ? p.from : null,
        type_conso: daily ? 'Informative Journalier' : 'Informative Mensuel',
      },
      statut_restitution: null,
    };
  }

  /** 6:00 on `day`, the city's wall clock with its offset: `2025-01-06T06:00:00+01:00`. */
  private gasDayStart(day: string): string {
    const [year, month, d] = day.split('-').map(Number) as [number, number, number];
    const instant = localToEpoch({ year, month, day: d, hour: 6 }, this.timezone);
    const offset = zoneOffset(instant, this.timezone) / 60_000;
    const sign = offset < 0 ? '-' : '+';
    const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
    const mm = String(Math.abs(offset) % 60).padStart(2, '0');
    return `${day}T06:00:00${sign}${hh}:${mm}`;
  }

  /** `day`'s whole m³ for `meter`, corrections applied. */
  private dayM3(meter: Meter, day: string): number {
    const key = `${meter.pce}|${day}`;
    let m3 = this.dayCache.get(key);
    if (m3 === undefined) {
      m3 = simulateDay(meter, day);
      if (this.dayCache.size >= DAY_CACHE_SIZE) this.dayCache.clear();
      this.dayCache.set(key, m3);
    }
    const factor = this.correction(meter.pce, day);
    return factor === undefined ? m3 : Math.round(m3 * factor);
  }
}

function ndjson(lines: readonly unknown[]): SimulatedGrdfAnswer {
  return { status: 200, body: lines.map((l) => `${JSON.stringify(l)}\n`).join('') };
}

/** A line saying why a period has no consumption. */
function statusLine(pce: string, periode: object, code: string, message: string): unknown {
  return { pce: { id_pce: pce }, periode, consommation: null, statut_restitution: { code, message } };
}

/** An error answer with the documentation's sentence. */
function refusal(status: number, message: string): SimulatedGrdfAnswer {
  return { status, body: `${JSON.stringify({ statut_restitution: { code: null, message } })}\n` };
}

/** The first day of the month after `day`'s. */
function nextMonth(day: string): string {
  const [y, m] = day.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
}

/** The month's conversion coefficient, kWh/m³ with two decimals: higher in winter, 10.7 to 11.6. */
function coefficient(day: string, seed: number): number {
  const [y, m] = day.split('-').map(Number) as [number, number];
  const monthEpoch = Date.UTC(y, m - 1, 15);
  const value = 11.15 + 0.3 * Math.cos((2 * Math.PI * (m - 1)) / 12) + 0.12 * simulationNoise(monthEpoch, seed % 97);
  return Math.round(Math.min(11.6, Math.max(10.7, value)) * 100) / 100;
}

/**
 * A municipal building's gas on `day`: hot water and a kitchen all year (4 % of the peak), and
 * heating from 15 October to 15 May in proportion to how far the day's mean outdoor temperature
 * is below 17 °C (0 °C gives the peak), set back at weekends.
 */
function simulateDay(meter: Meter, day: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const midday = Date.UTC(y, m - 1, d, 12);
  const weekday = new Date(midday).getUTCDay();
  const dayOfYear = (Date.UTC(y, m - 1, d) - Date.UTC(y, 0, 1)) / 86_400_000;
  // Coldest in mid-January: a mean of 3 °C then, 21 °C in mid-July, a few degrees either way from day to day.
  const outdoor = 12 - 9 * Math.cos((2 * Math.PI * (dayOfYear - 15)) / 365.25) + 2.5 * simulationNoise(midday, meter.seed % 1000);
  const monthDay = m * 100 + d;
  const heatingSeason = monthDay >= 1015 || monthDay <= 515;
  const heating = heatingSeason ? Math.max(0, 17 - outdoor) / 17 : 0;
  const week = weekday === 0 ? 0.55 : weekday === 6 ? 0.7 : 1;
  const base = 0.04 * (weekday === 0 ? 0.5 : 1);
  return Math.max(0, Math.round(meter.peakM3 * (base + 0.96 * heating * week)));
}
