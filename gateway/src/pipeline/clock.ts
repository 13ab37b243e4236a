import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface ClockWatchOptions {
  /** A step of the wall clock larger than this, in ms, against the monotonic clock is a jump. */
  thresholdMs: number;
  /** The wall clock, ms since the epoch. Default Date.now. */
  wall?: () => number;
  /** A monotonic clock in ms (any origin). Default performance.now. */
  monotonic?: () => number;
  /** Called once per jump, with its size in ms (positive: the wall clock went forward). */
  onJump?: (stepMs: number) => void;
}

/**
 * Watches the gateway's wall clock against the monotonic clock, so that a step of the wall clock
 * (an NTP correction, a technician setting the time, a board booting without its RTC) is seen
 * once, whoever looks first. Slow slewing never adds up to a jump: the reference moves at every
 * check. Every schedule of a gateway shares one watch and re-aligns when {@link epoch} changes.
 */
export class ClockWatch {
  private readonly wallClock: () => number;
  private readonly monotonic: () => number;
  private lastWall: number;
  private lastMonotonic: number;
  /** Number of jumps seen so far. */
  epoch = 0;

  constructor(private readonly options: ClockWatchOptions) {
    this.wallClock = options.wall ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.lastWall = this.wallClock();
    this.lastMonotonic = this.monotonic();
  }

  /** The wall clock, ms since the epoch. */
  now(): number {
    return this.wallClock();
  }

  /**
   * Compares the wall clock's progress since the previous check with the monotonic clock's.
   * @returns the jump in ms (positive forward) when there was one since the previous check, else 0
   */
  check(): number {
    const wall = this.wallClock();
    const monotonic = this.monotonic();
    const step = wall - this.lastWall - (monotonic - this.lastMonotonic);
    this.lastWall = wall;
    this.lastMonotonic = monotonic;
    if (Math.abs(step) <= this.options.thresholdMs) return 0;
    this.epoch++;
    this.options.onJump?.(step);
    return step;
  }
}

/**
 * A stable pseudo-random offset in [0, jitterMs) for one (device, group): the same at every
 * start, different from one device to the next, so that a site's devices spread over the jitter.
 */
export function jitterOffset(device: string, group: string, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const hash = createHash('sha1').update(`${device}\0${group}`).digest().readUInt32BE(0);
  return Math.floor((hash / 2 ** 32) * jitterMs);
}
