import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type pg from 'pg';
import { CityPilotError } from '@citypilot/sdk';
import { ANONYMOUS, ROLES, type Role } from './principal.js';

/**
 * Who may call a route and how a technician's sites bound it, declared once in the route's
 * options (`config: { access }`). The same object is enforced (registerAccess) and documented
 * (openapi.ts): the two cannot disagree.
 *
 * ```ts
 * app.get('/api/series', { config: { access: { roles: ['operator', 'technician'], sites: { check: [{ in: 'query', name: 'gateway', kind: 'gateway' }], filter: true } } } }, …)
 * ```
 */
export interface Access {
  /** Roles that may call the route; admin always may. `['public']`: anyone, without a token. */
  roles: readonly Role[];
  /**
   * What a technician's sites (a technician token is limited to some sites) restrict. Required
   * when technicians may call the route (they are among `roles`, or it is public):
   * - `'none'`: the route reads and writes no data of a site (health, documents);
   * - `check`: the parts of the request that name a site, a building, a gateway or a scope
   *   (`city`, `site:<key>`, `building:<key>`); a technician naming one outside their sites is
   *   answered 403 before the handler runs;
   * - `filter: true`: the handler leaves out of its answer what lies outside the caller's sites,
   *   with `request.siteScope`.
   */
  sites?: 'none' | { check?: readonly SiteReference[]; filter?: boolean };
}

/** Where a request names a piece of the city. */
export interface SiteReference {
  in: 'params' | 'query' | 'body';
  /** The property's name in that part. */
  name: string;
  kind: 'site' | 'building' | 'gateway' | 'scope';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: see Access. Required for every route under /api. */
    access?: Access;
  }
  interface FastifyRequest {
    /** The sites the caller may see and act on; set by registerAccess before the route's hooks. */
    siteScope: SiteScope;
  }
}

/** A route was declared without a valid access declaration; thrown when it is registered. */
export class AccessDeclarationError extends CityPilotError {
  constructor(message: string) {
    super('ROUTE_ACCESS_UNDECLARED', message);
  }
}

/**
 * The sites a request may see and act on: every site, or a technician token's. Lookups of
 * buildings and gateways are made once per request, when first needed.
 */
export class SiteScope {
  private buildingKeys: Promise<ReadonlySet<string>> | undefined;
  private gatewayIds: Promise<ReadonlySet<string>> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** The site keys, or null for every site. */
    readonly sites: ReadonlySet<string> | null,
  ) {}

  /** Whether the caller sees every site (anyone but a technician). */
  get all(): boolean {
    return this.sites === null;
  }

  hasSite(key: string): boolean {
    return this.sites === null || this.sites.has(key);
  }

  async hasBuilding(key: string): Promise<boolean> {
    return this.sites === null || (await this.buildings()).has(key);
  }

  async hasGateway(id: string): Promise<boolean> {
    return this.sites === null || (await this.gateways()).has(id);
  }

  /** A scope `city`, `site:<key>` or `building:<key>`: the city is everyone's (its aggregates, not its sites' details). */
  async hasScope(scope: string): Promise<boolean> {
    if (this.sites === null || scope === 'city') return true;
    if (scope.startsWith('site:')) return this.hasSite(scope.slice('site:'.length));
    if (scope.startsWith('building:')) return this.hasBuilding(scope.slice('building:'.length));
    return false;
  }

  /** The keys of the buildings of the caller's sites (meaningless when `all`). */
  buildings(): Promise<ReadonlySet<string>> {
    this.buildingKeys ??= this.lookup(`SELECT b.key AS k FROM buildings b JOIN sites s ON s.id = b.site_id WHERE s.key = ANY($1::text[])`);
    return this.buildingKeys;
  }

  /** The ids of the gateways that serve a building of the caller's sites (meaningless when `all`). */
  gateways(): Promise<ReadonlySet<string>> {
    this.gatewayIds ??= this.lookup(
      `SELECT g.id AS k FROM gateways g JOIN buildings b ON b.key = g.building_key JOIN sites s ON s.id = b.site_id WHERE s.key = ANY($1::text[])`,
    );
    return this.gatewayIds;
  }

  /** The items of `items` within the caller's sites, by the gateway `gatewayOf` gives. */
  async byGateway<T>(items: readonly T[], gatewayOf: (item: T) => string): Promise<T[]> {
    if (this.sites === null) return [...items];
    const gateways = await this.gateways();
    return items.filter((item) => gateways.has(gatewayOf(item)));
  }

  private async lookup(sql: string): Promise<ReadonlySet<string>> {
    const { rows } = await this.pool.query<{ k: string }>(sql, [[...this.sites!]]);
    return new Set(rows.map((r) => r.k));
  }
}

/** A route's access declaration, or undefined when it has none. */
export function accessOf(route: Pick<RouteOptions, 'config'>): Access | undefined {
  return (route.config as { access?: Access } | undefined)?.access;
}

/** The roles that may call a route as documented and enforced: admin added, or `['public']`. */
export function allowedRoles(access: Access): readonly Role[] | 'public' {
  return access.roles.includes('public') ? 'public' : [...new Set<Role>([...access.roles, 'admin'])];
}

/**
 * Makes every route's access declaration (`config.access`) the rule: a route under /api without
 * one, or a route that technicians may call without saying what their sites restrict, is refused
 * when it is registered (the application does not start); every request gets its `siteScope`;
 * each declared route checks the caller's role in its first onRequest hook (before the body is
 * read: 401 without a token, 403 with another role) and the site references it declares before
 * its handler (403). Routes outside /api without a declaration are public. Call once per
 * application, after registerAuth and before any route.
 */
export function registerAccess(app: FastifyInstance, { pool }: { pool: pg.Pool }): void {
  app.decorateRequest('siteScope', null as unknown as SiteScope);
  app.addHook('onRequest', async (request) => {
    const sites = (request.principal ?? ANONYMOUS).sites;
    request.siteScope = new SiteScope(pool, sites ? new Set(sites) : null);
  });
  app.addHook('onRoute', (route) => {
    const access = accessOf(route);
    const url = route.url ?? route.path;
    if (!access) {
      if (url.startsWith('/api')) {
        throw new AccessDeclarationError(
          `the route ${route.method} ${url} declares no access: give its options config: { access: { roles, sites } } (see hub/src/auth/access.ts)`,
        );
      }
      return;
    }
    checkDeclaration(access, `${String(route.method)} ${url}`);
    route.onRequest = [roleGuard(access), ...[route.onRequest ?? []].flat()] as RouteOptions['onRequest'];
    const check = access.sites !== 'none' ? access.sites?.check : undefined;
    if (check?.length) route.preHandler = [siteGuard(check), ...[route.preHandler ?? []].flat()] as RouteOptions['preHandler'];
  });
}

function checkDeclaration(access: Access, where: string): void {
  const unknown = access.roles.filter((r) => !ROLES.includes(r));
  if (!access.roles.length || unknown.length)
    throw new AccessDeclarationError(`${where}: access.roles must list roles among ${ROLES.join(', ')}${unknown.length ? `, not ${unknown.join(', ')}` : ''}`);
  const technicians = access.roles.includes('technician') || access.roles.includes('public');
  if (technicians && access.sites === undefined) {
    throw new AccessDeclarationError(`${where}: technicians may call it, so access.sites must say what their sites restrict ('none', or check and filter)`);
  }
}

/** The onRequest hook that lets through only the declared roles (admin always). */
function roleGuard(access: Access) {
  const allowed = allowedRoles(access);
  const wanted = access.roles.join(' or ');
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { role } = request.principal ?? ANONYMOUS;
    if (allowed === 'public' || allowed.includes(role)) return;
    if (role === 'public') await reply.code(401).send({ error: `this needs a token with the role ${wanted}` });
    else await reply.code(403).send({ error: `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role} token may not do this: it needs the role ${wanted}` });
  };
}

/** The preHandler that answers 403 when the request names a piece of a site the caller does not hold. */
function siteGuard(references: readonly SiteReference[]) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const scope = request.siteScope;
    if (!scope || scope.all) return;
    for (const ref of references) {
      const part = (request[ref.in] ?? {}) as Record<string, unknown>;
      const named = part[ref.name];
      for (const value of Array.isArray(named) ? named : named === undefined ? [] : [named]) {
        if (typeof value !== 'string') continue; // the route's own validation says what is wrong
        const held =
          ref.kind === 'site'
            ? scope.hasSite(value)
            : ref.kind === 'building'
              ? await scope.hasBuilding(value)
              : ref.kind === 'gateway'
                ? await scope.hasGateway(value)
                : await scope.hasScope(value);
        if (!held) {
          await reply.code(403).send({
            error: `${ref.in === 'params' ? 'the path' : ref.in}.${ref.name}: ${JSON.stringify(value)} is not within this token's sites (${[...scope.sites!].join(', ')})`,
          });
          return;
        }
      }
    }
  };
}
