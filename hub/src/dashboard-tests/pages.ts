/**
 * Every page of the dashboard, with who opens it and a concrete address in the demo city: what
 * the accessibility sweep visits (accessibility.test.ts). The list is checked against the routes
 * that hub/web/src/app.tsx declares and the navigation of hub/web/src/ui/layout.tsx, so a page
 * added to the app without an entry here fails the sweep instead of being forgotten.
 *
 * A page may be listed before the app has its route (pages are built on separate branches): it is
 * visited only once app.tsx declares it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Visitor } from '../testing/visitors.js';

/** Root of the repository (this file is hub/dist/dashboard-tests/pages.js once built). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Keys of the demo city the pages' addresses are made of. */
export interface DemoFacts {
  /** A published objective. */
  objective: string;
  /** A published objective judged building by building, which drills down city → site → building. */
  buildingObjective: string;
  building: string;
  /** The building's site. */
  site: string;
  gateway: string;
  point: string;
  /** A published project (demoFacts defines DEMO_PROJECT when the demo has none). */
  project: string;
}

/**
 * The project the pages are shown with when the demo city has no published one: relamping the
 * demo's school, works in spring 2023, within the demo's history (daily readings since 2019), so
 * that it has a baseline year and reporting months.
 */
export const DEMO_PROJECT = {
  key: 'relamping-demo-school',
  title: { fr: 'Éclairage LED de l’école (démonstration)', en: 'LED lighting at the school (demo)' },
  theme: 'energy',
  scope: 'building:school',
  dates: { worksStart: '2023-04-03', worksEnd: '2023-04-28' },
  costs: { investment: 48000, yearlyRunningCost: 0, subsidies: [{ name: 'CEE', amount: 6000 }] },
  energy: { energies: ['elec'], occupancy: false },
  expectedSavings: { kWhPerYear: 12000 },
  lifetimeYears: 20,
  owner: 'Direction des bâtiments',
  published: true,
};

export interface DashboardPage {
  /** The route as app.tsx declares it (`/objectifs/:key`), or `default` for the not-found page. */
  route: string;
  /** Which state of the page, when it is listed more than once (e.g. a drill-down step). */
  state?: string;
  /** Who the page is checked for: each visitor opens it in each language. */
  visitors: Visitor[];
  /** The address to open in the demo city. */
  url(facts: DemoFacts): string;
}

const encode = encodeURIComponent;

export const PAGES: DashboardPage[] = [
  { route: '/', visitors: ['citizen', 'director'], url: () => '/' },
  { route: '/objectifs/:key', visitors: ['citizen', 'director'], url: (f) => `/objectifs/${encode(f.objective)}` },
  {
    route: '/objectifs/:key',
    state: 'drilled down to a site',
    visitors: ['director'],
    url: (f) => `/objectifs/${encode(f.buildingObjective)}?scope=site:${encode(f.site)}`,
  },
  {
    route: '/objectifs/:key',
    state: 'drilled down to a building',
    visitors: ['director'],
    url: (f) => `/objectifs/${encode(f.buildingObjective)}?scope=building:${encode(f.building)}`,
  },
  { route: '/batiments', visitors: ['director', 'technician'], url: () => '/batiments' },
  { route: '/batiments/:key', visitors: ['director'], url: (f) => `/batiments/${encode(f.building)}` },
  { route: '/points/:gateway/:point', visitors: ['director'], url: (f) => `/points/${encode(f.gateway)}/${encode(f.point)}` },
  { route: '/projets', visitors: ['citizen', 'director'], url: () => '/projets' },
  { route: '/projets/:key', visitors: ['citizen', 'director'], url: (f) => `/projets/${encode(f.project)}` },
  { route: '/gestion/projets', visitors: ['operator'], url: () => '/gestion/projets' },
  { route: '/gestion/projets/:key', visitors: ['operator'], url: (f) => `/gestion/projets/${encode(f.project)}` },
  { route: '/gestion/projets/:key', state: 'a new project', visitors: ['operator'], url: () => '/gestion/projets/nouveau' },
  { route: '/connexion', visitors: ['citizen'], url: () => '/connexion' },
  { route: '/connexion', state: 'after a sign-in the identity provider refused', visitors: ['citizen'], url: () => '/connexion?error=no-role' },
  { route: '/donnees-de-service', visitors: ['agent'], url: () => '/donnees-de-service' },
  { route: '/gestion/objectifs', visitors: ['operator'], url: () => '/gestion/objectifs' },
  { route: '/gestion/objectifs/:key', visitors: ['operator'], url: (f) => `/gestion/objectifs/${encode(f.objective)}` },
  { route: '/passerelles', visitors: ['operator', 'technician'], url: () => '/passerelles' },
  { route: '/gestion/compteurs', visitors: ['operator'], url: () => '/gestion/compteurs' },
  { route: '/gestion/comptes', visitors: ['admin'], url: () => '/gestion/comptes' },
  { route: '/donnees', visitors: ['citizen'], url: () => '/donnees' },
  { route: '/donnees/:id', visitors: ['citizen'], url: () => '/donnees/building-energy-monthly' },
  { route: '/gestion/donnees-ouvertes', visitors: ['operator'], url: () => '/gestion/donnees-ouvertes' },
  { route: '/gestion/flotte', visitors: ['operator'], url: () => '/gestion/flotte' },
  // The demo gateway, which the sweep has report an inventory (a refused configuration, a failing device) first.
  { route: '/gestion/flotte/:id', visitors: ['operator'], url: (f) => `/gestion/flotte/${encode(f.gateway)}` },
  { route: 'default', visitors: ['citizen'], url: () => '/cette-page-n-existe-pas' },
];

/** The routes app.tsx declares: each `<Route path="…">`, and `default` for `<Route default …>`. */
export function appRoutes(source = readFileSync(join(repoRoot, 'hub', 'web', 'src', 'app.tsx'), 'utf8')): string[] {
  const routes: string[] = [];
  for (const match of source.matchAll(/<Route\b([^>]*)>/g)) {
    const attributes = match[1]!;
    const path = /\bpath=(?:"([^"]*)"|'([^']*)'|\{\s*['"`]([^'"`]*)['"`]\s*\})/.exec(attributes);
    if (path) routes.push(path[1] ?? path[2] ?? path[3]!);
    else if (/\bdefault\b/.test(attributes)) routes.push('default');
    else throw new Error(`app.tsx: a <Route> whose path the accessibility sweep cannot read: <Route${attributes}>`);
  }
  return routes;
}

/** The addresses of ui/layout.tsx's navigation (NAV). */
export function navLinks(source = readFileSync(join(repoRoot, 'hub', 'web', 'src', 'ui', 'layout.tsx'), 'utf8')): string[] {
  const nav = /export const NAV\b[^=]*=\s*\[([\s\S]*?)\n\];/.exec(source);
  if (!nav) throw new Error('ui/layout.tsx: no `export const NAV = [ … ];` found');
  return [...nav[1]!.matchAll(/href:\s*'([^']*)'/g)].map((m) => m[1]!);
}

/** Whether `url` (a path without query) is an address of `route` (`/objectifs/:key`). */
export function routeMatches(route: string, url: string): boolean {
  if (route === 'default') return false;
  const pattern = route
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${pattern}$`).test(url);
}

/** The demo city's keys the addresses need, read from its API as an admin (which defines DEMO_PROJECT when no project is published). */
export async function demoFacts(baseUrl: string, adminToken: string): Promise<DemoFacts> {
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${adminToken}` } });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const objectives = await get<{ key: string; published: boolean; level: string }[]>('/api/objectives');
  const buildings = await get<{ id: string; site: string }[]>('/api/buildings');
  const status = await get<{ points: { gateway: string; id: string }[] }>('/api/status');
  const objective = objectives.find((o) => o.published)?.key;
  const buildingObjective = objectives.find((o) => o.published && o.level === 'building')?.key;
  const building = buildings[0];
  const point = status.points[0];
  let project = (await get<{ key: string; definition: { published: boolean } }[]>('/api/projects')).find((p) => p.definition.published)?.key;
  if (!project) {
    const response = await fetch(`${baseUrl}/api/projects/${DEMO_PROJECT.key}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(DEMO_PROJECT),
    });
    if (!response.ok) throw new Error(`PUT /api/projects/${DEMO_PROJECT.key}: ${response.status} ${await response.text()}`);
    project = DEMO_PROJECT.key;
  }
  if (!objective || !buildingObjective || !building || !point)
    throw new Error(`the demo city lacks a published objective (one by building too), a building or a point`);
  return { objective, buildingObjective, building: building.id, site: building.site, gateway: point.gateway, point: point.id, project };
}
