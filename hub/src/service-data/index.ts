// The public names of service data, exported by the hub package as they are.
export {
  ServiceData,
  type AggregateQuery,
  type AggregateRow,
  type CsvImportOptions,
  type CurrentQuery,
  type ServiceSource,
  type SubmitHow,
  type TimeBound,
} from './service-data.js';
export {
  CsvMappingSchema,
  checkMapping,
  openCsv,
  type CsvFile,
  type CsvMapping,
  type CsvRow,
  type CsvRowError,
  type CsvRowProblem,
  type CsvValue,
} from './csv.js';
export { decodeCsvBytes, IMPORT_ERRORS_REPORTED, UNKNOWN_SCOPES, type CsvImportSummary, type UnknownScopes } from './csv-import.js';
export {
  ServiceDataError,
  GRANULARITIES,
  parsePeriod,
  type Granularity,
  type ParsedPeriod,
  type ServiceDataErrorCode,
  type ServiceDataIssue,
  type ServiceValue,
  type ServiceValueInput,
  type SubmitResult,
  type Via,
} from './model.js';
export { serviceDataRoutes, ServiceValueInputSchema, ServiceValueSchema, MAX_VALUES_PER_REQUEST, type ServiceDataRoutesOptions } from './routes.js';
