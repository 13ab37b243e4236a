// `@citypilot/sdk/bench`: what the benchmarks of the gateway and of the plugins need around the
// processes they measure: the machine they ran on, RSS and CPU time from /proc, free ports, and
// a NATS server with JetStream for a gateway to forward to. Here rather than in the gateway,
// because a plugin's benchmark cannot import the gateway, which imports the plugins.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

import { freePort } from './ports.js';

export { freePort };
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The p-th percentile of `xs` (nearest rank), NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * A benchmark's options when all are positive whole numbers: `--name N` for each key of
 * `defaults`, which gives the values not given.
 * @throws Error naming the option and the options there are
 */
export function wholeNumberOptions<T extends Record<string, number>>(argv: readonly string[], defaults: T): T {
  const o: Record<string, number> = { ...defaults };
  const names = Object.keys(defaults);
  for (let i = 0; i < argv.length; i += 2) {
    const key = names.find((k) => argv[i] === `--${k}`);
    const n = Number(argv[i + 1]);
    if (!key || !Number.isInteger(n) || n < 1) {
      throw new Error(`unknown option or bad value at ${JSON.stringify(argv[i])} (options: ${names.map((k) => `--${k} N`).join(', ')})`);
    }
    o[key] = n;
  }
  return o as T;
}

/** The machine a benchmark runs on, for the first line of its output: CPU, cores, memory, Node. */
export function machineDescription(): string {
  const cpu = cpus()[0];
  return `${cpu?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${round(totalmem() / 2 ** 30)} GB memory, Node ${process.version} on ${process.platform}/${process.arch}`;
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
export function clockTicks(): number {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return n > 0 ? n : 100;
}

/** RSS (bytes) and CPU time (user + system, in clock ticks) of a process, from /proc. */
export function readProc(pid: number): { rss: number; ticks: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return { rss: rssKb * 1024, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** What the sampler saw of one process in the measured window. */
export interface Usage {
  rssMaxMB: number;
  rssMeanMB: number;
  /** CPU time over wall time, in percent of one core. */
  cpuPercent: number;
  /** RSS at the start and at the end of the window: a steady state moves little between them. */
  rssStartMB: number;
  rssEndMB: number;
  /** Highest RSS seen at any time, the start included. */
  rssPeakMB: number;
}

/** Samples one process every time `sample` is called; the window starts at `begin`. */
export class ProcessSampler {
  private readonly rss: number[] = [];
  private peak = 0;
  private startTicks = 0;
  private startAt = 0;
  private last: { rss: number; ticks: number; at: number } | undefined;

  constructor(
    readonly pid: number,
    private readonly hz: number,
  ) {}

  begin(): void {
    const p = readProc(this.pid);
    if (!p) throw new Error(`process ${this.pid} is gone`);
    this.startTicks = p.ticks;
    this.startAt = performance.now();
  }

  sample(): void {
    const p = readProc(this.pid);
    if (!p) throw new Error(`process ${this.pid} is gone`);
    this.last = { ...p, at: performance.now() };
    this.peak = Math.max(this.peak, p.rss);
    if (this.startAt) this.rss.push(p.rss);
  }

  usage(): Usage {
    if (!this.last || !this.rss.length) throw new Error('no samples in the measured window');
    const mb = (bytes: number) => bytes / 2 ** 20;
    const seconds = (this.last.at - this.startAt) / 1000;
    return {
      rssMaxMB: mb(Math.max(...this.rss)),
      rssMeanMB: mb(this.rss.reduce((a, b) => a + b, 0) / this.rss.length),
      cpuPercent: ((this.last.ticks - this.startTicks) / this.hz / seconds) * 100,
      rssStartMB: mb(this.rss[0]!),
      rssEndMB: mb(this.rss[this.rss.length - 1]!),
      rssPeakMB: mb(this.peak),
    };
  }
}

/** A free local UDP port (for a BACnet socket, whose configuration wants a port, not 0). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  const port = await new Promise<number>((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket.address().port)));
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

async function jetStreamAt(url: string): Promise<NatsConnection | undefined> {
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
      return nc;
    } catch {
      await nc.close();
    }
  } catch {
    // Nothing there.
  }
  return undefined;
}

/**
 * NATS_URL, else a nats-server of the run's own started from the machine's binary (stopped by
 * `stop`), with its default settings.
 */
export async function findNats(dir: string): Promise<{ url: string; nc: NatsConnection; origin: string; stop: () => Promise<void> }> {
  if (process.env.NATS_URL) {
    const nc = await jetStreamAt(process.env.NATS_URL);
    if (!nc) throw new Error(`NATS_URL=${process.env.NATS_URL}: no NATS server with JetStream answers there`);
    return { url: process.env.NATS_URL, nc, origin: 'NATS_URL', stop: async () => undefined };
  }
  const binary = [...(process.env.PATH ?? '').split(':').map((d) => join(d, 'nats-server')), '/usr/sbin/nats-server', '/usr/local/bin/nats-server'].find((p) =>
    existsSync(p),
  );
  if (!binary) throw new Error('no nats-server to start: install it (Debian: apt-get install nats-server) or set NATS_URL to a server with JetStream');
  const port = await freePort();
  const config = join(dir, 'nats-server.conf');
  writeFileSync(config, `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(join(dir, 'nats'))} }\n`);
  const child = spawn(binary, ['-c', config], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  };
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const nc = await jetStreamAt(url);
    if (nc) return { url, nc, origin: `a nats-server started for the run (${binary})`, stop };
    await sleep(200);
  }
  await stop();
  throw new Error(`${binary} did not start on port ${port}`);
}

/**
 * Forks a benchmark's helper process (`file`, a full path), sends it `setup` when given, and
 * waits for the first message `ready` makes a value of. A message `{ error }` from the helper, an
 * error or an exit before that rejects. `execArgv` defaults to this process's (Node's own default).
 */
export function forkReady<T>(
  file: string,
  ready: (message: unknown) => T | undefined,
  options: { args?: string[]; setup?: object; execArgv?: string[] } = {},
): Promise<{ child: ChildProcess; value: T }> {
  const child = fork(file, options.args ?? [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: options.execArgv });
  if (options.setup) child.send(options.setup);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${file} exited (${code})`)));
    const listener = (m: unknown) => {
      const error = (m as { error?: string } | null)?.error;
      if (error) return reject(new Error(`${file}: ${error}`));
      const value = ready(m);
      if (value === undefined) return;
      child.off('message', listener);
      resolve({ child, value });
    };
    child.on('message', listener);
  });
}

/** Sends a forked helper `question` and waits for its next message, the answer. */
export function ask<T>(child: ChildProcess, question: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(question);
  });
}

/** One value of a Prometheus endpoint (`<url>/metrics`), NaN when it is not there. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}
