/**
 * The plugin repository over HTTP, for operators: `GET /api/fleet/plugins` lists the published
 * packages, the latest rollouts and the assignments. Publishing stays a command
 * (`citypilot hub plugin publish`): it needs the operator's private key.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Role } from '../auth/principal.js';
import { listAssignments } from './assignments.js';
import { listPackages } from './repository.js';
import { listRollouts } from './rollouts.js';

const OPERATORS: readonly Role[] = ['operator'];
const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const time = (description: string) => Type.String({ format: 'date-time', description });

const PluginsSchema = Type.Object({
  packages: Type.Array(
    Type.Object({
      id: Type.String(),
      version: Type.String(),
      sdk: Type.String({ description: 'SDK range the package needs (semver)' }),
      protocol: Type.String(),
      description: Type.String(),
      sha256: Type.String({ description: 'SHA-256 of the .tgz, hexadecimal' }),
      size: Type.Integer({ description: 'Bytes of the .tgz' }),
      keyId: Type.String({ description: 'Id of the key that signed it' }),
      publishedAt: time('When it was published'),
      publishedBy: Type.String(),
    }),
    { description: 'The published packages, by id then publication' },
  ),
  rollouts: Type.Array(
    Type.Object({
      id: Type.Integer(),
      plugin: Type.String(),
      version: Type.String(),
      state: Type.Unsafe<string>({ type: 'string', enum: ['canary', 'all', 'completed', 'rolled-back', 'superseded'] }),
      canary: Type.Array(Type.String(), { description: 'The gateways of the first stage' }),
      promoteAfterS: Type.Union([Type.Integer(), Type.Null()], { description: 'Seconds of health before every gateway gets it; null: the first stage only' }),
      healthySince: nullable(time('Since when every canary gateway has run it in good health')),
      startedAt: time('When it started'),
      updatedAt: time('Its last step'),
      startedBy: Type.String(),
      reason: nullable(Type.String({ description: 'Why it was rolled back or superseded' })),
    }),
    { description: 'The 50 latest rollouts, newest first' },
  ),
  assignments: Type.Array(Type.Object({ gateway: Type.String(), plugin: Type.String(), version: Type.String() }), {
    description: 'The version of each plugin each gateway should run, by gateway',
  }),
});

export function pluginRoutes(app: FastifyInstance, options: { pool: pg.Pool }): void {
  app.get(
    '/api/fleet/plugins',
    {
      config: { access: { roles: OPERATORS } },
      schema: { summary: 'Plugin packages, their rollouts and what each gateway is assigned', tags: ['fleet'], response: { 200: PluginsSchema } },
    },
    async () => {
      const [packages, rollouts, assignments] = await Promise.all([listPackages(options.pool), listRollouts(options.pool, 50), listAssignments(options.pool)]);
      return {
        packages: packages.map(({ signature: _signature, ...p }) => p),
        rollouts,
        assignments,
      };
    },
  );
}
