import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Who may do what through the hub's API. `public` is anyone without a token: citizens read the
 * published KPIs and open data. A technician's token is scoped to sites.
 */
export type Role = 'admin' | 'operator' | 'technician' | 'director' | 'elected' | 'agent' | 'public';

export const ROLES: readonly Role[] = ['admin', 'operator', 'technician', 'director', 'elected', 'agent', 'public'];

/** The caller of a request, as the authentication hook found it. */
export interface Principal {
  /** The token's id (never the token itself), or `anonymous`. Recorded as who made a change. */
  id: string;
  role: Role;
  /** Site keys a technician's token is limited to; null for every site. */
  sites: readonly string[] | null;
}

export const ANONYMOUS: Principal = { id: 'anonymous', role: 'public', sites: null };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for every request by the authentication hook; ANONYMOUS without a token. */
    principal: Principal;
  }
}

/** A preHandler made by requireRole. `roles` (admin included) is what the OpenAPI document shows. */
export type RoleGuard = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & { readonly roles: readonly Role[] };

/**
 * A route's preHandler that lets through only the given roles (admin always): 401 for an
 * anonymous caller, 403 for a known one with another role, each with the reason.
 */
export function requireRole(...roles: Role[]): RoleGuard {
  const guard = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { role } = request.principal ?? ANONYMOUS;
    if (role === 'admin' || roles.includes(role)) return;
    const wanted = roles.join(' or ');
    if (role === 'public') await reply.code(401).send({ error: `this needs a token with the role ${wanted}` });
    else await reply.code(403).send({ error: `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role} token may not do this: it needs the role ${wanted}` });
  };
  return Object.assign(guard, { roles: [...new Set<Role>([...roles, 'admin'])] });
}
