import type {} from 'fastify';

/**
 * Who may do what through the hub's API. `public` is anyone without a token: citizens read the
 * published KPIs and open data. A technician's token is scoped to sites.
 */
export type Role = 'admin' | 'operator' | 'technician' | 'director' | 'elected' | 'agent' | 'public';

export const ROLES: readonly Role[] = ['admin', 'operator', 'technician', 'director', 'elected', 'agent', 'public'];

/** The caller of a request, as the authentication hook found it. */
export interface Principal {
  /**
   * The token's id (never the token itself), `account:<username>` for a person signed in to a
   * session, or `anonymous`. Recorded as who made a change.
   */
  id: string;
  role: Role;
  /** Site keys a technician's token is limited to; null for every site. */
  sites: readonly string[] | null;
  /** The person's display name, for a session; recorded with their writes. */
  name?: string;
}

export const ANONYMOUS: Principal = { id: 'anonymous', role: 'public', sites: null };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for every request by the authentication hook; ANONYMOUS without a token. */
    principal: Principal;
  }
}
