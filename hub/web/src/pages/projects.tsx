/**
 * The city's projects (`/projets`): each action (relamping a school, a new boiler, online
 * booking…) with its theme, scope, the state of its works, what it saved as measured (kWh, € and
 * tCO2e, with the uncertainty of the measure), its payback and the method in words; above them,
 * the city's totals. Citizens see the published projects; staff see all, the unpublished ones
 * said so. The theme filter is in the URL (`?theme=energy`).
 *
 * The list's savings come from each project's own savings (GET /api/projects/:key/savings, which
 * the hub evaluates once for every project and keeps a minute), since the city summary carries
 * neither the method nor the uncertainty.
 */
import { useLocation } from 'preact-iso';
import { api, withQuery } from '../api.js';
import { useI18n, type I18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import {
  combinedUncertainty,
  methodOf,
  priced,
  PROJECT_READERS,
  PROJECT_THEMES,
  worksState,
  type ProjectSavings,
  type ProjectsSummary,
  type StoredProject,
  type WorksState,
} from '../projects.js';
import { useSession } from '../session.js';
import { StateBadge, type StatusName } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { useBuildingNames, type BuildingNames } from './scopes.js';

/** Most projects whose savings the list loads, and how many at once. */
const MAX_LISTED = 200;
const PARALLEL = 4;

export function ProjectsPage() {
  const { t, lang, num } = useI18n();
  const session = useSession();
  const { query, route, path } = useLocation();
  const staff = session.can(...PROJECT_READERS);
  const theme = query.theme && (PROJECT_THEMES as readonly string[]).includes(query.theme) ? query.theme : undefined;
  const who = session.user?.username;
  const list = useLoad(() => api.get<StoredProject[]>(withQuery('/api/projects', { theme })), [theme, who], session.known);
  const summary = useLoad(() => api.get<ProjectsSummary>('/api/projects-summary'), [who], session.known);
  const savings = useLoad(() => savingsOf((list.data ?? []).slice(0, MAX_LISTED)), [list.data], !!list.data);
  const names = useBuildingNames(true);

  const busy = !session.known || list.loading || summary.loading || (!!list.data && savings.loading) || names.loading;
  const projects = [...(list.data ?? [])].sort((a, b) => a.definition.title[lang].localeCompare(b.definition.title[lang], lang));
  const totals = summary.data?.totals;
  return (
    <View name="projects" busy={busy} title={t('projects.title')}>
      <h1>{t('projects.title')}</h1>
      <p class="lead">{staff ? t('projects.introStaff') : t('projects.intro')}</p>
      {totals && (
        <section aria-labelledby="projects-totals" class="latest" data-totals={totals.projects}>
          <h2 id="projects-totals">{t('projects.totals')}</h2>
          <dl class="facts">
            <dt>{t('projects.count')}</dt>
            <dd>{num(totals.projects)}</dd>
            <dt>{t('projects.savedEnergy')}</dt>
            <dd data-total-kwh={totals.kWh}>{num(totals.kWh, 'kWh')}</dd>
            <dt>{t('projects.savedEuros')}</dt>
            <dd>{num(totals.euros, '€')}</dd>
            <dt>{t('projects.savedCo2')}</dt>
            <dd>{num(totals.tCO2e, 'tCO2e')}</dd>
            <dt>{t('projects.netInvestment')}</dt>
            <dd>{num(totals.netInvestment, '€')}</dd>
            <dt>{t('projects.yearlyNetSavings')}</dt>
            <dd>{num(totals.yearlyNetSavings, t('projects.eurosPerYear'))}</dd>
          </dl>
        </section>
      )}
      {summary.error && <LoadError error={summary.error} retry={summary.reload} />}
      <form class="filters no-print" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="projects-theme">{t('projects.themeFilter')}</label>
          <select id="projects-theme" value={theme ?? ''} onChange={(e) => route(withQuery(path, { ...query, theme: (e.target as HTMLSelectElement).value }))}>
            <option value="">{t('common.allThemes')}</option>
            {PROJECT_THEMES.map((th) => (
              <option value={th}>{t(`theme.${th}` as MessageKey)}</option>
            ))}
          </select>
        </div>
      </form>
      {list.error && <LoadError error={list.error} retry={list.reload} />}
      {busy && !list.data && <Loading />}
      {list.data && !list.data.length && <p>{theme ? t('projects.noneInTheme') : t('projects.none')}</p>}
      {projects.length > 0 && (
        <div class="table-wrap">
          <table class="projects-table">
            <caption>{t('projects.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('projects.project')}</th>
                <th scope="col">{t('projects.theme')}</th>
                <th scope="col">{t('projects.scope')}</th>
                <th scope="col">{t('projects.works')}</th>
                <th scope="col" class="n">
                  {t('projects.saved')}
                </th>
                <th scope="col">{t('projects.payback')}</th>
                <th scope="col">{t('projects.method')}</th>
              </tr>
            </thead>
            <tbody>
              {projects.map((p) => (
                <ProjectRow project={p} savings={savings.data?.get(p.key)} names={names.data} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </View>
  );
}

/** Each project's savings, a few requests at a time; a project whose savings fail is left without. */
async function savingsOf(projects: readonly StoredProject[]): Promise<Map<string, ProjectSavings>> {
  const out = new Map<string, ProjectSavings>();
  let next = 0;
  const worker = async () => {
    while (next < projects.length) {
      const key = projects[next++]!.key;
      await api.get<ProjectSavings>(`/api/projects/${encodeURIComponent(key)}/savings`).then(
        (s) => out.set(key, s),
        () => undefined,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, projects.length) }, worker));
  return out;
}

function ProjectRow({ project, savings, names }: { project: StoredProject; savings: ProjectSavings | undefined; names: BuildingNames | undefined }) {
  const i18n = useI18n();
  const { t, lang } = i18n;
  const d = project.definition;
  return (
    <tr data-project={project.key} data-published={d.published ? 'true' : 'false'}>
      <th scope="row">
        <a href={`/projets/${encodeURIComponent(project.key)}`}>{d.title[lang]}</a>
        {!d.published && (
          <>
            {' '}
            <span class="tag-unpublished">{t('common.unpublished')}</span>
          </>
        )}
      </th>
      <td>{t(`theme.${d.theme}` as MessageKey)}</td>
      <td>{projectScopeName(d.scope, names, t)}</td>
      <td>
        <WorksBadge state={worksState(d.dates)} />
      </td>
      <td class="n">{savings ? <SavedCell savings={savings} i18n={i18n} /> : t('common.none')}</td>
      <td>{savings ? paybackText(savings, i18n) : t('common.none')}</td>
      <td>{savings ? t(`projects.methodShort.${methodOf(savings)}` as MessageKey) : t('common.none')}</td>
    </tr>
  );
}

function SavedCell({ savings, i18n }: { savings: ProjectSavings; i18n: I18n }) {
  const { t, num, percent } = i18n;
  if (savings.kind === 'metric') return <span>{t('projects.metricProject')}</span>;
  if (!savings.reportingPeriod) return <span>{t('projects.notYetMeasured')}</span>;
  const u = combinedUncertainty(savings.energies);
  return (
    <span class="cell-line" data-saved-kwh={savings.totals.kWh}>
      <span>
        {num(savings.totals.kWh, 'kWh')}
        {u?.fraction != null && ` ${t('projects.plusMinus', { value: percent(u.fraction) })}`}
      </span>
      <br />
      <span>{priced(savings) ? num(savings.totals.euros, '€') : t('projects.noTariffShort')}</span>
      <br />
      <span>{num(savings.totals.tCO2e, 'tCO2e')}</span>
    </span>
  );
}

/** The payback in words: its month when reached or foreseen, and the years. */
export function paybackText(savings: ProjectSavings, { t, num, period }: I18n): string {
  const f = savings.finance;
  if (f.netInvestment <= 0) return t('projects.paidByGrants');
  if (f.yearlyNetSavings === null) return t('projects.paybackUnknown');
  if (f.simplePayback === null) return t('projects.noPayback');
  const years = t('projects.years', { years: num(f.simplePayback, undefined, 1) });
  if (!f.paybackDate) return years;
  return t(f.paidBack ? 'projects.paybackAt' : 'projects.paybackForeseen', { years, month: period(f.paybackDate) });
}

const WORKS_TONE: Record<WorksState, StatusName> = { planned: 'unknown', works: 'amber', done: 'green' };
const WORKS_ICON: Record<WorksState, string> = { planned: '…', works: '⚒', done: '✓' };

/** The state of the works: colour, icon and words. */
export function WorksBadge({ state }: { state: WorksState }) {
  const { t } = useI18n();
  return <StateBadge tone={WORKS_TONE[state]} icon={WORKS_ICON[state]} text={t(`projects.works.${state}` as MessageKey)} state={state} />;
}

/** What a project's scope is called: the city, a site, a building's name or several. */
export function projectScopeName(
  scope: string | string[],
  names: BuildingNames | undefined,
  t: (key: MessageKey, params?: Record<string, string | number>) => string,
): string {
  const building = (key: string) => names?.get(key)?.name ?? key;
  if (Array.isArray(scope)) return scope.length === 1 ? building(scope[0]!) : t('projects.buildingsCount', { n: scope.length });
  if (scope === 'city') return t('common.city');
  if (scope.startsWith('site:')) return t('objective.siteNamed', { site: scope.slice(5) });
  return building(scope.slice('building:'.length));
}
