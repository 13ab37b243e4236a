import { Type, type Static } from '@sinclair/typebox';
import { formatPath, ID_PATTERN, StringEnum, validate, type ConfigIssue } from '@citypilot/sdk';
import { FormulaError, parseFormula, type Formula } from './formula.js';

/**
 * An objective: a KPI with its formula, the scope it is measured on, the calendar period it is
 * judged over, and its target. Definitions are versioned: changing one makes a new version, and
 * the results computed with the old one stay as they were.
 */

export const THEMES = ['energy', 'reception', 'public-lighting', 'parking', 'security', 'roads', 'other'] as const;
export type Theme = (typeof THEMES)[number];

export const PERIODS = ['month', 'quarter', 'year'] as const;
export type Period = (typeof PERIODS)[number];

/** Where an objective is measured, from the most global to the most detailed. */
export const LEVELS = ['city', 'site', 'building'] as const;
export type Level = (typeof LEVELS)[number];

const Text = (expected: string) => Type.String({ minLength: 1, maxLength: 2000, expected });

/** How the target of a period is set. */
const TargetSchema = Type.Union(
  [
    Type.Object({ kind: Type.Literal('value'), value: Type.Number() }, { additionalProperties: false }),
    Type.Object(
      {
        /** A relative change against the same period of a baseline year, e.g. -0.4 for 40 % less. */
        kind: Type.Literal('change'),
        change: Type.Number({ minimum: -1, maximum: 10 }),
        /** The baseline year; `reference-year` is each building's energy reference year (a city or site: the earliest of its buildings'). */
        baseline: Type.Union([Type.Integer({ minimum: 2000, maximum: 2100 }), Type.Literal('reference-year')]),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        /** Steps of change against the baseline, reached in the given years, linear in between (the French tertiary decree: -40 % in 2030, -50 % in 2040, -60 % in 2050). */
        kind: Type.Literal('trajectory'),
        baseline: Type.Union([Type.Integer({ minimum: 2000, maximum: 2100 }), Type.Literal('reference-year')]),
        steps: Type.Array(
          Type.Object(
            { year: Type.Integer({ minimum: 2000, maximum: 2100 }), change: Type.Number({ minimum: -1, maximum: 10 }) },
            { additionalProperties: false },
          ),
          {
            minItems: 1,
          },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { expected: 'a target: {kind: value, value}, {kind: change, change, baseline} or {kind: trajectory, baseline, steps}' },
);

export const ObjectiveSchema = Type.Object(
  {
    /** Stable id, kept across versions. */
    key: Type.String({ pattern: ID_PATTERN, expected: 'an id of lowercase letters, digits, - and _ (such as energy-per-m2)' }),
    theme: StringEnum(THEMES),
    label: Type.Object({ fr: Text('a label in French'), en: Text('a label in English') }, { additionalProperties: false }),
    unit: Type.String({ maxLength: 50 }),
    /** See formula.ts for the language. */
    formula: Type.String({ minLength: 1, maxLength: 2000 }),
    scope: Type.Object(
      {
        /** The level the objective is judged at; results are also computed below it, for drill-down. */
        level: StringEnum(LEVELS),
        /** Only these sites or buildings (keys of the catalog), at the scope's level. */
        keys: Type.Optional(Type.Array(Type.String({ pattern: ID_PATTERN }), { minItems: 1 })),
        /** Only buildings of these usages (school, town-hall …). */
        usages: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        /**
         * Only buildings with a point tagged with all of these (Haystack markers): a group such as
         * the buildings with a lighting meter (`[lighting, meter]`) or a swimming pool's heat pump.
         */
        tags: Type.Optional(Type.Array(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_-]*$' }), { minItems: 1 })),
      },
      { additionalProperties: false },
    ),
    period: StringEnum(PERIODS),
    target: TargetSchema,
    /** `down`: lower is better (energy); `up`: higher is better (calls answered). */
    direction: StringEnum(['down', 'up'] as const),
    /** Relative distance to the target still counted amber rather than red, e.g. 0.05. */
    tolerance: Type.Number({ minimum: 0, maximum: 10, default: 0.05 }),
    owner: Text('who answers for the objective'),
    methodology: Text('how the value is computed and why, for the readers of the KPI'),
    /** Shown to anyone, citizens included; unpublished objectives need a token. */
    published: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export type ObjectiveDefinition = Static<typeof ObjectiveSchema>;
export type Target = Static<typeof TargetSchema>;

/** A definition that cannot be used; `issues` say where and what was expected. */
export class ObjectiveDefinitionError extends Error {
  readonly code = 'OBJECTIVE_INVALID';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${formatPath(i.path) || '(definition)'}: ${i.message}`).join('\n'));
  }
}

/** A definition checked, defaults filled in, with its formula parsed. */
export interface CheckedObjective {
  definition: ObjectiveDefinition;
  formula: Formula;
}

/** Checks a definition (schema, formula, target years) before anything is stored. */
export function checkObjective(input: unknown): CheckedObjective {
  const result = validate(ObjectiveSchema, input);
  if (!result.ok) throw new ObjectiveDefinitionError(result.issues);
  const definition = result.value;
  let formula: Formula;
  try {
    formula = parseFormula(definition.formula);
  } catch (error) {
    if (error instanceof FormulaError) throw new ObjectiveDefinitionError([{ path: ['formula'], message: error.message }]);
    throw error;
  }
  const { target } = definition;
  if (target.kind === 'trajectory') {
    const years = target.steps.map((s) => s.year);
    if (years.some((y, i) => i > 0 && y <= years[i - 1]!)) {
      throw new ObjectiveDefinitionError([{ path: ['target', 'steps'], message: 'steps must be in increasing years' }]);
    }
  }
  return { definition, formula };
}
