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
      logger.warn({ socket: key, timeoutMs, socketTimeoutMs: entry.timeoutMs }, `BACnet socket ${key} is open with a timeout of ${entry.timeoutMs} ms: a device joining it waits no longer (restart the gateway to apply its ${timeoutMs} ms)`);
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
      return new SocketConflictError('broadcastAddress', `${key} is already used with broadcastAddress ${had.broadcastAddress} by ${by}: devices on one interface and port share its socket and its settings`);
    }
    const bbmd = (s: SocketSettings) => (s.bbmd ? `${s.bbmd.address} with ttl ${s.bbmd.ttlSeconds}s` : 'none');
    if (bbmd(had) !== bbmd(settings)) {
      return new SocketConflictError('bbmd', `${key} is already used with bbmd ${bbmd(had)} by ${by}: devices on one interface and port share its socket and its foreign-device registration`);
    }
    return undefined;
  }

  /** How many devices share each socket (`interface:port`), for tests and status pages. */
  users(): Map<string, number> {
    return new Map([...this.entries].map(([key, e]) => [key, e.timeouts.size]));
  }

  private open(entry: Entry, logger: Logger): Promise<BacnetClient> {
    entry.opened ??= (async () => {
      const { settings } = entry;
      // The library waits as long for every answer on a socket: as long as its slowest device
      // allows; each device's own timeout still applies to its requests (BacnetDevice.timeoutMs).
      entry.timeoutMs = Math.max(...entry.timeouts.values());
      // Devices give their own retries; these are the BBMD registration's.
      const client = new BacnetClient({ interface: settings.interface, port: settings.port, broadcastAddress: settings.broadcastAddress, timeoutMs: entry.timeoutMs, retries: 1 });
      entry.client = client;
      try {
        await client.open();
        if (settings.bbmd) {
          const where = `${settings.interface}:${settings.port}`;
          await client.registerForeignDevice(settings.bbmd.address, settings.bbmd.ttlSeconds, (error) =>
            logger.warn({ socket: where, bbmd: settings.bbmd!.address, err: error.message }, 'BACnet foreign-device registration renewal failed; tried again'),
          );
        }
      } catch (error) {
        client.close();
        entry.client = undefined;
        entry.timeoutMs = undefined;
        // The next read tries again (the port may be free by then, the BBMD back).
        entry.opened = undefined;
        throw error;
      }
      return client;
    })();
    return entry.opened;
  }
}

/** One device's use of a shared socket. */
export interface SharedSocket {
  /** `interface:port`, for messages. */
  readonly where: string;
  /** The open client (opened, and registered with the BBMD, at the first call). */
  client(): Promise<BacnetClient>;
  /** This device no longer uses the socket; the last one to leave closes it. Idempotent. */
  leave(): void;
}
