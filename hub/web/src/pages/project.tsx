/**
 * One project's page (`/projets/:key`): what it is (theme, scope, owner, dates, state of the
 * works), what it saved as measured — cumulated kWh, € and tCO2e with their uncertainty —, its
 * months against the adjusted baseline (chart, table, CSV; project-parts.tsx), the quality of the
 * baseline model in plain words, its costs and return. Citizens see published projects only (the
 * hub answers 404 for the others, shown as the not-found page).
 */
import { useRoute } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { combinedUncertainty, methodOf, priced, PROJECT_WRITERS, worksState, type ProjectDetail, type ProjectSavings } from '../projects.js';
import { useSession } from '../session.js';
import { NotFound } from '../ui/not-found.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { Costs, MetricComparison, ModelQuality, SavingsChart } from './project-parts.js';
import { projectScopeName, WorksBadge } from './projects.js';
import { useBuildingNames } from './scopes.js';

export function ProjectPage() {
  const { params } = useRoute();
  const key = params.key ?? '';
  const i18n = useI18n();
  const { t, lang, num, percent, day, period } = i18n;
  const session = useSession();
  const who = session.user?.username;
  const detail = useLoad(() => api.get<ProjectDetail>(`/api/projects/${encodeURIComponent(key)}`), [key, who], session.known);
  // A deleted project (staff still read its last version) has no savings to show.
  const savings = useLoad(
    () => api.get<ProjectSavings>(`/api/projects/${encodeURIComponent(key)}/savings`),
    [key, who],
    session.known && !!detail.data && !detail.data.deleted,
  );
  const names = useBuildingNames(true);
  const [chartDrawn, setChartDrawn] = useState(false);
  useEffect(() => setChartDrawn(false), [key, lang, savings.data]);

  if (detail.error?.status === 404) return <NotFound />;
  const d = detail.data?.definition;
  const s = savings.data;
  const energy = s?.kind === 'energy';
  const title = d ? d.title[lang] : t('project.title');
  const hasChart = !!s && energy;
  const busy = !session.known || detail.loading || savings.loading || names.loading || (hasChart && !chartDrawn);
  const u = s ? combinedUncertainty(s.energies) : null;
  return (
    <View name="project" busy={busy} title={title}>
      <p class="no-print">
        <a href="/projets">{t('project.back')}</a>
      </p>
      {detail.error && <LoadError error={detail.error} retry={detail.reload} />}
      {!d && !detail.error && <Loading />}
      {d && (
        <>
          <h1>{title}</h1>
          <p class="objective-meta">
            <span>{t(`theme.${d.theme}` as MessageKey)}</span>
            {' · '}
            <span class={d.published ? '' : 'tag-unpublished'}>{d.published ? t('common.published') : t('common.unpublished')}</span>
            {' · '}
            <span data-scope>{projectScopeName(d.scope, names.data, t)}</span>
            {' · '}
            <WorksBadge state={worksState(d.dates)} />
          </p>
          {d.description && <p class="lead">{d.description}</p>}
          {detail.data!.deleted && <p class="notice notice-error">{t('project.deleted')}</p>}
          <div class="no-print page-tools toolbar">
            <button type="button" class="secondary" onClick={() => window.print()}>
              {t('app.print')}
            </button>
            {session.can(...PROJECT_WRITERS) && <a href={`/gestion/projets/${encodeURIComponent(key)}`}>{t('project.edit')}</a>}
          </div>
          <dl class="facts">
            <dt>{t('project.owner')}</dt>
            <dd>{d.owner}</dd>
            {d.dates.decision && (
              <>
                <dt>{t('project.decision')}</dt>
                <dd>{day(d.dates.decision)}</dd>
              </>
            )}
            <dt>{t('project.worksDates')}</dt>
            <dd>{t('project.fromTo', { from: day(d.dates.worksStart), to: day(d.dates.worksEnd) })}</dd>
            {d.energy && (
              <>
                <dt>{t('project.energies')}</dt>
                <dd>{d.energy.energies.map((e) => t(`energy.${e}` as MessageKey)).join(', ')}</dd>
              </>
            )}
          </dl>

          {savings.error && <LoadError error={savings.error} retry={savings.reload} />}
          {savings.loading && !s && <Loading />}
          {s && energy && (
            <section aria-labelledby="project-saved" class="latest" data-saved-kwh={s.totals.kWh}>
              <h2 id="project-saved">{t('project.saved')}</h2>
              {s.reportingPeriod ? (
                <>
                  <p>
                    {t('project.reportingPeriod', { from: period(s.reportingPeriod.from), to: period(s.reportingPeriod.to) })}{' '}
                    {t(`projects.method.${methodOf(s)}` as MessageKey)}.
                  </p>
                  <dl class="facts">
                    <dt>{t('projects.savedEnergy')}</dt>
                    <dd class="card-value">
                      {num(s.totals.kWh, 'kWh')}
                      {u && ` ${t('project.plusMinusKWh', { kwh: num(u.absolute, 'kWh') })}`}
                    </dd>
                    <dt>{t('projects.savedEuros')}</dt>
                    <dd>
                      {priced(s) ? num(s.totals.euros, '€') : t('projects.noTariff')}
                      {priced(s) && u?.fraction != null && ` ${t('projects.plusMinus', { value: percent(u.fraction) })}`}
                    </dd>
                    <dt>{t('projects.savedCo2')}</dt>
                    <dd>
                      {num(s.totals.tCO2e, 'tCO2e')}
                      {u?.fraction != null && ` ${t('projects.plusMinus', { value: percent(u.fraction) })}`}
                    </dd>
                  </dl>
                  {u && (
                    <p class="hint">{t('project.uncertaintyNote', { confidence: percent(s.energies.find((e) => e.uncertainty)!.uncertainty!.confidence) })}</p>
                  )}
                </>
              ) : (
                <p>{t('project.noReporting')}</p>
              )}
            </section>
          )}
          {s && !energy && <MetricComparison savings={s} i18n={i18n} />}
          {s && energy && <SavingsChart savings={s} definition={d} title={title} onDrawn={() => setChartDrawn(true)} />}
          {s && energy && <ModelQuality energies={s.energies} />}
          <Costs definition={d} savings={s} />
          {s && s.warnings.length > 0 && (
            <section aria-labelledby="project-warnings">
              <h2 id="project-warnings">{t('project.warnings')}</h2>
              <ul lang={lang === 'en' ? undefined : 'en'}>
                {s.warnings.map((w) => (
                  <li>{w}</li>
                ))}
              </ul>
            </section>
          )}
        </>
      )}
    </View>
  );
}
