import type { DeviceConfig, Driver, Logger, PointConfig, Sample } from '@citypilot/sdk';
import { CityPilotError, parseDuration } from '@citypilot/sdk';
import { jitterOffset, type ClockWatch } from './clock.js';
import type { GatewayMetrics } from './metrics.js';
import { badSample, guardTime, toSample } from './normalise.js';
import type { PollGroupConfig } from './point-settings.js';

/** A write the gateway will not pass to the device: unknown or read-only point, wrong kind of value. */
export class WriteRefusedError extends CityPilotError {
  constructor(message: string, code = 'WRITE_REFUSED') {
    super(code, message);
  }
}

/** A number the gateway will not write: not finite, or outside the point's `min`..`max`. */
export class WriteOutOfRangeError extends WriteRefusedError {
  constructor(message: string) {
    super(message, 'WRITE_OUT_OF_RANGE');
  }
}

/** What the status page shows of one poll group of a device. */
export interface GroupStatus {
  /** The poll group's name; null for the points read at the device's own `interval`. */
  group: string | null;
  intervalMs: number;
  /** Stable offset after each grid slot at which the group is read (from the group's jitter). */
  offsetMs: number;
  points: number;
  cycles: number;
  skipped: number;
}

/** What the status page shows of a device. */
export interface DeviceStatus {
  id: string;
  plugin: string;
  state: 'starting' | 'ok' | 'failing';
  lastError: string | null;
  lastReadAt: string | null;
  /** Cycles run and skipped, all groups together. */
  cycles: number;
  skipped: number;
  groups: GroupStatus[];
}

/** How a device's points are scheduled, shared by every poller of a gateway. */
export interface PollerSchedule {
  pollGroups: Record<string, PollGroupConfig>;
  /** The gateway's clock and its jumps. */
  clock: ClockWatch;
  /** A device time further than this from the gateway's clock is replaced by the slot's. */
  deviceTimeToleranceMs: number;
}

/** The points of one device read together: one poll group, or those at the device's interval. */
interface Group {
  status: GroupStatus;
  points: PointConfig[];
  /** What the driver is asked to read: undefined when the group is the whole device. */
  ids: readonly string[] | undefined;
  timer?: NodeJS.Timeout;
  busy?: Promise<void>;
  /** Slot of the last cycle run: a later cycle must have a later slot. */
  lastSlot: number;
  /** The clock's epoch when the timer was set: a jump since makes the timer's slot meaningless. */
  epoch: number;
}

/**
 * Reads one device, each of its poll groups at its own interval, on a grid aligned to the clock
 * (a 15 s group reads at :00, :15, :30, :45, plus the group's stable jitter offset), so every
 * point of a cycle shares one timestamp: the slot's, unless the device gives its own. Calls to
 * the driver are serialized (one request in flight per link); a group's cycle that finds its
 * previous one still running is skipped and counted, never queued. After a jump of the gateway's
 * clock every group re-aligns on the new grid, and a cycle never has a slot earlier than or equal
 * to the previous one's, so no point gets two samples at one time or goes back in time. A
 * failing device marks its own points bad and logs the same error once until it changes; other
 * devices are not affected.
 */
export class DevicePoller {
  /** Every call to the driver goes through this chain: reads and writes never overlap. */
  private driverCalls: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly state: Omit<DeviceStatus, 'cycles' | 'skipped' | 'groups'>;
  private readonly groups: Group[];
  /** Time of the last sample emitted per point id: a device time may not go back. */
  private readonly lastTimes = new Map<string, number>();
  /** The source time of each point's last reading, by point id, when the driver gave one (Reading.sourceTime). */
  private readonly sourceTimes = new Map<string, number>();

  constructor(
    private readonly device: DeviceConfig,
    plugin: string,
    private readonly driver: Driver,
    private readonly emit: (samples: Sample[]) => void,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly schedule: PollerSchedule,
  ) {
    this.state = { id: device.id, plugin, state: 'starting', lastError: null, lastReadAt: null };
    const byGroup = new Map<string | null, PointConfig[]>();
    for (const p of device.points) {
      const key = p.group ?? null;
      const list = byGroup.get(key);
      if (list) list.push(p);
      else byGroup.set(key, [p]);
    }
    this.groups = [...byGroup].map(([name, points]) => {
      const config = name === null ? { interval: device.interval, jitter: '0ms' } : schedule.pollGroups[name]!;
      return {
        status: {
          group: name,
          intervalMs: parseDuration(config.interval),
          offsetMs: jitterOffset(device.id, name ?? '', parseDuration(config.jitter ?? '0ms')),
          points: points.length,
          cycles: 0,
          skipped: 0,
        },
        points,
        ids: byGroup.size === 1 ? undefined : points.map((p) => p.id),
        lastSlot: 0,
        epoch: 0,
      };
    });
  }

  start(): void {
    for (const g of this.groups) this.plan(g);
  }

  /** Stops scheduling, waits for a cycle in progress, and closes the driver. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const g of this.groups) clearTimeout(g.timer);
    await Promise.all(this.groups.map((g) => g.busy));
    await this.driver.close();
  }

  /**
   * Writes a value in engineering units to one of the device's points, after the read or write
   * in progress, then reads the point back (the device's own answer, which may differ: a device
   * that clamps or rounds, a BACnet priority above the gateway's). The point must be writable; a
   * number must be finite and within the point's `min`..`max`, which a writable number point
   * must have; scale and offset are removed before the driver sees the value. `null`
   * relinquishes the gateway's command, for plugins that can (BACnet).
   * @returns the point as read back after the write: a bad sample, with the reason, when the
   *   read failed (the write itself succeeded)
   * @throws WriteRefusedError (WriteOutOfRangeError for a number out of range) before anything
   *   reaches the device; the driver's own errors otherwise (device errors, read-back)
   */
  async write(pointId: string, value: number | boolean | string | null): Promise<Sample> {
    const point = this.device.points.find((p) => p.id === pointId);
    const id = `${this.device.id}.${pointId}`;
    if (!point) throw new WriteRefusedError(`no point ${id}`);
    if (!point.writable) throw new WriteRefusedError(`${id} is not writable (writable: false in the configuration)`);
    if (value === null) {
      const relinquish = this.driver.relinquish?.bind(this.driver);
      if (!relinquish) throw new WriteRefusedError(`the ${this.state.plugin} plugin cannot relinquish a point (null): write a value instead`);
      await this.exclusive(() => relinquish(pointId));
      return this.readBack(point);
    }
    const write = this.driver.write?.bind(this.driver);
    if (!write) throw new WriteRefusedError(`the ${this.state.plugin} plugin cannot write`);
    if (point.kind !== (typeof value === 'number' ? 'number' : typeof value)) throw new WriteRefusedError(`${id} takes a ${point.kind}, not ${JSON.stringify(value)}`);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new WriteOutOfRangeError(`${id} takes a finite number, not ${value}`);
      // Without a range, nothing says what the device can safely hold (a set-point of 1e308).
      if (point.min === undefined || point.max === undefined) {
        throw new WriteRefusedError(`${id} has no write range: set its min and max (in ${point.unit ?? 'its unit'}) in the configuration to write it`, 'WRITE_NO_RANGE');
      }
      if (value < point.min || value > point.max) throw new WriteOutOfRangeError(`${value} is outside the range of ${id}: ${point.min} to ${point.max}${point.unit ? ` ${point.unit}` : ''}`);
    }
    // Engineering = raw × scale + offset; rounding at 1e-9 undoes binary noise (21.5 / 0.1).
    const raw = typeof value === 'number' ? Math.round(((value - point.offset) / point.scale) * 1e9) / 1e9 : value;
    await this.exclusive(() => write(pointId, raw));
    return this.readBack(point);
  }

  /** The point read once on its own, as a sample at the time of the read. */
  private async readBack(point: PointConfig): Promise<Sample> {
    const id = `${this.device.id}.${point.id}`;
    const now = this.schedule.clock.now();
    try {
      const reading = (await this.exclusive(() => this.driver.read([point.id]))).find((r) => r.point === point.id);
      return reading ? toSample(id, point, reading, now) : badSample(id, now, 'the driver returned no reading');
    } catch (error) {
      return badSample(id, now, `read back failed: ${(error as Error).message || String(error)}`);
    }
  }

  private exclusive<T>(call: () => Promise<T>): Promise<T> {
    const result = this.driverCalls.then(call, call);
    this.driverCalls = result.catch(() => undefined);
    return result;
  }

  /** When the device says the point's last value read was sampled or changed (Reading.sourceTime), if it said. */
  sourceTime(pointId: string): number | undefined {
    return this.sourceTimes.get(pointId);
  }

  status(): DeviceStatus {
    const groups = this.groups.map((g) => ({ ...g.status }));
    return {
      ...this.state,
      cycles: groups.reduce((n, g) => n + g.cycles, 0),
      skipped: groups.reduce((n, g) => n + g.skipped, 0),
      groups,
    };
  }

  /** Sets the group's timer for its next slot on the clock as it is now. */
  private plan(g: Group): void {
    if (this.stopped) return;
    const { clock } = this.schedule;
    clock.check();
    g.epoch = clock.epoch;
    const now = clock.now();
    const { intervalMs, offsetMs } = g.status;
    const slot = (Math.floor((now - offsetMs) / intervalMs) + 1) * intervalMs;
    g.timer = setTimeout(() => this.tick(g, slot), slot + offsetMs - now);
  }

  private tick(g: Group, slot: number): void {
    // The timer was set on a clock that has jumped since: its slot means nothing now.
    this.schedule.clock.check();
    if (this.schedule.clock.epoch !== g.epoch) return this.plan(g);
    this.plan(g);
    if (g.busy) {
      g.status.skipped++;
      this.metrics.cyclesSkipped.inc({ device: this.device.id, group: g.status.group ?? '' });
      return;
    }
    // After the clock stepped back, slots already read come again: skip them until they pass.
    if (slot <= g.lastSlot) return;
    g.lastSlot = slot;
    g.busy = this.cycle(g, slot).finally(() => {
      g.busy = undefined;
    });
  }

  private async cycle(g: Group, slot: number): Promise<void> {
    g.status.cycles++;
    this.metrics.cycles.inc({ device: this.device.id, group: g.status.group ?? '' });
    const id = (pointId: string) => `${this.device.id}.${pointId}`;
    let samples: Sample[];
    try {
      const readings = new Map((await this.exclusive(() => this.driver.read(g.ids))).map((r) => [r.point, r]));
      const guard = { slot, now: this.schedule.clock.now(), intervalMs: g.status.intervalMs, toleranceMs: this.schedule.deviceTimeToleranceMs };
      samples = g.points.map((p) => {
        const reading = readings.get(p.id);
        if (reading?.sourceTime !== undefined) this.sourceTimes.set(id(p.id), reading.sourceTime);
        else this.sourceTimes.delete(id(p.id));
        return reading ? guardTime(toSample(id(p.id), p, reading, slot), reading.time, guard) : badSample(id(p.id), slot, 'the driver returned no reading');
      });
      this.state.lastReadAt = new Date(guard.now).toISOString();
      if (this.state.state !== 'ok') {
        if (this.state.lastError) this.logger.info({ device: this.device.id }, 'device answering again');
        this.state.state = 'ok';
        this.state.lastError = null;
      }
    } catch (error) {
      const reason = (error as Error).message || String(error);
      samples = g.points.map((p) => badSample(id(p.id), slot, reason));
      for (const p of g.points) this.sourceTimes.delete(id(p.id));
      this.metrics.deviceErrors.inc({ device: this.device.id });
      if (reason !== this.state.lastError) {
        this.logger.warn({ device: this.device.id, code: (error as { code?: string }).code, err: reason }, 'device read failed');
      }
      this.state.state = 'failing';
      this.state.lastError = reason;
    }
    this.emit(this.inOrder(samples));
  }

  /**
   * Drops (and counts) samples not later than the point's previous one: only a device time can
   * do that (a device repeating its last timestamp, or its clock stepping back), as slots only
   * grow. The hub keeps one sample per point and time, and aggregation needs them in order.
   */
  private inOrder(samples: Sample[]): Sample[] {
    return samples.filter((s) => {
      const last = this.lastTimes.get(s.point);
      if (last !== undefined && s.time <= last) {
        this.metrics.samplesOutOfOrder.inc();
        return false;
      }
      this.lastTimes.set(s.point, s.time);
      return true;
    });
  }
}
