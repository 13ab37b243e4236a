/**
 * One published dataset (`/donnees/:id`), for anyone: its description, keywords and licence; a
 * preview of its rows, 20 at a time, in the order of its key, with a button to the next rows
 * (the cursor is in the URL, `?after=…&row=21`, so that the back button returns to the previous
 * rows and a link opens the same rows); its columns; its downloads; and how to query it with
 * `curl`. A dataset that is not published opens the not-found page (the hub answers 404).
 */
import { useLocation, useRoute } from 'preact-iso';
import { useEffect, useRef, useState } from 'preact/hooks';
import { withQuery } from '../api.js';
import { useI18n, type I18n } from '../i18n.js';
import { cursorOf, openDataApi, type OpenDataset, type OpenField, type RowsPage } from '../open-data.js';
import { NotFound } from '../ui/not-found.js';
import { LoadError, Loading, useLoad, View, type Loaded } from '../ui/view.js';
import { DatasetFacts } from './open-data.js';
import { ApiExamples, Downloads, SchemaTable } from './open-dataset-parts.js';

/** A cursor as the hub writes them (base64url), checked before it is sent. */
const CURSOR = /^[A-Za-z0-9_-]{1,2000}$/;

export function OpenDatasetPage() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const i18n = useI18n();
  const { t, lang } = i18n;
  const { query } = useLocation();
  const after = query.after && CURSOR.test(query.after) ? query.after : undefined;
  // The number of the first row, known when the buttons set it (a cursor alone does not tell it).
  const first = !after ? 1 : /^[1-9]\d{0,9}$/.test(query.row ?? '') ? Number(query.row) : undefined;
  const dataset = useLoad(() => openDataApi.dataset(id), [id]);
  // The rows load with the description; the number of their first row is kept with them.
  const rows = useLoad(() => openDataApi.rows(id, after).then((page) => ({ page, first, after })), [id, after, first]);
  if (dataset.error?.status === 404 || rows.error?.status === 404) return <NotFound />;
  const d = dataset.data;
  const title = d ? d.title[lang] : t('od.title');
  return (
    <View name="open-dataset" busy={dataset.loading || rows.loading} title={title}>
      <p class="no-print">
        <a href="/donnees">{t('od.back')}</a>
      </p>
      {dataset.error && <LoadError error={dataset.error} retry={dataset.reload} />}
      {!d && !dataset.error && <Loading />}
      {d && (
        <>
          <h1>{title}</h1>
          <p class="lead">{d.description[lang]}</p>
          <dl class="facts">
            <dt>{t('od.identifier')}</dt>
            <dd>
              <code>{d.id}</code>
            </dd>
            <dt>{t('od.keywords')}</dt>
            <dd>
              <ul class="keywords">
                {d.keywords[lang].map((k) => (
                  <li>{k}</li>
                ))}
              </ul>
            </dd>
          </dl>
          <DatasetFacts dataset={d} i18n={i18n} />
          <Preview dataset={d} rows={rows} />
          <SchemaTable dataset={d} />
          <Downloads dataset={d} />
          <ApiExamples dataset={d} />
        </>
      )}
    </View>
  );
}

/** A page of rows, the number of its first row (undefined when unknown) and the cursor it follows. */
interface PreviewPage {
  page: RowsPage;
  first: number | undefined;
  after: string | undefined;
}

/**
 * The preview: PREVIEW_ROWS rows from the URL's cursor (none: the first), with the button to the
 * next ones. The rows shown stay while the next ones load, so that the button keeps the focus.
 */
function Preview({ dataset, rows }: { dataset: OpenDataset; rows: Loaded<PreviewPage> }) {
  const i18n = useI18n();
  const { t, lang } = i18n;
  const { query, path, route } = useLocation();
  const [announce, setAnnounce] = useState('');
  const moved = useRef(false);
  const shown = rows.data?.page.rows ?? [];
  const first = rows.data?.first;
  const last = first === undefined ? undefined : first + shown.length - 1;
  const keyTitles = dataset.key.map((k) => dataset.fields.find((f) => f.name === k)?.title[lang] ?? k).join(', ');
  const range = (key: 'od.previewCaption' | 'od.shown') =>
    first === undefined || last === undefined
      ? t(key === 'od.shown' ? 'od.shownLater' : 'od.previewCaptionLater', { title: dataset.title[lang], count: shown.length, key: keyTitles })
      : t(key, { title: dataset.title[lang], from: first, to: last, key: keyTitles });
  // After a move by the buttons, say which rows are shown (politely): the table changed under the focus.
  useEffect(() => {
    if (!moved.current || rows.loading || !rows.data) return;
    moved.current = false;
    setAnnounce(range('od.shown'));
  }, [rows.data, rows.loading]);
  const go = (cursor: string | undefined, row: number | undefined) => {
    if (rows.loading) return;
    moved.current = true;
    setAnnounce('');
    route(withQuery(path, { ...query, after: cursor, row }));
  };
  const next = rows.data?.page.next;
  return (
    <section aria-labelledby="od-preview" class="preview" data-first-row={first}>
      <h2 id="od-preview">{t('od.preview')}</h2>
      {rows.error && <LoadError error={rows.error} retry={rows.reload} />}
      {rows.loading && !rows.data && <Loading />}
      {rows.data && !shown.length && <p>{t('od.previewEmpty')}</p>}
      {shown.length > 0 && (
        // Wider than a phone: the region scrolls, so it takes the focus (arrow keys scroll it).
        <div class="table-wrap" role="region" aria-labelledby="od-preview-caption" tabIndex={0}>
          <table class="preview-table" aria-busy={rows.loading ? 'true' : 'false'}>
            <caption id="od-preview-caption">{range('od.previewCaption')}</caption>
            <thead>
              <tr>
                {dataset.fields.map((f) => (
                  <th scope="col" class={numeric(f) ? 'n' : undefined} data-column={f.name}>
                    {f.title[lang]}
                    {f.unit && ` (${f.unit})`}
                    <span class="cell-line column-name">
                      <code>{f.name}</code>
                    </span>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map((row) => (
                <tr>
                  {dataset.fields.map((f) => (
                    <td class={numeric(f) ? 'n' : undefined} data-column={f.name}>
                      {cellText(f, row[f.name], dataset.key.includes(f.name), i18n)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="toolbar no-print">
        {next && (
          <button type="button" aria-disabled={rows.loading ? 'true' : undefined} onClick={() => go(cursorOf(next), last === undefined ? undefined : last + 1)}>
            {t('od.next')}
          </button>
        )}
        {rows.data?.after && (
          <button type="button" class="secondary" aria-disabled={rows.loading ? 'true' : undefined} onClick={() => go(undefined, undefined)}>
            {t('od.first')}
          </button>
        )}
      </div>
      {rows.data && !next && shown.length > 0 && rows.data.after && <p>{t('od.previewEnd')}</p>}
      <p role="status" class="visually-hidden">
        {announce}
      </p>
    </section>
  );
}

function numeric(field: OpenField): boolean {
  return field.type === 'number' || field.type === 'integer';
}

/**
 * A value as the page's language writes it: numbers with all their digits (Intl), months, days
 * and times in words; a whole number of the key (an identifier) and text as they are.
 */
export function cellText(field: OpenField, value: unknown, inKey: boolean, { t, num, period, day, dateTime }: I18n): string {
  if (value === null || value === undefined || value === '') return t('common.none');
  switch (field.type) {
    case 'number':
      return typeof value === 'number' ? num(value, undefined, 10) : String(value);
    case 'integer':
      return typeof value === 'number' && !inKey ? num(value, undefined, 0) : String(value);
    case 'boolean':
      return value === true ? t('od.yes') : value === false ? t('od.no') : String(value);
    case 'yearmonth':
      return period(String(value));
    case 'date':
      return day(String(value));
    case 'datetime':
      return dateTime(String(value));
    default:
      return String(value);
  }
}
