import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The hub's Prometheus metrics, in a registry of its own (several hubs may share a process in tests). */
export function createHubMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'citypilot_hub_' });
  return {
    registry,
    samplesInserted: new Counter({ name: 'citypilot_hub_samples_inserted_total', help: 'Samples newly stored.', registers: [registry] }),
    samplesDuplicate: new Counter({
      name: 'citypilot_hub_samples_duplicate_total',
      help: 'Samples received again (redelivery) and left as they were.',
      registers: [registry],
    }),
    batches: new Counter({ name: 'citypilot_hub_batches_total', help: 'Batches stored and acknowledged.', registers: [registry] }),
    deadLetters: new Counter({ name: 'citypilot_hub_dead_letters_total', help: 'Messages moved to the dead-letter stream.', registers: [registry] }),
    writeSeconds: new Histogram({
      name: 'citypilot_hub_write_seconds',
      help: 'Time to store one fetch of batches, commit included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'citypilot_hub_audit_failures_total',
      help: 'API writes that could not be recorded in the audit (each one logged).',
      registers: [registry],
    }),
    auditSampledOut: new Counter({
      name: 'citypilot_hub_audit_sampled_out_total',
      help: 'Refused anonymous API writes (401, 429) left out of the audit beyond its sample; each group is counted in a summary row.',
      registers: [registry],
    }),
    apiRateLimited: new Counter({
      name: 'citypilot_hub_api_rate_limited_total',
      help: 'API requests answered 429 because their client exceeded its rate limit, by kind: read, write, or token (an address whose tokens were refused too often).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    consumerPending: new Gauge({
      name: 'citypilot_hub_ingest_pending_messages',
      help: 'Batches waiting in JetStream for the ingest consumer (lag).',
      registers: [registry],
    }),
  };
}

export type HubMetrics = ReturnType<typeof createHubMetrics>;
