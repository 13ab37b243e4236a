import type { DeviceConfig, Driver, Logger, Sample } from '@citypilot/sdk';
import { CityPilotError, parseDuration } from '@citypilot/sdk';
import type { GatewayMetrics } from './metrics.js';
import { badSample, toSample } from './normalise.js';

/** A write the gateway will not pass to the device: unknown or read-only point, wrong kind of value. */
export class WriteRefusedError extends CityPilotError {
  constructor(message: string) {
    super('WRITE_REFUSED', message);
  }
}

/** What the status page shows of a device. */
export interface DeviceStatus {
  id: string;
  plugin: string;
  state: 'starting' | 'ok' | 'failing';
  lastError: string | null;
  lastReadAt: string | null;
  cycles: number;
  skipped: number;
}

/**
 * Reads one device at its interval, on a grid aligned to the clock (a 15 s device reads at :00,
 * :15, :30, :45), so every point of a cycle shares one timestamp. A cycle that finds the previous
 * one still running is skipped and counted, never queued. A failing device marks its own points
 * bad and logs the same error once until it changes; other devices are not affected.
 */
export class DevicePoller {
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  /** Every call to the driver goes through this chain: reads and writes never overlap. */
  private driverCalls: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lastTime = 0;
  private readonly intervalMs: number;
  private readonly state: DeviceStatus;

  constructor(
    private readonly device: DeviceConfig,
    plugin: string,
    private readonly driver: Driver,
    private readonly emit: (samples: Sample[]) => void,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    this.intervalMs = parseDuration(device.interval);
    this.state = { id: device.id, plugin, state: 'starting', lastError: null, lastReadAt: null, cycles: 0, skipped: 0 };
  }

  start(): void {
    this.schedule();
  }

  /** Stops scheduling, waits for a cycle in progress, and closes the driver. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.busy;
    await this.driver.close();
  }

  /**
   * Writes a value in engineering units to one of the device's points, after the read or write
   * in progress. The point must be writable; scale and offset are removed before the driver
   * sees the value.
   * @throws WriteRefusedError when the point or its plugin cannot be written, or the value does
   *   not suit the point's kind; the driver's own errors otherwise (device errors, read-back)
   */
  async write(pointId: string, value: number | boolean | string): Promise<void> {
    const point = this.device.points.find((p) => p.id === pointId);
    const id = `${this.device.id}.${pointId}`;
    if (!point) throw new WriteRefusedError(`no point ${id}`);
    if (!point.writable) throw new WriteRefusedError(`${id} is not writable (writable: false in the configuration)`);
    const write = this.driver.write?.bind(this.driver);
    if (!write) throw new WriteRefusedError(`the ${this.state.plugin} plugin cannot write`);
    if (point.kind !== (typeof value === 'number' ? 'number' : typeof value)) throw new WriteRefusedError(`${id} takes a ${point.kind}, not ${JSON.stringify(value)}`);
    // Engineering = raw × scale + offset; rounding at 1e-9 undoes binary noise (21.5 / 0.1).
    const raw = typeof value === 'number' ? Math.round(((value - point.offset) / point.scale) * 1e9) / 1e9 : value;
    await this.exclusive(() => write(pointId, raw));
  }

  private exclusive<T>(call: () => Promise<T>): Promise<T> {
    const result = this.driverCalls.then(call, call);
    this.driverCalls = result.catch(() => undefined);
    return result;
  }

  status(): DeviceStatus {
    return { ...this.state };
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = Date.now();
    const next = (Math.floor(now / this.intervalMs) + 1) * this.intervalMs;
    this.timer = setTimeout(() => this.tick(next), next - now);
  }

  private tick(time: number): void {
    this.schedule();
    if (this.busy) {
      this.state.skipped++;
      this.metrics.cyclesSkipped.inc({ device: this.device.id });
      return;
    }
    // Two cycles must never share a timestamp (the clock stepped back): skip until it passes.
    if (time <= this.lastTime) return;
    this.lastTime = time;
    this.busy = this.cycle(time).finally(() => {
      this.busy = undefined;
    });
  }

  private async cycle(time: number): Promise<void> {
    this.state.cycles++;
    this.metrics.cycles.inc({ device: this.device.id });
    const id = (pointId: string) => `${this.device.id}.${pointId}`;
    let samples: Sample[];
    try {
      const readings = new Map((await this.exclusive(() => this.driver.read())).map((r) => [r.point, r]));
      samples = this.device.points.map((p) => {
        const reading = readings.get(p.id);
        return reading ? toSample(id(p.id), p, reading, time) : badSample(id(p.id), time, 'the driver returned no reading');
      });
      this.state.lastReadAt = new Date().toISOString();
      if (this.state.state !== 'ok') {
        if (this.state.lastError) this.logger.info({ device: this.device.id }, 'device answering again');
        this.state.state = 'ok';
        this.state.lastError = null;
      }
    } catch (error) {
      const reason = (error as Error).message || String(error);
      samples = this.device.points.map((p) => badSample(id(p.id), time, reason));
      this.metrics.deviceErrors.inc({ device: this.device.id });
      if (reason !== this.state.lastError) {
        this.logger.warn({ device: this.device.id, code: (error as { code?: string }).code, err: reason }, 'device read failed');
      }
      this.state.state = 'failing';
      this.state.lastError = reason;
    }
    this.emit(samples);
  }
}
