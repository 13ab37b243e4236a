import { Type, type Static } from '@sinclair/typebox';
import { describeMs } from '../pipeline/normalise.js';
import { Duration, ID_PATTERN, parseDuration, type ConfigIssue, type DeviceConfig, type PointConfig } from '@citypilot/sdk';

/** One poll group of the gateway's `pollGroups`. */
export const PollGroupSchema = Type.Object(
  {
    /** How often the group's points are read, on a grid aligned to the clock. */
    interval: Duration(),
    /**
     * Each (device, group) fires at a stable offset in [0, jitter) after its grid slot, so that a
     * site's devices do not all fire at once; samples keep the slot's time. Less than `interval`.
     * Default none. (Optional rather than defaulted: defaults do not reach into a record.)
     */
    jitter: Type.Optional(Duration()),
  },
  { additionalProperties: false },
);

export type PollGroupConfig = Static<typeof PollGroupSchema>;

/** Named poll groups; points join one with `group: <name>`. */
export const PollGroupsSchema = Type.Record(Type.String(), PollGroupSchema, { default: {} });

/** How the gateway guards timestamps. */
export const ClockSchema = Type.Object(
  {
    /**
     * A device time further than this from the gateway's clock is not believed: the sample gets
     * the gateway's slot time and quality `uncertain`.
     */
    deviceTimeTolerance: Duration({ default: '5m' }),
    /** A step of the gateway's wall clock larger than this (against its monotonic clock) is a clock jump. */
    jumpThreshold: Duration({ default: '2s' }),
  },
  { additionalProperties: false, default: {} },
);

/** The problems of the `pollGroups` block itself: names, and jitter shorter than the interval. */
export function pollGroupIssues(groups: Record<string, PollGroupConfig>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, group] of Object.entries(groups)) {
    if (!new RegExp(ID_PATTERN).test(name))
      issues.push({ path: ['pollGroups', name], message: 'a group name is lowercase letters, digits, - and _ (such as fast)' });
    if (parseDuration(group.interval) <= 0) issues.push({ path: ['pollGroups', name, 'interval'], message: 'must be longer than 0' });
    else if (parseDuration(group.jitter ?? '0ms') >= parseDuration(group.interval)) {
      issues.push({ path: ['pollGroups', name, 'jitter'], message: `must be shorter than the group's interval (${group.interval})` });
    }
  }
  return issues;
}

/** Milliseconds between two reads of `point`: its group's interval, else its device's. */
export function pointIntervalMs(device: DeviceConfig, point: PointConfig, groups: Record<string, PollGroupConfig>): number {
  const group = point.group === undefined ? undefined : groups[point.group];
  return parseDuration(group?.interval ?? device.interval);
}

const NUMERIC_FUNCTIONS = new Set(['avg', 'min', 'max', 'delta']);

/**
 * The rules of a device's points the schemas cannot express: a known `group`, a write range
 * (`min`, `max`) on number points only and in order, and coherent `aggregate` and `filter`
 * settings. Paths are relative to the device block. `groups` is undefined when the gateway's own
 * block is invalid: group names are not checked then.
 */
export function pointSettingIssues(device: DeviceConfig, groups: Record<string, PollGroupConfig> | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  device.points.forEach((p, index) => {
    const issue = (path: (string | number)[], message: string) => issues.push({ path: ['points', index, ...path], message });
    if (p.group !== undefined && groups && !(p.group in groups)) {
      const known = Object.keys(groups);
      issue(
        ['group'],
        `unknown poll group ${JSON.stringify(p.group)}: expected one of ${known.map((k) => JSON.stringify(k)).join(', ') || '(none: declare it under pollGroups)'}`,
      );
    }
    if (p.kind !== 'number') {
      if (p.min !== undefined) issue(['min'], `applies to number points, not to a ${p.kind}`);
      if (p.max !== undefined) issue(['max'], `applies to number points, not to a ${p.kind}`);
    } else if (p.min !== undefined && p.max !== undefined && p.min > p.max) {
      issue(['max'], `${p.max} is below min (${p.min}): max is the highest value the gateway may write`);
    }
    const { aggregate, filter } = p;
    if (aggregate) {
      const window = parseDuration(aggregate.window);
      if (window <= 0) issue(['aggregate', 'window'], 'must be longer than 0');
      else if (p.group === undefined || groups?.[p.group]) {
        const interval = pointIntervalMs(device, p, groups ?? {});
        if (window < interval)
          issue(
            ['aggregate', 'window'],
            `${aggregate.window} is shorter than the point's read interval (${describeMs(interval)}): a window must hold at least one reading`,
          );
      }
      aggregate.functions.forEach((fn, i) => {
        if (aggregate.functions.indexOf(fn) < i) issue(['aggregate', 'functions', i], `${JSON.stringify(fn)} is already in the list`);
        else if (NUMERIC_FUNCTIONS.has(fn) && p.kind !== 'number')
          issue(['aggregate', 'functions', i], `${JSON.stringify(fn)} needs a number point; a ${p.kind} point takes "last" and "count"`);
      });
      if (aggregate.rollover !== undefined && !aggregate.functions.includes('delta'))
        issue(['aggregate', 'rollover'], 'applies to "delta" only: add delta to functions or remove rollover');
    }
    if (aggregate && filter) issue(['filter'], 'cannot be combined with aggregate: a point sends either its windows or its filtered readings');
    else if (filter) {
      if (p.kind !== 'number' && filter.deadband !== undefined)
        issue(['filter', 'deadband'], `applies to number points, not to a ${p.kind} (any change of it is sent)`);
      if (p.kind !== 'number' && filter.deadbandPercent !== undefined)
        issue(['filter', 'deadbandPercent'], `applies to number points, not to a ${p.kind} (any change of it is sent)`);
      if (parseDuration(filter.heartbeat) <= 0) issue(['filter', 'heartbeat'], 'must be longer than 0');
    }
  });
  return issues;
}
