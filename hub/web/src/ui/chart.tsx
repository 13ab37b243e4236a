/**
 * A chart with its table: uPlot (loaded on first use, so that pages without a chart do not
 * carry it) draws lines or bars over periods (categories) or instants; the same numbers are one
 * click away as a table (RGAA 4.1: a text alternative for every chart), and both are printed.
 * Series are told apart by colour and by dash or shape, never by colour alone. Spans of
 * categories can be marked (a project's works): hatched on the chart with their name written in
 * them, and named in a column of the table.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlotType from 'uplot';
import { CITY_TIMEZONE, useI18n } from '../i18n.js';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** line (default), bars, or a dashed line (targets, last year). */
  style?: 'line' | 'bar' | 'dashed';
  color?: string;
}

/** Categories `from` to `to` (indexes, both included) marked on the chart and named in the table. */
export interface ChartSpan {
  from: number;
  to: number;
  label: string;
  /** Whether the span is hatched on the chart (default true); named in the table either way. */
  draw?: boolean;
}

export type ChartX = { kind: 'category'; labels: string[] } | { kind: 'time'; times: number[] };

export interface ChartProps {
  title: string;
  unit?: string;
  x: ChartX;
  /** The table's header of the x column (default: period). */
  xLabel?: string;
  series: ChartSeries[];
  height?: number;
  /** Spans of categories to mark (category x only), and the header of their column in the table. */
  spans?: { header: string; marks: ChartSpan[] };
  /** Called once the chart is drawn (pages set aria-busy from it). */
  onDrawn?: () => void;
}

/** Colours with at least 3:1 contrast on white (WCAG 1.4.11). */
export const PALETTE = ['#1f5fa8', '#b34700', '#3d3d3d', '#6a3d9a', '#00695c'];

let uplotModule: Promise<typeof uPlotType> | undefined;
function loadUplot(): Promise<typeof uPlotType> {
  uplotModule ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default);
  return uplotModule;
}

export function Chart({ title, unit, x, xLabel, series, height = 260, spans, onDrawn }: ChartProps) {
  const { t, num, lang } = useI18n();
  const [table, setTable] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const labels =
    x.kind === 'category' ? x.labels : x.times.map((ms) => new Date(ms).toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { timeZone: CITY_TIMEZONE }));

  useEffect(() => {
    let plot: uPlotType | undefined;
    let cancelled = false;
    const element = box.current;
    if (!element) return;
    loadUplot().then((uPlot) => {
      if (cancelled) return;
      const xs = x.kind === 'category' ? x.labels.map((_, i) => i) : x.times.map((ms) => ms / 1000);
      const bars = uPlot.paths.bars!({ size: [0.6, 60] });
      const width = Math.max(280, element.clientWidth || 600);
      const every = x.kind === 'category' ? Math.max(1, Math.ceil((x.labels.length * 90) / width)) : 1;
      plot = new uPlot(
        {
          width,
          height,
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), CITY_TIMEZONE),
          // Categories sit on whole numbers, half a slot from each edge; bars start from zero.
          scales: {
            x: x.kind === 'category' ? { time: false, range: () => [-0.5, Math.max(0.5, x.labels.length - 0.5)] } : { time: true },
            ...(series.some((s) => s.style === 'bar') && { y: { range: (_u, min, max) => [Math.min(0, min), Math.max(0, max) * 1.05 || 1] } }),
          },
          legend: { show: true },
          axes: [
            x.kind === 'category'
              ? // Every label when they fit (about 90 px each), else one in `every`.
                {
                  splits: () => x.labels.map((_, i) => i),
                  values: (_u, splits) => splits.map((i) => (Math.round(i) % every === 0 ? (x.labels[Math.round(i)] ?? '') : '')),
                }
              : {},
            { values: (_u, splits) => splits.map((v) => num(v)), size: 70, label: unit },
          ],
          series: [
            { label: xLabel ?? t('common.period') },
            ...series.map((s, i) => ({
              label: s.label,
              stroke: s.color ?? PALETTE[i % PALETTE.length],
              fill: s.style === 'bar' ? `${s.color ?? PALETTE[i % PALETTE.length]}cc` : undefined,
              width: 2,
              dash: s.style === 'dashed' ? [8, 5] : undefined,
              paths: s.style === 'bar' ? bars : undefined,
              points: { show: s.style !== 'bar' && xs.length < 40 },
              value: (_u: uPlotType, v: number | null) => num(v, unit),
            })),
          ],
          hooks: { drawClear: [(u) => markSpans(u, spans?.marks ?? [])], draw: [() => onDrawn?.()] },
        },
        [xs, ...series.map((s) => s.values)] as uPlotType.AlignedData,
        element,
      );
    });
    const resize = () => plot?.setSize({ width: Math.max(280, element.clientWidth), height });
    window.addEventListener('resize', resize);
    return () => {
      cancelled = true;
      window.removeEventListener('resize', resize);
      plot?.destroy();
    };
    // Redrawn when the data or the language changes.
  }, [JSON.stringify(x), JSON.stringify(series), JSON.stringify(spans), lang, unit, height]);
  const spanOf = (i: number) => spans?.marks.find((m) => i >= m.from && i <= m.to)?.label ?? '';

  return (
    <figure class="chart">
      <figcaption>
        <span class="chart-title">{title}</span>
        <button type="button" class="link-button no-print" aria-pressed={table} onClick={() => setTable(!table)}>
          {table ? t('common.showChart') : t('common.showTable')}
        </button>
      </figcaption>
      <div ref={box} class={`chart-canvas${table ? ' screen-hidden' : ''}`} role="img" aria-label={t('common.chartOf', { title })} />
      <div class={`table-wrap${table ? '' : ' screen-hidden'}`}>
        <table>
          <caption class="visually-hidden">{title}</caption>
          <thead>
            <tr>
              <th scope="col">{xLabel ?? t('common.period')}</th>
              {spans && <th scope="col">{spans.header}</th>}
              {series.map((s) => (
                <th scope="col">{s.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((label, i) => (
              <tr>
                <th scope="row">{label}</th>
                {spans && <td>{spanOf(i)}</td>}
                {series.map((s) => (
                  <td class="n">{num(s.values[i], unit)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

/** Hatches each span of categories behind the series, its label written at its top. */
function markSpans(u: uPlotType, marks: readonly ChartSpan[]): void {
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  for (const m of marks) {
    if (m.draw === false) continue;
    const left = u.valToPos(m.from - 0.5, 'x', true);
    const right = u.valToPos(m.to + 0.5, 'x', true);
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, right - left, height);
    ctx.clip();
    ctx.fillStyle = '#f0f0f0';
    ctx.fillRect(left, top, right - left, height);
    ctx.strokeStyle = '#8a8a8a';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let d = -height; d < right - left; d += 10) {
      ctx.moveTo(left + d, top + height);
      ctx.lineTo(left + d + height, top);
    }
    ctx.stroke();
    // The label on white, readable over the hatching.
    const size = Math.round(12 * devicePixelRatio);
    ctx.font = `${size}px sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(left + 2, top + 2, ctx.measureText(m.label).width + 4, size + 4);
    ctx.fillStyle = '#1a1a1a';
    ctx.fillText(m.label, left + 4, top + 4);
    ctx.restore();
  }
}
