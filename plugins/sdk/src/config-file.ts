import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { CityPilotError, formatPath, type ConfigIssue, type ConfigPath } from './errors.js';

/**
 * A configuration file (gateway configuration, device profile, catalog) that cannot be used. Its
 * message lists every problem as `file:line:column path: what was expected`, ready to show a
 * technician or an operator as it is.
 */
export class ConfigFileError extends CityPilotError {
  /**
   * @param outcome what was therefore not done, for the last line: "nothing was started" (a
   *   gateway), "nothing was imported" (a catalog)
   */
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    outcome = 'nothing was started',
  ) {
    super('CONFIG_INVALID', `${problems.join('\n')}\n${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}; ${outcome}.`);
  }
}

/** A parsed YAML file that can say where each of its values is written. */
export interface YamlSource {
  file: string;
  data: unknown;
  /** `file:line:column` of the deepest node on `path` (the key of the last property reached). */
  where(path: ConfigPath): string;
  /** Issues as the lines of a {@link ConfigFileError}. */
  describe(issues: readonly ConfigIssue[]): string[];
}

/**
 * Reads and parses a YAML file. @throws ConfigFileError saying the file cannot be read, or where
 * each syntax error is, with `outcome` as what was therefore not done ("nothing was imported").
 */
export function readYamlFile(file: string, outcome?: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, [`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`], outcome);
  }
  try {
    return parseYaml(text, file);
  } catch (error) {
    throw error instanceof ConfigFileError && outcome !== undefined ? new ConfigFileError(file, error.problems, outcome) : error;
  }
}

/** Parses YAML text. @throws ConfigFileError with the position of each syntax error. */
export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigFileError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col} YAML syntax: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const where = (path: ConfigPath) => {
    const pos = lineCounter.linePos(locate(doc.contents, path));
    return `${file}:${pos.line}:${pos.col}`;
  };
  return {
    file,
    data: doc.toJS() ?? {},
    where,
    describe: (issues) => issues.map((i) => `${where(i.path)} ${formatPath(i.path)}: ${i.message}`),
  };
}

/**
 * Offset in the text of the deepest node on `path`: the key of the last property reached (so an
 * unknown or wrong setting points at its name), or the item of a list.
 */
function locate(root: YamlNode | null, path: ConfigPath): number {
  let node: unknown = root;
  let offset = (root as YamlNode | null)?.range?.[0] ?? 0;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part];
      offset = (node as YamlNode).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}
