import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { accessOf, allowedRoles, type Access } from './access.js';
import { CSRF_HEADER, SESSION_COOKIE } from './sessions.js';

/** Name of the bearer-token security scheme in the OpenAPI document. */
export const BEARER_SCHEME = 'bearerAuth';
/** Name of the session-cookie security scheme (people signed in to the dashboard). */
export const SESSION_SCHEME = 'sessionCookie';
/** Name of the CSRF header scheme, required with the session cookie on writes. */
export const CSRF_SCHEME = 'csrfToken';

const errorResponse = (description: string) => ({
  'x-response-description': description,
  type: 'object',
  properties: { error: { type: 'string', description: 'What was wrong, in words.' }, code: { type: 'string', description: 'Stable code of the failure.' } },
  required: ['error'],
});

/**
 * Registers @fastify/swagger and `GET /api/openapi.json`, the API's OpenAPI 3 document made
 * from the routes' JSON Schemas. Each operation carries `x-roles`, the roles that may call it
 * (from the route's access declaration, the one registerAccess enforces; `public` without one),
 * `x-sites`, what a technician's sites restrict, the same in its description, and the bearer
 * scheme when a role is needed; 401 (and 403 when a role is needed or sites are checked) are
 * documented on every route.
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
          'machines send `Authorization: Bearer <token>` with a token made by `citypilot hub token create`; ' +
          `people sign in with POST /api/session (or through the city's provider) and are then known by the ${SESSION_COOKIE} cookie, ` +
          `and every write they make (any method but GET, HEAD, OPTIONS) must send the session's CSRF token in the ${CSRF_HEADER} header, else 403 CSRF_TOKEN_MISSING or CSRF_TOKEN_MISMATCH. A bearer token wins over the cookie. ` +
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
          [SESSION_SCHEME]: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description:
              "A person's session, set by POST /api/session or the sign-in through the provider: HttpOnly, SameSite=Lax, Secure over HTTPS; 8 hours without use, 7 days at most. The account's role and sites apply.",
          },
          [CSRF_SCHEME]: {
            type: 'apiKey',
            in: 'header',
            name: CSRF_HEADER,
            description: 'The CSRF token of the session (GET /api/session gives it): required with the session cookie on every write.',
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
        config: { access: { roles: ['public'], sites: 'none' } },
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

/** The route's schema with who may call it: x-roles, x-sites, security, the roles in words, 401/403. */
function documentAccess(schema: FastifySchema | undefined, route: RouteOptions): FastifySchema {
  const access: Access = accessOf(route) ?? { roles: ['public'], sites: 'none' };
  const allowed = allowedRoles(access);
  const roles = allowed === 'public' ? undefined : allowed;
  const sites = describeSites(access);
  const doc: Record<string, unknown> = { ...schema };
  const response = { ...(doc.response as Record<string, unknown> | undefined) };
  // What @fastify/swagger documents for a route without response schema.
  if (!schema?.response) response[200] = { 'x-response-description': 'Default Response' };
  response[401] ??= errorResponse('The token is malformed, unknown, wrong or revoked' + (roles ? ', or missing' : ''));
  const write = ![route.method].flat().every((m) => ['GET', 'HEAD', 'OPTIONS'].includes(String(m)));
  const csrf = write && !route.config?.csrfExempt;
  const refused = [
    roles && `the token's role is not one of ${roles.join(', ')}`,
    sites.checked && "a technician names a site, building or gateway outside the token's sites",
    csrf && `a write made with the session cookie lacks the session's ${CSRF_HEADER} (CSRF_TOKEN_MISSING, CSRF_TOKEN_MISMATCH)`,
  ].filter(Boolean);
  if (refused.length) response[403] ??= errorResponse(capitalise(refused.join('; or ')));
  doc.response = response;
  const text = [roles ? `Roles: ${roles.join(', ')}.` : 'Roles: anyone (public); a token is not needed.', sites.text].filter(Boolean).join(' ');
  doc.description = doc.description ? `${doc.description}\n\n${text}` : text;
  doc['x-roles'] = roles ?? ['public'];
  doc['x-sites'] = sites.extension;
  if (roles) doc.security = [{ [BEARER_SCHEME]: [] }, csrf ? { [SESSION_SCHEME]: [], [CSRF_SCHEME]: [] } : { [SESSION_SCHEME]: [] }];
  return doc;
}

/** What a technician's sites restrict on a route, for the document. */
function describeSites(access: Access): { text: string | undefined; checked: boolean; extension: Record<string, unknown> | 'none' } {
  const sites = access.sites;
  if (sites === undefined || sites === 'none') return { text: undefined, checked: false, extension: 'none' };
  const checked = (sites.check ?? []).map((r) => `${r.in}.${r.name}`);
  const parts = [
    checked.length &&
      `a technician token may name only its own sites' ${[...new Set((sites.check ?? []).map((r) => r.kind + 's'))].join(', ')} (${checked.join(', ')}), else 403`,
    sites.filter && 'a technician token gets only what lies within its sites',
  ].filter(Boolean);
  return { text: `Sites: ${parts.join('; ')}.`, checked: checked.length > 0, extension: { check: checked, filter: sites.filter === true } };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
