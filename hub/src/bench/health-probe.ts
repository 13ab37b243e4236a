/**
 * Worker thread of bench/abuse.ts: probes the hub's /healthz every `everyMs` (one probe at a time,
 * on a connection of its own) and samples the hub's RSS from /proc every 100 ms, on an event loop
 * of its own, so that the load the benchmark makes in its main thread does not delay the probes.
 * On the message 'stop' it answers with a HealthProbeResult and exits.
 */
import { Agent, get } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { readProc, sleep } from '@citypilot/sdk/bench';

export interface HealthProbeSettings {
  port: number;
  /** The hub process, whose RSS is sampled. */
  pid: number;
  everyMs: number;
  /** A probe unanswered this long is abandoned and counts as this long. */
  timeoutMs: number;
}

export interface HealthProbeResult {
  /** Each probe's latency, in ms. */
  latencies: number[];
  /** Probes that got no answer or not a 200. */
  failed: number;
  rssStartBytes: number;
  rssMaxBytes: number;
}

async function probe(settings: HealthProbeSettings, stopped: () => boolean): Promise<HealthProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const rssStartBytes = readProc(settings.pid)?.rss ?? 0;
  let rssMaxBytes = rssStartBytes;
  const rss = setInterval(() => (rssMaxBytes = Math.max(rssMaxBytes, readProc(settings.pid)?.rss ?? 0)), 100);
  const latencies: number[] = [];
  let failed = 0;
  while (!stopped()) {
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const request = get({ host: '127.0.0.1', port: settings.port, path: '/healthz', agent, timeout: settings.timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(false));
    });
    const ms = Math.min(performance.now() - started, settings.timeoutMs);
    latencies.push(ms);
    if (!ok) failed++;
    await sleep(Math.max(0, settings.everyMs - ms));
  }
  clearInterval(rss);
  rssMaxBytes = Math.max(rssMaxBytes, readProc(settings.pid)?.rss ?? 0);
  agent.destroy();
  return { latencies, failed, rssStartBytes, rssMaxBytes };
}

if (parentPort) {
  const port = parentPort;
  let stop = false;
  port.on('message', (message) => {
    if (message === 'stop') stop = true;
  });
  probe(workerData as HealthProbeSettings, () => stop).then((result) => {
    port.postMessage(result);
    port.close();
  });
}
