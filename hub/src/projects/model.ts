import { Type, type Static } from '@sinclair/typebox';
import { formatPath, ID_PATTERN, StringEnum, validate, type ConfigIssue } from '@citypilot/sdk';
import { THEMES } from '../objectives/model.js';
import { ENERGIES } from '../objectives/meters.js';
import { METRIC_MAX_LENGTH, METRIC_PATTERN } from '../service-data/model.js';

/**
 * A project: one of the city's actions (relamping a school, replacing a boiler, online booking at
 * the town hall …) with its dates, its costs and what it should move — the energy of its scope's
 * buildings (measured against a baseline model, IPMVP option C) or a service metric (before and
 * after). One TypeBox declaration gives the type, the check (with where and what was expected)
 * and the OpenAPI schema. Definitions are versioned as objectives are (store.ts).
 */

const Text = (expected: string, maxLength = 2000) => Type.String({ minLength: 1, maxLength, expected });
const DAY_PATTERN = '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$';
const Day = (what: string) => Type.String({ pattern: DAY_PATTERN, expected: `${what}: a date YYYY-MM-DD` });
const Euros = (what: string) => Type.Number({ minimum: 0, maximum: 1e10, expected: `${what}: an amount in € from 0 to 10,000,000,000` });

/** A building's key as in the catalog. */
const BuildingKey = Type.String({ pattern: ID_PATTERN, maxLength: 100, expected: 'the key of a building of the catalog' });

export const ProjectSchema = Type.Object(
  {
    /** Stable id, kept across versions. */
    key: Type.String({ pattern: ID_PATTERN, maxLength: 100, expected: 'an id of lowercase letters, digits, - and _ (such as relamping-jaures-school)' }),
    title: Type.Object({ fr: Text('a title in French', 200), en: Text('a title in English', 200) }, { additionalProperties: false }),
    description: Type.Optional(Text('what the project does, for the readers of its results')),
    theme: StringEnum(THEMES),
    /** `city`, `site:<key>`, `building:<key>`, or a list of building keys. */
    scope: Type.Union(
      [
        Type.String({ pattern: '^(city|site:[a-z0-9][a-z0-9_-]*|building:[a-z0-9][a-z0-9_-]*)$', maxLength: 110 }),
        Type.Array(BuildingKey, { minItems: 1, maxItems: 1000 }),
      ],
      { expected: '`city`, `site:<key>`, `building:<key>` or a list of building keys' },
    ),
    dates: Type.Object(
      {
        /** When the city decided it (informative). */
        decision: Type.Optional(Day('the date of the decision')),
        /** First local day of the works: the baseline is the 12 months before its month. */
        worksStart: Day('the first day of the works'),
        /** Last local day of the works: the reporting period starts the month after. */
        worksEnd: Day('the last day of the works'),
      },
      { additionalProperties: false },
    ),
    costs: Type.Object(
      {
        /** €, before subsidies. */
        investment: Euros('the investment'),
        /** € per year the project costs to run (maintenance, licences), taken off its savings. */
        yearlyRunningCost: Type.Number({ minimum: 0, maximum: 1e9, default: 0, expected: 'an amount in € per year from 0 to 1,000,000,000' }),
        /** Grants received (CEE, DSIL, Fonds vert …), € each. */
        subsidies: Type.Array(
          Type.Object({ name: Text('the name of the subsidy (CEE, DSIL, Fonds vert …)', 200), amount: Euros('the subsidy') }, { additionalProperties: false }),
          {
            default: [],
            maxItems: 50,
          },
        ),
      },
      { additionalProperties: false },
    ),
    /** What the project saves energy on: the main meters of these energies in its scope's buildings. */
    energy: Type.Optional(
      Type.Object(
        {
          energies: Type.Array(StringEnum(ENERGIES), { minItems: 1, maxItems: ENERGIES.length }),
          /** Whether the baseline model also counts open days (a building whose use changed). */
          occupancy: Type.Boolean({ default: false }),
        },
        { additionalProperties: false },
      ),
    ),
    /** What the project should move instead when it is not energy: a service metric before and after. */
    metric: Type.Optional(
      Type.Object(
        {
          key: Type.String({ pattern: METRIC_PATTERN, maxLength: METRIC_MAX_LENGTH, expected: 'a service metric such as reception.wait_minutes' }),
          better: StringEnum(['lower', 'higher'] as const),
        },
        { additionalProperties: false },
      ),
    ),
    /** What the project was expected to save when decided, to compare with what it saves. */
    expectedSavings: Type.Object(
      {
        kWhPerYear: Type.Optional(Type.Number({ minimum: 0, maximum: 1e12, expected: 'kWh per year, at least 0' })),
        eurosPerYear: Type.Optional(Type.Number({ minimum: 0, maximum: 1e10, expected: '€ per year, at least 0' })),
        note: Type.Optional(Text('where the expectation comes from (an audit, a supplier’s study)')),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Years the works last, for the return on investment and the net present value. */
    lifetimeYears: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    owner: Text('who answers for the project', 200),
    /** Shown to anyone, citizens included; unpublished projects need a staff token. */
    published: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export type ProjectDefinition = Static<typeof ProjectSchema>;

/** A definition that cannot be used; `issues` say where and what was expected. */
export class ProjectDefinitionError extends Error {
  readonly code = 'PROJECT_INVALID';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${formatPath(i.path) || '(definition)'}: ${i.message}`).join('\n'));
  }
}

/** Checks a definition (schema, then what the schema cannot say) and fills in its defaults. @throws ProjectDefinitionError */
export function checkProject(input: unknown): ProjectDefinition {
  const result = validate(ProjectSchema, input);
  if (!result.ok) throw new ProjectDefinitionError(result.issues);
  const definition = result.value;
  const issues: ConfigIssue[] = [];
  const { worksStart, worksEnd, decision } = definition.dates;
  let realDays = true;
  for (const [name, day] of [
    ['worksStart', worksStart],
    ['worksEnd', worksEnd],
    ['decision', decision],
  ] as const) {
    if (day === undefined) continue;
    const year = Number(day.slice(0, 4));
    if (!realDay(day)) issues.push({ path: ['dates', name], message: `${day} is not a day of the calendar` });
    // The evaluation loads the months from a year before the works: bounded.
    else if (year < 1990 || year > 2100) issues.push({ path: ['dates', name], message: `${day} is outside the years 1990 to 2100` });
    else continue;
    realDays = false;
  }
  if (realDays && worksEnd < worksStart)
    issues.push({
      path: ['dates', 'worksEnd'],
      message: `${worksEnd} is before worksStart ${worksStart}: expected the last day of the works, on or after the first`,
    });
  if (!definition.energy === !definition.metric) {
    issues.push({
      path: definition.energy ? ['metric'] : [],
      message: 'expected exactly one of energy ({ energies: [elec, gas …] }) or metric ({ key, better }): what the project should move',
    });
  }
  if (definition.energy && new Set(definition.energy.energies).size !== definition.energy.energies.length) {
    issues.push({ path: ['energy', 'energies'], message: 'lists an energy twice' });
  }
  if (Array.isArray(definition.scope) && new Set(definition.scope).size !== definition.scope.length) {
    issues.push({ path: ['scope'], message: 'lists a building twice' });
  }
  if (issues.length) throw new ProjectDefinitionError(issues);
  return definition;
}

function realDay(day: string): boolean {
  const d = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(day);
}

/** The building keys a scope names directly (a list or `building:<key>`); none for `city` or a site. */
export function scopeBuildings(scope: ProjectDefinition['scope']): string[] | undefined {
  if (Array.isArray(scope)) return scope;
  return scope.startsWith('building:') ? [scope.slice('building:'.length)] : undefined;
}
