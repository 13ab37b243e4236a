// Foreign-device registration: this client registered with a BBMD, for devices on another
// subnet, and registered again before each time-to-live ends until the client closes.
import { BacnetError, BacnetProtocolError, BacnetTimeoutError } from './errors.js';
import { normalizeAddress } from './client-types.js';
import type { RequestChannel } from './request-channel.js';

/** The registration of one client's socket with a BBMD, if any. */
export class ForeignDeviceRegistration {
  private foreignDevice: { bbmd: string; ttl: number; timer?: NodeJS.Timeout; onError?: (error: BacnetError) => void } | undefined;

  constructor(private readonly channel: RequestChannel) {}

  /** The BBMD (`ip:port`) registered with, once registered: broadcast Who-Is goes through it. */
  get bbmd(): string | undefined {
    return this.foreignDevice?.bbmd;
  }

  /** Stops the registrations (the client closes). */
  close(): void {
    if (this.foreignDevice?.timer) clearTimeout(this.foreignDevice.timer);
    this.foreignDevice = undefined;
  }

  /**
   * Registers this client as a foreign device with a BBMD (`ip:port`), for devices on another
   * subnet, and registers again before the time-to-live ends (at half of it, or 30 s before for
   * long ones) until the client closes. Broadcast Who-Is then goes through the BBMD.
   */
  async register(bbmd: string, ttlSeconds: number, onError?: (error: BacnetError) => void): Promise<void> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 65535) throw new RangeError(`time-to-live ${ttlSeconds} s is outside 1..65535`);
    await this.channel.open();
    const address = normalizeAddress(bbmd);
    await this.registerOnce(address, ttlSeconds);
    if (this.foreignDevice?.timer) clearTimeout(this.foreignDevice.timer);
    this.foreignDevice = { bbmd: address, ttl: ttlSeconds, onError };
    this.scheduleRegistration();
  }

  private async registerOnce(address: string, ttl: number): Promise<void> {
    const attempts = this.channel.options.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.channel.library.registerForeignDevice({ address }, ttl);
        return;
      } catch (error) {
        const message = (error as Error).message ?? '';
        if (message === 'ERR_TIMEOUT' && attempt < attempts) continue;
        if (message === 'ERR_TIMEOUT')
          throw new BacnetTimeoutError(
            `register as a foreign device with ${address}: no answer after ${attempts} attempts of ${this.channel.options.timeoutMs} ms`,
            { cause: error },
          );
        throw new BacnetProtocolError(`register as a foreign device with ${address}: ${message}`, { cause: error });
      }
    }
  }

  private scheduleRegistration(): void {
    const fd = this.foreignDevice;
    if (!fd || this.channel.closed) return;
    const renewIn = Math.max(fd.ttl / 2, fd.ttl - 30);
    fd.timer = setTimeout(() => {
      this.registerOnce(fd.bbmd, fd.ttl).then(
        () => this.scheduleRegistration(),
        (error: unknown) => {
          fd.onError?.(error as BacnetError);
          this.scheduleRegistration();
        },
      );
    }, renewIn * 1000);
    fd.timer.unref();
  }
}
