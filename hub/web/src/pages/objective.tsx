/**
 * One objective's page (`/objectifs/:key`): its latest result with its status, the forecast of
 * the period in progress, the same period last year and how complete the data is; its history
 * against the target (chart and table) with a CSV download of what is shown; for staff, the
 * drill-down city → site → building → the points its formula reads; its methodology in words.
 *
 * The state is in the URL: `?from=YYYY-MM&to=YYYY-MM` (the history's months), and for staff
 * `?scope=site:north&period=2026-11` (the drill-down; the history follows the scope). Citizens see
 * published objectives only (the hub answers 404 for the others, shown as the not-found page) and
 * the objective's own level.
 */
import { useRoute, useLocation } from 'preact-iso';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, withQuery } from '../api.js';
import { CITY_TIMEZONE, useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { latestOf, relativeChange, type ObjectiveDetail, type ResultsAnswer } from '../objectives.js';
import { STAFF, useSession } from '../session.js';
import { Chart } from '../ui/chart.js';
import { NotFound } from '../ui/not-found.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { Drilldown } from './drilldown.js';
import { Completeness, scopeName, useBuildingNames } from './scopes.js';
import { Methodology } from './methodology.js';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const SCOPE = /^(city|site:[a-z0-9_-]+|building:[a-z0-9_-]+)$/;
const PERIOD = /^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$/;

/** The city's current month, `YYYY-MM`, `back` months earlier. */
export function cityMonth(back = 0, now = new Date()): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: CITY_TIMEZONE, year: 'numeric', month: '2-digit' }).formatToParts(now);
  const year = Number(parts.find((p) => p.type === 'year')!.value);
  const month = Number(parts.find((p) => p.type === 'month')!.value) - 1 - back;
  const d = new Date(Date.UTC(year, month, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The history shown by default: about 13 periods of the objective's period. */
function defaultFrom(period: ObjectiveDetail['definition']['period']): string {
  if (period === 'month') return cityMonth(12);
  if (period === 'quarter') return cityMonth(36);
  return `${Number(cityMonth().slice(0, 4)) - 7}-01`;
}

export function ObjectivePage() {
  const { params } = useRoute();
  const key = params.key ?? '';
  const { t, lang, num, change, period: periodText } = useI18n();
  const session = useSession();
  const { query, route, path } = useLocation();
  const staff = session.can(...STAFF);
  const detail = useLoad(() => api.get<ObjectiveDetail>(`/api/objectives/${encodeURIComponent(key)}`), [key, session.user?.username], session.known);
  const definition = detail.data?.definition;

  const from = query.from && MONTH.test(query.from) ? query.from : definition ? defaultFrom(definition.period) : undefined;
  const to = query.to && MONTH.test(query.to) ? query.to : undefined;
  // The drill-down's scope and period are for staff; the history follows the scope.
  const scope = staff && query.scope && SCOPE.test(query.scope) ? query.scope : undefined;
  const chosenScope = query.scope && SCOPE.test(query.scope) ? query.scope : undefined;
  const drillPeriod = staff && query.period && PERIOD.test(query.period) ? query.period : undefined;

  const results = useLoad(
    () => api.get<ResultsAnswer>(withQuery(`/api/objectives/${encodeURIComponent(key)}/results`, { scope, from, to })),
    [key, scope, from, to, session.user?.username],
    !!definition,
  );
  const names = useBuildingNames(staff || definition?.scope.level !== 'city');

  // An objective judged below the city has one history per scope of its level: one is shown.
  const scopes = useMemo(() => [...new Set((results.data?.results ?? []).map((r) => r.scope))], [results.data]);
  const shownScope = scope ?? (chosenScope && scopes.includes(chosenScope) ? chosenScope : scopes[0]);
  const history = useMemo(() => (results.data?.results ?? []).filter((r) => r.scope === shownScope), [results.data, shownScope]);
  const latest = latestOf(history);
  const inProgress = history.length && history[history.length - 1]!.complete === false ? history[history.length - 1] : undefined;

  const [chartDrawn, setChartDrawn] = useState(false);
  const [drillDrawn, setDrillDrawn] = useState(!staff);
  useEffect(() => setChartDrawn(false), [key, shownScope, from, to, lang]);
  useEffect(() => setDrillDrawn(!staff), [staff, key, scope, drillPeriod, lang]);

  if (detail.error?.status === 404) return <NotFound />;
  const label = definition ? definition.label[lang] : t('objective.title');
  const busy =
    !session.known ||
    detail.loading ||
    results.loading ||
    (history.length > 0 && !chartDrawn) ||
    (staff && !!(drillPeriod ?? latest?.period) && !drillDrawn) ||
    names.loading;
  const setQuery = (changes: Record<string, string | undefined>) => route(withQuery(path, { ...query, ...changes }));

  return (
    <View name="objective" busy={busy} title={label}>
      {detail.error && <LoadError error={detail.error} retry={detail.reload} />}
      {!definition && !detail.error && <Loading />}
      {definition && (
        <>
          <h1>{label}</h1>
          <p class="objective-meta">
            <span>{t(`theme.${definition.theme}` as MessageKey)}</span>
            {' · '}
            <span class={definition.published ? '' : 'tag-unpublished'}>{definition.published ? t('common.published') : t('common.unpublished')}</span>
            {' · '}
            <span>{t('objective.unit', { unit: definition.unit })}</span>
            {shownScope && (
              <>
                {' · '}
                <span data-scope={shownScope}>{scopeName(shownScope, names.data, t)}</span>
              </>
            )}
          </p>
          <div class="no-print page-tools">
            <button type="button" class="secondary" onClick={() => window.print()}>
              {t('app.print')}
            </button>
          </div>

          <form
            class="filters no-print"
            onSubmit={(e) => {
              e.preventDefault();
              const data = new FormData(e.currentTarget);
              setQuery({
                from: String(data.get('from') || '') || undefined,
                to: String(data.get('to') || '') || undefined,
                scope: (data.get('scope') as string | null) ?? query.scope,
              });
            }}
          >
            <div>
              <label for="history-from">{t('objective.from')}</label>
              <input id="history-from" name="from" type="month" value={from} pattern="\d{4}-\d{2}" aria-describedby="history-range-hint" />
            </div>
            <div>
              <label for="history-to">{t('objective.to')}</label>
              <input id="history-to" name="to" type="month" value={to ?? ''} pattern="\d{4}-\d{2}" aria-describedby="history-range-hint" />
            </div>
            {scopes.length > 1 && (
              <div>
                <label for="history-scope">{t('objective.scope')}</label>
                <select id="history-scope" name="scope" value={shownScope}>
                  {scopes.map((s) => (
                    <option value={s}>{scopeName(s, names.data, t)}</option>
                  ))}
                </select>
              </div>
            )}
            <button type="submit">{t('objective.apply')}</button>
            <p id="history-range-hint" class="hint">
              {t('objective.rangeHint')}
            </p>
          </form>

          {results.error && <LoadError error={results.error} retry={results.reload} />}
          {results.loading && !results.data && <Loading />}
          {results.data && !history.length && <p>{t('objective.noResults')}</p>}

          {latest && (
            <section aria-labelledby="latest" class="latest">
              <h2 id="latest">{t('objective.latest', { period: periodText(latest.period) })}</h2>
              <p class="card-value" data-value={latest.value ?? ''}>
                {num(latest.value, definition.unit)}
              </p>
              <StatusBadge result={latest} />
              <dl class="facts">
                <dt>{t('common.target')}</dt>
                <dd>{num(latest.target, definition.unit)}</dd>
                <dt>{t('common.lastYear')}</dt>
                <dd>
                  {num(latest.lastYear, definition.unit)}
                  {relativeChange(latest.value, latest.lastYear) !== undefined &&
                    ` (${t('objective.changeWord', { change: change(relativeChange(latest.value, latest.lastYear)) })})`}
                </dd>
                {inProgress && (
                  <>
                    <dt>{t('objective.forecast', { period: periodText(inProgress.period) })}</dt>
                    <dd data-forecast>
                      {num(inProgress.forecast, definition.unit)}
                      {inProgress.value !== null && ` (${t('objective.soFar', { value: num(inProgress.value, definition.unit) })})`}
                    </dd>
                  </>
                )}
                <dt>{t('objective.data')}</dt>
                <dd>
                  <Completeness result={latest} />
                </dd>
              </dl>
            </section>
          )}

          {history.length > 0 && (
            <section aria-labelledby="history">
              <h2 id="history">{t('objective.history')}</h2>
              <Chart
                title={t('objective.historyChart', { label, scope: scopeName(shownScope!, names.data, t) })}
                unit={definition.unit}
                x={{ kind: 'category', labels: history.map((r) => periodText(r.period)) }}
                series={[
                  { label: t('common.value'), values: history.map((r) => r.value), style: definition.period === 'month' ? 'line' : 'bar' },
                  {
                    label: definition.target.kind === 'trajectory' ? t('objective.trajectory') : t('common.target'),
                    values: history.map((r) => r.target),
                    style: 'dashed',
                  },
                  { label: t('common.lastYear'), values: history.map((r) => r.lastYear ?? null), style: 'dashed' },
                ]}
                onDrawn={() => setChartDrawn(true)}
              />
              <CsvLink objectiveKey={key} query={{ scope: shownScope, from, to }} />
            </section>
          )}

          {staff && (drillPeriod ?? latest?.period) ? (
            <Drilldown
              objective={detail.data!}
              period={(drillPeriod ?? latest?.period)!}
              scope={scope}
              periods={history.map((r) => r.period)}
              names={names.data}
              onDrawn={() => setDrillDrawn(true)}
            />
          ) : null}

          <Methodology definition={definition} />
        </>
      )}
    </View>
  );
}

/** The download of what the history shows: the hub's CSV of the same scope and months. */
function CsvLink({ objectiveKey, query }: { objectiveKey: string; query: Record<string, string | undefined> }) {
  const { t } = useI18n();
  return (
    <p class="no-print">
      <a href={withQuery(`/api/objectives/${encodeURIComponent(objectiveKey)}/results.csv`, query)} download={`${objectiveKey}.csv`}>
        {t('common.downloadCsv')}
      </a>
    </p>
  );
}
