import { ConfigFileError, readYamlFile, type ConfigIssue } from '@citypilot/sdk';
import { checkProject, ProjectDefinitionError, type ProjectDefinition } from './model.js';

const NOT_APPLIED = 'nothing was applied';

/**
 * Reads a file of project definitions (`projects: [ … ]`, YAML; hub/projects.sample.yaml is a
 * commented example) and checks every definition, as objectives' files are read.
 * @throws ConfigFileError listing every mistake with its file, line and column; nothing is applied then.
 */
export function loadProjectsFile(file: string): ProjectDefinition[] {
  const source = readYamlFile(file, NOT_APPLIED);
  const list = (source.data as { projects?: unknown } | null)?.projects;
  if (!Array.isArray(list)) throw new ConfigFileError(file, source.describe([{ path: ['projects'], message: 'expected a list of projects' }]), NOT_APPLIED);
  const issues: ConfigIssue[] = [];
  const definitions: ProjectDefinition[] = [];
  const keys = new Map<string, number>();
  list.forEach((item, i) => {
    const key = (item as { key?: unknown } | null)?.key;
    if (typeof key === 'string') {
      const first = keys.get(key);
      if (first !== undefined) issues.push({ path: ['projects', i, 'key'], message: `${JSON.stringify(key)} is already the key of projects[${first}]` });
      else keys.set(key, i);
    }
    try {
      definitions.push(checkProject(item));
    } catch (error) {
      if (!(error instanceof ProjectDefinitionError)) throw error;
      for (const issue of error.issues) issues.push({ path: ['projects', i, ...issue.path], message: issue.message });
    }
  });
  if (issues.length) throw new ConfigFileError(file, source.describe(issues), NOT_APPLIED);
  return definitions;
}
