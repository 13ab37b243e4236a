/**
 * Polls `probe` every 200 ms until it returns a truthy value (a probe that throws counts as not
 * yet); fails with `message` (a function: computed then, to show what happened meanwhile), and the
 * last error seen, after `timeoutMs`.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs: number,
  message: string | (() => string),
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${typeof message === 'function' ? message() : message}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}
