/**
 * Helpers the tests of CityPilot's utility API clients share (Enedis, GRDF): a sleep that
 * records its waits, the error a call ends with, and an address where nothing listens.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A sleep that records what it was asked to wait and waits a little for real (never the whole wait). */
export function recordingSleep(onSleep?: (ms: number) => void): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms) => {
      waits.push(ms);
      onSleep?.(ms);
      await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20)));
    },
  };
}

/** The error of class `type` a promise rejects with; any other outcome fails the test. */
export async function rejection<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** A loopback origin (http://127.0.0.1:port) where nothing listens: a port just opened and closed again. */
export async function closedOrigin(): Promise<string> {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
