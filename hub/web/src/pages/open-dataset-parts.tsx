/**
 * Parts of a dataset's page (open-dataset.tsx): its columns as a table, its downloads, and how to
 * query it with `curl` at the page's own address.
 */
import { useState } from 'preact/hooks';
import { useI18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { curlExamples, FIELD_TYPES, type OpenDataset } from '../open-data.js';
import { OutcomeNotice } from '../ui/form.js';

/** The columns: name and title, type in words, unit, description in the page's language, whether always filled. */
export function SchemaTable({ dataset }: { dataset: OpenDataset }) {
  const { t, lang } = useI18n();
  return (
    <section aria-labelledby="od-schema">
      <h2 id="od-schema">{t('od.schema')}</h2>
      <div class="table-wrap" role="region" aria-labelledby="od-schema-caption" tabIndex={0}>
        <table class="schema-table">
          <caption id="od-schema-caption">{t('od.schemaCaption', { title: dataset.title[lang] })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('od.column')}</th>
              <th scope="col">{t('od.type')}</th>
              <th scope="col">{t('od.unit')}</th>
              <th scope="col">{t('od.description')}</th>
              <th scope="col">{t('od.required')}</th>
            </tr>
          </thead>
          <tbody>
            {dataset.fields.map((f) => (
              <tr data-field={f.name}>
                <th scope="row">
                  <code>{f.name}</code>
                  <span class="cell-line">{f.title[lang]}</span>
                </th>
                <td>{(FIELD_TYPES as readonly string[]).includes(f.type) ? t(`od.type.${f.type}` as MessageKey) : f.type}</td>
                <td>{f.unit ?? t('common.none')}</td>
                <td>
                  {f.description[lang]}
                  {f.enum && <span class="cell-line">{t('od.values', { values: f.enum.join(', ') })}</span>}
                </td>
                <td>{f.required ? t('od.yes') : t('od.no')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The whole dataset as CSV and JSON, and its Table Schema in the page's language: links the browser downloads. */
export function Downloads({ dataset }: { dataset: OpenDataset }) {
  const { t, lang } = useI18n();
  const schema = `${dataset.urls.schema}?lang=${lang}`;
  return (
    <section aria-labelledby="od-downloads">
      <h2 id="od-downloads">{t('od.downloads')}</h2>
      <ul class="downloads">
        <li>
          <a href={dataset.urls.csv} download={`${dataset.id}.csv`} type="text/csv" data-download="csv">
            {t('od.downloadCsv')}
          </a>
        </li>
        <li>
          <a href={dataset.urls.json} download={`${dataset.id}.json`} type="application/json" data-download="json">
            {t('od.downloadJson')}
          </a>
        </li>
        <li>
          <a href={schema} download={`${dataset.id}.schema.json`} type="application/json" data-download="schema">
            {t('od.downloadSchema')}
          </a>
        </li>
      </ul>
      <p class="hint">{t('od.downloadsHint')}</p>
    </section>
  );
}

/** `curl` lines with the page's own origin, each with a button that copies it; then the filters, sort and cursor in one sentence. */
export function ApiExamples({ dataset }: { dataset: OpenDataset }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const examples = curlExamples(dataset, location.origin);
  const lines: { id: string; what: string; command: string }[] = [
    { id: 'page', what: t('od.apiPage'), command: examples.page },
    { id: 'csv', what: t('od.apiCsv'), command: examples.csv },
  ];
  const copy = async (command: string) => {
    setCopied(undefined);
    try {
      await navigator.clipboard.writeText(command);
      setCopied({ ok: true, text: t('od.copied') });
    } catch {
      setCopied({ ok: false, text: t('od.copyFailed') });
    }
  };
  return (
    <section aria-labelledby="od-api">
      <h2 id="od-api">{t('od.api')}</h2>
      <p>{t('od.apiText')}</p>
      {lines.map((line) => (
        <figure class="command" data-example={line.id}>
          <figcaption>{line.what}</figcaption>
          <div class="command-line">
            <pre>
              <code>{line.command}</code>
            </pre>
            <button type="button" class="secondary small no-print" aria-label={t('od.copyLabel', { what: line.what })} onClick={() => copy(line.command)}>
              {t('od.copy')}
            </button>
          </div>
        </figure>
      ))}
      <OutcomeNotice outcome={copied} />
      <p>
        <a href="/api/openapi.json" type="application/json">
          {t('od.openapi')}
        </a>
      </p>
    </section>
  );
}
