/** What a dataset is: its columns, its query and its description (datasets.ts lists them). */

/** Text in the dashboard's two languages. */
export interface Words {
  fr: string;
  en: string;
}

/** Table Schema field types (Frictionless) the datasets use. */
export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'date' | 'datetime' | 'yearmonth';

export interface DatasetField {
  /** The column's name in CSV and JSON: stable English snake_case. */
  name: string;
  type: FieldType;
  /**
   * The column as a typed SQL expression over the dataset's FROM clause: filters, sorting and
   * the keyset compare it as stored (a time as timestamptz, a month as the date of its 1st);
   * downloads format it (fieldOutput).
   */
  sql: string;
  title: Words;
  description: Words;
  /** The unit of a number (kWh, m², kWh/m², €, tCO2e, s…), in the Table Schema as `unit` and in the description. */
  unit?: string;
  /** Never empty: such a column may be sorted on. */
  required?: boolean;
  /** The values the column takes. */
  enum?: readonly string[];
}

export interface DatasetDefinition {
  /** Stable: in URLs, the catalogue's identifiers and the switches' table. */
  id: string;
  title: Words;
  description: Words;
  keywords: { fr: readonly string[]; en: readonly string[] };
  /** EU data theme (http://publications.europa.eu/resource/authority/data-theme/…). */
  theme: 'ENER' | 'GOVE' | 'REGI' | 'SOCI';
  /** EU frequency (http://publications.europa.eu/resource/authority/frequency/…). */
  frequency: 'HOURLY' | 'DAILY' | 'MONTHLY' | 'IRREG';
  fields: readonly DatasetField[];
  /** `FROM … WHERE …` with the publication guards; `tz` is the city's time zone as an SQL literal. Filters are added with AND. */
  from: (tz: string) => string;
  /** Fields whose values identify a row, in the default order. */
  key: readonly string[];
  /**
   * One row `(modified timestamptz, tag text)`: when the data last changed, and a tag that changes
   * with every change the time may miss (rows withdrawn). For ETag and Last-Modified.
   */
  version: string;
  /** The field whose least and greatest values are the temporal coverage; none for a catalogue. */
  temporal?: string;
  /**
   * `SELECT … AS from, … AS to`: the first and last day the rows cover, when min/max of the
   * temporal field over the FROM clause would scan too much or end too early (a period's first
   * day); `from` and `to` as dates, or as times for a datetime field. Default: that min/max, a
   * month counted to its last day.
   */
  coverage?: (tz: string) => string;
}

export const w = (fr: string, en: string): Words => ({ fr, en });

/** The PostgreSQL type a field's values are compared as (filters, keyset). */
export function sqlType(type: FieldType): string {
  return { string: 'text', integer: 'bigint', number: 'float8', boolean: 'boolean', date: 'date', yearmonth: 'date', datetime: 'timestamptz' }[type];
}

/** The field as written in a download or a page: dates and times as ISO 8601 text (UTC for times), the rest as is. */
export function fieldOutput(field: DatasetField): string {
  switch (field.type) {
    case 'datetime':
      return `to_char(${field.sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
    case 'date':
      return `to_char(${field.sql}, 'YYYY-MM-DD')`;
    case 'yearmonth':
      return `to_char(${field.sql}, 'YYYY-MM')`;
    default:
      return field.sql;
  }
}
