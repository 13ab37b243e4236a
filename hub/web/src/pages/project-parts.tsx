/**
 * The parts of a project's page (project.tsx): its months against the baseline (chart, table
 * and CSV), the quality of its baseline model in plain words, and its costs and return.
 *
 * The months run from the baseline's first (12 before the works' first month) to the last
 * reporting month: the baseline's months show the consumption measured then, the works' months
 * are marked and left empty (the hub leaves them out), the reporting months show the adjusted
 * baseline (what the buildings would have used without the project, in that month's weather)
 * against what they used. kWh are the sum of the project's energies.
 */
import { useMemo } from 'preact/hooks';
import type { I18n } from '../i18n.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { subsidiesTotal, type EnergySavings, type ProjectDefinition, type ProjectSavings } from '../projects.js';
import { Chart, type ChartSpan } from '../ui/chart.js';
import { StateBadge } from '../ui/status.js';
import { paybackText } from './projects.js';

export type Phase = 'baseline' | 'works' | 'reporting';

/** One month of the chart and its table. kWh; € and tCO2e avoided in the reporting months only. */
export interface MonthRow {
  period: string;
  phase: Phase;
  adjustedBaseline: number | null;
  measured: number | null;
  avoidedKWh: number | null;
  euros: number | null;
  tCO2e: number | null;
  cumulatedKWh: number | null;
}

/** `YYYY-MM` `n` months after `month`. */
export function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Sum of the known values; null when none is known. */
function sumKnown(values: readonly (number | null | undefined)[]): number | null {
  let sum: number | null = null;
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) sum = (sum ?? 0) + v;
  return sum;
}

/** The months from the baseline's first to the last reporting month (or the works' last month), at most 20 years of them. */
export function monthRows(savings: ProjectSavings, dates: ProjectDefinition['dates']): MonthRow[] {
  const from = savings.baselinePeriod.from;
  const worksFrom = dates.worksStart.slice(0, 7);
  const worksTo = dates.worksEnd.slice(0, 7);
  const to = savings.reportingPeriod?.to ?? worksTo;
  const reporting = new Map(savings.months.map((m) => [m.period, m]));
  const rows: MonthRow[] = [];
  for (let month = from, i = 0; month <= to && i < 240; month = addMonths(month, 1), i++) {
    const phase: Phase = month < worksFrom ? 'baseline' : month <= worksTo ? 'works' : 'reporting';
    const r = reporting.get(month);
    if (phase === 'baseline') {
      const measured = sumKnown(savings.energies.map((e) => e.baseline.find((b) => b.period === month)?.energy));
      rows.push({ period: month, phase, adjustedBaseline: null, measured, avoidedKWh: null, euros: null, tCO2e: null, cumulatedKWh: null });
    } else if (phase === 'works' || !r) {
      rows.push({ period: month, phase, adjustedBaseline: null, measured: null, avoidedKWh: null, euros: null, tCO2e: null, cumulatedKWh: null });
    } else {
      rows.push({
        period: month,
        phase,
        adjustedBaseline: r.adjustedBaseline,
        measured: r.measured,
        avoidedKWh: r.avoidedKWh,
        euros: r.euros,
        tCO2e: r.tCO2e,
        cumulatedKWh: r.cumulatedKWh,
      });
    }
  }
  return rows;
}

/** The phases as spans of rows: the works hatched on the chart, the baseline and the reporting months named in the table only. */
export function spansOf(rows: readonly MonthRow[], label: (phase: Phase) => string): ChartSpan[] {
  const spans: ChartSpan[] = [];
  rows.forEach((r, i) => {
    const last = spans[spans.length - 1];
    if (last && rows[last.from]!.phase === r.phase) last.to = i;
    else spans.push({ from: i, to: i, label: label(r.phase), draw: r.phase === 'works' });
  });
  return spans;
}

/** The months as CSV (comma-separated, point decimals, as open data is): one line per month. */
export function monthsCsv(rows: readonly MonthRow[]): string {
  const cell = (v: number | null) => (v === null ? '' : String(Math.round(v * 1000) / 1000));
  const lines = ['month,phase,adjusted_baseline_kwh,measured_kwh,avoided_kwh,avoided_eur,avoided_tco2e,cumulated_avoided_kwh'];
  for (const r of rows)
    lines.push(
      [r.period, r.phase, cell(r.adjustedBaseline), cell(r.measured), cell(r.avoidedKWh), cell(r.euros), cell(r.tCO2e), cell(r.cumulatedKWh)].join(','),
    );
  return `${lines.join('\n')}\n`;
}

/** The chart of the baseline against the measured consumption, its table, and its CSV. */
export function SavingsChart({
  savings,
  definition,
  title,
  onDrawn,
}: {
  savings: ProjectSavings;
  definition: ProjectDefinition;
  title: string;
  onDrawn(): void;
}) {
  const { t, period } = useI18n();
  const rows = useMemo(() => monthRows(savings, definition.dates), [savings, definition]);
  const worksRows = rows.filter((r) => r.phase === 'works');
  const csv = useMemo(() => `data:text/csv;charset=utf-8,${encodeURIComponent(monthsCsv(rows))}`, [rows]);
  return (
    <section aria-labelledby="project-months">
      <h2 id="project-months">{t('project.months')}</h2>
      <p>{t('project.monthsIntro')}</p>
      <Chart
        title={t('project.chartTitle', { title })}
        unit="kWh"
        x={{ kind: 'category', labels: rows.map((r) => period(r.period)) }}
        xLabel={t('common.period')}
        spans={{ header: t('project.phase'), marks: spansOf(rows, (phase) => t(`project.phase.${phase}` as MessageKey)) }}
        series={[
          { label: t('project.measured'), values: rows.map((r) => r.measured) },
          { label: t('project.adjustedBaseline'), values: rows.map((r) => r.adjustedBaseline), style: 'dashed' },
        ]}
        onDrawn={onDrawn}
      />
      {worksRows.length > 0 && (
        <p class="hint">
          <span class="works-swatch" aria-hidden="true" />{' '}
          {worksRows.length === 1
            ? t('project.worksMarkedOne', { month: period(worksRows[0]!.period) })
            : t('project.worksMarked', { from: period(worksRows[0]!.period), to: period(worksRows[worksRows.length - 1]!.period) })}
        </p>
      )}
      <p class="no-print">
        <a href={csv} download={`${definition.key}-months.csv`}>
          {t('common.downloadCsv')}
        </a>
      </p>
    </section>
  );
}

const ASHRAE = { maxCvRmse: 0.15, maxAbsNmbe: 0.05, minR2: 0.75 };

/** Each energy's baseline model in words: its fit, whether it meets ASHRAE Guideline 14, the method used. */
export function ModelQuality({ energies }: { energies: EnergySavings[] }) {
  const { t, num, percent, lang } = useI18n();
  if (!energies.length) return null;
  return (
    <section aria-labelledby="project-model">
      <h2 id="project-model">{t('project.model')}</h2>
      <p>{t('project.modelIntro')}</p>
      {energies.map((e) => {
        const m = e.model;
        const meets = !!m?.ashrae14.passes;
        return (
          <div class="panel" data-energy={e.energy} data-method={e.method}>
            <h3>{t(`energy.${e.energy}` as MessageKey)}</h3>
            <p>
              <strong>{t(`projects.method.${e.method}` as MessageKey)}</strong>
            </p>
            {m ? (
              <>
                <p>
                  <StateBadge
                    tone={meets ? 'green' : 'red'}
                    icon={meets ? '✓' : '✕'}
                    text={meets ? t('project.ashrae.meets') : t('project.ashrae.fails')}
                    state={meets ? 'meets' : 'fails'}
                  />
                </p>
                <dl class="facts">
                  <dt>{t('project.r2')}</dt>
                  <dd>{t('project.r2Words', { r2: num(m.r2, undefined, 2), min: num(ASHRAE.minR2, undefined, 2) })}</dd>
                  <dt>{t('project.cvRmse')}</dt>
                  <dd>{t('project.cvRmseWords', { cv: percent(m.cvRmse, 1), max: percent(ASHRAE.maxCvRmse) })}</dd>
                  <dt>{t('project.nmbe')}</dt>
                  <dd>{t('project.nmbeWords', { nmbe: percent(m.nmbe, 1), max: percent(ASHRAE.maxAbsNmbe) })}</dd>
                  <dt>{t('project.monthsFitted')}</dt>
                  <dd>{num(m.n, undefined, 0)}</dd>
                  <dt>{t('project.regressors')}</dt>
                  <dd>{(m.regressors ?? []).map((r) => t(`project.regressor.${r}` as MessageKey)).join(', ')}</dd>
                  <dt>{t('project.uncertainty')}</dt>
                  <dd>
                    {e.uncertainty
                      ? t('project.uncertaintyWords', { kwh: num(e.uncertainty.absolute, 'kWh'), confidence: percent(e.uncertainty.confidence) })
                      : t('common.none')}
                  </dd>
                </dl>
              </>
            ) : (
              <p>{t('project.noModel')}</p>
            )}
            {!meets && <p>{t('project.fallbackWords')}</p>}
            <p class="hint" lang={lang === 'en' ? undefined : 'en'}>
              {e.note}
            </p>
          </div>
        );
      })}
    </section>
  );
}

/** The project's costs and return: investment, subsidies by name, running cost, net; payback, ROI, NPV. */
export function Costs({ definition, savings }: { definition: ProjectDefinition; savings: ProjectSavings | undefined }) {
  const i18n = useI18n();
  const { t, num, percent, lang } = i18n;
  const c = definition.costs;
  const f = savings?.finance;
  return (
    <section aria-labelledby="project-costs">
      <h2 id="project-costs">{t('project.costs')}</h2>
      <dl class="facts">
        <dt>{t('project.investment')}</dt>
        <dd>{num(c.investment, '€')}</dd>
        <dt>{t('project.subsidies')}</dt>
        <dd>
          {c.subsidies.length ? (
            <ul class="plain-list">
              {c.subsidies.map((s) => (
                <li>{t('project.subsidyLine', { name: s.name, amount: num(s.amount, '€') })}</li>
              ))}
            </ul>
          ) : (
            t('project.noSubsidy')
          )}
        </dd>
        <dt>{t('project.netInvestment')}</dt>
        <dd data-net-investment={f?.netInvestment ?? c.investment - subsidiesTotal(c)}>{num(f?.netInvestment ?? c.investment - subsidiesTotal(c), '€')}</dd>
        <dt>{t('project.runningCost')}</dt>
        <dd>{num(c.yearlyRunningCost, t('projects.eurosPerYear'))}</dd>
        {f && (
          <>
            <dt>{t('project.yearlyNetSavings')}</dt>
            <dd>
              {num(f.yearlyNetSavings, t('projects.eurosPerYear'))}{' '}
              <span class="hint" lang={lang === 'en' ? undefined : 'en'}>
                ({f.basis})
              </span>
            </dd>
            <dt>{t('project.simplePayback')}</dt>
            <dd data-payback>{paybackText(savings!, i18n)}</dd>
            <dt>{t('project.roi')}</dt>
            <dd>
              {f.returnOnInvestment === null ? t('common.none') : t('project.overYears', { value: percent(f.returnOnInvestment), years: f.lifetimeYears })}
            </dd>
            <dt>{t('project.npv')}</dt>
            <dd>
              {f.netPresentValue === null
                ? t('common.none')
                : t('project.npvWords', { value: num(f.netPresentValue, '€'), rate: percent(f.discountRate, 1), years: f.lifetimeYears })}
            </dd>
          </>
        )}
        {(definition.expectedSavings.kWhPerYear !== undefined || definition.expectedSavings.eurosPerYear !== undefined) && (
          <>
            <dt>{t('project.expected')}</dt>
            <dd>
              {[
                definition.expectedSavings.kWhPerYear !== undefined && num(definition.expectedSavings.kWhPerYear, t('projects.kWhPerYear')),
                definition.expectedSavings.eurosPerYear !== undefined && num(definition.expectedSavings.eurosPerYear, t('projects.eurosPerYear')),
              ]
                .filter(Boolean)
                .join(' · ')}
              {definition.expectedSavings.note && ` (${definition.expectedSavings.note})`}
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

/** A metric project's indicator before and after the works. */
export function MetricComparison({ savings, i18n }: { savings: ProjectSavings; i18n: I18n }) {
  const { t, num, change } = i18n;
  const m = savings.metric;
  if (!m) return null;
  const c = m.comparison;
  const fraction = c.changeFraction ?? c.relativeChange ?? null;
  return (
    <section aria-labelledby="project-metric">
      <h2 id="project-metric">{t('project.metric', { metric: m.key })}</h2>
      <dl class="facts">
        <dt>{t('project.before')}</dt>
        <dd>{num(c.before)}</dd>
        <dt>{t('project.after')}</dt>
        <dd>{num(c.after)}</dd>
        <dt>{t('project.change')}</dt>
        <dd>
          {change(fraction)}{' '}
          {c.improved !== null && (
            <StateBadge
              tone={c.improved ? 'green' : 'red'}
              icon={c.improved ? '✓' : '✕'}
              text={c.improved ? t('project.improved') : t('project.notImproved')}
              state={c.improved ? 'improved' : 'not-improved'}
            />
          )}
        </dd>
        <dt>{t('project.better')}</dt>
        <dd>{t(m.better === 'lower' ? 'project.better.lower' : 'project.better.higher')}</dd>
      </dl>
    </section>
  );
}
