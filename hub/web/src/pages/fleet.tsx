/**
 * The operators' fleet (`/gestion/flotte`): a summary line, then every gateway as its latest
 * inventory report describes it (GET /api/fleet) — state, last report, version, plugins, the
 * configuration it runs against the one the hub pushed (a refused one stands out, with the first
 * line of its message), failing devices, outbox and latest error — then the published plugin
 * packages and their rollouts (GET /api/fleet/plugins), then the journal of the whole fleet
 * (fleet-journal.tsx, GET /api/fleet/events). Reloaded every 10 s in place: rows keep
 * their keys, so that focus and reading position stay. Like the other /gestion pages, it waits
 * for the session and lets the hub decide who may read (401, 403 said by LoadError).
 */
import { fleetApi, usePolled, type FleetGateway, type FleetPlugins } from '../fleet.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession } from '../session.js';
import { StateBadge } from '../ui/status.js';
import { LoadError, Loading, View } from '../ui/view.js';
import { JOURNAL_PAGE, JournalSection } from './fleet-journal.js';
import {
  ConfigBadge,
  configState,
  GatewayStateBadge,
  PluginList,
  RefusalLine,
  secondsSince,
  UpdatedAt,
  useDurationText,
  useRevisionText,
} from './fleet-parts.js';

export function FleetPage() {
  const { t } = useI18n();
  const session = useSession();
  const who = session.user?.username;
  const fleet = usePolled(() => fleetApi.list(), [who], session.known);
  const plugins = usePolled(() => fleetApi.plugins(), [who], session.known);
  const journal = usePolled(() => fleetApi.journal({ limit: JOURNAL_PAGE }), [who], session.known);
  const busy = !session.known || fleet.loading || plugins.loading || journal.loading;
  // A first load that failed is said once; a failed refresh is said by UpdatedAt, the data kept.
  const failed = (!fleet.data && fleet.error) || (!plugins.data && plugins.error) || (!journal.data && journal.error) || undefined;
  return (
    <View name="fleet" busy={busy} title={t('fleet.title')}>
      <h1>{t('fleet.title')}</h1>
      <p class="lead">{t('fleet.intro')}</p>
      {failed && <LoadError error={failed} retry={() => [fleet, plugins, journal].forEach((l) => l.error && l.reload())} />}
      {busy && <Loading />}
      {fleet.data && (
        <>
          <UpdatedAt receivedAt={fleet.receivedAt} error={fleet.error} />
          <FleetTable gateways={fleet.data.gateways} now={fleet.receivedAt ?? Date.parse(fleet.data.generatedAt)} />
        </>
      )}
      {plugins.data && <PluginsSection plugins={plugins.data} />}
      {journal.data && <JournalSection key={who} latest={journal.data} />}
    </View>
  );
}

function Summary({ gateways }: { gateways: FleetGateway[] }) {
  const { t } = useI18n();
  const silent = gateways.filter((g) => g.state === 'silent').length;
  const refused = gateways.filter((g) => g.config.refused).length;
  return (
    <ul class="fleet-summary" aria-label={t('fleet.summary')} data-gateways={gateways.length} data-silent={silent} data-refused={refused}>
      <li>{t('fleet.summary.gateways', { count: gateways.length })}</li>
      <li>
        {silent > 0 && (
          <span class="status-icon" aria-hidden="true">
            ✕{' '}
          </span>
        )}
        {t('fleet.summary.silent', { count: silent })}
      </li>
      <li>
        {refused > 0 && (
          <span class="status-icon" aria-hidden="true">
            ✕{' '}
          </span>
        )}
        {t('fleet.summary.refused', { count: refused })}
      </li>
    </ul>
  );
}

function FleetTable({ gateways, now }: { gateways: FleetGateway[]; now: number }) {
  const { t, dateTime, age, num } = useI18n();
  const revisionText = useRevisionText();
  const sorted = [...gateways].sort((a, b) => a.id.localeCompare(b.id));
  if (!sorted.length) return <p>{t('fleet.none')}</p>;
  return (
    <>
      <Summary gateways={sorted} />
      <div class="table-wrap">
        <table class="fleet-table">
          <caption>{t('fleet.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('fleet.gateway')}</th>
              <th scope="col">{t('fleet.state')}</th>
              <th scope="col">{t('fleet.lastSeen')}</th>
              <th scope="col">{t('fleet.software')}</th>
              <th scope="col">{t('fleet.plugins')}</th>
              <th scope="col">{t('fleet.config')}</th>
              <th scope="col" class="n">
                {t('fleet.devices')}
              </th>
              <th scope="col" class="n">
                {t('fleet.outbox')}
              </th>
              <th scope="col">{t('fleet.lastError')}</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((g) => (
              <tr key={g.id} data-gateway={g.id} data-state={g.state} data-config={configState(g)}>
                <th scope="row">
                  <a href={`/gestion/flotte/${encodeURIComponent(g.id)}`}>{g.id}</a>
                  <span class="cell-line hint">{g.host.hostname}</span>
                </th>
                <td>
                  <GatewayStateBadge gateway={g} />
                  <span class="cell-line hint">{t('fleet.since', { when: dateTime(g.stateSince) })}</span>
                </td>
                <td>
                  {age(secondsSince(g.lastSeen, now))}
                  <span class="cell-line hint">{dateTime(g.lastSeen)}</span>
                </td>
                <td>{g.software.version}</td>
                <td>
                  <PluginList plugins={g.plugins} />
                </td>
                <td data-cell="config">
                  <ConfigBadge gateway={g} />
                  <span class="cell-line">
                    {t('fleet.running', {
                      revision: revisionText(g.config.running.revision),
                      source: t(`fleet.source.${g.config.running.source}` as MessageKey),
                    })}
                  </span>
                  {g.config.pushed && <span class="cell-line">{t('fleet.pushed', { revision: g.config.pushed.revision })}</span>}
                  {g.config.refused && <RefusalLine message={g.config.refused.message} />}
                </td>
                <td class="n">{t('fleet.devicesOf', { failing: num(g.devices.failing, undefined, 0), total: num(g.devices.total, undefined, 0) })}</td>
                <td class="n">{num(g.outbox.depth, undefined, 0)}</td>
                <td>
                  {g.lastError ? (
                    <>
                      <span class="cell-line">{g.lastError.message}</span>
                      <span class="cell-line hint">{dateTime(g.lastError.at)}</span>
                    </>
                  ) : (
                    t('common.none')
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

const ROLLOUT_BADGES: Record<FleetPlugins['rollouts'][number]['state'], { tone: 'green' | 'amber' | 'red' | 'unknown'; icon: string }> = {
  canary: { tone: 'amber', icon: '◐' },
  all: { tone: 'amber', icon: '◑' },
  completed: { tone: 'green', icon: '✓' },
  'rolled-back': { tone: 'red', icon: '↩' },
  superseded: { tone: 'unknown', icon: '–' },
};

function PluginsSection({ plugins }: { plugins: FleetPlugins }) {
  const { t, dateTime } = useI18n();
  const duration = useDurationText();
  return (
    <section aria-labelledby="fleet-plugins">
      <h2 id="fleet-plugins">{t('fleet.plugins.title')}</h2>
      <h3>{t('fleet.packages')}</h3>
      {!plugins.packages.length && <p>{t('fleet.packagesNone')}</p>}
      {plugins.packages.length > 0 && (
        <div class="table-wrap">
          <table class="fleet-packages">
            <caption class="visually-hidden">{t('fleet.packagesCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.plugin')}</th>
                <th scope="col">{t('fleet.version')}</th>
                <th scope="col">{t('fleet.sdk')}</th>
                <th scope="col">{t('fleet.key')}</th>
                <th scope="col">{t('fleet.published')}</th>
              </tr>
            </thead>
            <tbody>
              {plugins.packages.map((p) => (
                <tr key={`${p.id}@${p.version}`} data-package={`${p.id}@${p.version}`}>
                  <th scope="row">
                    <code>{p.id}</code>
                    {p.description && <span class="cell-line hint">{p.description}</span>}
                  </th>
                  <td>{p.version}</td>
                  <td>
                    <code>{p.sdk}</code>
                  </td>
                  <td>
                    <code>{p.keyId}</code>
                  </td>
                  <td>{t('fleet.publishedBy', { when: dateTime(p.publishedAt), who: p.publishedBy })}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>{t('fleet.rollouts')}</h3>
      {!plugins.rollouts.length && <p>{t('fleet.rolloutsNone')}</p>}
      {plugins.rollouts.length > 0 && (
        <div class="table-wrap">
          <table class="fleet-rollouts">
            <caption class="visually-hidden">{t('fleet.rolloutsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.plugin')}</th>
                <th scope="col">{t('fleet.version')}</th>
                <th scope="col">{t('fleet.rolloutState')}</th>
                <th scope="col">{t('fleet.canary')}</th>
                <th scope="col">{t('fleet.promoteAfter')}</th>
                <th scope="col">{t('fleet.rolloutSince')}</th>
              </tr>
            </thead>
            <tbody>
              {plugins.rollouts.map((r) => {
                const badge = ROLLOUT_BADGES[r.state] ?? { tone: 'unknown', icon: '?' };
                return (
                  <tr key={r.id} data-rollout={r.id} data-state={r.state}>
                    <th scope="row">
                      <code>{r.plugin}</code>
                    </th>
                    <td>{r.version}</td>
                    <td>
                      <StateBadge tone={badge.tone} icon={badge.icon} text={t(`fleet.rollout.${r.state}` as MessageKey)} state={r.state} />
                      {r.reason && <span class="cell-line">{t('fleet.reason', { reason: r.reason })}</span>}
                      {r.healthySince && r.state === 'canary' && (
                        <span class="cell-line hint">{t('fleet.healthySince', { when: dateTime(r.healthySince) })}</span>
                      )}
                    </td>
                    <td>{r.canary.length ? r.canary.join(', ') : t('common.none')}</td>
                    <td>{r.promoteAfterS === null ? t('fleet.promoteNever') : duration(r.promoteAfterS)}</td>
                    <td>
                      {dateTime(r.updatedAt)}
                      <span class="cell-line hint">{t('fleet.startedBy', { who: r.startedBy })}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
