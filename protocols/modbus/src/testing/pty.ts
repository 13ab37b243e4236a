import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Two linked pseudo-terminals, a serial line in a box: bytes written to one end come out of the other. */
export interface PtyPair {
  /** One end: the client's serial port. */
  a: string;
  /** The other end: the simulated devices' serial port. */
  b: string;
  /**
   * Listens on 127.0.0.1 (a free port) and passes the bytes of each TCP connection to and from
   * end `a`: a serial-to-Ethernet gateway in "TCP server" mode in front of the devices on `b`.
   */
  bridgeTcp(): Promise<{ host: string; port: number }>;
  /** Stops socat (the bridge too) and removes the links. */
  close(): Promise<void>;
}

/** Why pty tests cannot run here, or undefined when they can: they need socat. */
export function socatMissing(): string | undefined {
  const found = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  return found.error || found.status !== 0 ? 'socat is not installed (apt-get install socat)' : undefined;
}

/** Starts socat with a linked pty pair under a fresh temporary folder, once both links exist. */
export async function openPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'citypilot-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const children: ChildProcess[] = [];
  const start = (args: string[]) => {
    const child = spawn('socat', ['-d', '-d', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    // Drained, so that socat never blocks on a full pipe.
    child.stderr!.resume();
    return child;
  };
  const pair = start([`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  const deadline = Date.now() + 5000;
  while (!(existsSync(a) && existsSync(b))) {
    if (pair.exitCode !== null || Date.now() > deadline) {
      pair.kill();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`socat did not create the pty pair (exit code ${pair.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    a,
    b,
    async bridgeTcp() {
      // fork: each connection opens the pty anew, so that a client may reconnect.
      // -t: a connection's process ends 50 ms after the client's end instead of 500, releasing the pty.
      const bridge = start(['-t', '0.05', 'TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork', `FILE:${a},raw,echo=0`]);
      const port = await new Promise<number>((resolve, reject) => {
        let log = '';
        bridge.stderr!.on('data', (chunk: Buffer) => {
          log += chunk.toString();
          const m = /listening on AF=2 127\.0\.0\.1:(\d+)/.exec(log);
          if (m) resolve(Number(m[1]));
        });
        bridge.once('exit', (code) => reject(new Error(`socat bridge exited (${code}): ${log}`)));
      });
      return { host: '127.0.0.1', port };
    },
    async close() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill();
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
