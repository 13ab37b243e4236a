/**
 * The city's open data (`/donnees`), for anyone: each published dataset with its description,
 * licence, last modification, the period it covers and how often it is updated, linked to its
 * page (`/donnees/:id`); then the addresses of the DCAT-AP catalogue that portals harvest.
 * Everything comes from GET /api/open-data.
 */
import { useI18n, type I18n } from '../i18n.js';
import type { MessageKey } from '../messages/index.js';
import { datedField, FREQUENCIES, openDataApi, THEMES, type OpenDataset } from '../open-data.js';
import { LoadError, Loading, useLoad, View } from '../ui/view.js';

export function OpenDataPage() {
  const i18n = useI18n();
  const { t, lang } = i18n;
  const list = useLoad(() => openDataApi.list(), []);
  const datasets = list.data?.datasets ?? [];
  return (
    <View name="open-data" busy={list.loading} title={t('od.title')}>
      <h1>{t('od.title')}</h1>
      <p class="lead">{t('od.intro')}</p>
      {list.error && <LoadError error={list.error} retry={list.reload} />}
      {list.loading && !list.data && <Loading />}
      {list.data && !datasets.length && <p>{t('od.none')}</p>}
      {datasets.length > 0 && (
        <section aria-labelledby="od-datasets">
          <h2 id="od-datasets">{t('od.datasets')}</h2>
          <ul class="cards open-datasets">
            {datasets.map((d) => (
              <li class="card" data-dataset={d.id}>
                <h3 id={`od-${d.id}`}>
                  <a href={`/donnees/${encodeURIComponent(d.id)}`}>{d.title[lang]}</a>
                </h3>
                <p>{d.description[lang]}</p>
                <DatasetFacts dataset={d} i18n={i18n} />
                <p class="no-print">
                  <a href={`/donnees/${encodeURIComponent(d.id)}`} aria-label={t('od.openLabel', { title: d.title[lang] })}>
                    {t('od.open')}
                  </a>
                </p>
              </li>
            ))}
          </ul>
        </section>
      )}
      {list.data && (
        <section aria-labelledby="od-harvest">
          <h2 id="od-harvest">{t('od.harvest')}</h2>
          <p>{t('od.harvestText')}</p>
          <ul>
            <li>
              <a href={list.data.catalog.jsonld} type="application/ld+json" data-catalog="jsonld">
                {t('od.catalogJsonld')}
              </a>{' '}
              <code class="address">{list.data.catalog.jsonld}</code>
            </li>
            <li>
              <a href={list.data.catalog.turtle} type="text/turtle" data-catalog="turtle">
                {t('od.catalogTurtle')}
              </a>{' '}
              <code class="address">{list.data.catalog.turtle}</code>
            </li>
          </ul>
        </section>
      )}
    </View>
  );
}

/** A dataset's licence (linked), last modification, coverage, update frequency and theme, as a list of facts. */
export function DatasetFacts({ dataset, i18n }: { dataset: OpenDataset; i18n: I18n }) {
  const { t, dateTime } = i18n;
  return (
    <dl class="facts">
      <dt>{t('od.licence')}</dt>
      <dd>
        <a href={dataset.licence.uri} data-licence={dataset.licence.id}>
          {dataset.licence.title}
        </a>
      </dd>
      <dt>{t('od.modified')}</dt>
      <dd>{dataset.modified ? <time dateTime={dataset.modified}>{dateTime(dataset.modified)}</time> : t('common.none')}</dd>
      <dt>{t('od.coverage')}</dt>
      <dd>{coverageText(dataset, i18n)}</dd>
      <dt>{t('od.frequency')}</dt>
      <dd>{(FREQUENCIES as readonly string[]).includes(dataset.frequency) ? t(`od.frequency.${dataset.frequency}` as MessageKey) : dataset.frequency}</dd>
      <dt>{t('od.theme')}</dt>
      <dd>{(THEMES as readonly string[]).includes(dataset.theme) ? t(`od.theme.${dataset.theme}` as MessageKey) : dataset.theme}</dd>
    </dl>
  );
}

/** The period a dataset covers: months for a monthly one (a month's rows reach its end), else days. */
export function coverageText(dataset: OpenDataset, { t, day, period }: I18n): string {
  const dated = datedField(dataset);
  if (!dated) return t('od.coverageNone');
  if (!dataset.coverage) return t('od.coverageEmpty');
  const { from, to } = dataset.coverage;
  if (dated.type === 'yearmonth') return t('od.monthsFromTo', { from: period(from.slice(0, 7)), to: period(to.slice(0, 7)) });
  return t('od.fromTo', { from: day(from), to: day(to) });
}
