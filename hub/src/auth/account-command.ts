import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { printTable, type CliIo } from '../cli-io.js';
import {
  ACCOUNT_ROLES,
  AccountNotFoundError,
  AccountRequestError,
  checkAccountFields,
  createAccount,
  disableAccount,
  listAccounts,
  usernameProblem,
  type Account,
} from './accounts.js';
import { cliUser, instant, withStorage } from './token-command.js';

export const ACCOUNT_USAGE = `Usage:
  citypilot hub account add USERNAME --role ROLE [--name "Full Name"] [--sites SITE,SITE…] [--email ADDRESS]
                            make a person's account; the password is CITYPILOT_PASSWORD, or else
                            one made up and printed once
  citypilot hub account list
                            the accounts, disabled ones too (never a password)
  citypilot hub account disable USERNAME
                            the person can no longer sign in; their sessions end at once

Roles: ${ACCOUNT_ROLES.join(', ')}. A technician needs --sites (site keys of the catalog).
A username is 1 to 64 lowercase letters, digits, ".", "_" or "-". With --email, the person may
also sign in through the city's identity provider (OIDC_ISSUER) with that address.`;

/**
 * `citypilot hub account …`: resolves with the exit code, 2 for a bad argument (said on `io.err`
 * before the database is opened). A made-up password is the only line on stdout, so that a
 * script can capture it; everything else of `add` goes to stderr.
 * @param databaseUrl the hub's database URL, or undefined after saying that it is missing
 */
export async function runAccountCli(
  args: readonly string[],
  io: CliIo,
  databaseUrl: () => string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [action, ...rest] = args;
  try {
    switch (action) {
      case 'add':
        return await add(rest, io, databaseUrl, env);
      case 'list':
        if (rest.length) return usage(io, `hub account list takes no argument, not ${rest.join(' ')}`);
        return await withStorage(io, databaseUrl, async (storage) => list(await listAccounts(storage.pool), io));
      case 'disable': {
        if (rest.length !== 1) return usage(io, 'hub account disable takes one username (see `citypilot hub account list`)');
        const username = rest[0]!;
        return await withStorage(io, databaseUrl, async (storage) => {
          const { alreadyDisabled } = await disableAccount(storage.pool, username);
          io.out(
            alreadyDisabled
              ? `The account ${username} was already disabled.`
              : `The account ${username} is disabled: it can no longer sign in, and its sessions have ended.`,
          );
          return 0;
        });
      }
      default:
        return usage(io, action === undefined ? undefined : `unknown account command ${JSON.stringify(action)}`);
    }
  } catch (error) {
    if (!(error instanceof AccountRequestError) && !(error instanceof AccountNotFoundError)) throw error;
    io.err(`citypilot hub account: ${error.message}`);
    return 2;
  }
}

async function add(args: string[], io: CliIo, databaseUrl: () => string | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  let values: { role?: string; name?: string; sites?: string; email?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { role: { type: 'string' }, name: { type: 'string' }, sites: { type: 'string' }, email: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  if (positionals.length !== 1) return usage(io, 'hub account add takes one username');
  const username = positionals[0]!;
  const invalid = usernameProblem(username);
  if (invalid) return usage(io, invalid);
  if (values.role === undefined) return usage(io, `--role is required: one of ${ACCOUNT_ROLES.join(', ')}`);
  const given = env.CITYPILOT_PASSWORD;
  const password = given || randomBytes(15).toString('base64url');
  const fields = { username, name: values.name ?? username, role: values.role, sites: values.sites?.split(','), email: values.email, password };
  // Checked before the database is opened: a mistake costs nothing.
  checkAccountFields(fields);
  return withStorage(io, databaseUrl, async (storage) => {
    const account = await createAccount(storage.pool, fields, cliUser());
    if (!given) io.out(password);
    io.err(`Account ${account.username} created: ${describe(account)}.`);
    io.err(
      given
        ? 'Its password is the one in CITYPILOT_PASSWORD.'
        : 'Its password is printed above, once: give it to its holder (the hub keeps only a hash of it).',
    );
    io.err('They sign in on the dashboard; an admin changes the password with PUT /api/accounts/<username>.');
    return 0;
  });
}

function list(accounts: Account[], io: CliIo): number {
  if (!accounts.length) {
    io.out('No accounts. Make one with `citypilot hub account add USERNAME --role ROLE`.');
    return 0;
  }
  const rows = [
    ['USERNAME', 'ROLE', 'SITES', 'NAME', 'EMAIL', 'SIGN-IN', 'CREATED', 'DISABLED'],
    ...accounts.map((a) => [
      a.username,
      a.role,
      a.sites?.join(',') ?? '*',
      a.name,
      a.email ?? '-',
      [a.hasPassword && 'password', a.oidc && 'provider'].filter(Boolean).join('+') || 'none',
      instant(a.createdAt),
      a.disabledAt ? instant(a.disabledAt) : '-',
    ]),
  ];
  printTable(io, rows);
  return 0;
}

function usage(io: CliIo, problem: string | undefined): number {
  io.err(problem ? `citypilot hub account: ${problem}\n\n${ACCOUNT_USAGE}` : ACCOUNT_USAGE);
  return 2;
}

function describe(account: Account): string {
  return `role ${account.role}${account.sites ? `, sites ${account.sites.join(', ')}` : ''}, name ${JSON.stringify(account.name)}${account.email ? `, email ${account.email}` : ''}`;
}
