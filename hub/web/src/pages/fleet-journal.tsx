/**
 * The fleet's journal on /gestion/flotte (GET /api/fleet/events): every step of the fleet, newest
 * first — a gateway's (first seen, silent, configurations running, refused, pushed, plugins
 * installed…) and the fleet's own (packages published, rollouts promoted, completed, rolled back,
 * groups set) — in words, with who did it. The page polls the latest JOURNAL_PAGE events with the
 * rest of the fleet; "Événements plus anciens" appends the next page and moves the focus to its
 * first row. Rows keep their keys (the event's id), so that a refresh moves neither focus nor
 * reading position.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { fleetApi, firstLine, type FleetJournal, type FleetJournalEvent } from '../fleet.js';
import { useI18n } from '../i18n.js';
import { useRevisionText } from './fleet-parts.js';

/** Events of the journal's first page, and of each older page. */
export const JOURNAL_PAGE = 20;
/** Longest reason or name shown from an event's detail, in characters; gateways listed at most. */
const TEXT_MAX = 300;
const GATEWAYS_MAX = 10;

/** The events shown once older pages were loaded: every event with an id up to `top`, newest first, down to `next`. */
interface Older {
  top: number;
  events: FleetJournalEvent[];
  next: string | null;
}

/**
 * The journal, from `latest` (the first page, refreshed by the page) and the older pages loaded on
 * request. Each refresh that still reaches the events shown joins them; when more than a page of
 * events arrived between two refreshes, it no longer does, and the older pages are dropped rather
 * than shown with a gap.
 */
export function JournalSection({ latest }: { latest: FleetJournal }) {
  const { t } = useI18n();
  const [older, setOlder] = useState<Older | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [focusId, setFocusId] = useState<number | undefined>(undefined);
  const table = useRef<HTMLTableElement>(null);

  const lastLatest = latest.events[latest.events.length - 1]?.id;
  const joined = older !== undefined && lastLatest !== undefined && (latest.next === null || lastLatest <= older.top) ? older : undefined;
  const events = joined ? [...latest.events, ...joined.events.filter((e) => e.id < lastLatest!)] : latest.events;
  const next = joined ? joined.next : latest.next;

  // The refreshed page joined: the events shown now reach up to its newest, for the next refresh to join.
  useEffect(() => {
    const newest = latest.events[0]?.id;
    if (joined && newest !== undefined && newest > joined.top) setOlder({ top: newest, events, next: joined.next });
  }, [latest]);

  useEffect(() => {
    if (focusId === undefined) return;
    table.current?.querySelector<HTMLElement>(`tr[data-event="${focusId}"] th`)?.focus();
    setFocusId(undefined);
  }, [focusId]);

  const loadOlder = async () => {
    if (loading || !next || !events.length) return;
    setLoading(true);
    setError(undefined);
    try {
      const page = await fleetApi.journal({ next });
      setOlder({ top: events[0]!.id, events: [...events, ...page.events], next: page.next });
      setFocusId(page.events[0]?.id);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    } finally {
      setLoading(false);
    }
  };

  return (
    <section aria-labelledby="fleet-journal" class="fleet-journal">
      <h2 id="fleet-journal">{t('fleet.journal.title')}</h2>
      <p>{t('fleet.journal.intro')}</p>
      {!events.length && <p>{t('fleet.journal.none')}</p>}
      {events.length > 0 && (
        <div class="table-wrap">
          <table class="fleet-journal-table" ref={table}>
            <caption class="visually-hidden">{t('fleet.journal.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('fleet.gw.at')}</th>
                <th scope="col">{t('fleet.gateway')}</th>
                <th scope="col">{t('fleet.gw.event')}</th>
                <th scope="col">{t('fleet.gw.actor')}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <JournalRow key={e.id} event={e} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {error && (
        <p class="notice notice-error" role="alert">
          {t('fleet.journal.failed', { error })}
        </p>
      )}
      {next ? (
        <p>
          <button type="button" class="secondary" aria-disabled={loading ? 'true' : undefined} onClick={() => void loadOlder()}>
            {loading ? t('fleet.journal.loading') : t('fleet.journal.older')}
          </button>
        </p>
      ) : (
        joined && <p class="hint">{t('fleet.journal.end')}</p>
      )}
    </section>
  );
}

function JournalRow({ event: e }: { event: FleetJournalEvent }) {
  const { t, dateTime, label } = useI18n();
  const lines = useEventLines()(e);
  return (
    <tr data-event={e.id} data-kind={e.kind} data-event-gateway={e.gateway ?? ''}>
      <th scope="row" tabIndex={-1}>
        {dateTime(e.at)}
      </th>
      <td>{e.gateway ? <a href={`/gestion/flotte/${encodeURIComponent(e.gateway)}`}>{e.gateway}</a> : t('common.none')}</td>
      <td>
        <span class="cell-line">{label('fleet.event', e.kind)}</span>
        {lines.map((line, i) => (
          <span key={i} class="cell-line hint event-detail">
            {line}
          </span>
        ))}
      </td>
      <td>{e.actor}</td>
    </tr>
  );
}

/** What an event's detail says that a reader needs, as lines of words: plugin and version, revision, group, reason. */
function useEventLines(): (e: FleetJournalEvent) => string[] {
  const { t } = useI18n();
  const revisionText = useRevisionText();
  return ({ kind, detail }) => {
    const d = detail ?? {};
    const lines: string[] = [];
    // A gateway's install result names its plugin `id`; the hub's rollout steps name it `plugin`.
    const plugin = text(d.plugin) ?? (kind.startsWith('plugin-') ? text(d.id) : undefined);
    const version = text(d.version);
    if (plugin) lines.push(version ? t('fleet.journal.plugin', { plugin, version }) : t('fleet.journal.pluginOnly', { plugin }));
    else if (kind === 'first-seen' && version) lines.push(t('fleet.journal.software', { version }));
    if (kind.startsWith('config-') && (typeof d.revision === 'number' || typeof d.revision === 'string')) lines.push(revisionText(d.revision));
    if (kind === 'plugin-rolled-back' && 'to' in d) {
      const to = text(d.to);
      lines.push(to ? t('fleet.journal.restored', { version: to }) : t('fleet.journal.removed'));
    }
    const group = text(d.group);
    if (group) lines.push(t('fleet.journal.group', { group, gateways: gatewayList(d.gateways) || t('common.none') }));
    else if (kind === 'plugin-promoted' && gatewayList(d.gateways)) lines.push(t('fleet.journal.gateways', { gateways: gatewayList(d.gateways) }));
    const reason = text(d.reason) ?? (kind === 'config-refused' ? text(d.message) : undefined);
    if (reason) lines.push(t('fleet.reason', { reason: firstLine(reason) }));
    return lines;
  };
}

/** A string or number of a detail, cut to TEXT_MAX characters; undefined for anything else or empty. */
function text(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || !value.trim()) return undefined;
  return value.length > TEXT_MAX ? `${value.slice(0, TEXT_MAX)}…` : value;
}

/** The gateways of a detail, comma separated, GATEWAYS_MAX at most; '' when none. */
function gatewayList(value: unknown): string {
  if (!Array.isArray(value)) return '';
  const names = value.filter((g): g is string => typeof g === 'string').map((g) => g.slice(0, 100));
  return names.length > GATEWAYS_MAX ? `${names.slice(0, GATEWAYS_MAX).join(', ')}, …` : names.join(', ');
}
