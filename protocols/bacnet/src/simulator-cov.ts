// The COV subscriptions the simulated BACnet device holds: created, renewed and cancelled by
// SubscribeCOV (handled in simulator.ts), dropped when their lifetime ends, and the notifications
// (unconfirmed, or confirmed and sent again for want of an acknowledgement) that a change beyond
// an object's COV increment, or of its status flags, sends.
import { ApplicationTag, PduType, PropertyIdentifier, type BACNetObjectID } from '@bacnet-js/client';
import { encodeUnconfirmedServiceRequest } from '@bacnet-js/client/dist/lib/apdu.js';
import { encode as encodeNpdu } from '@bacnet-js/client/dist/lib/npdu.js';
import { CovNotify } from '@bacnet-js/client/dist/lib/services/index.js';
import type { LibraryClient } from './library.js';
import type { Answers } from './simulator-answers.js';
import { isAnalog, key, type ObjectStore, type SimObject } from './simulator-objects.js';

const P = PropertyIdentifier;

/** One active COV subscription, as the device holds it. */
export interface SimulatedCovSubscription {
  subscriber: string;
  processId: number;
  object: BACNetObjectID;
  confirmed: boolean;
  /** Seconds asked; 0 is indefinite. */
  lifetime: number;
  /** ms since the epoch, by the simulator's clock; undefined when indefinite. */
  expiresAt?: number;
}

interface Subscription extends SimulatedCovSubscription {
  lastValue: number;
  lastFlags: string;
}

/** The simulator's counters this module keeps (see BacnetSimulatorStats). */
export interface CovCounters {
  covNotifications: number;
  covResends: number;
  covExpired: number;
}

/** What notifications need of the device besides its objects and answers. */
export interface CovLink {
  deviceInstance: number;
  /** Times a confirmed notification is sent again without acknowledgement. */
  covRetries: number;
  now(): number;
  /** The library client of the device's socket while started. */
  client(): LibraryClient | undefined;
  /** True while the device answers nothing. */
  silent(): boolean;
}

/** The COV subscriptions of one simulated device, by subscriber, process identifier and object. */
export class CovSubscriptions {
  private readonly subscriptions = new Map<string, Subscription>();

  constructor(
    private readonly store: ObjectStore,
    private readonly answers: Answers,
    private readonly stats: CovCounters,
    private readonly link: CovLink,
  ) {}

  /** The active subscriptions. */
  list(): SimulatedCovSubscription[] {
    return [...this.subscriptions.values()].map(({ subscriber, processId, object, confirmed, lifetime, expiresAt }) => ({
      subscriber,
      processId,
      object,
      confirmed,
      lifetime,
      expiresAt,
    }));
  }

  /** Forgets every subscription (the device stops). */
  clear(): void {
    this.subscriptions.clear();
  }

  /**
   * A SubscribeCOV for an object the device has: a new or renewed subscription, which gets the
   * current value at once (clause 13.14.1.3.1), or a cancellation. `acknowledge` sends the
   * Simple-ACK, before that first notification.
   */
  subscribe(
    subscriber: string,
    payload: {
      subscriberProcessId: number;
      monitoredObjectId: BACNetObjectID;
      cancellationRequest?: boolean;
      issueConfirmedNotifications: boolean;
      lifetime: number;
    },
    object: SimObject,
    acknowledge: () => void,
  ): void {
    const id = `${subscriber}/${payload.subscriberProcessId}/${key(payload.monitoredObjectId.type, payload.monitoredObjectId.instance)}`;
    if (payload.cancellationRequest) {
      // Cancelling a subscription that does not exist is not an error (clause 13.14.1.3.2).
      this.subscriptions.delete(id);
      return acknowledge();
    }
    const subscription: Subscription = {
      subscriber,
      processId: payload.subscriberProcessId,
      object: { ...payload.monitoredObjectId },
      confirmed: payload.issueConfirmedNotifications,
      lifetime: payload.lifetime,
      expiresAt: payload.lifetime > 0 ? this.link.now() + payload.lifetime * 1000 : undefined,
      lastValue: object.presentValue,
      lastFlags: this.store.flagsKey(object),
    };
    this.subscriptions.set(id, subscription);
    acknowledge();
    // A new (or renewed) subscription gets the current value at once (clause 13.14.1.3.1).
    this.notify(subscription, object);
  }

  /** Drops the subscriptions whose lifetime ended by `now`. */
  expire(now: number): void {
    for (const [id, subscription] of this.subscriptions) {
      if (subscription.expiresAt !== undefined && subscription.expiresAt <= now) {
        this.subscriptions.delete(id);
        this.stats.covExpired++;
      }
    }
  }

  /** Notifies the object's subscribers when it moved beyond its COV increment or its status flags changed. */
  check(object: SimObject): void {
    for (const subscription of this.subscriptions.values()) {
      if (subscription.object.type !== object.spec.type || subscription.object.instance !== object.spec.instance) continue;
      const flags = this.store.flagsKey(object);
      const moved = isAnalog(object.spec.type)
        ? Math.abs(object.presentValue - subscription.lastValue) >= object.covIncrement
        : object.presentValue !== subscription.lastValue;
      if (moved || flags !== subscription.lastFlags) this.notify(subscription, object);
    }
  }

  private notify(subscription: Subscription, object: SimObject): void {
    const client = this.link.client();
    if (!client) return;
    subscription.lastValue = object.presentValue;
    subscription.lastFlags = this.store.flagsKey(object);
    this.stats.covNotifications++;
    const timeRemaining = subscription.expiresAt === undefined ? 0 : Math.max(0, Math.round((subscription.expiresAt - this.link.now()) / 1000));
    const values = [
      // Property references without an index: the library encodes ASN1_ARRAY_ALL as an index.
      { property: { id: P.PRESENT_VALUE }, value: [this.store.presentValueData(object.spec.type, object.presentValue)] },
      { property: { id: P.STATUS_FLAGS }, value: [{ type: ApplicationTag.BIT_STRING, value: this.store.statusFlags(object) }] },
    ];
    const receiver = { address: subscription.subscriber };
    const monitored = { type: object.spec.type, instance: object.spec.instance };
    if (!subscription.confirmed) {
      const buffer = this.answers.buffer();
      encodeNpdu(buffer, 0, undefined);
      encodeUnconfirmedServiceRequest(buffer, PduType.UNCONFIRMED_REQUEST, 2 /* unconfirmedCOVNotification */);
      CovNotify.encode(buffer, subscription.processId, this.link.deviceInstance, monitored, timeRemaining, values);
      this.answers.sendBvlc(buffer, subscription.subscriber);
      return;
    }
    const attempt = (left: number) => {
      const current = this.link.client();
      if (!current || this.link.silent()) return;
      current.confirmedCOVNotification(receiver, monitored, subscription.processId, this.link.deviceInstance, timeRemaining, values).catch((error: unknown) => {
        // Sent again only for want of an answer: an Error or Reject is an answer (clause 5.4.4).
        if ((error as Error)?.message === 'ERR_TIMEOUT' && left > 0 && this.link.client()) {
          this.stats.covResends++;
          attempt(left - 1);
        }
      });
    };
    attempt(this.link.covRetries);
  }
}
