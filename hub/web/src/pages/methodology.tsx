/**
 * An objective's methodology in plain words, written from its definition: what the formula reads,
 * how often and where it is computed, how its target is set, whether it is normalised by area or
 * climate, which way is better and how far from the target is still "near". The owner's own
 * methodology text follows, as written.
 *
 * The formula is read here with patterns of the formula language (hub/src/objectives/formula.ts),
 * enough to name what it reads; the hub is the one that parses and checks it.
 */
import { useI18n, type I18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import type { Definition } from '../objectives.js';

/** One thing the formula reads, as a sentence (without the final full stop). */
export function formulaReads(formula: string, i18n: Pick<I18n, 't' | 'num'>): string[] {
  const { t, num } = i18n;
  const reads: string[] = [];
  const seen = new Set<string>();
  const add = (text: string) => {
    if (seen.has(text)) return;
    seen.add(text);
    reads.push(text);
  };
  for (const m of formula.matchAll(/normalised\(\s*"([^"]*)"\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*\)/g)) {
    add(t('method.read.normalised', { tags: m[1]!, base: num(Number(m[2])), reference: num(Number(m[3])) }));
  }
  for (const m of formula.matchAll(/\b(sum|avg|min|max|integral|delta|count)\(\s*"([^"]*)"\s*\)/g)) {
    add(t(`method.read.${m[1]}` as MessageKey, { tags: m[2]! }));
  }
  for (const m of formula.matchAll(/\bservice_(sum|avg|min|max|count)\(\s*"([^"]*)"\s*\)/g)) {
    add(t(`method.read.service.${m[1]}` as MessageKey, { metric: m[2]! }));
  }
  for (const m of formula.matchAll(/\bhdd\(\s*([\d.]+)\s*\)/g)) add(t('method.read.hdd', { base: num(Number(m[1])) }));
  // Names of the scope and of the period, outside quoted tags.
  const bare = formula.replace(/"[^"]*"/g, '""');
  for (const name of ['area', 'light_points', 'buildings', 'opening_hours', 'days', 'hours'] as const) {
    if (new RegExp(`(^|[^a-z_])${name}($|[^a-z_(])`).test(bare)) add(t(`method.read.${name}` as MessageKey));
  }
  return reads;
}

/** The target rule as a sentence. */
export function targetSentence(definition: Definition, i18n: Pick<I18n, 't' | 'num' | 'change'>): string {
  const { t, num, change } = i18n;
  const target = definition.target;
  const baseline = (b: number | 'reference-year') => (b === 'reference-year' ? t('method.baseline.reference') : t('method.baseline.year', { year: b }));
  switch (target.kind) {
    case 'value':
      return t('method.target.value', { value: num(target.value, definition.unit) });
    case 'change':
      return t('method.target.change', { change: change(target.change), baseline: baseline(target.baseline) });
    case 'trajectory':
      return t('method.target.trajectory', {
        baseline: baseline(target.baseline),
        steps: target.steps.map((s) => t('method.target.step', { change: change(s.change), year: s.year })).join(', '),
      });
  }
}

export function Methodology({ definition }: { definition: Definition }) {
  const i18n = useI18n();
  const { t, percent } = i18n;
  const reads = formulaReads(definition.formula, i18n);
  const bare = definition.formula.replace(/"[^"]*"/g, '""');
  const perArea = /\/\s*area\b/.test(bare);
  const climate = /normalised\(|hdd\(/.test(definition.formula);
  const { scope } = definition;
  return (
    <section aria-labelledby="methodology" class="methodology">
      <h2 id="methodology">{t('method.title')}</h2>
      <p>
        {t('method.formula')} <code>{definition.formula}</code>
      </p>
      {reads.length > 0 && (
        <>
          <p>{t('method.reads')}</p>
          <ul>
            {reads.map((r) => (
              <li>{r}</li>
            ))}
          </ul>
        </>
      )}
      <p>
        {t(`method.period.${definition.period}` as MessageKey)} {t(`method.level.${scope.level}` as MessageKey)}
        {scope.keys && ` ${t('method.scope.keys', { keys: scope.keys.join(', ') })}`}
        {scope.usages && ` ${t('method.scope.usages', { usages: scope.usages.join(', ') })}`}
        {scope.tags && ` ${t('method.scope.tags', { tags: scope.tags.join(' ') })}`}
      </p>
      {perArea && <p>{t('method.perArea')}</p>}
      {climate && <p>{t('method.climate')}</p>}
      <p>{targetSentence(definition, i18n)}</p>
      <p>
        {t(`method.direction.${definition.direction}` as MessageKey)} {t('method.tolerance', { tolerance: percent(definition.tolerance, 1) })}
      </p>
      <p>{t('method.owner', { owner: definition.owner })}</p>
      <h3>{t('method.notes')}</h3>
      <p class="methodology-notes">{definition.methodology}</p>
    </section>
  );
}
