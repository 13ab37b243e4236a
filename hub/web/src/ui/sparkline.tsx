/**
 * A small trend for a card: an inline SVG line, no library (the public home must stay light).
 * Decorative for assistive technologies: the card says the values in words.
 */
export function Sparkline({
  values,
  target,
  width = 120,
  height = 32,
}: {
  values: (number | null)[];
  target?: number | null;
  width?: number;
  height?: number;
}) {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (known.length < 2) return null;
  const all = target !== null && target !== undefined ? [...known, target] : known;
  const min = Math.min(...all);
  const max = Math.max(...all);
  const span = max - min || 1;
  const x = (i: number) => (i / (values.length - 1)) * (width - 4) + 2;
  const y = (v: number) => height - 2 - ((v - min) / span) * (height - 4);
  let path = '';
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    path += `${path && values[i - 1] !== null ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
  });
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true" focusable="false">
      {target !== null && target !== undefined && <line x1="2" x2={width - 2} y1={y(target)} y2={y(target)} class="sparkline-target" />}
      <path d={path} class="sparkline-line" />
    </svg>
  );
}
