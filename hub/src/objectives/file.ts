import { readFileSync } from 'node:fs';
import { ConfigFileError, parseYaml, type ConfigIssue } from '@citypilot/sdk';
import { checkObjective, ObjectiveDefinitionError, type ObjectiveDefinition } from './model.js';

const NOT_APPLIED = 'nothing was applied';

/**
 * Reads a file of objective definitions (`objectives: [ … ]`, YAML; hub/objectives/ holds the
 * shipped ones) and checks every definition and formula. @throws ConfigFileError listing every
 * mistake with its file, line and column; nothing is applied then.
 */
export function loadObjectivesFile(file: string): ObjectiveDefinition[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, [`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`], NOT_APPLIED);
  }
  let source;
  try {
    source = parseYaml(text, file);
  } catch (error) {
    throw error instanceof ConfigFileError ? new ConfigFileError(file, error.problems, NOT_APPLIED) : error;
  }
  const list = (source.data as { objectives?: unknown }).objectives;
  if (!Array.isArray(list)) throw new ConfigFileError(file, source.describe([{ path: ['objectives'], message: 'expected a list of objectives' }]), NOT_APPLIED);
  const issues: ConfigIssue[] = [];
  const definitions: ObjectiveDefinition[] = [];
  const keys = new Map<string, number>();
  list.forEach((item, i) => {
    try {
      const { definition } = checkObjective(item);
      const first = keys.get(definition.key);
      if (first !== undefined) issues.push({ path: ['objectives', i, 'key'], message: `${JSON.stringify(definition.key)} is already the key of objectives[${first}]` });
      keys.set(definition.key, i);
      definitions.push(definition);
    } catch (error) {
      if (!(error instanceof ObjectiveDefinitionError)) throw error;
      for (const issue of error.issues) issues.push({ path: ['objectives', i, ...issue.path], message: issue.message });
    }
  });
  if (issues.length) throw new ConfigFileError(file, source.describe(issues), NOT_APPLIED);
  return definitions;
}
