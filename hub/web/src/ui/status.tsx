/**
 * An objective's status, never by colour alone: a coloured badge with an icon of its own shape
 * and the status in words (RGAA 3.1). A period in progress is judged by its forecast when it has
 * one, and says so.
 */
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';

export type StatusName = 'green' | 'amber' | 'red' | 'unknown';

export interface Judged {
  status: StatusName;
  statusBasis?: 'value' | 'forecast';
  complete?: boolean;
}

const ICONS: Record<StatusName, string> = { green: '✓', amber: '!', red: '✕', unknown: '?' };

export function statusKey(result: Judged): MessageKey {
  if (result.status !== 'unknown' && result.statusBasis === 'forecast') return `status.forecast.${result.status}` as MessageKey;
  return `status.${result.status}` as MessageKey;
}

export function StatusBadge({ result }: { result: Judged }) {
  const { t } = useI18n();
  const inProgress = result.complete === false;
  return (
    <span class={`status status-${result.status}`} data-status={result.status}>
      <span class="status-icon" aria-hidden="true">
        {ICONS[result.status]}
      </span>
      <span class="status-text">{t(statusKey(result))}</span>
      {inProgress && <span class="status-note"> ({t('status.inProgress')})</span>}
    </span>
  );
}

/**
 * A state of something the hub runs (a connector, a collection, an import): a coloured badge with
 * an icon and the state in words, never by colour alone. `state` goes to data-state.
 */
export function StateBadge({ tone, icon, text, state }: { tone: StatusName; icon: string; text: string; state?: string }) {
  return (
    <span class={`status status-${tone}`} data-state={state}>
      <span class="status-icon" aria-hidden="true">
        {icon}
      </span>
      <span class="status-text">{text}</span>
    </span>
  );
}
