import type pg from 'pg';
import { CityPilotError, ID_PATTERN } from '@citypilot/sdk';
import { hashPassword, passwordProblem } from './passwords.js';
import type { Role } from './principal.js';
import { TOKEN_ROLES } from './tokens.js';

/**
 * People's accounts: who signs in to the dashboard, with a password or through the city's
 * identity provider (OpenID Connect), and with which role. Machines use API tokens (tokens.ts).
 * Used by the accounts API (account-routes.ts), `citypilot hub account …` and the demo.
 */

/** Roles an account may have: every role but `public`, which is being signed out. */
export const ACCOUNT_ROLES = TOKEN_ROLES;
export type AccountRole = Exclude<Role, 'public'>;

/** What a username looks like: 1 to 64 lowercase letters, digits, `.`, `_` and `-`. */
export const USERNAME_PATTERN = '^[a-z0-9._-]{1,64}$';
const NAME_MAX = 200;
const EMAIL_MAX = 254;

/** An account request that cannot be honoured; the message says which field and what is expected. */
export class AccountRequestError extends CityPilotError {
  constructor(message: string) {
    super('ACCOUNT_REQUEST_INVALID', message);
  }
}

/** No account has this username. */
export class AccountNotFoundError extends CityPilotError {
  constructor(readonly username: string) {
    super('ACCOUNT_NOT_FOUND', `no account has the username ${JSON.stringify(username)}`);
  }
}

/** An account as listed and answered: never its password nor its hash. */
export interface Account {
  username: string;
  /** The person's display name, recorded with each of their writes. */
  name: string;
  email: string | null;
  role: AccountRole;
  /** Site keys of a technician; null (every site) for the other roles. */
  sites: string[] | null;
  /** Whether the account has a password (else it signs in only through OpenID Connect). */
  hasPassword: boolean;
  /** The identity provider's issuer and subject, once the person signed in through it. */
  oidc: { issuer: string; subject: string } | null;
  createdAt: Date;
  createdBy: string;
  disabledAt: Date | null;
}

/** What an admin gives to create or change an account. */
export interface AccountFields {
  name: string;
  role: string;
  /** Site keys, for technicians only (and required for them). */
  sites?: readonly string[] | null;
  email?: string | null;
  /** At least 12 characters; left out, an existing account keeps its own (a new one has none). */
  password?: string;
}

/** The fields with their checks passed, sites sorted and deduplicated. */
interface CheckedFields {
  name: string;
  role: AccountRole;
  sites: string[] | null;
  email: string | null | undefined;
  password: string | undefined;
}

/** Why `username` is not one, or undefined. */
export function usernameProblem(username: string): string | undefined {
  return new RegExp(USERNAME_PATTERN).test(username)
    ? undefined
    : `the username ${JSON.stringify(username.slice(0, 80))} must be 1 to 64 lowercase letters, digits, ".", "_" or "-"`;
}

/**
 * Checks an account's fields before anything is written.
 * @throws AccountRequestError saying which field is wrong and what is expected
 */
export function checkAccountFields(fields: AccountFields): CheckedFields {
  const role = ACCOUNT_ROLES.find((r) => r === fields.role);
  if (!role) {
    if (fields.role === 'public')
      throw new AccountRequestError(`role: public is being signed out; an account has one of the roles ${ACCOUNT_ROLES.join(', ')}`);
    throw new AccountRequestError(`role: unknown role ${JSON.stringify(fields.role)}; the roles are ${ACCOUNT_ROLES.join(', ')}`);
  }
  const name = fields.name.trim();
  if (!name) throw new AccountRequestError('name: must not be empty: the name people see in the audit');
  if (name.length > NAME_MAX) throw new AccountRequestError(`name: has ${name.length} characters; at most ${NAME_MAX}`);
  let email: string | null | undefined = fields.email;
  if (typeof email === 'string') {
    email = email.trim();
    if (email === '') email = null;
    else if (email.length > EMAIL_MAX || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
      throw new AccountRequestError(`email: ${JSON.stringify(email.slice(0, 80))} is not an email address`);
  }
  const password = fields.password;
  const problem = password === undefined ? undefined : passwordProblem(password);
  if (problem) throw new AccountRequestError(`password: ${problem}`);
  if (role !== 'technician') {
    if (fields.sites?.length) throw new AccountRequestError(`sites: apply to technicians only; a ${role} sees every site`);
    return { name, role, sites: null, email, password };
  }
  const sites = [...new Set((fields.sites ?? []).map((s) => s.trim()).filter((s) => s !== ''))].sort();
  if (!sites.length) throw new AccountRequestError('sites: a technician needs the sites they may act on (site keys of the catalog, e.g. centre-ville)');
  const pattern = new RegExp(ID_PATTERN);
  const bad = sites.filter((s) => !pattern.test(s));
  if (bad.length)
    throw new AccountRequestError(`sites: not a site key: ${bad.map((s) => JSON.stringify(s.slice(0, 80))).join(', ')} (lowercase letters, digits, - and _)`);
  return { name, role, sites, email, password };
}

/**
 * Creates the account `username`, or changes it when it exists (and enables it again if it was
 * disabled). A new password, or a new role or sites, ends the account's sessions: the person
 * signs in again with what they now are.
 * @param by who does it: a principal's id, or `cli:<user>`
 * @throws AccountRequestError when a field is wrong, or another account has the email
 */
export async function putAccount(pool: pg.Pool, username: string, fields: AccountFields, by: string): Promise<{ account: Account; created: boolean }> {
  const invalid = usernameProblem(username);
  if (invalid) throw new AccountRequestError(invalid);
  const checked = checkAccountFields(fields);
  const hash = checked.password === undefined ? null : await hashPassword(checked.password);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const before = await client.query<{ role: string; sites: string[] | null }>('SELECT role, sites FROM accounts WHERE username = $1 FOR UPDATE', [username]);
    const { rows } = await client.query<AccountRow>(
      `INSERT INTO accounts (username, name, email, role, sites, password_hash, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (username) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, sites = EXCLUDED.sites,
         email = CASE WHEN $8 THEN EXCLUDED.email ELSE accounts.email END,
         password_hash = COALESCE(EXCLUDED.password_hash, accounts.password_hash),
         updated_at = now(), disabled_at = NULL
       RETURNING ${ACCOUNT_COLUMNS}`,
      [username, checked.name, checked.email ?? null, checked.role, checked.sites, hash, by, checked.email !== undefined],
    );
    const old = before.rows[0];
    if (old && (hash !== null || old.role !== checked.role || JSON.stringify(old.sites) !== JSON.stringify(checked.sites))) {
      await client.query('DELETE FROM sessions WHERE username = $1', [username]);
    }
    await client.query('COMMIT');
    return { account: accountOf(rows[0]!), created: !old };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: string }).code === '23505') throw new AccountRequestError('email: another account has this email address');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Creates an account; refuses a username already taken.
 * @throws AccountRequestError when a field is wrong or the username is taken
 */
export async function createAccount(pool: pg.Pool, fields: AccountFields & { username: string }, by = 'citypilot'): Promise<Account> {
  const { rows } = await pool.query('SELECT 1 FROM accounts WHERE username = $1', [fields.username]);
  if (rows.length) throw new AccountRequestError(`username: ${JSON.stringify(fields.username)} is taken`);
  return (await putAccount(pool, fields.username, fields, by)).account;
}

/** Every account, disabled ones too, by username. */
export async function listAccounts(pool: pg.Pool): Promise<Account[]> {
  const { rows } = await pool.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY username`);
  return rows.map(accountOf);
}

/** The account `username`, or undefined. */
export async function findAccount(pool: pg.Pool, username: string): Promise<Account | undefined> {
  const { rows } = await pool.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE username = $1`, [username]);
  return rows[0] && accountOf(rows[0]);
}

/**
 * Disables an account and ends its sessions at once; it can no longer sign in (a PUT enables it
 * again). Disabling a disabled account changes nothing and says so.
 * @throws AccountNotFoundError
 */
export async function disableAccount(pool: pg.Pool, username: string): Promise<{ account: Account; alreadyDisabled: boolean }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const updated = await client.query<AccountRow>(
      `UPDATE accounts SET disabled_at = now(), updated_at = now() WHERE username = $1 AND disabled_at IS NULL RETURNING ${ACCOUNT_COLUMNS}`,
      [username],
    );
    await client.query('DELETE FROM sessions WHERE username = $1', [username]);
    await client.query('COMMIT');
    if (updated.rows[0]) return { account: accountOf(updated.rows[0]), alreadyDisabled: false };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  const account = await findAccount(pool, username);
  if (!account) throw new AccountNotFoundError(username);
  return { account, alreadyDisabled: true };
}

/** What signing in with a password needs of an account. */
export interface LoginRecord {
  account: Account;
  passwordHash: string | null;
}

/** The account `username` with its password hash, for signing in; undefined when there is none. */
export async function findLoginRecord(pool: pg.Pool, username: string): Promise<LoginRecord | undefined> {
  const { rows } = await pool.query<AccountRow & { password_hash: string | null }>(
    `SELECT ${ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE username = $1`,
    [username],
  );
  return rows[0] && { account: accountOf(rows[0]), passwordHash: rows[0].password_hash };
}

export const ACCOUNT_COLUMNS =
  'username, name, email, role, sites, password_hash IS NOT NULL AS has_password, oidc_issuer, oidc_subject, created_at, created_by, disabled_at';

export interface AccountRow {
  username: string;
  name: string;
  email: string | null;
  role: AccountRole;
  sites: string[] | null;
  has_password: boolean;
  oidc_issuer: string | null;
  oidc_subject: string | null;
  created_at: Date;
  created_by: string;
  disabled_at: Date | null;
}

export function accountOf(row: AccountRow): Account {
  return {
    username: row.username,
    name: row.name,
    email: row.email,
    role: row.role,
    sites: row.sites,
    hasPassword: row.has_password,
    oidc: row.oidc_issuer && row.oidc_subject ? { issuer: row.oidc_issuer, subject: row.oidc_subject } : null,
    createdAt: row.created_at,
    createdBy: row.created_by,
    disabledAt: row.disabled_at,
  };
}
