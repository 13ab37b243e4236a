/**
 * The drill-down of one objective's period, for staff: from the city to its sites, a site to its
 * buildings, a building to the points its formula reads. The scopes one level down are ranked
 * worst first (status, then distance to the target) as a table and as a bar chart of value against
 * target; each links to the next level (the same page, a new URL: `?scope=site:north&period=…`),
 * and a breadcrumb leads back up.
 */
import { useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { api, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import { gapToTarget, parseScope, rankWorstFirst, type DrilldownAnswer, type ObjectiveDetail } from '../objectives.js';
import { Chart } from '../ui/chart.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad } from '../ui/view.js';
import { Completeness, scopeName, type BuildingNames } from './scopes.js';

export interface DrilldownProps {
  objective: ObjectiveDetail;
  /** The period drilled into: `YYYY-MM`, `YYYY-Qn` or `YYYY`. */
  period: string;
  /** The scope drilled into; none: the top (the city, or every scope of the objective's level). */
  scope: string | undefined;
  /** Periods the reader may pick, oldest first. */
  periods: string[];
  names: BuildingNames | undefined;
  /** Called once the table and its chart are drawn. */
  onDrawn(): void;
}

export function Drilldown({ objective, period, scope, periods, names, onDrawn }: DrilldownProps) {
  const { t, num, percent, period: periodText } = useI18n();
  const { query, path, route } = useLocation();
  const { definition } = objective;
  const drill = useLoad(
    () => api.get<DrilldownAnswer>(withQuery(`/api/objectives/${encodeURIComponent(objective.key)}/drilldown`, { period, scope })),
    [objective.key, period, scope],
  );
  const children = drill.data ? rankWorstFirst(drill.data.children, definition.direction) : [];
  const here = (changes: Record<string, string | undefined>) => withQuery(path, { ...query, ...changes });
  // Nothing to draw: drawn.
  useEffect(() => {
    if (drill.error || (drill.data && !children.length)) onDrawn();
  }, [drill.data, drill.error]);

  const trail = breadcrumb(scope, definition.scope.level, names);
  const at = scope ? parseScope(scope) : undefined;
  const title = t('drill.chart', { period: periodText(period), scope: scope ? scopeName(scope, names, t) : t('drill.top') });

  return (
    <section aria-labelledby="drilldown" class="drilldown" data-drill-scope={scope ?? ''}>
      <h2 id="drilldown">{t('drill.title', { period: periodText(period) })}</h2>
      <nav aria-label={t('drill.breadcrumb')} class="breadcrumb">
        <ol>
          {trail.map((step, i) => (
            <li>
              {i === trail.length - 1 ? (
                <span aria-current="location">{step.scope ? scopeName(step.scope, names, t) : t('drill.top')}</span>
              ) : (
                <a href={here({ scope: step.scope, period })}>{step.scope ? scopeName(step.scope, names, t) : t('drill.top')}</a>
              )}
            </li>
          ))}
        </ol>
      </nav>
      {periods.length > 1 && (
        <div class="filters no-print">
          <div>
            <label for="drill-period">{t('drill.period')}</label>
            <select id="drill-period" value={period} onChange={(e) => route(here({ period: (e.target as HTMLSelectElement).value }))}>
              {[...periods].reverse().map((p) => (
                <option value={p}>{periodText(p)}</option>
              ))}
            </select>
          </div>
        </div>
      )}
      {drill.error && <LoadError error={drill.error} retry={drill.reload} />}
      {drill.loading && !drill.data && <Loading />}
      {drill.data?.scope && (
        <p class="drill-self">
          {t('drill.self', {
            scope: scopeName(drill.data.scope.scope, names, t),
            value: num(drill.data.scope.value, definition.unit),
            target: num(drill.data.scope.target, definition.unit),
          })}{' '}
          <StatusBadge result={drill.data.scope} />
        </p>
      )}
      {at?.level === 'building' && (
        <p>
          <a href={`/batiments/${encodeURIComponent(at.key!)}`}>{t('drill.buildingPage', { name: scopeName(scope!, names, t) })}</a>
        </p>
      )}
      {drill.data && children.length > 0 && (
        <>
          <div class="table-wrap">
            <table class="drill-table">
              <caption>{t('drill.caption', { scope: scope ? scopeName(scope, names, t) : t('drill.top'), period: periodText(period) })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('drill.rank')}</th>
                  <th scope="col">{t(childLevelKey(children[0]!.scope))}</th>
                  <th scope="col" class="n">
                    {t('common.value')}
                  </th>
                  <th scope="col" class="n">
                    {t('common.target')}
                  </th>
                  <th scope="col" class="n">
                    {t('drill.gap')}
                  </th>
                  <th scope="col">{t('common.status')}</th>
                  <th scope="col">{t('objective.data')}</th>
                </tr>
              </thead>
              <tbody>
                {children.map((child, i) => (
                  <tr data-child={child.scope}>
                    <td>{i + 1}</td>
                    <th scope="row">
                      <a href={here({ scope: child.scope, period })}>{scopeName(child.scope, names, t)}</a>
                      {child.scope.startsWith('building:') && (
                        <>
                          <br />
                          <a class="secondary-link" href={`/batiments/${encodeURIComponent(child.scope.slice('building:'.length))}`}>
                            {t('drill.buildingPage', { name: scopeName(child.scope, names, t) })}
                          </a>
                        </>
                      )}
                    </th>
                    <td class="n">{num(child.value, definition.unit)}</td>
                    <td class="n">{num(child.target, definition.unit)}</td>
                    <td class="n">{gapText(gapToTarget(child, definition.direction), percent, t)}</td>
                    <td>
                      <StatusBadge result={child} />
                    </td>
                    <td>
                      <Completeness result={child} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Chart
            title={title}
            unit={definition.unit}
            x={{ kind: 'category', labels: children.map((c) => scopeName(c.scope, names, t)) }}
            xLabel={t(childLevelKey(children[0]!.scope))}
            series={[
              { label: t('common.value'), values: children.map((c) => c.value), style: 'bar' },
              { label: t('common.target'), values: children.map((c) => c.target), style: 'dashed' },
            ]}
            onDrawn={onDrawn}
          />
        </>
      )}
      {drill.data?.points && (
        <section aria-labelledby="formula-points">
          <h3 id="formula-points">{t('drill.points')}</h3>
          {drill.data.points.length ? (
            <ul class="point-list">
              {drill.data.points.map((p) => (
                <li data-point={`${p.gateway}/${p.point}`}>
                  <a href={withQuery(`/points/${encodeURIComponent(p.gateway)}/${encodeURIComponent(p.point)}`, { lang: query.lang })}>{p.name}</a>{' '}
                  <span class="hint">
                    {p.gateway} · {p.point}
                    {p.unit ? ` · ${p.unit}` : ''} · {p.tags.join(' ')}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p>{t('drill.noPoints')}</p>
          )}
        </section>
      )}
    </section>
  );
}

/** The levels above and at `scope`: the top, then its site when a building's, then itself. */
function breadcrumb(scope: string | undefined, level: 'city' | 'site' | 'building', names: BuildingNames | undefined): { scope?: string }[] {
  const top = { scope: level === 'city' ? 'city' : undefined };
  if (!scope || scope === 'city') return [top];
  const { level: at, key } = parseScope(scope);
  const trail: { scope?: string }[] = [top];
  if (at === 'building' && level !== 'building') {
    const site = names?.get(key!)?.site;
    if (site && level === 'city') trail.push({ scope: `site:${site}` });
  }
  trail.push({ scope });
  return trail;
}

function childLevelKey(scope: string) {
  const { level } = parseScope(scope);
  return level === 'site' ? 'common.site' : level === 'building' ? 'common.building' : 'common.city';
}

function gapText(
  gap: number | undefined,
  percent: (r: number | null | undefined, d?: number) => string,
  t: (key: 'drill.worse' | 'drill.better' | 'common.none', p?: Record<string, string>) => string,
): string {
  if (gap === undefined) return t('common.none');
  return gap > 0 ? t('drill.worse', { gap: percent(gap, 1) }) : t('drill.better', { gap: percent(-gap, 1) });
}
