/**
 * The forms of the operators' open data page (open-data-admin.tsx): the publishing body the
 * catalogue names, and a point to publish. The hub's refusals are shown at their fields.
 */
import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useI18n } from '../i18n.js';
import { openDataApi, type Publisher } from '../open-data.js';
import { described, Field, fieldErrors, GeneralErrors, NO_ERRORS, type FieldErrors } from '../ui/form.js';

/** An outcome said in words. */
export interface Outcome {
  ok: boolean;
  text: string;
}

export const errorText = (e: unknown) => (e instanceof ApiError ? e.message : String(e));

/**
 * A refusal with its problems one per line: the open data's routes write `body: a: …; b: …`,
 * which fieldErrors then sorts onto the fields.
 */
function perLine(error: ApiError): ApiError {
  const lines = error.message.replace(/^body: /, '').split(/; (?=[\w.[\]]+: )/);
  return new ApiError(error.status, lines.join('\n'), error.code, error.issues, error.body);
}

const PUBLISHER_FIELDS = ['publisher', 'homepage', 'contactEmail', 'inseeCode'] as const;
type PublisherField = (typeof PUBLISHER_FIELDS)[number];

/** The publishing body's form; `onSaved` is called once the hub holds it. */
export function PublisherForm({ publisher, onSaved }: { publisher: Publisher; onSaved: () => void }) {
  const { t } = useI18n();
  const [form, setForm] = useState<Record<PublisherField, string>>({
    publisher: publisher.publisher,
    homepage: publisher.homepage ?? '',
    contactEmail: publisher.contactEmail ?? '',
    inseeCode: publisher.inseeCode ?? '',
  });
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [sending, setSending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const set = (field: PublisherField) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });

  const submit = async (event: Event) => {
    event.preventDefault();
    setOutcome(undefined);
    const missing: Record<string, string> = {};
    for (const field of ['publisher', 'contactEmail'] as const) if (!form[field].trim()) missing[field] = t('oda.required');
    if (Object.keys(missing).length) {
      setErrors({ byField: missing, general: [] });
      return;
    }
    setSending(true);
    try {
      await openDataApi.setPublisher({
        publisher: form.publisher.trim(),
        homepage: form.homepage.trim() || null,
        contactEmail: form.contactEmail.trim(),
        inseeCode: form.inseeCode.trim() || null,
      });
      setErrors(NO_ERRORS);
      setOutcome({ ok: true, text: t('oda.publisherSaved') });
      onSaved();
    } catch (e) {
      setErrors(e instanceof ApiError ? fieldErrors(perLine(e), PUBLISHER_FIELDS) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const err = errors.byField;
  return (
    <section aria-labelledby="oda-publisher" class="panel">
      <h2 id="oda-publisher">{t('oda.publisher')}</h2>
      <p class="hint">{t('oda.publisherHint')}</p>
      <div role="status" aria-live="polite">
        {outcome && <p class="notice notice-ok">{outcome.text}</p>}
      </div>
      <GeneralErrors errors={errors.general} title={t('oda.refused')} />
      <form class="form narrow" onSubmit={submit} noValidate>
        <Field id="oda-publisher-name" label={t('oda.publisherName')} hint={t('oda.publisherNameHint')} error={err.publisher}>
          <input {...described('oda-publisher-name', err.publisher, true)} autocomplete="organization" value={form.publisher} onInput={set('publisher')} />
        </Field>
        <Field id="oda-homepage" label={t('oda.homepage')} hint={t('oda.homepageHint')} error={err.homepage}>
          <input
            {...described('oda-homepage', err.homepage, true)}
            type="url"
            autocomplete="url"
            spellcheck={false}
            value={form.homepage}
            onInput={set('homepage')}
          />
        </Field>
        <Field id="oda-contact" label={t('oda.contactEmail')} error={err.contactEmail}>
          <input
            {...described('oda-contact', err.contactEmail)}
            type="email"
            autocomplete="email"
            spellcheck={false}
            value={form.contactEmail}
            onInput={set('contactEmail')}
          />
        </Field>
        <Field id="oda-insee" label={t('oda.inseeCode')} hint={t('oda.inseeCodeHint')} error={err.inseeCode}>
          <input {...described('oda-insee', err.inseeCode, true)} autocomplete="off" spellcheck={false} value={form.inseeCode} onInput={set('inseeCode')} />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('oda.saving') : t('oda.publisherSave')}
          </button>
        </div>
      </form>
    </section>
  );
}

const POINT_FIELDS = ['gateway', 'point'] as const;

/** A point to publish, by its gateway and its key; `onPublished` is told whether that changed anything. */
export function PointForm({ onPublished }: { onPublished: (gateway: string, point: string, changed: boolean) => void }) {
  const { t } = useI18n();
  const [form, setForm] = useState({ gateway: '', point: '' });
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [sending, setSending] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const gateway = form.gateway.trim();
    const point = form.point.trim();
    const missing: Record<string, string> = {};
    if (!gateway) missing.gateway = t('oda.required');
    if (!point) missing.point = t('oda.required');
    if (Object.keys(missing).length) {
      setErrors({ byField: missing, general: [] });
      return;
    }
    setSending(true);
    try {
      const { changed } = await openDataApi.setPoint(gateway, point, true);
      setErrors(NO_ERRORS);
      setForm({ gateway: '', point: '' });
      onPublished(gateway, point, changed);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'NO_SUCH_POINT') setErrors({ byField: { point: e.message }, general: [] });
      else setErrors(e instanceof ApiError ? fieldErrors(perLine(e), POINT_FIELDS) : { byField: {}, general: [String(e)] });
    } finally {
      setSending(false);
    }
  };

  const err = errors.byField;
  return (
    <div class="panel">
      <h3 id="oda-add-point" class="panel-title">
        {t('oda.addPoint')}
      </h3>
      <GeneralErrors errors={errors.general} title={t('oda.refused')} />
      <form class="form narrow" aria-labelledby="oda-add-point" onSubmit={submit} noValidate>
        <Field id="oda-gateway" label={t('oda.gateway')} hint={t('oda.gatewayHint')} error={err.gateway}>
          <input
            {...described('oda-gateway', err.gateway, true)}
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            value={form.gateway}
            onInput={(e) => setForm({ ...form, gateway: (e.target as HTMLInputElement).value })}
          />
        </Field>
        <Field id="oda-point" label={t('oda.point')} hint={t('oda.pointHint')} error={err.point}>
          <input
            {...described('oda-point', err.point, true)}
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            value={form.point}
            onInput={(e) => setForm({ ...form, point: (e.target as HTMLInputElement).value })}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {t('oda.publish')}
          </button>
        </div>
      </form>
    </div>
  );
}
