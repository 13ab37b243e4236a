/**
 * One gateway of the fleet (`/gestion/flotte/:id`, operators): what its latest report says (state,
 * host, software, uptime, plugins, failing devices with their errors, plugin installs with their
 * outcome), its configuration (fleet-config.tsx: running against pushed, the refusal in full, the
 * diff, the form that checks and pushes a new one), then its history, newest first. Reloaded every
 * 10 s in place (GET /api/fleet/gateways/:id), so that a pushed revision is seen applied.
 */
import { fleetApi, usePolled, type FleetEvent, type FleetGatewayDetail } from '../fleet.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession } from '../session.js';
import { StateBadge } from '../ui/status.js';
import { LoadError, Loading, View } from '../ui/view.js';
import { ConfigSection } from './fleet-config.js';
import { GatewayStateBadge, PluginList, secondsSince, UpdatedAt, useDurationText } from './fleet-parts.js';

export function FleetGatewayPage({ id }: { id: string }) {
  const { t } = useI18n();
  const session = useSession();
  const gateway = usePolled(() => fleetApi.gateway(id), [id, session.user?.username], session.known);
  const busy = !session.known || gateway.loading;
  const g = gateway.data;
  return (
    <View name="fleet-gateway" busy={busy} title={t('fleet.gw.title', { id })}>
      <p class="no-print">
        <a href="/gestion/flotte">{t('fleet.gw.back')}</a>
      </p>
      <h1>{t('fleet.gw.title', { id })}</h1>
      {!g && gateway.error?.status === 404 && (
        <p class="notice notice-error" role="alert">
          {t('fleet.gw.notFound', { id })}
        </p>
      )}
      {!g && gateway.error && gateway.error.status !== 404 && <LoadError error={gateway.error} retry={gateway.reload} />}
      {busy && <Loading />}
      {g && (
        <>
          <UpdatedAt receivedAt={gateway.receivedAt} error={gateway.error} />
          <GatewayFacts gateway={g} now={gateway.receivedAt ?? Date.now()} />
          <ConfigSection gateway={g} onPushed={gateway.reload} />
          <Devices gateway={g} />
          <Installs gateway={g} />
          <History events={g.history} />
        </>
      )}
    </View>
  );
}

function GatewayFacts({ gateway: g, now }: { gateway: FleetGatewayDetail; now: number }) {
  const { t, dateTime, age, num } = useI18n();
  const duration = useDurationText();
  return (
    <section aria-labelledby="fleet-gw-facts">
      <h2 id="fleet-gw-facts" class="visually-hidden">
        {t('fleet.gw.facts')}
      </h2>
      <dl class="facts" data-gateway={g.id} data-state={g.state}>
        <dt>{t('fleet.state')}</dt>
        <dd>
          <GatewayStateBadge gateway={g} /> {t('fleet.since', { when: dateTime(g.stateSince) })}
        </dd>
        <dt>{t('fleet.lastSeen')}</dt>
        <dd>
          {age(secondsSince(g.lastSeen, now))} ({dateTime(g.lastSeen)})
        </dd>
        <dt>{t('fleet.gw.host')}</dt>
        <dd>
          {g.host.hostname} ({g.host.platform}, {g.host.arch})
        </dd>
        <dt>{t('fleet.software')}</dt>
        <dd>
          {g.software.version} (SDK {g.software.sdk}, {t('fleet.gw.node')} {g.software.node})
        </dd>
        <dt>{t('fleet.gw.started')}</dt>
        <dd>{dateTime(g.startedAt)}</dd>
        <dt>{t('fleet.gw.uptime')}</dt>
        <dd>{duration(g.uptimeS)}</dd>
        <dt>{t('fleet.gw.interval')}</dt>
        <dd>{duration(g.reportIntervalS)}</dd>
        <dt>{t('fleet.gw.firstSeen')}</dt>
        <dd>{dateTime(g.firstSeen)}</dd>
        <dt>{t('fleet.plugins')}</dt>
        <dd>
          <PluginList plugins={g.plugins} />
        </dd>
        <dt>{t('fleet.outbox')}</dt>
        <dd>{num(g.outbox.depth, undefined, 0)}</dd>
        <dt>{t('fleet.lastError')}</dt>
        <dd>{g.lastError ? `${g.lastError.message} (${dateTime(g.lastError.at)})` : t('common.none')}</dd>
      </dl>
    </section>
  );
}

function Devices({ gateway: g }: { gateway: FleetGatewayDetail }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby="fleet-gw-devices">
      <h2 id="fleet-gw-devices">{t('fleet.gw.devicesTitle')}</h2>
      <p>
        {g.devices.failing > 0 && (
          <span class="status-icon" aria-hidden="true">
            ✕{' '}
          </span>
        )}
        {t('fleet.gw.devicesSummary', { failing: g.devices.failing, total: g.devices.total })}
      </p>
      {g.devices.failingDevices.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('fleet.gw.failingCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.gw.device')}</th>
                <th scope="col">{t('fleet.plugin')}</th>
                <th scope="col">{t('fleet.gw.error')}</th>
              </tr>
            </thead>
            <tbody>
              {g.devices.failingDevices.map((d) => (
                <tr key={d.id} data-device={d.id}>
                  <th scope="row">
                    <code>{d.id}</code>
                  </th>
                  <td>
                    <code>{d.plugin}</code>
                  </td>
                  <td>{d.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const INSTALL_BADGES = {
  installed: { tone: 'green', icon: '✓' },
  refused: { tone: 'red', icon: '✕' },
  failed: { tone: 'red', icon: '!' },
} as const;

function Installs({ gateway: g }: { gateway: FleetGatewayDetail }) {
  const { t, dateTime } = useI18n();
  return (
    <section aria-labelledby="fleet-gw-installs">
      <h2 id="fleet-gw-installs">{t('fleet.gw.installs')}</h2>
      {!g.installs.length && <p>{t('fleet.gw.installsNone')}</p>}
      {g.installs.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('fleet.gw.installsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.plugin')}</th>
                <th scope="col">{t('fleet.version')}</th>
                <th scope="col">{t('fleet.gw.installState')}</th>
                <th scope="col">{t('fleet.gw.at')}</th>
              </tr>
            </thead>
            <tbody>
              {g.installs.map((i) => {
                const badge = INSTALL_BADGES[i.state] ?? { tone: 'unknown', icon: '?' };
                return (
                  <tr key={i.id} data-install={i.id} data-state={i.state}>
                    <th scope="row">
                      <code>{i.id}</code>
                    </th>
                    <td>{i.version}</td>
                    <td>
                      <StateBadge tone={badge.tone} icon={badge.icon} text={t(`fleet.install.${i.state}` as MessageKey)} state={i.state} />
                      {i.reason && <span class="cell-line">{i.reason}</span>}
                    </td>
                    <td>{dateTime(i.at)}</td>
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

/** An event's detail in one line: `key: value` pairs, values as JSON when they are not text or numbers. */
function detailText(detail: Record<string, unknown>): string {
  return Object.entries(detail ?? {})
    .map(([k, v]) => `${k}: ${typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)}`)
    .join(' · ');
}

function History({ events }: { events: FleetEvent[] }) {
  const { t, dateTime, label } = useI18n();
  return (
    <section aria-labelledby="fleet-gw-history">
      <h2 id="fleet-gw-history">{t('fleet.gw.history')}</h2>
      {!events.length && <p>{t('fleet.gw.historyNone')}</p>}
      {events.length > 0 && (
        <div class="table-wrap">
          <table class="fleet-history">
            <caption class="visually-hidden">{t('fleet.gw.historyCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.gw.at')}</th>
                <th scope="col">{t('fleet.gw.event')}</th>
                <th scope="col">{t('fleet.gw.actor')}</th>
                <th scope="col">{t('fleet.gw.detail')}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={`${e.at}|${e.kind}|${e.actor}`} data-kind={e.kind}>
                  <th scope="row">{dateTime(e.at)}</th>
                  <td>{label('fleet.event', e.kind)}</td>
                  <td>{e.actor}</td>
                  <td class="event-detail">{detailText(e.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
