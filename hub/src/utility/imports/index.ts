// Imports of the files utilities give their customers: Enedis (electricity), GRDF (gas) and bill lines of any supplier.
export { parseEnedisCsv, type EnedisChunk } from './enedis-csv.js';
export { MAX_POWER_W, MAX_DAY_WH, LOAD_CURVE_STEPS } from './enedis-values.js';
export { parseGrdfCsv, GRDF_MAX_DAYS, GRDF_PREAMBLE_LINES, type GrdfChunk } from './grdf-csv.js';
export { parseBillsCsv, BILL_MAX_DAYS, type BillChunk, type ImportedBillLine } from './bills-csv.js';
export { UtilityImportError, ROW_ERRORS_LISTED, CHUNK_READINGS, type UtilityImportErrorCode, type OmittedErrors } from './errors.js';
export { MAX_LINE_CHARS, type ImportOptions } from './text.js';
