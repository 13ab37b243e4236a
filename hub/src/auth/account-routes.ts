import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import {
  ACCOUNT_ROLES,
  AccountNotFoundError,
  AccountRequestError,
  disableAccount,
  listAccounts,
  putAccount,
  USERNAME_PATTERN,
  type Account,
} from './accounts.js';
import { PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS } from './passwords.js';

const nullable = <T extends TSchema>(schema: T, description?: string) => Type.Union([schema, Type.Null()], description ? { description } : {});

const AccountSchema = Type.Object({
  username: Type.String(),
  name: Type.String({ description: "The person's display name, recorded with each of their writes" }),
  email: nullable(Type.String()),
  role: Type.String(),
  sites: nullable(Type.Array(Type.String()), "A technician's site keys; null for every site"),
  hasPassword: Type.Boolean({ description: 'Whether the person may sign in with a password (else only through the provider)' }),
  oidc: nullable(Type.Object({ issuer: Type.String(), subject: Type.String() }), 'The identity provider the person signed in through'),
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Type.String(),
  disabledAt: nullable(Type.String({ format: 'date-time' })),
});

const Params = Type.Object({ username: Type.String({ pattern: USERNAME_PATTERN, description: '1 to 64 lowercase letters, digits, ".", "_" or "-"' }) });
const PutBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Unsafe<string>({ type: 'string', enum: ACCOUNT_ROLES }),
    sites: Type.Optional(
      nullable(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 1000 }), 'Site keys, for technicians only (and required for them)'),
    ),
    email: Type.Optional(nullable(Type.String({ maxLength: 254 }), 'Used to link the account at its first sign-in through the provider; null removes it')),
    password: Type.Optional(
      Type.String({
        minLength: PASSWORD_MIN_CHARS,
        maxLength: PASSWORD_MAX_CHARS,
        description: 'Left out, the account keeps its own; never answered nor recorded',
      }),
    ),
  },
  { additionalProperties: false },
);
const ErrorAnswer = (description: string) => Type.Object({ error: Type.String(), code: Type.Optional(Type.String()) }, { description });

function answer(account: Account) {
  return { ...account, createdAt: account.createdAt.toISOString(), disabledAt: account.disabledAt?.toISOString() ?? null };
}

/** `GET /api/accounts`, `PUT|DELETE /api/accounts/:username`: people's accounts, for admins. */
export async function accountRoutes(app: FastifyInstance, { pool }: { pool: pg.Pool }): Promise<void> {
  const access = { roles: ['admin'] as const };
  app.get(
    '/api/accounts',
    {
      config: { access },
      schema: {
        summary: "People's accounts",
        tags: ['accounts'],
        description: 'Every account, disabled ones too, by username; never a password.',
        response: { 200: Type.Object({ accounts: Type.Array(AccountSchema) }) },
      },
    },
    async () => ({ accounts: (await listAccounts(pool)).map(answer) }),
  );

  app.put<{ Params: Static<typeof Params>; Body: Static<typeof PutBody> }>(
    '/api/accounts/:username',
    {
      config: { access },
      schema: {
        summary: 'Create or change an account',
        tags: ['accounts'],
        description:
          'Creates the account (201) or changes it (200), enabling it again if it was disabled. A new password, role or sites ends its sessions. ' +
          `The password (at least ${PASSWORD_MIN_CHARS} characters) is hashed with scrypt, never answered nor recorded in the audit.`,
        params: Params,
        body: PutBody,
        response: { 200: AccountSchema, 201: AccountSchema, 400: ErrorAnswer('A field is wrong (ACCOUNT_REQUEST_INVALID): which, and what is expected') },
      },
    },
    async (request, reply) => {
      const { username } = request.params;
      const { password, ...rest } = request.body;
      request.auditSummary = { account: username, ...rest, changed: password === undefined ? [] : ['password'] };
      try {
        const { account, created } = await putAccount(pool, username, request.body, request.principal.id);
        return reply.code(created ? 201 : 200).send(answer(account));
      } catch (error) {
        if (error instanceof AccountRequestError) return reply.code(400).send({ error: error.message, code: error.code });
        throw error;
      }
    },
  );

  app.delete<{ Params: Static<typeof Params> }>(
    '/api/accounts/:username',
    {
      config: { access },
      schema: {
        summary: 'Disable an account',
        tags: ['accounts'],
        description: 'The person can no longer sign in, and their sessions end at once. A PUT enables the account again.',
        params: Params,
        response: { 204: { description: 'Disabled (or already disabled)', type: 'null' }, 404: ErrorAnswer('No such account (ACCOUNT_NOT_FOUND)') },
      },
    },
    async (request, reply) => {
      try {
        await disableAccount(pool, request.params.username);
        return reply.code(204).send();
      } catch (error) {
        if (error instanceof AccountNotFoundError) return reply.code(404).send({ error: error.message, code: error.code });
        throw error;
      }
    },
  );
}
