import { BacnetClient } from '@citypilot/protocol-bacnet';
import type { Logger } from '@citypilot/sdk';

/** What a device block says of the gateway's own BACnet/IP socket (its `connection.network`). */
export interface SocketSettings {
  interface: string;
  port: number;
  broadcastAddress: string;
  /** Foreign-device registration: the BBMD's `ip[:port]` and the time-to-live in seconds. */
  bbmd?: { address: string; ttlSeconds: number };
}

/** Two devices on one local interface and port give different settings for the socket they share. */
export class SocketConflictError extends RangeError {
  /** The setting that differs, as named in `connection.network`: `broadcastAddress` or `bbmd`. */
  readonly setting: 'broadcastAddress' | 'bbmd';

  constructor(setting: 'broadcastAddress' | 'bbmd', message: string) {
    super(message);
    this.setting = setting;
    this.name = 'SocketConflictError';
  }
}

interface Entry {
  settings: SocketSettings;
  /** Timeouts of the devices using it, by user: the client waits as long as the slowest asks. */
  timeouts: Map<number, number>;
  /** Ids of the devices using it, by user, for messages. */
  devices: Map<number, string>;
  client?: BacnetClient;
  opened?: Promise<BacnetClient>;
  /** The client's timeout, once open: the longest a device joining later can wait. */
  timeoutMs?: number;
  /** Foreign-device registration (with `settings.bbmd`): done, under way, last attempt (ms), last failure logged. */
  registered?: boolean;
  registering?: boolean;
  lastRegistration?: number;
  registrationError?: string;
}

/**
 * The BACnet/IP sockets of one owner (a plugin instance, a test): every device reached through
 * the same local interface and port shares one {@link BacnetClient}, because BACnet/IP devices
 * answer to the port they were asked from and one UDP port can be bound once. Joining does no
 * I/O; the socket opens at the first use and closes when its last device leaves.
 */
export class BacnetSockets {
  private readonly entries = new Map<string, Entry>();
  private nextUser = 1;

  /**
   * A handle on the socket of `settings.interface:settings.port`, for one device.
   * @throws SocketConflictError when a device already on that socket gave other settings
   */
  join(settings: SocketSettings, device: string, timeoutMs: number, logger: Logger): SharedSocket {
    const conflict = this.conflict(settings);
    if (conflict) throw conflict;
    const key = `${settings.interface}:${settings.port}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { settings, timeouts: new Map(), devices: new Map() };
      this.entries.set(key, entry);
    }
    const user = this.nextUser++;
    entry.timeouts.set(user, timeoutMs);
    entry.devices.set(user, device);
    if (entry.timeoutMs !== undefined && timeoutMs > entry.timeoutMs) {
      logger.warn(
        { socket: key, timeoutMs, socketTimeoutMs: entry.timeoutMs },
        `BACnet socket ${key} is open with a timeout of ${entry.timeoutMs} ms: a device joining it waits no longer (restart the gateway to apply its ${timeoutMs} ms)`,
      );
    }
    const held = entry;
    let left = false;
    return {
      where: key,
      client: () => this.open(held, logger),
      leave: () => {
        if (left) return;
        left = true;
        held.timeouts.delete(user);
        held.devices.delete(user);
        if (held.timeouts.size > 0) return;
        if (this.entries.get(key) === held) this.entries.delete(key);
        held.client?.close();
      },
    };
  }

  /** Why a device with `settings` cannot join the socket of its interface and port, or undefined when it can. */
  conflict(settings: SocketSettings): SocketConflictError | undefined {
    const key = `${settings.interface}:${settings.port}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const had = entry.settings;
    const by = `device ${[...entry.devices.values()].map((d) => JSON.stringify(d)).join(', ')}`;
    if (had.broadcastAddress !== settings.broadcastAddress) {
      return new SocketConflictError(
        'broadcastAddress',
        `${key} is already used with broadcastAddress ${had.broadcastAddress} by ${by}: devices on one interface and port share its socket and its settings`,
      );
    }
    const bbmd = (s: SocketSettings) => (s.bbmd ? `${s.bbmd.address} with ttl ${s.bbmd.ttlSeconds}s` : 'none');
    if (bbmd(had) !== bbmd(settings)) {
      return new SocketConflictError(
        'bbmd',
        `${key} is already used with bbmd ${bbmd(had)} by ${by}: devices on one interface and port share its socket and its foreign-device registration`,
      );
    }
    return undefined;
  }

  /** How many devices share each socket (`interface:port`), for tests and status pages. */
  users(): Map<string, number> {
    return new Map([...this.entries].map(([key, e]) => [key, e.timeouts.size]));
  }

  private async open(entry: Entry, logger: Logger): Promise<BacnetClient> {
    entry.opened ??= (async () => {
      const { settings } = entry;
      // The library waits as long for every answer on a socket: as long as its slowest device
      // allows; each device's own timeout still applies to its requests (BacnetDevice.timeoutMs).
      entry.timeoutMs = Math.max(...entry.timeouts.values());
      // Devices give their own retries; these are the BBMD registration's.
      const client = new BacnetClient({
        interface: settings.interface,
        port: settings.port,
        broadcastAddress: settings.broadcastAddress,
        timeoutMs: entry.timeoutMs,
        retries: 1,
      });
      entry.client = client;
      try {
        await client.open();
      } catch (error) {
        client.close();
        entry.client = undefined;
        entry.timeoutMs = undefined;
        // The next read tries again (the port may be free by then).
        entry.opened = undefined;
        throw error;
      }
      // The first read waits for the registration, so that its Who-Is goes through the BBMD.
      if (settings.bbmd) await this.register(entry, client, logger);
      return client;
    })();
    const client = await entry.opened;
    // A registration that failed is tried again, in the background, at most every 30 s.
    if (entry.settings.bbmd && !entry.registered && !entry.registering && Date.now() - (entry.lastRegistration ?? 0) >= 30_000)
      void this.register(entry, client, logger);
    return client;
  }

  /**
   * Registers the socket as a foreign device with its BBMD (the client renews it until it
   * closes). A failure is logged, not thrown: devices with an address are read without the
   * BBMD, and a BBMD down must not fail them all; a device found by Who-Is fails by itself.
   */
  private async register(entry: Entry, client: BacnetClient, logger: Logger): Promise<void> {
    const bbmd = entry.settings.bbmd!;
    const where = `${entry.settings.interface}:${entry.settings.port}`;
    entry.registering = true;
    entry.lastRegistration = Date.now();
    try {
      await client.registerForeignDevice(bbmd.address, bbmd.ttlSeconds, (error) =>
        logger.warn(
          { socket: where, bbmd: bbmd.address, err: error.message },
          `BACnet socket ${where}: renewal of the foreign-device registration with ${bbmd.address} failed; tried again`,
        ),
      );
      entry.registered = true;
      if (entry.registrationError)
        logger.info({ socket: where, bbmd: bbmd.address }, `BACnet socket ${where}: registered as a foreign device with ${bbmd.address}`);
      entry.registrationError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (entry.registrationError !== message) {
        logger.warn(
          { socket: where, bbmd: bbmd.address, err: message },
          `BACnet socket ${where}: cannot register as a foreign device with ${bbmd.address}: broadcasts (Who-Is) do not cross to the devices' subnet; tried again every 30 s`,
        );
      }
      entry.registrationError = message;
    } finally {
      entry.registering = false;
    }
  }
}

/** One device's use of a shared socket. */
export interface SharedSocket {
  /** `interface:port`, for messages. */
  readonly where: string;
  /** The open client (opened, and registered with the BBMD when there is one, at the first call). */
  client(): Promise<BacnetClient>;
  /** This device no longer uses the socket; the last one to leave closes it. Idempotent. */
  leave(): void;
}
