/**
 * Free local ports, for the demo's services, the tests and the benchmarks: one home for what each
 * of them used to write again. Loopback only (127.0.0.1), as everything CityPilot starts locally.
 */
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1: `preferred` when it is free, any free one otherwise. */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const bound = (server.address() as { port: number }).port;
        server.close(() => resolve(bound));
      });
    });
  const port = (preferred ? await tryPort(preferred) : undefined) ?? (await tryPort(0));
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}
