/**
 * An objective's definition in a form (`/gestion/objectifs/:key`, `/gestion/objectifs/nouveau`),
 * for operators. The formula is checked as it is typed (POST /api/objectives/check, 400 ms after
 * the last key): its error is shown under it with its column, and a caret under that column in a
 * copy of the formula. Saving (PUT /api/objectives/:key) shows each refusal next to its field,
 * then computes the objectives again and shows this one's latest results.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { api, ApiError, type ApiIssue } from '../api.js';
import { useI18n } from '../i18n.js';
import { headline, type ObjectiveSummary } from '../objectives.js';
import { useSession } from '../session.js';
import { fieldErrors, GeneralErrors, issuePath, NO_ERRORS, type FieldErrors } from '../ui/form.js';
import { StatusBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { loadDefinition } from './objectives-admin.js';
import { ObjectiveFormFields, type FormState } from './objective-fields.js';

export const NEW_KEY = 'nouveau';

/** Fields of the form, by their path in a definition (where the hub's issues point). */
export const FIELDS = [
  'key',
  'theme',
  'label.fr',
  'label.en',
  'unit',
  'owner',
  'formula',
  'scope.level',
  'scope.keys',
  'scope.usages',
  'scope.tags',
  'period',
  'target',
  'target.value',
  'target.change',
  'target.baseline',
  'target.steps',
  'direction',
  'tolerance',
  'methodology',
  'published',
] as const;

const EMPTY: FormState = {
  key: '',
  theme: 'energy',
  labelFr: '',
  labelEn: '',
  unit: '',
  owner: '',
  formula: '',
  level: 'city',
  keys: '',
  usages: '',
  tags: '',
  period: 'month',
  targetKind: 'value',
  targetValue: '',
  change: '',
  baseline: '',
  steps: '',
  direction: 'down',
  tolerance: '0.05',
  methodology: '',
  published: false,
};

/** A number typed in either language (12,5 or 12.5), or the text as typed for the hub to refuse. */
function number(text: string): number | string {
  const n = Number(text.trim().replace(/\s/g, '').replace(',', '.'));
  return text.trim() !== '' && Number.isFinite(n) ? n : text.trim();
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The definition the form says (what PUT /api/objectives/:key takes). */
export function definitionOf(f: FormState): Record<string, unknown> {
  const baseline = f.baseline.trim() === 'reference-year' ? 'reference-year' : number(f.baseline);
  const steps = [...f.steps.matchAll(/(\d{4})\s*:\s*(-?\d+(?:[.,]\d+)?)/g)].map((m) => ({ year: Number(m[1]), change: Number(m[2]!.replace(',', '.')) }));
  const target =
    f.targetKind === 'value'
      ? { kind: 'value', value: number(f.targetValue) }
      : f.targetKind === 'change'
        ? { kind: 'change', change: number(f.change), baseline }
        : { kind: 'trajectory', baseline, steps };
  const scope: Record<string, unknown> = { level: f.level };
  if (list(f.keys).length) scope.keys = list(f.keys);
  if (list(f.usages).length) scope.usages = list(f.usages);
  if (list(f.tags).length) scope.tags = list(f.tags);
  return {
    key: f.key.trim(),
    theme: f.theme,
    label: { fr: f.labelFr.trim(), en: f.labelEn.trim() },
    unit: f.unit.trim(),
    formula: f.formula,
    scope,
    period: f.period,
    target,
    direction: f.direction,
    tolerance: number(f.tolerance),
    owner: f.owner.trim(),
    methodology: f.methodology.trim(),
    published: f.published,
  };
}

interface StoredDefinition {
  key?: string;
  theme?: string;
  label?: { fr?: string; en?: string };
  unit?: string;
  owner?: string;
  formula?: string;
  scope?: { level?: string; keys?: string[]; usages?: string[]; tags?: string[] };
  period?: string;
  target?: { kind?: FormState['targetKind']; value?: number; change?: number; baseline?: number | string; steps?: { year: number; change: number }[] };
  direction?: FormState['direction'];
  tolerance?: number;
  methodology?: string;
  published?: boolean;
}

function formOf(d: StoredDefinition): FormState {
  const target = d.target ?? {};
  const scope = d.scope ?? {};
  return {
    key: d.key ?? '',
    theme: d.theme ?? 'energy',
    labelFr: d.label?.fr ?? '',
    labelEn: d.label?.en ?? '',
    unit: d.unit ?? '',
    owner: d.owner ?? '',
    formula: d.formula ?? '',
    level: scope.level ?? 'city',
    keys: (scope.keys ?? []).join(', '),
    usages: (scope.usages ?? []).join(', '),
    tags: (scope.tags ?? []).join(', '),
    period: d.period ?? 'month',
    targetKind: target.kind ?? 'value',
    targetValue: target.value !== undefined ? String(target.value) : '',
    change: target.change !== undefined ? String(target.change) : '',
    baseline: target.baseline !== undefined ? String(target.baseline) : '',
    steps: (target.steps ?? []).map((s) => `${s.year}:${s.change}`).join(', '),
    direction: d.direction ?? 'down',
    tolerance: d.tolerance !== undefined ? String(d.tolerance) : '0.05',
    methodology: d.methodology ?? '',
    published: !!d.published,
  };
}

/** The formula's problem as the check or the save said it: message and 1-based column. */
export interface FormulaProblem {
  message: string;
  column?: number;
}

/** A formula's refusal as the hub words it (`column 7: unknown function …`): its column apart. */
export function formulaProblem(message: string, column?: number): FormulaProblem {
  const m = /^column (\d+):\s*/.exec(message);
  return { message: m ? message.slice(m[0].length) : message, column: column ?? (m ? Number(m[1]) : undefined) };
}

/** Checks the formula 400 ms after the last change; undefined while unknown or when the hub has no check. */
function useFormulaCheck(form: FormState): { checking: boolean; problem?: FormulaProblem; ok: boolean } {
  const [state, setState] = useState<{ checking: boolean; problem?: FormulaProblem; ok: boolean }>({ checking: false, ok: false });
  const generation = useRef(0);
  const unavailable = useRef(false);
  useEffect(() => {
    if (!form.formula.trim() || unavailable.current) {
      setState({ checking: false, ok: false });
      return;
    }
    const mine = ++generation.current;
    setState((s) => ({ ...s, checking: true }));
    const timer = setTimeout(async () => {
      try {
        const answer = await api.post<{ valid: boolean; issues?: ApiIssue[] }>('/api/objectives/check', { definition: definitionOf(form) });
        if (mine !== generation.current) return;
        const issue = answer.valid ? undefined : answer.issues?.find((i) => issuePath(i.path) === 'formula');
        setState({ checking: false, ok: !issue, problem: issue && formulaProblem(issue.message, typeof issue.column === 'number' ? issue.column : undefined) });
      } catch (e) {
        if (mine !== generation.current) return;
        // A hub without the check: the formula is checked when saved.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) unavailable.current = true;
        setState({ checking: false, ok: false });
      }
    }, 400);
    return () => clearTimeout(timer);
  }, [form.formula]);
  return state;
}

export function ObjectiveEdit() {
  const { t, lang } = useI18n();
  const session = useSession();
  const { params } = useRoute();
  const key = params.key ?? NEW_KEY;
  const creating = key === NEW_KEY;
  const loaded = useLoad(() => loadDefinition(key), [key, session.user?.username], session.known && !creating);
  const [form, setForm] = useState<FormState>(EMPTY);
  useEffect(() => {
    setForm(creating ? EMPTY : loaded.data ? formOf(loaded.data) : EMPTY);
  }, [loaded.data, creating]);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [phase, setPhase] = useState<'idle' | 'saving' | 'evaluating' | 'done'>('idle');
  const [saved, setSaved] = useState<{ version: number; key: string } | undefined>(undefined);
  const check = useFormulaCheck(form);
  // A refusal of the formula by the last save holds until the formula is changed; the check then speaks.
  useEffect(() => {
    if (!errors.byField.formula) return;
    const { formula: _, ...others } = errors.byField;
    setErrors({ ...errors, byField: others });
  }, [form.formula]);
  const results = useLoad(() => api.get<ObjectiveSummary[]>('/api/objectives'), [saved?.version, saved?.key], !!saved && phase === 'done');
  const savedSummary = results.data?.find((o) => o.key === saved?.key);

  const submit = async (event: Event) => {
    event.preventDefault();
    const definition = definitionOf(form);
    const local: Record<string, string> = {};
    if (form.targetKind === 'trajectory' && form.steps.trim() && !(definition.target as { steps: unknown[] }).steps.length)
      local['target.steps'] = t('oe.badSteps');
    if (Object.keys(local).length) {
      setErrors({ byField: local, general: [] });
      return;
    }
    const target = creating ? String(definition.key) : key;
    if (creating && !/^[a-z0-9][a-z0-9_-]*$/.test(target)) {
      setErrors({ byField: { key: t('oe.keyHint') }, general: [] });
      return;
    }
    setPhase('saving');
    setSaved(undefined);
    try {
      const stored = await api.put<{ key: string; version: number }>(`/api/objectives/${encodeURIComponent(target)}`, { ...definition, key: target });
      setErrors(NO_ERRORS);
      setPhase('evaluating');
      await api.post('/api/objectives/evaluate', {});
      setSaved({ key: stored.key, version: stored.version });
      setPhase('done');
    } catch (e) {
      setPhase('idle');
      setErrors(e instanceof ApiError ? fieldErrors(e, FIELDS) : { byField: {}, general: [String(e)] });
    }
  };

  const title = creating ? t('oe.titleNew') : t('oe.titleEdit', { label: loaded.data?.label[lang] ?? key });
  const busy = !session.known || (!creating && loaded.loading) || (phase === 'done' && results.loading);
  const formulaError = errors.byField.formula ? formulaProblem(errors.byField.formula) : check.problem;
  return (
    <View name="objective-edit" busy={busy} title={title}>
      <p class="no-print">
        <a href="/gestion/objectifs">{t('oe.back')}</a>
      </p>
      <h1>{title}</h1>
      {loaded.error && (loaded.error.status === 404 ? <p>{t('oe.notFound')}</p> : <LoadError error={loaded.error} retry={loaded.reload} />)}
      {!creating && loaded.loading && <Loading />}
      {(creating || loaded.data) && (
        <form class="form objective-form" onSubmit={submit} noValidate>
          <GeneralErrors errors={errors.general} title={t('oe.refused')} />
          <ObjectiveFormFields form={form} setForm={setForm} creating={creating} errors={errors.byField} formula={{ ...check, problem: formulaError }} />
          <div class="form-actions">
            <button type="submit" disabled={phase === 'saving' || phase === 'evaluating'}>
              {phase === 'saving' ? t('oe.saving') : t('oe.save')}
            </button>
          </div>
        </form>
      )}
      <div role="status" data-phase={phase}>
        {phase === 'evaluating' && (
          <p class="progress">
            <progress aria-label={t('oe.evaluating')} /> {t('oe.evaluating')}
          </p>
        )}
        {phase === 'done' && saved && <p class="notice notice-ok">{t('oe.saved', { version: saved.version })}</p>}
      </div>
      {phase === 'done' && saved && <SavedResults objective={savedSummary} objectiveKey={saved.key} />}
    </View>
  );
}

function SavedResults({ objective, objectiveKey }: { objective: ObjectiveSummary | undefined; objectiveKey: string }) {
  const { t, num, period } = useI18n();
  if (!objective) return null;
  const results = [...objective.latest].sort((a, b) => (a.scope === 'city' ? -1 : b.scope === 'city' ? 1 : a.scope.localeCompare(b.scope)));
  return (
    <section aria-labelledby="oe-results" data-results={results.length}>
      <h2 id="oe-results">{t('oe.resultsCaption')}</h2>
      {!results.length && <p>{t('oe.noResults')}</p>}
      {results.length > 0 && headline(objective) && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('oe.resultsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('oe.scope')}</th>
                <th scope="col">{t('common.period')}</th>
                <th scope="col" class="n">
                  {t('common.value')}
                </th>
                <th scope="col" class="n">
                  {t('common.target')}
                </th>
                <th scope="col">{t('common.status')}</th>
              </tr>
            </thead>
            <tbody>
              {results.slice(0, 50).map((r) => (
                <tr data-scope={r.scope}>
                  <th scope="row">{r.scope === 'city' ? t('common.city') : r.scope}</th>
                  <td>{period(r.period)}</td>
                  <td class="n">{num(r.value, objective.unit)}</td>
                  <td class="n">{num(r.target, objective.unit)}</td>
                  <td>
                    <StatusBadge result={r} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <a href={`/objectifs/${objectiveKey}`}>{t('oe.view')}</a>
      </p>
    </section>
  );
}
