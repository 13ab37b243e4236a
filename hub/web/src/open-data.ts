/**
 * The open data as the hub publishes it (hub/src/open-data/routes.ts): the published datasets with
 * their columns, their pages of rows, the operators' switches; and what the pages derive from them
 * (the column a dataset is dated by, the examples of the API).
 *
 * The public reads revalidate (`cache: 'no-cache'`): the hub answers 304 to a copy still current
 * (ETag), and a dataset withdrawn a moment ago is not shown from the browser's cache.
 */
import { api, withQuery } from './api.js';

export interface Words {
  fr: string;
  en: string;
}

/** Table Schema types (Frictionless) the datasets' columns have. */
export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'date' | 'datetime' | 'yearmonth';
export const FIELD_TYPES: readonly FieldType[] = ['string', 'integer', 'number', 'boolean', 'date', 'datetime', 'yearmonth'];

export interface OpenField {
  /** The column's name in CSV and JSON. */
  name: string;
  type: FieldType;
  title: Words;
  description: Words;
  /** Unit of a number (kWh, m², €…). */
  unit?: string;
  /** Never empty: such a column may be sorted on. */
  required: boolean;
  /** The values the column takes. */
  enum?: string[];
}

/** EU frequencies (publications.europa.eu authority tables) the datasets use. */
export const FREQUENCIES = ['HOURLY', 'DAILY', 'MONTHLY', 'IRREG'] as const;
/** EU data themes the datasets use. */
export const THEMES = ['ENER', 'GOVE', 'REGI', 'SOCI'] as const;

export interface OpenDataset {
  id: string;
  title: Words;
  description: Words;
  keywords: { fr: string[]; en: string[] };
  theme: string;
  frequency: string;
  licence: { id: string; uri: string; title: string };
  /** When the data last changed (ISO 8601), null when nothing says. */
  modified: string | null;
  /** First and last day the rows cover (YYYY-MM-DD), null without rows or for a catalogue. */
  coverage: { from: string; to: string } | null;
  fields: OpenField[];
  /** Columns identifying a row: the default order. */
  key: string[];
  /** Absolute addresses on the hub. */
  urls: { schema: string; csv: string; json: string; rows: string; page: string };
}

export interface OpenDataList {
  catalog: { jsonld: string; turtle: string };
  datasets: OpenDataset[];
}

export interface RowsPage {
  dataset: string;
  rows: Record<string, unknown>[];
  /** The next page's address (same origin), null after the last. */
  next: string | null;
}

/** A dataset's switch, as operators read and set it. */
export interface DatasetSwitch {
  id: string;
  title: Words;
  enabled: boolean;
  licence: LicenceId;
  updatedBy: string | null;
  updatedAt: string | null;
}

export const LICENCE_IDS = ['etalab-2.0', 'odbl-1.0'] as const;
export type LicenceId = (typeof LICENCE_IDS)[number];

export interface Publisher {
  publisher: string;
  homepage: string | null;
  contactEmail: string | null;
  inseeCode: string | null;
  updatedAt: string | null;
}

export interface OpenDataSettings {
  datasets: DatasetSwitch[];
  publisher: Publisher;
}

export interface PublishedPoint {
  pointId: number;
  gateway: string;
  point: string;
  name: string;
  unit: string | null;
  building: string | null;
  publishedBy: string;
  publishedAt: string;
}

/** Rows a preview page shows. */
export const PREVIEW_ROWS = 20;

const FRESH: RequestInit = { cache: 'no-cache' };

export const openDataApi = {
  list: () => api.get<OpenDataList>('/api/open-data', FRESH),
  dataset: (id: string) => api.get<OpenDataset>(`/api/open-data/datasets/${encodeURIComponent(id)}`, FRESH),
  /** The first page, or the one after `cursor` (a previous page's `next`). */
  rows: (id: string, cursor?: string) =>
    api.get<RowsPage>(withQuery(`/api/open-data/datasets/${encodeURIComponent(id)}/rows`, { limit: PREVIEW_ROWS, after: cursor }), FRESH),
  settings: () => api.get<OpenDataSettings>('/api/open-data/settings'),
  setDataset: (id: string, change: { enabled: boolean; licence: LicenceId }) => api.put<unknown>(`/api/open-data/datasets/${encodeURIComponent(id)}`, change),
  setPublisher: (value: Omit<Publisher, 'updatedAt'>) => api.put<Publisher>('/api/open-data/publisher', value),
  points: () => api.get<PublishedPoint[]>('/api/open-data/points'),
  setPoint: (gateway: string, point: string, published: boolean) => api.put<{ changed: boolean }>('/api/open-data/points', { gateway, point, published }),
};

/** The cursor a `next` address carries (its `after`), for the page's own URL. */
export function cursorOf(next: string): string | undefined {
  return new URL(next, 'http://hub.invalid').searchParams.get('after') ?? undefined;
}

const DATED: readonly FieldType[] = ['yearmonth', 'date', 'datetime'];

/**
 * The column a dataset is dated by (its coverage's): the first dated column of its key, else its
 * first dated column that is never empty; none for a catalogue (the buildings).
 */
export function datedField(dataset: Pick<OpenDataset, 'fields' | 'key'>): OpenField | undefined {
  const dated = dataset.fields.filter((f) => DATED.includes(f.type) && f.required);
  return dated.find((f) => dataset.key.includes(f.name)) ?? dated[0];
}

/** A filter the API takes, `[parameter, value]`: on the dated column from the coverage's last year, else on a column's first value. */
export function exampleFilter(dataset: OpenDataset, today = new Date()): [string, string] | undefined {
  const dated = datedField(dataset);
  if (dated) {
    const year = dataset.coverage ? Number(dataset.coverage.to.slice(0, 4)) : today.getUTCFullYear();
    const first = dated.type === 'yearmonth' ? `${year}-01` : dated.type === 'date' ? `${year}-01-01` : `${year}-01-01T00:00:00Z`;
    return [`${dated.name}.gte`, first];
  }
  const listed = dataset.fields.find((f) => f.enum?.length);
  return listed ? [listed.name, listed.enum![0]!] : undefined;
}

/** The order of the examples: newest first on the dated column, else the key's first column. */
export function exampleSort(dataset: OpenDataset): string | undefined {
  const dated = datedField(dataset);
  return dated ? `-${dated.name}` : dataset.key[0];
}

/** `curl` lines for a dataset at `origin` (the page's own): a filtered, sorted page, and the CSV filtered. */
export function curlExamples(dataset: OpenDataset, origin: string): { page: string; csv: string } {
  const api = `${origin}/api/open-data/datasets/${dataset.id}`;
  const filter = exampleFilter(dataset);
  const query = (extra: Record<string, string | undefined>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) params.set(k, v);
    if (filter) params.set(filter[0], filter[1]);
    const text = params.toString();
    return text ? `?${text}` : '';
  };
  return {
    page: `curl '${api}/rows${query({ limit: '100', sort: exampleSort(dataset) })}'`,
    csv: `curl -o ${dataset.id}.csv '${api}/data.csv${query({})}'`,
  };
}
