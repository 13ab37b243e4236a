// The public names of the cost of services, exported by the hub package as they are.
export {
  Costs,
  ROW_ERRORS_LISTED,
  type CostImportRun,
  type CostImportSummary,
  type CostUnit,
  type CostsOptions,
  type ServiceCost,
  type SpendingQuery,
  type SpendingReport,
  type SpendingRow,
} from './costs.js';
export { openBudgetCsv, type BudgetFile, type BudgetRow, type RowProblem } from './csv.js';
export { CostsError, ENERGY_SERVICE, NATURES, SUGGESTED_SERVICES, prorate, type CostsErrorCode, type Nature, type SpendingLine } from './model.js';
export { costRoutes, type CostRoutesOptions } from './routes.js';
