// Vitest global setup: finds or starts NATS (JetStream) and PostgreSQL once per test run, hands
// their URLs to the tests (inject('natsUrl'), inject('adminDatabaseUrl')), and stops what it
// started when the run ends. Each test file then makes its own database and stream names.
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureServices, type Services } from '../hub/dist/services/local-services.js';

let services: Services | undefined;

export async function setup(project: TestProject): Promise<void> {
  services = await ensureServices({
    stateDir: fileURLToPath(new URL('../.citypilot/test-services', import.meta.url)),
    log: (message) => console.log(`[test services] ${message}`),
  });
  project.provide('natsUrl', services.natsUrl);
  project.provide('adminDatabaseUrl', services.databaseUrl);
}

export async function teardown(): Promise<void> {
  await services?.stop();
}
