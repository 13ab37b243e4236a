import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TimescaleJob } from './storage/jobs.js';

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
    fleetReports: new Counter({
      name: 'citypilot_hub_fleet_reports_total',
      help: "Gateways' inventory reports received (fleet/fleet.ts), malformed ones included.",
      registers: [registry],
    }),
    fleetReportsMalformed: new Counter({
      name: 'citypilot_hub_fleet_reports_malformed_total',
      help: 'Inventory reports refused (not JSON, not an inventory, too large, or on a subject naming no valid gateway): never stored.',
      registers: [registry],
    }),
    fleetReportsDropped: new Counter({
      name: 'citypilot_hub_fleet_reports_dropped_total',
      help: 'Inventory reports left unstored because a newer one of the same gateway arrived first, or too many gateways were waiting.',
      registers: [registry],
    }),
    fleetGateways: new Gauge({
      name: 'citypilot_hub_fleet_gateways',
      help: 'Gateways of the fleet by state (online, silent), as of the last silence check.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    consumerPending: new Gauge({
      name: 'citypilot_hub_ingest_pending_messages',
      help: 'Batches waiting in JetStream for the ingest consumer (lag).',
      registers: [registry],
    }),
    // Labelled policy and relation, not job: Prometheus gives its own `job` label to every target.
    timescaleJobLastRunSuccess: new Gauge({
      name: 'citypilot_hub_timescale_job_last_run_success',
      help: "1 when the last run of the hub's TimescaleDB job succeeded, 0 when it failed; no series before its first run. TimescaleDB only.",
      labelNames: ['policy', 'relation'],
      registers: [registry],
    }),
    timescaleJobLastSuccess: new Gauge({
      name: 'citypilot_hub_timescale_job_last_success_timestamp_seconds',
      help: "When the last successful run of the hub's TimescaleDB job ended (Unix time); no series before the first. TimescaleDB only.",
      labelNames: ['policy', 'relation'],
      registers: [registry],
    }),
    timescaleJobFailures: new Counter({
      name: 'citypilot_hub_timescale_job_failures_total',
      help: "Failed runs of the hub's TimescaleDB job since it was added, as TimescaleDB counts them. TimescaleDB only.",
      labelNames: ['policy', 'relation'],
      registers: [registry],
    }),
  };
}

/**
 * Sets the TimescaleDB job metrics to `jobs` (Storage.timescaleJobs), read just before a scrape:
 * the counts are TimescaleDB's, kept in the database, so every hub sharing it reports the same.
 * Jobs no longer there (a policy replaced) lose their series.
 */
export function recordTimescaleJobs(metrics: HubMetrics, jobs: readonly TimescaleJob[]): void {
  metrics.timescaleJobLastRunSuccess.reset();
  metrics.timescaleJobLastSuccess.reset();
  metrics.timescaleJobFailures.reset();
  for (const job of jobs) {
    const labels = { policy: job.policy, relation: job.relation };
    if (job.lastRun) metrics.timescaleJobLastRunSuccess.set(labels, job.lastRun === 'success' ? 1 : 0);
    if (job.lastSuccessAt) metrics.timescaleJobLastSuccess.set(labels, Date.parse(job.lastSuccessAt) / 1000);
    metrics.timescaleJobFailures.inc(labels, job.totalFailures);
  }
}

export type HubMetrics = ReturnType<typeof createHubMetrics>;
