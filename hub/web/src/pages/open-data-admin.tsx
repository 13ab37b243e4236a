/**
 * The operators' open data (`/gestion/donnees-ouvertes`): each dataset published or withdrawn,
 * with its licence, saved one by one (PUT /api/open-data/datasets/:id); the body the DCAT-AP
 * catalogue names (PUT /api/open-data/publisher); the points whose hourly readings are published,
 * each withdrawn by a button, and a form to publish one (PUT /api/open-data/points). Every outcome
 * is said in words in a live region. Like the other /gestion pages, it waits for the session and
 * lets the hub decide: a citizen or a person of another role is told to sign in (401, 403).
 */
import { useState } from 'preact/hooks';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { LICENCE_IDS, openDataApi, type DatasetSwitch, type LicenceId, type PublishedPoint } from '../open-data.js';
import { useSession } from '../session.js';
import { StateBadge } from '../ui/status.js';
import { LoadError, Loading, useLoad, View, type Loaded } from '../ui/view.js';
import { errorText, PointForm, PublisherForm, type Outcome } from './open-data-forms.js';
import { OutcomeNotice } from '../ui/form.js';

/** The dataset the published points make. */
const POINTS_DATASET = 'point-hourly';

export function OpenDataAdmin() {
  const { t } = useI18n();
  const session = useSession();
  const who = session.user?.username;
  const settings = useLoad(() => openDataApi.settings(), [who], session.known);
  const points = useLoad(() => openDataApi.points(), [who], session.known);
  const busy = !session.known || [settings, points].some((l) => l.loading && !l.data && !l.error);
  const failed = settings.error ?? points.error;
  const pointsTitle = settings.data?.datasets.find((d) => d.id === POINTS_DATASET)?.title;
  return (
    <View name="open-data-admin" busy={busy} title={t('oda.title')}>
      <h1>{t('oda.title')}</h1>
      <p class="lead">{t('oda.intro')}</p>
      <p class="no-print">
        <a href="/donnees">{t('oda.publicPage')}</a>
      </p>
      {failed && <LoadError error={failed} retry={() => [settings, points].forEach((l) => l.error && l.reload())} />}
      {busy && <Loading />}
      {settings.data && <DatasetSwitches datasets={settings.data.datasets} settings={settings} />}
      {settings.data && <PublisherForm publisher={settings.data.publisher} onSaved={settings.reload} />}
      {points.data && <PublishedPoints points={points} datasetTitle={pointsTitle} />}
    </View>
  );
}

interface Draft {
  enabled: boolean;
  licence: LicenceId;
}

/** The datasets, each with its switch and licence as changed on the page, and a button that saves them. */
function DatasetSwitches({ datasets, settings }: { datasets: DatasetSwitch[]; settings: Loaded<unknown> }) {
  const { t, lang, dateTime } = useI18n();
  const [drafts, setDrafts] = useState<Record<string, Draft>>({});
  const [saving, setSaving] = useState<string | undefined>(undefined);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);

  const save = async (d: DatasetSwitch, draft: Draft) => {
    const title = d.title[lang];
    setSaving(d.id);
    setOutcome(undefined);
    try {
      await openDataApi.setDataset(d.id, draft);
      const licence = t(`oda.licence.${draft.licence}` as MessageKey);
      setOutcome({ ok: true, text: draft.enabled ? t('oda.datasetOn', { title, licence }) : t('oda.datasetOff', { title }) });
      // The row shows what the hub now holds.
      setDrafts(({ [d.id]: _saved, ...others }) => others);
      settings.reload();
    } catch (e) {
      setOutcome({ ok: false, text: t('oda.datasetFailed', { title, error: errorText(e) }) });
    } finally {
      setSaving(undefined);
    }
  };

  return (
    <section aria-labelledby="oda-datasets">
      <h2 id="oda-datasets">{t('oda.datasets')}</h2>
      <OutcomeNotice outcome={outcome} />
      <div class="table-wrap">
        <table>
          <caption>{t('oda.datasetsCaption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('oda.dataset')}</th>
              <th scope="col">{t('oda.state')}</th>
              <th scope="col">{t('oda.published')}</th>
              <th scope="col">{t('oda.licence')}</th>
              <th scope="col">{t('oda.changed')}</th>
              <th scope="col">
                <span class="visually-hidden">{t('oda.save')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {datasets.map((d) => {
              const title = d.title[lang];
              const draft = drafts[d.id] ?? { enabled: d.enabled, licence: d.licence };
              const changed = draft.enabled !== d.enabled || draft.licence !== d.licence;
              const set = (change: Partial<Draft>) => setDrafts((all) => ({ ...all, [d.id]: { ...draft, ...change } }));
              return (
                <tr data-dataset={d.id} data-enabled={d.enabled ? 'true' : 'false'}>
                  <th scope="row">
                    {d.enabled ? <a href={`/donnees/${encodeURIComponent(d.id)}`}>{title}</a> : title}
                    <span class="cell-line">
                      <code>{d.id}</code>
                    </span>
                  </th>
                  <td>
                    {d.enabled ? (
                      <StateBadge tone="green" icon="✓" text={t('common.published')} state="published" />
                    ) : (
                      <StateBadge tone="unknown" icon="–" text={t('common.unpublished')} state="withdrawn" />
                    )}
                    {changed && <span class="cell-line hint">{t('oda.unsaved')}</span>}
                  </td>
                  <td>
                    <div class="checkbox">
                      <input
                        type="checkbox"
                        id={`oda-on-${d.id}`}
                        checked={draft.enabled}
                        onChange={(e) => set({ enabled: (e.target as HTMLInputElement).checked })}
                      />
                      <label for={`oda-on-${d.id}`}>
                        {t('oda.published')}
                        <span class="visually-hidden"> — {title}</span>
                      </label>
                    </div>
                  </td>
                  <td>
                    <select
                      aria-label={t('oda.licenceLabel', { title })}
                      value={draft.licence}
                      onChange={(e) => set({ licence: (e.target as HTMLSelectElement).value as LicenceId })}
                    >
                      {LICENCE_IDS.map((l) => (
                        <option value={l}>{t(`oda.licence.${l}` as MessageKey)}</option>
                      ))}
                    </select>
                  </td>
                  <td>{d.updatedAt ? t('oda.changedBy', { when: dateTime(d.updatedAt), who: d.updatedBy ?? t('common.none') }) : t('oda.never')}</td>
                  <td>
                    <button
                      type="button"
                      class="small"
                      disabled={!changed || saving === d.id}
                      aria-label={t('oda.saveLabel', { title })}
                      onClick={() => save(d, draft)}
                    >
                      {saving === d.id ? t('oda.saving') : t('oda.save')}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The published points, each with its button to withdraw it, and the form that publishes one. */
function PublishedPoints({ points, datasetTitle }: { points: Loaded<PublishedPoint[]>; datasetTitle: { fr: string; en: string } | undefined }) {
  const { t, lang, dateTime } = useI18n();
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const [withdrawing, setWithdrawing] = useState<number | undefined>(undefined);
  const list = points.data ?? [];

  const withdraw = async (p: PublishedPoint) => {
    setWithdrawing(p.pointId);
    setOutcome(undefined);
    try {
      await openDataApi.setPoint(p.gateway, p.point, false);
      setOutcome({ ok: true, text: t('oda.withdrawn', { gateway: p.gateway, point: p.point }) });
      points.reload();
    } catch (e) {
      setOutcome({ ok: false, text: t('oda.withdrawFailed', { point: p.point, error: errorText(e) }) });
    } finally {
      setWithdrawing(undefined);
    }
  };

  return (
    <section aria-labelledby="oda-points">
      <h2 id="oda-points">{t('oda.points')}</h2>
      {datasetTitle && <p class="hint">{t('oda.pointsHint', { title: datasetTitle[lang] })}</p>}
      <OutcomeNotice outcome={outcome} />
      {!list.length && <p>{t('oda.pointsNone')}</p>}
      {list.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>{t('oda.pointsCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('oda.point')}</th>
                <th scope="col">{t('oda.gateway')}</th>
                <th scope="col">{t('oda.pointName')}</th>
                <th scope="col">{t('common.unit')}</th>
                <th scope="col">{t('oda.building')}</th>
                <th scope="col">{t('oda.publishedBy')}</th>
                <th scope="col">
                  <span class="visually-hidden">{t('oda.withdraw')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr data-point={`${p.gateway}/${p.point}`}>
                  <th scope="row">
                    <code>{p.point}</code>
                  </th>
                  <td>
                    <code>{p.gateway}</code>
                  </td>
                  <td>{p.name}</td>
                  <td>{p.unit ?? t('common.none')}</td>
                  <td>{p.building ?? t('common.none')}</td>
                  <td>{t('oda.changedBy', { when: dateTime(p.publishedAt), who: p.publishedBy })}</td>
                  <td>
                    <button
                      type="button"
                      class="secondary small"
                      disabled={withdrawing === p.pointId}
                      aria-label={t('oda.withdrawLabel', { gateway: p.gateway, point: p.point })}
                      onClick={() => withdraw(p)}
                    >
                      {t('oda.withdraw')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <PointForm
        onPublished={(gateway, point, changed) => {
          setOutcome({ ok: true, text: t(changed ? 'oda.pointPublished' : 'oda.pointAlready', { gateway, point }) });
          points.reload();
        }}
      />
    </section>
  );
}
