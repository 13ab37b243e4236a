import { readCertificateFile, openCertificateStore } from '../certificates.js';
import { ensureClientCertificate } from '../session.js';
import type { OpcuaSimulator } from '../simulator.js';

/**
 * Makes the client store in `clientPkiDir` trust the (started once) simulator's certificate,
 * and the simulator trust the client's certificate (for secure channels and as a user
 * certificate). Gives the client's certificate and key files.
 */
export async function trustEachOther(simulator: OpcuaSimulator, clientPkiDir: string): Promise<{ certificateFile: string; privateKeyFile: string }> {
  const client = await ensureClientCertificate(clientPkiDir);
  await simulator.trustClientCertificate(client.certificateFile);
  const store = await openCertificateStore(clientPkiDir);
  try {
    await store.trustCertificate(readCertificateFile(simulator.certificateFile));
  } finally {
    await store.dispose();
  }
  return client;
}

/** Resolves once `condition` holds, checking every 50 ms; rejects with `what` after `timeoutMs` (default 30 s). */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
