/**
 * The bottom of hub/src/storage: what the facade (storage.ts) and the steps of a write share.
 * A write passes partitions.ts (the months' partitions, before the transaction), then, in one
 * transaction, samples.ts (the samples), rollups.ts (their hours, days and months) and
 * catalog.ts (the gateways and points they come from); storage.ts calls each step, and no step
 * imports the facade or the step that calls it. This module imports nothing of storage.
 */
import type pg from 'pg';
import type { Sample } from '@citypilot/sdk';

/** Which engine stores the samples. */
export type StorageMode = 'timescaledb' | 'postgresql';

/** The samples of a write, flattened: `samples[i]` is of point `ids[i]` of gateway `gateways[i]`. */
export interface SampleRows {
  ids: number[];
  samples: Sample[];
  gateways: string[];
  /** How many of `ids` are 0: points not known yet. */
  unknown: number;
}

/** Point ids (never 0) by gateway and point key. */
export class PointIds {
  private readonly byGateway = new Map<string, Map<string, number>>();

  /** The point's id, or undefined when unknown. */
  get(gateway: string, point: string): number | undefined {
    return this.byGateway.get(gateway)?.get(point);
  }

  set(gateway: string, point: string, id: number): void {
    let points = this.byGateway.get(gateway);
    if (!points) this.byGateway.set(gateway, (points = new Map()));
    points.set(point, id);
  }

  addAll(other: PointIds): void {
    for (const [gateway, points] of other.byGateway) for (const [point, id] of points) this.set(gateway, point, id);
  }
}

/** What a migration may depend on: whether the database has TimescaleDB. */
export interface MigrationContext {
  timescale: boolean;
  /** IANA time zone of the city (e.g. Europe/Paris): rollups are bucketed in it. Default Europe/Paris. */
  timezone?: string;
}

export interface Migration {
  /** Sequence number; migrations run in this order, each exactly once per database. */
  id: number;
  name: string;
  up(client: pg.ClientBase, context: MigrationContext): Promise<void>;
}
