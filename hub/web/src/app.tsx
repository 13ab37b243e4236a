/**
 * The dashboard's pages and their URLs. Every view keeps its state in its URL (filters, period,
 * scope, zoom), so that a link opens the same view. Pages that only staff reach are loaded on
 * demand (lazy), so that the citizens' home carries none of their code.
 */
import { ErrorBoundary, LocationProvider, Route, Router, lazy } from 'preact-iso';
import { I18nProvider } from './i18n.js';
import { SessionProvider } from './session.js';
import { Layout } from './ui/layout.js';
import { NotFound } from './ui/not-found.js';
import { Home } from './pages/home.js';

// Pages other than the home are loaded when first opened: the citizens' home carries none of their code.
const Objective = lazy(() => import('./pages/objective.js').then((m) => m.ObjectivePage));
const Point = lazy(() => import('./pages/point.js').then((m) => m.PointPage));
const Building = lazy(() => import('./pages/building.js').then((m) => m.BuildingPage));
const Buildings = lazy(() => import('./pages/buildings.js').then((m) => m.BuildingsPage));
const Login = lazy(() => import('./pages/login.js').then((m) => m.Login));
const ServiceData = lazy(() => import('./pages/service-data.js').then((m) => m.ServiceData));
const ObjectivesAdmin = lazy(() => import('./pages/objectives-admin.js').then((m) => m.ObjectivesAdmin));
const ObjectiveEdit = lazy(() => import('./pages/objective-edit.js').then((m) => m.ObjectiveEdit));
const Gateways = lazy(() => import('./pages/gateways.js').then((m) => m.Gateways));
const Accounts = lazy(() => import('./pages/accounts.js').then((m) => m.Accounts));
const Projects = lazy(() => import('./pages/projects.js').then((m) => m.ProjectsPage));
const Project = lazy(() => import('./pages/project.js').then((m) => m.ProjectPage));
const ProjectsAdmin = lazy(() => import('./pages/projects-admin.js').then((m) => m.ProjectsAdmin));
const ProjectEdit = lazy(() => import('./pages/project-edit.js').then((m) => m.ProjectEdit));
const UtilityMeters = lazy(() => import('./pages/utility.js').then((m) => m.UtilityMeters));
const OpenData = lazy(() => import('./pages/open-data.js').then((m) => m.OpenDataPage));
const OpenDataset = lazy(() => import('./pages/open-dataset.js').then((m) => m.OpenDatasetPage));
const OpenDataAdmin = lazy(() => import('./pages/open-data-admin.js').then((m) => m.OpenDataAdmin));
const Fleet = lazy(() => import('./pages/fleet.js').then((m) => m.FleetPage));
const FleetGateway = lazy(() => import('./pages/fleet-gateway.js').then((m) => m.FleetGatewayPage));

/**
 * Links the app routes itself: every path but the API's. A link to /api/… (a CSV download, the
 * sign-in through the city's identity provider) is followed by the browser, to the hub.
 */
const APP_LINKS = /^\/(?!api(\/|$))/;

export function App() {
  return (
    <LocationProvider scope={APP_LINKS}>
      <I18nProvider>
        <SessionProvider>
          <Layout>
            <ErrorBoundary>
              <Router>
                <Route path="/" component={Home} />
                <Route path="/objectifs/:key" component={Objective} />
                <Route path="/points/:gateway/:point" component={Point} />
                <Route path="/batiments" component={Buildings} />
                <Route path="/batiments/:key" component={Building} />
                <Route path="/projets" component={Projects} />
                <Route path="/projets/:key" component={Project} />
                <Route path="/gestion/projets" component={ProjectsAdmin} />
                <Route path="/gestion/projets/:key" component={ProjectEdit} />
                <Route path="/donnees" component={OpenData} />
                <Route path="/donnees/:id" component={OpenDataset} />
                <Route path="/gestion/donnees-ouvertes" component={OpenDataAdmin} />
                <Route path="/connexion" component={Login} />
                <Route path="/donnees-de-service" component={ServiceData} />
                <Route path="/gestion/objectifs" component={ObjectivesAdmin} />
                <Route path="/gestion/objectifs/:key" component={ObjectiveEdit} />
                <Route path="/passerelles" component={Gateways} />
                <Route path="/gestion/compteurs" component={UtilityMeters} />
                <Route path="/gestion/comptes" component={Accounts} />
                <Route path="/gestion/flotte" component={Fleet} />
                <Route path="/gestion/flotte/:id" component={FleetGateway} />
                <Route default component={NotFound} />
              </Router>
            </ErrorBoundary>
          </Layout>
        </SessionProvider>
      </I18nProvider>
    </LocationProvider>
  );
}

// Re-exported for pages that lazy-load their own parts.
export { lazy };
