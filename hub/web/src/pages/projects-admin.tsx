/**
 * The operators' and directors' list of projects (`/gestion/projets`): every project, published
 * or not, with its version and the state of its works; open its form, publish or unpublish it (a
 * new version of its definition, guarded by the version it was made from), or start a new one.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { worksState, type StoredProject } from '../projects.js';
import { useSession } from '../session.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { WorksBadge } from './projects.js';
import { OutcomeNotice } from '../ui/form.js';

export function ProjectsAdmin() {
  const { t, lang } = useI18n();
  const session = useSession();
  const list = useLoad(() => api.get<StoredProject[]>('/api/projects'), [session.user?.username], session.known);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const [toggling, setToggling] = useState<string | undefined>(undefined);

  const toggle = async (p: StoredProject) => {
    const title = p.definition.title[lang];
    setToggling(p.key);
    setMessage(undefined);
    try {
      const { key: _key, ...definition } = p.definition;
      await api.put(withQuery(`/api/projects/${encodeURIComponent(p.key)}`, { version: p.version }), { ...definition, published: !p.definition.published });
      setMessage({ ok: true, text: t(p.definition.published ? 'pa.unpublished' : 'pa.published', { title }) });
      list.reload();
    } catch (e) {
      setMessage({ ok: false, text: t('pa.toggleFailed', { title, error: e instanceof ApiError ? e.message : String(e) }) });
    } finally {
      setToggling(undefined);
    }
  };

  const busy = !session.known || (list.loading && !list.data);
  const sorted = [...(list.data ?? [])].sort((a, b) => a.definition.title[lang].localeCompare(b.definition.title[lang], lang));
  return (
    <View name="projects-admin" busy={busy} title={t('pa.title')}>
      <h1>{t('pa.title')}</h1>
      <p class="lead">{t('pa.intro')}</p>
      <div class="toolbar no-print">
        <a class="button" href="/gestion/projets/nouveau">
          {t('pa.new')}
        </a>
        <a href="/projets">{t('pa.publicList')}</a>
      </div>
      <OutcomeNotice outcome={message} />
      {list.error && <LoadError error={list.error} retry={list.reload} />}
      {busy && <Loading />}
      {list.data && !list.data.length && <p>{t('projects.none')}</p>}
      {sorted.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('pa.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('projects.project')}</th>
                <th scope="col">{t('projects.theme')}</th>
                <th scope="col">{t('projects.works')}</th>
                <th scope="col" class="n">
                  {t('pa.version')}
                </th>
                <th scope="col">{t('pa.publication')}</th>
                <th scope="col">{t('pa.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((p) => {
                const title = p.definition.title[lang];
                return (
                  <tr data-project={p.key} data-published={p.definition.published ? 'true' : 'false'}>
                    <th scope="row">
                      <a href={`/projets/${encodeURIComponent(p.key)}`}>{title}</a>
                      <br />
                      <code>{p.key}</code>
                    </th>
                    <td>{t(`theme.${p.definition.theme}` as MessageKey)}</td>
                    <td>
                      <WorksBadge state={worksState(p.definition.dates)} />
                    </td>
                    <td class="n">{p.version}</td>
                    <td>{p.definition.published ? t('common.published') : <span class="tag-unpublished">{t('common.unpublished')}</span>}</td>
                    <td class="actions">
                      <a href={`/gestion/projets/${encodeURIComponent(p.key)}`} aria-label={t('pa.editLabel', { title })}>
                        {t('pa.edit')}
                      </a>
                      <button
                        type="button"
                        class="secondary small"
                        disabled={toggling === p.key}
                        aria-label={t(p.definition.published ? 'pa.unpublishLabel' : 'pa.publishLabel', { title })}
                        onClick={() => toggle(p)}
                      >
                        {t(p.definition.published ? 'pa.unpublish' : 'pa.publish')}
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
