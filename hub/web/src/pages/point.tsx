/**
 * One point's chart (`/points/:gateway/:point?step=day&from=…&to=…`), for staff: the hub's
 * hourly, daily or monthly rollups of the point (GET /api/series). A meter is drawn as its
 * consumption per bucket (the advance of its index from the previous bucket's last reading, or
 * within the bucket for the first one), a sensor as its mean per bucket with its minimum and
 * maximum. Zoom in and out (month, day, hour buckets), the previous and next ranges: links, so
 * that the state stays in the URL and the back button works.
 */
import { useRoute, useLocation } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { api, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { Chart, type ChartSeries } from '../ui/chart.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';

export type Step = 'hour' | 'day' | 'month';
const STEPS: Step[] = ['month', 'day', 'hour'];
const DAY_MS = 86_400_000;
/** What a step shows by default, and at most (the hub's limits per request). */
const SPAN_MS: Record<Step, { default: number; max: number }> = {
  hour: { default: 2 * DAY_MS, max: 31 * DAY_MS },
  day: { default: 31 * DAY_MS, max: 3 * 366 * DAY_MS },
  month: { default: 2 * 366 * DAY_MS, max: 50 * 366 * DAY_MS },
};

/** A rollup bucket as GET /api/series gives it. */
export interface SeriesBucket {
  bucket: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  first: { time: string; value: number };
  last: { time: string; value: number };
}

/** A point as GET /api/status gives it. */
export interface StatusPoint {
  gateway: string;
  id: string;
  name: string;
  unit: string | null;
  kind: string;
  tags: string[];
  lastTime: string | null;
  lastValue: number | string | boolean | null;
  lastQuality: 'good' | 'uncertain' | 'bad' | 'stale' | null;
}

export interface StatusAnswer {
  gateways: { id: string; lastSeen: string | null; points: number }[];
  points: StatusPoint[];
}

/** The range a URL asks for, made valid: whole hours, within the step's limit, defaults where missing or wrong. */
export function rangeOf(step: Step, fromText: string | undefined, toText: string | undefined, now = Date.now()): { from: number; to: number } {
  const parse = (text: string | undefined) => (text && /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN);
  const hour = 3_600_000;
  let to = parse(toText);
  if (!Number.isFinite(to)) to = Math.ceil(now / hour) * hour;
  let from = parse(fromText);
  if (!Number.isFinite(from) || from >= to) from = to - SPAN_MS[step].default;
  if (to - from > SPAN_MS[step].max) from = to - SPAN_MS[step].max;
  return { from, to };
}

/** Consumption of a meter per bucket: the advance since the previous bucket's last reading (within the bucket for the first). */
export function meterAdvances(buckets: readonly SeriesBucket[]): (number | null)[] {
  return buckets.map((b, i) => {
    const before = i > 0 ? buckets[i - 1]!.last.value : b.first.value;
    const advance = b.last.value - before;
    return Number.isFinite(advance) ? advance : null;
  });
}

export function isMeter(tags: readonly string[]): boolean {
  return tags.includes('meter') || tags.includes('submeter');
}

export function PointPage() {
  const { params } = useRoute();
  const gateway = params.gateway ?? '';
  const point = params.point ?? '';
  const { t, num, dateTime, age } = useI18n();
  const { query, path } = useLocation();
  const step: Step = STEPS.includes(query.step as Step) ? (query.step as Step) : 'day';
  const { from, to } = rangeOf(step, query.from, query.to);

  const status = useLoad(() => api.get<StatusAnswer>('/api/status'), []);
  const info = status.data?.points.find((p) => p.gateway === gateway && p.id === point);
  const series = useLoad(
    () => api.get<SeriesBucket[]>(withQuery('/api/series', { gateway, point, step, from: new Date(from).toISOString(), to: new Date(to).toISOString() })),
    [gateway, point, step, from, to],
  );
  const [drawn, setDrawn] = useState(false);
  useEffect(() => setDrawn(false), [gateway, point, step, from, to]);

  const meter = info ? isMeter(info.tags) : false;
  const unit = info?.unit ?? undefined;
  const buckets = series.data ?? [];
  const lines: ChartSeries[] = meter
    ? [{ label: t('point.consumption'), values: meterAdvances(buckets), style: 'bar' }]
    : [
        { label: t('point.mean'), values: buckets.map((b) => (b.count ? b.sum / b.count : null)) },
        { label: t('point.min'), values: buckets.map((b) => b.min), style: 'dashed' },
        { label: t('point.max'), values: buckets.map((b) => b.max), style: 'dashed' },
      ];
  const name = info?.name ?? point;
  const title = t(meter ? (`point.chart.meter.${step}` as MessageKey) : (`point.chart.sensor.${step}` as MessageKey), { name });
  const busy = status.loading || series.loading || (buckets.length > 0 && !drawn);

  const link = (s: Step, f: number, tt: number) => withQuery(path, { ...query, step: s, from: new Date(f).toISOString(), to: new Date(tt).toISOString() });
  const span = to - from;
  const finer = STEPS[STEPS.indexOf(step) + 1];
  const coarser = STEPS[STEPS.indexOf(step) - 1];
  // Zooming keeps the range's end and shows the new step's default span.
  const zoom = (s: Step) => link(s, to - SPAN_MS[s].default, to);

  return (
    <View name="point" busy={busy} title={name}>
      <h1>{name}</h1>
      {status.error && <LoadError error={status.error} retry={status.reload} />}
      <dl class="facts">
        <dt>{t('point.address')}</dt>
        <dd>
          {gateway} · {point}
        </dd>
        <dt>{t('common.unit')}</dt>
        <dd>{unit ?? t('common.none')}</dd>
        {info && (
          <>
            <dt>{t('point.tags')}</dt>
            <dd>{info.tags.join(' ') || t('common.none')}</dd>
            <dt>{t('point.last')}</dt>
            <dd>
              {typeof info.lastValue === 'number' ? num(info.lastValue, unit) : String(info.lastValue ?? t('common.none'))}
              {info.lastTime && ` · ${dateTime(info.lastTime)} (${age((Date.now() - Date.parse(info.lastTime)) / 1000)})`}
              {info.lastQuality && ` · ${t(`quality.${info.lastQuality}` as MessageKey)}`}
            </dd>
          </>
        )}
        <dt>{t('point.drawn')}</dt>
        <dd>{meter ? t('point.drawnMeter') : t('point.drawnSensor')}</dd>
        <dt>{t('point.range')}</dt>
        <dd data-range>{t('point.rangeText', { from: dateTime(from), to: dateTime(to), step: t(`point.step.${step}` as MessageKey) })}</dd>
      </dl>
      <nav class="zoom no-print" aria-label={t('point.zoomNav')}>
        <ul>
          <li>
            <a class="button secondary" href={link(step, from - span, from)} rel="prev">
              {t('point.previous')}
            </a>
          </li>
          <li>
            <a class="button secondary" href={link(step, to, to + span)} rel="next">
              {t('point.next')}
            </a>
          </li>
          {coarser && (
            <li>
              <a class="button secondary" href={zoom(coarser)} data-zoom="out">
                {t('point.zoomOut', { step: t(`point.step.${coarser}` as MessageKey) })}
              </a>
            </li>
          )}
          {finer && (
            <li>
              <a class="button secondary" href={zoom(finer)} data-zoom="in">
                {t('point.zoomIn', { step: t(`point.step.${finer}` as MessageKey) })}
              </a>
            </li>
          )}
        </ul>
      </nav>
      {series.error && <LoadError error={series.error} retry={series.reload} />}
      {series.loading && !series.data && <Loading />}
      {series.data && !buckets.length && <p>{t('point.noData')}</p>}
      {buckets.length > 0 && (
        <Chart title={title} unit={unit} x={{ kind: 'time', times: buckets.map((b) => Date.parse(b.bucket)) }} series={lines} onDrawn={() => setDrawn(true)} />
      )}
    </View>
  );
}
