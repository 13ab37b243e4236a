import jsonld from 'jsonld';
import { Parser, Writer } from 'n3';
import type { DatasetDefinition } from './datasets.js';
import { LICENCES, type DatasetSwitch, type Publisher } from './open-data.js';

/**
 * How the datasets are described: a Table Schema (Frictionless, the format of the French
 * national schema catalogue) per dataset, and a DCAT-AP catalogue (the European profile
 * data.gouv.fr and CKAN's DCAT harvester read) as JSON-LD and Turtle.
 */

type Lang = 'fr' | 'en';

/**
 * The Table Schema of `dataset`, its titles and descriptions in `lang`. Dates, months and times
 * are in the types' default formats (2026-01-31, 2026-01, 2026-01-31T23:00:00Z), which downloads write.
 */
export function tableSchema(dataset: DatasetDefinition, lang: Lang = 'fr') {
  return {
    $schema: 'https://specs.frictionlessdata.io/schemas/table-schema.json',
    name: dataset.id,
    title: dataset.title[lang],
    description: dataset.description[lang],
    fields: dataset.fields.map((f) => ({
      name: f.name,
      type: f.type,
      title: f.title[lang],
      description: f.unit ? `${f.description[lang]} (${f.unit})` : f.description[lang],
      ...(f.unit ? { unit: f.unit } : {}),
      constraints: { required: f.required ?? false, ...(f.enum ? { enum: [...f.enum] } : {}) },
    })),
    primaryKey: [...dataset.key],
    missingValues: [''],
  };
}

/** One dataset as the catalogue and the page describe it. */
export interface DescribedDataset {
  dataset: DatasetDefinition;
  switch: DatasetSwitch;
  modified: Date | null;
  coverage: { from: string; to: string } | null;
  /** Changes with the content (DatasetVersion.tag). */
  tag: string;
}

const EU = 'http://publications.europa.eu/resource/authority';
const CONTEXT = {
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  dcatap: 'http://data.europa.eu/r5r/',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
  locn: 'http://www.w3.org/ns/locn#',
  skos: 'http://www.w3.org/2004/02/skos/core#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  rdfs: 'http://www.w3.org/2000/01/rdf-schema#',
};

const both = (words: { fr: string; en: string }) => [
  { '@value': words.fr, '@language': 'fr' },
  { '@value': words.en, '@language': 'en' },
];
const dateTime = (d: Date) => ({ '@value': d.toISOString().replace(/\.\d{3}Z$/, 'Z'), '@type': 'xsd:dateTime' });
const day = (text: string) => ({ '@value': text, '@type': 'xsd:date' });
const ref = (iri: string) => ({ '@id': iri });

/** URLs of a dataset under `base` (the hub's public address, no trailing slash). */
export function datasetUrls(base: string, id: string) {
  const api = `${base}/api/open-data/datasets/${id}`;
  return { api, schema: `${api}/schema.json`, csv: `${api}/data.csv`, json: `${api}/data.json`, rows: `${api}/rows`, page: `${base}/donnees/${id}` };
}

/** The DCAT-AP catalogue of `datasets` (the published ones) as a JSON-LD document. */
export function dcatCatalogue(base: string, publisher: Publisher, datasets: readonly DescribedDataset[]) {
  const agent = {
    '@id': `${base}/api/open-data/catalog#publisher`,
    '@type': 'foaf:Agent',
    'foaf:name': publisher.publisher,
    'dct:type': ref(`http://purl.org/adms/publishertype/LocalAuthority`),
  };
  const contact = publisher.contactEmail
    ? { '@type': 'vcard:Organization', 'vcard:fn': publisher.publisher, 'vcard:hasEmail': ref(`mailto:${publisher.contactEmail}`) }
    : { '@type': 'vcard:Organization', 'vcard:fn': publisher.publisher, 'vcard:hasURL': ref(publisher.homepage ?? `${base}/`) };
  const spatial = {
    '@type': 'dct:Location',
    'skos:prefLabel': publisher.publisher,
    ...(publisher.inseeCode ? { 'dct:identifier': publisher.inseeCode } : {}),
  };
  const modified = datasets.map((d) => d.modified).filter((m): m is Date => m !== null);
  const service = {
    '@id': `${base}/api/open-data#api`,
    '@type': 'dcat:DataService',
    'dct:title': both({ fr: 'API des données ouvertes', en: 'Open data API' }),
    'dct:description': both({
      fr: 'Lignes de chaque jeu de données filtrées sur ses colonnes, triées et paginées (curseur) ; description OpenAPI incluse.',
      en: "Each dataset's rows filtered on its columns, sorted and paginated (cursor); described in OpenAPI.",
    }),
    'dcat:endpointURL': ref(`${base}/api/open-data`),
    'dcat:endpointDescription': ref(`${base}/api/openapi.json`),
    'dcat:servesDataset': datasets.map((d) => ref(datasetUrls(base, d.dataset.id).api)),
  };
  return {
    '@context': CONTEXT,
    '@id': `${base}/api/open-data/catalog`,
    '@type': 'dcat:Catalog',
    'dct:title': both({ fr: `Données ouvertes — ${publisher.publisher}`, en: `Open data — ${publisher.publisher}` }),
    'dct:description': both({
      fr: 'Les jeux de données que la ville publie depuis son pilotage par objectifs : résultats des objectifs, énergie des bâtiments publics, qualité des services, patrimoine, projets.',
      en: 'The datasets the city publishes from its steering by objectives: objective results, energy of public buildings, quality of services, estate, projects.',
    }),
    'dct:publisher': agent,
    'foaf:homepage': ref(publisher.homepage ?? `${base}/donnees`),
    'dct:language': [ref(`${EU}/language/FRA`), ref(`${EU}/language/ENG`)],
    'dct:license': ref(LICENCES['etalab-2.0'].uri),
    'dct:spatial': spatial,
    'dcat:themeTaxonomy': ref(`${EU}/data-theme`),
    ...(modified.length ? { 'dct:modified': dateTime(new Date(Math.max(...modified.map((m) => m.getTime())))) } : {}),
    'dcat:service': service,
    'dcat:dataset': datasets.map((d) => dcatDataset(base, d, agent['@id'], contact, spatial, service['@id'])),
  };
}

function dcatDataset(base: string, described: DescribedDataset, publisher: string, contact: object, spatial: object, service: string) {
  const { dataset, switch: state, modified, coverage } = described;
  const urls = datasetUrls(base, dataset.id);
  const licence = LICENCES[state.licence];
  const distribution = (format: 'CSV' | 'JSON', url: string, mediaType: string) => ({
    '@id': `${urls.api}#${format.toLowerCase()}`,
    '@type': 'dcat:Distribution',
    'dct:title': both({ fr: `${dataset.title.fr} (${format})`, en: `${dataset.title.en} (${format})` }),
    'dct:description': both({
      fr: `Le jeu entier en ${format}${format === 'CSV' ? ' (UTF-8, virgule, dates ISO 8601)' : ' (un tableau d’objets)'} ; accepte les filtres de l’API.`,
      en: `The whole dataset as ${format}${format === 'CSV' ? ' (UTF-8, comma, ISO 8601 dates)' : ' (an array of objects)'}; takes the API's filters.`,
    }),
    'dcat:accessURL': ref(url),
    'dcat:downloadURL': ref(url),
    'dct:format': ref(`${EU}/file-type/${format}`),
    'dcat:mediaType': ref(`https://www.iana.org/assignments/media-types/${mediaType}`),
    'dct:license': ref(licence.uri),
    'dcatap:availability': ref(`${EU}/planned-availability/AVAILABLE`),
    'dct:conformsTo': ref(urls.schema),
    'dcat:accessService': ref(service),
    ...(modified ? { 'dct:modified': dateTime(modified) } : {}),
  });
  return {
    '@id': urls.api,
    '@type': 'dcat:Dataset',
    'dct:identifier': dataset.id,
    'dct:title': both(dataset.title),
    'dct:description': both(dataset.description),
    'dcat:keyword': [
      ...dataset.keywords.fr.map((k) => ({ '@value': k, '@language': 'fr' })),
      ...dataset.keywords.en.map((k) => ({ '@value': k, '@language': 'en' })),
    ],
    'dcat:theme': ref(`${EU}/data-theme/${dataset.theme}`),
    'dct:publisher': ref(publisher),
    'dcat:contactPoint': contact,
    'dct:accrualPeriodicity': ref(`${EU}/frequency/${dataset.frequency}`),
    'dct:spatial': spatial,
    ...(coverage ? { 'dct:temporal': { '@type': 'dct:PeriodOfTime', 'dcat:startDate': day(coverage.from), 'dcat:endDate': day(coverage.to) } } : {}),
    ...(modified ? { 'dct:modified': dateTime(modified) } : {}),
    'dct:license': ref(licence.uri),
    'dct:language': [ref(`${EU}/language/FRA`), ref(`${EU}/language/ENG`)],
    'dcat:landingPage': ref(urls.page),
    'dct:conformsTo': ref(urls.schema),
    'dcat:distribution': [distribution('CSV', urls.csv, 'text/csv'), distribution('JSON', urls.json, 'application/json')],
  };
}

/** The same catalogue in Turtle: its RDF (jsonld's toRDF) written with the catalogue's prefixes. */
export async function dcatTurtle(document: object): Promise<string> {
  const nquads = (await jsonld.toRDF(document as jsonld.JsonLdDocument, { format: 'application/n-quads' })) as unknown as string;
  const quads = new Parser({ format: 'N-Quads' }).parse(nquads);
  const writer = new Writer({ prefixes: CONTEXT });
  writer.addQuads(quads);
  return new Promise((resolve, reject) => writer.end((error, text) => (error ? reject(error) : resolve(text))));
}
