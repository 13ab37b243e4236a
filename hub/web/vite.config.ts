// The dashboard's build: `npm run build` at the repository root runs it after `tsc -b`, into
// hub/web/dist, which the hub serves at / (hub/src/http/web.ts). Hashed file names under
// assets/ let the hub cache them for a year; index.html is never cached.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import preact from '@preact/preset-vite';

/**
 * Writes a .br and a .gz beside every bundle, compressed once at their best, which the hub sends
 * to browsers that accept them (@fastify/static's preCompressed) instead of compressing per request.
 */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'citypilot-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = join(config.root, config.build.outDir, 'assets');
    },
    closeBundle() {
      for (const name of readdirSync(outDir)) {
        if (!/\.(js|css|svg|json)$/.test(name)) continue;
        const content = readFileSync(join(outDir, name));
        writeFileSync(join(outDir, `${name}.gz`), gzipSync(content, { level: 9 }));
        writeFileSync(join(outDir, `${name}.br`), brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The budget is checked by `npm run bench:dashboard`; this only keeps warnings quiet.
    chunkSizeWarningLimit: 300,
    sourcemap: false,
  },
  server: {
    // `npx vite hub/web` during development: the API of a hub running on 8080.
    proxy: { '/api': 'http://127.0.0.1:8080', '/healthz': 'http://127.0.0.1:8080' },
  },
});
