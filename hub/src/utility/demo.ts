import type { Logger } from '@citypilot/sdk';
import type { Storage } from '../storage/storage.js';
import { utilityClients } from './clients.js';
import { UtilityConnectors } from './connectors.js';
import { addDays, localDay } from './local-time.js';
import type { SecretBox } from './secrets.js';
import { UtilityStore } from './store.js';

/** The demo city's Linky: the library's, which has no gateway. */
export const DEMO_LIBRARY_PRM = '09876543210123';
/** The demo's Enedis application, registered with the simulated Enedis. */
export const DEMO_ENEDIS_CLIENT = { id: 'citypilot-demo', secret: 'demo-enedis-secret' };

/**
 * The demo city's utility connector: Enedis Data Connect at `enedisUrl` (the demo's simulator),
 * collecting the library's Linky (daily consumption for three years, its load curve too), as
 * an operator would set it up on the utility meters page. The hub collects it at its start
 * (a connector that never ran is due at once).
 */
export async function seedDemoUtility(storage: Storage, options: { enedisUrl: string; secrets: SecretBox; logger: Logger }): Promise<void> {
  const connectors = new UtilityConnectors({
    pool: storage.pool,
    store: new UtilityStore(storage),
    timezone: storage.rollups.timezone,
    logger: options.logger,
    clients: utilityClients(),
    secrets: options.secrets,
  });
  await connectors.save(
    'enedis',
    {
      kind: 'enedis',
      name: 'Enedis Data Connect (simulée)',
      baseUrl: options.enedisUrl,
      clientId: DEMO_ENEDIS_CLIENT.id,
      enabled: true,
      collectHour: 7,
      lookbackDays: 7,
      authorizeUrl: null,
    },
    DEMO_ENEDIS_CLIENT.secret,
  );
  await connectors.saveDeliveryPoint({
    utility: 'enedis',
    id: DEMO_LIBRARY_PRM,
    energy: 'elec',
    building: 'library',
    connector: 'enedis',
    loadCurve: true,
    since: addDays(localDay(Date.now(), storage.rollups.timezone), -3 * 365),
    consentUntil: null,
  });
}
