// Test runner configuration. Tests are compiled with the rest of the workspace (`tsc -b`) and
// run from each package's dist/, the same JavaScript that `npm start` runs and that tests spawn
// as real processes. The global setup finds or starts PostgreSQL and NATS once per run.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['{gateway,hub,plugins/*,protocols/*,hardware-tests,scripts/citypilot}/dist/**/*.test.js'],
    globalSetup: ['scripts/test-services.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 4,
    // verbose: every test by name, and what skipped suites print about why.
    reporters: ['verbose'],
  },
});
