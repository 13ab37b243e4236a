/**
 * A pause that another part of the same component can end early: a sender waiting for its
 * batch delay that new samples wake, a retry back-off that a stop ends. One pause at a time;
 * `wake()` with no pause running does nothing.
 */
export class Pause {
  private end: (() => void) | undefined;

  /** Resolves after `ms` milliseconds, or sooner on {@link wake}. */
  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.end = end;
    });
  }

  /** Ends the pause in progress, if any. */
  wake(): void {
    this.end?.();
  }
}
