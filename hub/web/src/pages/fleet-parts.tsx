/**
 * What the fleet's pages (fleet.tsx, fleet-gateway.tsx, fleet-config.tsx) show alike: a gateway's
 * state and its configuration's state as badges (word + icon, never colour alone), revisions and
 * durations in words, and the line saying when the data was received.
 */
import type { ApiError } from '../api.js';
import { FLEET_REFRESH_MS, firstLine, type FleetGateway, type Revision } from '../fleet.js';
import { CITY_TIMEZONE, useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { StateBadge } from '../ui/status.js';

/** Seconds from `iso` to `now` (ms), never negative. */
export function secondsSince(iso: string, now: number): number {
  return Math.max(0, (now - Date.parse(iso)) / 1000);
}

/** How a configuration stands: running the hub's latest, waiting for the gateway, or refused by it. */
export type ConfigState = 'up-to-date' | 'pending' | 'refused';

export function configState(g: FleetGateway): ConfigState {
  if (g.config.refused) return 'refused';
  return g.config.upToDate ? 'up-to-date' : 'pending';
}

export function GatewayStateBadge({ gateway }: { gateway: FleetGateway }) {
  const { t } = useI18n();
  const online = gateway.state === 'online';
  return <StateBadge tone={online ? 'green' : 'red'} icon={online ? '✓' : '✕'} text={t(`fleet.state.${gateway.state}` as MessageKey)} state={gateway.state} />;
}

const CONFIG_BADGES: Record<ConfigState, { tone: 'green' | 'amber' | 'red'; icon: string; key: MessageKey }> = {
  'up-to-date': { tone: 'green', icon: '✓', key: 'fleet.config.upToDate' },
  pending: { tone: 'amber', icon: '⌛', key: 'fleet.config.pending' },
  refused: { tone: 'red', icon: '✕', key: 'fleet.config.refused' },
};

export function ConfigBadge({ gateway }: { gateway: FleetGateway }) {
  const { t } = useI18n();
  const state = configState(gateway);
  const badge = CONFIG_BADGES[state];
  return <StateBadge tone={badge.tone} icon={badge.icon} text={t(badge.key)} state={state} />;
}

/** A revision in words: `révision 12` for the hub's, the digest of a local file, or a dash. */
export function useRevisionText(): (revision: Revision) => string {
  const { t } = useI18n();
  return (revision) => (revision === null ? t('common.none') : typeof revision === 'number' ? t('fleet.revision', { revision }) : revision);
}

/** A duration in seconds in the largest unit that keeps it readable (`3 h`, `2 j`). */
export function useDurationText(): (seconds: number) => string {
  const { lang } = useI18n();
  const locale = lang === 'fr' ? 'fr-FR' : 'en-GB';
  return (seconds) => {
    const s = Math.max(0, seconds);
    const [value, unit] = s < 120 ? [s, 'second'] : s < 7200 ? [s / 60, 'minute'] : s < 172_800 ? [s / 3600, 'hour'] : [s / 86_400, 'day'];
    return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long', maximumFractionDigits: 0 }).format(value);
  };
}

/** The first line of a refusal, for a table cell. */
export function RefusalLine({ message }: { message: string }) {
  return <span class="cell-line refusal-line">{firstLine(message)}</span>;
}

/**
 * When the data shown was received, and the refresh period; when the latest refresh failed, says
 * so with the time of the data still shown. A polite live region would repeat itself every 10 s:
 * this line is plain text.
 */
export function UpdatedAt({ receivedAt, error }: { receivedAt: number | undefined; error: ApiError | undefined }) {
  const { t, lang } = useI18n();
  if (receivedAt === undefined) return null;
  // To the second: the page changes every 10 s.
  const time = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { timeZone: CITY_TIMEZONE, timeStyle: 'medium' }).format(receivedAt);
  return (
    <>
      <p class="hint updated-at" data-received-at={new Date(receivedAt).toISOString()}>
        {t('fleet.updatedAt', { time, seconds: FLEET_REFRESH_MS / 1000 })}
      </p>
      {error && (
        <p class="notice notice-error" role="alert">
          {t('fleet.stale', { error: error.message, time })}
        </p>
      )}
    </>
  );
}

/** A gateway's plugins, `id version`, those the hub installed marked so in words. */
export function PluginList({ plugins }: { plugins: FleetGateway['plugins'] }) {
  const { t } = useI18n();
  if (!plugins.length) return <>{t('common.none')}</>;
  return (
    <ul class="plain-list">
      {[...plugins]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((p) => (
          <li key={p.id} data-plugin={p.id} data-source={p.source}>
            <code>{p.id}</code> {p.version}
            {p.source === 'installed' && <span class="tag-installed"> ({t('fleet.installed')})</span>}
          </li>
        ))}
    </ul>
  );
}
