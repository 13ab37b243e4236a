import { ID_PATTERN } from './ids.js';

/**
 * The NATS names gateways and the hub agree on. Gateways publish their batches on
 * `<prefix>.telemetry.<gateway>` (gateway/src/gateway.ts) and listen for configuration notices on
 * `<prefix>.config.<gateway>` (gateway/src/config/live-config.ts); the hub captures every telemetry
 * subject in one JetStream stream read by a shared durable consumer (hub/src/ingest/ingest.ts),
 * and grants each gateway's NATS user exactly these subjects (hub/src/services/nats-auth.ts).
 * The hub takes a batch's gateway from its subject, never from its content.
 */

/** NATS subjects and stream names shared by gateways and the hub. */
export interface Subjects {
  /** Subject a gateway publishes its batches to. */
  telemetry(gateway: string): string;
  /**
   * The gateway a telemetry subject belongs to, or undefined when `subject` is not one: the
   * identity of the sender, which NATS permissions bind to its credentials.
   */
  telemetryGateway(subject: string): string | undefined;
  /** Wildcard the telemetry stream captures. */
  readonly telemetryAll: string;
  /**
   * Subject on which a gateway may receive its own configuration (and nothing else of the
   * others'); the hub publishes there.
   */
  config(gateway: string): string;
  /**
   * Inbox prefix of a gateway's connection: replies to its requests (JetStream acks) arrive
   * under `<inbox>.>`, which only that gateway's NATS user may subscribe to.
   */
  inbox(gateway: string): string;
}

/**
 * Subject layout under a prefix (`citypilot` in production; tests use their own prefix so that
 * test files never see each other's messages).
 */
export function subjects(prefix = 'citypilot'): Subjects {
  return {
    telemetry: (gateway) => `${prefix}.telemetry.${gateway}`,
    telemetryGateway: (subject) => {
      const head = `${prefix}.telemetry.`;
      if (!subject.startsWith(head)) return undefined;
      const gateway = subject.slice(head.length);
      return new RegExp(ID_PATTERN).test(gateway) ? gateway : undefined;
    },
    telemetryAll: `${prefix}.telemetry.>`,
    config: (gateway) => `${prefix}.config.${gateway}`,
    // Independent of the prefix: NATS users are per server, whatever the prefix of a deployment.
    inbox: (gateway) => `_INBOX_${gateway}`,
  };
}

/** Names of the JetStream resources the hub uses; tests give each file its own. */
export interface StreamNames {
  /** Subject prefix shared with the gateways (default `citypilot`). */
  prefix: string;
  /** Stream holding the gateways' batches until the hub has stored them. */
  stream: string;
  /** Durable consumer shared by every ingest worker of the hub. */
  durable: string;
}

/** The names of a deployment that sets none (`CITYPILOT_SUBJECT_PREFIX`, `CITYPILOT_STREAM` change them). */
export const defaultStreamNames: StreamNames = { prefix: 'citypilot', stream: 'CITYPILOT_TELEMETRY', durable: 'hub-ingest' };

/** The stream where the hub keeps the batches it could not decode or store, for an operator to look at. */
export function deadLetterStream(names: StreamNames): string {
  return `${names.stream}_DEADLETTER`;
}

/** The subject of {@link deadLetterStream}. */
export function deadLetterSubject(names: StreamNames): string {
  return `${names.prefix}.deadletter.telemetry`;
}
