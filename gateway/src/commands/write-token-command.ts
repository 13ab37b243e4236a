import { ConfigFileError } from '@citypilot/sdk';
import type { CliIo } from './io.js';
import { gatewayDataDir } from '../config/data-dir.js';
import { createWriteToken, readWriteTokens, revokeWriteToken, WriteTokenError, writeTokensFile } from '../write/write-tokens.js';

export const WRITE_TOKEN_USAGE = `Usage: citypilot gateway write-token create FILE --name TECHNICIAN
       citypilot gateway write-token list FILE
       citypilot gateway write-token revoke FILE --name TECHNICIAN

  create  make a write token for a technician and print it, once: it is the only copy (the
          gateway keeps its SHA-256 only). The technician sends it as
          "Authorization: Bearer <token>" to POST /api/points/<id>/write; the gateway's log
          names the technician for every write
  list    the technicians who hold a token, and since when
  revoke  remove a technician's token: their writes are refused from the next one on

FILE is the gateway's configuration; only its dataDir is read (the tokens are in
<dataDir>/write-tokens.json), so this works while the rest of the file is being fixed.
A running gateway sees the change at once.`;

/**
 * `citypilot gateway write-token create|list|revoke FILE [--name TECHNICIAN]`. Resolves with the
 * exit code: 0 done, 1 nothing to revoke, 2 bad usage, name or file (said on stderr).
 */
export function runWriteTokenCli(args: readonly string[], io: CliIo): number {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(WRITE_TOKEN_USAGE);
    return 0;
  }
  const [action, file, ...rest] = args;
  const usage = (why: string) => {
    io.err(`${why}\n\n${WRITE_TOKEN_USAGE}`);
    return 2;
  };
  if (action !== 'create' && action !== 'list' && action !== 'revoke')
    return usage(action ? `unknown action ${JSON.stringify(action)}` : 'create, list or revoke?');
  if (!file || file.startsWith('--')) return usage("the gateway's configuration file is missing");
  let name: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const inline = /^--name=(.*)$/.exec(arg);
    if (action !== 'list' && (arg === '--name' || inline)) name = inline ? inline[1] : rest[++i];
    else return usage(`unexpected ${JSON.stringify(arg)}`);
  }
  if (action !== 'list' && !name) return usage(`${action} needs --name TECHNICIAN: the technician the token is for`);
  try {
    const dataDir = gatewayDataDir(file);
    if (action === 'create') {
      const token = createWriteToken(dataDir, name!);
      io.out(token);
      io.err(`Write token for ${name}: give it to them now, it is not shown again (${writeTokensFile(dataDir)} keeps its hash only).`);
      return 0;
    }
    if (action === 'list') {
      const tokens = readWriteTokens(dataDir);
      if (!tokens.length) io.out(`No write token in ${writeTokensFile(dataDir)}: writes are refused to everyone.`);
      for (const t of tokens) io.out(`${t.name}\tcreated ${t.createdAt}`);
      return 0;
    }
    if (revokeWriteToken(dataDir, name!)) {
      io.out(`The write token of ${name} is revoked.`);
      return 0;
    }
    io.err(`${name} holds no write token in ${writeTokensFile(dataDir)}; nothing was changed.`);
    return 1;
  } catch (error) {
    if (error instanceof WriteTokenError || error instanceof ConfigFileError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
}
