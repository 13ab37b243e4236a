import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWeb, WEB_ROOT } from './web.js';
import { existsSync } from 'node:fs';

describe('the dashboard, served by the hub', () => {
  let dir: string;
  let app: FastifyInstance;
  const script = 'console.log("dashboard");'.repeat(50);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'citypilot-web-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><html><head><meta name="citypilot-timezone" content="Europe/Paris" /></head><body></body></html>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), script);
    writeFileSync(join(dir, 'assets', 'index-abc123.js.gz'), gzipSync(script));
    app = Fastify();
    registerWeb(app, { root: dir, timezone: 'America/Cayenne' });
    app.get('/api/known', async () => ({ ok: true }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers / with the page, never cached, told the city time zone', async () => {
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('<meta name="citypilot-timezone" content="America/Cayenne" />');
  });

  it('answers every page address with the same page (the application draws it), and unknown API addresses with 404 in JSON', async () => {
    for (const url of ['/objectifs/energy-per-m2?period=2026-11', '/batiments/school-north', '/connexion?retour=%2F']) {
      const page = await app.inject({ url, headers: { accept: 'text/html,application/xhtml+xml' } });
      expect(page.statusCode, url).toBe(200);
      expect(page.body, url).toContain('citypilot-timezone');
    }
    const api = await app.inject({ url: '/api/nothing', headers: { accept: 'text/html' } });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: 'nothing at GET /api/nothing', code: 'NOT_FOUND' });
    const asked = await app.inject({ url: '/batiments/x', headers: { accept: 'application/json' } });
    expect(asked.statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/batiments/x', headers: { accept: 'text/html' } })).statusCode).toBe(404);
    expect((await app.inject({ url: '/assets/missing.js', headers: { accept: 'text/html' } })).statusCode).toBe(404);
  });

  it('sends the hashed bundles cached for a year, precompressed to a browser that accepts it', async () => {
    const plain = await app.inject({ url: '/assets/index-abc123.js' });
    expect(plain.statusCode).toBe(200);
    expect(plain.body).toBe(script);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const zipped = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(Number(zipped.headers['content-length'] ?? zipped.rawPayload.length)).toBeLessThan(script.length / 5);
  });

  it('says the dashboard is not built, without failing the API, when there is no build', async () => {
    const bare = Fastify();
    registerWeb(bare, { root: join(dir, 'nowhere'), timezone: 'Europe/Paris' });
    const page = await bare.inject({ url: '/' });
    expect(page.statusCode).toBe(503);
    expect(page.body).toMatch(/npm run build/);
    await bare.close();
  });

  it('has a build in this checkout (npm run build ran before the tests)', () => {
    expect(existsSync(join(WEB_ROOT, 'index.html'))).toBe(true);
  });
});
