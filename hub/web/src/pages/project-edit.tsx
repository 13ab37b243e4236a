/**
 * A project's definition in a form (`/gestion/projets/:key`, `/gestion/projets/nouveau`), for
 * operators and directors. A new project is created (POST /api/projects); an existing one gets a
 * new version (PUT /api/projects/:key?version=N, refused with 409 when someone else changed it
 * meanwhile). Each refusal of the hub is shown next to its field (its `issues` name the path:
 * `dates.worksEnd`, `costs.subsidies.0.amount`), what fits no field above the form. The
 * project's versions are listed under it.
 */
import { useEffect, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { api, ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import { ENERGIES, scopeBuildings, type ProjectDefinition, type ProjectDetail, type StoredProject } from '../projects.js';
import { useSession } from '../session.js';
import { fieldErrors, GeneralErrors, NO_ERRORS, type FieldErrors } from '../ui/form.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import { ProjectFormFields, type ProjectForm } from './project-fields.js';
import { useBuildingNames } from './scopes.js';

export const NEW_PROJECT = 'nouveau';

const EMPTY: ProjectForm = {
  key: '',
  titleFr: '',
  titleEn: '',
  description: '',
  theme: 'energy',
  owner: '',
  scopeLevel: 'buildings',
  site: '',
  buildings: [],
  decision: '',
  worksStart: '',
  worksEnd: '',
  investment: '',
  runningCost: '0',
  subsidies: [],
  kind: 'energy',
  energies: ['elec'],
  occupancy: false,
  metricKey: '',
  better: 'lower',
  expectedKWh: '',
  expectedEuros: '',
  expectedNote: '',
  lifetime: '20',
  published: false,
};

/** Fields of the form by their path in a definition (where the hub's issues point); subsidies' rows are added per row. */
const FIELDS = [
  'key',
  'title.fr',
  'title.en',
  'description',
  'theme',
  'owner',
  'scope',
  'dates.decision',
  'dates.worksStart',
  'dates.worksEnd',
  'costs.investment',
  'costs.yearlyRunningCost',
  'costs.subsidies',
  'energy',
  'energy.energies',
  'metric',
  'metric.key',
  'metric.better',
  'expectedSavings.kWhPerYear',
  'expectedSavings.eurosPerYear',
  'expectedSavings.note',
  'lifetimeYears',
  'published',
];

/** A number typed in either language (12 500,5 or 12500.5), or the text as typed for the hub to refuse at its field. */
function number(text: string): number | string {
  const n = Number(
    text
      .trim()
      .replace(/[\s\u00a0\u202f]/g, '')
      .replace(',', '.'),
  );
  return text.trim() !== '' && Number.isFinite(n) ? n : text.trim();
}

/** The definition the form says (what POST /api/projects and PUT /api/projects/:key take). */
export function definitionOf(f: ProjectForm): Record<string, unknown> {
  const scope =
    f.scopeLevel === 'city' ? 'city' : f.scopeLevel === 'site' ? `site:${f.site}` : f.buildings.length === 1 ? `building:${f.buildings[0]}` : f.buildings;
  const expected: Record<string, unknown> = {};
  if (f.expectedKWh.trim()) expected.kWhPerYear = number(f.expectedKWh);
  if (f.expectedEuros.trim()) expected.eurosPerYear = number(f.expectedEuros);
  if (f.expectedNote.trim()) expected.note = f.expectedNote.trim();
  const dates: Record<string, unknown> = { worksStart: f.worksStart, worksEnd: f.worksEnd };
  if (f.decision) dates.decision = f.decision;
  return {
    key: f.key.trim(),
    title: { fr: f.titleFr.trim(), en: f.titleEn.trim() },
    ...(f.description.trim() && { description: f.description.trim() }),
    theme: f.theme,
    scope,
    dates,
    costs: {
      investment: number(f.investment),
      yearlyRunningCost: f.runningCost.trim() ? number(f.runningCost) : 0,
      subsidies: f.subsidies.map((s) => ({ name: s.name.trim(), amount: number(s.amount) })),
    },
    ...(f.kind === 'energy'
      ? { energy: { energies: ENERGIES.filter((e) => f.energies.includes(e)), occupancy: f.occupancy } }
      : { metric: { key: f.metricKey.trim(), better: f.better } }),
    expectedSavings: expected,
    lifetimeYears: number(f.lifetime),
    owner: f.owner.trim(),
    published: f.published,
  };
}

function formOf(d: ProjectDefinition): ProjectForm {
  const listed = scopeBuildings(d.scope);
  const site = typeof d.scope === 'string' && d.scope.startsWith('site:') ? d.scope.slice(5) : '';
  const text = (n: number | undefined) => (n === undefined ? '' : String(n));
  return {
    key: d.key,
    titleFr: d.title.fr,
    titleEn: d.title.en,
    description: d.description ?? '',
    theme: d.theme,
    owner: d.owner,
    scopeLevel: listed ? 'buildings' : site ? 'site' : 'city',
    site,
    buildings: listed ?? [],
    decision: d.dates.decision ?? '',
    worksStart: d.dates.worksStart,
    worksEnd: d.dates.worksEnd,
    investment: text(d.costs.investment),
    runningCost: text(d.costs.yearlyRunningCost),
    subsidies: d.costs.subsidies.map((s) => ({ name: s.name, amount: String(s.amount) })),
    kind: d.metric ? 'metric' : 'energy',
    energies: d.energy?.energies ?? ['elec'],
    occupancy: !!d.energy?.occupancy,
    metricKey: d.metric?.key ?? '',
    better: d.metric?.better ?? 'lower',
    expectedKWh: text(d.expectedSavings.kWhPerYear),
    expectedEuros: text(d.expectedSavings.eurosPerYear),
    expectedNote: d.expectedSavings.note ?? '',
    lifetime: String(d.lifetimeYears),
    published: d.published,
  };
}

export function ProjectEdit() {
  const { t, lang, dateTime } = useI18n();
  const session = useSession();
  const { params } = useRoute();
  // A project created here is edited here next, under its key.
  const [createdKey, setCreatedKey] = useState<string | undefined>(undefined);
  const key = params.key && params.key !== NEW_PROJECT ? params.key : (createdKey ?? NEW_PROJECT);
  const creating = key === NEW_PROJECT;
  const [saved, setSaved] = useState<{ version: number; key: string } | undefined>(undefined);
  const loaded = useLoad(
    () => api.get<ProjectDetail>(`/api/projects/${encodeURIComponent(key)}`),
    [key, session.user?.username, saved?.version],
    session.known && !creating,
  );
  const catalogue = useBuildingNames(true);
  const [form, setForm] = useState<ProjectForm>(EMPTY);
  useEffect(() => {
    if (creating) setForm(EMPTY);
    else if (loaded.data && loaded.data.version !== saved?.version) setForm(formOf(loaded.data.definition));
  }, [loaded.data, creating]);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [saving, setSaving] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const definition = definitionOf(form);
    if (creating && !/^[a-z0-9][a-z0-9_-]*$/.test(String(definition.key))) {
      setErrors({ byField: { key: t('pe.keyHint') }, general: [] });
      return;
    }
    setSaving(true);
    setSaved(undefined);
    try {
      const fields = [...FIELDS, ...form.subsidies.flatMap((_, i) => [`costs.subsidies.${i}.name`, `costs.subsidies.${i}.amount`])];
      let stored: StoredProject;
      try {
        if (creating) stored = await api.post<StoredProject>('/api/projects', definition);
        else {
          const { key: _key, ...body } = definition;
          stored = await api.put<StoredProject>(withQuery(`/api/projects/${encodeURIComponent(key)}`, { version: loaded.data?.version }), body);
        }
      } catch (e) {
        setErrors(
          e instanceof ApiError
            ? e.status === 409 && !creating
              ? { byField: {}, general: [e.message] }
              : fieldErrors(e, fields)
            : { byField: {}, general: [String(e)] },
        );
        return;
      }
      setErrors(NO_ERRORS);
      setSaved({ key: stored.key, version: stored.version });
      if (creating) {
        setCreatedKey(stored.key);
        history.replaceState(history.state, '', `/gestion/projets/${encodeURIComponent(stored.key)}${location.search}`);
      }
    } finally {
      setSaving(false);
    }
  };

  const title = creating ? t('pe.titleNew') : t('pe.titleEdit', { title: loaded.data?.definition.title[lang] ?? key });
  const busy = !session.known || (!creating && loaded.loading && !loaded.data) || catalogue.loading;
  return (
    <View name="project-edit" busy={busy} title={title}>
      <p class="no-print">
        <a href="/gestion/projets">{t('pe.back')}</a>
      </p>
      <h1>{title}</h1>
      {loaded.error && (loaded.error.status === 404 ? <p>{t('pe.notFound')}</p> : <LoadError error={loaded.error} retry={loaded.reload} />)}
      {!creating && loaded.loading && !loaded.data && <Loading />}
      {catalogue.error && <LoadError error={catalogue.error} retry={catalogue.reload} />}
      {(creating || loaded.data) && (
        <form class="form project-form" onSubmit={submit} noValidate>
          <GeneralErrors errors={errors.general} title={t('pe.refused')} />
          <ProjectFormFields form={form} setForm={setForm} creating={creating} errors={errors.byField} buildings={[...(catalogue.data?.values() ?? [])]} />
          <div class="form-actions">
            <button type="submit" disabled={saving}>
              {saving ? t('pe.saving') : t('pe.save')}
            </button>
          </div>
        </form>
      )}
      <div role="status" data-saved={saved ? saved.version : undefined}>
        {saved && (
          <p class="notice notice-ok">
            {t('pe.saved', { version: saved.version })} <a href={`/projets/${encodeURIComponent(saved.key)}`}>{t('pe.view')}</a>
          </p>
        )}
      </div>
      {loaded.data && loaded.data.versions.length > 0 && (
        <section aria-labelledby="pe-versions">
          <h2 id="pe-versions">{t('pe.versions')}</h2>
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">{t('pe.versions')}</caption>
              <thead>
                <tr>
                  <th scope="col" class="n">
                    {t('pa.version')}
                  </th>
                  <th scope="col">{t('pe.versionWhen')}</th>
                  <th scope="col">{t('pe.versionBy')}</th>
                  <th scope="col">{t('pe.versionState')}</th>
                </tr>
              </thead>
              <tbody>
                {loaded.data.versions.map((v) => (
                  <tr data-version={v.version}>
                    <th scope="row" class="n">
                      {v.version}
                    </th>
                    <td>{dateTime(v.createdAt)}</td>
                    <td>{v.createdBy}</td>
                    <td>{v.supersededAt === null ? t('pe.current') : v.deletedBy ? t('pe.deletedBy', { who: v.deletedBy }) : t('pe.superseded')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </View>
  );
}
