import { parseDuration, type AggregateFunction, type DeviceConfig, type PointConfig, type PointDefinition, type Sample } from '@citypilot/sdk';
import { describeMs } from './normalise.js';

/**
 * Local aggregation and change-of-value filtering, per point. Pure: times come from the samples
 * and from the caller, never from the clock, so that every rule can be tested with explicit times.
 *
 * Aggregated points (`aggregate:`) send one sample per clock-aligned window instead of their
 * readings: the first function's value under the point's own id, every other function under
 * `<point id>.<function>` (`main-meter.power.max`). Rules:
 * - A window [start, start + window) is emitted when the first reading at or after its end
 *   arrives, and, cut short, when the gateway stops. A window without any reading sends nothing.
 * - The sample is stamped with the window's start; a partial window (the gateway started within
 *   it) with the time of its first reading instead, so that a window cut short by a stop and the
 *   rest of it after the restart are two samples, neither of which overwrites the other.
 * - avg, min, max, last, delta are computed over the usable readings (quality good or uncertain,
 *   with a value); `count` is their number. The window is `uncertain` with a reason when some
 *   readings were not usable, when it is partial or cut short, or when a counter was reset;
 *   `bad` (value null) when no reading was usable.
 * - `delta` is the sum of the increases of a counter from one usable reading to the next, each
 *   counted in the window of the later reading (so nothing between two windows is lost). A
 *   decrease is a wrap when `rollover` is set and wrapping gives an increase under half of it;
 *   any other decrease is a reset or a replaced meter: counting starts again from the new value
 *   (that step counts 0, never a negative or huge delta) and the window is `uncertain`. The
 *   last counter reading is kept over a clean restart ({@link LocalAggregation.counters}), so
 *   what the meter counted while the gateway was stopped counts in the first window after it
 *   (`uncertain`, saying so).
 *
 * Filtered points (`filter:`) send a reading when its value moved by more than the deadband
 * since the last one sent (numbers: the larger of `deadband` and `deadbandPercent` of the last
 * value sent; other kinds: any change), when its quality changed, or when the last one sent is
 * `heartbeat` old or older.
 */

/** A counter's reading, kept from one window (and one run of the gateway) to the next. */
export interface CounterReading {
  value: number;
  /** ms since the epoch. */
  time: number;
}

/** A point's aggregation settings, durations in ms. */
export interface WindowSettings {
  windowMs: number;
  /** The first one's values go under the point's own id. */
  functions: readonly AggregateFunction[];
  rollover?: number;
}

/** A point's filter settings, durations in ms. */
export interface FilterSettings {
  deadband?: number;
  deadbandPercent?: number;
  heartbeatMs: number;
}

interface Window {
  start: number;
  end: number;
  /** Time of its first reading. */
  first: number;
  /** Started before the aggregator did: readings from its beginning were never seen. */
  partial: boolean;
  readings: number;
  usable: number;
  sum: number;
  min: number;
  max: number;
  last: Sample['value'];
  /** Readings that were not usable, and the last reason given. */
  unusable: number;
  unusableReason?: string;
  /** Readings usable but uncertain, and the last reason given. */
  uncertain: number;
  uncertainReason?: string;
  delta: number;
  deltaSteps: number;
  resets: string[];
}

/** The ids an aggregated point's functions are sent under. */
export function aggregateIds(pointId: string, functions: readonly AggregateFunction[]): string[] {
  return functions.map((fn, i) => (i === 0 ? pointId : `${pointId}.${fn}`));
}

/** Aggregates the readings of one point over clock-aligned windows. */
export class WindowAggregator {
  private open: Window | undefined;
  /** The last usable counter reading, kept across windows (and restarts) for `delta`. */
  private counter: CounterReading | undefined;
  /** `counter` is the one kept over a restart: the first step from it says so. */
  private restored = false;
  private readonly ids: string[];

  /**
   * @param startedAt when the gateway started reading: a window begun before it is partial
   * @param counter for `delta`, the last counter reading before a restart (see {@link counterReading})
   */
  constructor(
    private readonly pointId: string,
    private readonly settings: WindowSettings,
    private readonly startedAt: number,
    counter?: CounterReading,
  ) {
    this.ids = aggregateIds(pointId, settings.functions);
    if (counter && settings.functions.includes('delta')) {
      this.counter = counter;
      this.restored = true;
    }
  }

  /** The last usable counter reading, for `delta` points: to keep over a restart. */
  counterReading(): CounterReading | undefined {
    return this.counter;
  }

  /**
   * Takes one reading of the point (in time order; an older one than the open window goes into
   * it) and returns the samples of the window it closed, if any.
   */
  push(sample: Sample): Sample[] {
    const out: Sample[] = [];
    if (this.open && sample.time >= this.open.end) {
      out.push(...this.emit(this.open));
      this.open = undefined;
    }
    const w = (this.open ??= this.newWindow(sample.time));
    w.readings++;
    const usable = (sample.quality === 'good' || sample.quality === 'uncertain') && sample.value !== null;
    if (!usable) {
      w.unusable++;
      w.unusableReason = sample.reason ?? sample.quality;
      return out;
    }
    if (sample.quality === 'uncertain') {
      w.uncertain++;
      w.uncertainReason = sample.reason;
    }
    w.usable++;
    w.last = sample.value;
    if (typeof sample.value === 'number') {
      const v = sample.value;
      w.sum += v;
      w.min = Math.min(w.min, v);
      w.max = Math.max(w.max, v);
      if (this.settings.functions.includes('delta')) this.count(w, v, sample.time);
    }
    return out;
  }

  /** The open window, emitted now as `uncertain` ("cut short"): for a gateway that stops. */
  cut(): Sample[] {
    const w = this.open;
    this.open = undefined;
    return w ? this.emit(w, true) : [];
  }

  private count(w: Window, v: number, time: number): void {
    const before = this.counter;
    const restored = this.restored;
    this.counter = { value: v, time };
    this.restored = false;
    // A kept reading not older than this one (the clock was set back meanwhile) counts nothing.
    if (before === undefined || time <= before.time) return;
    const previous = before.value;
    if (restored) w.resets.push(`counted from the reading of ${new Date(before.time).toISOString()}, kept over the gateway's restart`);
    let step = v - previous;
    const { rollover } = this.settings;
    if (step < 0 && rollover !== undefined && step + rollover >= 0 && step + rollover < rollover / 2) step += rollover;
    else if (step < 0) {
      w.resets.push(`counter went from ${previous} to ${v}: counted as a reset or a new meter, from the new value`);
      step = 0;
    }
    w.delta += step;
    w.deltaSteps++;
  }

  private newWindow(time: number): Window {
    const start = Math.floor(time / this.settings.windowMs) * this.settings.windowMs;
    return {
      start,
      end: start + this.settings.windowMs,
      first: time,
      partial: start < this.startedAt,
      readings: 0,
      usable: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      last: null,
      unusable: 0,
      uncertain: 0,
      delta: 0,
      deltaSteps: 0,
      resets: [],
    };
  }

  private emit(w: Window, cut = false): Sample[] {
    const time = w.partial ? w.first : w.start;
    const doubts: string[] = [];
    if (w.partial) doubts.push(`partial window: readings from ${new Date(w.first).toISOString()} only (the gateway started within it)`);
    if (cut) doubts.push(`window cut short: the gateway stopped before ${new Date(w.end).toISOString()}`);
    if (w.unusable > 0 && w.usable > 0) doubts.push(`${w.unusable} of ${w.readings} readings not usable (${w.unusableReason})`);
    if (w.uncertain > 0) doubts.push(`${w.uncertain} of ${w.readings} readings uncertain (${w.uncertainReason})`);
    const none = `no usable reading in the window (${w.readings} bad: ${w.unusableReason})`;
    return this.settings.functions.map((fn, i): Sample => {
      const point = this.ids[i]!;
      if (fn === 'count') return withDoubts({ point, time, value: w.usable, quality: 'good' }, w.usable === 0 ? [none, ...doubts] : doubts);
      if (w.usable === 0) return { point, time, value: null, quality: 'bad', reason: none };
      switch (fn) {
        case 'avg':
          return withDoubts({ point, time, value: w.sum / w.usable, quality: 'good' }, doubts);
        case 'min':
          return withDoubts({ point, time, value: w.min, quality: 'good' }, doubts);
        case 'max':
          return withDoubts({ point, time, value: w.max, quality: 'good' }, doubts);
        case 'last':
          return withDoubts({ point, time, value: w.last, quality: 'good' }, doubts);
        case 'delta':
          if (w.deltaSteps === 0) return { point, time, value: null, quality: 'bad', reason: 'no earlier reading of the counter to count from yet' };
          return withDoubts({ point, time, value: w.delta, quality: 'good' }, [...w.resets, ...doubts]);
      }
    });
  }
}

function withDoubts(sample: Sample, doubts: readonly string[]): Sample {
  return doubts.length ? { ...sample, quality: 'uncertain', reason: doubts.join('; ') } : sample;
}

/** Change-of-value filtering of one point with deadbands and a heartbeat. */
export class ChangeFilter {
  private sent: Sample | undefined;

  constructor(private readonly settings: FilterSettings) {}

  /** Whether this reading is to be sent (it then becomes the reference for the next ones). */
  pass(sample: Sample): boolean {
    const sent = this.sent;
    if (!sent || sample.quality !== sent.quality || sample.time - sent.time >= this.settings.heartbeatMs || this.moved(sent.value, sample.value)) {
      this.sent = sample;
      return true;
    }
    return false;
  }

  private moved(from: Sample['value'], to: Sample['value']): boolean {
    if (typeof from !== 'number' || typeof to !== 'number') return from !== to;
    const { deadband = 0, deadbandPercent = 0 } = this.settings;
    return Math.abs(to - from) > Math.max(deadband, (deadbandPercent / 100) * Math.abs(from));
  }
}

/**
 * A gateway's aggregators and filters, by point id; points with neither pass through as they are.
 */
export class LocalAggregation {
  private readonly windows = new Map<string, WindowAggregator>();
  private readonly filters = new Map<string, ChangeFilter>();

  /**
   * @param startedAt when the gateway starts reading (see {@link WindowAggregator})
   * @param counters the {@link counters} of the previous run, by point id
   */
  constructor(devices: readonly { config: DeviceConfig }[], startedAt: number, counters: Readonly<Record<string, CounterReading>> = {}) {
    for (const { config: device } of devices) {
      for (const p of device.points) {
        const id = `${device.id}.${p.id}`;
        const windowSettings = aggregateSettings(p);
        if (windowSettings) this.windows.set(id, new WindowAggregator(id, windowSettings, startedAt, counters[id]));
        else if (p.filter) this.filters.set(id, new ChangeFilter(filterSettings(p)!));
      }
    }
  }

  /** The samples to send for these readings, in order: readings of plain points, closed windows, filtered readings. */
  process(samples: Sample[]): Sample[] {
    if (this.windows.size === 0 && this.filters.size === 0) return samples;
    const out: Sample[] = [];
    for (const s of samples) {
      const window = this.windows.get(s.point);
      if (window) {
        out.push(...window.push(s));
        continue;
      }
      const filter = this.filters.get(s.point);
      if (!filter || filter.pass(s)) out.push(s);
    }
    return out;
  }

  /** Every open window, cut short: for a gateway that stops, so that nothing read is left unsent. */
  cut(): Sample[] {
    return [...this.windows.values()].flatMap((w) => w.cut());
  }

  /**
   * The last reading of every `delta` counter, by point id: kept over a restart, the first
   * step after it counts what the meter counted while the gateway was stopped.
   */
  counters(): Record<string, CounterReading> {
    const out: Record<string, CounterReading> = {};
    for (const [id, w] of this.windows) {
      const c = w.counterReading();
      if (c) out[id] = c;
    }
    return out;
  }
}

/** A point's aggregation settings, if it is aggregated. */
export function aggregateSettings(point: PointConfig): WindowSettings | undefined {
  const a = point.aggregate;
  if (!a) return undefined;
  return { windowMs: parseDuration(a.window), functions: a.functions, ...(a.rollover !== undefined ? { rollover: a.rollover } : {}) };
}

function filterSettings(point: PointConfig): FilterSettings | undefined {
  const f = point.filter;
  if (!f) return undefined;
  return { deadband: f.deadband, deadbandPercent: f.deadbandPercent, heartbeatMs: parseDuration(f.heartbeat) };
}

/**
 * What the hub is told of a point, given its definition as read: an aggregated point becomes one
 * definition per function, every one with the window as its interval (`count` unitless); a
 * filtered point announces its heartbeat as its interval, the longest it stays silent.
 */
export function announcedDefinitions(def: PointDefinition, point: PointConfig): PointDefinition[] {
  const a = aggregateSettings(point);
  if (!a) return point.filter ? [{ ...def, intervalMs: parseDuration(point.filter.heartbeat) }] : [def];
  const ids = aggregateIds(def.id, a.functions);
  return a.functions.map((fn, i) => {
    const { unit, ...rest } = def;
    const derived: PointDefinition = {
      ...rest,
      id: ids[i]!,
      name: `${def.name} (${fn} per ${describeMs(a.windowMs)})`,
      kind: fn === 'count' ? 'number' : def.kind,
      intervalMs: a.windowMs,
      source: { ...def.source, aggregate: { function: fn, windowMs: a.windowMs } },
    };
    if (unit !== undefined && fn !== 'count') derived.unit = unit;
    return derived;
  });
}
