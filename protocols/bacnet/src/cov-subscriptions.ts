// COV subscriptions of one client: SubscribeCOV with our process identifiers, renewals before
// each lifetime ends, cancellation, and the notifications (confirmed ones acknowledged) handed
// to each subscription's callback.
import { ConfirmedServiceChoice, PropertyIdentifier, type BACNetAppData, type BACNetBitString } from '@bacnet-js/client';
import { BacnetError, BacnetProtocolError } from './errors.js';
import {
  normalizeAddress,
  statusFlags,
  typed,
  type BacnetDevice,
  type CovNotification,
  type CovSubscribeOptions,
  type CovSubscription,
} from './client-types.js';
import { formatObjectId, type BacnetObjectId } from './names.js';
import type { RequestChannel } from './request-channel.js';

const P = PropertyIdentifier;

interface LiveSubscription {
  processId: number;
  device: BacnetDevice;
  object: BacnetObjectId;
  options: CovSubscribeOptions;
  timer?: NodeJS.Timeout;
  renewals: number;
  cancelled: boolean;
}

/** The live subscriptions of one client, by subscriber process identifier. */
export class CovSubscriptions {
  private readonly subscriptions = new Map<number, LiveSubscription>();
  private nextProcessId = 1;

  constructor(private readonly channel: RequestChannel) {
    channel.library.on('covNotify', (content) => this.onCovNotification(content, true));
    channel.library.on('covNotifyUnconfirmed', (content) => this.onCovNotification(content, false));
  }

  /** Stops every renewal (the client closes); the devices end the subscriptions with their lifetime. */
  close(): void {
    for (const s of this.subscriptions.values()) {
      s.cancelled = true;
      if (s.timer) clearTimeout(s.timer);
    }
    this.subscriptions.clear();
  }

  /**
   * Subscribes to the changes of an object's present value and status flags. The device sends the
   * current value at once, then each change beyond its COV increment; the subscription is renewed
   * before its lifetime ends (at half of it, or a minute before for long ones). Rejects with the
   * device's refusal (a Reject `unrecognized-service` when it has no COV at all).
   */
  async subscribe(device: BacnetDevice, object: BacnetObjectId, options: CovSubscribeOptions): Promise<CovSubscription> {
    if (!Number.isInteger(options.lifetimeSeconds) || options.lifetimeSeconds < 0)
      throw new RangeError(`lifetime ${options.lifetimeSeconds} s is not a whole number of seconds`);
    let processId = options.processId;
    if (processId !== undefined) {
      if (!Number.isInteger(processId) || processId < 0 || processId > 0xffffffff)
        throw new RangeError(`process identifier ${processId} is not an unsigned 32-bit integer`);
      if (this.subscriptions.has(processId)) throw new RangeError(`process identifier ${processId} is already used by a subscription of this client`);
    } else {
      while (this.subscriptions.has(this.nextProcessId)) this.nextProcessId++;
      processId = this.nextProcessId++;
    }
    const live: LiveSubscription = { processId, device, object: { ...object }, options, renewals: 0, cancelled: false };
    // Registered before asking: the first notification may arrive before the acknowledgement is handled.
    this.subscriptions.set(processId, live);
    try {
      await this.sendSubscribe(live, false);
    } catch (error) {
      this.subscriptions.delete(processId);
      throw error;
    }
    this.scheduleRenewal(live, options.lifetimeSeconds);
    const cancel = async () => {
      live.cancelled = true;
      if (live.timer) clearTimeout(live.timer);
      this.subscriptions.delete(processId);
      if (!this.channel.closed) await this.sendSubscribe(live, true);
    };
    return {
      processId,
      object: { ...object },
      get renewals() {
        return live.renewals;
      },
      cancel,
    };
  }

  private async sendSubscribe(live: LiveSubscription, cancel: boolean): Promise<void> {
    const what = `${cancel ? 'cancel the COV subscription to' : 'subscribe to COV of'} ${formatObjectId(live.object)} of ${live.device.address}`;
    await this.channel.request(live.device, what, (invokeId) =>
      this.channel.library.subscribeCov(
        { address: normalizeAddress(live.device.address) },
        { type: live.object.type, instance: live.object.instance },
        live.processId,
        cancel,
        live.options.confirmed ?? false,
        live.options.lifetimeSeconds,
        { invokeId },
      ),
    );
  }

  private scheduleRenewal(live: LiveSubscription, afterSeconds: number): void {
    const lifetime = live.options.lifetimeSeconds;
    if (lifetime === 0 || live.cancelled || this.channel.closed) return;
    const renewIn = afterSeconds === lifetime ? Math.max(lifetime / 2, lifetime - 60) : afterSeconds;
    live.timer = setTimeout(() => {
      this.sendSubscribe(live, false).then(
        () => {
          live.renewals++;
          this.scheduleRenewal(live, lifetime);
        },
        (error: unknown) => {
          if (live.cancelled || this.channel.closed) return;
          live.options.onError?.(error instanceof BacnetError ? error : new BacnetProtocolError(String(error), { cause: error }));
          // Try again soon: a quarter of the lifetime, at least a second.
          this.scheduleRenewal(live, Math.max(1, lifetime / 4));
        },
      );
    }, renewIn * 1000);
    live.timer.unref();
  }

  private onCovNotification(
    content: {
      header?: { sender?: { address?: string } };
      invokeId?: number;
      payload: {
        subscriberProcessId: number;
        initiatingDeviceId: number;
        monitoredObjectId: { type: number; instance: number };
        timeRemaining: number;
        values: { property: { id: number }; value: BACNetAppData[] }[];
      };
    },
    confirmed: boolean,
  ): void {
    const sender = content.header?.sender;
    const p = content.payload;
    if (confirmed && sender && content.invokeId !== undefined) {
      // Acknowledged whether or not we know the subscription, so that the device stops sending it again.
      this.channel.library.simpleAckResponse(sender, ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION, content.invokeId);
    }
    const live = this.subscriptions.get(p.subscriberProcessId);
    if (!live || live.object.type !== p.monitoredObjectId.type || live.object.instance !== p.monitoredObjectId.instance) return;
    const values = (p.values ?? []).map((v) => ({ property: v.property.id, values: (v.value ?? []).map(typed) }));
    const pv = values.find((v) => v.property === P.PRESENT_VALUE)?.values[0];
    const flags = values.find((v) => v.property === P.STATUS_FLAGS)?.values[0]?.value as BACNetBitString | undefined;
    const notification: CovNotification = {
      address: sender?.address ?? '',
      // Typed as a number by the library, decoded as an object identifier.
      deviceInstance: typeof p.initiatingDeviceId === 'number' ? p.initiatingDeviceId : (p.initiatingDeviceId as BacnetObjectId).instance,
      object: { type: p.monitoredObjectId.type, instance: p.monitoredObjectId.instance },
      timeRemaining: p.timeRemaining,
      presentValue: pv,
      statusFlags: flags && Array.isArray(flags.value) ? statusFlags(flags) : undefined,
      values,
      confirmed,
    };
    try {
      live.options.onNotification(notification);
    } catch {
      // The caller's callback must not break the socket's message loop.
    }
  }
}
