/**
 * The fields of an objective's definition, grouped (identification, computation, target), each
 * with its label, hint and error (objective-edit.tsx owns the state and the saving). The formula
 * shows its check: the message with its column, and a caret under that column in a monospace copy
 * of the formula (hidden from screen readers, which hear the column in the message).
 */
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { described, Field } from '../ui/form.js';

export interface FormState {
  key: string;
  theme: string;
  labelFr: string;
  labelEn: string;
  unit: string;
  owner: string;
  formula: string;
  level: string;
  keys: string;
  usages: string;
  tags: string;
  period: string;
  targetKind: 'value' | 'change' | 'trajectory';
  targetValue: string;
  change: string;
  baseline: string;
  steps: string;
  direction: 'down' | 'up';
  tolerance: string;
  methodology: string;
  published: boolean;
}

const THEMES = ['energy', 'reception', 'public-lighting', 'parking', 'security', 'roads', 'other'];

interface Props {
  form: FormState;
  setForm: (form: FormState) => void;
  creating: boolean;
  /** Errors by definition path (`label.fr`, `target.steps` …). */
  errors: Record<string, string>;
  formula: { checking: boolean; ok: boolean; problem?: { message: string; column?: number } };
}

export function ObjectiveFormFields({ form, setForm, creating, errors, formula }: Props) {
  const { t } = useI18n();
  const text = (field: keyof FormState) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });
  /** An input's id from its definition path. */
  const id = (path: string) => `oe-${path.replace(/\./g, '-')}`;
  const input = (path: string, field: keyof FormState, label: MessageKey, hint?: MessageKey, extra: Record<string, unknown> = {}) => (
    <Field id={id(path)} label={t(label)} hint={hint && t(hint)} error={errors[path]}>
      <input {...described(id(path), errors[path], !!hint)} value={form[field] as string} onInput={text(field)} autocomplete="off" {...extra} />
    </Field>
  );
  const select = (path: string, field: keyof FormState, label: MessageKey, options: [string, string][], error = errors[path]) => (
    <Field id={id(path)} label={t(label)} error={error}>
      <select {...described(id(path), error)} value={form[field] as string} onChange={text(field)}>
        {options.map(([value, words]) => (
          <option value={value}>{words}</option>
        ))}
      </select>
    </Field>
  );
  const problem = formula.problem;
  const formulaError = problem ? (problem.column ? t('oe.formulaAt', { column: problem.column, message: problem.message }) : problem.message) : undefined;
  return (
    <>
      <fieldset>
        <legend>{t('oe.general')}</legend>
        {creating ? input('key', 'key', 'oe.key', 'oe.keyHint', { spellcheck: false, autocapitalize: 'none' }) : null}
        {select(
          'theme',
          'theme',
          'oe.theme',
          THEMES.map((th) => [th, t(`theme.${th}` as MessageKey)]),
        )}
        {input('label.fr', 'labelFr', 'oe.labelFr', undefined, { lang: 'fr' })}
        {input('label.en', 'labelEn', 'oe.labelEn', undefined, { lang: 'en' })}
        {input('owner', 'owner', 'oe.owner', 'oe.ownerHint')}
        <Field id="oe-methodology" label={t('oe.methodology')} hint={t('oe.methodologyHint')} error={errors.methodology}>
          <textarea {...described('oe-methodology', errors.methodology, true)} class="prose" rows={4} value={form.methodology} onInput={text('methodology')} />
        </Field>
      </fieldset>
      <fieldset>
        <legend>{t('oe.computation')}</legend>
        <Field id="oe-formula" label={t('oe.formula')} hint={t('oe.formulaHint')} error={formulaError}>
          <textarea
            {...described('oe-formula', formulaError, true)}
            rows={3}
            spellcheck={false}
            autocapitalize="none"
            value={form.formula}
            onInput={text('formula')}
          />
        </Field>
        {problem?.column !== undefined && (
          <pre class="formula-echo" aria-hidden="true" data-column={problem.column} title={t('oe.formulaEcho')}>
            {form.formula.replace(/\n/g, ' ')}
            {'\n'}
            <span class="caret">{`${' '.repeat(Math.max(0, problem.column - 1))}^`}</span>
          </pre>
        )}
        <p class="hint" role="status" data-formula-check={formula.checking ? 'checking' : problem ? 'error' : formula.ok ? 'ok' : 'unknown'}>
          {formula.checking ? t('oe.formulaChecking') : !problem && formula.ok ? t('oe.formulaOk') : ''}
        </p>
        {input('unit', 'unit', 'oe.unit')}
        {select(
          'scope.level',
          'level',
          'oe.level',
          ['city', 'site', 'building'].map((l) => [l, t(`oe.level.${l}` as MessageKey)]),
        )}
        {input('scope.keys', 'keys', 'oe.keys', 'oe.listHint', { spellcheck: false })}
        {input('scope.usages', 'usages', 'oe.usages', 'oe.listHint', { spellcheck: false })}
        {input('scope.tags', 'tags', 'oe.tags', 'oe.listHint', { spellcheck: false })}
        {select(
          'period',
          'period',
          'oe.period',
          ['month', 'quarter', 'year'].map((p) => [p, t(`oe.period.${p}` as MessageKey)]),
        )}
      </fieldset>
      <fieldset>
        <legend>{t('oe.targetSection')}</legend>
        {select(
          'target',
          'targetKind',
          'oe.targetKind',
          ['value', 'change', 'trajectory'].map((k) => [k, t(`oe.target.${k}` as MessageKey)]),
        )}
        {form.targetKind === 'value' && input('target.value', 'targetValue', 'oe.targetValue', undefined, { inputMode: 'decimal' })}
        {form.targetKind === 'change' && input('target.change', 'change', 'oe.change', 'oe.changeHint', { inputMode: 'decimal' })}
        {form.targetKind !== 'value' && input('target.baseline', 'baseline', 'oe.baseline', 'oe.baselineHint')}
        {form.targetKind === 'trajectory' && input('target.steps', 'steps', 'oe.steps', 'oe.stepsHint')}
        {select(
          'direction',
          'direction',
          'oe.direction',
          ['down', 'up'].map((d) => [d, t(`oe.direction.${d}` as MessageKey)]),
        )}
        {input('tolerance', 'tolerance', 'oe.tolerance', 'oe.toleranceHint', { inputMode: 'decimal' })}
        <div class={`field checkbox${errors.published ? ' field-invalid' : ''}`}>
          <input
            type="checkbox"
            {...described('oe-published', errors.published)}
            checked={form.published}
            onChange={(e) => setForm({ ...form, published: (e.target as HTMLInputElement).checked })}
          />
          <label for="oe-published">{t('oe.publishedField')}</label>
          {errors.published && (
            <p class="field-error" id="oe-published-error">
              {errors.published}
            </p>
          )}
        </div>
      </fieldset>
    </>
  );
}
