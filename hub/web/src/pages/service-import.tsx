/**
 * A CSV file of service data, imported into a source (POST /api/service-data/import): the good
 * rows are stored, the bad ones listed by row and column with the hub's message. A source with no
 * saved file format is read in the long format period;scope;metric;value, which the page says.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, withQuery } from '../api.js';
import { useI18n } from '../i18n.js';
import { described, Field, GeneralErrors } from '../ui/form.js';
import type { ServiceSource } from './service-types.js';

/** The format of a source without a saved one: one value per row. */
export const DEFAULT_MAPPING = { period: 'period', scopeColumn: 'scope', metricColumn: 'metric', valueColumn: 'value' };

interface ImportSummary {
  source: string;
  file: string;
  rows: number;
  stored: number;
  superseded: number;
  unchanged: number;
  rowsInError: number;
  errorCount: number;
  errors: { row: number; column?: string; message: string }[];
}

export function CsvImport({ sources, onWritten }: { sources: ServiceSource[]; onWritten: () => void }) {
  const { t } = useI18n();
  const [source, setSource] = useState(sources[0]?.key ?? '');
  const [file, setFile] = useState<File | undefined>(undefined);
  const [fileError, setFileError] = useState<string | undefined>(undefined);
  const [refused, setRefused] = useState<string[]>([]);
  const [sending, setSending] = useState(false);
  const [summary, setSummary] = useState<ImportSummary | undefined>(undefined);
  const chosen = sources.find((s) => s.key === source);

  const submit = async (event: Event) => {
    event.preventDefault();
    setSummary(undefined);
    setRefused([]);
    if (!file) {
      setFileError(t('sd.fileMissing'));
      return;
    }
    setFileError(undefined);
    setSending(true);
    try {
      const path = withQuery('/api/service-data/import', {
        source,
        file: file.name.slice(0, 255) || undefined,
        mapping: chosen?.mapping ? undefined : JSON.stringify(DEFAULT_MAPPING),
      });
      const answer = await api.post<ImportSummary>(path, file, { headers: { 'content-type': 'text/csv' } });
      setSummary(answer);
      if (answer.stored > 0) onWritten();
    } catch (e) {
      if (e instanceof ApiError) {
        const messages = e.issues.length ? e.issues.map((i) => (i.path && i.path !== 'body' ? `${i.path}: ${i.message}` : i.message)) : [e.message];
        if (e.status === 413 || e.issues.some((i) => i.path === 'body')) setFileError(messages.join(' '));
        else setRefused(messages);
      } else setRefused([String(e)]);
    } finally {
      setSending(false);
    }
  };

  return (
    <section aria-labelledby="sd-import" class="panel">
      <h2 id="sd-import">{t('sd.importTitle')}</h2>
      <GeneralErrors errors={refused} title={t('sd.importRefused')} />
      <form onSubmit={submit} noValidate>
        <Field id="sd-import-source" label={t('sd.source')} error={undefined}>
          <select id="sd-import-source" value={source} onChange={(e) => setSource((e.target as HTMLSelectElement).value)}>
            {sources.map((s) => (
              <option value={s.key}>{s.name}</option>
            ))}
          </select>
        </Field>
        <p class="hint">{chosen?.mapping ? t('sd.formatSaved') : t('sd.formatDefault')}</p>
        <Field id="sd-file" label={t('sd.file')} hint={t('sd.fileHint')} error={fileError}>
          <input
            {...described('sd-file', fileError, true)}
            type="file"
            accept=".csv,text/csv"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0])}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" disabled={sending}>
            {sending ? t('sd.importing') : t('sd.import')}
          </button>
        </div>
      </form>
      <div role="status">{summary && <ImportResult summary={summary} />}</div>
    </section>
  );
}

function ImportResult({ summary }: { summary: ImportSummary }) {
  const { t } = useI18n();
  return (
    <div class={`notice ${summary.rowsInError ? 'notice-error' : 'notice-ok'}`} data-import-summary>
      <p data-stored={summary.stored}>
        {t('sd.imported', { rows: summary.rows, stored: summary.stored, superseded: summary.superseded, unchanged: summary.unchanged })}
      </p>
      {summary.rowsInError > 0 && (
        <>
          <p>{t('sd.importErrors', { rowsInError: summary.rowsInError, errorCount: summary.errorCount })}</p>
          {summary.errorCount > summary.errors.length && <p>{t('sd.importErrorsMore', { shown: summary.errors.length })}</p>}
          <div class="table-wrap">
            <table data-import-errors>
              <caption>{t('sd.errorsCaption')}</caption>
              <thead>
                <tr>
                  <th scope="col" class="n">
                    {t('sd.row')}
                  </th>
                  <th scope="col">{t('sd.column')}</th>
                  <th scope="col">{t('sd.problem')}</th>
                </tr>
              </thead>
              <tbody>
                {summary.errors.map((e) => (
                  <tr data-row={e.row}>
                    <th scope="row" class="n">
                      {e.row}
                    </th>
                    <td>{e.column ?? t('common.none')}</td>
                    <td>{e.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
