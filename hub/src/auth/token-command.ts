import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { printTable, type CliIo } from '../cli-io.js';
import type { Logger } from '@citypilot/sdk';
import { checkTokenRequest, createToken, listTokens, revokeToken, TOKEN_ROLES, TokenNotFoundError, TokenRequestError, type TokenInfo } from './tokens.js';
import { Storage } from '../storage/storage.js';

export const TOKEN_USAGE = `Usage:
  citypilot hub token create --role ROLE --label TEXT [--sites SITE,SITE…]
                            make an API token and print it, once (the hub keeps only its hash)
  citypilot hub token list  the tokens, revoked ones too (never their secrets)
  citypilot hub token revoke ID
                            stop accepting a token (running hubs within 5 s)

Roles: ${TOKEN_ROLES.join(', ')}.
A technician token needs --sites (site keys of the catalog); the other roles cover every site.
Calls without a token have the role public.`;

/**
 * `citypilot hub token …`: resolves with the exit code, 2 for a bad argument (said on `io.err`
 * before the database is opened). The token that `create` makes is the only line on stdout, so
 * that a script can capture it; everything else goes to stderr.
 * @param databaseUrl the hub's database URL, or undefined after saying that it is missing
 */
export async function runTokenCli(args: readonly string[], io: CliIo, databaseUrl: () => string | undefined): Promise<number> {
  const [action, ...rest] = args;
  try {
    switch (action) {
      case 'create':
        return await create(rest, io, databaseUrl);
      case 'list':
        if (rest.length) return usage(io, `hub token list takes no argument, not ${rest.join(' ')}`);
        return await withStorage(io, databaseUrl, (storage) => list(storage, io));
      case 'revoke':
        if (rest.length !== 1) return usage(io, 'hub token revoke takes one token id (see `citypilot hub token list`)');
        if (!/^[1-9][0-9]{0,17}$/.test(rest[0]!))
          return usage(io, `a token id is a number as \`citypilot hub token list\` shows it, not ${JSON.stringify(rest[0])}`);
        return await withStorage(io, databaseUrl, (storage) => revoke(storage, rest[0]!, io));
      default:
        return usage(io, action === undefined ? undefined : `unknown token command ${JSON.stringify(action)}`);
    }
  } catch (error) {
    if (!(error instanceof TokenRequestError) && !(error instanceof TokenNotFoundError)) throw error;
    io.err(`citypilot hub token: ${error.message}`);
    return 2;
  }
}

async function create(args: string[], io: CliIo, databaseUrl: () => string | undefined): Promise<number> {
  let values: { role?: string; label?: string; sites?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { role: { type: 'string' }, label: { type: 'string' }, sites: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  if (values.role === undefined) return usage(io, `--role is required: one of ${TOKEN_ROLES.join(', ')}`);
  if (values.label === undefined) return usage(io, '--label is required: say who or what the token is for, e.g. --label "energy dashboard, town hall"');
  // Checked before the database is opened: a mistake costs nothing.
  const asked = { role: values.role, label: values.label, sites: values.sites?.split(',') };
  const request = checkTokenRequest(asked);
  return withStorage(io, databaseUrl, async (storage) => {
    const { info, token } = await createToken(storage.pool, asked, cliUser());
    io.out(token);
    io.err(`Token ${info.id} created: ${describe(info)}.`);
    io.err('Keep it now: it will not be shown again (the hub stores only a hash of it). Send it as "Authorization: Bearer <token>".');
    if (request.sites) {
      const { rows } = await storage.pool.query<{ key: string }>('SELECT key FROM sites WHERE key = ANY ($1)', [request.sites]);
      const missing = request.sites.filter((s) => !rows.some((r) => r.key === s));
      if (missing.length) io.err(`Note: not in the catalog yet: ${missing.join(', ')} (the token covers them all the same).`);
    }
    return 0;
  });
}

async function list(storage: Storage, io: CliIo): Promise<number> {
  const tokens = await listTokens(storage.pool);
  if (!tokens.length) {
    io.out('No API tokens. Make one with `citypilot hub token create --role ROLE --label TEXT`.');
    return 0;
  }
  const rows = [
    ['ID', 'ROLE', 'SITES', 'LABEL', 'CREATED', 'BY', 'LAST USED', 'REVOKED'],
    ...tokens.map((t) => [
      t.id,
      t.role,
      t.sites?.join(',') ?? '*',
      t.label,
      instant(t.createdAt),
      t.createdBy,
      t.lastUsedAt ? instant(t.lastUsedAt) : 'never',
      t.revokedAt ? instant(t.revokedAt) : '-',
    ]),
  ];
  printTable(io, rows);
  return 0;
}

async function revoke(storage: Storage, id: string, io: CliIo): Promise<number> {
  const { info, alreadyRevoked } = await revokeToken(storage.pool, id, cliUser());
  if (alreadyRevoked) io.out(`Token ${id} (${describe(info)}) was already revoked on ${instant(info.revokedAt!)}.`);
  else io.out(`Token ${id} (${describe(info)}) revoked: running hubs refuse it within 5 s.`);
  return 0;
}

/** Opens the hub's database (its schema brought up to date) for `action`, then closes it. */
export async function withStorage(io: CliIo, databaseUrl: () => string | undefined, action: (storage: Storage) => Promise<number>): Promise<number> {
  const url = databaseUrl();
  if (!url) return 2;
  // Problems to stderr only: stdout carries the token.
  const logger: Logger = { debug() {}, info() {}, warn: (_o, msg) => io.err(`warning: ${msg}`), error: (_o, msg) => io.err(`error: ${msg}`) };
  const storage = await Storage.open({ databaseUrl: url, logger, timezone: process.env.CITYPILOT_TIMEZONE });
  try {
    return await action(storage);
  } finally {
    await storage.close();
  }
}

function usage(io: CliIo, problem: string | undefined): number {
  io.err(problem ? `citypilot hub token: ${problem}\n\n${TOKEN_USAGE}` : TOKEN_USAGE);
  return 2;
}

function describe(info: TokenInfo): string {
  return `role ${info.role}${info.sites ? `, sites ${info.sites.join(', ')}` : ''}, label ${JSON.stringify(info.label)}`;
}

export function instant(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Who runs the command, as recorded in created_by and revoked_by. */
export function cliUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:${process.env.USER ?? 'unknown'}`;
  }
}
