/**
 * The delivery points of the utility meters page: each PRM or PCE with the building it measures,
 * its connector (or files only), its first day, the last day with a reading, the days missing
 * and its last error; a form to link a new one to a building or change one, and its removal
 * (its readings stay with the building). PUT and DELETE /api/utility/delivery-points/:utility/:id.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { described, Field, fieldErrors, GeneralErrors, NO_ERRORS, type FieldErrors } from '../ui/form.js';
import type { CatalogBuilding } from './scopes.js';
import { DELIVERY_POINT_PATTERN, energyOfUtility, UTILITY_ENERGIES, type ConnectorState, type DeliveryPointState, type Utility } from './utility-types.js';

const UTILITIES: Utility[] = ['enedis', 'grdf', 'other'];
const FIELDS = ['utility', 'id', 'energy', 'building', 'connector', 'loadCurve', 'since', 'consentUntil'] as const;

export function DeliveryPoints({
  points,
  connectors,
  buildings,
  onChanged,
}: {
  points: DeliveryPointState[];
  connectors: ConnectorState[];
  buildings: CatalogBuilding[];
  onChanged: () => void;
}) {
  const { t, day, num, lang } = useI18n();
  const [editing, setEditing] = useState<DeliveryPointState | undefined>(undefined);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const buildingName = (key: string) => buildings.find((b) => b.id === key)?.name ?? key;
  const connectorName = (key: string | null) => (key ? (connectors.find((c) => c.key === key)?.name ?? key) : t('ut.filesOnly'));
  const sorted = [...points].sort(
    (a, b) => buildingName(a.building).localeCompare(buildingName(b.building), lang) || a.utility.localeCompare(b.utility) || a.id.localeCompare(b.id),
  );

  // Back from Enedis's consent page: the hub sent the customer here saying how it went.
  useEffect(() => {
    const query = new URLSearchParams(window.location.search);
    const outcome = query.get('consentement');
    if (outcome === 'ok') setMessage({ ok: true, text: t('ut.consentGiven', { id: query.get('pdl') ?? '', day: day(query.get('jusqu-au')) }) });
    else if (outcome === 'refuse') setMessage({ ok: false, text: t('ut.consentRefused', { reason: query.get('raison') ?? '' }) });
  }, []);
  const [consentLink, setConsentLink] = useState<{ id: string; url: string } | undefined>(undefined);

  const askConsent = async (p: DeliveryPointState) => {
    setMessage(undefined);
    setConsentLink(undefined);
    try {
      const asked = await api.post<{ url: string }>(`/api/utility/connectors/${encodeURIComponent(p.connector!)}/consents`, { deliveryPoint: p.id });
      setConsentLink({ id: p.id, url: asked.url });
    } catch (e) {
      setMessage({ ok: false, text: t('ut.consentFailed', { error: e instanceof ApiError ? e.message : String(e) }) });
    }
  };

  const remove = async (p: DeliveryPointState) => {
    if (!window.confirm(t('ut.pointRemoveConfirm', { id: p.id }))) return;
    setMessage(undefined);
    try {
      await api.delete(`/api/utility/delivery-points/${encodeURIComponent(p.utility)}/${encodeURIComponent(p.id)}`);
      setMessage({ ok: true, text: t('ut.pointRemoved', { id: p.id }) });
      if (editing?.utility === p.utility && editing.id === p.id) setEditing(undefined);
      onChanged();
    } catch (e) {
      setMessage({ ok: false, text: t('ut.removeFailed', { error: e instanceof ApiError ? e.message : String(e) }) });
    }
  };

  return (
    <section aria-labelledby="ut-points">
      <h2 id="ut-points">{t('ut.points')}</h2>
      <p>{t('ut.pointsIntro')}</p>
      <div role="status">
        {message && <p class={`notice ${message.ok ? 'notice-ok' : 'notice-error'}`}>{message.text}</p>}
        {consentLink && (
          <p class="notice notice-ok" data-consent-link>
            {t('ut.consentAsked', { id: consentLink.id })}{' '}
            <a href={consentLink.url} rel="noopener">
              {t('ut.consentOpen')}
            </a>
          </p>
        )}
      </div>
      {!sorted.length && <p>{t('ut.noPoints')}</p>}
      {sorted.length > 0 && (
        <div class="table-wrap">
          <table data-delivery-points>
            <caption>{t('ut.pointsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ut.point')}</th>
                <th scope="col">{t('ut.building')}</th>
                <th scope="col">{t('ut.energy')}</th>
                <th scope="col">{t('ut.pointConnector')}</th>
                <th scope="col">{t('ut.since')}</th>
                <th scope="col">{t('ut.lastDay')}</th>
                <th scope="col" class="n">
                  {t('ut.daysMissing')}
                </th>
                <th scope="col">{t('ut.lastError')}</th>
                <th scope="col" class="no-print">
                  {t('ut.actions')}
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((p) => (
                <tr data-delivery-point={`${p.utility}/${p.id}`}>
                  <th scope="row">
                    {t(`ut.pointName.${p.utility}` as MessageKey, { id: p.id })}
                    {p.loadCurve && <span class="hint cell-line">{t('ut.withLoadCurve')}</span>}
                    {p.consentUntil && <span class="hint cell-line">{t('ut.consentUntil', { day: day(p.consentUntil) })}</span>}
                  </th>
                  <td data-building={p.building}>
                    <a href={`/batiments/${encodeURIComponent(p.building)}`}>{buildingName(p.building)}</a>
                  </td>
                  <td>{t(`energy.${p.energy}` as MessageKey)}</td>
                  <td>{connectorName(p.connector)}</td>
                  <td>{day(p.since)}</td>
                  <td data-last-day={p.lastDay ?? ''}>{day(p.lastDay)}</td>
                  <td class="n" data-days-missing={p.daysMissing}>
                    {num(p.daysMissing, undefined, 0)}
                  </td>
                  <td>{p.lastError ?? t('ut.noError')}</td>
                  <td class="actions no-print">
                    <button type="button" class="secondary small" aria-label={t('ut.pointEditLabel', { id: p.id })} onClick={() => setEditing(p)}>
                      {t('ut.edit')}
                    </button>
                    {p.utility === 'enedis' && p.connector && (
                      <button type="button" class="secondary small" aria-label={t('ut.consentLabel', { id: p.id })} onClick={() => askConsent(p)}>
                        {t('ut.consent')}
                      </button>
                    )}
                    <button type="button" class="secondary small" aria-label={t('ut.pointRemoveLabel', { id: p.id })} onClick={() => remove(p)}>
                      {t('ut.pointRemove')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <DeliveryPointForm
        key={editing ? `${editing.utility}/${editing.id}` : '(new)'}
        editing={editing}
        connectors={connectors}
        buildings={buildings}
        onSaved={(p) => {
          setEditing(undefined);
          setMessage({ ok: true, text: t('ut.pointSaved', { id: p.id, building: buildingName(p.building) }) });
          onChanged();
        }}
        onCancel={() => setEditing(undefined)}
      />
    </section>
  );
}

interface PointForm {
  utility: Utility;
  id: string;
  energy: string;
  building: string;
  /** '' for none: fed by files only. */
  connector: string;
  loadCurve: boolean;
  since: string;
  consentUntil: string;
}

function formOf(p: DeliveryPointState | undefined, connectors: ConnectorState[]): PointForm {
  if (p) {
    return {
      utility: p.utility,
      id: p.id,
      energy: p.energy,
      building: p.building,
      connector: p.connector ?? '',
      loadCurve: p.loadCurve,
      since: p.since,
      consentUntil: p.consentUntil ?? '',
    };
  }
  return {
    utility: 'enedis',
    id: '',
    energy: 'elec',
    building: '',
    connector: firstConnector(connectors, 'enedis'),
    loadCurve: false,
    since: '',
    consentUntil: '',
  };
}

/** The first connector reading `utility`'s delivery points, or '' (files only). */
function firstConnector(connectors: ConnectorState[], utility: Utility): string {
  return connectors.find((c) => c.kind === utility)?.key ?? '';
}

/** A delivery point linked to a building, new or changed; its utility and id are its address and do not change. */
function DeliveryPointForm({
  editing,
  connectors,
  buildings,
  onSaved,
  onCancel,
}: {
  editing: DeliveryPointState | undefined;
  connectors: ConnectorState[];
  buildings: CatalogBuilding[];
  onSaved: (p: DeliveryPointState) => void;
  onCancel: () => void;
}) {
  const { t, lang } = useI18n();
  const [form, setForm] = useState<PointForm>(() => formOf(editing, connectors));
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [sending, setSending] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (editing) formRef.current?.focus();
  }, []);
  const set = (field: keyof PointForm) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });
  const fixedEnergy = energyOfUtility(form.utility);
  const eligible = connectors.filter((c) => c.kind === form.utility);
  const sortedBuildings = [...buildings].sort((a, b) => a.name.localeCompare(b.name, lang));

  const check = (): FieldErrors['byField'] => {
    const byField: FieldErrors['byField'] = {};
    const id = form.id.trim();
    if (form.utility === 'enedis' && !/^\d{14}$/.test(id)) byField.id = t('ut.prmInvalid');
    else if (!DELIVERY_POINT_PATTERN.test(id)) byField.id = t('ut.pointIdInvalid');
    if (!form.building) byField.building = t('ut.chooseBuilding');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(form.since)) byField.since = t('ut.sinceMissing');
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
    const energy = fixedEnergy ?? form.energy;
    const id = form.id.trim();
    try {
      const saved = await api.put<DeliveryPointState>(`/api/utility/delivery-points/${encodeURIComponent(form.utility)}/${encodeURIComponent(id)}`, {
        energy,
        building: form.building,
        connector: form.utility === 'other' ? null : form.connector || null,
        loadCurve: form.utility === 'enedis' && form.loadCurve,
        since: form.since,
        consentUntil: form.consentUntil || null,
      });
      setErrors(NO_ERRORS);
      setForm(formOf(undefined, connectors));
      onSaved(saved);
    } catch (e) {
      setErrors(e instanceof ApiError ? fieldErrors(e, FIELDS) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const err = errors.byField;
  return (
    <section aria-labelledby="ut-point-form" class="panel no-print">
      <h3 id="ut-point-form">{editing ? t('ut.pointFormEdit', { id: editing.id }) : t('ut.pointFormNew')}</h3>
      <GeneralErrors errors={errors.general} title={t('ut.pointRefused')} />
      <form ref={formRef} id="ut-point" tabIndex={-1} class="form narrow" onSubmit={submit} noValidate>
        {editing ? (
          <p>{t(`ut.pointName.${editing.utility}` as MessageKey, { id: editing.id })}</p>
        ) : (
          <>
            <Field id="ut-point-utility" label={t('ut.utility')} hint={t('ut.energyOf')} error={err.utility}>
              <select
                {...described('ut-point-utility', err.utility, true)}
                value={form.utility}
                onChange={(e) => {
                  const utility = (e.target as HTMLSelectElement).value as Utility;
                  setForm({ ...form, utility, energy: energyOfUtility(utility) ?? form.energy, connector: firstConnector(connectors, utility) });
                }}
              >
                {UTILITIES.map((u) => (
                  <option value={u}>{t(`ut.utility.${u}` as MessageKey)}</option>
                ))}
              </select>
            </Field>
            <Field
              id="ut-point-id"
              label={t(`ut.pointId.${form.utility}` as MessageKey)}
              hint={t(`ut.pointIdHint.${form.utility}` as MessageKey)}
              error={err.id}
            >
              <input
                {...described('ut-point-id', err.id, true)}
                inputMode={form.utility === 'enedis' ? 'numeric' : undefined}
                autocomplete="off"
                spellcheck={false}
                value={form.id}
                onInput={set('id')}
              />
            </Field>
          </>
        )}
        {!fixedEnergy && (
          <Field id="ut-point-energy" label={t('ut.energy')} error={err.energy}>
            <select {...described('ut-point-energy', err.energy)} value={form.energy} onChange={set('energy')}>
              {UTILITY_ENERGIES.map((e) => (
                <option value={e}>{t(`energy.${e}` as MessageKey)}</option>
              ))}
            </select>
          </Field>
        )}
        <Field id="ut-point-building" label={t('ut.building')} error={err.building}>
          <select {...described('ut-point-building', err.building)} value={form.building} onChange={set('building')}>
            <option value="">{t('ut.chooseBuilding')}</option>
            {sortedBuildings.map((b) => (
              <option value={b.id}>{b.name}</option>
            ))}
          </select>
        </Field>
        {form.utility !== 'other' && (
          <Field id="ut-point-connector" label={t('ut.pointConnector')} hint={t('ut.pointConnectorHint')} error={err.connector}>
            <select {...described('ut-point-connector', err.connector, true)} value={form.connector} onChange={set('connector')}>
              <option value="">{t('ut.noConnectorOption')}</option>
              {eligible.map((c) => (
                <option value={c.key}>{c.name}</option>
              ))}
            </select>
          </Field>
        )}
        {(fixedEnergy ?? form.energy) === 'elec' && form.utility === 'enedis' && (
          <div class="checkbox">
            <input
              type="checkbox"
              id="ut-point-load-curve"
              checked={form.loadCurve}
              onChange={(e) => setForm({ ...form, loadCurve: (e.target as HTMLInputElement).checked })}
            />
            <label for="ut-point-load-curve">{t('ut.loadCurve')}</label>
          </div>
        )}
        <Field id="ut-point-since" label={t('ut.sinceField')} hint={t('ut.sinceHint')} error={err.since}>
          <input {...described('ut-point-since', err.since, true)} type="date" value={form.since} onInput={set('since')} />
        </Field>
        <Field id="ut-point-consent" label={t('ut.consentField')} hint={t('ut.consentHint')} error={err.consentUntil}>
          <input {...described('ut-point-consent', err.consentUntil, true)} type="date" value={form.consentUntil} onInput={set('consentUntil')} />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('ut.saving') : editing ? t('ut.pointSave') : t('ut.pointCreate')}
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
