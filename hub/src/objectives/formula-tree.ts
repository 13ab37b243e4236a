/**
 * The bottom of the formula language (formula.ts describes it): the names of what a formula reads,
 * its syntax tree, its limits and its error. Every other formula-*.ts module builds on this one.
 */
import { CityPilotError } from '@citypilot/sdk';

export type PointAggregate = 'sum' | 'avg' | 'min' | 'max' | 'integral' | 'delta' | 'count';
export type ServiceAggregate = 'sum' | 'avg' | 'min' | 'max' | 'count';
export type Attribute = 'area' | 'light_points' | 'buildings';

/** The limits `parseFormula` enforces, so that any accepted formula is cheap to evaluate. */
export const FORMULA_LIMITS = Object.freeze({ maxLength: 2000, maxNesting: 50, maxCalls: 100 });

/** A formula that cannot be parsed: the message starts with `column N:` and says what was expected. */
export class FormulaError extends CityPilotError {
  declare readonly code: 'FORMULA_INVALID';
  /** 0-based character offset in the source where the problem is (the source's length at its end). */
  readonly position: number;
  /** `position + 1`. */
  readonly column: number;

  constructor(position: number, reason: string) {
    super('FORMULA_INVALID', `column ${position + 1}: ${reason}`);
    this.position = position;
    this.column = position + 1;
  }
}

/** The syntax tree of a parsed formula: what the parser gives and the evaluation compiles. */
export type Operator = '+' | '-' | '*' | '/';

export type Node =
  | { kind: 'number'; value: number }
  | { kind: 'negate'; operand: Node }
  | { kind: 'binary'; operator: Operator; left: Node; right: Node }
  | { kind: 'points'; fn: PointAggregate; tags: string[] }
  | { kind: 'service'; fn: ServiceAggregate; metric: string }
  | { kind: 'attribute'; name: Attribute }
  | { kind: 'degreeDays'; base: number }
  | { kind: 'openingHours' }
  | { kind: 'hours' }
  | { kind: 'days' }
  | { kind: 'normalised'; tags: string[]; base: number; reference: number }
  | { kind: 'extremum'; fn: 'min' | 'max'; args: Node[] };
