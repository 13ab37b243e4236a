export { DATASETS, datasetById, type DatasetDefinition, type DatasetField } from './datasets.js';
export { refreshDerived, type DerivedOptions, type RefreshSummary } from './derived.js';
export { tableSchema, dcatCatalogue, dcatTurtle } from './describe.js';
export { OpenData, OpenDataError, LICENCES, DEFAULT_LICENCE, type Licence, type DatasetSwitch, type Publisher } from './open-data.js';
export { OpenDataQueryError, PAGE_MAX } from './query.js';
export { openDataRoutes, registerOpenDataPreflight, type OpenDataRoutesOptions } from './routes.js';
