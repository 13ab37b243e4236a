// Vitest global setup: finds or starts NATS (JetStream) and PostgreSQL once per test run, hands
// their URLs to the tests (inject('natsUrl'), inject('adminDatabaseUrl'), and
// inject('timescaleDatabaseUrl'), empty when no TimescaleDB server can be had), and stops what it
// started when the run ends. Each test file then makes its own database and stream names.
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureServices, timescaleServer, type Services } from '../hub/dist/services/local-services.js';

let services: Services | undefined;
let stopTimescale: (() => Promise<void>) | undefined;

export async function setup(project: TestProject): Promise<void> {
  services = await ensureServices({
    stateDir: fileURLToPath(new URL('../.citypilot/test-services', import.meta.url)),
    log: (message) => console.log(`[test services] ${message}`),
  });
  project.provide('natsUrl', services.natsUrl);
  project.provide('adminDatabaseUrl', services.databaseUrl);
  // Tests of the TimescaleDB path need a server that preloads it; when the one above does not
  // but the machine has the extension, a project-local one is started for them.
  const timescale = await timescaleServer(services.databaseUrl, {
    stateDir: fileURLToPath(new URL('../.citypilot/test-services', import.meta.url)),
    log: (message) => console.log(`[test services] TimescaleDB tests: ${message}`),
  });
  stopTimescale = timescale.url ? timescale.stop : undefined;
  project.provide('timescaleDatabaseUrl', timescale.url ?? '');
  if (!timescale.url) console.log(`[test services] TimescaleDB tests will be skipped: ${timescale.reason}`);
}

export async function teardown(): Promise<void> {
  await stopTimescale?.();
  await services?.stop();
}
