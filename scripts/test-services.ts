// Vitest global setup: finds or starts NATS (JetStream) and PostgreSQL once per test run, hands
// their URLs to the tests (inject('natsUrl'), inject('adminDatabaseUrl'), and
// inject('timescaleDatabaseUrl'), empty when no TimescaleDB server can be had), and stops what it
// started when the run ends. Each test file then makes its own database and stream names.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureServices, timescaleServer, type Services } from '../hub/dist/services/local-services.js';
import { dropSharedDemoCities } from '../hub/dist/testing/demo-city.js';

let services: Services | undefined;
let stopTimescale: (() => Promise<void>) | undefined;
/** Names the databases the run's files share (the demo city's seed), dropped at the end. */
const testRunId = randomBytes(4).toString('hex');

export async function setup(project: TestProject): Promise<void> {
  services = await ensureServices({
    stateDir: fileURLToPath(new URL('../.citypilot/test-services', import.meta.url)),
    log: (message) => console.log(`[test services] ${message}`),
  });
  project.provide('natsUrl', services.natsUrl);
  project.provide('adminDatabaseUrl', services.databaseUrl);
  project.provide('testRunId', testRunId);
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
  if (services)
    await dropSharedDemoCities(services.databaseUrl, testRunId).catch((error: Error) =>
      console.log(`[test services] could not drop the shared demo city: ${error.message}`),
    );
  await stopTimescale?.();
  await services?.stop();
}
