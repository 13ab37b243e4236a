/**
 * The utility meters (`/gestion/compteurs`, operators): the connectors that collect Linky and
 * Gazpar meters from Enedis's and GRDF's APIs, each with its state in words and icon (collecting,
 * up to date, failed with its error, days missing), its last and next collection in the city's
 * time and a "collect now" followed until its report; a form to add or change one, whose client
 * secret is written only (never shown, empty keeps the stored one); the delivery points and the
 * buildings they measure (utility-points.tsx); a file's import and the latest runs
 * (utility-import.tsx). Everything comes from /api/utility (hub/src/utility/routes.ts).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { useSession } from '../session.js';
import { described, Field, fieldErrors, GeneralErrors, NO_ERRORS, OutcomeNotice, type FieldErrors } from '../ui/form.js';
import { StateBadge, type StatusName } from '../ui/status.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';
import type { CatalogBuilding } from './scopes.js';
import { LatestRuns, UtilityImport, loadRuns } from './utility-import.js';
import { DeliveryPoints } from './utility-points.js';
import {
  connectorCondition,
  KEY_PATTERN,
  type ConnectorCondition,
  type ConnectorKind,
  type ConnectorState,
  type DeliveryPointState,
  type RunSummary,
} from './utility-types.js';

/** How often the connectors are read again while one collects (ms). */
export const POLL_MS = 2000;

const CONDITIONS: Record<ConnectorCondition, { tone: StatusName; icon: string }> = {
  collecting: { tone: 'unknown', icon: '⟳' },
  disabled: { tone: 'unknown', icon: '–' },
  never: { tone: 'unknown', icon: '?' },
  failed: { tone: 'red', icon: '✕' },
  interrupted: { tone: 'amber', icon: '!' },
  missing: { tone: 'amber', icon: '!' },
  ok: { tone: 'green', icon: '✓' },
};

/** A collection started from this page, followed until the connector stops running. */
interface Followed {
  name: string;
  /** The connector's last run when it was asked to collect: the new one is any other. */
  previous: number | null;
  /** starting: until the hub has taken the request (the connectors read before it say nothing of it). */
  phase: 'starting' | 'running' | 'done' | 'ended' | 'refused';
  run?: RunSummary;
  error?: string;
}

export function UtilityMeters() {
  const { t } = useI18n();
  const session = useSession();
  const who = session.user?.username;
  const connectors = useLoad(() => api.get<{ connectors: ConnectorState[] }>('/api/utility/connectors').then((a) => a.connectors), [who], session.known);
  const points = useLoad(
    () => api.get<{ deliveryPoints: DeliveryPointState[] }>('/api/utility/delivery-points').then((a) => a.deliveryPoints),
    [who],
    session.known,
  );
  const buildings = useLoad(() => api.get<CatalogBuilding[]>('/api/buildings'), [who], session.known);
  const keys = connectors.data?.map((c) => c.key) ?? [];
  const [runsTick, setRunsTick] = useState(0);
  const runs = useLoad(() => loadRuns(keys), [keys.join(','), runsTick], !!connectors.data);
  const [editing, setEditing] = useState<ConnectorState | undefined>(undefined);
  const [followed, setFollowed] = useState<Record<string, Followed>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | undefined>(undefined);

  // While a connector collects (from here or on its schedule), its state is read again every POLL_MS.
  const running = connectors.data?.some((c) => c.running) ?? false;
  useEffect(() => {
    if (!running || connectors.loading) return;
    const timer = setTimeout(connectors.reload, POLL_MS);
    return () => clearTimeout(timer);
  }, [running, connectors.loading, connectors.data]);

  // A followed collection is over once its connector stops running: its last run is the report.
  useEffect(() => {
    const list = connectors.data;
    if (!list) return;
    let changed = false;
    const next = { ...followed };
    for (const [key, f] of Object.entries(followed)) {
      if (f.phase !== 'running') continue;
      const c = list.find((x) => x.key === key);
      if (c?.running) continue;
      changed = true;
      next[key] = c?.lastRun && c.lastRun.id !== f.previous ? { ...f, phase: 'done', run: c.lastRun } : { ...f, phase: 'ended' };
    }
    if (changed) {
      setFollowed(next);
      points.reload();
      setRunsTick((n) => n + 1);
    }
  }, [connectors.data]);

  const collect = async (c: ConnectorState) => {
    const previous = c.lastRun?.id ?? null;
    setFollowed((f) => ({ ...f, [c.key]: { name: c.name, previous, phase: 'starting' } }));
    try {
      await api.post(`/api/utility/connectors/${encodeURIComponent(c.key)}/run`);
    } catch (e) {
      // Collecting already (on its schedule): the page follows that collection.
      if (!(e instanceof ApiError && e.status === 409)) {
        setFollowed((f) => ({ ...f, [c.key]: { name: c.name, previous, phase: 'refused', error: e instanceof ApiError ? e.message : String(e) } }));
        return;
      }
    }
    // Read again now: an answer to an earlier read, from before the hub took the request, is dropped (useLoad).
    setFollowed((f) => ({ ...f, [c.key]: { name: c.name, previous, phase: 'running' } }));
    connectors.reload();
  };

  const remove = async (c: ConnectorState) => {
    if (!window.confirm(t('ut.removeConfirm', { name: c.name }))) return;
    setMessage(undefined);
    try {
      await api.delete(`/api/utility/connectors/${encodeURIComponent(c.key)}`);
      setMessage({ ok: true, text: t('ut.removed', { name: c.name }) });
      if (editing?.key === c.key) setEditing(undefined);
      connectors.reload();
      points.reload();
    } catch (e) {
      setMessage({ ok: false, text: t('ut.removeFailed', { error: e instanceof ApiError ? e.message : String(e) }) });
    }
  };

  const busy = !session.known || [connectors, points, buildings].some((l) => l.loading && !l.data && !l.error);
  const failed = connectors.error ?? points.error ?? buildings.error;
  return (
    <View name="utility" busy={busy} title={t('ut.title')}>
      <h1>{t('ut.title')}</h1>
      <p class="lead">{t('ut.intro')}</p>
      {failed && (
        <LoadError
          error={failed}
          retry={() => {
            connectors.reload();
            points.reload();
            buildings.reload();
          }}
        />
      )}
      {busy && <Loading />}

      <section aria-labelledby="ut-connectors">
        <h2 id="ut-connectors">{t('ut.connectors')}</h2>
        <p>{t('ut.connectorsIntro')}</p>
        <OutcomeNotice outcome={message} />
        <div role="status" data-collections>
          {Object.entries(followed).map(([key, f]) => (
            <CollectionReport key={key} connector={key} followed={f} />
          ))}
        </div>
        {connectors.data && !connectors.data.length && <p>{t('ut.noConnectors')}</p>}
        {connectors.data && connectors.data.length > 0 && (
          <ConnectorsTable connectors={connectors.data} onCollect={collect} onEdit={setEditing} onRemove={remove} />
        )}
        {connectors.data && (
          <ConnectorForm
            key={editing?.key ?? '(new)'}
            editing={editing}
            taken={keys}
            onSaved={(c) => {
              setEditing(undefined);
              setMessage({ ok: true, text: t('ut.saved', { name: c.name }) });
              connectors.reload();
            }}
            onCancel={() => setEditing(undefined)}
          />
        )}
      </section>

      {connectors.data && points.data && buildings.data && (
        <DeliveryPoints
          points={points.data}
          connectors={connectors.data}
          buildings={buildings.data}
          onChanged={() => {
            points.reload();
            connectors.reload();
          }}
        />
      )}

      {connectors.data && (
        <UtilityImport
          onImported={() => {
            points.reload();
            setRunsTick((n) => n + 1);
          }}
        />
      )}

      {connectors.data && <LatestRuns runs={runs} connectors={connectors.data} />}
    </View>
  );
}

function ConnectorsTable({
  connectors,
  onCollect,
  onEdit,
  onRemove,
}: {
  connectors: ConnectorState[];
  onCollect: (c: ConnectorState) => void;
  onEdit: (c: ConnectorState) => void;
  onRemove: (c: ConnectorState) => void;
}) {
  const { t, dateTime, num } = useI18n();
  return (
    <div class="table-wrap">
      <table data-connectors>
        <caption>{t('ut.connectorsCaption')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('ut.connector')}</th>
            <th scope="col">{t('ut.state')}</th>
            <th scope="col">{t('ut.lastRun')}</th>
            <th scope="col">{t('ut.nextRun')}</th>
            <th scope="col" class="n">
              {t('ut.daysMissing')}
            </th>
            <th scope="col" class="n">
              {t('ut.deliveryPointsCount')}
            </th>
            <th scope="col" class="no-print">
              {t('ut.actions')}
            </th>
          </tr>
        </thead>
        <tbody>
          {connectors.map((c) => {
            const condition = connectorCondition(c);
            const run = c.lastRun;
            const firstError = run?.errors[0];
            return (
              <tr data-connector={c.key} data-state={condition}>
                <th scope="row">
                  {c.name}
                  <br />
                  <code>{c.key}</code>
                  <span class="hint cell-line">{t(`ut.kind.${c.kind}` as MessageKey)}</span>
                  <span class="hint cell-line">{t('ut.schedule', { hour: c.collectHour, days: c.lookbackDays })}</span>
                  <span class="hint cell-line" data-secret={c.hasSecret ? 'stored' : 'none'}>
                    {t(c.hasSecret ? 'ut.secretStored' : 'ut.secretNone')}
                  </span>
                </th>
                <td>
                  <StateBadge {...CONDITIONS[condition]} text={t(`ut.condition.${condition}` as MessageKey)} state={condition} />
                  {condition === 'failed' && firstError && (
                    <span class="cell-line" data-error>
                      {firstError.deliveryPoint ? t('ut.pointError', { id: firstError.deliveryPoint, message: firstError.message }) : firstError.message}
                    </span>
                  )}
                  {condition === 'failed' && run && run.errorCount > 1 && <span class="hint cell-line">{t('ut.errorsInAll', { count: run.errorCount })}</span>}
                </td>
                <td>
                  {run ? (
                    <>
                      {dateTime(run.startedAt)}
                      <span class="hint cell-line">
                        {t('ut.runCounts', {
                          readings: num(run.readings, undefined, 0),
                          inserted: num(run.inserted, undefined, 0),
                          corrected: num(run.corrected, undefined, 0),
                          unchanged: num(run.unchanged, undefined, 0),
                        })}
                      </span>
                    </>
                  ) : (
                    t('ut.never')
                  )}
                </td>
                <td>{c.nextRun ? dateTime(c.nextRun) : t('ut.notScheduled')}</td>
                <td class="n" data-days-missing={c.daysMissing}>
                  {num(c.daysMissing, undefined, 0)}
                </td>
                <td class="n">{c.deliveryPoints.length}</td>
                <td class="actions no-print">
                  <button type="button" class="small" disabled={c.running} aria-label={t('ut.collectLabel', { name: c.name })} onClick={() => onCollect(c)}>
                    {t('ut.collect')}
                  </button>
                  <button type="button" class="secondary small" aria-label={t('ut.editLabel', { name: c.name })} onClick={() => onEdit(c)}>
                    {t('ut.edit')}
                  </button>
                  <button type="button" class="secondary small" aria-label={t('ut.removeLabel', { name: c.name })} onClick={() => onRemove(c)}>
                    {t('ut.remove')}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** A collection asked from this page: its progress while it runs, then its report. */
function CollectionReport({ connector, followed }: { connector: string; followed: Followed }) {
  const { t } = useI18n();
  const name = followed.name;
  if (followed.phase === 'starting' || followed.phase === 'running') {
    return (
      <p class="progress" data-collect={connector} data-phase="running">
        <progress aria-label={t('ut.collecting', { name })} /> {t('ut.collecting', { name })}
      </p>
    );
  }
  if (followed.phase === 'refused') {
    return (
      <p class="notice notice-error" data-collect={connector} data-phase="refused">
        {t('ut.collectFailed', { name, error: followed.error ?? '' })}
      </p>
    );
  }
  if (followed.phase === 'ended' || !followed.run) {
    return (
      <p class="notice notice-error" data-collect={connector} data-phase="ended">
        {t('ut.collectEnded', { name })}
      </p>
    );
  }
  const run = followed.run;
  return (
    <div class={`notice ${run.ok ? 'notice-ok' : 'notice-error'}`} data-collect={connector} data-phase="done" data-ok={run.ok ? 'true' : 'false'}>
      <p>{t(run.ok ? 'ut.collected' : 'ut.collectedFailed', { name })}</p>
      <RunReport run={run} />
    </div>
  );
}

/** What a run brought: readings, new, corrected, unchanged, errors (listed), days still missing. */
export function RunReport({ run }: { run: RunSummary }) {
  const { t, num } = useI18n();
  const n = (x: number) => num(x, undefined, 0);
  return (
    <>
      <p data-run-counts>
        {t('ut.runCounts', { readings: n(run.readings), inserted: n(run.inserted), corrected: n(run.corrected), unchanged: n(run.unchanged) })}{' '}
        {t('ut.runErrors', { count: n(run.errorCount) })}
        {run.daysMissing !== null && <> {t('ut.runMissing', { count: n(run.daysMissing) })}</>}
      </p>
      {run.errors.length > 0 && (
        <ul aria-label={t('ut.runErrorsCaption')} data-run-errors>
          {run.errors.slice(0, 20).map((e) => (
            <li>{e.deliveryPoint ? t('ut.pointError', { id: e.deliveryPoint, message: e.message }) : e.message}</li>
          ))}
        </ul>
      )}
    </>
  );
}

interface ConnectorForm {
  key: string;
  kind: ConnectorKind;
  name: string;
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  enabled: boolean;
  collectHour: string;
  lookbackDays: string;
}

/** Enedis's production API, given with the city's Data Connect credentials. */
export const ENEDIS_BASE_URL = 'https://gw.ext.prod.api.enedis.fr';
const FIELDS = ['key', 'kind', 'name', 'baseUrl', 'clientId', 'clientSecret', 'enabled', 'collectHour', 'lookbackDays'] as const;

function formOf(c: ConnectorState | undefined): ConnectorForm {
  if (!c) {
    return { key: '', kind: 'enedis', name: '', baseUrl: ENEDIS_BASE_URL, clientId: '', clientSecret: '', enabled: true, collectHour: '7', lookbackDays: '7' };
  }
  return {
    key: c.key,
    kind: c.kind,
    name: c.name,
    baseUrl: c.baseUrl,
    clientId: c.clientId,
    clientSecret: '',
    enabled: c.enabled,
    collectHour: String(c.collectHour),
    lookbackDays: String(c.lookbackDays),
  };
}

/** A whole number of `text` within [min, max], or undefined. */
function wholeIn(text: string, min: number, max: number): number | undefined {
  const value = Number(text.trim());
  return text.trim() !== '' && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
}

/**
 * A connector's settings, new or changed. The secret is written only: the field starts empty,
 * an empty one keeps the stored secret, and it is forgotten once saved.
 */
function ConnectorForm({
  editing,
  taken,
  onSaved,
  onCancel,
}: {
  editing: ConnectorState | undefined;
  taken: string[];
  onSaved: (c: ConnectorState) => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const [form, setForm] = useState<ConnectorForm>(() => formOf(editing));
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [sending, setSending] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (editing) formRef.current?.focus();
  }, []);
  const set = (field: keyof ConnectorForm) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });

  const check = (): FieldErrors['byField'] => {
    const byField: FieldErrors['byField'] = {};
    const key = form.key.trim();
    if (!editing && !KEY_PATTERN.test(key)) byField.key = t('ut.keyInvalid');
    else if (!editing && taken.includes(key)) byField.key = t('ut.keyTaken');
    if (!form.name.trim()) byField.name = t('ut.required');
    if (!/^https?:\/\/\S+$/.test(form.baseUrl.trim())) byField.baseUrl = t('ut.baseUrlInvalid');
    if (!form.clientId.trim()) byField.clientId = t('ut.required');
    if (!editing && !form.clientSecret) byField.clientSecret = t('ut.secretRequired');
    if (wholeIn(form.collectHour, 0, 23) === undefined) byField.collectHour = t('ut.collectHourInvalid');
    if (wholeIn(form.lookbackDays, 0, 60) === undefined) byField.lookbackDays = t('ut.lookbackDaysInvalid');
    return byField;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const byField = check();
    if (Object.keys(byField).length) {
      setErrors({ byField, general: [] });
      return;
    }
    setSending(true);
    const key = editing?.key ?? form.key.trim();
    try {
      const saved = await api.put<ConnectorState>(`/api/utility/connectors/${encodeURIComponent(key)}`, {
        kind: form.kind,
        name: form.name.trim(),
        baseUrl: form.baseUrl.trim(),
        clientId: form.clientId.trim(),
        ...(form.clientSecret ? { clientSecret: form.clientSecret } : {}),
        enabled: form.enabled,
        collectHour: wholeIn(form.collectHour, 0, 23),
        lookbackDays: wholeIn(form.lookbackDays, 0, 60),
      });
      setErrors(NO_ERRORS);
      setForm(formOf(undefined));
      onSaved(saved);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'SECRET_KEY_MISSING') setErrors({ byField: { clientSecret: e.message }, general: [] });
      else setErrors(e instanceof ApiError ? fieldErrors(e, FIELDS) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const err = errors.byField;
  return (
    <section aria-labelledby="ut-connector-form" class="panel no-print">
      <h3 id="ut-connector-form">{editing ? t('ut.formEdit', { name: editing.name }) : t('ut.formNew')}</h3>
      <GeneralErrors errors={errors.general} title={t('ut.refused')} />
      <form ref={formRef} id="ut-connector" tabIndex={-1} class="form narrow" onSubmit={submit} noValidate>
        {!editing && (
          <Field id="ut-key" label={t('ut.key')} hint={t('ut.keyHint')} error={err.key}>
            <input {...described('ut-key', err.key, true)} autocomplete="off" autocapitalize="none" spellcheck={false} value={form.key} onInput={set('key')} />
          </Field>
        )}
        <Field id="ut-kind" label={t('ut.kind')} error={err.kind}>
          <select
            {...described('ut-kind', err.kind)}
            value={form.kind}
            onChange={(e) => {
              const kind = (e.target as HTMLSelectElement).value as ConnectorKind;
              // Enedis's address is offered for Enedis only.
              const baseUrl = kind === 'enedis' && !form.baseUrl ? ENEDIS_BASE_URL : kind !== 'enedis' && form.baseUrl === ENEDIS_BASE_URL ? '' : form.baseUrl;
              setForm({ ...form, kind, baseUrl });
            }}
          >
            <option value="enedis">{t('ut.kind.enedis')}</option>
            <option value="grdf">{t('ut.kind.grdf')}</option>
          </select>
        </Field>
        <Field id="ut-name" label={t('ut.name')} hint={t('ut.nameHint')} error={err.name}>
          <input {...described('ut-name', err.name, true)} autocomplete="off" value={form.name} onInput={set('name')} />
        </Field>
        <Field id="ut-base-url" label={t('ut.baseUrl')} hint={t('ut.baseUrlHint')} error={err.baseUrl}>
          <input
            {...described('ut-base-url', err.baseUrl, true)}
            type="url"
            autocomplete="off"
            spellcheck={false}
            value={form.baseUrl}
            onInput={set('baseUrl')}
          />
        </Field>
        <Field id="ut-client-id" label={t('ut.clientId')} error={err.clientId}>
          <input {...described('ut-client-id', err.clientId)} autocomplete="off" spellcheck={false} value={form.clientId} onInput={set('clientId')} />
        </Field>
        <Field
          id="ut-client-secret"
          label={t('ut.clientSecret')}
          hint={t(editing?.hasSecret ? 'ut.secretHintStored' : 'ut.secretHintNew')}
          error={err.clientSecret}
        >
          <input
            {...described('ut-client-secret', err.clientSecret, true)}
            type="password"
            autocomplete="new-password"
            spellcheck={false}
            value={form.clientSecret}
            onInput={set('clientSecret')}
          />
        </Field>
        <div class="checkbox">
          <input
            type="checkbox"
            id="ut-enabled"
            checked={form.enabled}
            onChange={(e) => setForm({ ...form, enabled: (e.target as HTMLInputElement).checked })}
          />
          <label for="ut-enabled">{t('ut.enabled')}</label>
        </div>
        <Field id="ut-collect-hour" label={t('ut.collectHour')} hint={t('ut.collectHourHint')} error={err.collectHour}>
          <input
            {...described('ut-collect-hour', err.collectHour, true)}
            inputMode="numeric"
            autocomplete="off"
            value={form.collectHour}
            onInput={set('collectHour')}
          />
        </Field>
        <Field id="ut-lookback" label={t('ut.lookbackDays')} hint={t('ut.lookbackDaysHint')} error={err.lookbackDays}>
          <input
            {...described('ut-lookback', err.lookbackDays, true)}
            inputMode="numeric"
            autocomplete="off"
            value={form.lookbackDays}
            onInput={set('lookbackDays')}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('ut.saving') : editing ? t('ut.save') : t('ut.create')}
          </button>
          {editing && (
            <button type="button" class="secondary" onClick={onCancel}>
              {t('ut.cancelEdit')}
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
