import { describe, expect, it } from 'vitest';
import type { DeviceConfig, PointConfig, PointDefinition, Sample } from '@citypilot/sdk';
import { ChangeFilter, LocalAggregation, WindowAggregator, announcedDefinitions } from './aggregate.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // a window boundary for every window used here
const good = (time: number, value: number | boolean | string, point = 'm.p'): Sample => ({ point, time, value, quality: 'good' });
const bad = (time: number, reason = 'timeout after 2000 ms', point = 'm.p'): Sample => ({ point, time, value: null, quality: 'bad', reason });

/** Feeds samples in and collects every window emitted. */
function run(aggregator: WindowAggregator, samples: Sample[]): Sample[] {
  return samples.flatMap((s) => aggregator.push(s));
}

describe('windows', () => {
  it('emits avg, min, max, last and count of a window at its start time, once a reading past its end arrives', () => {
    const agg = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['avg', 'min', 'max', 'last', 'count'] }, T0);
    const within = [good(T0, 10), good(T0 + 5 * MIN, 20), good(T0 + 10 * MIN, 60)];
    expect(run(agg, within)).toEqual([]);
    const out = agg.push(good(T0 + 15 * MIN, 1));
    expect(out).toEqual([
      { point: 'm.p', time: T0, value: 30, quality: 'good' },
      { point: 'm.p.min', time: T0, value: 10, quality: 'good' },
      { point: 'm.p.max', time: T0, value: 60, quality: 'good' },
      { point: 'm.p.last', time: T0, value: 60, quality: 'good' },
      { point: 'm.p.count', time: T0, value: 3, quality: 'good' },
    ]);
  });

  it('skips empty windows: a reading two windows later closes only the window that had readings', () => {
    const agg = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['last'] }, T0);
    agg.push(good(T0 + MIN, 5));
    expect(agg.push(good(T0 + 40 * MIN, 6))).toEqual([{ point: 'm.p', time: T0, value: 5, quality: 'good' }]);
    expect(agg.push(good(T0 + 45 * MIN, 7))).toEqual([{ point: 'm.p', time: T0 + 30 * MIN, value: 6, quality: 'good' }]);
  });

  it('computes over usable readings, uncertain with the reason when some were bad, bad when none was usable', () => {
    const agg = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['avg', 'count'] }, T0);
    run(agg, [good(T0, 10), bad(T0 + 5 * MIN), good(T0 + 10 * MIN, 30)]);
    const [avg, count] = agg.push(bad(T0 + 15 * MIN, 'illegal data address'));
    expect(avg).toMatchObject({ time: T0, value: 20, quality: 'uncertain' });
    expect(avg!.reason).toMatch(/1 of 3 readings not usable \(timeout after 2000 ms\)/);
    expect(count).toMatchObject({ point: 'm.p.count', value: 2, quality: 'uncertain' });

    // The next window had only bad readings.
    const [avg2, count2] = agg.push(good(T0 + 30 * MIN, 1));
    expect(avg2).toEqual({
      point: 'm.p',
      time: T0 + 15 * MIN,
      value: null,
      quality: 'bad',
      reason: 'no usable reading in the window (1 bad: illegal data address)',
    });
    expect(count2).toMatchObject({ value: 0, quality: 'uncertain' });
  });

  it('keeps uncertain readings in the computation but says so; leaves stale ones out', () => {
    const agg = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['max'] }, T0);
    run(agg, [
      good(T0, 1),
      { point: 'm.p', time: T0 + MIN, value: 9, quality: 'uncertain', reason: 'overridden' },
      { point: 'm.p', time: T0 + 2 * MIN, value: 99, quality: 'stale', reason: 'old' },
    ]);
    const [max] = agg.push(good(T0 + 15 * MIN, 1));
    expect(max).toMatchObject({ value: 9, quality: 'uncertain' });
    expect(max!.reason).toContain('1 of 3 readings uncertain (overridden)');
    expect(max!.reason).toContain('1 of 3 readings not usable (old)');
  });

  it('marks a window the gateway started within as partial, stamped with its first reading', () => {
    const started = T0 + 7 * MIN;
    const agg = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['avg'] }, started);
    run(agg, [good(started + 5_000, 4), good(T0 + 10 * MIN, 6)]);
    const [avg] = agg.push(good(T0 + 15 * MIN, 1));
    expect(avg).toMatchObject({ time: started + 5_000, value: 5, quality: 'uncertain' });
    expect(avg!.reason).toMatch(/^partial window: readings from .* only/);
  });

  it('emits the open window cut short on stop, and the rest of it after a restart as another sample', () => {
    const first = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['avg', 'count'] }, T0);
    run(first, [good(T0, 2), good(T0 + MIN, 4)]);
    const cut = first.cut();
    expect(cut[0]).toMatchObject({ time: T0, value: 3, quality: 'uncertain' });
    expect(cut[0]!.reason).toMatch(/window cut short: the gateway stopped before 2026-01-05T10:15:00.000Z/);
    expect(cut[1]).toMatchObject({ point: 'm.p.count', value: 2 });
    expect(first.cut()).toEqual([]);

    const restarted = T0 + 3 * MIN;
    const second = new WindowAggregator('m.p', { windowMs: 15 * MIN, functions: ['avg', 'count'] }, restarted);
    run(second, [good(T0 + 4 * MIN, 10)]);
    const [avg] = second.push(good(T0 + 15 * MIN, 0));
    // Not the cut window's time: the hub keeps both (one sample per point and time).
    expect(avg).toMatchObject({ time: T0 + 4 * MIN, value: 10, quality: 'uncertain' });
  });
});

describe('meter deltas', () => {
  const delta = (rollover?: number) => new WindowAggregator('m.e', { windowMs: 15 * MIN, functions: ['delta'], ...(rollover ? { rollover } : {}) }, T0);
  const e = (time: number, value: number) => good(time, value, 'm.e');

  it('counts each increase in the window of the later reading, so nothing between windows is lost', () => {
    const agg = delta();
    run(agg, [e(T0, 100), e(T0 + 5 * MIN, 103), e(T0 + 10 * MIN, 107)]);
    expect(agg.push(e(T0 + 15 * MIN, 110))).toEqual([{ point: 'm.e', time: T0, value: 7, quality: 'good' }]);
    expect(agg.push(e(T0 + 30 * MIN, 112))).toEqual([{ point: 'm.e', time: T0 + 15 * MIN, value: 3, quality: 'good' }]);
  });

  it('has nothing to count from in a window holding only the first reading', () => {
    const agg = delta();
    agg.push(e(T0, 100));
    expect(agg.push(e(T0 + 15 * MIN, 101))).toEqual([
      { point: 'm.e', time: T0, value: null, quality: 'bad', reason: 'no earlier reading of the counter to count from yet' },
    ]);
  });

  it('survives a rollover of the counter', () => {
    const agg = delta(65536);
    run(agg, [e(T0, 65530), e(T0 + 5 * MIN, 65535), e(T0 + 10 * MIN, 4)]);
    expect(agg.push(e(T0 + 15 * MIN, 5))).toEqual([{ point: 'm.e', time: T0, value: 10, quality: 'good' }]);
  });

  it('counts a decrease that is no plausible wrap as a reset: from the new value, never a negative or huge delta', () => {
    for (const rollover of [undefined, 1_000_000]) {
      const agg = delta(rollover);
      // 50010 -> 20: wrapping would make 949990, more than half the counter: a new meter.
      run(agg, [e(T0, 50_000), e(T0 + 5 * MIN, 50_010), e(T0 + 10 * MIN, 20), e(T0 + 12 * MIN, 25)]);
      const [out] = agg.push(e(T0 + 15 * MIN, 26));
      expect(out).toMatchObject({ value: 15, quality: 'uncertain' });
      expect(out!.reason).toMatch(/counter went from 50010 to 20: counted as a reset or a new meter/);
    }
  });

  it('counts from the reading kept over a restart, saying so, and gives the last reading to keep', () => {
    const devices = [
      { config: { id: 'm', points: [{ id: 'e', kind: 'number', aggregate: { window: '15m', functions: ['delta'] } }] } as unknown as DeviceConfig },
    ];
    const restarted = T0 + 20 * MIN;
    const agg = new LocalAggregation(devices, restarted, { 'm.e': { value: 100, time: T0 + 15 * MIN }, 'm.gone': { value: 1, time: T0 } });
    agg.process([e(T0 + 30 * MIN, 130), e(T0 + 35 * MIN, 131)]);
    const [out] = agg.process([e(T0 + 45 * MIN, 132)]);
    // 30 counted while the gateway was stopped, then 1: in the first window after the restart.
    expect(out).toMatchObject({ point: 'm.e', time: T0 + 30 * MIN, value: 31, quality: 'uncertain' });
    expect(out!.reason).toMatch(/counted from the reading of 2026-01-05T10:15:00.000Z, kept over the gateway's restart/);
    expect(agg.counters()).toEqual({ 'm.e': { value: 132, time: T0 + 45 * MIN } });
  });

  it('counts across bad readings from the last good one', () => {
    const agg = delta();
    run(agg, [e(T0, 10), bad(T0 + 5 * MIN, 'timeout', 'm.e'), e(T0 + 10 * MIN, 16)]);
    const [out] = agg.push(e(T0 + 15 * MIN, 16));
    expect(out).toMatchObject({ value: 6, quality: 'uncertain' });
  });
});

describe('change-of-value filter', () => {
  const s = (time: number, value: number | null, quality: Sample['quality'] = 'good'): Sample => ({ point: 'p', time, value, quality });

  it('sends changes beyond the absolute deadband, measured from the last value sent', () => {
    const f = new ChangeFilter({ deadband: 0.5, heartbeatMs: 60 * MIN });
    const sent = [20, 20.3, 20.5, 20.6, 19.9, 20.0].map((v, i) => f.pass(s(T0 + i * 5000, v)));
    // 20 sent; 20.3 and 20.5 within 0.5 of it; 20.6 beyond; 19.9 beyond 20.6; 20.0 within.
    expect(sent).toEqual([true, false, false, true, true, false]);
  });

  it('uses the larger of the absolute and percent deadbands', () => {
    const f = new ChangeFilter({ deadband: 1, deadbandPercent: 10, heartbeatMs: 60 * MIN });
    expect([100, 105, 111, 111.5].map((v, i) => f.pass(s(T0 + i * 5000, v)))).toEqual([true, false, true, false]);
    const small = new ChangeFilter({ deadband: 1, deadbandPercent: 10, heartbeatMs: 60 * MIN });
    expect([2, 2.5, 3.1].map((v, i) => small.pass(s(T0 + i * 5000, v)))).toEqual([true, false, true]);
  });

  it('without deadband, sends every change and no repetition; booleans and strings too', () => {
    const f = new ChangeFilter({ heartbeatMs: 60 * MIN });
    expect([1, 1, 1.0001, 1.0001].map((v, i) => f.pass(s(T0 + i * 5000, v)))).toEqual([true, false, true, false]);
    const b = new ChangeFilter({ heartbeatMs: 60 * MIN });
    const sample = (i: number, value: boolean | string): Sample => ({ point: 'p', time: T0 + i * 5000, value, quality: 'good' });
    expect([true, true, false, 'on', 'on'].map((v, i) => b.pass(sample(i, v)))).toEqual([true, false, true, true, false]);
  });

  it('sends an unchanged value again once the heartbeat has passed since the last one sent', () => {
    const f = new ChangeFilter({ deadband: 10, heartbeatMs: 15 * MIN });
    const times = [0, 5, 10, 14, 15, 20, 29, 30].map((m) => T0 + m * MIN);
    expect(times.map((t) => f.pass(s(t, 42)))).toEqual([true, false, false, false, true, false, false, true]);
  });

  it('sends every change of quality, and a bad value only once until it changes or the heartbeat', () => {
    const f = new ChangeFilter({ deadband: 10, heartbeatMs: 15 * MIN });
    const samples = [s(T0, 5), s(T0 + MIN, null, 'bad'), s(T0 + 2 * MIN, null, 'bad'), s(T0 + 3 * MIN, 5), s(T0 + 4 * MIN, 5, 'uncertain')];
    expect(samples.map((x) => f.pass(x))).toEqual([true, true, false, true, true]);
  });
});

describe("a gateway's local aggregation", () => {
  const point = (p: Partial<PointConfig> & { id: string }): PointConfig =>
    ({ kind: 'number', tags: [], scale: 1, offset: 0, writable: false, address: 0, ...p }) as PointConfig;
  const device = {
    id: 'm',
    points: [
      point({ id: 'raw' }),
      point({ id: 'power', unit: 'kW', aggregate: { window: '15m', functions: ['avg', 'max', 'count'] } }),
      point({ id: 'temp', filter: { deadband: 0.5, heartbeat: '15m' } }),
    ],
  } as unknown as DeviceConfig;

  it('passes plain points through, aggregates and filters the others, and cuts open windows on stop', () => {
    const agg = new LocalAggregation([{ config: device }], T0);
    const first = agg.process([good(T0, 1, 'm.raw'), good(T0, 10, 'm.power'), good(T0, 20, 'm.temp')]);
    expect(first).toEqual([good(T0, 1, 'm.raw'), good(T0, 20, 'm.temp')]);
    const second = agg.process([good(T0 + 5_000, 2, 'm.raw'), good(T0 + 5_000, 30, 'm.power'), good(T0 + 5_000, 20.2, 'm.temp')]);
    expect(second).toEqual([good(T0 + 5_000, 2, 'm.raw')]);
    const third = agg.process([good(T0 + 15 * MIN, 50, 'm.power')]);
    expect(third.map((x) => [x.point, x.time, x.value, x.quality])).toEqual([
      ['m.power', T0, 20, 'good'],
      ['m.power.max', T0, 30, 'good'],
      ['m.power.count', T0, 2, 'good'],
    ]);
    const cut = agg.cut();
    expect(cut.map((x) => [x.point, x.time, x.value, x.quality])).toEqual([
      ['m.power', T0 + 15 * MIN, 50, 'uncertain'],
      ['m.power.max', T0 + 15 * MIN, 50, 'uncertain'],
      ['m.power.count', T0 + 15 * MIN, 1, 'uncertain'],
    ]);
  });

  it('announces each function as a point with the window as its interval, and a filtered point with its heartbeat', () => {
    const def = (id: string, unit?: string): PointDefinition => ({
      id: `m.${id}`,
      name: id,
      kind: 'number',
      tags: ['elec'],
      source: { plugin: 'modbus', device: 'm', address: 0 },
      intervalMs: 5000,
      ...(unit ? { unit } : {}),
    });
    expect(announcedDefinitions(def('raw'), device.points[0]!)).toEqual([def('raw')]);
    const power = announcedDefinitions(def('power', 'kW'), device.points[1]!);
    expect(power.map((d) => [d.id, d.unit, d.intervalMs, d.source.aggregate?.function])).toEqual([
      ['m.power', 'kW', 15 * MIN, 'avg'],
      ['m.power.max', 'kW', 15 * MIN, 'max'],
      ['m.power.count', undefined, 15 * MIN, 'count'],
    ]);
    expect(power[1]!.name).toBe('power (max per 15 min)');
    expect(announcedDefinitions(def('temp'), device.points[2]!)[0]!.intervalMs).toBe(15 * MIN);
  });
});
