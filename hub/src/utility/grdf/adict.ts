/**
 * GRDF's ADICT API (access of third parties to the gas data of GRDF's customers) as its
 * documentation describes it, shared by CityPilot's client and its simulator: the paths, the
 * limits of one call, the shapes of the answers, the status codes of a period.
 *
 * Sources: GRDF's OpenAPI description of ADICT v2 ("Consulter les consommations informatives du
 * PCE demandé": parameters, the answer as application/x-ndjson, the sentences of its 200, 400 and
 * 500 answers) as public clients generated from it reproduce it; the public clients of ADICT
 * (token request, scope, the lines of an answer); public summaries of GRDF's error catalogue
 * (v1.10) for the codes of `statut_restitution`. The portal's own pages need an ADICT account.
 * Where a summary and the documentation differ, the documentation wins and the comments below
 * say so; where neither says, the comments say what CityPilot assumes.
 */
import { Type } from '@sinclair/typebox';

/** GRDF's production API, the client's usual baseUrl: its path is also the token's scope. */
export const GRDF_API_URL = 'https://api.grdf.fr/adict/v2';

/**
 * GRDF's OpenID token endpoint (SOFIT): POST, form grant_type=client_credentials, client_id,
 * client_secret, scope. GRDF also runs a second one for applications registered since its move
 * to Okta (https://adict-connexion.grdf.fr/oauth2/aus5y2ta2uEHjCWIR417/v1/token); give it as the
 * client's tokenUrl when GRDF names that one in the application's registration.
 */
export const GRDF_TOKEN_URL = 'https://sofit-sso-oidc.grdf.fr/openam/oauth2/realms/externeGrdf/access_token';

/** The scope a client-credentials token of ADICT v2 asks. */
export const GRDF_SCOPE = '/adict/v2';

/** Paths: the token's under its server, the data's under the API's base URL (…/adict/v2). */
export const GRDF_PATHS = {
  /** The token endpoint's path on SOFIT, which the simulator serves too. */
  token: '/openam/oauth2/realms/externeGrdf/access_token',
  /**
   * GET ?date_debut=&date_fin= (days YYYY-MM-DD): the informative consumption of a PCE, one
   * NDJSON line per period (a gas day for a meter read daily, Gazpar; a month for one read
   * monthly). The documentation does not say whether date_fin's gas day is given: CityPilot
   * reads date_fin as excluded (a gas day asked again is harmless) and leaves a line of that
   * day to the next window.
   */
  informative: (pce: string) => `/pce/${encodeURIComponent(pce)}/donnees_consos_informatives`,
} as const;

/**
 * Days one call asks at most. The documentation gives no limit to a call's period, only to its
 * start (below); CityPilot asks a year at a time so that one answer stays small (365 lines of
 * about 700 bytes).
 */
export const GRDF_WINDOW_DAYS = 365;

/**
 * How far back informative data go: the documentation's 400 "Le paramètre 'date_debut' ne doit
 * pas être antérieur à la date du jour - 3 ans" (published data go back 5 years). And its other
 * bound: "Le paramètre 'date_fin' doit être inférieur ou égal à la date du jour".
 */
export const GRDF_HISTORY_YEARS = 3;

/** The same day `years` years later (earlier when negative); 29 February becomes the 28th. */
export function shiftYears(day: string, years: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const lastDay = new Date(Date.UTC(y + years, m, 0)).getUTCDate();
  return new Date(Date.UTC(y + years, m - 1, Math.min(d, lastDay))).toISOString().slice(0, 10);
}

/**
 * A PCE (point de comptage et d'estimation), a gas delivery point: 14 digits, or GI and 6 digits,
 * as the documentation's 400 says ("GI+6 chiffres ou 14 chiffres").
 */
export const PCE_PATTERN = /^(?:[0-9]{14}|GI[0-9]{6})$/;

export function isPce(text: unknown): text is string {
  return typeof text === 'string' && PCE_PATTERN.test(text);
}

/**
 * The codes of `statut_restitution` CityPilot reads, from the public summaries of GRDF's error
 * catalogue. The documentation lists the sentences GRDF answers with a 200 (an access right
 * missing, expired, revoked, out of its perimeter; no data; a server error on the period) but
 * not their codes. CityPilot reads "no data" and codes starting with 2 (GRDF's technical
 * errors) by their code, and every other code of a line as a missing access right, which is what
 * every other sentence of the list says.
 */
export const GRDF_STATUS = {
  /** "Le client semble avoir déménagé et n'est plus titulaire de ce PCE". */
  moved: '1000000',
  /** "Votre droit d’accès sur ce PCE a expiré". */
  expired: '1000001',
  /** "Aucun droit d'accès" (also answered 403 by some gateways). */
  noAccessRight: '1000002',
  /** "Il n'y a pas de données correspondant à ce PCE sur la période demandée": no reading, no error. */
  noData: '1000008',
  /** "Le périmètre des données auxquelles vous avez accès pour ce PCE ne couvre pas les données de consommations informatives". */
  outOfPerimeter: '1000010',
  /** "Le client titulaire a révoqué son consentement". */
  revoked: '1000014',
  /** "Le serveur a rencontré une erreur lors de l'exécution de la requête. Veuillez retenter votre appel sur la période mentionnée". */
  technicalError: '2000100',
} as const;

/** Whether a `statut_restitution` code is one of GRDF's technical errors, worth asking again. */
export function isTechnicalStatus(code: string): boolean {
  return code.startsWith('2');
}

/**
 * A date-time as GRDF writes a period's bounds: the city's wall clock with its offset,
 * `2021-08-16T06:00:00+02:00` (a gas day runs from 6:00 to 6:00 the next morning). The day
 * written is the gas day the bound opens (start) or the first one after the period (end).
 */
export const DATE_TIME_PATTERN = /^([0-9]{4}-[0-9]{2}-[0-9]{2})T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:?[0-9]{2})?$/;

/** A reading's longest period, in days (a semester's meter read twice a year: about 184). */
export const GRDF_MAX_PERIOD_DAYS = 400;

/** Most energy a line may give per day of its period: 100 MW over 25 hours, far above a municipal building's. */
export const MAX_KWH_PER_DAY = 2_500_000;

/** Conversion coefficients accepted, kWh/m³: natural gas and biomethane lie within (GRDF's are about 10.7 to 11.6). */
export const COEFFICIENT_RANGE = [5, 15] as const;

const ShortText = Type.String({ maxLength: 64 });
const DayText = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', expected: 'a day YYYY-MM-DD' });
const DateTimeText = Type.String({ pattern: DATE_TIME_PATTERN.source, expected: 'a date-time such as 2021-08-16T06:00:00+02:00' });
const Quantity = (maximum: number, expected: string) => Type.Number({ minimum: 0, maximum, expected });

/** A period's status: absent (null, `{}`) when it was given, else GRDF's code and sentence. */
export const StatusObject = Type.Object({
  code: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer()], { expected: 'a code' })),
  message: Type.Optional(Type.String({ maxLength: 2000 })),
});

/**
 * One line of `donnees_consos_informatives`' answer: a period's consumption, or its status
 * (`statut_restitution`) when GRDF could not give it. Fields the client does not read (the
 * indexes of `releve_debut` and `releve_fin`, `volume_converti`, the PCS and pressure
 * coefficients…) may be there too. `volume_brut` is in m³, `energie` in kWh, `coeff_conversion`
 * in kWh/m³. GRDF writes null for what it does not give: a line is checked once its nulls are
 * taken for absent fields ({@link withoutNulls}).
 */
export const ConsumptionLine = Type.Object({
  pce: Type.Optional(Type.Object({ id_pce: ShortText })),
  periode: Type.Optional(Type.Object({ valeur: Type.Optional(ShortText), date_debut: Type.Optional(ShortText), date_fin: Type.Optional(ShortText) })),
  consommation: Type.Optional(
    Type.Object({
      date_debut_consommation: DateTimeText,
      date_fin_consommation: DateTimeText,
      volume_brut: Type.Optional(Quantity(1e9, 'a volume in m³, at least 0')),
      coeff_calcul: Type.Optional(
        Type.Object({
          coeff_conversion: Type.Optional(
            Type.Number({ minimum: COEFFICIENT_RANGE[0], maximum: COEFFICIENT_RANGE[1], expected: 'a coefficient from 5 to 15 kWh/m³' }),
          ),
        }),
      ),
      energie: Type.Optional(Quantity(1e10, 'an energy in kWh, at least 0')),
      type_qualif_conso: Type.Optional(ShortText),
      statut_conso: Type.Optional(ShortText),
      journee_gaziere: Type.Optional(DayText),
      type_conso: Type.Optional(ShortText),
    }),
  ),
  statut_restitution: Type.Optional(StatusObject),
});

/**
 * `value` with the properties whose value is null left out, in objects nested up to `depth`
 * deep (deeper than any field read: what lies below is left as it is).
 */
export function withoutNulls(value: unknown, depth = 6): unknown {
  if (depth <= 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== null) out[key] = withoutNulls(v, depth - 1);
  return out;
}

/** A reading's qualification as GRDF writes it for a measured one; any other (Estimé, Corrigé…) is read as uncertain. */
export const MEASURED = 'Mesuré';
