import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own (no module-level state). */
export function createGatewayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'citypilot_gateway_' });
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    cycles: counter('citypilot_gateway_poll_cycles_total', 'Poll cycles run, per device and poll group ("" for the device\'s own interval).', [
      'device',
      'group',
    ]),
    cyclesSkipped: counter(
      'citypilot_gateway_poll_cycles_skipped_total',
      'Poll slots that passed without a reading: the previous cycle of the group was still running, or the gateway could not run its timers (a blocked event loop).',
      ['device', 'group'],
    ),
    clockJumps: counter('citypilot_gateway_clock_jumps_total', 'Steps of the wall clock against the monotonic clock; the schedule re-aligned after each.', [
      'direction',
    ]),
    samplesOutOfOrder: counter(
      'citypilot_gateway_samples_out_of_order_total',
      "Readings dropped because their device time was not after the point's previous sample.",
    ),
    deviceErrors: counter('citypilot_gateway_device_errors_total', 'Poll cycles in which the device failed as a whole.', ['device']),
    samplesAccepted: counter('citypilot_gateway_samples_accepted_total', 'Samples accepted into the outbox.'),
    samplesDropped: counter('citypilot_gateway_samples_dropped_total', 'Samples dropped because the outbox was full.'),
    nodeRedRefused: counter(
      'citypilot_gateway_node_red_refused_total',
      'Values Node-RED flows published that were refused (undeclared point, wrong kind, bad time).',
    ),
    samplesForwarded: counter('citypilot_gateway_samples_forwarded_total', 'Samples acknowledged by the hub stream.'),
    batchesForwarded: counter('citypilot_gateway_batches_forwarded_total', 'Batches acknowledged by the hub stream.'),
    batchesDuplicate: counter('citypilot_gateway_batches_duplicate_total', 'Batches the stream had already (a retry after a lost acknowledgement).'),
    outboxDepth: new Gauge({ name: 'citypilot_gateway_outbox_samples', help: 'Samples waiting to be forwarded.', registers: [registry] }),
    configInfo: new Gauge({
      name: 'citypilot_gateway_config_info',
      help: 'The configuration running: 1 for its source (file or hub) and revision (hub revision, or the start of the file SHA-256).',
      labelNames: ['source', 'revision'],
      registers: [registry],
    }),
    configHubRevision: new Gauge({
      name: 'citypilot_gateway_config_hub_revision',
      help: 'Revision of the configuration pushed by the hub that runs; 0 while the file runs.',
      registers: [registry],
    }),
    configRefused: counter('citypilot_gateway_config_refused_total', 'Configurations refused (invalid, or changing a restart-only setting), per source.', [
      'source',
    ]),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
