import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';

/** Where `npm run build` puts the dashboard (hub/web/dist; this file is hub/dist/http/web.js). */
export const WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'dist');

export interface WebOptions {
  /** The built dashboard. Default WEB_ROOT. */
  root?: string;
  /** The city's IANA time zone, given to the pages for their dates and months. */
  timezone: string;
}

/**
 * The dashboard (hub/web, a single-page application) on the API's origin:
 * - `/assets/…`: the bundles Vite names by their content's hash, cached for a year (`immutable`),
 *   sent precompressed (brotli or gzip, written by the build) to a browser that accepts it;
 * - `/` and every other page address (`/objectifs/…`, `/batiments/…`): index.html, never cached,
 *   so that a new build is seen at the next load; the SPA draws the page the address names;
 * - any other unknown address (under /api, or asked for as something other than a page): 404
 *   in JSON, as before.
 * The page is told the city's time zone through a meta tag. Call it on the root instance, after
 * registerOpenApi (its routes are in a plugin, so that the document has them). Without a build (a checkout where
 * `npm run build` has not run), the pages answer 503 and say so.
 */
export function registerWeb(app: FastifyInstance, options: WebOptions): void {
  const root = options.root ?? WEB_ROOT;
  const indexFile = join(root, 'index.html');
  const built = existsSync(indexFile);
  const index = built
    ? readFileSync(indexFile, 'utf8').replace(/(<meta name="citypilot-timezone" content=")[^"]*(")/, `$1${escapeAttribute(options.timezone)}$2`)
    : undefined;

  const sendIndex = (reply: FastifyReply) => {
    if (!index) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(
          'The dashboard is not built on this hub: run `npm run build` at the root of the CityPilot repository, then restart the hub. The API is under /api.',
        );
    }
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };

  app.register(async (pages) => {
    if (built && existsSync(join(root, 'assets'))) {
      pages.register(fastifyStatic, {
        root: join(root, 'assets'),
        prefix: '/assets/',
        index: false,
        preCompressed: true,
        immutable: true,
        maxAge: '365d',
        cacheControl: true,
        // Hidden from the OpenAPI document: files, not an API.
        schemaHide: true,
      });
    }

    pages.get(
      '/',
      {
        config: { access: { roles: ['public'], sites: 'none' } },
        schema: {
          summary: "The city's dashboard (a web application)",
          description: 'The same page answers every page address that is not under /api or /assets (the application draws the page its address names).',
          tags: ['hub'],
          response: {
            200: { description: 'The dashboard', content: { 'text/html': { schema: Type.String() } } },
            503: { description: 'The dashboard is not built on this hub', content: { 'text/plain': { schema: Type.String() } } },
          },
        },
      },
      async (_request, reply) => sendIndex(reply),
    );
  });

  app.setNotFoundHandler(async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?', 1)[0]!;
    const page =
      (request.method === 'GET' || request.method === 'HEAD') &&
      !path.startsWith('/api/') &&
      !path.startsWith('/assets/') &&
      (request.headers.accept ?? '').includes('text/html');
    if (page) return sendIndex(reply);
    return reply.code(404).send({ error: `nothing at ${request.method} ${path.slice(0, 200)}`, code: 'NOT_FOUND' });
  });
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
