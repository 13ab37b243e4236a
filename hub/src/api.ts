import Fastify, { type FastifyInstance } from 'fastify';
import { listBuildings } from './storage/catalog.js';
import { completeness } from './storage/completeness.js';
import type { Storage } from './storage/storage.js';
import type { HubMetrics } from './metrics.js';
import type { Objectives } from './objectives/objectives.js';
import { objectiveRoutes } from './objectives/routes.js';

export interface ApiDependencies {
  storage: Storage;
  metrics: HubMetrics;
  /** Whether the hub's NATS connection is up, for /healthz. */
  natsConnected: () => boolean;
  /** The objectives API (objectives/routes.ts), when given. */
  objectives?: Objectives;
}

/**
 * The hub's HTTP API: `/healthz`, Prometheus `/metrics`, `/api/status` (gateways, points and
 * their last values), `/api/buildings` (the catalog), `/api/completeness` (samples received
 * against expected, per point or building, per hour or day), and `/`, the status as a page.
 */
export function buildApi({ storage, metrics, natsConnected, objectives }: ApiDependencies): FastifyInstance {
  const app = Fastify({ logger: false });
  if (objectives) objectiveRoutes(app, { objectives, pool: storage.pool, rollups: storage.rollups });

  app.get('/healthz', async (_request, reply) => {
    let database = 'ok';
    try {
      await storage.pool.query('SELECT 1');
    } catch (error) {
      database = (error as Error).message;
    }
    const nats = natsConnected() ? 'ok' : 'disconnected';
    const healthy = database === 'ok' && nats === 'ok';
    return reply.code(healthy ? 200 : 503).send({ status: healthy ? 'ok' : 'degraded', database, nats, storage: storage.mode });
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/api/buildings', async () => listBuildings(storage.pool));

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/completeness', async (request, reply) => {
    const { by = 'building', step = 'day', from, to, timezone } = request.query;
    const problem =
      (!['point', 'building'].includes(by) && `by must be "point" or "building", not ${JSON.stringify(by)}`) ||
      (!['hour', 'day'].includes(step) && `step must be "hour" or "day", not ${JSON.stringify(step)}`) ||
      ((!from || Number.isNaN(Date.parse(from))) && 'from must be an ISO 8601 date-time, e.g. 2026-10-25T00:00:00+02:00') ||
      ((!to || Number.isNaN(Date.parse(to))) && 'to must be an ISO 8601 date-time') ||
      (Date.parse(to!) <= Date.parse(from!) && 'to must be after from') ||
      ((Date.parse(to!) - Date.parse(from!)) / 3_600_000 > (step === 'hour' ? 24 * 31 : 24 * 366) && `at most ${step === 'hour' ? '31 days of hours' : '366 days'} per request`);
    if (problem) return reply.code(400).send({ error: problem });
    try {
      return await completeness(storage.pool, { by: by as 'point' | 'building', step: step as 'hour' | 'day', from: new Date(from!), to: new Date(to!), timezone });
    } catch (error) {
      if ((error as { code?: string }).code === '22023') return reply.code(400).send({ error: `unknown time zone ${JSON.stringify(timezone)}` });
      throw error;
    }
  });

  app.get('/api/status', async () => ({
    storage: { mode: storage.mode, detail: storage.modeDetail },
    gateways: await storage.gateways(),
    points: await storage.points(),
  }));

  app.get('/', async (_request, reply) => {
    const [gateways, points] = await Promise.all([storage.gateways(), storage.points()]);
    const rows = points
      .map(
        (p) =>
          `<tr><td>${esc(p.gateway)}</td><td>${esc(p.id)}</td><td>${esc(p.name)}</td><td class="n">${esc(formatValue(p.lastValue))}</td>` +
          `<td>${esc(p.unit ?? '')}</td><td>${esc(p.lastQuality ?? '')}</td><td>${esc(p.lastTime ?? '')}</td></tr>`,
      )
      .join('');
    const gws = gateways
      .map((g) => `<tr><td>${esc(g.id)}</td><td class="n">${g.points}</td><td class="n">${g.lastSeq}</td><td>${esc(g.lastSeen ?? '')}</td></tr>`)
      .join('');
    return reply.type('text/html; charset=utf-8').send(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>CityPilot hub</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .8rem;text-align:left}.n{text-align:right}</style></head><body>
<h1>CityPilot hub</h1><p>Storage: ${esc(storage.mode)} (${esc(storage.modeDetail)}). JSON: <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a></p>
<h2>Gateways</h2><table><tr><th>Gateway</th><th>Points</th><th>Last batch</th><th>Last seen</th></tr>${gws}</table>
<h2>Points</h2><table><tr><th>Gateway</th><th>Point</th><th>Name</th><th>Last value</th><th>Unit</th><th>Quality</th><th>Time</th></tr>${rows}</table>
</body></html>`);
  });

  return app;
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return value === null || value === undefined ? '' : String(value);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
