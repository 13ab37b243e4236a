/**
 * The home page: the objectives by theme, each a card with its latest value, target, status, the
 * change against the same period last year and a small trend. Citizens see the published ones;
 * signed-in staff see every objective (the hub decides) and those not published are marked.
 * The theme filter is in the URL (?theme=energy); staff also have a site filter (?site=centre):
 * each card then shows that site's latest result, from the objective's results at that site.
 */
import { useLocation } from 'preact-iso';
import { api, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { headline, latestOf, relativeChange, trendOf, type ObjectiveSummary, type Result, type ResultsAnswer, type TrendPoint } from '../objectives.js';
import { STAFF, useSession } from '../session.js';
import { Sparkline } from '../ui/sparkline.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';

const THEME_ORDER = ['energy', 'reception', 'public-lighting', 'parking', 'security', 'roads', 'other'];

export function Home() {
  const { t } = useI18n();
  const session = useSession();
  const { query, route, path } = useLocation();
  const theme = query.theme && THEME_ORDER.includes(query.theme) ? query.theme : undefined;
  const objectives = useLoad(() => api.get<ObjectiveSummary[]>(withQuery('/api/objectives', { theme })), [theme, session.user?.username], session.known);
  const staff = session.can(...STAFF);
  const sites = useLoad(
    async () => [...new Set((await api.get<{ site: string }[]>('/api/buildings')).map((b) => b.site))].sort(),
    [session.user?.username],
    staff,
  );
  const site = staff && query.site && /^[a-z0-9_-]+$/.test(query.site) ? query.site : undefined;
  // With a site chosen: each objective's history at that site (the last 13 periods), one request per objective.
  const atSite = useLoad(
    async () => {
      const answers = await Promise.all(
        (objectives.data ?? []).map((o) =>
          api.get<ResultsAnswer>(withQuery(`/api/objectives/${encodeURIComponent(o.key)}/results`, { scope: `site:${site}` })).then(
            (a): [string, Result[]] => [o.key, a.results],
            (): [string, Result[]] => [o.key, []],
          ),
        ),
      );
      return new Map(answers);
    },
    [site, objectives.data],
    !!site && !!objectives.data,
  );
  const themes = THEME_ORDER.filter((th) => objectives.data?.some((o) => o.theme === th));
  const busy = !session.known || objectives.loading || (!!site && atSite.loading);
  return (
    <View name="home" busy={busy} title={t('home.title')}>
      <h1>{t('home.title')}</h1>
      <p class="lead">{session.user ? t('home.introStaff') : t('home.intro')}</p>
      <p class="no-print">
        {t('home.openData')} <a href="/donnees">{t('home.openDataLink')}</a>
      </p>
      <form class="filters no-print" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="theme-filter">{t('home.themeFilter')}</label>
          <select id="theme-filter" value={theme ?? ''} onChange={(e) => route(withQuery(path, { ...query, theme: (e.target as HTMLSelectElement).value }))}>
            <option value="">{t('common.allThemes')}</option>
            {THEME_ORDER.map((th) => (
              <option value={th}>{t(`theme.${th}` as MessageKey)}</option>
            ))}
          </select>
        </div>
        {staff && (
          <div>
            <label for="site-filter">{t('home.siteFilter')}</label>
            <select id="site-filter" value={site ?? ''} onChange={(e) => route(withQuery(path, { ...query, site: (e.target as HTMLSelectElement).value }))}>
              <option value="">{t('common.allSites')}</option>
              {(sites.data ?? (site ? [site] : [])).map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </div>
        )}
      </form>
      {site && <p>{t('home.siteShown', { site })}</p>}
      {objectives.error && <LoadError error={objectives.error} retry={objectives.reload} />}
      {busy && !objectives.data && <Loading />}
      {objectives.data && !objectives.data.length && <p>{t('home.none')}</p>}
      {themes.map((th) => (
        <section class="theme-section" aria-labelledby={`theme-${th}`}>
          <h2 id={`theme-${th}`}>{t(`theme.${th}` as MessageKey)}</h2>
          <ul class="cards">
            {objectives
              .data!.filter((o) => o.theme === th)
              .map((o) => (
                <ObjectiveCard objective={o} site={site ? { key: site, results: atSite.data?.get(o.key) ?? [] } : undefined} />
              ))}
          </ul>
        </section>
      ))}
    </View>
  );
}

/** One objective's card; with `site`, that site's latest result and trend instead of the headline's. */
function ObjectiveCard({ objective, site }: { objective: ObjectiveSummary; site?: { key: string; results: ResultsAnswer['results'] } }) {
  const { t, lang, num, change, period } = useI18n();
  const result = site ? latestOf(site.results) : headline(objective);
  const trend: TrendPoint[] = site ? site.results.slice(-13) : trendOf(objective, result?.scope);
  const yearChange = relativeChange(result?.value, result?.lastYear);
  const label = objective.label[lang];
  return (
    <li class="card" data-objective={objective.key}>
      <h3>
        <a href={withQuery(`/objectifs/${objective.key}`, { scope: site ? `site:${site.key}` : undefined })}>{label}</a>
      </h3>
      {!objective.published && <span class="tag-unpublished">{t('common.unpublished')}</span>}
      {result ? (
        <>
          <p class="card-value">{num(result.value, objective.unit)}</p>
          <StatusBadge result={result} />
          <dl>
            <dt>{t('common.period')}</dt>
            <dd>{period(result.period)}</dd>
            <dt>{t('common.target')}</dt>
            <dd>{num(result.target, objective.unit)}</dd>
            <dt>{t('common.change')}</dt>
            <dd>{yearChange === undefined ? t('common.none') : change(yearChange)}</dd>
          </dl>
          <Sparkline values={trend.map((p) => p.value)} target={result.target} />
        </>
      ) : (
        <p>{site ? t('home.noResultAtSite', { site: site.key }) : t('home.noResult')}</p>
      )}
    </li>
  );
}
