/**
 * Helper process of bench/open-data.ts: the hub's API alone (buildApi, as `citypilot hub run`
 * serves it) on the database given as its first argument, in a process of its own so that the
 * benchmark can read its RSS from /proc. Listens on a free loopback port, prints it and sends
 * `{ port }` to its parent; on the message 'stop' (or SIGTERM) it closes the API and the
 * database pool and exits. A failure to start is sent as `{ error }`.
 */
import { silentLogger } from '@citypilot/sdk';
import { buildApi } from '../api.js';
import { createHubMetrics } from '../metrics.js';
import { Storage } from '../storage/storage.js';

async function serve(databaseUrl: string): Promise<void> {
  // The benchmark's database was migrated without TimescaleDB: open it the same way.
  const storage = await Storage.open({ databaseUrl, logger: silentLogger, timescale: 'off' });
  const app = buildApi({ storage, metrics: createHubMetrics(), natsConnected: () => true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await storage.close();
    process.disconnect?.();
  };
  process.on('message', (message) => {
    if (message === 'stop') void stop();
  });
  process.once('SIGTERM', () => void stop());
  console.log(`open-data-server: the hub's API (pid ${process.pid}) listens on 127.0.0.1:${port}`);
  process.send?.({ port });
}

const databaseUrl = process.argv[2];
if (!databaseUrl) {
  console.error('usage: open-data-server.js <database URL>');
  process.exitCode = 2;
} else {
  serve(databaseUrl).catch((error: Error) => {
    process.send?.({ error: error.message });
    process.exitCode = 1;
    process.disconnect?.();
  });
}
