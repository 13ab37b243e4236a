import { CityPilotError } from '@citypilot/sdk';
import type { RowError } from '../readings.js';

export type UtilityImportErrorCode =
  /** The whole file is refused (not one of the formats, no delivery point, unreadable): nothing of it is to be stored. */
  | 'IMPORT_FILE_REFUSED'
  /** The upload is larger than the `maxBytes` its reader was given (HTTP 413). */
  | 'IMPORT_FILE_TOO_LARGE';

/** A file that cannot be imported at all; a bad row is not one (it is a RowError and the import goes on). */
export class UtilityImportError extends CityPilotError {
  declare readonly code: UtilityImportErrorCode;

  constructor(code: UtilityImportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The last item of an import whose row errors were more than ROW_ERRORS_LISTED: how many were not listed. */
export interface OmittedErrors {
  omittedErrors: number;
}

/** Row errors an import lists one by one; beyond, it only counts them (OmittedErrors). */
export const ROW_ERRORS_LISTED = 1000;

/** Readings (or bill lines) in one chunk an import yields, at most. */
export const CHUNK_READINGS = 10_000;

/** A cell as a message quotes it: JSON, cut at 40 characters. */
export function quote(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 42 ? `${json.slice(0, 39)}..."` : json;
}

/**
 * The row errors of one import: the first ROW_ERRORS_LISTED as sentences (`line 14, column
 * "Valeur": expected …`), the others counted. `take()` hands over those made since the last take.
 */
export class RowErrors {
  private pending: RowError[] = [];
  private listed = 0;
  /** Errors past the listed ones. */
  omitted = 0;
  /** Errors in all. */
  count = 0;

  add(row: number, column: string | undefined, problem: string): void {
    this.count++;
    if (this.listed >= ROW_ERRORS_LISTED) {
      this.omitted++;
      return;
    }
    this.listed++;
    const where = column === undefined ? `line ${row}` : `line ${row}, column ${quote(column)}`;
    this.pending.push({ row, ...(column === undefined ? {} : { column }), message: `${where}: ${problem}` });
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  take(): RowError[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }
}
