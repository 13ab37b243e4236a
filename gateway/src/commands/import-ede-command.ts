import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bacnetConnection, EdeFileError, formatEdeProblem, importEde, type EdeProblem } from '@citypilot/plugin-bacnet';
import { formatDrafts } from './discover-command.js';

/** A command line `import-ede` cannot run: missing file, unknown option, a bad value. */
export class ImportEdeUsageError extends Error {}

export const IMPORT_EDE_HELP = `Usage: citypilot gateway import-ede FILE.csv [--device-instance N] [--address IP[:PORT]] [--state-texts FILE.csv]

Reads an EDE file (BACnet Engineering Data Exchange, the CSV an integrator hands over) and prints
one draft BACnet device block per device it describes, to review and paste under devices:.
Rows that cannot be read are listed on stderr by line and column and left out.

Options:
  --device-instance  draft only the device with this instance number
  --address          the device's IP address, with :port when not 47808 (needs one device)
  --state-texts      the companion state-texts file; by default the file named like FILE with
                     StateTexts (or State-Texts) in place of EDE, when there is one`;

/** What `import-ede` prints: the drafts on stdout, the rows' problems on stderr. */
export interface ImportEdeOutput {
  yaml: string;
  problems: string[];
}

/**
 * `citypilot gateway import-ede FILE [--device-instance N] [--address IP] [--state-texts FILE]`.
 * Calls the BACnet plugin's EDE import directly: it needs no registered driver, nor a network.
 * @throws ImportEdeUsageError for a bad command line; EdeFileError (with the rows' problems)
 *   when the file is unusable
 */
export function importEdeFile(args: readonly string[]): ImportEdeOutput {
  const { file, options } = parseArgs(args);
  let deviceInstance: number | undefined;
  if (options['device-instance'] !== undefined) {
    const text = options['device-instance'];
    if (!/^\d+$/.test(text) || Number(text) > 4194302)
      throw new ImportEdeUsageError(`--device-instance: expected an integer 0..4194302, got ${JSON.stringify(text)}`);
    deviceInstance = Number(text);
  }
  const address = options.address;
  if (address !== undefined) {
    const pattern = new RegExp(bacnetConnection.properties.address.pattern!);
    if (!pattern.test(address))
      throw new ImportEdeUsageError(`--address: expected ${bacnetConnection.properties.address.expected}, got ${JSON.stringify(address)}`);
  }
  const bytes = readInput(file, 'FILE');
  const stateTextsFile = options['state-texts'] ?? companionStateTexts(file);
  const stateTexts = stateTextsFile ? { bytes: readInput(stateTextsFile, '--state-texts'), file: stateTextsFile } : undefined;

  const result = importEde(bytes, {
    file,
    ...(deviceInstance !== undefined ? { deviceInstance } : {}),
    ...(address !== undefined ? { address } : {}),
    ...(stateTexts ? { stateTexts } : {}),
  });
  const { project } = result.ede;
  const skipped = result.problems.filter((p) => p.skipped).length;
  const heading = [
    `${result.drafts.length} device(s) drafted from ${basename(file)}${project.name ? ` (project ${project.name}${project.version ? `, version ${project.version}` : ''})` : ''}: review, rename, then paste under devices:`,
    // The driver is another part of the plugin's work; say so rather than let validate surprise.
    `The gateway runs plugin: bacnet devices once the BACnet driver is part of it; until then \`citypilot gateway validate\` refuses them.`,
    ...(stateTexts && !options['state-texts'] ? [`state texts read from ${stateTextsFile}`] : []),
    ...result.notes,
    ...(skipped ? [`${skipped} row(s) left out: see the messages on stderr`] : []),
  ];
  return { yaml: formatDrafts(result.drafts, heading), problems: result.problems.map(formatEdeProblem) };
}

/** The rows' problems of an unusable file, for stderr. */
export function describeEdeFileError(error: EdeFileError): string {
  return [error.message, ...error.problems.map((p: EdeProblem) => formatEdeProblem(p))].join('\n');
}

function parseArgs(args: readonly string[]): { file: string; options: Record<string, string> } {
  const known = ['device-instance', 'address', 'state-texts'];
  const options: Record<string, string> = {};
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) {
      if (file !== undefined) throw new ImportEdeUsageError(`unexpected argument ${JSON.stringify(arg)}: one EDE file at a time\n\n${IMPORT_EDE_HELP}`);
      file = arg;
      continue;
    }
    if (!known.includes(match[1]!)) throw new ImportEdeUsageError(`unknown option --${match[1]}\n\n${IMPORT_EDE_HELP}`);
    const value = match[2] ?? args[++i];
    if (value === undefined) throw new ImportEdeUsageError(`--${match[1]} needs a value`);
    options[match[1]!] = value;
  }
  if (file === undefined) throw new ImportEdeUsageError(`which EDE file?\n\n${IMPORT_EDE_HELP}`);
  return { file, options };
}

function readInput(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ImportEdeUsageError(`${what} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

/** `Site_EDE.csv` → `Site_StateTexts.csv` (or `Site_State-Texts.csv`), when it exists. */
function companionStateTexts(file: string): string | undefined {
  const name = basename(file);
  const ede = /(?<![a-z])ede(?![a-z])/i;
  if (!ede.test(name)) return undefined;
  return ['StateTexts', 'State-Texts', 'State_Texts', 'StateText']
    .map((s) => join(dirname(file), name.replace(ede, s)))
    .find((candidate) => candidate !== file && existsSync(candidate));
}
