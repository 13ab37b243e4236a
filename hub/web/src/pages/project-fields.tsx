/**
 * The fields of a project's definition, grouped (identification, scope, dates, costs, what it
 * saves, expectations, publication), each with its label, hint and error (project-edit.tsx owns
 * the state and the saving). The scope is picked from the catalogue: the city, one of its sites,
 * or buildings ticked by name. Subsidies are a list of name and amount, rows added and removed.
 */
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { ENERGIES, PROJECT_THEMES } from '../projects.js';
import { described, Field } from '../ui/form.js';
import type { CatalogBuilding } from './scopes.js';

export interface ProjectForm {
  key: string;
  titleFr: string;
  titleEn: string;
  description: string;
  theme: string;
  owner: string;
  scopeLevel: 'city' | 'site' | 'buildings';
  site: string;
  buildings: string[];
  decision: string;
  worksStart: string;
  worksEnd: string;
  /** Amounts as typed (12 500 or 12500,50), € . */
  investment: string;
  runningCost: string;
  subsidies: { name: string; amount: string }[];
  kind: 'energy' | 'metric';
  energies: string[];
  occupancy: boolean;
  metricKey: string;
  better: 'lower' | 'higher';
  expectedKWh: string;
  expectedEuros: string;
  expectedNote: string;
  lifetime: string;
  published: boolean;
}

interface Props {
  form: ProjectForm;
  setForm: (form: ProjectForm) => void;
  creating: boolean;
  /** Errors by definition path (`title.fr`, `costs.subsidies.0.amount` …). */
  errors: Record<string, string>;
  buildings: readonly CatalogBuilding[];
}

/** An input's id from its definition path. */
const idOf = (path: string) => `pe-${path.replace(/\./g, '-')}`;

export function ProjectFormFields({ form, setForm, creating, errors, buildings }: Props) {
  const { t } = useI18n();
  const set = (changes: Partial<ProjectForm>) => setForm({ ...form, ...changes });
  const text = (field: keyof ProjectForm) => (e: Event) => set({ [field]: (e.target as HTMLInputElement).value });
  const input = (path: string, field: keyof ProjectForm, label: MessageKey, hint?: MessageKey, extra: Record<string, unknown> = {}) => (
    <Field id={idOf(path)} label={t(label)} hint={hint && t(hint)} error={errors[path]}>
      <input {...described(idOf(path), errors[path], !!hint)} value={form[field] as string} onInput={text(field)} autocomplete="off" {...extra} />
    </Field>
  );
  const sites = [...new Set(buildings.map((b) => b.site))].sort();
  const scopeError = errors.scope;
  const kindError = errors.energy ?? errors.metric;
  return (
    <>
      <fieldset>
        <legend>{t('pe.general')}</legend>
        {creating ? input('key', 'key', 'pe.key', 'pe.keyHint', { spellcheck: false, autocapitalize: 'none' }) : null}
        {input('title.fr', 'titleFr', 'pe.titleFr', undefined, { lang: 'fr' })}
        {input('title.en', 'titleEn', 'pe.titleEn', undefined, { lang: 'en' })}
        <Field id={idOf('theme')} label={t('pe.theme')} error={errors.theme}>
          <select {...described(idOf('theme'), errors.theme)} value={form.theme} onChange={text('theme')}>
            {PROJECT_THEMES.map((th) => (
              <option value={th}>{t(`theme.${th}` as MessageKey)}</option>
            ))}
          </select>
        </Field>
        {input('owner', 'owner', 'pe.owner', 'pe.ownerHint')}
        <Field id={idOf('description')} label={t('pe.description')} hint={t('pe.descriptionHint')} error={errors.description}>
          <textarea
            {...described(idOf('description'), errors.description, true)}
            class="prose"
            rows={3}
            value={form.description}
            onInput={text('description')}
          />
        </Field>
      </fieldset>

      <fieldset aria-describedby={scopeError ? 'pe-scope-error' : undefined}>
        <legend>{t('pe.scope')}</legend>
        {(['city', 'site', 'buildings'] as const).map((level) => (
          <div class="radio">
            <input
              type="radio"
              id={`pe-scope-${level}`}
              name="scope-level"
              value={level}
              checked={form.scopeLevel === level}
              onChange={() => set({ scopeLevel: level })}
            />
            <label for={`pe-scope-${level}`}>{t(`pe.scope.${level}` as MessageKey)}</label>
          </div>
        ))}
        {form.scopeLevel === 'site' && (
          <Field id="pe-site" label={t('pe.site')}>
            <select id="pe-site" value={form.site} onChange={text('site')}>
              <option value="">{t('pe.chooseSite')}</option>
              {sites.map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </Field>
        )}
        {form.scopeLevel === 'buildings' && (
          <fieldset class="checkbox-list">
            <legend>{t('pe.buildings')}</legend>
            {buildings.map((b) => (
              <div class="checkbox">
                <input
                  type="checkbox"
                  id={`pe-building-${b.id}`}
                  value={b.id}
                  checked={form.buildings.includes(b.id)}
                  onChange={(e) =>
                    set({ buildings: (e.target as HTMLInputElement).checked ? [...form.buildings, b.id] : form.buildings.filter((x) => x !== b.id) })
                  }
                />
                <label for={`pe-building-${b.id}`}>{t('pe.buildingLine', { name: b.name, site: b.site })}</label>
              </div>
            ))}
          </fieldset>
        )}
        {scopeError && (
          <p class="field-error" id="pe-scope-error">
            {scopeError}
          </p>
        )}
      </fieldset>

      <fieldset>
        <legend>{t('pe.dates')}</legend>
        {input('dates.decision', 'decision', 'pe.decision', 'pe.decisionHint', { type: 'date' })}
        {input('dates.worksStart', 'worksStart', 'pe.worksStart', 'pe.worksStartHint', { type: 'date' })}
        {input('dates.worksEnd', 'worksEnd', 'pe.worksEnd', 'pe.worksEndHint', { type: 'date' })}
      </fieldset>

      <fieldset>
        <legend>{t('pe.costs')}</legend>
        {input('costs.investment', 'investment', 'pe.investment', 'pe.investmentHint', { inputMode: 'decimal' })}
        {input('costs.yearlyRunningCost', 'runningCost', 'pe.runningCost', 'pe.runningCostHint', { inputMode: 'decimal' })}
        <Subsidies form={form} set={set} errors={errors} />
        {input('lifetimeYears', 'lifetime', 'pe.lifetime', 'pe.lifetimeHint', { inputMode: 'numeric' })}
      </fieldset>

      <fieldset aria-describedby={kindError ? 'pe-kind-error' : undefined}>
        <legend>{t('pe.kind')}</legend>
        {(['energy', 'metric'] as const).map((kind) => (
          <div class="radio">
            <input type="radio" id={`pe-kind-${kind}`} name="kind" value={kind} checked={form.kind === kind} onChange={() => set({ kind })} />
            <label for={`pe-kind-${kind}`}>{t(`pe.kind.${kind}` as MessageKey)}</label>
          </div>
        ))}
        {kindError && (
          <p class="field-error" id="pe-kind-error">
            {kindError}
          </p>
        )}
        {form.kind === 'energy' ? (
          <>
            <fieldset class="checkbox-list" aria-describedby={errors['energy.energies'] ? 'pe-energies-error' : undefined}>
              <legend>{t('pe.energies')}</legend>
              {ENERGIES.map((e) => (
                <div class="checkbox">
                  <input
                    type="checkbox"
                    id={`pe-energy-${e}`}
                    checked={form.energies.includes(e)}
                    onChange={(ev) => set({ energies: (ev.target as HTMLInputElement).checked ? [...form.energies, e] : form.energies.filter((x) => x !== e) })}
                  />
                  <label for={`pe-energy-${e}`}>{t(`energy.${e}` as MessageKey)}</label>
                </div>
              ))}
              {errors['energy.energies'] && (
                <p class="field-error" id="pe-energies-error">
                  {errors['energy.energies']}
                </p>
              )}
            </fieldset>
            <div class="field checkbox">
              <input type="checkbox" id="pe-occupancy" checked={form.occupancy} onChange={(e) => set({ occupancy: (e.target as HTMLInputElement).checked })} />
              <label for="pe-occupancy">{t('pe.occupancy')}</label>
            </div>
          </>
        ) : (
          <>
            {input('metric.key', 'metricKey', 'pe.metricKey', 'pe.metricKeyHint', { spellcheck: false })}
            <Field id={idOf('metric.better')} label={t('pe.better')} error={errors['metric.better']}>
              <select {...described(idOf('metric.better'), errors['metric.better'])} value={form.better} onChange={text('better')}>
                <option value="lower">{t('project.better.lower')}</option>
                <option value="higher">{t('project.better.higher')}</option>
              </select>
            </Field>
          </>
        )}
      </fieldset>

      <fieldset>
        <legend>{t('pe.expected')}</legend>
        {input('expectedSavings.kWhPerYear', 'expectedKWh', 'pe.expectedKWh', undefined, { inputMode: 'decimal' })}
        {input('expectedSavings.eurosPerYear', 'expectedEuros', 'pe.expectedEuros', undefined, { inputMode: 'decimal' })}
        {input('expectedSavings.note', 'expectedNote', 'pe.expectedNote', 'pe.expectedNoteHint')}
      </fieldset>

      <div class={`field checkbox${errors.published ? ' field-invalid' : ''}`}>
        <input
          type="checkbox"
          {...described('pe-published', errors.published)}
          checked={form.published}
          onChange={(e) => set({ published: (e.target as HTMLInputElement).checked })}
        />
        <label for="pe-published">{t('pe.published')}</label>
        {errors.published && (
          <p class="field-error" id="pe-published-error">
            {errors.published}
          </p>
        )}
      </div>
    </>
  );
}

/** The subsidies: one row of name and amount each, with its errors; rows added and removed by buttons. */
function Subsidies({ form, set, errors }: { form: ProjectForm; set: (changes: Partial<ProjectForm>) => void; errors: Record<string, string> }) {
  const { t } = useI18n();
  const change = (i: number, field: 'name' | 'amount', value: string) =>
    set({ subsidies: form.subsidies.map((s, j) => (j === i ? { ...s, [field]: value } : s)) });
  return (
    <fieldset aria-describedby={errors['costs.subsidies'] ? 'pe-subsidies-error' : undefined}>
      <legend>{t('pe.subsidies')}</legend>
      {!form.subsidies.length && <p class="hint">{t('pe.noSubsidy')}</p>}
      {form.subsidies.map((s, i) => {
        const name = `costs.subsidies.${i}.name`;
        const amount = `costs.subsidies.${i}.amount`;
        return (
          <div class="subsidy-row" data-subsidy={i}>
            <Field id={idOf(name)} label={t('pe.subsidyName', { n: i + 1 })} error={errors[name]}>
              <input {...described(idOf(name), errors[name])} value={s.name} onInput={(e) => change(i, 'name', (e.target as HTMLInputElement).value)} />
            </Field>
            <Field id={idOf(amount)} label={t('pe.subsidyAmount', { n: i + 1 })} error={errors[amount]}>
              <input
                {...described(idOf(amount), errors[amount])}
                inputMode="decimal"
                value={s.amount}
                onInput={(e) => change(i, 'amount', (e.target as HTMLInputElement).value)}
              />
            </Field>
            <button type="button" class="secondary small" onClick={() => set({ subsidies: form.subsidies.filter((_, j) => j !== i) })}>
              {t('pe.removeSubsidy', { n: i + 1 })}
            </button>
          </div>
        );
      })}
      {errors['costs.subsidies'] && (
        <p class="field-error" id="pe-subsidies-error">
          {errors['costs.subsidies']}
        </p>
      )}
      <button type="button" class="secondary small" onClick={() => set({ subsidies: [...form.subsidies, { name: '', amount: '' }] })}>
        {t('pe.addSubsidy')}
      </button>
    </fieldset>
  );
}
