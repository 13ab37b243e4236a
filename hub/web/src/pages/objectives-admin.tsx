/**
 * The operators' list of objectives (`/gestion/objectifs`): every objective, published or not,
 * with its latest status; publish or unpublish one (a new version of its definition), open its
 * form, or compute every objective now (POST /api/objectives/evaluate), which says what it did.
 */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { headline, type ObjectiveSummary } from '../objectives.js';
import { useSession } from '../session.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { OutcomeNotice } from '../ui/form.js';

/** What POST /api/objectives/evaluate answers. */
export interface EvaluationSummary {
  objectives: number;
  results: number;
  changes: number;
  timings?: { totalMs?: number; [step: string]: unknown };
}

/** The current definition of an objective, as GET /api/objectives/:key gives it. */
export async function loadDefinition(key: string): Promise<Record<string, unknown> & { published: boolean; label: { fr: string; en: string } }> {
  const answer = await api.get<{ version: number; definition: Record<string, unknown> & { published: boolean; label: { fr: string; en: string } } }>(
    `/api/objectives/${encodeURIComponent(key)}`,
  );
  return answer.definition;
}

export function ObjectivesAdmin() {
  const { t, lang } = useI18n();
  const session = useSession();
  const list = useLoad(() => api.get<ObjectiveSummary[]>('/api/objectives'), [session.user?.username], session.known);
  const [evaluation, setEvaluation] = useState<{ running: boolean; summary?: EvaluationSummary; error?: string; seconds?: number }>({ running: false });
  const [message, setMessage] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const [toggling, setToggling] = useState<string | undefined>(undefined);

  const evaluate = async () => {
    setEvaluation({ running: true });
    const started = performance.now();
    try {
      const summary = await api.post<EvaluationSummary>('/api/objectives/evaluate', {});
      setEvaluation({ running: false, summary, seconds: Math.round((performance.now() - started) / 100) / 10 });
      list.reload();
    } catch (e) {
      setEvaluation({ running: false, error: e instanceof ApiError ? e.message : String(e) });
    }
  };

  const toggle = async (o: ObjectiveSummary) => {
    const label = o.label[lang];
    setToggling(o.key);
    setMessage(undefined);
    try {
      const definition = await loadDefinition(o.key);
      await api.put(`/api/objectives/${encodeURIComponent(o.key)}`, { ...definition, published: !o.published });
      setMessage({ ok: true, text: t(o.published ? 'oa.unpublished' : 'oa.published', { label }) });
      list.reload();
    } catch (e) {
      setMessage({ ok: false, text: t('oa.toggleFailed', { label, error: e instanceof ApiError ? e.message : String(e) }) });
    } finally {
      setToggling(undefined);
    }
  };

  const busy = !session.known || (list.loading && !list.data);
  const sorted = list.data ? [...list.data].sort((a, b) => a.theme.localeCompare(b.theme) || a.label[lang].localeCompare(b.label[lang], lang)) : [];
  return (
    <View name="objectives-admin" busy={busy} title={t('oa.title')}>
      <h1>{t('oa.title')}</h1>
      <p class="lead">{t('oa.intro')}</p>
      <div class="toolbar no-print">
        <a class="button" href="/gestion/objectifs/nouveau">
          {t('oa.new')}
        </a>
        <button type="button" class="secondary" onClick={evaluate} disabled={evaluation.running} aria-describedby="oa-evaluation">
          {t('oa.evaluate')}
        </button>
      </div>
      <div
        id="oa-evaluation"
        role="status"
        data-evaluation={evaluation.running ? 'running' : evaluation.summary ? 'done' : evaluation.error ? 'failed' : 'idle'}
      >
        {evaluation.running && (
          <p class="progress">
            <progress aria-label={t('oa.evaluating')} /> {t('oa.evaluating')}
          </p>
        )}
        {evaluation.summary && (
          <p class="notice notice-ok">
            {t('oa.evaluated', {
              objectives: evaluation.summary.objectives,
              results: evaluation.summary.results,
              changes: evaluation.summary.changes,
              seconds: evaluation.seconds ?? 0,
            })}
          </p>
        )}
        {evaluation.error && <p class="notice notice-error">{t('oa.evaluateFailed', { error: evaluation.error })}</p>}
      </div>
      <OutcomeNotice outcome={message} />
      {list.error && <LoadError error={list.error} retry={list.reload} />}
      {busy && <Loading />}
      {list.data && !list.data.length && <p>{t('oa.none')}</p>}
      {sorted.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('oa.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('oa.objective')}</th>
                <th scope="col">{t('oa.theme')}</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('oa.publication')}</th>
                <th scope="col">{t('oa.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((o) => {
                const label = o.label[lang];
                const r = headline(o);
                return (
                  <tr data-objective={o.key} data-published={o.published ? 'true' : 'false'}>
                    <th scope="row">
                      <a href={`/objectifs/${o.key}`}>{label}</a>
                      <br />
                      <code>{o.key}</code>
                    </th>
                    <td>{t(`theme.${o.theme}` as MessageKey)}</td>
                    <td>{r ? <StatusBadge result={r} /> : t('status.unknown')}</td>
                    <td>{o.published ? t('common.published') : <span class="tag-unpublished">{t('common.unpublished')}</span>}</td>
                    <td class="actions">
                      <a href={`/gestion/objectifs/${o.key}`} aria-label={t('oa.editLabel', { label })}>
                        {t('oa.edit')}
                      </a>
                      <button
                        type="button"
                        class="secondary small"
                        disabled={toggling === o.key}
                        aria-label={t(o.published ? 'oa.unpublishLabel' : 'oa.publishLabel', { label })}
                        onClick={() => toggle(o)}
                      >
                        {t(o.published ? 'oa.unpublish' : 'oa.publish')}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </View>
  );
}
