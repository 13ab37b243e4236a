import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import type { Role, RoleGuard } from './principal.js';

/** Name of the bearer-token security scheme in the OpenAPI document. */
export const BEARER_SCHEME = 'bearerAuth';

const errorResponse = (description: string) => ({
  'x-response-description': description,
  type: 'object',
  properties: { error: { type: 'string', description: 'What was wrong, in words.' }, code: { type: 'string', description: 'Stable code of the failure.' } },
  required: ['error'],
});

/**
 * Registers @fastify/swagger and `GET /api/openapi.json`, the API's OpenAPI 3 document made
 * from the routes' JSON Schemas. Each operation carries `x-roles`, the roles that may call it
 * (read from the route's requireRole preHandler; `public` without one), the same in its
 * description, and the bearer scheme when a role is needed; 401 (and 403 when a role is
 * needed) are documented on every route.
 *
 * @fastify/swagger lists only the routes declared after it has loaded: declare routes in
 * plugins registered after this call, never directly on `app` in the same tick.
 */
export function registerOpenApi(app: FastifyInstance): void {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'CityPilot hub API',
        version,
        description:
          'Objectives, data and status of the CityPilot hub. Calls without a token have the role `public`; ' +
          'others send `Authorization: Bearer <token>` with a token made by `citypilot hub token create`. ' +
          'Each operation lists the roles that may call it in `x-roles` (admin may call every one).',
      },
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'cp_<id>_<secret>',
            description: 'A hub API token. Roles: admin, operator, technician (limited to sites), director, elected, agent.',
          },
        },
      },
    },
    transform: ({ schema, url, route }) => ({ schema: documentAccess(schema, route), url }),
  });
  app.register(async (api) => {
    api.get(
      '/api/openapi.json',
      {
        schema: {
          summary: 'This OpenAPI document',
          tags: ['hub'],
          description: "The OpenAPI 3 document of the API, made from the routes' schemas.",
          response: { 200: { description: 'An OpenAPI 3.0 document', type: 'object', additionalProperties: true } },
        },
      },
      async () => api.swagger(),
    );
  });
}

/** The route's schema with who may call it: x-roles, security, the roles in words, 401/403. */
function documentAccess(schema: FastifySchema | undefined, route: RouteOptions): FastifySchema {
  const roles = requiredRoles(route);
  const doc: Record<string, unknown> = { ...schema };
  const response = { ...(doc.response as Record<string, unknown> | undefined) };
  // What @fastify/swagger documents for a route without response schema.
  if (!schema?.response) response[200] = { 'x-response-description': 'Default Response' };
  response[401] ??= errorResponse('The token is malformed, unknown, wrong or revoked' + (roles ? ', or missing' : ''));
  if (roles) response[403] ??= errorResponse(`The token's role is not one of ${roles.join(', ')}`);
  doc.response = response;
  const access = roles ? `Roles: ${roles.join(', ')}.` : 'Roles: anyone (public); a token is not needed.';
  doc.description = doc.description ? `${doc.description}\n\n${access}` : access;
  doc['x-roles'] = roles ?? ['public'];
  if (roles) doc.security = [{ [BEARER_SCHEME]: [] }];
  return doc;
}

/** The roles of the requireRole guard among the route's preHandlers, or undefined for a public route. */
function requiredRoles(route: RouteOptions): readonly Role[] | undefined {
  const handlers = [route.preHandler ?? []].flat() as unknown[];
  return handlers.map((h) => (h as Partial<RoleGuard>).roles).find((r) => r !== undefined);
}
