import { readFileSync } from 'node:fs';
import { isAlias, isCollection, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
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
    options?: { cause?: unknown },
  ) {
    super('CONFIG_INVALID', `${problems.join('\n')}\n${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}; ${outcome}.`, options);
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
    throw error instanceof ConfigFileError && outcome !== undefined ? new ConfigFileError(file, error.problems, outcome, { cause: error }) : error;
  }
}

/**
 * Parses YAML text. @throws ConfigFileError with the position of each syntax error, and of each
 * alias it refuses (see {@link aliasProblems}).
 */
export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length)
    throw new ConfigFileError(
      file,
      doc.errors.map((e) => `${at(e.pos[0])} YAML syntax: ${e.message.split('\n')[0]}`),
    );
  const aliases = aliasProblems(doc, at);
  if (aliases.length) throw new ConfigFileError(file, aliases);
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // Nothing the checks above let through should fail here; if it does, say where, not how.
    throw new ConfigFileError(file, [`${at(0)} YAML: the file cannot be read as data (${(error as Error).name})`], undefined, { cause: error });
  }
  const where = (path: ConfigPath) => at(locate(doc.contents, path));
  return {
    file,
    data: data ?? {},
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

/**
 * The anchors and aliases a configuration file may not hold, as `file:line:column` lines:
 *
 * - an alias whose anchor is not defined before it (deleted, renamed, or further down);
 * - an alias of a list or a map: one block shared by several places (the same `tags` of several
 *   points), where editing it at one place silently changes the others, and deleting the place
 *   that holds the anchor breaks the others. Write the block out at each place instead;
 * - an anchor name defined twice, which makes an alias mean the later one.
 *
 * Aliases of a single value (`interval: *fast`) are taken: they read as the value written out.
 */
export function aliasProblems(doc: Document, at: (offset: number) => string): string[] {
  const problems: string[] = [];
  const anchors = new Map<string, number>();
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      const offset = node.range?.[0] ?? 0;
      const target = node.resolve(doc);
      if (!target) {
        problems.push(
          `${at(offset)} YAML alias *${node.source} names no anchor &${node.source} before it (deleted, renamed or further down the file): write the value out here`,
        );
      } else if (isCollection(target)) {
        const kind = isSeq(target) ? 'list' : 'map';
        problems.push(
          `${at(offset)} YAML alias *${node.source} shares the ${kind} at ${at(target.range?.[0] ?? 0)} (anchor &${node.source}) with this place: a configuration file takes no alias of a list or map (an edit of one place would silently change the other): write the ${kind} out here`,
        );
      }
      return;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    const offset = (node as YamlNode | null)?.range?.[0];
    if (!anchor || offset === undefined) return;
    const first = anchors.get(anchor);
    if (first !== undefined) problems.push(`${at(offset)} YAML anchor &${anchor} is defined already at ${at(first)}: give each anchor its own name`);
    else anchors.set(anchor, offset);
  });
  return problems;
}
