/**
 * The agents' page (`/donnees-de-service`, agents and operators): one value entered in a form,
 * or a CSV file imported (service-import.tsx), each refusal shown where it is (next to the field;
 * for a file, by row and column). A value entered again corrects it; its history shows who
 * changed what and when. The hub computes the objectives that read service data again after each
 * write: their status is shown below and followed until it is updated.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { ObjectiveSummary } from '../objectives.js';
import { headline } from '../objectives.js';
import { useSession } from '../session.js';
import { described, Field, fieldErrors, GeneralErrors, NO_ERRORS, type FieldErrors } from '../ui/form.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { CsvImport } from './service-import.js';
import type { ServiceSource, ServiceValue } from './service-types.js';

interface Building {
  id: string;
  name: string;
  site: string;
}

/** What the form needs from the hub: sources, scopes, metrics already used. */
interface Choices {
  sources: ServiceSource[];
  buildings: Building[];
  metrics: string[];
}

/** Objectives whose formula reads service data (service_sum, service_avg …). */
async function serviceObjectives(): Promise<ObjectiveSummary[]> {
  const all = await api.get<ObjectiveSummary[]>('/api/objectives');
  const definitions = await Promise.all(
    all.map((o) => api.get<{ definition: { formula: string } }>(`/api/objectives/${encodeURIComponent(o.key)}`).catch(() => undefined)),
  );
  return all.filter((_, i) => /\bservice_\w+\s*\(/.test(definitions[i]?.definition.formula ?? ''));
}

/** The local month of today, YYYY-MM (for the period field's first value). */
function thisMonth(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

const FIELDS = ['source', 'metric', 'scope', 'period', 'value'] as const;

export function ServiceData() {
  const { t } = useI18n();
  const session = useSession();
  const choices = useLoad<Choices>(
    async () => {
      const [sources, buildings, recent] = await Promise.all([
        api.get<{ sources: ServiceSource[] }>('/api/service-data/sources'),
        api.get<Building[]>('/api/buildings'),
        api
          .get<{ values: ServiceValue[] }>(withQuery('/api/service-data', { from: thisMonthMinus(2), limit: 2000 }))
          .catch(() => ({ values: [] as ServiceValue[] })),
      ]);
      return { sources: sources.sources, buildings, metrics: [...new Set(recent.values.map((v) => v.metric))].sort() };
    },
    [session.user?.username],
    session.known,
  );
  // Bumped after each write: the objectives' list follows their re-evaluation.
  const [written, setWritten] = useState(0);
  const objectives = useFollowedObjectives(written, session.known);
  const busy = !session.known || choices.loading || objectives.loading;
  return (
    <View name="service-data" busy={busy} title={t('sd.title')}>
      <h1>{t('sd.title')}</h1>
      <p class="lead">{t('sd.intro')}</p>
      {choices.error && <LoadError error={choices.error} retry={choices.reload} />}
      {!choices.data && busy && <Loading />}
      {choices.data && (
        <div class="two-columns">
          <ValueForm choices={choices.data} onWritten={() => setWritten((n) => n + 1)} />
          <CsvImport sources={choices.data.sources} onWritten={() => setWritten((n) => n + 1)} />
        </div>
      )}
      <ObjectivesStatus followed={objectives} />
    </View>
  );
}

function thisMonthMinus(months: number): string {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - months);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

interface Followed {
  data: ObjectiveSummary[] | undefined;
  error: ApiError | undefined;
  loading: boolean;
  following: boolean;
}

/**
 * The service objectives, loaded again every 2 s for a minute after each write (`written`), until
 * their results change: the hub evaluates them again soon after new service data.
 */
function useFollowedObjectives(written: number, enabled: boolean): Followed {
  const [tick, setTick] = useState(0);
  const [following, setFollowing] = useState(false);
  const loaded = useLoad(serviceObjectives, [tick], enabled);
  const before = useRef<string | undefined>(undefined);
  const deadline = useRef(0);
  useEffect(() => {
    if (!written) return;
    before.current = JSON.stringify(loaded.data?.map((o) => o.latest));
    deadline.current = Date.now() + 60_000;
    setFollowing(true);
  }, [written]);
  useEffect(() => {
    if (!following || loaded.loading) return;
    const now = JSON.stringify(loaded.data?.map((o) => o.latest));
    if ((now !== before.current && tick > 0) || Date.now() > deadline.current) {
      setFollowing(false);
      return;
    }
    const timer = setTimeout(() => setTick((n) => n + 1), 2000);
    return () => clearTimeout(timer);
  }, [following, loaded.loading, loaded.data]);
  return { data: loaded.data, error: loaded.error, loading: loaded.loading && !loaded.data, following };
}

function ObjectivesStatus({ followed }: { followed: Followed }) {
  const { t, lang, num, period } = useI18n();
  const [announce, setAnnounce] = useState('');
  const wasFollowing = useRef(false);
  useEffect(() => {
    if (followed.following) setAnnounce(t('sd.reevaluating'));
    else if (wasFollowing.current) setAnnounce(t('sd.reevaluated'));
    wasFollowing.current = followed.following;
  }, [followed.following]);
  return (
    <section aria-labelledby="sd-objectives">
      <h2 id="sd-objectives">{t('sd.objectivesTitle')}</h2>
      <p>{t('sd.objectivesIntro')}</p>
      <p role="status" class="hint" data-following={followed.following ? 'true' : 'false'}>
        {announce}
      </p>
      {followed.error && <LoadError error={followed.error} />}
      {followed.data && !followed.data.length && <p>{t('sd.noObjectives')}</p>}
      {followed.data && followed.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('sd.objectivesCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('sd.objective')}</th>
                <th scope="col">{t('common.period')}</th>
                <th scope="col" class="n">
                  {t('common.value')}
                </th>
                <th scope="col" class="n">
                  {t('common.target')}
                </th>
                <th scope="col">{t('common.status')}</th>
              </tr>
            </thead>
            <tbody>
              {followed.data.map((o) => {
                const r = headline(o);
                return (
                  <tr data-objective={o.key} data-status={r?.status ?? 'unknown'}>
                    <th scope="row">
                      <a href={`/objectifs/${o.key}`}>{o.label[lang]}</a>
                    </th>
                    <td>{r ? period(r.period) : t('common.none')}</td>
                    <td class="n">{num(r?.value, o.unit)}</td>
                    <td class="n">{num(r?.target, o.unit)}</td>
                    <td>{r ? <StatusBadge result={r} /> : t('status.unknown')}</td>
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

interface SubmitAnswer {
  stored: ServiceValue[];
  superseded: ServiceValue[];
  unchanged: ServiceValue[];
}

function ValueForm({ choices, onWritten }: { choices: Choices; onWritten: () => void }) {
  const { t, num } = useI18n();
  const session = useSession();
  const [form, setForm] = useState({ source: choices.sources[0]?.key ?? '', metric: '', scope: 'city', period: thisMonth(), value: '' });
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [sending, setSending] = useState(false);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [historyFor, setHistoryFor] = useState<typeof form | undefined>(undefined);
  const [historyTick, setHistoryTick] = useState(0);
  const set = (field: keyof typeof form) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });
  const sites = [...new Set(choices.buildings.map((b) => b.site))].sort();

  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(undefined);
    const value = Number(form.value.trim().replace(/\s/g, '').replace(',', '.'));
    if (form.value.trim() === '' || !Number.isFinite(value)) {
      setErrors({ byField: { value: t('sd.valueInvalid') }, general: [] });
      return;
    }
    setSending(true);
    try {
      const answer = await api.post<SubmitAnswer>('/api/service-data', {
        values: [{ source: form.source, metric: form.metric.trim(), scope: form.scope, period: form.period.trim(), value }],
      });
      setErrors(NO_ERRORS);
      const stored = answer.stored[0];
      const old = answer.superseded[0];
      setDone(
        stored
          ? old
            ? t('sd.corrected', { old: num(old.value), value: num(stored.value) })
            : t('sd.stored', { value: num(stored.value) })
          : t('sd.unchanged'),
      );
      setHistoryFor({ ...form, metric: form.metric.trim(), period: form.period.trim() });
      setHistoryTick((n) => n + 1);
      if (stored) onWritten();
    } catch (e) {
      setErrors(e instanceof ApiError ? fieldErrors(e, FIELDS, /^values\.\d+\./) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const err = errors.byField;
  // A caller with an API token (no session) may try: the hub says whether it may.
  const mayReadHistory = !session.user || session.can('agent', 'operator', 'director');
  return (
    <section aria-labelledby="sd-form" class="panel">
      <h2 id="sd-form">{t('sd.formTitle')}</h2>
      <GeneralErrors errors={errors.general} title={t('sd.refused')} />
      <form onSubmit={submit} noValidate>
        <Field id="sd-source" label={t('sd.source')} hint={t('sd.sourceHint')} error={err.source}>
          <select {...described('sd-source', err.source, true)} value={form.source} onChange={set('source')}>
            {choices.sources.map((s) => (
              <option value={s.key}>{s.name}</option>
            ))}
          </select>
        </Field>
        <Field id="sd-metric" label={t('sd.metric')} hint={t('sd.metricHint')} error={err.metric}>
          <input
            {...described('sd-metric', err.metric, true)}
            list="sd-metrics"
            autocomplete="off"
            spellcheck={false}
            value={form.metric}
            onInput={set('metric')}
          />
          <datalist id="sd-metrics">
            {choices.metrics.map((m) => (
              <option value={m} />
            ))}
          </datalist>
        </Field>
        <Field id="sd-scope" label={t('sd.scope')} error={err.scope}>
          <select {...described('sd-scope', err.scope)} value={form.scope} onChange={set('scope')}>
            <option value="city">{t('common.city')}</option>
            <optgroup label={t('common.site')}>
              {sites.map((s) => (
                <option value={`site:${s}`}>{s}</option>
              ))}
            </optgroup>
            <optgroup label={t('common.building')}>
              {choices.buildings.map((b) => (
                <option value={`building:${b.id}`}>{b.name}</option>
              ))}
            </optgroup>
          </select>
        </Field>
        <Field id="sd-period" label={t('sd.period')} hint={t('sd.periodHint')} error={err.period}>
          <input {...described('sd-period', err.period, true)} inputMode="numeric" autocomplete="off" value={form.period} onInput={set('period')} />
        </Field>
        <Field id="sd-value" label={t('sd.value')} error={err.value}>
          <input {...described('sd-value', err.value)} inputMode="decimal" autocomplete="off" value={form.value} onInput={set('value')} />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('sd.submitting') : t('sd.submit')}
          </button>
          {mayReadHistory && (
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setHistoryFor({ ...form, metric: form.metric.trim(), period: form.period.trim() });
                setHistoryTick((n) => n + 1);
              }}
            >
              {t('sd.historyShow')}
            </button>
          )}
        </div>
      </form>
      <p role="status">{done && <span class="notice-inline">{done}</span>}</p>
      {historyFor && mayReadHistory && <History of={historyFor} tick={historyTick} />}
    </section>
  );
}

/** Every version of one value, oldest first: who entered it, when, how, and when it was replaced. */
function History({ of, tick }: { of: { source: string; metric: string; scope: string; period: string }; tick: number }) {
  const { t, num, dateTime } = useI18n();
  const complete = !!(of.source && of.metric && of.scope && of.period);
  const history = useLoad(
    () =>
      api.get<{ versions: ServiceValue[] }>(
        withQuery('/api/service-data/history', { source: of.source, metric: of.metric, scope: of.scope, period: of.period }),
      ),
    [of.source, of.metric, of.scope, of.period, tick],
    complete,
  );
  return (
    <section aria-labelledby="sd-history" class="history">
      <h3 id="sd-history">{t('sd.historyTitle')}</h3>
      {!complete && <p>{t('sd.historyIncomplete')}</p>}
      {history.loading && <Loading />}
      {history.error && (history.error.status === 403 ? <p>{t('sd.historyForbidden')}</p> : <LoadError error={history.error} />)}
      {history.data && !history.data.versions.length && <p>{t('sd.historyNone')}</p>}
      {history.data && history.data.versions.length > 0 && (
        <div class="table-wrap">
          <table data-history>
            <caption>{t('sd.historyCaption', { metric: of.metric, scope: of.scope, period: of.period })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('sd.submittedAt')}</th>
                <th scope="col">{t('sd.submittedBy')}</th>
                <th scope="col">{t('sd.via')}</th>
                <th scope="col" class="n">
                  {t('common.value')}
                </th>
                <th scope="col">{t('sd.supersededAt')}</th>
              </tr>
            </thead>
            <tbody>
              {history.data.versions.map((v, i, all) => (
                <tr>
                  <th scope="row">{dateTime(v.submittedAt)}</th>
                  <td>{v.submittedBy}</td>
                  <td>{v.via === 'csv' ? t('sd.viaCsv', { file: v.file ?? '', row: v.row ?? '' }) : t('sd.viaApi')}</td>
                  <td class="n">{i > 0 ? `${num(all[i - 1]!.value)} → ${num(v.value)}` : num(v.value)}</td>
                  <td>{v.supersededAt ? dateTime(v.supersededAt) : t('sd.current')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
