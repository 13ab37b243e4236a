import { CityPilotError, type Logger, type PointDefinition, type Sample } from '@citypilot/sdk';
import { virtualPointDefinitions, type NodeRedConfig } from './config.js';

/** Earliest `msg.time` taken: anything before is a time in seconds, or no time at all. */
const EARLIEST_TIME = Date.UTC(2000, 0, 1);
/** How far ahead of the gateway's clock a `msg.time` may be. */
const MAX_AHEAD_MS = 24 * 3600_000;

/** What the gateway gives its Node-RED host: its points and its pipeline. */
export interface NodeRedLink {
  /** Every point the gateway announces, device points and the virtual points included. */
  points(): PointDefinition[];
  /**
   * Calls `listener` with the samples the gateway accepts into its outbox, in their order;
   * returns the function that stops it.
   */
  subscribe(listener: (samples: readonly Sample[]) => void): () => void;
  /** Hands samples to the gateway's pipeline, as a device's samples are. */
  accept(samples: Sample[]): void;
  /** Counts one value that a flow published and that was refused (metrics). */
  refused?(point: string): void;
}

/** A value a flow published that does not fit its point, a point not declared, or a bad `msg.time`. */
export class SampleRefusedError extends CityPilotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NODE_RED_SAMPLE_REFUSED', message, options);
  }
}

/**
 * What the CityPilot nodes reach through `RED.settings.citypilot`: the nodes are plain
 * JavaScript loaded by Node-RED, so this is their whole contract with the gateway. Called on
 * Node-RED's event loop like everything else; nothing here blocks.
 */
export interface CityPilotBridge {
  /** Every point of the gateway (device and virtual), as announced to the hub. */
  points(): PointDefinition[];
  /** Stable ids of the points "point out" may publish (`node-red.<id>`). */
  virtualPoints(): PointDefinition[];
  /**
   * Calls `listener` with every batch of samples the gateway accepts; returns the function that
   * stops it. An exception thrown by `listener` is logged, never thrown into the gateway.
   */
  subscribe(listener: (samples: readonly Sample[]) => void): () => void;
  /**
   * Publishes `value` as a sample of the virtual point `point`, quality good, at `time`
   * (milliseconds since the epoch, a Date or an ISO 8601 string; now when absent), into the
   * gateway's pipeline. Returns the sample handed over.
   * @throws SampleRefusedError for an undeclared point, a value not of the point's kind, or a
   * time that is not one (counted; nothing is published)
   */
  publish(point: string, value: unknown, time?: unknown): Sample;
  /** Values published and refused since the start. */
  stats(): { published: number; refused: number };
  /** Stops listening to the gateway (the host calls it once Node-RED has stopped). */
  close(): void;
}

export function createBridge(config: NodeRedConfig, link: NodeRedLink, logger: Logger, now: () => number = Date.now): CityPilotBridge {
  const virtual = new Map(virtualPointDefinitions(config).map((p) => [p.id, p]));
  let published = 0;
  let refused = 0;
  // One subscription to the gateway, whatever the number of "point in" nodes.
  const listeners = new Set<(samples: readonly Sample[]) => void>();
  const unsubscribe = link.subscribe((samples) => {
    for (const listener of listeners) {
      try {
        listener(samples);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'a Node-RED point in node failed on samples');
      }
    }
  });
  const refuse = (point: string, message: string, cause?: unknown): never => {
    refused++;
    link.refused?.(point);
    throw new SampleRefusedError(message, { cause });
  };
  return {
    points: () => link.points(),
    virtualPoints: () => [...virtual.values()],
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish(point, value, time) {
      const def = typeof point === 'string' ? virtual.get(point) : undefined;
      if (!def) {
        const known = [...virtual.keys()].map((k) => JSON.stringify(k)).join(', ') || '(none: declare them under nodeRed.points)';
        return refuse(String(point), `${JSON.stringify(point)} is not a virtual point of this gateway: expected one of ${known}`);
      }
      if (!fitsKind(def.kind, value)) {
        return refuse(def.id, `${describe(value)} is not a value of ${def.id}: expected ${def.kind === 'number' ? 'a finite number' : `a ${def.kind}`}`);
      }
      const at = sampleTime(time, now());
      if (typeof at === 'string') return refuse(def.id, `msg.time ${describe(time)} ${at}`);
      const sample: Sample = { point: def.id, time: at, value: value as Sample['value'], quality: 'good' };
      try {
        link.accept([sample]);
      } catch (error) {
        // The gateway is stopping (its outbox is closed).
        return refuse(def.id, `the gateway did not take the sample: ${(error as Error).message}`, error);
      }
      published++;
      return sample;
    },
    stats: () => ({ published, refused }),
    close() {
      listeners.clear();
      unsubscribe();
    },
  };
}

function fitsKind(kind: PointDefinition['kind'], value: unknown): boolean {
  if (kind === 'number') return typeof value === 'number' && Number.isFinite(value);
  return typeof value === kind;
}

/** The sample's time in ms, or why `time` is not one. */
function sampleTime(time: unknown, now: number): number | string {
  if (time === undefined || time === null) return now;
  const ms = time instanceof Date ? time.getTime() : typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN;
  if (!Number.isFinite(ms)) return 'is not a time: expected milliseconds since the epoch, a Date or an ISO 8601 string';
  if (ms < EARLIEST_TIME) return 'is before 2000: expected milliseconds since the epoch (not seconds)';
  if (ms > now + MAX_AHEAD_MS) return "is more than a day ahead of the gateway's clock";
  return Math.round(ms);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
