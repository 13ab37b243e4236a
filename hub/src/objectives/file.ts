import { ConfigFileError, readYamlFile, type ConfigIssue } from '@citypilot/sdk';
import { checkObjective, ObjectiveDefinitionError, type ObjectiveDefinition } from './model.js';

const NOT_APPLIED = 'nothing was applied';

/**
 * Reads a file of objective definitions (`objectives: [ … ]`, YAML; hub/objectives/ holds the
 * shipped ones) and checks every definition and formula. @throws ConfigFileError listing every
 * mistake with its file, line and column; nothing is applied then.
 */
export function loadObjectivesFile(file: string): ObjectiveDefinition[] {
  const source = readYamlFile(file, NOT_APPLIED);
  const list = (source.data as { objectives?: unknown }).objectives;
  if (!Array.isArray(list)) throw new ConfigFileError(file, source.describe([{ path: ['objectives'], message: 'expected a list of objectives' }]), NOT_APPLIED);
  const issues: ConfigIssue[] = [];
  const definitions: ObjectiveDefinition[] = [];
  const keys = new Map<string, number>();
  list.forEach((item, i) => {
    // Keys are compared as written, so that a key used twice is reported even next to other mistakes.
    const key = (item as { key?: unknown } | null)?.key;
    if (typeof key === 'string') {
      const first = keys.get(key);
      if (first !== undefined) issues.push({ path: ['objectives', i, 'key'], message: `${JSON.stringify(key)} is already the key of objectives[${first}]` });
      else keys.set(key, i);
    }
    try {
      definitions.push(checkObjective(item).definition);
    } catch (error) {
      if (!(error instanceof ObjectiveDefinitionError)) throw error;
      for (const issue of error.issues) issues.push({ path: ['objectives', i, ...issue.path], message: issue.message });
    }
  });
  if (issues.length) throw new ConfigFileError(file, source.describe(issues), NOT_APPLIED);
  return definitions;
}
