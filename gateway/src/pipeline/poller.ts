import type { DeviceConfig, Driver, Logger, PointConfig, Sample } from '@citypilot/sdk';
import { CityPilotError, ConfigError, parseDuration, scaled, withoutBinaryNoise } from '@citypilot/sdk';
import { jitterOffset, type ClockWatch } from './clock.js';
import type { GatewayMetrics } from '../status/metrics.js';
import { badSample, guardTime, toSample } from './normalise.js';
import type { PollGroupConfig } from '../config/point-settings.js';

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
  /** What the driver says of the device besides errors (a restart detected, …), newest last. */
  notes: string[];
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
  /** Slot the timer is set for. */
  nextSlot: number;
  /** The clock's epoch when the timer was set: a jump since makes the timer's slot meaningless. */
  epoch: number;
}

/**
 * Reads one device, each of its poll groups at its own interval, on a grid aligned to the clock
 * (a 15 s group reads at :00, :15, :30, :45, plus the group's stable jitter offset), so every
 * point of a cycle shares one timestamp: the slot's, unless the device gives its own. Calls to
 * the driver are serialized (one request in flight per link); a group's cycle that finds its
 * previous one still running is skipped and counted, never queued. `skipped` counts exactly the
 * slots that passed without a reading: those whose previous cycle was still running, and those
 * that passed while the process could not run its timers at all (an event loop blocked longer
 * than an interval); a timer firing a little before its time waits for it and is not counted
 * (it never reads early, nor comes back for the slot it has read). After a jump of the gateway's
 * clock every group re-aligns on the new grid, and a cycle never has a slot earlier than or equal
 * to the previous one's, so no point gets two samples at one time or goes back in time. A
 * failing device marks its own points bad and logs the same error once until it changes; other
 * devices are not affected.
 */
export class DevicePoller {
  /** Every call to the driver goes through this chain: reads and writes never overlap. */
  private driverCalls: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly state: Omit<DeviceStatus, 'cycles' | 'skipped' | 'groups' | 'notes'>;
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
        nextSlot: 0,
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
   * must have; scale and offset are removed before the driver sees the value (see
   * {@link rawValue}). A boolean point takes 0 and 1 as false and true. `null`
   * relinquishes the gateway's command, for plugins that can (BACnet).
   * @returns the point as read back after the write: a bad sample, with the reason, when the
   *   read failed (the write itself succeeded)
   * @throws WriteRefusedError (WriteOutOfRangeError for a number out of range) before anything
   *   reaches the device, also when the plugin finds that the device cannot hold the value (a
   *   fraction for an integer register: code WRITE_DOES_NOT_FIT); the driver's own errors
   *   otherwise (device errors, read-back)
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
    // A boolean point takes 0 and 1 as false and true, as a technician types them; no other number.
    if (point.kind === 'boolean' && (value === 0 || value === 1)) value = value === 1;
    if (point.kind !== (typeof value === 'number' ? 'number' : typeof value)) {
      throw new WriteRefusedError(`${id} takes a ${point.kind}${point.kind === 'boolean' ? ' (true, false, 0 or 1)' : ''}, not ${JSON.stringify(value)}`);
    }
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new WriteOutOfRangeError(`${id} takes a finite number, not ${value}`);
      // Without a range, nothing says what the device can safely hold (a set-point of 1e308).
      if (point.min === undefined || point.max === undefined) {
        throw new WriteRefusedError(
          `${id} has no write range: set its min and max (in ${point.unit ?? 'its unit'}) in the configuration to write it`,
          'WRITE_NO_RANGE',
        );
      }
      if (value < point.min || value > point.max)
        throw new WriteOutOfRangeError(`${value} is outside the range of ${id}: ${point.min} to ${point.max}${point.unit ? ` ${point.unit}` : ''}`);
    }
    const raw = typeof value === 'number' ? rawValue(value, point) : value;
    try {
      await this.exclusive(() => write(pointId, raw));
    } catch (error) {
      // The plugin's check of its encoding (a value its register or data type cannot hold): said
      // of the point, with the raw value the scale made of the asked one.
      if (!(error instanceof ConfigError)) throw error;
      const unit = point.unit ? ` ${point.unit}` : '';
      const made =
        raw !== value ? `${JSON.stringify(value)}${unit} is ${JSON.stringify(raw)} for the device (scale ${point.scale}, offset ${point.offset}): ` : '';
      throw new WriteRefusedError(
        `${id} cannot take ${JSON.stringify(value)}${unit}: ${made}${error.issues.map((i) => i.message).join('; ')}`,
        'WRITE_DOES_NOT_FIT',
      );
    }
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
      notes: this.driver.notes?.() ?? [],
      cycles: groups.reduce((n, g) => n + g.cycles, 0),
      skipped: groups.reduce((n, g) => n + g.skipped, 0),
      groups,
    };
  }

  /**
   * Sets the group's timer for its next slot on the clock as it is now, a slot later than
   * `after` (the slot just run) whatever the clock says.
   */
  private plan(g: Group, after = -Infinity): void {
    if (this.stopped) return;
    const { clock } = this.schedule;
    clock.check();
    g.epoch = clock.epoch;
    const now = clock.now();
    const { intervalMs, offsetMs } = g.status;
    let slot = (Math.floor((now - offsetMs) / intervalMs) + 1) * intervalMs;
    if (slot <= after) slot = after + intervalMs;
    g.nextSlot = slot;
    g.timer = setTimeout(() => this.tick(g, slot), Math.max(slot + offsetMs - now, 0));
  }

  private tick(g: Group, slot: number): void {
    const { clock } = this.schedule;
    // The timer was set on a clock that has jumped since: its slot means nothing now.
    clock.check();
    if (clock.epoch !== g.epoch) return this.plan(g);
    // A timer may fire a little before its time by the wall clock (Node starts it from the event
    // loop's cached time, and the wall clock is not the timers' clock): wait for the rest, so
    // that the slot is read at its time, once, and not counted as skipped by its own repeat.
    const early = slot + g.status.offsetMs - clock.now();
    if (early > 0) {
      g.timer = setTimeout(() => this.tick(g, slot), early);
      return;
    }
    this.plan(g, slot);
    // Slots between this one and the next that had no timer of their own passed unread.
    const passed = (g.nextSlot - slot) / g.status.intervalMs - 1 + (g.busy ? 1 : 0);
    if (passed > 0) {
      g.status.skipped += passed;
      this.metrics.cyclesSkipped.inc({ device: this.device.id, group: g.status.group ?? '' }, passed);
    }
    if (g.busy) return;
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

/**
 * The raw value to write for `value` in engineering units: scale and offset removed, at the
 * resolution the reading applies them (see `scaled`). The integer whose reading is exactly
 * `value` when there is one (46.3 at scale 0.1 is 463, not 462.99999999999994); else the
 * quotient less the noise of the arithmetic, which the plugin's check of its register type then
 * refuses or takes (46.35 at scale 0.1 is 463.5: "does not fit uint16").
 */
export function rawValue(value: number, point: Pick<PointConfig, 'scale' | 'offset'>): number {
  if (point.scale === 1 && point.offset === 0) return value;
  const raw = (value - point.offset) / point.scale;
  const integer = Math.round(raw);
  return scaled(integer, point.scale, point.offset) === value ? integer : withoutBinaryNoise(raw);
}
