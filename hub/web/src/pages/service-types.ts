/** What the service-data API answers, as the service-data page and its CSV import read it. */
export interface ServiceSource {
  key: string;
  name: string;
  mapping: Record<string, unknown> | null;
}

export interface ServiceValue {
  source: string;
  metric: string;
  scope: string;
  period: string;
  value: number;
  submittedBy: string;
  submittedAt: string;
  via: 'api' | 'csv';
  file: string | null;
  row: number | null;
  supersededAt: string | null;
}
