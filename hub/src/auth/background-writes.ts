/**
 * Writes made after a response, that no client waits for: each failure goes to its handler
 * (never thrown), and `settled()` lets a closing API wait for those in flight before the
 * database pool closes.
 */
export class BackgroundWrites {
  private readonly pending = new Set<Promise<void>>();

  add(write: Promise<unknown>, onFailure: (error: unknown) => void): void {
    const tracked: Promise<void> = write.then(
      () => undefined,
      (error: unknown) => {
        try {
          onFailure(error);
        } catch {
          // A failing handler (a logger) must not turn into an unhandled rejection.
        }
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Resolves once every write added so far has ended, well or not. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }
}
