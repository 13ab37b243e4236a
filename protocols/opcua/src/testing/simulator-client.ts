import { fork, type ChildProcess } from 'node:child_process';
import type { OpcuaSimulatorOptions } from '../simulator.js';

/**
 * An OPC UA simulator in a child process (simulator-process.ts), for tests whose own timing
 * matters (a gateway's schedule): the same operations as OpcuaSimulator, asynchronous. Options
 * are passed as JSON: no functions (`now`, variables' `initial`).
 */
export class SimulatorProcess {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 0;
  private readonly ready: Promise<void>;

  constructor(options: Omit<OpcuaSimulatorOptions, 'now' | 'extraVariables'>) {
    this.child = fork(new URL('./simulator-process.js', import.meta.url), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code) => reject(new Error(`the simulator process exited (${code})`)));
      this.child.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
        if (m.ready) return resolve();
        const call = this.pending.get(m.id!);
        this.pending.delete(m.id!);
        if (m.error !== undefined) call?.reject(new Error(m.error));
        else call?.resolve(m.result);
      });
    });
  }

  private async call<T>(op: string, ...args: unknown[]): Promise<T> {
    await this.ready;
    const id = this.next++;
    return await new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  start(): Promise<{ endpointUrl: string; port: number }> {
    return this.call('start');
  }

  stop(): Promise<void> {
    return this.call('stop');
  }

  set(path: string, value: number | boolean | string): Promise<void> {
    return this.call('set', path, value);
  }

  async monitoredItems(): Promise<Map<string, number>> {
    return new Map(await this.call<[string, number][]>('monitoredItems'));
  }

  /** Stops the simulator and its process. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    await this.stop().catch(() => undefined);
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}
