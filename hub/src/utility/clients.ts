import type { ClientFactory, UtilityApiClient } from './connector-types.js';
import { addConsentDuration, EnedisClient, ENEDIS_HISTORY, ENEDIS_WINDOW_DAYS, type EnedisClientOptions } from './enedis/index.js';
import { GrdfClient, GRDF_HISTORY_YEARS, GRDF_WINDOW_DAYS, shiftYears, type GrdfClientOptions } from './grdf/index.js';
import { addDays } from './local-time.js';

/** The settings of a client that the hub (or a test) may change: its retries and its pacing. */
type ClientTuning = 'baseDelayMs' | 'maxAttempts' | 'minIntervalMs' | 'sleep';

/**
 * The clients of the utilities' APIs, by connector kind: Enedis Data Connect (daily consumption
 * and load curves of Linky meters) and GRDF's ADICT (informative consumption of gas meters).
 *
 * One client per connector, kept while its settings stay the same: its token serves run after
 * run (Enedis's last three and a half hours, GRDF's four), and its pacing of requests (Enedis's
 * five a second per application) holds across runs.
 */
export function utilityClients(
  /** Retries and pacing of the Enedis client (tests shorten them); default the client's. */
  enedisOptions: Partial<Pick<EnedisClientOptions, ClientTuning>> = {},
  /** Retries, pacing and clock of the GRDF client (its clock bounds the days asked); default the client's. */
  grdfOptions: Partial<Pick<GrdfClientOptions, ClientTuning | 'now'>> = {},
): ClientFactory {
  const kept = new Map<string, { settings: string; client: UtilityApiClient }>();
  return (connector) => {
    const settings = JSON.stringify([connector.kind, connector.baseUrl, connector.clientId, connector.clientSecret, connector.timezone]);
    const known = kept.get(connector.key);
    if (known?.settings === settings) return known.client;
    const credentials = { baseUrl: connector.baseUrl, clientId: connector.clientId, clientSecret: connector.clientSecret, timezone: connector.timezone };
    let client: UtilityApiClient;
    if (connector.kind === 'grdf') {
      const grdf = new GrdfClient({ ...credentials, ...grdfOptions });
      client = {
        dailyConsumption: (pce, from, to) => grdf.dailyConsumption(pce, from, to),
        windowDays: { daily: GRDF_WINDOW_DAYS, loadCurve: GRDF_WINDOW_DAYS },
        // Three years back, as GRDF keeps them (the client itself never asks earlier either).
        earliestDay: (_series, today) => addDays(shiftYears(today, -GRDF_HISTORY_YEARS), 1),
      };
    } else {
      const enedis = new EnedisClient({ ...credentials, ...enedisOptions });
      client = {
        dailyConsumption: (prm, from, to) => enedis.dailyConsumption(prm, from, to),
        loadCurve: (prm, from, to) => enedis.loadCurve(prm, from, to),
        windowDays: { daily: ENEDIS_WINDOW_DAYS.daily, loadCurve: ENEDIS_WINDOW_DAYS.loadCurve },
        // Enedis refuses a call starting further back than its history: 36 months and 15 days
        // daily, 24 months and 15 days for the load curve (a day kept short of it).
        earliestDay: (series, today) => {
          const depth = ENEDIS_HISTORY[series];
          return addDays(addConsentDuration(today, { years: 0, months: -depth.months, days: 0 }), 1 - depth.days);
        },
      };
    }
    kept.set(connector.key, { settings, client });
    return client;
  };
}
