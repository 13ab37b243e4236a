/**
 * What a parsed formula reads (its dependencies, which the objectives engine prefetches) and its
 * evaluation, compiled once into closures over a FormulaContext. formula.ts describes the language.
 */
import type { Attribute, Node, Operator, PointAggregate, ServiceAggregate } from './formula-tree.js';

/**
 * Everything a formula reads: what the engine must prefetch. Each list is in order of first
 * appearance in the source, each distinct item once.
 */
export interface FormulaDependencies {
  /**
   * Tags deduplicated and sorted (code-unit order, as `Array.prototype.sort`); `evaluate` passes
   * `points()` an array equal to these tags.
   */
  points: { fn: PointAggregate; tags: string[] }[];
  services: { fn: ServiceAggregate; metric: string }[];
  attributes: Attribute[];
  /** Base temperatures in °C of the heating degree-days read, each distinct value once (normalised() included). */
  degreeDayBases: number[];
  /** Whether the formula reads opening_hours. */
  openingHours: boolean;
}

/**
 * The data of one scope and period, answered synchronously; null = no data. A value that is
 * not a finite number (NaN, Infinity, undefined) counts as no data too.
 */
export interface FormulaContext {
  /** `tags` sorted and deduplicated, as in `FormulaDependencies.points`; never mutate it. */
  points(fn: PointAggregate, tags: readonly string[]): number | null;
  service(fn: ServiceAggregate, metric: string): number | null;
  attribute(name: Attribute): number | null;
  /** Heating degree-days over the period, base temperature in °C. */
  degreeDays(base: number): number | null;
  /** Hours the scope's buildings were open over the period. */
  openingHours(): number | null;
  /** Length of the period in hours (23 or 25 on DST days). */
  periodHours(): number;
  /**
   * The meter advance of the points carrying `tags` (sorted, as for points()) as a year at
   * `referenceDegreeDays` heating degree-days of base `base` °C, kWh (see normalised() above).
   */
  normalised(tags: readonly string[], base: number, referenceDegreeDays: number): number | null;
}

export function collectDependencies(tree: Node): FormulaDependencies {
  const points = new Map<string, { fn: PointAggregate; tags: string[] }>();
  const services = new Map<string, { fn: ServiceAggregate; metric: string }>();
  const attributes = new Set<Attribute>();
  const degreeDayBases = new Set<number>();
  let openingHours = false;
  const visit = (node: Node): void => {
    switch (node.kind) {
      case 'points': {
        const key = `${node.fn} ${node.tags.join(' ')}`;
        if (!points.has(key)) points.set(key, { fn: node.fn, tags: [...node.tags] });
        break;
      }
      case 'service': {
        const key = `${node.fn} ${node.metric}`;
        if (!services.has(key)) services.set(key, { fn: node.fn, metric: node.metric });
        break;
      }
      case 'attribute':
        attributes.add(node.name);
        break;
      case 'degreeDays':
        degreeDayBases.add(node.base);
        break;
      case 'openingHours':
        openingHours = true;
        break;
      case 'normalised': {
        const key = `delta ${node.tags.join(' ')}`;
        if (!points.has(key)) points.set(key, { fn: 'delta', tags: [...node.tags] });
        degreeDayBases.add(node.base);
        break;
      }
      case 'negate':
        visit(node.operand);
        break;
      case 'binary':
        visit(node.left);
        visit(node.right);
        break;
      case 'extremum':
        node.args.forEach(visit);
        break;
    }
  };
  visit(tree);
  return { points: [...points.values()], services: [...services.values()], attributes: [...attributes], degreeDayBases: [...degreeDayBases], openingHours };
}

export type Evaluator = (context: FormulaContext) => number | null;

/** What the context answered, or null when that is not a finite number. */
function finite(value: number | null): number | null {
  return Number.isFinite(value) ? value : null;
}

/**
 * The formula as a tree of closures: the node kinds and operators are resolved once here, so that
 * evaluating is only calls and arithmetic, with no allocation.
 */
export function compile(node: Node): Evaluator {
  switch (node.kind) {
    case 'number': {
      const value = node.value;
      return () => value;
    }
    case 'negate': {
      const operand = compile(node.operand);
      return (context) => {
        const value = operand(context);
        return value === null ? null : -value;
      };
    }
    case 'binary':
      return arithmetic(node.operator, compile(node.left), compile(node.right));
    case 'points': {
      const { fn } = node;
      const tags: readonly string[] = Object.freeze([...node.tags]);
      return (context) => finite(context.points(fn, tags));
    }
    case 'service': {
      const { fn, metric } = node;
      return (context) => finite(context.service(fn, metric));
    }
    case 'attribute': {
      const { name } = node;
      return (context) => finite(context.attribute(name));
    }
    case 'degreeDays': {
      const { base } = node;
      return (context) => finite(context.degreeDays(base));
    }
    case 'openingHours':
      return (context) => finite(context.openingHours());
    case 'hours':
      return (context) => finite(context.periodHours());
    case 'days':
      return (context) => finite(context.periodHours() / 24);
    case 'normalised': {
      const { base, reference } = node;
      const tags: readonly string[] = Object.freeze([...node.tags]);
      return (context) => finite(context.normalised(tags, base, reference));
    }
    case 'extremum': {
      const args = node.args.map(compile);
      const pickLower = node.fn === 'min';
      return (context) => {
        let result = args[0]!(context);
        if (result === null) return null;
        for (let i = 1; i < args.length; i++) {
          const value = args[i]!(context);
          if (value === null) return null;
          if (pickLower ? value < result : value > result) result = value;
        }
        return result;
      };
    }
  }
}

/** One closure per operator, so that evaluating does not look at the operator again. */
function arithmetic(operator: Operator, left: Evaluator, right: Evaluator): Evaluator {
  switch (operator) {
    case '+':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a + b);
      };
    case '-':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a - b);
      };
    case '*':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null ? null : finite(a * b);
      };
    case '/':
      return (context) => {
        const a = left(context);
        if (a === null) return null;
        const b = right(context);
        return b === null || b === 0 ? null : finite(a / b);
      };
  }
}
