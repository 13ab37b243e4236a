import { DecodeError, formatPath } from './errors.js';

/** A compiled TypeBox check, as TypeCompiler.Compile makes it. */
export interface CompiledCheck<T> {
  Check(value: unknown): value is T;
  Errors(value: unknown): { First(): { path: string; message: string } | undefined };
}

/**
 * The JSON of a message received from the network.
 * @throws DecodeError naming `what` when it is not JSON
 */
export function parseJsonMessage(data: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (cause) {
    throw new DecodeError(`${what} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/**
 * `parsed` when it passes `check`; otherwise a DecodeError saying where it does not. Check() is
 * compiled and cheap; the error iterator, several times slower, runs only for a value already
 * known to be malformed.
 */
export function checked<T>(parsed: unknown, check: CompiledCheck<T>, what: string): T {
  if (check.Check(parsed)) return parsed;
  const first = check.Errors(parsed).First();
  const path = (first?.path ?? '')
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  throw new DecodeError(`${what} is malformed at ${formatPath(path)}: ${first?.message ?? `it does not match the ${what} schema`}`);
}
